//! End to end: per-key rate limits and USD budgets under concurrency, and the provider proxy
//! (credential swap, streaming pass-through, ledger rows), through the real `arouter` binary.

mod common;

use arouter_tests::harness::RouterOptions;
use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const OA_KEY: &str = "sk-upstream-oa";
const AN_KEY: &str = "sk-upstream-an";
const GM_KEY: &str = "sk-upstream-gm";

struct Setup {
    oa: MockUpstream,
    an: MockUpstream,
    gm: MockUpstream,
    router: RouterProcess,
}

/// Three mock providers (`oa`, `an`, `gm`), each expecting its own credential, and priced
/// models (mocks are on loopback, which would otherwise be free).
async fn setup() -> Setup {
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    oa.expect_key(Some(OA_KEY));
    let an = MockUpstream::start(Vendor::Anthropic).await;
    an.expect_key(Some(AN_KEY));
    let gm = MockUpstream::start(Vendor::Gemini).await;
    gm.expect_key(Some(GM_KEY));
    let cfg = format!(
        "default_model = \"oa/m\"\n[server]\nkeepalive_secs = 1\n{}\n{}\n{}\n\
         [models.\"oa/m\"]\ninput_per_mtok = 5.0\noutput_per_mtok = 5.0\n\
         [models.\"oa/gpt-4o-mini\"]\ninput_per_mtok = 0.15\noutput_per_mtok = 0.6\n",
        oa.provider_toml("oa", Some("OA_TEST_KEY")),
        an.provider_toml("an", Some("AN_TEST_KEY")),
        gm.provider_toml("gm", Some("GM_TEST_KEY")),
    );
    let options = RouterOptions::default()
        .env("OA_TEST_KEY", OA_KEY)
        .env("AN_TEST_KEY", AN_KEY)
        .env("GM_TEST_KEY", GM_KEY);
    let router = RouterProcess::start_with(&cfg, options).await;
    Setup { oa, an, gm, router }
}

