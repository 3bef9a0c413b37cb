//! Model facts end to end: refreshing against a mock OpenRouter-style `/models` (prices and
//! `supported_parameters`) and a mock OpenAI `/v1/models` (names only), the cache an offline
//! start uses, a failed refresh that changes nothing, and a request to an unpriced remote model
//! recorded and reported as unpriced.
//!
//! One test function: the live facts are process-wide, as in the server.

use arouter_core::app::App;
use arouter_core::catalog::refresh;
use arouter_core::config::Config;
use arouter_core::store::{MemorySecrets, Secrets};
use arouter_store::ManageStore;
use arouter_store::{db_path, SqliteStore};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

const OPENROUTER_MODELS: &str = r#"{"data":[
 {"id":"acme/rocket-1","name":"Acme: Rocket 1","context_length":300000,
  "architecture":{"input_modalities":["text","image"],"output_modalities":["text"]},
  "pricing":{"prompt":"0.0000012","completion":"0.0000048","request":"0","image":"0",
             "input_cache_read":"0.00000012"},
  "top_provider":{"context_length":300000,"max_completion_tokens":32000},
  "supported_parameters":["max_tokens","temperature","tools","tool_choice","reasoning"]},
 {"id":"acme/rocket-1:free","name":"Acme: Rocket 1 (free)","context_length":300000,
  "pricing":{"prompt":"0","completion":"0"},"supported_parameters":["max_tokens"]}
]}"#;

const OPENAI_MODELS: &str = r#"{"object":"list","data":[
 {"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},
 {"id":"gpt-new-9","object":"model","created":1767225600,"owned_by":"system"}
]}"#;

/// A mock upstream: OpenRouter under /or/api/v1, OpenAI under /oa/v1.
async fn mock_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let chat = |Json(body): Json<Value>| async move {
        Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        }))
    };
    let app = Router::new()
        .route(
            "/or/api/v1/models",
            get(|| async { ([("content-type", "application/json")], OPENROUTER_MODELS) }),
        )
        .route(
            "/oa/v1/models",
            get(|| async { ([("content-type", "application/json")], OPENAI_MODELS) }),
        )
        .route("/oa/v1/chat/completions", post(chat))
        .route("/or/api/v1/chat/completions", post(chat));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

fn config(upstream: &str) -> String {
    // `local = false`: the mocks listen on loopback but stand for remote, paid providers.
    format!(
        "[providers.or]\nkind = \"openai\"\nbase_url = \"{upstream}/or/api/v1\"\nlocal = false\n\
         [providers.oa]\nkind = \"openai\"\nbase_url = \"{upstream}/oa/v1\"\nlocal = false\n"
    )
}

struct Running {
    base: String,
    admin: String,
    app_key: String,
    app: Arc<App>,
    http: reqwest::Client,
}

