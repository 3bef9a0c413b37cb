//! Tests of the mock upstreams themselves: wire shapes, strict validation, behaviors, recording.

use arouter_core::sse::{SseDecoder, SseEvent};
use arouter_tests::{approx_tokens, Behavior, MockUpstream, Vendor};
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ANTHROPIC_VERSION: (&str, &str) = ("anthropic-version", "2023-06-01");

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(url: String, headers: &[(&str, &str)], body: &Value) -> reqwest::Response {
    let mut req = client().post(url).json(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request reaches the mock")
}

async fn post_json(url: String, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let resp = post(url, headers, body).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, json)
}

/// Reads a body chunk by chunk; the error, if the transfer broke.
async fn raw_chunks(resp: reqwest::Response) -> (Vec<Bytes>, Option<reqwest::Error>) {
    let mut stream = resp.bytes_stream();
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => chunks.push(chunk),
            Err(e) => return (chunks, Some(e)),
        }
    }
    (chunks, None)
}

fn sse_events(chunks: &[Bytes]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.push(chunk, &mut events);
    }
    decoder.finish(&mut events);
    events
}

async fn stream_events(url: String, headers: &[(&str, &str)], body: &Value) -> Vec<SseEvent> {
    let resp = post(url, headers, body).await;
    assert_eq!(resp.status(), 200);
    let (chunks, err) = raw_chunks(resp).await;
    assert!(err.is_none(), "stream broke: {err:?}");
    sse_events(&chunks)
}

fn data_json(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| serde_json::from_str(&e.data).unwrap_or_else(|_| panic!("bad data {}", e.data)))
        .collect()
}

fn chat_body(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": text}
    ]})
}

fn anthropic_body(text: &str) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 2048, "system": "Be brief.",
           "messages": [{"role": "user", "content": text}]})
}

fn gemini_body(text: &str) -> Value {
    json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
           "contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn openai_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

// ---------------------------------------------------------------- OpenAI

#[tokio::test]
async fn openai_chat_non_streaming_answers_with_usage_from_request() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    let (status, body) = post_json(
        format!("{}/chat/completions", mock.url()),
        &[],
        &chat_body("Hi there"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Hello from OpenAI mock");
    assert_eq!(choice["finish_reason"], "stop");
    let prompt = approx_tokens("You are terse.Hi there");
    let completion = approx_tokens("Hello from OpenAI mock");
    assert_eq!(body["usage"]["prompt_tokens"], prompt);
    assert_eq!(body["usage"]["completion_tokens"], completion);
    assert_eq!(body["usage"]["total_tokens"], prompt + completion);
}

#[tokio::test]
async fn openai_stream_sends_usage_chunk_only_when_asked() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.script([
        Behavior::text("héllo 😀 wörld"),
        Behavior::text("héllo 😀 wörld"),
    ]);
    let mut body = chat_body("Hi");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let url = format!("{}/chat/completions", mock.url());
    let events = stream_events(url.clone(), &[], &body).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks = data_json(&events);
    let (usage_chunk, content_chunks) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"]["completion_tokens"],
        approx_tokens("héllo 😀 wörld")
    );
    for chunk in content_chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert!(chunk["usage"].is_null() && chunk.get("usage").is_some());
    }
    assert_eq!(
        content_chunks[0]["choices"][0]["delta"]["role"],
        "assistant"
    );
    assert_eq!(openai_text(content_chunks), "héllo 😀 wörld");
    assert!(
        content_chunks.len() >= 4,
        "one chunk per word plus role and finish"
    );
    assert_eq!(
        content_chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );

    body.as_object_mut().unwrap().remove("stream_options");
    let events = stream_events(url, &[], &body).await;
    let chunks = data_json(&events);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(chunks
        .iter()
        .all(|c| !c["choices"].as_array().unwrap().is_empty()));
}

