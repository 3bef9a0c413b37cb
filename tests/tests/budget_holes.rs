//! Budgets without holes, end to end.
//!
//! - A client that hangs up mid-stream is charged for what was streamed so far: on every
//!   surface (OpenAI chat, Anthropic messages, Gemini streamGenerateContent, Responses) and from
//!   every provider kind, an upstream that streams text and never reports usage leaves a row
//!   with estimated tokens and cost, marked `estimated`; the key's budget reservation settles
//!   to that estimate. A stream that completes with the upstream's usage is not marked.
//! - A budgeted key refuses unpriced remote models (also through the provider proxy); local
//!   models stay free.
//! - A forwarded Anthropic batch reserves its worst case before it goes upstream.

mod common;

use arouter_tests::harness::RouterOptions;
use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// USD per million tokens of every test model (input, output): 1000 → $0.001 a token.
const PRICE: f64 = 1000.0;
/// The budgeted model's price: output only, so a reservation is `max_tokens` × $0.001.
const OUTPUT_ONLY: &str = "input_per_mtok = 0\noutput_per_mtok = 1000\n";

struct Setup {
    mocks: Vec<(&'static str, MockUpstream)>,
    router: RouterProcess,
}

/// One mock per kind (`po`, `pa`, `pg`), all treated as remote (`local = false`) so their
/// configured prices apply, each with its key from the environment.
async fn setup() -> Setup {
    let mut mocks = Vec::new();
    let mut cfg = String::from("[server]\nkeepalive_secs = 1\n");
    let mut options = RouterOptions::default();
    for (id, vendor) in [
        ("po", Vendor::OpenAi),
        ("pa", Vendor::Anthropic),
        ("pg", Vendor::Gemini),
    ] {
        let mock = MockUpstream::start(vendor).await;
        let env = format!("{}_KEY", id.to_uppercase());
        cfg.push_str(&mock.provider_toml(id, Some(&env)));
        cfg.push_str("local = false\n");
        options = options.env(&env, "upstream-key");
        mocks.push((id, mock));
    }
    for (id, _) in &mocks {
        cfg.push_str(&format!(
            "[models.\"{id}/m\"]\ninput_per_mtok = {PRICE}\noutput_per_mtok = {PRICE}\n"
        ));
    }
    cfg.push_str(&format!("[models.\"po/budgeted\"]\n{OUTPUT_ONLY}"));
    let router = RouterProcess::start_with(&cfg, options).await;
    Setup { mocks, router }
}

impl Setup {
    fn mock(&self, id: &str) -> &MockUpstream {
        &self.mocks.iter().find(|(m, _)| *m == id).unwrap().1
    }
}

#[derive(Clone, Copy, Debug)]
enum Surface {
    Chat,
    Messages,
    Gemini,
    Responses,
}

const SURFACES: [Surface; 4] = [
    Surface::Chat,
    Surface::Messages,
    Surface::Gemini,
    Surface::Responses,
];

/// A streaming request for `model` on `surface` with `key`.
fn stream_request(
    router: &RouterProcess,
    surface: Surface,
    model: &str,
    key: &str,
    max_tokens: u64,
) -> reqwest::RequestBuilder {
    let text = "Tell me a long story about a lighthouse keeper.";
    let c = client();
    match surface {
        Surface::Chat => c
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({
                "model": model, "stream": true, "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": text}]
            })),
        Surface::Messages => c
            .post(router.url("/v1/messages"))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({
                "model": model, "stream": true, "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": text}]
            })),
        Surface::Gemini => c
            .post(router.url(&format!(
                "/v1beta/models/{model}:streamGenerateContent?alt=sse"
            )))
            .header("x-goog-api-key", key)
            .json(&json!({
                "contents": [{"role": "user", "parts": [{"text": text}]}],
                "generationConfig": {"maxOutputTokens": max_tokens}
            })),
        Surface::Responses => c
            .post(router.url("/v1/responses"))
            .bearer_auth(key)
            .json(&json!({
                "model": model, "stream": true, "max_output_tokens": max_tokens, "input": text
            })),
    }
}

/// Sends the request, reads until the text of the fourth chunk (`"c3 "`, quoted: ids may
/// contain `c3`) has arrived, then hangs up. Returns the generation id.
async fn hang_up_midway(req: reqwest::RequestBuilder) -> String {
    let mut resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp
        .headers()
        .get("x-generation-id")
        .expect("an X-Generation-Id header")
        .to_str()
        .unwrap()
        .to_string();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("\"c3 \"") {
        assert!(Instant::now() < deadline, "no c3 within 10 s: {seen}");
        match tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("stream ended before c3 ({other:?}): {seen}"),
        }
    }
    drop(resp);
    id
}

