//! End to end: Anthropic's Message Batches API through the real `arouter` binary — batches run
//! here (openai-kind mocks), canceled, resumed after a restart, and forwarded to an
//! anthropic-kind mock's batch API.

mod common;

use arouter_store::{ManageStore, RequestFilter, SqliteStore};
use arouter_tests::harness::RouterOptions;
use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn request(custom_id: &str, model: &str, text: &str) -> Value {
    json!({
        "custom_id": custom_id,
        "params": {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    })
}

async fn post(router: &RouterProcess, path: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(router.url(path))
        .header("x-api-key", &router.app_key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn call(router: &RouterProcess, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = client()
        .request(method, router.url(path))
        .header("x-api-key", &router.app_key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Polls the batch until it ended (panics after 30 s).
async fn wait_ended(router: &RouterProcess, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, batch) = call(
            router,
            reqwest::Method::GET,
            &format!("/v1/messages/batches/{id}"),
        )
        .await;
        assert_eq!(status, 200, "{batch}");
        if batch["processing_status"] == "ended" {
            return batch;
        }
        assert!(
            Instant::now() < deadline,
            "batch never ended: {batch}\n{}",
            router.stderr_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The results file as parsed lines, and its content type.
async fn results(router: &RouterProcess, url: &str) -> (Vec<Value>, String) {
    let resp = client()
        .get(url)
        .header("x-api-key", &router.app_key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    let text = resp.text().await.unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    (lines, content_type)
}

/// Ledger rows with endpoint `batch`.
fn batch_rows(router: &RouterProcess) -> Vec<arouter_store::LoggedRequest> {
    let store = SqliteStore::open(&router.data_dir.join("arouter.db")).unwrap();
    let (rows, _) = store
        .list_requests(&RequestFilter {
            limit: 500,
            ..Default::default()
        })
        .unwrap();
    rows.into_iter()
        .filter(|r| r.record.endpoint == "batch")
        .collect()
}

/// Polls the ledger until it holds `n` batch rows (the writer commits asynchronously).
async fn wait_rows(router: &RouterProcess, n: usize) -> Vec<arouter_store::LoggedRequest> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = batch_rows(router);
        if rows.len() >= n || Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two openai-kind mocks: `oa` answers, `bad` fails every request with a 400.
async fn local_setup() -> (MockUpstream, MockUpstream, RouterProcess) {
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let bad = MockUpstream::start(Vendor::OpenAi).await;
    bad.push(Behavior::error(400));
    let cfg = format!(
        "{}\n{}",
        oa.provider_toml("oa", None),
        bad.provider_toml("bad", None)
    );
    let router = RouterProcess::start(&cfg).await;
    (oa, bad, router)
}

#[tokio::test]
async fn local_batch_runs_every_request_and_returns_results_in_order() {
    let (oa, bad, router) = local_setup().await;
    let requests: Vec<Value> = (0..5)
        .map(|i| {
            let model = if i == 2 {
                "bad/gpt-x"
            } else {
                "oa/gpt-4o-mini"
            };
            request(&format!("req-{i}"), model, &format!("question {i}"))
        })
        .collect();
    let (status, created) = post(
        &router,
        "/v1/messages/batches",
        &json!({"requests": requests}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("msgbatch_"), "{id}");
    assert_eq!(created["type"], "message_batch");
    assert_eq!(created["results_url"], Value::Null);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(created["expires_at"].is_string());

    let ended = wait_ended(&router, &id).await;
    assert_eq!(
        ended["request_counts"],
        json!({"processing": 0, "succeeded": 4, "errored": 1, "canceled": 0, "expired": 0})
    );
    assert!(ended["ended_at"].is_string());
    let url = ended["results_url"].as_str().unwrap();
    assert_eq!(
        url,
        router.url(&format!("/v1/messages/batches/{id}/results"))
    );

    let (lines, content_type) = results(&router, url).await;
    assert_eq!(content_type, "application/x-jsonl");
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["req-0", "req-1", "req-2", "req-3", "req-4"]);
    for (i, line) in lines.iter().enumerate() {
        if i == 2 {
            assert_eq!(line["result"]["type"], "errored", "{line}");
            assert_eq!(line["result"]["error"]["type"], "error");
            assert_eq!(
                line["result"]["error"]["error"]["type"],
                "invalid_request_error"
            );
            continue;
        }
        let message = &line["result"]["message"];
        assert_eq!(line["result"]["type"], "succeeded", "{line}");
        assert_eq!(message["type"], "message");
        assert_eq!(message["role"], "assistant");
        assert_eq!(message["content"][0]["text"], "Hello from OpenAI mock");
        assert_eq!(message["model"], "oa/gpt-4o-mini");
        assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0);
    }
    assert_eq!(oa.call_count(), 4);
    assert_eq!(bad.call_count(), 1);
    let sent: Vec<String> = oa
        .requests()
        .iter()
        .map(|r| r.json.as_ref().unwrap()["messages"][0]["content"].to_string())
        .collect();
    assert!(sent.iter().any(|c| c.contains("question 4")), "{sent:?}");

    let rows = wait_rows(&router, 5).await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r.record.status == 200).count(), 4);
    assert_eq!(rows.iter().filter(|r| r.record.status == 400).count(), 1);
    assert!(rows.iter().all(|r| r.record.surface == "anthropic"));

    // Listed newest first; then deleted.
    let (_, page) = call(
        &router,
        reqwest::Method::GET,
        "/v1/messages/batches?limit=1",
    )
    .await;
    assert_eq!(page["data"][0]["id"], id.as_str());
    assert_eq!(page["first_id"], id.as_str());
    assert_eq!(page["has_more"], false);
    let path = format!("/api/v1/messages/batches/{id}");
    let (status, deleted) = call(&router, reqwest::Method::DELETE, &path).await;
    assert_eq!(status, 200);
    assert_eq!(deleted, json!({"id": id, "type": "message_batch_deleted"}));
    let (status, gone) = call(&router, reqwest::Method::GET, &path).await;
    assert_eq!(status, 404);
    assert_eq!(gone["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn invalid_batches_are_refused_in_anthropic_shape() {
    let (_oa, _bad, router) = local_setup().await;
    let mut no_max = request("a", "oa/gpt-4o-mini", "hi");
    no_max["params"]
        .as_object_mut()
        .unwrap()
        .remove("max_tokens");
    let cases = [
        (json!({"requests": []}), "requests"),
        (
            json!({"requests": [no_max]}),
            "requests.0.params: max_tokens",
        ),
        (
            json!({"requests": [request("a", "oa/m", "x"), request("a", "oa/m", "y")]}),
            "requests.1.custom_id",
        ),
        (
            json!({"requests": [request("a", "nowhere/m", "x")]}),
            "requests.0.params",
        ),
    ];
    for (body, needle) in cases {
        let (status, err) = post(&router, "/v1/messages/batches", &body).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["type"], "error");
        assert_eq!(err["error"]["type"], "invalid_request_error");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message} lacks {needle}");
    }
    let (status, err) = call(
        &router,
        reqwest::Method::GET,
        "/v1/messages/batches?limit=0",
    )
    .await;
    assert_eq!(status, 400, "{err}");
}

fn slow(ms: u64) -> Behavior {
    Behavior::SlowFirstByte(
        Duration::from_millis(ms),
        Box::new(Behavior::text("slow answer")),
    )
}

#[tokio::test]
async fn cancel_settles_the_requests_not_yet_run() {
    let (oa, _bad, router) = local_setup().await;
    oa.script((0..10).map(|_| slow(700)));
    let requests: Vec<Value> = (0..10)
        .map(|i| request(&format!("r{i}"), "oa/gpt-4o-mini", "hi"))
        .collect();
    let (_, created) = post(
        &router,
        "/v1/messages/batches",
        &json!({"requests": requests}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, canceling) = post(
        &router,
        &format!("/v1/messages/batches/{id}/cancel"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{canceling}");
    assert!(canceling["cancel_initiated_at"].is_string());
    assert!(
        ["canceling", "ended"].contains(&canceling["processing_status"].as_str().unwrap()),
        "{canceling}"
    );

    let ended = wait_ended(&router, &id).await;
    let counts = &ended["request_counts"];
    let succeeded = counts["succeeded"].as_u64().unwrap();
    let canceled = counts["canceled"].as_u64().unwrap();
    assert_eq!(succeeded + canceled, 10, "{counts}");
    assert!(canceled >= 6, "at most 4 run at a time: {counts}");
    assert_eq!(oa.call_count() as u64, succeeded);
    let (lines, _) = results(&router, ended["results_url"].as_str().unwrap()).await;
    let canceled_lines = lines
        .iter()
        .filter(|l| l["result"] == json!({"type": "canceled"}))
        .count();
    assert_eq!(canceled_lines as u64, canceled);
}

#[tokio::test]
async fn a_restart_resumes_unfinished_batches() {
    let (oa, _bad, mut router) = local_setup().await;
    oa.script((0..8).map(|_| slow(800)));
    let requests: Vec<Value> = (0..8)
        .map(|i| request(&format!("r{i}"), "oa/gpt-4o-mini", "hi"))
        .collect();
    let (_, created) = post(
        &router,
        "/v1/messages/batches",
        &json!({"requests": requests}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    router.sigterm();
    let status = router.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", router.stderr_log());
    let before = oa.call_count();
    assert!(before < 8, "the batch finished before the restart");

    router.restart().await;
    let ended = wait_ended(&router, &id).await;
    assert_eq!(ended["request_counts"]["succeeded"], 8, "{ended}");
    assert_eq!(oa.call_count(), 8);
    let (lines, _) = results(&router, ended["results_url"].as_str().unwrap()).await;
    assert_eq!(lines.len(), 8);
    assert!(lines.iter().all(|l| l["result"]["type"] == "succeeded"));
    let rows = wait_rows(&router, 8).await;
    assert_eq!(rows.iter().filter(|r| r.record.status == 200).count(), 8);
}

#[tokio::test]
async fn anthropic_only_batches_are_forwarded_to_the_provider() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    mock.expect_key(Some("sk-ant-upstream"));
    let cfg = format!(
        "{}\n[models.\"anth/claude-x\"]\ninput_per_mtok = 3.0\noutput_per_mtok = 15.0\n",
        mock.provider_toml("anth", Some("ANTH_KEY"))
    );
    let router = RouterProcess::start_with(
        &cfg,
        RouterOptions::default().env("ANTH_KEY", "sk-ant-upstream"),
    )
    .await;
    let requests: Vec<Value> = (0..3)
        .map(|i| request(&format!("f{i}"), "anth/claude-x", "hello"))
        .collect();
    let (status, created) = post(
        &router,
        "/v1/messages/batches",
        &json!({"requests": requests}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("msgbatch_"));
    assert_eq!(created["processing_status"], "in_progress");
    assert_eq!(created["request_counts"]["processing"], 3);

    let sent = mock.last_request().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/messages/batches");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-upstream"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    let body = sent.json.unwrap();
    assert_eq!(body["requests"][0]["custom_id"], "f0");
    assert_eq!(body["requests"][2]["params"]["model"], "claude-x");
    let upstream_id = {
        let (_, list) = call(&router, reqwest::Method::GET, "/v1/messages/batches").await;
        assert_eq!(list["data"][0]["id"], id.as_str(), "{list}");
        mock.requests()
            .iter()
            .rev()
            .find(|r| r.method == "GET" && r.path_only().starts_with("/v1/messages/batches/"))
            .map(|r| {
                r.path_only()
                    .trim_start_matches("/v1/messages/batches/")
                    .to_string()
            })
            .unwrap()
    };
    assert_ne!(upstream_id, id, "our id hides the upstream one");

    let ended = wait_ended(&router, &id).await;
    assert_eq!(ended["id"], id.as_str());
    assert_eq!(ended["request_counts"]["succeeded"], 3);
    let url = ended["results_url"].as_str().unwrap();
    assert_eq!(
        url,
        router.url(&format!("/v1/messages/batches/{id}/results"))
    );
    let (lines, _) = results(&router, url).await;
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["result"]["type"] == "succeeded"));
    assert_eq!(lines[0]["result"]["message"]["model"], "claude-x");

    // Usage is recorded once, however often results are fetched.
    let rows = wait_rows(&router, 3).await;
    assert_eq!(rows.len(), 3);
    let _ = results(&router, url).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(batch_rows(&router).len(), 3);
    let row = &rows[0].record;
    assert_eq!(row.provider, "anth");
    assert_eq!(row.served_model, "anth/claude-x");
    assert!(row.usage.output_tokens > 0);
    assert!(row.cost_pusd > 0);

    let path = format!("/v1/messages/batches/{id}");
    let (status, deleted) = call(&router, reqwest::Method::DELETE, &path).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted, json!({"id": id, "type": "message_batch_deleted"}));
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.path, format!("/v1/messages/batches/{upstream_id}"));
    let (status, _) = call(&router, reqwest::Method::GET, &path).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn forwarded_cancel_reaches_the_provider() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    let router = RouterProcess::start(&mock.provider_toml("anth", None)).await;
    let requests = json!({"requests": [request("only", "anth/claude-x", "hello")]});
    let (_, created) = post(&router, "/v1/messages/batches", &requests).await;
    let id = created["id"].as_str().unwrap();
    let (status, canceling) = post(
        &router,
        &format!("/v1/messages/batches/{id}/cancel"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{canceling}");
    assert_eq!(canceling["id"], id);
    assert_eq!(canceling["processing_status"], "canceling");
    assert!(mock.last_request().unwrap().path.ends_with("/cancel"));
    let ended = wait_ended(&router, id).await;
    assert_eq!(ended["request_counts"]["canceled"], 1);
}
