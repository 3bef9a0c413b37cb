//! End to end: the OpenAI-compatible surface against openai-kind mock upstreams, through the
//! real `arouter` binary. Each test asserts what the client got and what the upstream received.

mod common;

use arouter_store::ManageStore;
use arouter_tests::{approx_tokens, Behavior, MockUpstream, RouterProcess, Vendor};
use common::{client, data_json, openai_stream_text, sse_events};
use serde_json::{json, Value};
use std::time::Duration;

async fn one_provider() -> (MockUpstream, RouterProcess) {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.expect_key(Some("sk-upstream-secret"));
    let cfg = format!(
        "default_model = \"oa/gpt-4o-mini\"\n[server]\nkeepalive_secs = 1\n{}\n{}",
        mock.provider_toml("oa", Some("OA_TEST_KEY")),
        // The mock is on loopback (local providers are free): price it like OpenAI's.
        "[models.\"oa/gpt-4o-mini\"]\ninput_per_mtok = 0.15\noutput_per_mtok = 0.6\ncontext_length = 128000\n"
    );
    let router = RouterProcess::start_with(
        &cfg,
        arouter_tests::harness::RouterOptions::default().env("OA_TEST_KEY", "sk-upstream-secret"),
    )
    .await;
    (mock, router)
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "Say hello"}]})
}

#[tokio::test]
async fn chat_non_streaming_relays_and_accounts() {
    let (mock, router) = one_provider().await;
    let mut body = chat("oa/gpt-4o-mini", false);
    body["models"] = json!(["oa/gpt-4o-mini"]);
    body["provider"] = json!({"sort": "price"});
    body["transforms"] = json!([]);
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let gen_id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string();
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        let v = resp.headers()[name].to_str().unwrap();
        assert!(v.parse::<u64>().is_ok(), "{name} is an integer: {v}");
    }
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["id"], gen_id.as_str());
    assert!(gen_id.starts_with("gen-"));
    assert_eq!(v["model"], "oa/gpt-4o-mini");
    assert_eq!(v["provider"], "oa");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from OpenAI mock"
    );
    let prompt = v["usage"]["prompt_tokens"].as_u64().unwrap();
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert_eq!(completion, approx_tokens("Hello from OpenAI mock"));
    // gpt-4o-mini: $0.15 / $0.60 per Mtok
    let expected = (prompt as f64 * 0.15 + completion as f64 * 0.6) / 1e6;
    assert!((v["usage"]["cost"].as_f64().unwrap() - expected).abs() < 1e-12);

    // The upstream got the bare model name, our credential, and none of OpenRouter's fields.
    let sent = mock.last_json().unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini");
    for f in ["models", "provider", "transforms", "route", "usage"] {
        assert!(sent.get(f).is_none(), "{f} leaked upstream");
    }
    assert_eq!(
        mock.last_request().unwrap().header("authorization"),
        Some("Bearer sk-upstream-secret")
    );
    assert_eq!(mock.call_count(), 1);

    // The generation is in the ledger with OpenRouter's fields, and the stored exchange.
    let g: Value = client()
        .get(router.url(&format!("/api/v1/generation?id={gen_id}")))
        .bearer_auth(&router.app_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(g["data"]["tokens_prompt"], prompt);
    assert_eq!(g["data"]["tokens_completion"], completion);
    assert_eq!(g["data"]["provider_name"], "oa");
    assert_eq!(g["data"]["model"], "oa/gpt-4o-mini");
    assert_eq!(g["data"]["streamed"], false);
    assert_eq!(g["data"]["finish_reason"], "stop");
    assert_eq!(g["data"]["app"], "testapp");
    let stored: Value = client()
        .get(router.url(&format!("/v1/chat/completions/{gen_id}")))
        .bearer_auth(&router.app_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["request"]["messages"][0]["content"], "Say hello");
    assert_eq!(stored["response"]["id"], gen_id.as_str());
    // The same lookups under /api/v1 and for an admin; a different app key sees nothing.
    let other = router.cli(&["keys", "create", "--name", "other"]).await;
    let other_key = String::from_utf8_lossy(&other.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    let r = client()
        .get(router.url(&format!("/api/v1/chat/completions/{gen_id}")))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client()
        .get(router.url(&format!("/api/v1/generation?id={gen_id}")))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn chat_streaming_sends_usage_once_at_the_end() {
    let (mock, router) = one_provider().await;
    mock.push(Behavior::text("héllo wörld 😀 streamed"));
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .header("x-api-key", &router.app_key)
        .json(&chat("oa/gpt-4o-mini", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let gen_id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (events, raw) = sse_events(resp).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks = data_json(&events);
    assert_eq!(openai_stream_text(&chunks), "héllo wörld 😀 streamed");
    let with_usage: Vec<&Value> = chunks.iter().filter(|c| c["usage"].is_object()).collect();
    assert_eq!(with_usage.len(), 1, "usage once: {raw}");
    assert!(std::ptr::eq(with_usage[0], chunks.last().unwrap()));
    assert!(with_usage[0]["usage"]["cost"].as_f64().unwrap() > 0.0);
    assert!(chunks
        .iter()
        .all(|c| c["id"] == gen_id.as_str() && c["model"] == "oa/gpt-4o-mini"));
    let sent = mock.last_json().unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["stream"], true);
}

#[tokio::test]
async fn tool_calls_round_trip_streaming_and_not() {
    let (mock, router) = one_provider().await;
    let args = json!({"city": "Paris", "unit": "c"});
    mock.push(Behavior::tool_call("get_weather", &args));
    mock.push(Behavior::tool_call("get_weather", &args));
    let mut body = chat("oa/gpt-4o-mini", false);
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let v: Value = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let parsed: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, args);

    body["stream"] = json!(true);
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (events, _) = sse_events(resp).await;
    let chunks = data_json(&events);
    let mut arguments = String::new();
    for c in &chunks {
        if let Some(calls) = c
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array)
        {
            for tc in calls {
                arguments.push_str(
                    tc.pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                );
            }
        }
    }
    assert_eq!(serde_json::from_str::<Value>(&arguments).unwrap(), args);
    assert!(chunks
        .iter()
        .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("tool_calls"))));
    assert_eq!(mock.call_count(), 2);
}