#[tokio::test]
async fn openai_tool_call_streams_arguments_in_pieces() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    let args = json!({"location": "Paris", "unit": "celsius"});
    mock.script([
        Behavior::tool_call("get_weather", &args),
        Behavior::tool_call("get_weather", &args),
    ]);
    let url = format!("{}/chat/completions", mock.url());
    let (_, body) = post_json(url.clone(), &[], &chat_body("Weather?")).await;
    let message = &body["choices"][0]["message"];
    assert!(message["content"].is_null());
    assert_eq!(message["tool_calls"][0]["type"], "function");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "get_weather");
    let sent: Value = serde_json::from_str(
        message["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sent, args);
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");

    let mut stream_body = chat_body("Weather?");
    stream_body["stream"] = json!(true);
    let chunks = data_json(&stream_events(url, &[], &stream_body).await);
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert!(calls.len() >= 4, "name chunk plus argument pieces");
    let joined: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&joined).unwrap(), args);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn openai_thinking_uses_reasoning_fields() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    let thinking = Behavior::Thinking {
        thinking: "Let me think step by step".into(),
        signature: "sig-123".into(),
        text: "Answer: 4".into(),
    };
    mock.script([thinking.clone(), thinking]);
    let url = format!("{}/chat/completions", mock.url());
    let (_, body) = post_json(url.clone(), &[], &chat_body("2+2?")).await;
    let message = &body["choices"][0]["message"];
    assert_eq!(message["reasoning"], "Let me think step by step");
    assert_eq!(message["reasoning_details"][0]["signature"], "sig-123");
    assert_eq!(message["content"], "Answer: 4");
    let reasoning = approx_tokens("Let me think step by step");
    let usage = &body["usage"];
    assert_eq!(
        usage["completion_tokens_details"]["reasoning_tokens"],
        reasoning
    );
    assert_eq!(
        usage["completion_tokens"],
        reasoning + approx_tokens("Answer: 4")
    );

    let mut stream_body = chat_body("2+2?");
    stream_body["stream"] = json!(true);
    let chunks = data_json(&stream_events(url, &[], &stream_body).await);
    let reasoning_text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning"].as_str())
        .collect();
    assert_eq!(reasoning_text, "Let me think step by step");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["delta"]["reasoning_details"][0]["signature"] == "sig-123"));
    assert_eq!(openai_text(&chunks), "Answer: 4");
}

#[tokio::test]
async fn openai_rejects_what_the_real_api_rejects() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.push(Behavior::text("kept"));
    let url = format!("{}/chat/completions", mock.url());
    let mut openrouter = chat_body("hi");
    openrouter["models"] = json!(["a", "b"]);
    let mut stream_options = chat_body("hi");
    stream_options["stream_options"] = json!({"include_usage": true});
    let cases = [
        (openrouter, "Unrecognized request argument supplied: models"),
        (
            json!({"model": "gpt-4o-mini", "messages": []}),
            "Invalid 'messages': empty array",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "bot", "content": "x"}]}),
            "Invalid value: 'bot'",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}]}),
            "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_2", "content": "42"}]}),
            "'tool_call_id' of 'call_2' not found",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "user", "content": "y"}]}),
            "did not have response messages: call_1",
        ),
        (
            stream_options,
            "only allowed when 'stream' is enabled",
        ),
        (json!({"messages": [{"role": "user", "content": "x"}]}), "you must provide a model parameter"),
    ];
    for (body, expected) in cases {
        let (status, err) = post_json(url.clone(), &[], &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["type"], "invalid_request_error");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    assert_eq!(
        mock.pending(),
        1,
        "rejected requests do not consume the script"
    );

    let ok = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"}]});
    let (status, body) = post_json(url, &[], &ok).await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "kept");
}

#[tokio::test]
async fn openai_demands_its_bearer_key() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.expect_key(Some("sk-test-0123456789"));
    let url = format!("{}/chat/completions", mock.url());
    let (status, err) = post_json(url.clone(), &[], &chat_body("x")).await;
    assert_eq!(status, 401);
    assert!(err["error"]["code"].is_null());
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("You didn't provide an API key"));
    let (status, err) = post_json(
        url.clone(),
        &[("authorization", "Bearer sk-wrong-0123456789")],
        &chat_body("x"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "invalid_api_key");
    assert!(!err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sk-wrong-0123456789"));
    let (status, _) = post_json(
        url,
        &[("authorization", "Bearer sk-test-0123456789")],
        &chat_body("x"),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn openai_legacy_completions_whole_and_streamed() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.script([Behavior::text("one two"), Behavior::text("one two")]);
    let url = format!("{}/completions", mock.url());
    let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say it"});
    let (status, answer) = post_json(url.clone(), &[], &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["object"], "text_completion");
    assert_eq!(answer["choices"][0]["text"], "one two");
    assert_eq!(answer["usage"]["prompt_tokens"], approx_tokens("Say it"));

    let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say it", "stream": true,
                      "stream_options": {"include_usage": true}});
    let events = stream_events(url, &[], &body).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks = data_json(&events);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "one two");
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    assert_eq!(chunks.last().unwrap()["choices"], json!([]));
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"],
        approx_tokens("one two")
    );
}

