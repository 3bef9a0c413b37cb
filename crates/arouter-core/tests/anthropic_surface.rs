//! The Anthropic Messages surface's pure parts: request → hub, hub → message object, hub stream
//! → Anthropic SSE events (decoded back with the SSE decoder), and the local token estimate.

use arouter_core::dialects::anthropic::errors::error_type;
use arouter_core::dialects::anthropic::inbound::{
    count_request_to_internal, from_internal, to_internal, EventEncoder,
};
use arouter_core::dialects::openai_chat::estimate::{estimate_openai_tokens, image_size, Encoding};
use arouter_core::error::ErrorKind;
use arouter_core::http::respond::sse_event;
use arouter_core::model::{
    BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, MediaSource, Message, Part,
    Reasoning, Role, Signed, StopReason, StreamEvent, Tool, ToolChoice, Usage,
};
use arouter_core::sse::SseDecoder;
use base64::Engine;
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/anthropic_surface/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cached_text(text: &str, cache_control: Value) -> Part {
    Part::Text {
        text: text.into(),
        cache_control: Some(cache_control),
    }
}

fn user(content: Vec<Part>) -> Message {
    Message {
        role: Role::User,
        content,
    }
}

fn assistant(content: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        content,
    }
}

#[test]
fn claude_code_request_becomes_the_expected_hub_request() {
    let body = fixture("claude_code_request.json");
    let hub = to_internal(&body).expect("valid request");

    let ephemeral = json!({"type": "ephemeral"});
    let expected_messages = vec![
        user(vec![
            Part::text("<system-reminder>Use the todo list.</system-reminder>"),
            Part::Image {
                source: MediaSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into(),
                },
                detail: None,
            },
            Part::Image {
                source: MediaSource::Url {
                    url: "https://example.com/diagram.png".into(),
                    media_type: None,
                },
                detail: None,
            },
            Part::File {
                source: MediaSource::Base64 {
                    media_type: "application/pdf".into(),
                    data: "JVBERi0xLjQ=".into(),
                },
                filename: Some("spec.pdf".into()),
            },
            Part::text("plain notes"),
            cached_text("Why does the build fail?", ephemeral.clone()),
        ]),
        assistant(vec![
            Part::Thinking {
                text: "Let me look at the build log.".into(),
                signature: Some(Signed::new(Dialect::Anthropic, "EqQBCkYIBxgCKkBsig")),
            },
            Part::RedactedThinking {
                data: Signed::new(Dialect::Anthropic, "EmwKAhgBEgy3va"),
            },
            Part::text("I'll run the build."),
            Part::ToolUse {
                id: "toolu_01A".into(),
                name: "Bash".into(),
                arguments: r#"{"command":"cargo build","timeout":60000}"#.into(),
                signature: None,
            },
        ]),
        user(vec![Part::ToolResult {
            tool_use_id: "toolu_01A".into(),
            name: None,
            content: vec![Part::text("error[E0425]: cannot find value `x`")],
            is_error: true,
        }]),
        assistant(vec![Part::ToolUse {
            id: "toolu_01B".into(),
            name: "Read".into(),
            arguments: r#"{"file_path":"src/main.rs"}"#.into(),
            signature: None,
        }]),
        user(vec![
            Part::ToolResult {
                tool_use_id: "toolu_01B".into(),
                name: None,
                content: vec![
                    Part::text("fn main() { println!(\"{}\", x); }"),
                    Part::Image {
                        source: MediaSource::Base64 {
                            media_type: "image/jpeg".into(),
                            data: "/9j/4AAQ".into(),
                        },
                        detail: None,
                    },
                ],
                is_error: false,
            },
            Part::Unknown {
                dialect: Dialect::Anthropic,
                value: body["messages"][4]["content"][1].clone(),
            },
            Part::text("Fix it."),
        ]),
        assistant(vec![Part::text("Sure")]),
    ];
    let tools = &body["tools"];
    let expected_tools = vec![
        Tool {
            name: "Bash".into(),
            description: Some("Executes a given bash command.".into()),
            parameters: tools[0]["input_schema"].clone(),
            strict: None,
            cache_control: None,
        },
        Tool {
            name: "Read".into(),
            description: Some("Reads a file from the local filesystem.".into()),
            parameters: tools[1]["input_schema"].clone(),
            strict: None,
            cache_control: None,
        },
        Tool {
            name: "Edit".into(),
            description: Some("Performs exact string replacements in files.".into()),
            parameters: tools[2]["input_schema"].clone(),
            strict: None,
            cache_control: Some(ephemeral.clone()),
        },
    ];
    let mut extra = serde_json::Map::new();
    extra.insert(
        "tools".into(),
        json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]),
    );
    extra.insert(
        "context_management".into(),
        json!({"edits": [{"type": "clear_tool_uses_20250919"}]}),
    );
    let expected = ChatRequest {
        model: "claude-sonnet-4-5-20250929".into(),
        system: vec![
            cached_text(
                "You are Claude Code, Anthropic's official CLI for Claude.",
                ephemeral.clone(),
            ),
            cached_text(
                "Working directory: /home/dev/project",
                json!({"type": "ephemeral", "ttl": "1h"}),
            ),
        ],
        messages: expected_messages,
        tools: expected_tools,
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(false),
        max_tokens: Some(32000),
        temperature: Some(1.0),
        top_k: Some(40),
        stop: vec!["</done>".into()],
        reasoning: Some(Reasoning {
            max_tokens: Some(10000),
            enabled: Some(true),
            ..Reasoning::default()
        }),
        stream: true,
        user: Some("user_abc123_account__session_42".into()),
        extra,
        extra_dialect: Some(Dialect::Anthropic),
        ..ChatRequest::default()
    };
    assert_eq!(hub.messages, expected.messages);
    assert_eq!(hub.tools, expected.tools);
    assert_eq!(hub.extra, expected.extra);
    assert_eq!(hub, expected);
}