#[tokio::test]
async fn upstream_errors_keep_status_and_hide_the_credential() {
    let (mock, router) = one_provider().await;
    mock.push(Behavior::Error {
        status: 429,
        body: None,
        retry_after: Some(7),
    });
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&chat("oa/gpt-4o-mini", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["metadata"]["provider_name"], "oa");
    assert_eq!(v["error"]["metadata"]["error_type"], "rate_limit_exceeded");
    assert!(!v.to_string().contains("sk-upstream-secret"));

    for (behavior, status) in [
        (Behavior::InvalidJson, 502),
        (Behavior::DropConnection, 502),
        (Behavior::error(500), 500),
    ] {
        mock.push(behavior);
        let resp = client()
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(&router.app_key)
            .json(&chat("oa/gpt-4o-mini", false))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], status);
        assert!(v["error"]["message"].as_str().unwrap().contains("oa"));
    }
    let log = router.stderr_log();
    assert!(!log.contains("sk-upstream-secret"), "credential in logs");
}

#[tokio::test]
async fn fallback_through_models_list_and_alias() {
    let a = MockUpstream::start(Vendor::OpenAi).await;
    let b = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "{}{}[aliases]\nsafe = [\"a/m1\", \"b/m2\"]\n",
        a.provider_toml("a", None),
        b.provider_toml("b", None)
    );
    let router = RouterProcess::start(&cfg).await;
    for stream in [false, true] {
        a.push(Behavior::error(503));
        let mut body = chat("a/m1", stream);
        body["models"] = json!(["b/m2"]);
        let resp = client()
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(&router.app_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        if stream {
            let (events, _) = sse_events(resp).await;
            let chunks = data_json(&events);
            assert_eq!(openai_stream_text(&chunks), "Hello from OpenAI mock");
            assert!(chunks
                .iter()
                .all(|c| c["model"] == "b/m2" && c["provider"] == "b"));
        } else {
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["model"], "b/m2");
        }
        assert_eq!(b.last_json().unwrap()["model"], "m2");
    }
    assert_eq!(a.call_count(), 2);
    assert_eq!(b.call_count(), 2);

    // An alias: first candidate refuses the connection (dropped), second serves.
    a.push(Behavior::DropConnection);
    let v: Value = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&chat("safe", false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["model"], "b/m2");

    // Three failures in a row put `a` in cooldown (tried last); one success clears it.
    let ok = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&chat("a/m1", false))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // A client error does not fall back.
    a.push(Behavior::error(400));
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&chat("safe", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(b.call_count(), 3);

    // Both failing: one error listing each attempt.
    a.push(Behavior::error(500));
    b.push(Behavior::error(502));
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&chat("safe", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["metadata"]["attempts"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn slow_first_byte_gets_keepalive_comments_and_mid_stream_drop_ends_with_error_chunk() {
    let (mock, router) = one_provider().await;
    mock.push(Behavior::SlowFirstByte(
        Duration::from_millis(2500),
        Box::new(Behavior::text("late")),
    ));
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&chat("oa/gpt-4o-mini", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (events, raw) = sse_events(resp).await;
    assert!(raw.starts_with(": AROUTER PROCESSING\n\n"), "{raw}");
    assert_eq!(openai_stream_text(&data_json(&events)), "late");

    mock.push(Behavior::MidStreamDrop { after_chunks: 2 });
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&chat("oa/gpt-4o-mini", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let gen_id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (events, _) = sse_events(resp).await;
    let chunks = data_json(&events);
    let last = chunks.last().unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let g: Value = client()
        .get(router.url(&format!("/api/v1/generation?id={gen_id}")))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(g["data"]["streamed"], true);
    assert!(g["data"]["error"].is_string());
}

#[tokio::test]
async fn first_byte_timeout_falls_back() {
    let a = MockUpstream::start(Vendor::OpenAi).await;
    let b = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "{}first_byte_timeout_secs = 1\n{}",
        a.provider_toml("a", None),
        b.provider_toml("b", None)
    );
    let router = RouterProcess::start(&cfg).await;
    a.push(Behavior::SlowFirstByte(
        Duration::from_secs(4),
        Box::new(Behavior::text("too late")),
    ));
    let mut body = chat("a/x", true);
    body["models"] = json!(["b/y"]);
    let resp = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (events, _) = sse_events(resp).await;
    assert_eq!(
        openai_stream_text(&data_json(&events)),
        "Hello from OpenAI mock"
    );
    assert_eq!(b.call_count(), 1);
}

#[tokio::test]
async fn auth_styles_revocation_and_bad_input() {
    let (_mock, router) = one_provider().await;
    let url = router.url("/v1/models");
    let c = client();
    assert_eq!(c.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        c.get(&url)
            .bearer_auth("sk-ar-wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(&router.app_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(&url)
            .header("x-api-key", &router.app_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(&url)
            .header("x-goog-api-key", &router.app_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let q = format!("{url}?key={}", router.app_key);
    assert_eq!(c.get(&q).send().await.unwrap().status(), 200);
    assert_eq!(
        c.get(router.url("/healthz")).send().await.unwrap().status(),
        200
    );

    // A key created by the CLI while the server runs works at once; revoked, it stops.
    let out = router.cli(&["keys", "create", "--name", "late"]).await;
    let late = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(
        c.get(&url)
            .bearer_auth(&late)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(router
        .cli(&["keys", "revoke", "late"])
        .await
        .status
        .success());
    let mut revoked = false;
    for _ in 0..30 {
        if c.get(&url)
            .bearer_auth(&late)
            .send()
            .await
            .unwrap()
            .status()
            == 401
        {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(revoked, "revoked key still accepted");

    let post = |body: &'static str| {
        c.post(router.url("/v1/chat/completions"))
            .bearer_auth(&router.app_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = post("{not json").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 400);
    let r = post(r#"{"model":"oa/x","messages":[{"role":"robot","content":"x"}]}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("messages"));
    let r = post(r#"{"model":"nobody/x","messages":[{"role":"user","content":"x"}]}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Over the 32 MiB default: refused from Content-Length alone, before reading the body.
    let head = raw_http(
        &router.base_url,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            router.app_key,
            33 * 1024 * 1024
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("\"code\":413"), "{head}");

    let r = c
        .get(&url)
        .bearer_auth(&router.app_key)
        .header("host", "evil.example:8402")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .get(&url)
        .bearer_auth(&router.app_key)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn embeddings_legacy_completions_and_models() {
    let (mock, router) = one_provider().await;
    let v: Value = client()
        .post(router.url("/v1/embeddings"))
        .bearer_auth(&router.app_key)
        .json(&json!({"model": "oa/text-embedding-3-small", "input": ["a", "b"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(mock.last_request().unwrap().path_only(), "/v1/embeddings");

    let resp = client()
        .post(router.url("/api/v1/completions"))
        .bearer_auth(&router.app_key)
        .json(&json!({"model": "oa/gpt-3.5-turbo-instruct", "prompt": "Once", "stream": true}))
        .send()
        .await
        .unwrap();
    let (events, _) = sse_events(resp).await;
    let chunks = data_json(&events);
    let text: String = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/text").and_then(Value::as_str))
        .collect();
    assert!(!text.is_empty());
    assert_eq!(chunks.iter().filter(|c| c["usage"].is_object()).count(), 1);

    let models: Value = client()
        .get(router.url("/v1/models"))
        .bearer_auth(&router.app_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = models["data"].as_array().unwrap();
    let m = data.iter().find(|m| m["id"] == "oa/gpt-4o-mini");
    // "oa" is not OpenAI's own host, so the catalog is not listed for it; config models are.
    assert!(m.is_none() || m.unwrap()["pricing"]["prompt"].is_string());
    let one: Value = client()
        .get(router.url("/v1/models/oa/gpt-4o-mini"))
        .bearer_auth(&router.app_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "oa/gpt-4o-mini");
    assert_eq!(one["pricing"]["prompt"], "0.00000015");
    assert_eq!(one["context_length"], 128000);
}

#[tokio::test]
async fn graceful_shutdown_loses_no_ledger_row() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    for _ in 0..40 {
        mock.push(Behavior::SlowFirstByte(
            Duration::from_millis(1500),
            Box::new(Behavior::text("ok")),
        ));
    }
    let mut router = RouterProcess::start(&mock.provider_toml("oa", None)).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = router.url("/v1/chat/completions");
        let key = router.app_key.clone();
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(key)
                .json(&chat("oa/m", i % 2 == 0))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    // SIGTERM only once every request reached the upstream, i.e. is in flight in the router.
    // Bounded generously: on a loaded 2-core CI machine 40 connections can take seconds.
    for _ in 0..800 {
        if mock.call_count() == 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(mock.call_count(), 40);
    router.sigterm();
    let mut ok = 0;
    for t in tasks {
        if let Ok(Ok(200)) = t.await {
            ok += 1;
        }
    }
    let status = router.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(ok, 40, "in-flight requests were cut");
    let store = arouter_store::SqliteStore::open(&router.data_dir.join("arouter.db")).unwrap();
    let rows = store.usage_summary(0, arouter_store::GroupBy::App).unwrap();
    let total: i64 = rows.iter().map(|r| r.requests).sum();
    if total != 40 {
        let by_day = store
            .usage_summary(0, arouter_store::GroupBy::Model)
            .unwrap();
        eprintln!("{by_day:?}\n{}", router.stderr_log());
    }
    assert_eq!(total, 40);
}

/// Sends raw request bytes and returns what the server answered (until it closes or 2 s).
async fn raw_http(base_url: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}