#[tokio::test]
async fn openai_embeddings_in_float_and_base64() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    let url = format!("{}/embeddings", mock.url());
    let body =
        json!({"model": "text-embedding-3-small", "input": ["alpha", "beta"], "dimensions": 8});
    let (status, floats) = post_json(url.clone(), &[], &body).await;
    assert_eq!(status, 200);
    assert_eq!(floats["object"], "list");
    assert_eq!(floats["data"][1]["index"], 1);
    let vector: Vec<f32> = floats["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(vector.len(), 8);
    let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3);
    assert_eq!(
        floats["usage"]["prompt_tokens"],
        approx_tokens("alpha") + approx_tokens("beta")
    );

    let mut b64_body = body.clone();
    b64_body["encoding_format"] = json!("base64");
    let (_, b64) = post_json(url.clone(), &[], &b64_body).await;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    for (a, b) in decoded.iter().zip(&vector) {
        assert!((a - b).abs() < 1e-6);
    }

    let mut bad = body;
    bad["encoding_format"] = json!("int8");
    let (status, err) = post_json(url, &[], &bad).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["param"], "encoding_format");
}

#[tokio::test]
async fn model_listings_do_not_consume_the_script() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.push(Behavior::error(500));
    let list: Value = client()
        .get(format!("{}/models", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gpt-4o-mini" && m["object"] == "model"));
    assert_eq!(mock.pending(), 1);
    assert_eq!(
        mock.provider_toml("oa", Some("OA_KEY")),
        format!(
            "[providers.oa]\nkind = \"openai\"\nbase_url = \"http://{}/v1\"\napi_key_env = \"OA_KEY\"\n",
            mock.addr()
        )
    );
}

// ---------------------------------------------------------------- Anthropic

#[tokio::test]
async fn anthropic_message_with_cache_usage() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    mock.set_cache_usage(100, 50);
    let (status, body) = post_json(
        format!("{}/v1/messages", mock.url()),
        &[ANTHROPIC_VERSION],
        &anthropic_body("Hello"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["type"], "message");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["content"][0]["type"], "text");
    assert_eq!(body["content"][0]["text"], "Hello from Anthropic mock");
    assert_eq!(body["stop_reason"], "end_turn");
    assert!(body["stop_sequence"].is_null());
    let usage = &body["usage"];
    assert_eq!(usage["input_tokens"], approx_tokens("Be brief.Hello"));
    assert_eq!(usage["cache_read_input_tokens"], 100);
    assert_eq!(usage["cache_creation_input_tokens"], 50);
    assert_eq!(
        usage["output_tokens"],
        approx_tokens("Hello from Anthropic mock")
    );
}

#[tokio::test]
async fn anthropic_stream_with_thinking_follows_the_event_grammar() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    mock.push(Behavior::Thinking {
        thinking: "Considering the options carefully".into(),
        signature: "EqQBCgIYAhIM".into(),
        text: "Pick B.".into(),
    });
    let mut body = anthropic_body("Choose");
    body["stream"] = json!(true);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let events = stream_events(
        format!("{}/v1/messages", mock.url()),
        &[ANTHROPIC_VERSION],
        &body,
    )
    .await;
    let data = data_json(&events);
    for (event, json) in events.iter().zip(&data) {
        assert_eq!(event.event.as_deref(), json["type"].as_str());
    }
    let kinds: Vec<&str> = data.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "message_start");
    assert_eq!(kinds[1], "content_block_start");
    assert_eq!(kinds[2], "ping");
    assert_eq!(&kinds[kinds.len() - 2..], ["message_delta", "message_stop"]);
    assert_eq!(data[0]["message"]["content"], json!([]));
    assert_eq!(data[1]["content_block"]["type"], "thinking");
    let deltas = |kind: &str, field: &str| -> String {
        data.iter()
            .filter(|d| d["delta"]["type"] == kind)
            .filter_map(|d| d["delta"][field].as_str())
            .collect()
    };
    assert_eq!(
        deltas("thinking_delta", "thinking"),
        "Considering the options carefully"
    );
    assert_eq!(deltas("signature_delta", "signature"), "EqQBCgIYAhIM");
    assert_eq!(deltas("text_delta", "text"), "Pick B.");
    let text_start = data
        .iter()
        .find(|d| d["type"] == "content_block_start" && d["index"] == 1)
        .unwrap();
    assert_eq!(text_start["content_block"]["type"], "text");
    let message_delta = &data[data.len() - 2];
    assert_eq!(message_delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(
        message_delta["usage"]["output_tokens"],
        approx_tokens("Considering the options carefully") + approx_tokens("Pick B.")
    );
}