async fn start(data_dir: &Path, config_text: &str) -> Running {
    let config_path = data_dir.join("config.toml");
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(&config_path, config_text).unwrap();
    let cfg = Config::load(&config_path).unwrap();
    let store = SqliteStore::open(&db_path(data_dir)).unwrap();
    let secrets = Arc::new(MemorySecrets::default());
    secrets.set("or", "sk-or-test").unwrap();
    secrets.set("oa", "sk-oa-test").unwrap();
    let app = App::new(
        cfg,
        config_path,
        data_dir.to_path_buf(),
        store.clone(),
        secrets,
    )
    .unwrap();
    let router = arouter_core::http::router(app.clone(), arouter::routes(store.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let admin = store.create_key("admin", true, None, None).unwrap().0;
    let app_key = store.create_key("script", false, None, None).unwrap().0;
    Running {
        base: format!("http://{addr}"),
        admin,
        app_key,
        app,
        http: reqwest::Client::new(),
    }
}

impl Running {
    async fn call(&self, method: reqwest::Method, path: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn catalog(&self) -> Vec<Value> {
        let (s, v) = self
            .call(reqwest::Method::GET, "/api/v1/catalog", &self.admin)
            .await;
        assert_eq!(s, 200, "{v}");
        v["data"].as_array().unwrap().clone()
    }
}

fn model<'a>(catalog: &'a [Value], id: &str) -> Option<&'a Value> {
    catalog.iter().find(|m| m["id"] == id)
}

#[tokio::test]
async fn refresh_cache_offline_start_and_unpriced_usage() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (upstream, mock) = mock_upstream().await;
    let r = start(&data_dir, &config(&upstream)).await;

    // Before a refresh: the bundle only (an OpenAI-compatible server at an unknown address
    // lists nothing of its own yet).
    let before = r.catalog().await;
    assert!(model(&before, "or/acme/rocket-1").is_none());
    assert!(model(&before, "oa/gpt-new-9").is_none());

    // Refresh on demand: new models appear, with the prices the list gives.
    let (s, v) = r
        .call(reqwest::Method::POST, "/api/v1/models/refresh", &r.admin)
        .await;
    assert_eq!(s, 200, "{v}");
    let report = v["data"]["providers"].as_array().unwrap();
    let or = report.iter().find(|p| p["provider"] == "or").unwrap();
    assert_eq!(
        (
            or["ok"].as_bool(),
            or["models"].as_u64(),
            or["priced"].as_u64()
        ),
        (Some(true), Some(2), Some(2))
    );
    let oa = report.iter().find(|p| p["provider"] == "oa").unwrap();
    assert_eq!(
        (oa["models"].as_u64(), oa["priced"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(data_dir.join("model-cache.json").exists());

    let after = r.catalog().await;
    let rocket = model(&after, "or/acme/rocket-1").expect("new OpenRouter model listed");
    assert_eq!(rocket["priced"], true);
    assert_eq!(rocket["pricing"]["prompt"], "0.0000012");
    assert_eq!(rocket["pricing"]["completion"], "0.0000048");
    assert_eq!(rocket["pricing"]["input_cache_read"], "0.00000012");
    assert_eq!(rocket["context_length"], 300000);
    assert_eq!(rocket["top_provider"]["max_completion_tokens"], 32000);
    assert_eq!(
        rocket["supported_parameters"],
        json!([
            "max_tokens",
            "temperature",
            "tools",
            "tool_choice",
            "reasoning"
        ])
    );
    let free = model(&after, "or/acme/rocket-1:free").unwrap();
    assert_eq!(
        (free["priced"].as_bool(), free["pricing"]["prompt"].as_str()),
        (Some(true), Some("0"))
    );
    // OpenAI's list has no prices: a known model keeps the bundle's, a new one is unpriced.
    let mini = model(&after, "oa/gpt-4o-mini").unwrap();
    assert_eq!(mini["priced"], true);
    assert_eq!(mini["pricing"]["prompt"], "0.00000015");
    let new = model(&after, "oa/gpt-new-9").expect("new OpenAI model listed");
    assert_eq!(new["priced"], false);

    // A request to the unpriced remote model: recorded as unpriced, never as free.
    let resp = r
        .http
        .post(format!("{}/v1/chat/completions", r.base))
        .bearer_auth(&r.app_key)
        .json(&json!({"model": "oa/gpt-new-9", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    r.app.store.flush();
    let (s, usage) = r
        .call(reqwest::Method::GET, "/api/v1/usage?by=model", &r.admin)
        .await;
    assert_eq!(s, 200, "{usage}");
    assert_eq!(usage["totals"]["requests"], 1);
    assert_eq!(usage["totals"]["unpriced"], 1, "{usage}");
    let row = &usage["data"][0];
    assert_eq!(row["group"], "oa/gpt-new-9");
    assert_eq!(row["unpriced"], 1);
    let (_, log) = r
        .call(reqwest::Method::GET, "/api/v1/requests", &r.admin)
        .await;
    assert_eq!(log["data"][0]["priced"], false, "{log}");

    // A model only the live list knows routes by its bare id, at the list's prices:
    // 12 prompt tokens at $1.2/M + 3 completion tokens at $4.8/M = $0.0000288.
    let resp = r
        .http
        .post(format!("{}/v1/chat/completions", r.base))
        .bearer_auth(&r.app_key)
        .json(&json!({"model": "acme/rocket-1", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    r.app.store.flush();
    let (_, log) = r
        .call(reqwest::Method::GET, "/api/v1/requests", &r.admin)
        .await;
    let row = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["requested_model"] == "acme/rocket-1")
        .unwrap_or_else(|| panic!("no ledger row for acme/rocket-1: {log}"));
    assert_eq!(
        (row["provider"].as_str(), row["priced"].as_bool()),
        (Some("or"), Some(true)),
        "{row}"
    );
    assert!(
        (row["cost"].as_f64().unwrap() - 0.0000288).abs() < 1e-12,
        "{row}"
    );

    // The upstream goes away: a refresh fails, says why, and changes nothing.
    mock.abort();
    let _ = mock.await;
    let (s, v) = r
        .call(reqwest::Method::POST, "/api/v1/models/refresh", &r.admin)
        .await;
    assert_eq!(s, 502, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("nothing changed") && msg.contains("or:") && msg.contains("oa:"),
        "{msg}"
    );
    assert!(model(&r.catalog().await, "or/acme/rocket-1").is_some());

    // An offline start: the cache, not the network, supplies the live facts.
    let cache_before = std::fs::read(data_dir.join("model-cache.json")).unwrap();
    let offline = start(&dir.path().join("data2"), &config("http://127.0.0.1:9")).await;
    std::fs::copy(
        data_dir.join("model-cache.json"),
        dir.path().join("data2/model-cache.json"),
    )
    .unwrap();
    refresh::load_cached(&offline.app).unwrap();
    let cat = offline.catalog().await;
    let rocket = model(&cat, "or/acme/rocket-1").expect("cached model after an offline start");
    assert_eq!(rocket["pricing"]["prompt"], "0.0000012");
    assert_eq!(
        cache_before,
        std::fs::read(data_dir.join("model-cache.json")).unwrap()
    );
}