#[test]
fn minimal_request_has_no_extras() {
    let hub = to_internal(&json!({
        "model": "m",
        "max_tokens": 10,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}],
        "tool_choice": {"type": "tool", "name": "lookup"},
        "thinking": {"type": "disabled"},
        "models": ["a/b"],
        "provider": {"order": ["x"]}
    }))
    .unwrap();
    assert_eq!(hub.system, vec![Part::text("Be brief.")]);
    assert_eq!(hub.messages, vec![user(vec![Part::text("hi")])]);
    assert_eq!(hub.tool_choice, Some(ToolChoice::Named("lookup".into())));
    assert_eq!(hub.parallel_tool_calls, None);
    assert_eq!(hub.reasoning.as_ref().and_then(|r| r.enabled), Some(false));
    assert!(hub.extra.is_empty(), "router fields never reach extra");
    assert_eq!(hub.extra_dialect, None);
    assert!(!hub.stream);
}

#[test]
fn tool_choice_any_and_none() {
    let base = |choice: Value| {
        to_internal(&json!({
            "max_tokens": 1,
            "messages": [{"role": "user", "content": "x"}],
            "tool_choice": choice,
        }))
        .unwrap()
        .tool_choice
    };
    assert_eq!(base(json!({"type": "any"})), Some(ToolChoice::Required));
    assert_eq!(base(json!({"type": "none"})), Some(ToolChoice::None));
    assert_eq!(base(json!({"type": "auto"})), Some(ToolChoice::Auto));
}

#[test]
fn validation_errors_name_the_field() {
    let cases = [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Field required",
        ),
        (json!({"max_tokens": 1}), "messages: Field required"),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]}),
            "messages.1.role:",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [{"text": "y"}]}]}),
            "messages.1.content.0.type: Field required",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            "messages.0.content.0: missing field `text`",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {"type": "base64"}}]}]}]}),
            "messages.0.content.0.content.0:",
        ),
        (json!({"max_tokens": "many", "messages": []}), "max_tokens:"),
        (
            json!({"max_tokens": 1, "messages": [], "system": [{"type": "image"}]}),
            "system.0.type:",
        ),
        (
            json!({"max_tokens": 1, "messages": [], "tools": [{"name": "t"}]}),
            "tools.0.input_schema: Field required",
        ),
        (
            json!({"max_tokens": 1, "messages": [], "tool_choice": {"type": "tool"}}),
            "tool_choice.name: Field required",
        ),
        (
            json!({"max_tokens": 1, "messages": [], "thinking": {"type": "enabled"}}),
            "thinking.budget_tokens: Field required",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "b", "input": [1]}]}]}),
            "messages.0.content.0.input: expected an object",
        ),
    ];
    for (body, prefix) in cases {
        let err = to_internal(&body).expect_err(prefix);
        assert_eq!(err.kind, ErrorKind::BadRequest, "{prefix}");
        assert_eq!(err.status, 400);
        assert_eq!(error_type(&err), "invalid_request_error");
        assert!(
            err.message.starts_with(prefix),
            "{:?} should start with {prefix:?}",
            err.message
        );
    }
}

