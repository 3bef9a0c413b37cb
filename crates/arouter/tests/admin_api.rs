//! The management API end to end: the full router in-process over a real SQLite store and an
//! in-memory keychain, driven over HTTP.

use arouter_core::app::App;
use arouter_core::config::{Config, STARTER_CONFIG};
use arouter_core::model::Usage;
use arouter_core::store::{MemorySecrets, Secrets, Store, UsageRecord};
use arouter_store::ManageStore;
use arouter_store::{db_path, SqliteStore};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// 2024-03-01T00:00:00Z in unix ms.
const MARCH_1: i64 = 1_709_251_200_000;
const DAY_MS: i64 = 86_400_000;

struct Harness {
    base: String,
    http: reqwest::Client,
    admin: String,
    app_key: String,
    app_key_hash: String,
    app: Arc<App>,
    store: Arc<SqliteStore>,
    secrets: Arc<MemorySecrets>,
    config_path: PathBuf,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, STARTER_CONFIG).unwrap();
    let cfg = Config::load(&config_path).unwrap();
    let store = SqliteStore::open(&db_path(&data_dir)).unwrap();
    let secrets = Arc::new(MemorySecrets::default());
    let app = App::new(
        cfg,
        config_path.clone(),
        data_dir,
        store.clone(),
        secrets.clone(),
    )
    .unwrap();
    let router = arouter_core::http::router(app.clone(), arouter::routes(store.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let (admin, _) = store.create_key("admin", true, None, None).unwrap();
    let (app_key, info) = store.create_key("cursor", false, None, None).unwrap();
    Harness {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        admin,
        app_key,
        app_key_hash: info.hash,
        app,
        store,
        secrets,
        config_path,
        _dir: dir,
    }
}

impl Harness {
    async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(Some(&self.admin), method, path, body).await
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {v}");
        v
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config_path).unwrap()
    }
}

fn error_message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

fn usd(pusd: i64) -> f64 {
    arouter_core::catalog::pusd_to_usd(pusd)
}

