//! End to end: the Anthropic Messages and Gemini surfaces through the real `arouter` binary,
//! against strict mocks of every provider kind. A Claude Code-shaped conversation is replayed
//! losslessly to an anthropic-kind upstream and translated for the others; streams are checked
//! event by event and at every byte split.

mod common;

use arouter_core::sse::{SseDecoder, SseEvent};
use arouter_tests::harness::RouterOptions;
use arouter_tests::{approx_tokens, Behavior, MockUpstream, RouterProcess, Vendor};
use common::{client, data_json, sse_events};
use serde_json::{json, Map, Value};

const BETA: &str = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,fine-grained-tool-streaming-2025-05-14";
const VERSION: &str = "2023-06-01";

/// One mock per kind behind one router; each mock demands its own upstream key.
struct Setup {
    an: MockUpstream,
    oa: MockUpstream,
    gm: MockUpstream,
    router: RouterProcess,
}

async fn setup() -> Setup {
    let an = MockUpstream::start(Vendor::Anthropic).await;
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let gm = MockUpstream::start(Vendor::Gemini).await;
    an.expect_key(Some("sk-ant-upstream"));
    oa.expect_key(Some("sk-oa-upstream"));
    gm.expect_key(Some("gm-upstream"));
    let cfg = format!(
        "[server]\nkeepalive_secs = 1\n{}{}models = [\"gpt-4o-mini\"]\n{}[aliases]\nfast = [\"oa/gpt-4o-mini\"]\n",
        an.provider_toml("an", Some("AN_KEY")),
        // Listed, so the id and its alias appear in the model listings.
        oa.provider_toml("oa", Some("OA_KEY")),
        gm.provider_toml("gm", Some("GM_KEY")),
    );
    let options = RouterOptions::default()
        .env("AN_KEY", "sk-ant-upstream")
        .env("OA_KEY", "sk-oa-upstream")
        .env("GM_KEY", "gm-upstream");
    let router = RouterProcess::start_with(&cfg, options).await;
    Setup { an, oa, gm, router }
}

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/claude_code_request.json"
    );
    let text = std::fs::read_to_string(path).expect("reading the Claude Code fixture");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

/// The fixture for `model`, streaming or not.
fn claude_code(model: &str, stream: bool) -> Value {
    let mut body = fixture();
    body["model"] = json!(model);
    body["stream"] = json!(stream);
    body
}

/// POSTs a Messages request the way Claude Code does (its SDK's beta path, x-api-key, version
/// and beta headers).
async fn messages(router: &RouterProcess, body: &Value) -> reqwest::Response {
    client()
        .post(router.url("/v1/messages?beta=true"))
        .header("x-api-key", &router.app_key)
        .header("anthropic-version", VERSION)
        .header("anthropic-beta", BETA)
        .header("x-app", "cli")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `X-RateLimit-Limit` / `-Remaining` are integers, also for a key without a limit.
fn assert_integer_rate_headers(resp: &reqwest::Response) {
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        let v = resp.headers()[name].to_str().unwrap();
        assert!(v.parse::<u64>().is_ok(), "{name}: {v}");
    }
}

fn generation_id(resp: &reqwest::Response) -> String {
    resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string()
}