#[test]
fn count_tokens_request_needs_no_max_tokens() {
    let hub = count_request_to_internal(&json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}]
    }))
    .unwrap();
    assert_eq!(hub.max_tokens, None);
    assert_eq!(hub.messages.len(), 1);
}

#[test]
fn hub_response_renders_as_anthropic_message() {
    let resp = ChatResponse {
        id: "upstream-id".into(),
        model: "gemini-2.5-pro".into(),
        content: vec![
            Part::Thinking {
                text: "The user wants weather.".into(),
                signature: Some(Signed::new(Dialect::Anthropic, "sig-1")),
            },
            Part::Thinking {
                text: "No signature here.".into(),
                signature: None,
            },
            Part::RedactedThinking {
                data: Signed::new(Dialect::Anthropic, "opaque-data"),
            },
            Part::text("Let me check."),
            Part::Unknown {
                dialect: Dialect::Anthropic,
                value: json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "paris weather"}}),
            },
            Part::Unknown {
                dialect: Dialect::OpenAi,
                value: json!({"type": "video_url"}),
            },
            Part::Image {
                source: MediaSource::Base64 {
                    media_type: "image/png".into(),
                    data: "AAAA".into(),
                },
                detail: None,
            },
            Part::ToolUse {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris","units":"c"}"#.into(),
                signature: None,
            },
            Part::ToolUse {
                id: "call_2".into(),
                name: "noop".into(),
                arguments: String::new(),
                signature: None,
            },
            Part::ToolUse {
                id: "call_3".into(),
                name: "broken".into(),
                arguments: r#"{"city": "Par"#.into(),
                signature: None,
            },
        ],
        stop_reason: StopReason::ToolCalls,
        native_stop_reason: Some("STOP".into()),
        stop_sequence: None,
        usage: Usage {
            input_tokens: 1200,
            output_tokens: 250,
            reasoning_tokens: 100,
            cache_read_tokens: 1000,
            cache_write_tokens: 100,
        },
    };
    let v = from_internal(&resp, "gen-1700000000-abc", "gem/gemini-2.5-pro");
    assert_eq!(v, fixture("hub_response_message.json"));
}

#[test]
fn stop_reasons_map_to_anthropic_vocabulary() {
    let render = |reason: StopReason, seq: Option<&str>| {
        let resp = ChatResponse {
            id: String::new(),
            model: String::new(),
            content: vec![Part::text("x")],
            stop_reason: reason,
            native_stop_reason: None,
            stop_sequence: seq.map(str::to_string),
            usage: Usage::default(),
        };
        let v = from_internal(&resp, "id", "m");
        (v["stop_reason"].clone(), v["stop_sequence"].clone())
    };
    assert_eq!(
        render(StopReason::Stop, None),
        (json!("end_turn"), Value::Null)
    );
    assert_eq!(
        render(StopReason::Stop, Some("END")),
        (json!("stop_sequence"), json!("END"))
    );
    assert_eq!(render(StopReason::Length, None).0, json!("max_tokens"));
    assert_eq!(render(StopReason::ToolCalls, None).0, json!("tool_use"));
    assert_eq!(render(StopReason::ContentFilter, None).0, json!("refusal"));
    assert_eq!(render(StopReason::Error, None).0, json!("end_turn"));
}

/// Encodes hub events, frames them as the surface does, and decodes the bytes back.
fn stream(events: &[StreamEvent]) -> Value {
    let mut enc = EventEncoder::new("gen-test", "oa/gpt-4o", Dialect::Anthropic);
    let mut values = Vec::new();
    for e in events {
        enc.encode(e, &mut values);
    }
    enc.finish(&mut values);
    let mut bytes = Vec::new();
    for v in &values {
        let name = v["type"].as_str().expect("every event has a type");
        bytes.extend_from_slice(&sse_event(name, v));
    }
    let mut decoder = SseDecoder::new();
    let mut decoded = Vec::new();
    decoder.push(&bytes, &mut decoded);
    decoder.finish(&mut decoded);
    let list: Vec<Value> = decoded
        .into_iter()
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).expect("data is JSON");
            assert_eq!(
                e.event.as_deref(),
                data["type"].as_str(),
                "event name = type"
            );
            json!({"event": e.event, "data": data})
        })
        .collect();
    Value::Array(list)
}