async fn new_key(router: &RouterProcess, args: &[&str]) -> String {
    let mut full = vec!["keys", "create"];
    full.extend_from_slice(args);
    let out = router.cli(&full).await;
    assert!(out.status.success(), "{:?}", out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .expect("a key")
        .to_string()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn chat(model: &str, max_tokens: u64) -> Value {
    json!({"model": model, "max_tokens": max_tokens,
           "messages": [{"role": "user", "content": "Say hello"}]})
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

/// The ledger row of a generation (retried briefly: rows are written asynchronously).
async fn generation(router: &RouterProcess, key: &str, id: &str) -> Value {
    for _ in 0..50 {
        let resp = client()
            .get(router.url(&format!("/api/v1/generation?id={id}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            let v: Value = resp.json().await.unwrap();
            // A stream's row is final once its status is no longer "client gone".
            if v["data"]["tokens_completion"].as_u64().unwrap_or(0) > 0 {
                return v["data"].clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("generation {id} never appeared with usage");
}

#[tokio::test]
async fn rpm_limit_holds_under_concurrency() {
    let s = setup().await;
    let key = new_key(&s.router, &["--name", "limited", "--rpm", "10"]).await;
    // The window slides: no waiting for a minute to start, and a boundary lets none extra by.
    let burst = (0..50).map(|_| {
        client()
            .post(s.router.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat("oa/gpt-4o-mini", 20))
            .send()
    });
    let responses: Vec<reqwest::Response> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.expect("request completes"))
        .collect();
    let mut remaining_ok = Vec::new();
    let mut resets = Vec::new();
    let mut limited = 0;
    for resp in &responses {
        assert_eq!(header(resp, "x-ratelimit-limit"), "10");
        let remaining: u32 = header(resp, "x-ratelimit-remaining").parse().unwrap();
        resets.push(header(resp, "x-ratelimit-reset"));
        match resp.status().as_u16() {
            200 => remaining_ok.push(remaining),
            429 => {
                limited += 1;
                assert_eq!(remaining, 0);
                let retry: u64 = header(resp, "retry-after").parse().unwrap();
                assert!((1..=60).contains(&retry), "retry-after {retry}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    remaining_ok.sort_unstable();
    assert_eq!(
        remaining_ok,
        (0..10).collect::<Vec<u32>>(),
        "exactly 10 allowed"
    );
    assert_eq!(limited, 40);
    assert_eq!(
        s.oa.call_count(),
        10,
        "refused requests never reach upstream"
    );
    // Each reset is when a slot frees: at most a minute after the oldest counted request.
    for reset in resets {
        let reset: u64 = reset.parse().unwrap();
        assert!(
            reset > now_ms() && reset <= now_ms() + 60_000,
            "reset {reset}"
        );
    }
    // The body is the OpenAI error shape with OpenRouter's code.
    let last = responses
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("a 429");
    let v: Value = last.json().await.unwrap();
    assert_eq!(v["error"]["code"], 429);
}

#[tokio::test]
async fn budget_is_never_overspent_and_answers_402_in_every_shape() {
    let s = setup().await;
    let key = new_key(&s.router, &["--name", "budgeted", "--budget", "0.001"]).await;
    // Worst case per request: (20 output + 3 prompt) tokens × $5/Mtok, about an eighth of the
    // budget; the real cost is lower, so several rounds fit but 50 at once do not.
    let burst = (0..50).map(|_| {
        client()
            .post(s.router.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat("oa/m", 20))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.expect("request completes").status().as_u16())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 402),
        "{statuses:?}"
    );
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(ok >= 1, "some requests fit the budget");
    assert!(
        statuses.contains(&402),
        "50 concurrent worst cases exceed the budget"
    );
    // Spend the rest one request at a time until the key is refused.
    let mut refused = None;
    let mut sequential_ok = 0;
    for _ in 0..100 {
        let resp = client()
            .post(s.router.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat("oa/m", 20))
            .send()
            .await
            .unwrap();
        if resp.status() == 402 {
            refused = Some(resp.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(resp.status(), 200);
        sequential_ok += 1;
    }
    let v = refused.expect("the budget ran out");
    assert_eq!(v["error"]["code"], 402);
    assert_eq!(
        v["error"]["metadata"]["limit_source"],
        "openrouter_key_limit"
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Key limit exceeded"));

    // Everything the ledger charged this key stays within its limit.
    let k: Value = client()
        .get(s.router.url("/api/v1/key"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spent = k["data"]["usage"].as_f64().unwrap();
    assert!(spent > 0.0 && spent <= 0.001 + 1e-12, "spent {spent}");
    assert_eq!(k["data"]["limit"], 0.001);

    // The Anthropic surface answers in Anthropic's error shape…
    let resp = client()
        .post(s.router.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&chat("oa/m", 20))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 402);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "billing_error");
    // …and the Gemini surface in Google's.
    let resp = client()
        .post(s.router.url("/v1beta/models/oa/m:generateContent"))
        .header("x-goog-api-key", &key)
        .json(
            &json!({"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
                      "generationConfig": {"maxOutputTokens": 20}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 402);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 402);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        s.oa.call_count(),
        ok + sequential_ok,
        "no refused request went upstream"
    );
}

#[tokio::test]
async fn proxy_swaps_the_openai_credential_and_records_usage() {
    let s = setup().await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    let resp = client()
        .post(s.router.url("/oa/chat/completions"))
        .bearer_auth(&s.router.app_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-ratelimit-limit"));
    let gen_id = header(&resp, "x-generation-id");
    let v: Value = resp.json().await.unwrap();
    // The upstream's own body, untouched.
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["model"], "gpt-4o-mini");
    let sent = s.oa.last_request().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-upstream-oa"));
    assert_eq!(sent.json.as_ref(), Some(&body), "body forwarded verbatim");

    let g = generation(&s.router, &s.router.app_key, &gen_id).await;
    assert_eq!(g["surface"], "proxy");
    assert_eq!(g["api_type"], "chat/completions");
    assert_eq!(g["provider_name"], "oa");
    assert_eq!(g["model"], "oa/gpt-4o-mini");
    assert_eq!(g["requested_model"], "gpt-4o-mini");
    assert_eq!(g["streamed"], false);
    assert_eq!(g["finish_reason"], "stop");
    let prompt = v["usage"]["prompt_tokens"].as_u64().unwrap();
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert_eq!(g["tokens_prompt"], prompt);
    assert_eq!(g["tokens_completion"], completion);
    let expected = (prompt as f64 * 0.15 + completion as f64 * 0.6) / 1e6;
    assert!((g["total_cost"].as_f64().unwrap() - expected).abs() < 1e-12);
}

#[tokio::test]
async fn proxy_swaps_anthropic_and_gemini_credentials() {
    let s = setup().await;
    // Anthropic: our key in x-api-key, no anthropic-version (the proxy adds the default).
    let resp = client()
        .post(s.router.url("/an/v1/messages"))
        .header("x-api-key", &s.router.app_key)
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 64,
                      "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    let sent = s.an.last_request().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(AN_KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);

    // Gemini: our key in `?key=`, which must not travel upstream.
    let resp = client()
        .post(s.router.url(&format!(
            "/gm/v1beta/models/gemini-2.5-flash:generateContent?key={}",
            s.router.app_key
        )))
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let gen_id = header(&resp, "x-generation-id");
    let sent = s.gm.last_request().unwrap();
    assert_eq!(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(sent.header("x-goog-api-key"), Some(GM_KEY));
    let g = generation(&s.router, &s.router.app_key, &gen_id).await;
    assert_eq!(g["api_type"], "v1beta/models:generateContent");
    assert_eq!(g["model"], "gm/gemini-2.5-flash");
}

#[tokio::test]
async fn proxy_streams_chunks_as_they_arrive() {
    let s = setup().await;
    s.oa.push(Behavior::Chunks {
        n: 50,
        delay: Some(Duration::from_millis(40)),
    });
    let started = Instant::now();
    let resp = client()
        .post(s.router.url("/oa/chat/completions"))
        .bearer_auth(&s.router.app_key)
        .json(&json!({"model": "gpt-4o-mini", "stream": true,
                      "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Count"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/event-stream"));
    let gen_id = header(&resp, "x-generation-id");
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let mut first_chunk_at = None;
    use futures_util::StreamExt;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("stream intact");
        text.push_str(&String::from_utf8_lossy(&chunk));
        if first_chunk_at.is_none() && text.contains("c0 ") {
            first_chunk_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let first = first_chunk_at.expect("saw the first content chunk");
    // 50 chunks 40 ms apart take about 2 s upstream; the first must not wait for the rest.
    assert!(total >= Duration::from_millis(1900), "total {total:?}");
    assert!(
        first + Duration::from_millis(1000) < total,
        "first chunk at {first:?} of {total:?}"
    );
    let events = {
        let mut d = arouter_core::sse::SseDecoder::new();
        let mut out = Vec::new();
        d.push(text.as_bytes(), &mut out);
        d.finish(&mut out);
        out
    };
    let chunks = common::data_json(&events);
    let content = common::openai_stream_text(&chunks);
    let expected: String = (0..50).map(|i| format!("c{i} ")).collect();
    assert_eq!(content, expected);
    assert_eq!(events.last().unwrap().data, "[DONE]", "relayed to the end");

    let g = generation(&s.router, &s.router.app_key, &gen_id).await;
    assert_eq!(g["streamed"], true);
    let usage = chunks
        .iter()
        .rev()
        .find(|c| c["usage"].is_object())
        .expect("the upstream sent usage");
    assert_eq!(g["tokens_completion"], usage["usage"]["completion_tokens"]);
    assert_eq!(g["tokens_prompt"], usage["usage"]["prompt_tokens"]);
}

#[tokio::test]
async fn proxy_refuses_unknown_providers_and_missing_keys() {
    let s = setup().await;
    let resp = client()
        .post(s.router.url("/nope/chat/completions"))
        .bearer_auth(&s.router.app_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 404);
    assert!(v["error"]["message"].as_str().unwrap().contains("nope"));

    let resp = client()
        .post(s.router.url("/oa/chat/completions"))
        .json(&json!({"model": "gpt-4o-mini", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 401);
    assert_eq!(s.oa.call_count(), 0, "nothing reached the upstream");

    // Reserved ids are never proxied, whatever follows them.
    for path in ["/v1/no/such/route", "/api/nothing/here", "/v1beta/x/y"] {
        let resp = client()
            .get(s.router.url(path))
            .bearer_auth(&s.router.app_key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
}