async fn generation(router: &RouterProcess, id: &str) -> Value {
    let v: Value = client()
        .get(router.url(&format!("/api/v1/generation?id={id}")))
        .bearer_auth(&router.app_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"].clone()
}

/// Checks an Anthropic event stream's grammar (event name = data `type`; message_start first;
/// blocks started in index order, deltas matching their block, each stopped once; then
/// message_delta and message_stop last) and rebuilds the final message as the SDKs do.
fn anthropic_message(events: &[SseEvent]) -> Value {
    let values = data_json(events);
    assert!(!values.is_empty(), "empty stream");
    for (ev, v) in events.iter().zip(&values) {
        assert_eq!(
            ev.event.as_deref(),
            v["type"].as_str(),
            "event name must be the data type: {v}"
        );
    }
    assert_eq!(values[0]["type"], "message_start", "{values:?}");
    let mut message = values[0]["message"].clone();
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"], json!([]));
    let mut content: Vec<Value> = Vec::new();
    let mut partial: Vec<String> = Vec::new();
    let mut open: Option<usize> = None;
    let mut delta_seen = false;
    let mut stopped = false;
    for v in &values[1..] {
        assert!(!stopped, "event after message_stop: {v}");
        match v["type"].as_str().unwrap() {
            "ping" => {}
            "content_block_start" => {
                assert!(open.is_none(), "block started inside another: {v}");
                assert!(!delta_seen, "block after message_delta: {v}");
                let index = v["index"].as_u64().unwrap() as usize;
                assert_eq!(index, content.len(), "blocks start in index order: {v}");
                content.push(v["content_block"].clone());
                partial.push(String::new());
                open = Some(index);
            }
            "content_block_delta" => {
                let index = v["index"].as_u64().unwrap() as usize;
                assert_eq!(open, Some(index), "delta for a block not open: {v}");
                let block = &mut content[index];
                let d = &v["delta"];
                match (block["type"].as_str().unwrap(), d["type"].as_str().unwrap()) {
                    ("text", "text_delta") => {
                        let t = format!(
                            "{}{}",
                            block["text"].as_str().unwrap(),
                            d["text"].as_str().unwrap()
                        );
                        block["text"] = json!(t);
                    }
                    ("thinking", "thinking_delta") => {
                        let t = format!(
                            "{}{}",
                            block["thinking"].as_str().unwrap(),
                            d["thinking"].as_str().unwrap()
                        );
                        block["thinking"] = json!(t);
                    }
                    ("thinking", "signature_delta") => block["signature"] = d["signature"].clone(),
                    ("tool_use", "input_json_delta") => {
                        partial[index].push_str(d["partial_json"].as_str().unwrap())
                    }
                    (b, dt) => panic!("{dt} for a {b} block: {v}"),
                }
            }
            "content_block_stop" => {
                let index = v["index"].as_u64().unwrap() as usize;
                assert_eq!(open, Some(index), "stop for a block not open: {v}");
                open = None;
                if content[index]["type"] == "tool_use" && !partial[index].is_empty() {
                    content[index]["input"] = serde_json::from_str(&partial[index])
                        .unwrap_or_else(|e| panic!("tool input {:?}: {e}", partial[index]));
                }
            }
            "message_delta" => {
                assert!(open.is_none(), "message_delta with a block open");
                assert!(!delta_seen, "message_delta twice");
                delta_seen = true;
                message["stop_reason"] = v["delta"]["stop_reason"].clone();
                message["stop_sequence"] = v["delta"]["stop_sequence"].clone();
                for (k, n) in v["usage"].as_object().unwrap() {
                    message["usage"][k] = n.clone();
                }
            }
            "message_stop" => {
                assert!(delta_seen, "message_stop before message_delta");
                stopped = true;
            }
            other => panic!("unexpected event {other}: {v}"),
        }
    }
    assert!(stopped, "no message_stop");
    message["content"] = Value::Array(content);
    message
}

/// Event names in order, consecutive deltas collapsed.
fn grammar(events: &[SseEvent]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let name = e.event.clone().unwrap_or_default();
        if name == "content_block_delta" && out.last().is_some_and(|l| *l == name) {
            continue;
        }
        out.push(name);
    }
    out
}

/// The POST requests a mock received whose path contains `path_part`, oldest first.
fn posts(mock: &MockUpstream, path_part: &str) -> Vec<arouter_tests::RecordedRequest> {
    mock.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains(path_part))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Anthropic surface → anthropic kind: lossless relay
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn claude_code_relays_losslessly_to_anthropic_kind() {
    let s = setup().await;
    s.an.set_cache_usage(1000, 200);
    let sent = claude_code("an/claude-sonnet-4-5", false);
    let resp = messages(&s.router, &sent).await;
    assert_eq!(resp.status(), 200);
    assert_integer_rate_headers(&resp);
    let gen_id = generation_id(&resp);
    let v: Value = resp.json().await.unwrap();

    // The upstream got the client's body unchanged but for the model, and its headers.
    let upstream = s.an.last_request().unwrap();
    let mut expected = sent.clone();
    expected["model"] = json!("claude-sonnet-4-5");
    assert_eq!(upstream.json.as_ref().unwrap(), &expected);
    assert_eq!(upstream.header("anthropic-beta"), Some(BETA));
    assert_eq!(upstream.header("anthropic-version"), Some(VERSION));
    assert_eq!(upstream.header("x-api-key"), Some("sk-ant-upstream"));
    assert!(
        upstream.header("x-app").is_none(),
        "client-only headers stay"
    );

    // The upstream's message comes back as it was sent (every usage field), but for its id
    // (ours: `msg_…`, the X-Generation-Id, usable with the generation lookup) and the model
    // (the ARouter model that served it).
    assert!(gen_id.starts_with("msg_"), "{gen_id}");
    assert_eq!(v["id"], gen_id.as_str(), "{v}");
    assert_eq!(v["model"], "an/claude-sonnet-4-5");
    assert_eq!(v["content"][0]["text"], "Hello from Anthropic mock");
    assert_eq!(v["usage"]["cache_read_input_tokens"], 1000);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 200);
    assert_eq!(v["usage"]["service_tier"], "standard");
    let uncached = v["usage"]["input_tokens"].as_u64().unwrap();
    let output = v["usage"]["output_tokens"].as_u64().unwrap();

    // The ledger has the whole prompt (cached tokens included) and the cache split.
    let g = generation(&s.router, &gen_id).await;
    assert_eq!(g["tokens_prompt"], uncached + 1200);
    assert_eq!(g["tokens_completion"], output);
    assert_eq!(g["native_tokens_cached"], 1000);
    assert_eq!(g["native_tokens_cache_write"], 200);
    assert_eq!(g["provider_name"], "an");
    assert_eq!(g["surface"], "anthropic");
    assert_eq!(g["finish_reason"], "stop");
    assert_eq!(g["native_finish_reason"], "end_turn");
    assert_eq!(g["streamed"], false);
}