fn text(index: usize, t: &str) -> StreamEvent {
    StreamEvent::BlockDelta {
        index,
        delta: BlockDelta::Text(t.into()),
    }
}

fn usage(input: u64, output: u64, cache_read: u64, cache_write: u64) -> StreamEvent {
    StreamEvent::Usage(Usage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: 0,
        cache_read_tokens: cache_read,
        cache_write_tokens: cache_write,
    })
}

fn finish(reason: StopReason, stop_sequence: Option<&str>) -> StreamEvent {
    StreamEvent::Finish {
        reason,
        native: None,
        stop_sequence: stop_sequence.map(str::to_string),
    }
}

#[test]
fn text_stream_reports_early_usage_in_message_start() {
    let events = [
        StreamEvent::Start {
            id: Some("chatcmpl-1".into()),
            model: Some("gpt-4o".into()),
        },
        usage(12, 0, 0, 0),
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        text(0, "Hel"),
        text(0, ""),
        text(0, "lo"),
        StreamEvent::BlockStop { index: 0 },
        finish(StopReason::Stop, None),
        usage(12, 5, 0, 0),
    ];
    assert_eq!(stream(&events), fixture("stream_text.json"));
}

#[test]
fn tool_use_stream_sends_input_json_deltas() {
    let events = [
        StreamEvent::Start {
            id: None,
            model: None,
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        text(0, "Checking."),
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::ToolUse {
                id: "call_1".into(),
                name: "get_weather".into(),
            },
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::ToolInput("{\"city\":".into()),
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::ToolInput("\"Paris\"}".into()),
        },
        StreamEvent::BlockStop { index: 1 },
        usage(50, 20, 30, 0),
        finish(StopReason::ToolCalls, None),
    ];
    assert_eq!(stream(&events), fixture("stream_tool_use.json"));
}

#[test]
fn thinking_stream_without_start_sends_signature_and_closes_open_blocks() {
    let events = [
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Thinking,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Thinking("Let me think".into()),
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Signature("sig123".into()),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::RedactedThinking {
                data: "opaque".into(),
            },
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::BlockStart {
            index: 2,
            block: BlockStart::Text,
        },
        text(2, "42"),
        // A delta for a block that never started is dropped, not invented.
        text(7, "stray"),
        finish(StopReason::Length, None),
        usage(7, 64, 0, 0),
    ];
    assert_eq!(stream(&events), fixture("stream_thinking.json"));
}

#[test]
fn usage_arriving_only_at_the_end_lands_in_message_delta() {
    let events = [
        StreamEvent::Start {
            id: None,
            model: None,
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        text(0, "Hi"),
        StreamEvent::BlockStop { index: 0 },
        finish(StopReason::Stop, Some("</done>")),
        usage(9, 2, 0, 4),
    ];
    assert_eq!(stream(&events), fixture("stream_late_usage.json"));
}

#[test]
fn empty_stream_still_has_the_message_frame() {
    let list = stream(&[]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
}

// ---------------------------------------------------------------------------------------------
// Local token estimate
// ---------------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn png(w: u32, h: u32) -> String {
    let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0]);
    b64(&b)
}

#[test]
fn image_sizes_are_read_from_headers() {
    assert_eq!(image_size(&png(640, 480)), Some((640, 480)));
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&300u16.to_le_bytes());
    gif.extend_from_slice(&200u16.to_le_bytes());
    assert_eq!(image_size(&b64(&gif)), Some((300, 200)));
    // SOI, an APP0 segment to skip, then SOF0 with height 600 and width 800.
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
    jpeg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x02, 0x58, 0x03, 0x20, 0x03]);
    jpeg.extend_from_slice(&[0; 12]);
    assert_eq!(image_size(&b64(&jpeg)), Some((800, 600)));
    assert_eq!(image_size("not base64!"), None);
    assert_eq!(image_size(&b64(b"plain text")), None);
}