/// The generation object once its row is written (the ledger writes in batches).
async fn generation(router: &RouterProcess, key: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = client()
            .get(router.url(&format!("/api/v1/generation?id={id}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            return resp.json::<Value>().await.unwrap()["data"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no row for {id}: {}",
            resp.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_client_that_hangs_up_is_charged_an_estimate_on_every_surface_and_kind() {
    let s = setup().await;
    let key = s.router.app_key.clone();
    for surface in SURFACES {
        for kind in ["po", "pa", "pg"] {
            // 400 slow chunks and no usage until the end, which never comes.
            s.mock(kind).push(Behavior::Chunks {
                n: 400,
                delay: Some(Duration::from_millis(30)),
            });
            let model = format!("{kind}/m");
            let id = hang_up_midway(stream_request(&s.router, surface, &model, &key, 1000)).await;
            let g = generation(&s.router, &key, &id).await;
            let case = format!("{surface:?} -> {kind}: {g}");
            assert_eq!(g["status"], 499, "{case}");
            assert_eq!(g["estimated"], true, "{case}");
            assert!(g["tokens_completion"].as_u64().unwrap() > 0, "{case}");
            assert!(g["tokens_prompt"].as_u64().unwrap() > 0, "{case}");
            assert!(g["total_cost"].as_f64().unwrap() > 0.0, "{case}");
            // Text streamed: "c0 " … "c3 " at least, 12 bytes: 3 tokens at 4 bytes a token.
            assert!(g["tokens_completion"].as_u64().unwrap() >= 3, "{case}");
        }
    }
}

#[tokio::test]
async fn a_stream_the_upstream_breaks_off_is_charged_for_what_was_streamed() {
    let s = setup().await;
    let key = s.router.app_key.clone();
    for (surface, kind) in [
        (Surface::Chat, "po"),
        (Surface::Messages, "pa"),
        (Surface::Gemini, "pg"),
        (Surface::Responses, "po"),
        (Surface::Chat, "pa"),
        (Surface::Messages, "pg"),
    ] {
        // Five text chunks, no usage, then the TCP connection is cut.
        s.mock(kind)
            .push(Behavior::MidStreamDrop { after_chunks: 5 });
        let model = format!("{kind}/m");
        let resp = stream_request(&s.router, surface, &model, &key, 1000)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["x-generation-id"]
            .to_str()
            .unwrap()
            .to_string();
        let body = resp.text().await.unwrap_or_default();
        let case = format!("{surface:?} -> {kind}");
        assert!(body.contains("c4 "), "{case}: the text went out: {body}");
        let g = generation(&s.router, &key, &id).await;
        let case = format!("{case}: {g}");
        assert_ne!(g["status"], 200, "{case}");
        assert_eq!(g["estimated"], true, "{case}");
        // "c0 " … "c4 ": 15 bytes, at least 3 tokens at 4 bytes a token.
        assert!(g["tokens_completion"].as_u64().unwrap() >= 3, "{case}");
        assert!(g["tokens_prompt"].as_u64().unwrap() > 0, "{case}");
        assert!(g["total_cost"].as_f64().unwrap() > 0.0, "{case}");
    }
    // An upstream that fails before any text is not charged an estimate.
    s.mock("po")
        .push(Behavior::MidStreamDrop { after_chunks: 0 });
    let resp = stream_request(&s.router, Surface::Chat, "po/m", &key, 1000)
        .send()
        .await
        .unwrap();
    let id = resp
        .headers()
        .get("x-generation-id")
        .map(|v| v.to_str().unwrap().to_string());
    let _ = resp.text().await;
    if let Some(id) = id {
        let g = generation(&s.router, &key, &id).await;
        assert_eq!(g["estimated"], false, "{g}");
        assert_eq!(g["total_cost"].as_f64().unwrap_or(0.0), 0.0, "{g}");
    }
}

#[tokio::test]
async fn a_completed_stream_with_usage_is_not_estimated() {
    let s = setup().await;
    let key = s.router.app_key.clone();
    for (surface, kind) in [
        (Surface::Chat, "po"),
        (Surface::Messages, "pa"),
        (Surface::Gemini, "pg"),
        (Surface::Responses, "po"),
        (Surface::Chat, "pa"),
    ] {
        s.mock(kind)
            .push(Behavior::text("The keeper lit the lamp every night."));
        let model = format!("{kind}/m");
        let resp = stream_request(&s.router, surface, &model, &key, 1000)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["x-generation-id"]
            .to_str()
            .unwrap()
            .to_string();
        let body = resp.text().await.unwrap();
        assert!(body.contains("lamp"), "{body}");
        let g = generation(&s.router, &key, &id).await;
        let case = format!("{surface:?} -> {kind}: {g}");
        assert_eq!(g["status"], 200, "{case}");
        assert_eq!(g["estimated"], false, "{case}");
        assert!(g["tokens_completion"].as_u64().unwrap() > 0, "{case}");
        assert!(g["total_cost"].as_f64().unwrap() > 0.0, "{case}");
    }
}

#[tokio::test]
async fn the_budget_reservation_settles_to_the_estimate() {
    let s = setup().await;
    // $1 budget: 1000 output tokens of po/budgeted.
    let created: Value = client()
        .post(s.router.url("/api/v1/keys"))
        .bearer_auth(&s.router.admin_key)
        .json(&json!({"name": "budgeted", "limit": 1.0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    s.mock("po").push(Behavior::Chunks {
        n: 400,
        delay: Some(Duration::from_millis(30)),
    });
    let id = hang_up_midway(stream_request(
        &s.router,
        Surface::Chat,
        "po/budgeted",
        &key,
        100,
    ))
    .await;
    let g = generation(&s.router, &key, &id).await;
    assert_eq!(g["estimated"], true, "{g}");
    let spent = g["tokens_completion"].as_u64().unwrap();
    assert!(spent >= 3, "{g}");
    let cost = g["total_cost"].as_f64().unwrap();
    assert!((cost - spent as f64 * 0.001).abs() < 1e-9, "{g}");

    // What is left is exactly (1000 - spent) tokens: one more does not fit, that many does.
    let chat = |max_tokens: u64| {
        client()
            .post(s.router.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "po/budgeted", "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let over = chat(1000 - spent + 1).await.unwrap();
    assert_eq!(over.status(), 402, "{}", over.text().await.unwrap());
    s.mock("po").push(Behavior::text("ok"));
    let fits = chat(1000 - spent).await.unwrap();
    assert_eq!(fits.status(), 200, "{}", fits.text().await.unwrap());
}

/// A key with a `limit` in USD, made through the API.
async fn budgeted_key(router: &RouterProcess, name: &str, limit: f64, proxy: bool) -> String {
    let created: Value = client()
        .post(router.url("/api/v1/keys"))
        .bearer_auth(&router.admin_key)
        .json(&json!({"name": name, "limit": limit, "proxy": proxy}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["key"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_budgeted_key_refuses_unpriced_remote_models() {
    let remote = MockUpstream::start(Vendor::OpenAi).await;
    let local = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "{}local = false\n{}",
        remote.provider_toml("rem", Some("REM_KEY")),
        local.provider_toml("loc", None)
    );
    let router =
        RouterProcess::start_with(&cfg, RouterOptions::default().env("REM_KEY", "k")).await;
    let key = budgeted_key(&router, "budgeted", 5.0, true).await;
    let chat = |key: &str, model: &str| {
        client()
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let resp = chat(&key, "rem/no-price-known").await.unwrap();
    assert_eq!(resp.status(), 402);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["metadata"]["error_type"], "unpriced_model",
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("[models.\"rem/no-price-known\"]"),
        "{message}"
    );
    // Through the provider proxy too, although the key may use it.
    let resp = client()
        .post(router.url("/rem/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "no-price-known", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 402, "{}", resp.text().await.unwrap());
    let posts = remote
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 0, "nothing went upstream");
    // A key without a budget may use it; a local model is free for the budgeted key.
    assert_eq!(
        chat(&router.app_key, "rem/no-price-known")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        chat(&key, "loc/no-price-known").await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn a_forwarded_batch_reserves_its_worst_case() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    let cfg = format!(
        "{}[models.\"anth/claude-x\"]\n{OUTPUT_ONLY}",
        mock.provider_toml("anth", None)
    );
    let router = RouterProcess::start(&cfg).await;
    // $1: 1000 output tokens; a batch bills at half price.
    let key = budgeted_key(&router, "budgeted", 1.0, false).await;
    let batch = |n: usize, max_tokens: u64| {
        let requests: Vec<Value> = (0..n)
            .map(|i| {
                json!({"custom_id": format!("r{i}"), "params": {"model": "anth/claude-x",
                    "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}})
            })
            .collect();
        client()
            .post(router.url("/v1/messages/batches"))
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"requests": requests}))
            .send()
    };
    let message = |max_tokens: u64| {
        client()
            .post(router.url("/v1/messages"))
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "anth/claude-x", "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    // Worst case of 5 × 500 tokens at half price: $1.25, over the $1 budget.
    let too_big = batch(5, 500).await.unwrap();
    assert_eq!(too_big.status(), 402, "{}", too_big.text().await.unwrap());
    assert_eq!(mock.call_count(), 0, "a refused batch does not go upstream");
    // 2 × 500 at half price: $0.50 held.
    let resp = batch(2, 500).await.unwrap();
    assert_eq!(resp.status(), 200);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    // $0.50 is held while the batch runs: a request whose worst case is over the rest fails.
    let over = message(501).await.unwrap();
    assert_eq!(over.status(), 402, "{}", over.text().await.unwrap());
    let fits = message(500).await.unwrap();
    assert_eq!(fits.status(), 200, "{}", fits.text().await.unwrap());
    let more = batch(1, 1000).await.unwrap();
    assert_eq!(more.status(), 402, "{}", more.text().await.unwrap());

    // Once its results are recorded, the hold settles to the real (small) cost.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ended = loop {
        let v: Value = client()
            .get(router.url(&format!("/v1/messages/batches/{id}")))
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["processing_status"] == "ended" {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let results = client()
        .get(ended["results_url"].as_str().unwrap())
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(results.status(), 200);
    let _ = results.text().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = message(900).await.unwrap();
        if resp.status() == 200 {
            break;
        }
        assert_eq!(resp.status(), 402);
        assert!(
            Instant::now() < deadline,
            "the batch hold was never released"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