#[tokio::test]
async fn claude_code_stream_is_relayed_event_for_event() {
    let s = setup().await;
    let text = "Fixed: `add` now adds — tests pass ✓ 😀";
    s.an.push(Behavior::Thinking {
        thinking: "The linker is missing; the edit itself is right.".into(),
        signature: "c2lnLXN0cmVhbWVk".into(),
        text: text.into(),
    });
    let sent = claude_code("an/claude-sonnet-4-5", true);
    let resp = messages(&s.router, &sent).await;
    assert_eq!(resp.status(), 200);
    let gen_id = generation_id(&resp);
    let (events, raw) = sse_events(resp).await;
    let upstream = s.an.last_request().unwrap();
    assert_eq!(upstream.header("anthropic-beta"), Some(BETA));
    let mut expected = sent.clone();
    expected["model"] = json!("claude-sonnet-4-5");
    assert_eq!(upstream.json.as_ref().unwrap(), &expected);

    // The reference: the same request straight to the mock, with the same script.
    s.an.push(Behavior::Thinking {
        thinking: "The linker is missing; the edit itself is right.".into(),
        signature: "c2lnLXN0cmVhbWVk".into(),
        text: text.into(),
    });
    let direct = client()
        .post(format!("{}/v1/messages", s.an.url()))
        .header("x-api-key", "sk-ant-upstream")
        .header("anthropic-version", VERSION)
        .json(&expected)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    let (reference, _) = sse_events(direct).await;
    let normalize = |evs: &[SseEvent]| -> Vec<(Option<String>, Value)> {
        evs.iter()
            .map(|e| {
                let mut v: Value = serde_json::from_str(&e.data).unwrap();
                if v["type"] == "message_start" {
                    v["message"]["id"] = json!("msg");
                    v["message"]["model"] = json!("m");
                }
                (e.event.clone(), v)
            })
            .collect()
    };
    assert_eq!(normalize(&events), normalize(&reference), "{raw}");

    let start: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(start["message"]["id"], gen_id.as_str());
    assert_eq!(start["message"]["model"], "an/claude-sonnet-4-5");
    let message = anthropic_message(&events);
    assert_eq!(message["content"][0]["type"], "thinking");
    assert_eq!(message["content"][0]["signature"], "c2lnLXN0cmVhbWVk");
    assert_eq!(message["content"][1]["text"], text);
    assert_eq!(message["stop_reason"], "end_turn");

    let g = generation(&s.router, &gen_id).await;
    assert_eq!(g["streamed"], true);
    assert_eq!(g["tokens_completion"], message["usage"]["output_tokens"]);
    assert_eq!(g["tokens_prompt"], message["usage"]["input_tokens"]);
    assert_eq!(g["native_finish_reason"], "end_turn");
}