#[test]
fn encodings_follow_model_families() {
    for m in [
        "gpt-4o",
        "openai/gpt-4o-mini",
        "gpt-4.1-nano",
        "gpt-5",
        "o3-mini",
        "o1",
    ] {
        assert_eq!(Encoding::for_model(m), Encoding::O200kBase, "{m}");
    }
    for m in ["gpt-4", "gpt-3.5-turbo", "llama3.1:8b", "openrouter/o1x"] {
        assert_eq!(Encoding::for_model(m), Encoding::Cl100kBase, "{m}");
    }
}

fn chat(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        messages,
        ..ChatRequest::default()
    }
}

#[test]
fn openai_estimate_counts_text_with_cookbook_framing() {
    // "hello world" is 2 tokens and "user" 1 in both encodings: 3 per message + 3 priming.
    for model in ["gpt-4o", "gpt-4"] {
        let n = estimate_openai_tokens(&chat(vec![user(vec![Part::text("hello world")])]), model)
            .unwrap();
        assert_eq!(n, 3 + 1 + 2 + 3, "{model}");
    }
    let with_system = ChatRequest {
        system: vec![Part::text("hello world")],
        ..chat(vec![user(vec![Part::text("hello world")])])
    };
    // "system" is one more token; the system message costs 3 + 1 + 2.
    assert_eq!(
        estimate_openai_tokens(&with_system, "gpt-4o").unwrap(),
        9 + 6
    );
}

#[test]
fn openai_estimate_counts_images_tools_and_tool_turns() {
    let image = |w, h| Part::Image {
        source: MediaSource::Base64 {
            media_type: "image/png".into(),
            data: png(w, h),
        },
        detail: None,
    };
    let base = estimate_openai_tokens(&chat(vec![user(vec![])]), "gpt-4o").unwrap();
    // 1024×1024 → 768×768 → 4 tiles: 85 + 4×170.
    let one = estimate_openai_tokens(&chat(vec![user(vec![image(1024, 1024)])]), "gpt-4o").unwrap();
    assert_eq!(one - base, 765);
    // 4096×1024 → 2048×512, whose shortest side is already under 768: 4×1 tiles.
    let wide =
        estimate_openai_tokens(&chat(vec![user(vec![image(4096, 1024)])]), "gpt-4o").unwrap();
    assert_eq!(wide - base, 85 + 4 * 170);
    let low = Part::Image {
        source: MediaSource::Url {
            url: "https://example.com/x.png".into(),
            media_type: None,
        },
        detail: Some("low".into()),
    };
    assert_eq!(
        estimate_openai_tokens(&chat(vec![user(vec![low])]), "gpt-4o").unwrap() - base,
        85
    );

    let tool = Tool {
        name: "get_weather".into(),
        description: Some("Get the weather.".into()),
        parameters: json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["c", "f"]}
            }
        }),
        strict: None,
        cache_control: None,
    };
    let no_tools = chat(vec![user(vec![Part::text("hi")])]);
    let with_tools = ChatRequest {
        tools: vec![tool],
        ..no_tools.clone()
    };
    let a = estimate_openai_tokens(&no_tools, "gpt-4o").unwrap();
    let b = estimate_openai_tokens(&with_tools, "gpt-4o").unwrap();
    // func_init 7 + prop_init 3 + 2×prop_key 3 + enum (−3 + 2×3) + func_end 12, plus texts.
    assert!(b > a + 7 + 3 + 6 + 3 + 12, "{a} → {b}");

    let turn = chat(vec![
        assistant(vec![Part::ToolUse {
            id: "t1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
            signature: None,
        }]),
        user(vec![Part::ToolResult {
            tool_use_id: "t1".into(),
            name: None,
            content: vec![Part::text("sunny")],
            is_error: false,
        }]),
    ]);
    let n = estimate_openai_tokens(&turn, "gpt-4o").unwrap();
    // Two framed messages (assistant, tool) plus their texts: clearly more than framing alone.
    assert!(n > 3 + 2 * 4, "{n}");
}

#[test]
fn openai_estimate_refuses_documents() {
    let doc = Part::File {
        source: MediaSource::Base64 {
            media_type: "application/pdf".into(),
            data: "JVBERi0xLjQ=".into(),
        },
        filename: None,
    };
    let err = estimate_openai_tokens(&chat(vec![user(vec![doc])]), "gpt-4o").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotImplemented);
    assert_eq!(err.status, 501);
}
