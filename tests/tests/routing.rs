//! End to end: routing and resilience — retries honouring Retry-After, provider preferences,
//! cooldown of a failing provider, hot reload of a hand-edited config.

mod common;

use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::time::Duration;

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

async fn post(router: &RouterProcess, body: &Value) -> reqwest::Response {
    client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn last_candidate_retries_after_a_short_retry_after() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    let router = RouterProcess::start(&mock.provider_toml("oa", None)).await;
    mock.push(Behavior::Error {
        status: 429,
        body: None,
        retry_after: Some(1),
    });
    let started = std::time::Instant::now();
    let resp = post(&router, &chat("oa/m")).await;
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(mock.call_count(), 2);
    // A long Retry-After is the client's to honour.
    mock.push(Behavior::Error {
        status: 429,
        body: None,
        retry_after: Some(30),
    });
    let resp = post(&router, &chat("oa/m")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "30");
    assert_eq!(mock.call_count(), 3);
}

#[tokio::test]
async fn provider_preferences_order_only_and_no_fallbacks() {
    let a = MockUpstream::start(Vendor::OpenAi).await;
    let b = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "{}{}[aliases]\nboth = [\"a/m\", \"b/m\"]\n",
        a.provider_toml("a", None),
        b.provider_toml("b", None)
    );
    let router = RouterProcess::start(&cfg).await;
    let mut body = chat("both");
    body["provider"] = json!({"order": ["b", "a"]});
    let v: Value = post(&router, &body).await.json().await.unwrap();
    assert_eq!(v["provider"], "b");

    body["provider"] = json!({"ignore": ["a", "b"]});
    let resp = post(&router, &body).await;
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("provider.ignore"));

    a.push(Behavior::error(500));
    body["provider"] = json!({"allow_fallbacks": false});
    let resp = post(&router, &body).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(b.call_count(), 1, "no fallback to b");
}

#[tokio::test]
async fn a_failing_provider_cools_down_and_recovers() {
    let a = MockUpstream::start(Vendor::OpenAi).await;
    let b = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "{}{}[aliases]\nboth = [\"a/m\", \"b/m\"]\n",
        a.provider_toml("a", None),
        b.provider_toml("b", None)
    );
    let router = RouterProcess::start(&cfg).await;
    for _ in 0..3 {
        a.push(Behavior::error(502));
        let v: Value = post(&router, &chat("both")).await.json().await.unwrap();
        assert_eq!(v["provider"], "b");
    }
    assert_eq!(a.call_count(), 3);
    // Cooling down: b is tried first, a not at all.
    let v: Value = post(&router, &chat("both")).await.json().await.unwrap();
    assert_eq!(v["provider"], "b");
    assert_eq!(a.call_count(), 3);
    // If b fails now, a is still tried (last) rather than skipped.
    b.push(Behavior::error(502));
    let v: Value = post(&router, &chat("both")).await.json().await.unwrap();
    assert_eq!(v["provider"], "a");
    assert_eq!(a.call_count(), 4);
    // a succeeded, so it is healthy again and first.
    let v: Value = post(&router, &chat("both")).await.json().await.unwrap();
    assert_eq!(v["provider"], "a");
}

#[tokio::test]
async fn hand_edited_config_is_picked_up_and_invalid_edits_are_refused() {
    let a = MockUpstream::start(Vendor::OpenAi).await;
    let b = MockUpstream::start(Vendor::OpenAi).await;
    let base = format!(
        "{}{}",
        a.provider_toml("a", None),
        b.provider_toml("b", None)
    );
    let router = RouterProcess::start(&format!("default_model = \"a/m\"\n{base}")).await;
    let no_model = json!({"messages": [{"role": "user", "content": "hi"}]});
    let v: Value = post(&router, &no_model).await.json().await.unwrap();
    assert_eq!(v["provider"], "a");

    let path = router.data_dir.join("config.toml");
    std::fs::write(&path, format!("default_model = \"b/m\"\n{base}")).unwrap();
    let mut switched = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let v: Value = post(&router, &no_model).await.json().await.unwrap();
        if v["provider"] == "b" {
            switched = true;
            break;
        }
    }
    assert!(switched, "config edit not picked up");

    // A broken edit is refused with a field-named error in the log; the running config stays.
    std::fs::write(&path, format!("default_model = \"b/m\"\n{base}[providers.c]\nkind = \"opneai\"\nbase_url = \"http://x\"\n")).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v: Value = post(&router, &no_model).await.json().await.unwrap();
    assert_eq!(v["provider"], "b");
    assert!(router
        .stderr_log()
        .contains("providers.c.kind: unknown kind \"opneai\""));
}

#[tokio::test]
async fn concurrent_requests_during_config_changes_see_one_config() {
    let a = MockUpstream::start(Vendor::OpenAi).await;
    let b = MockUpstream::start(Vendor::OpenAi).await;
    let providers = format!(
        "{}{}",
        a.provider_toml("a", None),
        b.provider_toml("b", None)
    );
    let router = RouterProcess::start(&format!("{providers}[aliases]\nx = [\"a/m\"]\n")).await;
    let path = router.data_dir.join("config.toml");
    let writer = {
        let path = path.clone();
        let providers = providers.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                let target = if i % 2 == 0 { "b/m" } else { "a/m" };
                let text = format!("{providers}[aliases]\nx = [\"{target}\"]\n");
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, text).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let url = router.url("/v1/chat/completions");
        let key = router.app_key.clone();
        tasks.push(tokio::spawn(async move {
            let v: Value = client()
                .post(url)
                .bearer_auth(key)
                .json(&chat("x"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["provider"].as_str().unwrap_or("").to_string()
        }));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    for t in tasks {
        let p = t.await.unwrap();
        assert!(p == "a" || p == "b", "request failed or mixed: {p:?}");
    }
    writer.await.unwrap();
    // Every request made exactly one upstream call: none was tried on both.
    assert_eq!(a.call_count() + b.call_count(), 60);
}