// ---------------------------------------------------------------------------------------------
// Anthropic surface → openai and gemini kinds: translation the strict mocks accept
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn claude_code_translates_for_openai_and_gemini_kinds() {
    let s = setup().await;
    for (model, mock, answer) in [
        ("oa/gpt-4o-mini", &s.oa, "Hello from OpenAI mock"),
        ("gm/gemini-2.5-flash", &s.gm, "Hello from Gemini mock"),
    ] {
        let resp = messages(&s.router, &claude_code(model, false)).await;
        let status = resp.status();
        let gen_id = generation_id(&resp);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{model}: {v}");
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["id"], gen_id.as_str());
        assert_eq!(v["model"], model);
        assert_eq!(v["content"], json!([{"type": "text", "text": answer}]));
        assert_eq!(v["stop_reason"], "end_turn");
        assert_eq!(v["stop_sequence"], Value::Null);
        assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
        assert_eq!(v["usage"]["output_tokens"], approx_tokens(answer));
        let g = generation(&s.router, &gen_id).await;
        assert_eq!(g["tokens_completion"], approx_tokens(answer));

        let resp = messages(&s.router, &claude_code(model, true)).await;
        assert_eq!(resp.status(), 200);
        let (events, raw) = sse_events(resp).await;
        let message = anthropic_message(&events);
        assert_eq!(message["content"][0]["text"], answer, "{raw}");
        assert_eq!(message["stop_reason"], "end_turn");
        assert!(
            message["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{raw}"
        );
        assert_eq!(
            grammar(&events),
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ],
            "{raw}"
        );
        assert_eq!(mock.pending(), 0);
    }

    // What each upstream received: every tool, every turn, each result paired with its call.
    let oa = posts(&s.oa, "/chat/completions");
    let body = oa.last().unwrap().json.clone().unwrap();
    eprintln!("DUMP-OA {}", serde_json::to_string_pretty(&body).unwrap());
    assert_eq!(body["tools"].as_array().unwrap().len(), 10);
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "tool",
            "user"
        ]
    );
    assert_eq!(
        body["messages"][4]["tool_calls"].as_array().unwrap().len(),
        2
    );
    let gm = posts(&s.gm, "enerateContent");
    let body = gm.last().unwrap().json.clone().unwrap();
    eprintln!(
        "DUMP-GM {} {}",
        gm.last().unwrap().path,
        serde_json::to_string_pretty(&body).unwrap()
    );
    let decls = body["tools"][0]["functionDeclarations"].as_array().unwrap();
    assert_eq!(decls.len(), 10);
    assert!(body["systemInstruction"]["parts"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Claude Code"));
}

#[tokio::test]
async fn translated_tool_calls_stream_as_input_json() {
    let s = setup().await;
    let args = json!({"command": "cargo test -- --nocapture", "description": "Run the tests ✓"});
    for (model, mock) in [
        ("oa/gpt-4o-mini", &s.oa),
        ("gm/gemini-2.5-flash", &s.gm),
        ("an/claude-sonnet-4-5", &s.an),
    ] {
        mock.push(Behavior::tool_call("Bash", &args));
        mock.push(Behavior::tool_call("Bash", &args));
        let v: Value = messages(&s.router, &claude_code(model, false))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["stop_reason"], "tool_use", "{model}: {v}");
        let block = v["content"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(block["type"], "tool_use");
        assert_eq!(block["name"], "Bash");
        assert_eq!(block["input"], args);
        assert!(!block["id"].as_str().unwrap().is_empty());

        let resp = messages(&s.router, &claude_code(model, true)).await;
        let (events, raw) = sse_events(resp).await;
        let message = anthropic_message(&events);
        assert_eq!(message["stop_reason"], "tool_use", "{model}: {raw}");
        let block = message["content"].as_array().unwrap().last().unwrap();
        assert_eq!(block["name"], "Bash");
        assert_eq!(block["input"], args, "{model}: {raw}");
    }
}

#[tokio::test]
async fn mid_stream_failures_end_in_an_error_event() {
    let s = setup().await;
    for (model, mock) in [
        ("an/claude-sonnet-4-5", &s.an),
        ("oa/gpt-4o-mini", &s.oa),
        ("gm/gemini-2.5-flash", &s.gm),
    ] {
        for behavior in [
            Behavior::MidStreamError { after_chunks: 2 },
            Behavior::MidStreamDrop { after_chunks: 2 },
        ] {
            mock.push(behavior.clone());
            let resp = messages(&s.router, &claude_code(model, true)).await;
            assert_eq!(resp.status(), 200, "{model} {behavior:?}");
            let (events, raw) = sse_events(resp).await;
            let last = events.last().unwrap();
            assert_eq!(
                last.event.as_deref(),
                Some("error"),
                "{model} {behavior:?}: {raw}"
            );
            let err: Value = serde_json::from_str(&last.data).unwrap();
            assert_eq!(err["type"], "error");
            assert!(err["error"]["message"].as_str().unwrap().len() > 3);
            // An Anthropic error type: the anthropic kind's own `overloaded_error` is kept; an
            // OpenAI server error is `api_error`; a dropped connection, unavailable.
            let kind = err["error"]["type"].as_str().unwrap();
            assert!(
                ["api_error", "overloaded_error"].contains(&kind),
                "{model}: {raw}"
            );
            if model.starts_with("an/") && matches!(behavior, Behavior::MidStreamError { .. }) {
                assert_eq!(kind, "overloaded_error");
            }
            assert!(
                !events
                    .iter()
                    .any(|e| e.event.as_deref() == Some("message_stop")),
                "{raw}"
            );
            assert_eq!(events[0].event.as_deref(), Some("message_start"), "{raw}");
            let text: String = data_json(&events)
                .iter()
                .filter_map(|v| v.pointer("/delta/text").and_then(Value::as_str))
                .collect();
            assert_eq!(text, "c0 c1 ", "{model}: {raw}");
        }
    }
}

#[tokio::test]
async fn anthropic_surface_errors_have_anthropic_shape() {
    let s = setup().await;
    let mut body = claude_code("oa/gpt-4o-mini", false);
    body.as_object_mut().unwrap().remove("max_tokens");
    let resp = messages(&s.router, &body).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));

    let resp = client()
        .post(s.router.url("/v1/messages"))
        .header("x-api-key", "sk-wrong")
        .header("anthropic-version", VERSION)
        .json(&claude_code("oa/gpt-4o-mini", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");

    // An upstream rejection keeps its status and comes back in Anthropic's shape.
    s.oa.push(Behavior::Error {
        status: 429,
        body: None,
        retry_after: Some(7),
    });
    let resp = messages(&s.router, &claude_code("oa/gpt-4o-mini", false)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn count_tokens_for_every_kind() {
    let s = setup().await;
    let mut body = fixture();
    for f in [
        "max_tokens",
        "stream",
        "temperature",
        "metadata",
        "context_management",
    ] {
        body.as_object_mut().unwrap().remove(f);
    }
    for model in [
        "an/claude-sonnet-4-5",
        "oa/gpt-4o-mini",
        "gm/gemini-2.5-flash",
    ] {
        body["model"] = json!(model);
        let resp = client()
            .post(s.router.url("/v1/messages/count_tokens?beta=true"))
            .header("x-api-key", &s.router.app_key)
            .header("anthropic-version", VERSION)
            .header("anthropic-beta", BETA)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{model}: {v}");
        assert!(v["input_tokens"].as_u64().unwrap() > 100, "{model}: {v}");
    }
    let upstream = posts(&s.an, "/v1/messages/count_tokens");
    let sent = upstream.last().unwrap();
    assert_eq!(sent.header("anthropic-beta"), Some(BETA));
    let mut expected = body.clone();
    expected["model"] = json!("claude-sonnet-4-5");
    assert_eq!(sent.json.as_ref().unwrap(), &expected);
}

// ---------------------------------------------------------------------------------------------
// Gemini surface
// ---------------------------------------------------------------------------------------------

fn gemini_body() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Say hello — ünïcödé 😀"}]}],
        "generationConfig": {"maxOutputTokens": 200, "temperature": 0.5}
    })
}