#[tokio::test]
async fn anthropic_tool_use_streams_input_json_in_pieces() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    let args = json!({"query": "rust sse", "limit": 5});
    mock.push(Behavior::tool_call("search", &args));
    let mut body = anthropic_body("Find it");
    body["stream"] = json!(true);
    let data = data_json(
        &stream_events(
            format!("{}/v1/messages", mock.url()),
            &[ANTHROPIC_VERSION],
            &body,
        )
        .await,
    );
    let start = data
        .iter()
        .find(|d| d["type"] == "content_block_start")
        .unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert!(start["content_block"]["id"]
        .as_str()
        .unwrap()
        .starts_with("toolu_"));
    let pieces: Vec<&str> = data
        .iter()
        .filter(|d| d["delta"]["type"] == "input_json_delta")
        .map(|d| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert!(pieces.iter().filter(|p| !p.is_empty()).count() >= 3);
    assert_eq!(
        serde_json::from_str::<Value>(&pieces.concat()).unwrap(),
        args
    );
    let message_delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn anthropic_rejects_what_the_real_api_rejects() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    let url = format!("{}/v1/messages", mock.url());
    let tool_use = json!({"role": "assistant", "content": [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]});
    let with = |messages: Value| json!({"model": "claude-sonnet-4-5", "max_tokens": 2048, "messages": messages});
    let cases = [
        (
            json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Field required",
        ),
        (
            with(json!([{"role": "system", "content": "s"}, {"role": "user", "content": "x"}])),
            "Unexpected role \"system\"",
        ),
        (
            with(json!([{"role": "assistant", "content": "x"}])),
            "first message must use the \"user\" role",
        ),
        (
            with(json!([{"role": "user", "content": "x"}, {"role": "user", "content": "y"}])),
            "roles must alternate",
        ),
        (
            with(json!([{"role": "user", "content": "x"}, tool_use.clone(),
                {"role": "user", "content": "no result"}])),
            "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
        ),
        (
            with(json!([{"role": "user", "content": "x"}, tool_use.clone(),
                {"role": "user", "content": [{"type": "text", "text": "first"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]}])),
            "messages.2: Did not find 1 `tool_result` block(s) at the beginning",
        ),
        (
            with(json!([{"role": "user", "content": "x"}, tool_use.clone(),
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "42"}]}])),
            "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9",
        ),
        (
            {
                let mut b = with(json!([{"role": "user", "content": "x"}]));
                b["thinking"] = json!({"type": "enabled", "budget_tokens": 512});
                b
            },
            "budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {
                let mut b = with(json!([{"role": "user", "content": "x"}]));
                b["thinking"] = json!({"type": "enabled", "budget_tokens": 4096});
                b
            },
            "`max_tokens` must be greater than `thinking.budget_tokens`",
        ),
        (
            with(
                json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": "Sure, "}]),
            ),
            "final assistant content cannot end with trailing whitespace",
        ),
        (
            {
                let mut b = with(json!([{"role": "user", "content": "x"}, tool_use.clone(),
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]}]));
                b["max_tokens"] = json!(8000);
                b["thinking"] = json!({"type": "enabled", "budget_tokens": 4096});
                b
            },
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`",
        ),
    ];
    for (body, expected) in cases {
        let (status, err) = post_json(url.clone(), &[ANTHROPIC_VERSION], &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["type"], "error");
        assert_eq!(err["error"]["type"], "invalid_request_error");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    let ok = with(json!([{"role": "user", "content": "x"}, tool_use,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"},
            {"type": "text", "text": "thanks"}]}]));
    let (status, _) = post_json(url, &[ANTHROPIC_VERSION], &ok).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn anthropic_requires_version_and_api_key_headers() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    let url = format!("{}/v1/messages", mock.url());
    let (status, err) = post_json(url.clone(), &[], &anthropic_body("x")).await;
    assert_eq!(status, 400);
    assert_eq!(
        err["error"]["message"],
        "anthropic-version: header is required"
    );
    mock.expect_key(Some("sk-ant-test"));
    let (status, err) = post_json(url.clone(), &[ANTHROPIC_VERSION], &anthropic_body("x")).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["type"], "authentication_error");
    let (status, err) = post_json(
        url.clone(),
        &[ANTHROPIC_VERSION, ("authorization", "Bearer sk-ant-test")],
        &anthropic_body("x"),
    )
    .await;
    assert_eq!(status, 401, "Bearer is not how Anthropic takes an API key");
    assert_eq!(err["error"]["message"], "x-api-key header is required");
    let (status, err) = post_json(
        url.clone(),
        &[ANTHROPIC_VERSION, ("x-api-key", "sk-ant-wrong")],
        &anthropic_body("x"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["message"], "invalid x-api-key");
    let (status, _) = post_json(
        url,
        &[ANTHROPIC_VERSION, ("x-api-key", "sk-ant-test")],
        &anthropic_body("x"),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn anthropic_count_tokens_and_mid_stream_overload() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    let mut count_body = anthropic_body("count these words");
    count_body.as_object_mut().unwrap().remove("max_tokens");
    let (status, counted) = post_json(
        format!("{}/v1/messages/count_tokens", mock.url()),
        &[ANTHROPIC_VERSION],
        &count_body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        counted,
        json!({"input_tokens": approx_tokens("Be brief.count these words")})
    );

    mock.script([
        Behavior::MidStreamError { after_chunks: 2 },
        Behavior::MidStreamError { after_chunks: 2 },
    ]);
    let mut body = anthropic_body("x");
    body["stream"] = json!(true);
    let url = format!("{}/v1/messages", mock.url());
    let events = stream_events(url.clone(), &[ANTHROPIC_VERSION], &body).await;
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    let error: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(error["error"]["type"], "overloaded_error");
    let texts = data_json(&events[..events.len() - 1])
        .iter()
        .filter(|d| d["delta"]["type"] == "text_delta")
        .count();
    assert_eq!(texts, 2);
    let (status, err) = post_json(url, &[ANTHROPIC_VERSION], &anthropic_body("x")).await;
    assert_eq!(status, 529);
    assert_eq!(err["error"]["type"], "overloaded_error");
}

// ---------------------------------------------------------------- Gemini

#[tokio::test]
async fn gemini_generate_content_whole() {
    let mock = MockUpstream::start(Vendor::Gemini).await;
    let (status, body) = post_json(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            mock.url()
        ),
        &[],
        &gemini_body("Hi"),
    )
    .await;
    assert_eq!(status, 200);
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"][0]["text"],
        "Hello from Gemini mock"
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(body["modelVersion"], "gemini-2.5-flash");
    assert!(body["responseId"].is_string());
    let usage = &body["usageMetadata"];
    let prompt = approx_tokens("Be brief.Hi");
    let output = approx_tokens("Hello from Gemini mock");
    assert_eq!(usage["promptTokenCount"], prompt);
    assert_eq!(usage["candidatesTokenCount"], output);
    assert_eq!(usage["totalTokenCount"], prompt + output);
    assert!(usage.get("thoughtsTokenCount").is_none());
}

#[tokio::test]
async fn gemini_sse_stream_with_thoughts_uses_crlf_frames() {
    let mock = MockUpstream::start(Vendor::Gemini).await;
    mock.set_cache_usage(10, 0);
    mock.push(Behavior::Thinking {
        thinking: "Weighing it up".into(),
        signature: "c2lnbmF0dXJl".into(),
        text: "Yes, définitely 😀".into(),
    });
    let resp = post(
        format!(
            "{}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
            mock.url()
        ),
        &[],
        &gemini_body("Should I?"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (chunks, err) = raw_chunks(resp).await;
    assert!(err.is_none());
    let raw: Vec<u8> = chunks.concat();
    assert!(raw.windows(4).any(|w| w == b"\r\n\r\n"));
    let data = data_json(&sse_events(&chunks));
    let parts: Vec<&Value> = data
        .iter()
        .map(|d| &d["candidates"][0]["content"]["parts"][0])
        .collect();
    let thoughts: String = parts
        .iter()
        .filter(|p| p["thought"] == true)
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(thoughts, "Weighing it up");
    let answer: Vec<&&Value> = parts
        .iter()
        .filter(|p| p.get("thought").is_none())
        .collect();
    assert_eq!(answer[0]["thoughtSignature"], "c2lnbmF0dXJl");
    let text: String = answer.iter().filter_map(|p| p["text"].as_str()).collect();
    assert_eq!(text, "Yes, définitely 😀");
    let last = data.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(data[..data.len() - 1]
        .iter()
        .all(|d| d["candidates"][0].get("finishReason").is_none()));
    let usage = &last["usageMetadata"];
    assert_eq!(usage["thoughtsTokenCount"], approx_tokens("Weighing it up"));
    assert_eq!(usage["cachedContentTokenCount"], 10);
    assert_eq!(
        usage["promptTokenCount"],
        approx_tokens("Be brief.Should I?") + 10
    );
}

#[tokio::test]
async fn gemini_function_call_and_json_array_stream() {
    let mock = MockUpstream::start(Vendor::Gemini).await;
    let args = json!({"city": "Oslo"});
    mock.script([Behavior::tool_call("weather", &args), Behavior::text("a b")]);
    let (_, body) = post_json(
        format!("{}/v1/models/gemini-2.5-flash:generateContent", mock.url()),
        &[],
        &gemini_body("Weather?"),
    )
    .await;
    let part = &body["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "weather");
    assert_eq!(part["functionCall"]["args"], args);
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");

    let (status, array) = post_json(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            mock.url()
        ),
        &[],
        &gemini_body("x"),
    )
    .await;
    assert_eq!(status, 200);
    let chunks = array.as_array().expect("without alt=sse: a JSON array");
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn gemini_rejects_what_the_real_api_rejects() {
    let mock = MockUpstream::start(Vendor::Gemini).await;
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        mock.url()
    );
    let with_tool = |parameters: Value| {
        let mut body = gemini_body("x");
        body["tools"] =
            json!([{"functionDeclarations": [{"name": "f", "parameters": parameters}]}]);
        body
    };
    let call = json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]});
    let response = json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": true}}}]});
    let cases = [
        (
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "Please use a valid role: user, model.".to_owned(),
        ),
        (
            with_tool(json!({"type": "object", "properties": {
                "a": {"type": "string"},
                "b": {"type": "object", "additionalProperties": false}}})),
            "Unknown name \"additionalProperties\" at 'tools[0].function_declarations[0].parameters.properties[1].value': Cannot find field.".to_owned(),
        ),
        (
            with_tool(json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"})),
            "Unknown name \"$schema\" at 'tools[0].function_declarations[0].parameters'".to_owned(),
        ),
        (
            with_tool(json!({"type": "object", "properties": {"k": {"const": "x"}}})),
            "Unknown name \"const\" at 'tools[0].function_declarations[0].parameters.properties[0].value'".to_owned(),
        ),
        (
            {
                let mut body = gemini_body("x");
                body["generationConfig"] = json!({"responseMimeType": "application/json",
                    "responseSchema": {"type": "array", "items": {"$ref": "#/defs/a"}}});
                body
            },
            "Unknown name \"$ref\" at 'generation_config.response_schema.items'".to_owned(),
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}, response.clone()]}),
            "function response turn comes immediately after a function call turn".to_owned(),
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}, call.clone(),
                {"role": "user", "parts": [response["parts"][0].clone(), response["parts"][0].clone()]}]}),
            "number of function response parts is equal to the number of function call parts".to_owned(),
        ),
        (json!({"contents": []}), "contents is not specified".to_owned()),
    ];
    for (body, expected) in cases {
        let (status, err) = post_json(url.clone(), &[], &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(err["error"]["code"], 400);
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&expected),
            "{message:?} lacks {expected:?}"
        );
    }
    let ok = json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}, call, response]});
    let (status, _) = post_json(url, &[], &ok).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn gemini_key_in_header_or_query() {
    let mock = MockUpstream::start(Vendor::Gemini).await;
    mock.expect_key(Some("AIza-test"));
    let base = format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        mock.url()
    );
    let (status, err) = post_json(base.clone(), &[], &gemini_body("x")).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["status"], "PERMISSION_DENIED");
    let (status, err) = post_json(format!("{base}?key=AIza-wrong"), &[], &gemini_body("x")).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["details"][0]["reason"], "API_KEY_INVALID");
    let (status, _) = post_json(format!("{base}?key=AIza-test"), &[], &gemini_body("x")).await;
    assert_eq!(status, 200);
    let (status, _) = post_json(base, &[("x-goog-api-key", "AIza-test")], &gemini_body("x")).await;
    assert_eq!(status, 200);
    let (status, counted) = post_json(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:countTokens?key=AIza-test",
            mock.url()
        ),
        &[],
        &json!({"contents": [{"parts": [{"text": "four words right here"}]}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        counted["totalTokens"],
        approx_tokens("four words right here")
    );
}

// ---------------------------------------------------------------- behaviors

#[tokio::test]
async fn error_behavior_renders_each_vendor_shape_with_retry_after() {
    for vendor in [Vendor::OpenAi, Vendor::Anthropic, Vendor::Gemini] {
        let mock = MockUpstream::start(vendor).await;
        mock.script([
            Behavior::Error {
                status: 429,
                body: None,
                retry_after: Some(7),
            },
            Behavior::Error {
                status: 502,
                body: Some("upstream connect error".into()),
                retry_after: None,
            },
        ]);
        let (url, body) = match vendor {
            Vendor::OpenAi => (format!("{}/chat/completions", mock.url()), chat_body("x")),
            Vendor::Anthropic => (format!("{}/v1/messages", mock.url()), anthropic_body("x")),
            Vendor::Gemini => (
                format!(
                    "{}/v1beta/models/gemini-2.5-flash:generateContent",
                    mock.url()
                ),
                gemini_body("x"),
            ),
        };
        let resp = post(url.clone(), &[ANTHROPIC_VERSION], &body).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        let err: Value = resp.json().await.unwrap();
        match vendor {
            Vendor::OpenAi => assert_eq!(err["error"]["code"], "rate_limit_exceeded"),
            Vendor::Anthropic => assert_eq!(err["error"]["type"], "rate_limit_error"),
            Vendor::Gemini => assert_eq!(err["error"]["status"], "RESOURCE_EXHAUSTED"),
        }
        let resp = post(url, &[ANTHROPIC_VERSION], &body).await;
        assert_eq!(resp.status(), 502);
        assert_eq!(resp.text().await.unwrap(), "upstream connect error");
    }
}

#[tokio::test]
async fn drop_connection_then_script_continues_fifo_then_default() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.script([
        Behavior::DropConnection,
        Behavior::text("first"),
        Behavior::text("second"),
    ]);
    let url = format!("{}/chat/completions", mock.url());
    let dropped = client().post(&url).json(&chat_body("x")).send().await;
    assert!(dropped.is_err(), "no response expected: {dropped:?}");
    for expected in ["first", "second", "Hello from OpenAI mock"] {
        let (_, body) = post_json(url.clone(), &[], &chat_body("x")).await;
        assert_eq!(body["choices"][0]["message"]["content"], expected);
    }
    assert_eq!(mock.call_count(), 4);
}

#[tokio::test]
async fn slow_first_byte_and_chunk_delays() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.script([
        Behavior::SlowFirstByte(Duration::from_millis(300), Box::new(Behavior::text("late"))),
        Behavior::Chunks {
            n: 5,
            delay: Some(Duration::from_millis(40)),
        },
    ]);
    let url = format!("{}/chat/completions", mock.url());
    let started = Instant::now();
    let (_, body) = post_json(url.clone(), &[], &chat_body("x")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(body["choices"][0]["message"]["content"], "late");

    let mut stream_body = chat_body("x");
    stream_body["stream"] = json!(true);
    let started = Instant::now();
    let chunks = data_json(&stream_events(url, &[], &stream_body).await);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(openai_text(&chunks), "c0 c1 c2 c3 c4 ");
}

#[tokio::test]
async fn mid_stream_drop_cuts_without_end_marker() {
    for vendor in [Vendor::OpenAi, Vendor::Anthropic, Vendor::Gemini] {
        let mock = MockUpstream::start(vendor).await;
        mock.script([
            Behavior::MidStreamDrop { after_chunks: 3 },
            Behavior::MidStreamDrop { after_chunks: 3 },
        ]);
        let (url, mut body) = match vendor {
            Vendor::OpenAi => (format!("{}/chat/completions", mock.url()), chat_body("x")),
            Vendor::Anthropic => (format!("{}/v1/messages", mock.url()), anthropic_body("x")),
            Vendor::Gemini => (
                format!(
                    "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                    mock.url()
                ),
                gemini_body("x"),
            ),
        };
        if vendor != Vendor::Gemini {
            body["stream"] = json!(true);
        }
        let resp = post(url.clone(), &[ANTHROPIC_VERSION], &body).await;
        assert_eq!(resp.status(), 200);
        let (chunks, err) = raw_chunks(resp).await;
        assert!(err.is_some(), "{vendor:?}: the transfer must break");
        let raw = String::from_utf8(chunks.concat()).unwrap();
        assert!(raw.contains("c2 ") && !raw.contains("c3 "), "{raw}");
        assert!(!raw.contains("[DONE]") && !raw.contains("message_stop"));
        assert!(!raw.contains("finishReason"));

        if vendor != Vendor::Gemini {
            body["stream"] = json!(false);
        }
        let url = url.replace("streamGenerateContent?alt=sse", "generateContent");
        let resp = post(url, &[ANTHROPIC_VERSION], &body).await;
        assert!(resp.bytes().await.is_err(), "{vendor:?}: half a body");
    }
}

#[tokio::test]
async fn invalid_json_behavior_sends_garbage() {
    let mock = MockUpstream::start(Vendor::OpenAi).await;
    mock.script([Behavior::InvalidJson, Behavior::InvalidJson]);
    let url = format!("{}/chat/completions", mock.url());
    let resp = post(url.clone(), &[], &chat_body("x")).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let mut body = chat_body("x");
    body["stream"] = json!(true);
    let events = stream_events(url, &[], &body).await;
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|e| serde_json::from_str::<Value>(&e.data).is_err()));
}

#[tokio::test]
async fn sse_frames_arrive_split_across_writes_even_inside_utf8() {
    let mock = MockUpstream::start(Vendor::Anthropic).await;
    mock.push(Behavior::text("héllo 😀 wörld ünïcödé ✓ done"));
    let mut body = anthropic_body("x");
    body["stream"] = json!(true);
    let resp = post(
        format!("{}/v1/messages", mock.url()),
        &[ANTHROPIC_VERSION],
        &body,
    )
    .await;
    let (chunks, err) = raw_chunks(resp).await;
    assert!(err.is_none());
    let raw = chunks.concat();
    let frames = raw.windows(2).filter(|w| w == b"\n\n").count();
    assert!(frames >= 10);
    assert!(
        chunks.len() > frames,
        "{} chunks for {frames} frames",
        chunks.len()
    );
    let torn_utf8 = chunks
        .iter()
        .filter(|c| std::str::from_utf8(c).is_err())
        .count();
    assert!(torn_utf8 > 0, "some write must end inside a UTF-8 sequence");
    let text: String = data_json(&sse_events(&chunks))
        .iter()
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "héllo 😀 wörld ünïcödé ✓ done");
}

#[tokio::test]
async fn requests_are_recorded_including_rejected_ones() {
    let mock = MockUpstream::start(Vendor::Gemini).await;
    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k1",
        mock.url()
    );
    let _ = post(url, &[("X-Custom-Header", "Value")], &gemini_body("hello")).await;
    let _ = post(
        format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            mock.url()
        ),
        &[],
        &json!({"contents": []}),
    )
    .await;
    assert_eq!(mock.call_count(), 2);
    let first = &mock.requests()[0];
    assert_eq!(first.method, "POST");
    assert_eq!(
        first.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k1"
    );
    assert_eq!(
        first.path_only(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(first.query("alt"), Some("sse"));
    assert_eq!(first.header("x-custom-header"), Some("Value"));
    assert!(first.headers.contains_key("x-custom-header"));
    assert_eq!(first.json.as_ref(), Some(&gemini_body("hello")));
    assert_eq!(
        serde_json::from_slice::<Value>(&first.body).unwrap(),
        gemini_body("hello")
    );
    assert_eq!(mock.last_json(), Some(json!({"contents": []})));
}