/// The tray's pause stops routing only: every API surface answers 503 "routing is paused" in
/// its own error shape, while the management API, the UI and `/healthz` keep answering (the UI
/// must show the pause and lift it).
#[tokio::test]
async fn pause_stops_routing_but_not_management_or_the_ui() {
    let h = start().await;
    h.app
        .paused
        .store(true, std::sync::atomic::Ordering::Relaxed);

    // Management: reads and writes, admin and app keys.
    for path in [
        "/api/v1/keys",
        "/api/v1/providers",
        "/api/v1/settings",
        "/api/v1/usage",
        "/api/v1/requests",
        "/api/v1/tools",
    ] {
        h.get(path).await;
    }
    let (status, v) = h
        .call(
            Method::POST,
            "/api/v1/keys",
            Some(json!({"name": "while-paused"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = h
        .call_as(Some(&h.app_key), Method::GET, "/api/v1/key", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // The UI and the health check.
    for path in ["/ui/", "/healthz"] {
        let resp = h
            .http
            .get(format!("{}{path}", h.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let page = h
        .http
        .get(format!("{}/ui/", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );

    // Routing: each surface refuses in its own shape.
    let post = |path: &str, body: Value| {
        h.http
            .post(format!("{}{path}", h.base))
            .header("x-api-key", &h.app_key)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
    };
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": msgs}),
        ),
        ("/v1/responses", json!({"model": "m", "input": "hi"})),
        (
            "/v1/messages",
            json!({"model": "m", "max_tokens": 5, "messages": msgs}),
        ),
        (
            "/v1beta/models/m:generateContent",
            json!({"contents": [{"parts": [{"text": "hi"}]}]}),
        ),
    ];
    for (path, body) in cases {
        let resp = post(path, body).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let v: Value = resp.json().await.unwrap();
        let message = match path {
            "/v1/messages" => {
                assert_eq!(v["type"], "error", "{v}");
                &v["error"]["message"]
            }
            p if p.starts_with("/v1beta") => {
                assert_eq!(v["error"]["code"], 503, "{v}");
                assert_eq!(v["error"]["status"], "UNAVAILABLE", "{v}");
                &v["error"]["message"]
            }
            _ => &v["error"]["message"],
        };
        assert_eq!(message, "routing is paused", "{path}: {v}");
    }

    // Lifted: routing answers again (here: no such model, not the pause).
    h.app
        .paused
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let resp = post(
        "/v1/chat/completions",
        json!({"model": "m", "messages": msgs}),
    )
    .await
    .unwrap();
    assert_ne!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// A ledger row lost for good is counted where the user looks: `/healthz` and the settings the
/// UI's Overview alert reads (the browser test checks the alert itself).
#[tokio::test]
async fn lost_ledger_rows_are_reported() {
    let h = start().await;
    let health = |h: &Harness| {
        let url = format!("{}/healthz", h.base);
        let http = h.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(health(&h).await["ledger"]["rows_lost"], 0);
    assert_eq!(h.get("/api/v1/settings").await["ledger"]["rows_lost"], 0);
    // A row handed to a ledger already shut down cannot be written: it is counted (and logged).
    h.store.shutdown();
    h.store
        .record(record("gen-after-shutdown", "", "cli", MARCH_1, 1));
    assert_eq!(health(&h).await["ledger"]["rows_lost"], 1);
    let settings = h.get("/api/v1/settings").await;
    assert_eq!(settings["ledger"]["rows_lost"], 1, "{settings}");
}

#[tokio::test]
async fn admin_endpoints_need_an_admin_key() {
    let h = start().await;
    let (status, v) = h.call_as(None, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], 401);
    let (status, _) = h
        .call_as(Some("sk-ar-wrong"), Method::GET, "/api/v1/settings", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for path in [
        "/api/v1/keys",
        "/api/v1/providers",
        "/api/v1/usage",
        "/api/v1/balance",
    ] {
        let (status, v) = h.call_as(Some(&h.app_key), Method::GET, path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(v["error"]["code"], 403);
    }
    // Any valid key may read itself.
    let (status, v) = h
        .call_as(Some(&h.app_key), Method::GET, "/api/v1/key", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["name"], "cursor");
    assert_eq!(v["data"]["admin"], false);
    assert_eq!(v["data"]["hash"], h.app_key_hash.as_str());
}

#[tokio::test]
async fn key_lifecycle_shows_the_raw_key_once() {
    let h = start().await;
    let (status, created) = h
        .call(
            Method::POST,
            "/api/v1/keys",
            Some(json!({"name": "tool", "limit": 5, "limit_reset": "daily", "rpm": 100})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let raw = created["key"].as_str().unwrap().to_string();
    assert!(raw.starts_with("sk-ar-"));
    let key = &created["data"];
    let hash = key["hash"].as_str().unwrap().to_string();
    assert_eq!(key["limit"], 5.0);
    assert_eq!(key["limit_remaining"], 5.0);
    assert_eq!(key["limit_reset"], "daily");
    assert_eq!(key["rpm"], 100);
    assert_eq!(key["usage"], 0.0);
    let label = key["label"].as_str().unwrap();
    assert!(label.contains("...") && !raw.contains(label), "{label}");
    assert!(key["created_at"].as_str().unwrap().ends_with('Z'));

    let listed = h.get("/api/v1/keys").await;
    assert!(
        !listed.to_string().contains(&raw),
        "the raw key is never listed"
    );
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(names.contains(&"tool"));
    let one = h.get(&format!("/api/v1/keys/{hash}")).await;
    assert!(!one.to_string().contains(&raw));

    // The new key authenticates at once.
    let (status, me) = h
        .call_as(Some(&raw), Method::GET, "/api/v1/key", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["data"]["name"], "tool");

    let (status, v) = h
        .call(Method::POST, "/api/v1/keys", Some(json!({"name": "tool"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    for (body, field) in [
        (json!({"name": "x", "limit_reset": "yearly"}), "limit_reset"),
        (json!({"name": "x", "limit": -1}), "limit"),
        (json!({"name": "x", "rpm": 0}), "rpm"),
        (json!({"name": " "}), "name"),
        (json!({}), "name"),
        (json!({"name": "x", "colour": "red"}), "colour"),
    ] {
        let (status, v) = h.call(Method::POST, "/api/v1/keys", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(error_message(&v).starts_with(field), "{v}");
    }

    let (status, v) = h
        .call(
            Method::PATCH,
            &format!("/api/v1/keys/{hash}"),
            Some(json!({"name": "tool2", "limit": null, "limit_reset": "weekly", "rpm": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["name"], "tool2");
    assert_eq!(v["data"]["limit"], Value::Null);
    assert_eq!(v["data"]["limit_remaining"], Value::Null);
    assert_eq!(v["data"]["limit_reset"], "weekly");
    assert_eq!(v["data"]["rpm"], Value::Null);

    let (status, v) = h
        .call(
            Method::PATCH,
            &format!("/api/v1/keys/{hash}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"]["disabled"], true);
    let (status, _) = h
        .call_as(Some(&raw), Method::GET, "/api/v1/key", None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a disabled key is refused"
    );

    let (status, v) = h
        .call(Method::DELETE, &format!("/api/v1/keys/{hash}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v, json!({"deleted": true}));
    let (status, _) = h
        .call(Method::GET, &format!("/api/v1/keys/{hash}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .call(
            Method::PATCH,
            "/api/v1/keys/nope",
            Some(json!({"name": "z"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn key_usage_windows_and_limit_remaining() {
    let h = start().await;
    let now = arouter_core::record::now_ms();
    h.store.record(record(
        "gen-now",
        &h.app_key_hash,
        "cursor",
        now,
        2_000_000_000_000,
    ));
    h.store.record(record(
        "gen-old",
        &h.app_key_hash,
        "cursor",
        now - 400 * DAY_MS,
        1_000_000_000_000,
    ));
    h.store.flush();
    let (status, v) = h
        .call(
            Method::PATCH,
            &format!("/api/v1/keys/{}", h.app_key_hash),
            Some(json!({"limit": 10, "limit_reset": "monthly"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let k = &v["data"];
    assert_eq!(k["usage"], 3.0);
    assert_eq!(k["usage_daily"], 2.0);
    assert_eq!(k["usage_weekly"], 2.0);
    assert_eq!(k["usage_monthly"], 2.0);
    assert_eq!(k["limit_remaining"], 8.0);
    let (_, v) = h
        .call(
            Method::PATCH,
            &format!("/api/v1/keys/{}", h.app_key_hash),
            Some(json!({"limit_reset": null})),
        )
        .await;
    assert_eq!(
        v["data"]["limit_remaining"], 7.0,
        "all-time spend without a reset"
    );
}

fn record(id: &str, key_hash: &str, app: &str, created_ms: i64, cost_pusd: i64) -> UsageRecord {
    UsageRecord {
        id: id.to_string(),
        created_ms,
        app: app.to_string(),
        key_hash: key_hash.to_string(),
        surface: "openai".into(),
        endpoint: "chat".into(),
        requested_model: "openai/gpt-4o-mini".into(),
        served_model: "openai/gpt-4o-mini".into(),
        provider: "openai".into(),
        usage: Usage {
            input_tokens: 100,
            output_tokens: 20,
            reasoning_tokens: 5,
            cache_read_tokens: 10,
            cache_write_tokens: 0,
        },
        cost_pusd,
        priced: true,
        latency_ms: 300,
        ttft_ms: Some(120),
        finish_reason: Some("stop".into()),
        status: 200,
        ..UsageRecord::default()
    }
}

#[tokio::test]
async fn providers_are_added_edited_and_removed() {
    let h = start().await;
    let list = h.get("/api/v1/providers").await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ollama", "openai"]);
    let ollama = &list["data"][0];
    assert_eq!(ollama["local"], true);
    assert_eq!(ollama["has_credential"], false);
    assert_eq!(ollama["credential_source"], Value::Null);
    assert_eq!(ollama["health"]["status"], "unknown");

    let before = h.config_text();
    let (status, v) = h
        .call(
            Method::POST,
            "/api/v1/providers",
            Some(json!({"id": "groq", "kind": "opneai", "base_url": "https://api.groq.com/openai/v1"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&v).contains("kind"), "{v}");
    assert_eq!(h.config_text(), before, "nothing written");
    let (status, v) = h
        .call(
            Method::POST,
            "/api/v1/providers",
            Some(json!({"id": "groq", "kind": "openai"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_message(&v), "base_url: required");

    let (status, v) = h
        .call(
            Method::POST,
            "/api/v1/providers",
            Some(json!({
                "id": "groq", "kind": "openai",
                "base_url": "https://api.groq.com/openai/v1",
                "api_key_env": "AROUTER_TEST_UNSET_GROQ_KEY",
                "models": ["llama-3.3-70b-versatile"]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["data"]["kind"], "openai");
    assert_eq!(v["data"]["models"], json!(["llama-3.3-70b-versatile"]));
    assert_eq!(v["data"]["local"], false);
    let (status, _) = h
        .call(
            Method::POST,
            "/api/v1/providers",
            Some(json!({"id": "groq", "kind": "openai", "base_url": "https://x.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, v) = h
        .call(
            Method::PATCH,
            "/api/v1/providers/groq",
            Some(json!({"base_url": "https://proxy.example/v1", "api_key_env": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["base_url"], "https://proxy.example/v1");
    assert_eq!(v["data"]["api_key_env"], Value::Null);
    assert_eq!(
        h.app.config().providers["groq"].base_url,
        "https://proxy.example/v1"
    );

    let secret = "sk-groq-very-secret-value";
    let (status, v) = h
        .call(
            Method::PUT,
            "/api/v1/providers/groq/credential",
            Some(json!({"key": secret})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(!v.to_string().contains(secret), "never echoed");
    assert_eq!(v["data"]["has_credential"], true);
    assert_eq!(v["data"]["credential_source"], "keychain");
    assert_eq!(h.secrets.get("groq").unwrap().as_deref(), Some(secret));
    let listed = h.get("/api/v1/providers").await;
    assert!(!listed.to_string().contains(secret));
    let (status, _) = h
        .call(
            Method::PUT,
            "/api/v1/providers/nobody/credential",
            Some(json!({"key": "k"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = h
        .call(
            Method::PUT,
            "/api/v1/providers/groq/credential",
            Some(json!({"key": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&v).starts_with("key"));

    let (status, v) = h
        .call(Method::DELETE, "/api/v1/providers/groq/credential", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"]["has_credential"], false);
    assert_eq!(h.secrets.get("groq").unwrap(), None);

    let (status, v) = h.call(Method::DELETE, "/api/v1/providers/groq", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v, json!({"deleted": true}));
    assert!(!h.app.config().providers.contains_key("groq"));
    let (status, _) = h.call(Method::DELETE, "/api/v1/providers/groq", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(h
        .config_text()
        .contains("# A local Ollama (no key needed)."));

    let presets = h.get("/api/v1/provider-presets").await;
    let presets = presets["data"].as_array().unwrap();
    assert_eq!(presets.len(), 12);
    let ollama = presets.iter().find(|p| p["id"] == "ollama").unwrap();
    assert_eq!(ollama["needs_key"], false);
    assert_eq!(ollama["base_url"], "http://127.0.0.1:11434/v1");
    for p in presets {
        for f in [
            "id",
            "label",
            "kind",
            "base_url",
            "api_key_env",
            "needs_key",
        ] {
            assert!(p.get(f).is_some(), "{p} lacks {f}");
        }
    }
}

/// A fake upstream that lists two models and records the auth header it saw.
async fn fake_upstream() -> (String, Arc<std::sync::Mutex<Option<String>>>) {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_in = seen.clone();
    let router = axum::Router::new().route(
        "/v1/models",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let seen = seen_in.clone();
            async move {
                *seen.lock().unwrap() = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                axum::Json(json!({"object": "list", "data": [{"id": "a"}, {"id": "b"}]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}/v1"), seen)
}

#[tokio::test]
async fn provider_test_lists_models_upstream() {
    let h = start().await;
    let (base, seen) = fake_upstream().await;
    let (status, _) = h
        .call(
            Method::POST,
            "/api/v1/providers",
            Some(json!({"id": "fake", "kind": "openai", "base_url": base})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    h.call(
        Method::PUT,
        "/api/v1/providers/fake/credential",
        Some(json!({"key": "sk-up"})),
    )
    .await;
    let (status, v) = h
        .call(Method::POST, "/api/v1/providers/fake/test", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["status"], 200);
    assert!(v["message"].as_str().unwrap().contains("2 models"), "{v}");
    assert!(v["latency_ms"].is_u64());
    assert_eq!(seen.lock().unwrap().as_deref(), Some("Bearer sk-up"));

    // A closed port: a transport failure without an HTTP status.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    h.call(
        Method::PATCH,
        "/api/v1/providers/fake",
        Some(json!({"base_url": format!("http://{closed}/v1")})),
    )
    .await;
    let (_, v) = h
        .call(Method::POST, "/api/v1/providers/fake/test", None)
        .await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["status"], Value::Null);
    assert!(!v["message"].as_str().unwrap().is_empty());
    let (status, _) = h
        .call(Method::POST, "/api/v1/providers/none/test", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn routing_settings_persist_with_comments() {
    let h = start().await;
    let s = h.get("/api/v1/settings").await;
    assert_eq!(s["default_model"], "openai/gpt-4o-mini");
    assert_eq!(s["server"]["port"], 8402);
    assert_eq!(s["server"]["store_content"], true);
    assert_eq!(s["server"]["max_body_mb"], 32);
    assert_eq!(s["config_path"], h.config_path.display().to_string());
    assert!(s["version"].is_string());

    let (status, s) = h
        .call(
            Method::PUT,
            "/api/v1/aliases/fast",
            Some(json!({"models": ["ollama/llama3.2", "openai/gpt-4o-mini"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(
        s["aliases"]["fast"],
        json!(["ollama/llama3.2", "openai/gpt-4o-mini"])
    );
    let (status, s) = h
        .call(
            Method::PUT,
            "/api/v1/default-model",
            Some(json!({"model": "fast"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["default_model"], "fast");
    assert_eq!(h.app.config().default_model.as_deref(), Some("fast"));
    let text = h.config_text();
    assert!(text.contains("default_model = \"fast\""), "{text}");
    assert!(
        text.contains("fast = [\"ollama/llama3.2\", \"openai/gpt-4o-mini\"]"),
        "{text}"
    );
    assert!(text.contains("# Used when a request names no model; may be an alias."));
    assert!(text.contains("# openai | anthropic | gemini"));
    assert_eq!(
        Config::parse(&text).unwrap().default_model.as_deref(),
        Some("fast")
    );

    let before = h.config_text();
    for (path, body, field) in [
        (
            "/api/v1/default-model",
            json!({"model": "nobody/x"}),
            "default_model",
        ),
        (
            "/api/v1/default-model",
            json!({"model": "no-such-alias"}),
            "default_model",
        ),
        (
            "/api/v1/aliases/slow",
            json!({"models": ["ghost/m"]}),
            "aliases.slow[0]",
        ),
        ("/api/v1/aliases/slow", json!({"models": []}), "models"),
        (
            "/api/v1/aliases/a%2Fb",
            json!({"models": ["openai/gpt-4o"]}),
            "aliases.a/b",
        ),
    ] {
        let (status, v) = h.call(Method::PUT, path, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(error_message(&v).starts_with(field), "{v}");
    }
    assert_eq!(h.config_text(), before, "refused edits write nothing");
    assert_eq!(h.app.config().default_model.as_deref(), Some("fast"));

    let (status, s) = h
        .call(
            Method::PATCH,
            "/api/v1/settings",
            Some(json!({"store_content": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["server"]["store_content"], false);
    assert!(!h.app.config().server.store_content);
    let (status, v) = h
        .call(
            Method::PATCH,
            "/api/v1/settings",
            Some(json!({"store_content": "no"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&v).starts_with("store_content"));

    let (status, v) = h.call(Method::DELETE, "/api/v1/aliases/fast", None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the default still uses it: {v}"
    );
    h.call(
        Method::PUT,
        "/api/v1/default-model",
        Some(json!({"model": null})),
    )
    .await;
    let (status, s) = h.call(Method::DELETE, "/api/v1/aliases/fast", None).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["aliases"], json!({}));
    assert_eq!(s["default_model"], Value::Null);
    let (status, _) = h.call(Method::DELETE, "/api/v1/aliases/fast", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn catalog_and_model_overrides() {
    let h = start().await;
    let catalog = h.get("/api/v1/catalog").await;
    let mini = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o-mini")
        .expect("catalog lists openai/gpt-4o-mini");
    assert_eq!(mini["pricing"]["prompt"], "0.00000015");
    assert_eq!(mini["priced"], true);

    let (status, v) = h
        .call(
            Method::PUT,
            "/api/v1/model-overrides/ollama/llama3.2",
            Some(json!({"input_per_mtok": 1.0, "output_per_mtok": 2.5, "context_length": 131072})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["id"], "ollama/llama3.2");
    assert_eq!(v["data"]["pricing"]["prompt"], "0.000001");
    assert_eq!(v["data"]["pricing"]["completion"], "0.0000025");
    assert_eq!(v["data"]["context_length"], 131072);
    assert!(h.config_text().contains("[models.\"ollama/llama3.2\"]"));
    let catalog = h.get("/api/v1/catalog").await;
    assert!(catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "ollama/llama3.2"));

    let (status, v) = h
        .call(
            Method::PUT,
            "/api/v1/model-overrides/ollama/llama3.2",
            Some(json!({"input_per_mtok": -1, "output_per_mtok": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&v).starts_with("input_per_mtok"), "{v}");
    let (status, v) = h
        .call(
            Method::PUT,
            "/api/v1/model-overrides/ghost/m",
            Some(json!({"input_per_mtok": 1, "output_per_mtok": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&v).starts_with("models.\"ghost/m\""), "{v}");

    let (status, v) = h
        .call(
            Method::DELETE,
            "/api/v1/model-overrides/ollama/llama3.2",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v, json!({"deleted": true}));
    assert!(h.app.config().models.is_empty());
    let (status, _) = h
        .call(
            Method::DELETE,
            "/api/v1/model-overrides/ollama/llama3.2",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Four ledger rows over two days: two apps, a fallback with its failed attempt.
fn seed_ledger(h: &Harness) {
    let admin_hash = arouter_core::store::hash_key(&h.admin);
    let mut a = record(
        "gen-a",
        &h.app_key_hash,
        "cursor",
        MARCH_1 + 1000,
        1_500_000_000,
    );
    a.request_body = Some(json!({"model": "openai/gpt-4o-mini"}).into());
    a.response_body = Some(json!({"id": "gen-a"}).into());
    h.store.record(a);
    let mut b = record(
        "gen-b",
        &admin_hash,
        "cli",
        MARCH_1 + DAY_MS + 5000,
        2_000_000_000,
    );
    b.served_model = "anthropic/claude-sonnet-4.5".into();
    b.requested_model = "anthropic/claude-sonnet-4.5".into();
    b.provider = "anthropic".into();
    b.streamed = true;
    h.store.record(b);
    let mut attempt = record(
        "gen-c-attempt0",
        &h.app_key_hash,
        "cursor",
        MARCH_1 + DAY_MS,
        0,
    );
    attempt.status = 503;
    attempt.error = Some("openai: overloaded".into());
    h.store.record(attempt);
    let mut c = record(
        "gen-c",
        &h.app_key_hash,
        "cursor",
        MARCH_1 + DAY_MS,
        500_000_000,
    );
    c.served_model = "ollama/llama3.2".into();
    c.provider = "ollama".into();
    c.attempt = 1;
    c.request_body = Some(json!({"messages": [{"role": "user", "content": "hi"}]}).into());
    c.response_body = Some(json!({"choices": []}).into());
    h.store.record(c);
    h.store.flush();
}

const TOTAL_PUSD: i64 = 4_000_000_000;

#[tokio::test]
async fn usage_and_request_log_add_up() {
    let h = start().await;
    seed_ledger(&h);

    let u = h.get("/api/v1/usage?by=app").await;
    assert_eq!(u["totals"]["requests"], 4);
    assert_eq!(u["totals"]["errors"], 1);
    assert_eq!(u["totals"]["input_tokens"], 400);
    assert_eq!(u["totals"]["cost"], usd(TOTAL_PUSD));
    let groups: Vec<(&str, i64)> = u["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap(),
                g["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(groups, [("cli", 1), ("cursor", 3)]);
    let u = h.get("/api/v1/usage?by=key&since=2024-03-02").await;
    assert_eq!(u["totals"]["requests"], 3);
    let u = h.get("/api/v1/usage?by=day&until=2024-03-01").await;
    assert_eq!(u["data"].as_array().unwrap().len(), 1);
    assert_eq!(u["data"][0]["group"], "2024-03-01");
    let (status, v) = h
        .call(Method::GET, "/api/v1/usage?since=yesterday", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&v).starts_with("since"));
    let (status, v) = h.call(Method::GET, "/api/v1/usage?by=colour", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&v).starts_with("by"));

    let d = h.get("/api/v1/usage/daily?by=provider").await;
    let cells: Vec<(&str, &str, i64)> = d["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["day"].as_str().unwrap(),
                c["group"].as_str().unwrap(),
                c["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            ("2024-03-01", "openai", 1),
            ("2024-03-02", "anthropic", 1),
            ("2024-03-02", "ollama", 1),
            ("2024-03-02", "openai", 1)
        ]
    );

    let all = h.get("/api/v1/requests").await;
    assert_eq!(all["total"], 4);
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["gen-b", "gen-c-attempt0", "gen-c", "gen-a"],
        "newest first"
    );
    let first = &all["data"][0];
    assert_eq!(first["key_name"], "admin");
    assert_eq!(first["created_at"], "2024-03-02T00:00:05.000Z");
    assert_eq!(first["cost"], usd(2_000_000_000));
    let page = h.get("/api/v1/requests?limit=2&offset=1").await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["id"], "gen-c-attempt0");
    for (query, total) in [
        ("status=error", 1),
        ("status=ok", 3),
        ("streamed=true", 1),
        ("app=cursor", 3),
        ("model=ollama/llama3.2", 1),
        ("provider=openai&since=2024-03-02", 1),
    ] {
        let v = h.get(&format!("/api/v1/requests?{query}")).await;
        assert_eq!(v["total"], total, "{query}");
    }
    let (status, _) = h
        .call(Method::GET, "/api/v1/requests?status=maybe", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let detail = h.get("/api/v1/requests/gen-c").await;
    let d = &detail["data"];
    assert_eq!(d["request"]["messages"][0]["content"], "hi");
    assert_eq!(d["response"], json!({"choices": []}));
    assert_eq!(d["attempt"], 1);
    assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(d["attempts"][0]["id"], "gen-c-attempt0");
    assert_eq!(d["attempts"][0]["status"], 503);
    let (status, _) = h
        .call(Method::GET, "/api/v1/requests/gen-missing", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let resp = h
        .http
        .get(format!("{}/api/v1/usage.csv?since=2024-03-01", h.base))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with("id,time,app,key,model,provider,input_tokens"));
    assert!(lines[0].ends_with(",status,estimated"), "{}", lines[0]);
    assert_eq!(
        lines[1],
        "gen-a,2024-03-01T00:00:01.000Z,cursor,cursor,openai/gpt-4o-mini,openai,100,20,5,10,0,0.0015,200,false"
    );
}

#[tokio::test]
async fn credits_balance_transactions_and_activity_add_up() {
    let h = start().await;
    seed_ledger(&h);
    let (status, v) = h
        .call(
            Method::POST,
            "/api/v1/credits",
            Some(json!({"amount": 10, "note": "top-up"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["data"]["amount"], 10.0);
    for body in [
        json!({"amount": 0}),
        json!({"amount": -5}),
        json!({"note": "x"}),
    ] {
        let (status, v) = h.call(Method::POST, "/api/v1/credits", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(error_message(&v).starts_with("amount"), "{v}");
    }
    h.store.add_credit(2_500_000_000_000, "cli").unwrap();

    let c = h.get("/api/v1/credits").await;
    assert_eq!(c["data"]["total_credits"], 12.5);
    assert_eq!(c["data"]["total_usage"], usd(TOTAL_PUSD));
    let b = h.get("/api/v1/balance").await;
    assert_eq!(b["data"]["credits"], 12.5);
    assert_eq!(b["data"]["usage"], usd(TOTAL_PUSD));
    assert_eq!(b["data"]["remaining"], usd(12_500_000_000_000 - TOTAL_PUSD));

    let t = h.get("/api/v1/transactions").await;
    assert_eq!(t["total"], 5, "two credits and three charged requests");
    let data = t["data"].as_array().unwrap();
    assert_eq!(data[0]["type"], "credit", "newest first");
    assert_eq!(data[0]["note"], "cli");
    let charges: Vec<&Value> = data.iter().filter(|x| x["type"] == "charge").collect();
    assert_eq!(charges.len(), 3);
    assert!(charges.iter().all(|c| c["amount"].as_f64().unwrap() < 0.0));
    assert_eq!(charges[0]["id"], "gen-b");
    assert_eq!(charges[0]["model"], "anthropic/claude-sonnet-4.5");
    assert_eq!(charges[0]["key_name"], "admin");
    let t = h.get("/api/v1/transactions?app=cursor").await;
    assert_eq!(t["total"], 2);
    assert!(t["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["type"] == "charge"));
    let t = h.get("/api/v1/transactions?limit=1&offset=1").await;
    assert_eq!(t["total"], 5);
    assert_eq!(t["data"][0]["note"], "top-up");
    let t = h.get("/api/v1/transactions?until=2024-03-01").await;
    assert_eq!(t["total"], 1);
    assert_eq!(t["data"][0]["id"], "gen-a");

    let a = h.get("/api/v1/activity?since=2024-03-02").await;
    let rows = a["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let sum: i64 = rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
    assert_eq!(sum, 3);
    let ollama = rows
        .iter()
        .find(|r| r["model"] == "ollama/llama3.2")
        .unwrap();
    assert_eq!(ollama["date"], "2024-03-02");
    assert_eq!(ollama["app"], "cursor");
    assert_eq!(ollama["prompt_tokens"], 100);
    assert_eq!(ollama["completion_tokens"], 20);
    assert_eq!(ollama["reasoning_tokens"], 5);
    assert_eq!(ollama["usage"], usd(500_000_000));
}