/// POSTs to a Gemini method path with the key in `?key=` (as curl users and some SDKs do).
async fn gemini_post(router: &RouterProcess, path: &str, body: &Value) -> reqwest::Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    client()
        .post(router.url(&format!("{path}{sep}key={}", router.app_key)))
        .json(body)
        .send()
        .await
        .unwrap()
}

fn gemini_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .flat_map(|c| {
            c.pointer("/candidates/0/content/parts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p["thought"] != true)
        .filter_map(|p| p["text"].as_str().map(str::to_string))
        .collect()
}

fn assert_google_error(v: &Value, code: u16, status: &str) {
    let err = v["error"].as_object().unwrap_or_else(|| panic!("{v}"));
    let keys: Vec<&str> = err.keys().map(String::as_str).collect();
    assert_eq!(keys, ["code", "message", "status"], "{v}");
    assert_eq!(err["code"], code, "{v}");
    assert_eq!(err["status"], status, "{v}");
    assert!(!err["message"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn gemini_generate_content_for_ids_encoded_ids_and_aliases() {
    let s = setup().await;
    for (path_model, reported, answer) in [
        ("oa/gpt-4o-mini", "oa/gpt-4o-mini", "Hello from OpenAI mock"),
        (
            "oa%2Fgpt-4o-mini",
            "oa/gpt-4o-mini",
            "Hello from OpenAI mock",
        ),
        ("fast", "oa/gpt-4o-mini", "Hello from OpenAI mock"),
        (
            "an/claude-sonnet-4-5",
            "an/claude-sonnet-4-5",
            "Hello from Anthropic mock",
        ),
        (
            "gm/gemini-2.5-flash",
            "gm/gemini-2.5-flash",
            "Hello from Gemini mock",
        ),
    ] {
        let path = format!("/v1beta/models/{path_model}:generateContent");
        let resp = gemini_post(&s.router, &path, &gemini_body()).await;
        let status = resp.status();
        assert_integer_rate_headers(&resp);
        let gen_id = generation_id(&resp);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {v}");
        assert_eq!(gemini_text(std::slice::from_ref(&v)), answer, "{path}");
        assert_eq!(v["candidates"][0]["finishReason"], "STOP");
        assert_eq!(v["candidates"][0]["content"]["role"], "model");
        let u = &v["usageMetadata"];
        let prompt = u["promptTokenCount"].as_u64().unwrap();
        let out = u["candidatesTokenCount"].as_u64().unwrap();
        assert!(prompt > 0, "{v}");
        assert_eq!(out, approx_tokens(answer));
        assert_eq!(u["totalTokenCount"], prompt + out);
        if !reported.starts_with("gm/") {
            assert_eq!(v["modelVersion"], reported);
            assert_eq!(v["responseId"], gen_id.as_str());
        }
        let g = generation(&s.router, &gen_id).await;
        assert_eq!(g["surface"], "gemini");
        assert_eq!(g["tokens_completion"], out);
        assert_eq!(g["model"], reported);
    }
    // The gemini kind is relayed: the upstream got the client's body as sent.
    let sent = s.gm.last_request().unwrap();
    assert_eq!(sent.json.as_ref().unwrap(), &gemini_body());
    assert_eq!(sent.header("x-goog-api-key"), Some("gm-upstream"));
    assert!(
        sent.path
            .ends_with("/models/gemini-2.5-flash:generateContent"),
        "{}",
        sent.path
    );
}

#[tokio::test]
async fn gemini_streams_as_sse_and_as_json_array() {
    let s = setup().await;
    for (model, mock) in [
        ("oa/gpt-4o-mini", &s.oa),
        ("an/claude-sonnet-4-5", &s.an),
        ("gm/gemini-2.5-flash", &s.gm),
    ] {
        let text = "héllo wörld 😀 from a stream";
        mock.push(Behavior::text(text));
        mock.push(Behavior::text(text));
        let path = format!("/v1beta/models/{model}:streamGenerateContent?alt=sse");
        let resp = gemini_post(&s.router, &path, &gemini_body()).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let (events, raw) = sse_events(resp).await;
        let chunks = data_json(&events);
        assert!(chunks.len() >= 2, "{raw}");
        assert_eq!(gemini_text(&chunks), text, "{model}: {raw}");
        let last = chunks.last().unwrap();
        assert_eq!(last["candidates"][0]["finishReason"], "STOP", "{raw}");
        assert!(
            last["usageMetadata"]["candidatesTokenCount"]
                .as_u64()
                .unwrap()
                > 0
        );
        for c in &chunks[..chunks.len() - 1] {
            assert!(c["candidates"][0].get("finishReason").is_none(), "{raw}");
        }

        let path = format!("/v1beta/models/{model}:streamGenerateContent");
        let resp = gemini_post(&s.router, &path, &gemini_body()).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body = resp.text().await.unwrap();
        let array: Vec<Value> = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{model}: not a JSON array ({e}): {body}"));
        assert_eq!(gemini_text(&array), text, "{model}: {body}");
        assert_eq!(
            array.last().unwrap()["candidates"][0]["finishReason"],
            "STOP"
        );
    }
}

/// A Gemini tool loop replayed to an anthropic-kind provider with thinking on. A client that
/// did not ask for thought summaries replays the call with only its signature: Anthropic needs
/// the thinking block itself before a tool loop's `tool_use`, so thinking is turned off for
/// that request rather than failing it; a client that kept the thoughts replays them whole with
/// the signature ARouter handed it (tagged as Anthropic's), which Anthropic gets back untagged.
/// A signature Gemini issued never reaches Anthropic.
#[tokio::test]
async fn gemini_tool_loop_with_thinking_replays_to_anthropic_kind() {
    let s = setup().await;
    let history = |with_thoughts: bool, signature: &str| {
        let mut model_parts = Vec::new();
        if with_thoughts {
            model_parts.push(json!({"text": "I should check the weather tool.", "thought": true}));
        }
        model_parts.push(json!({
            "functionCall": {"id": "toolu_01", "name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": signature
        }));
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
                {"role": "model", "parts": model_parts},
                {"role": "user", "parts": [{"functionResponse": {"id": "toolu_01", "name": "get_weather", "response": {"output": "18C"}}}]}
            ],
            "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}],
            "generationConfig": {"maxOutputTokens": 8000, "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": with_thoughts}}
        })
    };
    let path = "/v1beta/models/an/claude-sonnet-4-5:generateContent";
    let anthropic_signed = "arouter:anthropic:c2lnLXRvb2wtbG9vcA==";
    let resp = gemini_post(&s.router, path, &history(false, anthropic_signed)).await;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(gemini_text(&[v]), "Hello from Anthropic mock");
    let sent = s.an.last_json().unwrap();
    assert!(sent.get("thinking").is_none(), "{sent}");
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");

    let resp = gemini_post(&s.router, path, &history(true, anthropic_signed)).await;
    assert_eq!(resp.status(), 200);
    let sent = s.an.last_json().unwrap();
    assert_eq!(sent["thinking"]["type"], "enabled", "{sent}");
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "I should check the weather tool.", "signature": "c2lnLXRvb2wtbG9vcA=="})
    );
    assert_eq!(sent["messages"][1]["content"][1]["type"], "tool_use");

    // Gemini's own signature (untagged on the Gemini surface) is not Anthropic's to check:
    // the thinking block is left out, and with it thinking for this tool loop.
    let resp = gemini_post(&s.router, path, &history(true, "R2VtaW5pLXNpZw==")).await;
    assert_eq!(resp.status(), 200);
    let sent = s.an.last_json().unwrap();
    assert!(sent.get("thinking").is_none(), "{sent}");
    assert!(!sent.to_string().contains("R2VtaW5pLXNpZw=="), "{sent}");
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
}

#[tokio::test]
async fn gemini_errors_have_google_shape() {
    let s = setup().await;
    let resp = gemini_post(
        &s.router,
        "/v1beta/models/nosuch/model:generateContent",
        &gemini_body(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_google_error(&resp.json().await.unwrap(), 400, "INVALID_ARGUMENT");

    let resp = client()
        .post(
            s.router
                .url("/v1beta/models/oa/gpt-4o-mini:generateContent?key=wrong"),
        )
        .json(&gemini_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_google_error(&resp.json().await.unwrap(), 401, "UNAUTHENTICATED");

    let resp = gemini_post(
        &s.router,
        "/v1beta/models/oa/gpt-4o-mini:generateContent",
        &json!({"contents": []}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_google_error(&resp.json().await.unwrap(), 400, "INVALID_ARGUMENT");

    let resp = gemini_post(
        &s.router,
        "/v1beta/models/oa/gpt-4o-mini:embedContent",
        &gemini_body(),
    )
    .await;
    assert_eq!(resp.status(), 501);
    assert_google_error(&resp.json().await.unwrap(), 501, "UNIMPLEMENTED");

    // An upstream failure keeps its status, in Google's shape; mid-stream it is the last element.
    // (A lone candidate retries 429 twice with backoff, so the upstream refuses three times.)
    for _ in 0..3 {
        s.oa.push(Behavior::Error {
            status: 429,
            body: None,
            retry_after: None,
        });
    }
    let resp = gemini_post(
        &s.router,
        "/v1beta/models/oa/gpt-4o-mini:generateContent",
        &gemini_body(),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_google_error(&resp.json().await.unwrap(), 429, "RESOURCE_EXHAUSTED");

    s.gm.push(Behavior::MidStreamError { after_chunks: 1 });
    let resp = gemini_post(
        &s.router,
        "/v1beta/models/gm/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &gemini_body(),
    )
    .await;
    let (events, raw) = sse_events(resp).await;
    let last: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert_google_error(&last, 503, "UNAVAILABLE");
    assert_eq!(
        gemini_text(&data_json(&events[..events.len() - 1])),
        "c0 ",
        "{raw}"
    );

    s.oa.push(Behavior::MidStreamDrop { after_chunks: 1 });
    let resp = gemini_post(
        &s.router,
        "/v1beta/models/oa/gpt-4o-mini:streamGenerateContent",
        &gemini_body(),
    )
    .await;
    let body = resp.text().await.unwrap();
    let array: Vec<Value> = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("a failed JSON-array stream is still an array ({e}): {body}"));
    assert_eq!(gemini_text(&array[..array.len() - 1]), "c0 ", "{body}");
    assert!(array.last().unwrap()["error"]["code"].as_u64().unwrap() >= 500);
}

#[tokio::test]
async fn gemini_count_tokens_for_every_kind() {
    let s = setup().await;
    for model in [
        "gm/gemini-2.5-flash",
        "oa/gpt-4o-mini",
        "an/claude-sonnet-4-5",
    ] {
        for body in [
            json!({"contents": gemini_body()["contents"]}),
            json!({"generateContentRequest": {"model": format!("models/{model}"), "contents": gemini_body()["contents"], "systemInstruction": gemini_body()["systemInstruction"]}}),
        ] {
            let resp = gemini_post(
                &s.router,
                &format!("/v1beta/models/{model}:countTokens"),
                &body,
            )
            .await;
            let status = resp.status();
            let v: Value = resp.json().await.unwrap();
            assert_eq!(status, 200, "{model}: {v}");
            assert!(v["totalTokens"].as_u64().unwrap() > 0, "{model}: {v}");
            if model.starts_with("gm/") {
                // A gemini-kind count is Google's own answer, details included.
                assert!(v["promptTokensDetails"].is_array(), "{v}");
            }
        }
    }
    // The gemini kind got the upstream model name in the wrapped request.
    let sent = posts(&s.gm, ":countTokens")
        .last()
        .unwrap()
        .json
        .clone()
        .unwrap();
    assert_eq!(
        sent["generateContentRequest"]["model"],
        "models/gemini-2.5-flash"
    );
    // The anthropic kind got a count request without generation-only fields.
    let sent = posts(&s.an, "/v1/messages/count_tokens")
        .last()
        .unwrap()
        .json
        .clone()
        .unwrap();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert!(sent.get("max_tokens").is_none(), "{sent}");
    assert_eq!(sent["system"][0]["text"], "Be brief.");
}

#[tokio::test]
async fn gemini_model_listing_via_v1_and_v1beta() {
    let s = setup().await;
    for path in ["/v1beta/models", "/v1/models"] {
        let v: Value = client()
            .get(s.router.url(path))
            .header("x-goog-api-key", &s.router.app_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let models = v["models"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {v}"));
        let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
        assert!(
            names.contains(&"models/an/claude-sonnet-4-5"),
            "{path}: {names:?}"
        );
        assert!(names.contains(&"models/gm/gemini-2.5-flash"), "{path}");
        assert!(names.contains(&"models/fast"), "{path}");
        for m in models {
            assert!(m["supportedGenerationMethods"]
                .as_array()
                .unwrap()
                .contains(&json!("generateContent")));
        }
    }
    // Without x-goog-api-key, /v1/models stays OpenRouter's list.
    let v: Value = client()
        .get(s.router.url("/v1/models"))
        .bearer_auth(&s.router.app_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    let v: Value = client()
        .get(s.router.url("/v1beta/models/oa%2Fgpt-4o-mini"))
        .header("x-goog-api-key", &s.router.app_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["name"], "models/oa/gpt-4o-mini");
}

// ---------------------------------------------------------------------------------------------
// Every byte split of an emitted stream parses
// ---------------------------------------------------------------------------------------------

/// Decodes `raw` cut in two at every byte offset and checks each result equals the whole.
fn assert_parses_at_every_split(raw: &[u8]) -> Vec<SseEvent> {
    let mut whole = Vec::new();
    let mut d = SseDecoder::new();
    d.push(raw, &mut whole);
    d.finish(&mut whole);
    assert!(!whole.is_empty());
    for e in &whole {
        serde_json::from_str::<Value>(&e.data)
            .unwrap_or_else(|err| panic!("event data is not JSON ({err}): {}", e.data));
    }
    for cut in 0..=raw.len() {
        let mut out = Vec::new();
        let mut d = SseDecoder::new();
        d.push(&raw[..cut], &mut out);
        d.push(&raw[cut..], &mut out);
        d.finish(&mut out);
        assert_eq!(out, whole, "split at byte {cut}");
    }
    whole
}

#[tokio::test]
async fn emitted_streams_parse_at_every_byte_split() {
    let s = setup().await;
    let text = "ünïcödé ✓ — 😀 split me";
    s.oa.push(Behavior::text(text));
    let resp = messages(&s.router, &claude_code("oa/gpt-4o-mini", true)).await;
    let raw = resp.bytes().await.unwrap();
    let events = assert_parses_at_every_split(&raw);
    let message = anthropic_message(&events);
    assert_eq!(message["content"][0]["text"], text);

    s.an.push(Behavior::text(text));
    let path = "/v1beta/models/an/claude-sonnet-4-5:streamGenerateContent?alt=sse";
    let resp = gemini_post(&s.router, path, &gemini_body()).await;
    let raw = resp.bytes().await.unwrap();
    let events = assert_parses_at_every_split(&raw);
    assert_eq!(gemini_text(&data_json(&events)), text);
}

#[test]
fn fixture_is_claude_code_shaped() {
    let f = fixture();
    let obj: &Map<String, Value> = f.as_object().unwrap();
    assert_eq!(f["tools"].as_array().unwrap().len(), 10);
    assert!(f["system"][0]["cache_control"].is_object());
    assert!(obj.contains_key("context_management"));
    let thinking = f["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "thinking" && b["signature"].is_string())
        .count();
    assert_eq!(thinking, 2);
}

// ---------------------------------------------------------------------------------------------
// Parameters a provider does not accept are dropped, on every surface and path
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn parameters_a_provider_rejects_are_dropped_on_every_path() {
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    // The same upstream twice: as a lax server, and as a strict OpenAI-compatible gateway
    // (another host than api.openai.com) configured to drop what it rejects.
    let cfg = format!(
        "{}{}drop_params = [\"top_k\", \"min_p\", \"repetition_penalty\"]\n",
        oa.provider_toml("lax", None),
        oa.provider_toml("strict", None),
    );
    let router = RouterProcess::start_with(&cfg, RouterOptions::default()).await;
    let sent = |v: &MockUpstream| v.last_request().unwrap().json.unwrap();

    // The Gemini CLI's topK arrives as top_k on the translated path.
    let mut body = gemini_body();
    body["generationConfig"]["topK"] = json!(40);
    for (provider, kept) in [("lax", true), ("strict", false)] {
        let path = format!("/v1beta/models/{provider}/gpt-4o-mini:generateContent");
        let resp = gemini_post(&router, &path, &body).await;
        assert_eq!(resp.status(), 200, "{provider}");
        assert_eq!(
            sent(&oa).get("top_k").is_some(),
            kept,
            "{provider}: {}",
            sent(&oa)
        );
    }

    // An OpenAI SDK caller's extra_body on the same-dialect relay.
    for (provider, kept) in [("lax", true), ("strict", false)] {
        let resp = client()
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(&router.app_key)
            .json(
                &json!({"model": format!("{provider}/gpt-4o-mini"), "top_k": 5, "min_p": 0.1,
                "temperature": 0.2, "messages": [{"role": "user", "content": "Hi"}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{provider}");
        let up = sent(&oa);
        assert_eq!(up.get("top_k").is_some(), kept, "{provider}: {up}");
        assert_eq!(up.get("min_p").is_some(), kept, "{provider}: {up}");
        assert_eq!(up["temperature"], 0.2, "other parameters stay");
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy /v1/completions for every provider kind
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn legacy_completions_work_for_every_provider_kind() {
    let s = setup().await;
    for (model, answer) in [
        ("oa/gpt-4o-mini", None),
        ("an/claude-sonnet-4-5", Some("Hello from Anthropic mock")),
        ("gm/gemini-2.5-flash", Some("Hello from Gemini mock")),
    ] {
        let body = json!({"model": model, "prompt": "Say hello.", "max_tokens": 50});
        let resp = client()
            .post(s.router.url("/v1/completions"))
            .bearer_auth(&s.router.app_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let gen_id = resp
            .headers()
            .get("x-generation-id")
            .map(|h| h.to_str().unwrap().to_string());
        let v: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{model}: {v}");
        let gen_id = gen_id.unwrap();
        assert_eq!(v["choices"][0]["index"], 0, "{model}: {v}");
        assert!(v["choices"][0]["text"].is_string(), "{model}: {v}");
        assert!(
            v["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
            "{model}: {v}"
        );
        if let Some(answer) = answer {
            // Translated: the prompt went as a user message; the text comes back.
            assert_eq!(v["object"], "text_completion");
            assert_eq!(v["id"], gen_id.as_str());
            assert_eq!(v["model"], model);
            assert_eq!(v["choices"][0]["text"], answer);
            assert_eq!(v["choices"][0]["finish_reason"], "stop");
        }
        let g = generation(&s.router, &gen_id).await;
        assert_eq!(g["api_type"], "completions", "{model}");

        // Streamed.
        let mut body = body.clone();
        body["stream"] = json!(true);
        let resp = client()
            .post(s.router.url("/v1/completions"))
            .bearer_auth(&s.router.app_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{model}");
        let (events, raw) = sse_events(resp).await;
        assert_eq!(events.last().unwrap().data, "[DONE]", "{model}: {raw}");
        let chunks = data_json(&events);
        if let Some(answer) = answer {
            let text: String = chunks
                .iter()
                .filter_map(|c| c["choices"][0]["text"].as_str())
                .collect();
            assert_eq!(text, answer, "{model}: {raw}");
            assert!(
                chunks.iter().all(|c| c["object"] == "text_completion"),
                "{raw}"
            );
            assert!(
                chunks
                    .iter()
                    .all(|c| c["choices"][0].get("delta").is_none()),
                "{raw}"
            );
            let last = chunks.last().unwrap();
            assert!(
                last["usage"]["completion_tokens"].as_u64().unwrap() > 0,
                "{raw}"
            );
        }
    }
}
