//! The anthropic adapter against wire fixtures: request building, response and error parsing,
//! and stream decoding under every two-way split of the byte stream.

use arouter_core::config::{ProviderConfig, ProviderKind};
use arouter_core::dialects::anthropic::outbound as anthropic;
use arouter_core::error::{ApiError, ErrorKind};
use arouter_core::model::{
    BlockDelta, BlockStart, ChatRequest, Dialect, Effort, MediaSource, Message, Part, Reasoning,
    ResponseFormat, Role, Signed, StopReason, StreamEvent, Tool, ToolChoice, Usage,
};
use arouter_core::providers::{StreamDecoder, Target};
use arouter_core::sse::SseDecoder;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/anthropic")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

fn provider(headers: &[(&str, &str)]) -> ProviderConfig {
    ProviderConfig {
        id: "claude".into(),
        kind: ProviderKind::Anthropic,
        base_url: "https://api.anthropic.com".into(),
        api_key_env: None,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        models: Vec::new(),
        connect_timeout_secs: 10,
        first_byte_timeout_secs: 600,
        idle_timeout_secs: 300,
        local: None,
        drop_params: None,
    }
}

fn text(t: &str) -> Part {
    Part::text(t)
}

fn ephemeral() -> Option<Value> {
    Some(json!({"type": "ephemeral"}))
}

/// System + multi-turn + tools + tool results + images + documents + thinking replay + unknown
/// blocks, with reasoning on and a JSON schema answer.
fn conversation_request() -> ChatRequest {
    ChatRequest {
        model: "claude/claude-sonnet-4-5".into(),
        system: vec![
            Part::Text {
                text: "You are a weather assistant.".into(),
                cache_control: ephemeral(),
            },
            text("Answer briefly."),
        ],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![
                    text("What's the weather in Paris? Here is a map and the forecast."),
                    Part::Image {
                        source: MediaSource::Base64 {
                            media_type: "image/png".into(),
                            data: "iVBORw0KGgo=".into(),
                        },
                        detail: Some("high".into()),
                    },
                    Part::Image {
                        source: MediaSource::Url {
                            url: "https://example.com/map.jpg".into(),
                            media_type: None,
                        },
                        detail: None,
                    },
                    Part::File {
                        source: MediaSource::Base64 {
                            media_type: "application/pdf".into(),
                            data: "JVBERi0xLjQK".into(),
                        },
                        filename: Some("forecast.pdf".into()),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![text("Please be quick.")],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking {
                        text: "I should call both tools.".into(),
                        signature: Some(Signed::new(Dialect::Anthropic, "EqQBCgIYAhIM1gbcDa9G")),
                    },
                    Part::Thinking {
                        text: "unsigned reasoning from another vendor".into(),
                        signature: None,
                    },
                    text("Let me check."),
                    Part::ToolUse {
                        id: "toolu_01".into(),
                        name: "get_weather".into(),
                        arguments: "{\"city\":\"Paris\"}".into(),
                        signature: None,
                    },
                    Part::ToolUse {
                        id: "toolu_02".into(),
                        name: "get_time".into(),
                        arguments: String::new(),
                        signature: None,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    text("Also, hurry."),
                    Part::ToolResult {
                        tool_use_id: "toolu_01".into(),
                        name: Some("get_weather".into()),
                        content: vec![text("18°C, sunny")],
                        is_error: false,
                    },
                    Part::ToolResult {
                        tool_use_id: "toolu_02".into(),
                        name: Some("get_time".into()),
                        content: vec![
                            text("clock unavailable, screenshot attached"),
                            Part::Image {
                                source: MediaSource::Base64 {
                                    media_type: "image/jpeg".into(),
                                    data: "/9j/4AAQ".into(),
                                },
                                detail: None,
                            },
                        ],
                        is_error: true,
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::RedactedThinking {
                        data: Signed::new(Dialect::Anthropic, "EmwKAhgBEgy3va3pzix"),
                    },
                    text("It is 18°C and sunny in Paris."),
                    Part::Unknown {
                        dialect: Dialect::Gemini,
                        value: json!({"executableCode": {"code": "print(1)"}}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    text("And Tokyo?"),
                    Part::Unknown {
                        dialect: Dialect::Anthropic,
                        value: json!({
                            "type": "search_result",
                            "source": "https://example.com/tokyo",
                            "title": "Tokyo forecast",
                            "content": [{"type": "text", "text": "Tokyo: 22°C"}]
                        }),
                    },
                ],
            },
        ],
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Current weather for a city".into()),
                parameters: json!({
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"]
                }),
                strict: None,
                cache_control: ephemeral(),
            },
            Tool {
                name: "get_time".into(),
                description: None,
                parameters: Value::Null,
                strict: Some(true),
                cache_control: None,
            },
        ],
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(false),
        max_tokens: Some(2048),
        temperature: Some(0.2),
        top_p: Some(0.97),
        top_k: Some(40),
        stop: vec!["\n\nHuman:".into()],
        seed: Some(7),
        frequency_penalty: Some(0.5),
        presence_penalty: Some(0.1),
        logit_bias: Some(json!({"50256": -100})),
        logprobs: Some(true),
        top_logprobs: Some(3),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "weather".into(),
            schema: json!({
                "type": "object",
                "properties": {"summary": {"type": "string"}},
                "required": ["summary"],
                "additionalProperties": false
            }),
            strict: Some(true),
        }),
        reasoning: Some(Reasoning {
            effort: Some(Effort::High),
            ..Reasoning::default()
        }),
        n: Some(1),
        stream: true,
        user: Some("user-42".into()),
        extra: serde_json::from_value(json!({"service_tier": "auto"})).unwrap(),
        extra_dialect: Some(Dialect::Anthropic),
    }
}

/// A prefill (final assistant turn) with sampling that needs fixing and a JSON-object answer.
fn prefill_request() -> ChatRequest {
    ChatRequest {
        model: "claude/claude-haiku-4-5".into(),
        messages: vec![
            Message {
                role: Role::User,
                content: vec![text(
                    "Give me a haiku about rust as JSON with a \"lines\" key.",
                )],
            },
            Message {
                role: Role::Assistant,
                content: vec![text("{\"lines\": [\n  "), text(" \n")],
            },
        ],
        tool_choice: Some(ToolChoice::Required),
        temperature: Some(1.5),
        top_p: Some(0.9),
        top_k: Some(5),
        response_format: Some(ResponseFormat::JsonObject),
        reasoning: Some(Reasoning {
            enabled: Some(true),
            ..Reasoning::default()
        }),
        extra: serde_json::from_value(json!({"store": true})).unwrap(),
        extra_dialect: Some(Dialect::OpenAi),
        ..ChatRequest::default()
    }
}

fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn build_conversation_matches_fixture() {
    let provider = provider(&[]);
    let target = Target {
        provider: &provider,
        model: "claude-sonnet-4-5",
        api_key: Some("sk-ant-test"),
        default_max_tokens: 4096,
    };
    let req = anthropic::build(&conversation_request(), &target).unwrap();
    assert_eq!(req.url, "https://api.anthropic.com/v1/messages");
    assert_eq!(header(&req.headers, "x-api-key"), Some("sk-ant-test"));
    assert_eq!(
        header(&req.headers, "anthropic-version"),
        Some("2023-06-01")
    );
    assert_eq!(
        header(&req.headers, "content-type"),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, fixture_json("build_conversation.json"));
}

#[test]
fn build_prefill_matches_fixture() {
    let provider = provider(&[("Anthropic-Beta", "context-1m-2025-08-07")]);
    let target = Target {
        provider: &provider,
        model: "claude-haiku-4-5",
        api_key: None,
        default_max_tokens: 4096,
    };
    let req = anthropic::build(&prefill_request(), &target).unwrap();
    assert_eq!(header(&req.headers, "x-api-key"), None);
    // Configured provider headers are applied by upstream.rs for every adapter, not here.
    assert_eq!(header(&req.headers, "anthropic-beta"), None);
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, fixture_json("build_prefill.json"));
}

#[test]
fn parse_text_response() {
    let resp = anthropic::parse("claude", &fixture("response_text.json")).unwrap();
    assert_eq!(resp.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
    assert_eq!(resp.model, "claude-sonnet-4-5-20250929");
    assert_eq!(resp.content, vec![text("Hi! My name is Claude.")]);
    assert_eq!(resp.stop_reason, StopReason::Stop);
    assert_eq!(resp.native_stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(resp.stop_sequence, None);
    assert_eq!(
        resp.usage,
        Usage {
            input_tokens: 2095 + 1000 + 8000,
            output_tokens: 503,
            reasoning_tokens: 0,
            cache_read_tokens: 8000,
            cache_write_tokens: 1000,
        }
    );
}

#[test]
fn parse_tool_use_response() {
    let resp = anthropic::parse("claude", &fixture("response_tool_use.json")).unwrap();
    assert_eq!(resp.stop_reason, StopReason::ToolCalls);
    assert_eq!(resp.native_stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(resp.content.len(), 3);
    assert_eq!(
        resp.content[0],
        text("I'll check the current weather in San Francisco for you.")
    );
    assert_eq!(
        resp.content[1],
        Part::ToolUse {
            id: "toolu_01A09q90qw90lq917835lq9".into(),
            name: "get_weather".into(),
            arguments: r#"{"location":"San Francisco, CA","unit":"celsius"}"#.into(),
            signature: None,
        }
    );
    let Part::Unknown { dialect, value } = &resp.content[2] else {
        panic!("server_tool_use should be kept as an unknown block");
    };
    assert_eq!(*dialect, Dialect::Anthropic);
    assert_eq!(value["type"], "server_tool_use");
    assert_eq!(value["input"]["query"], "san francisco weather");
    assert_eq!(resp.usage.input_tokens, 384);
    assert_eq!(resp.usage.output_tokens, 92);
}

#[test]
fn parse_thinking_response() {
    let resp = anthropic::parse("claude", &fixture("response_thinking.json")).unwrap();
    assert_eq!(
        resp.content,
        vec![
            Part::Thinking {
                text: "Let me analyze this step by step...".into(),
                signature: Some(Signed::new(Dialect::Anthropic, "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL")),
            },
            Part::RedactedThinking {
                data: Signed::new(Dialect::Anthropic, "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj"),
            },
            text("Based on my analysis..."),
        ]
    );
    assert_eq!(resp.stop_reason, StopReason::Stop);
    assert_eq!(resp.native_stop_reason.as_deref(), Some("stop_sequence"));
    assert_eq!(resp.stop_sequence.as_deref(), Some("###"));
    // null cache counts read as zero
    assert_eq!(resp.usage.input_tokens, 36);
    assert_eq!(resp.usage.cache_read_tokens, 0);
}

#[test]
fn parse_max_tokens_response() {
    let resp = anthropic::parse("claude", &fixture("response_max_tokens.json")).unwrap();
    assert_eq!(resp.stop_reason, StopReason::Length);
    assert_eq!(resp.native_stop_reason.as_deref(), Some("max_tokens"));
    assert_eq!(resp.usage.total(), 22);
}

#[test]
fn parse_rejects_garbage() {
    for body in [
        &b"<html>502 Bad Gateway</html>"[..],
        br#"{"type":"message"}"#,
        br#"{"id":"m","model":"x","content":[{"type":"tool_use","name":"f"}],"usage":{}}"#,
    ] {
        let err = anthropic::parse("claude", body).unwrap_err();
        assert_eq!(err.status, 502, "{err}");
        assert_eq!(err.kind, ErrorKind::UpstreamError);
        assert!(
            err.message.starts_with("claude: invalid response body"),
            "{err}"
        );
    }
}

#[test]
fn parse_error_bodies() {
    let err = anthropic::parse_error("claude", 529, &fixture("error_overloaded.json"));
    assert_eq!(err.kind, ErrorKind::Overloaded);
    assert_eq!(err.status, 529);
    assert_eq!(err.message, "claude: Overloaded");
    assert!(err.is_retryable());

    let err = anthropic::parse_error("claude", 400, &fixture("error_invalid_request.json"));
    assert_eq!(err.kind, ErrorKind::ContextLength);
    assert_eq!(err.status, 400);
    assert!(err.message.contains("prompt is too long"), "{err}");

    let err = anthropic::parse_error("claude", 503, b"<html>upstream connect error</html>");
    assert_eq!(err.kind, ErrorKind::Overloaded);
    assert_eq!(err.status, 503);
    assert_eq!(err.message, "claude: HTTP 503 (non-JSON body)");
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// Decodes `bytes` pushed in chunks cut at `cuts`, the way the router drives a decoder: events
/// until the first error, then `finish`. Returns the hub events and the first error.
fn decode(bytes: &[u8], cuts: &[usize]) -> (Vec<StreamEvent>, Option<ApiError>) {
    let mut sse = SseDecoder::new();
    let mut decoder = anthropic::Decoder::new("claude");
    let mut sse_events = Vec::new();
    let mut out = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        sse.push(&bytes[last..cut], &mut sse_events);
        last = cut;
    }
    sse.finish(&mut sse_events);
    let mut error = None;
    for ev in &sse_events {
        if let Err(e) = decoder.event(ev, &mut out) {
            error = Some(e);
            break;
        }
    }
    let finished = decoder.finish(&mut out);
    (out, error.or(finished.err()))
}

/// Every two-way byte split, and a byte-by-byte feed, decode to the same events as the whole.
fn assert_split_invariant(name: &str) -> (Vec<StreamEvent>, Option<ApiError>) {
    let bytes = fixture(name);
    let whole = decode(&bytes, &[]);
    for cut in 0..=bytes.len() {
        assert_eq!(decode(&bytes, &[cut]), whole, "{name} split at {cut}");
    }
    let every_byte: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(decode(&bytes, &every_byte), whole, "{name} byte by byte");
    whole
}

fn tool_inputs(events: &[StreamEvent]) -> BTreeMap<usize, String> {
    let mut inputs = BTreeMap::new();
    for ev in events {
        match ev {
            StreamEvent::BlockStart {
                index,
                block: BlockStart::ToolUse { .. },
            } => {
                inputs.insert(*index, String::new());
            }
            StreamEvent::BlockDelta {
                index,
                delta: BlockDelta::ToolInput(s),
            } => inputs
                .get_mut(index)
                .expect("delta after start")
                .push_str(s),
            _ => {}
        }
    }
    inputs
}

#[test]
fn text_stream() {
    let (events, err) = assert_split_invariant("stream_text.sse");
    assert!(err.is_none(), "{err:?}");
    let start_usage = Usage {
        input_tokens: 25 + 100 + 1200,
        output_tokens: 1,
        reasoning_tokens: 0,
        cache_read_tokens: 1200,
        cache_write_tokens: 100,
    };
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: Some("msg_01XFDUDYJgAACzvnptvVoYEL".into()),
                model: Some("claude-sonnet-4-5-20250929".into()),
            },
            StreamEvent::Usage(start_usage),
            StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Text
            },
            StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("Hello".into())
            },
            StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text(" from Zürich 😀".into())
            },
            StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("!\nSecond line.".into())
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::Usage(Usage {
                output_tokens: 15,
                ..start_usage
            }),
            StreamEvent::Finish {
                reason: StopReason::Stop,
                native: Some("end_turn".into()),
                stop_sequence: None,
            },
        ]
    );
}

#[test]
fn tool_use_stream() {
    let (events, err) = assert_split_invariant("stream_tool_use.sse");
    assert!(err.is_none(), "{err:?}");
    let starts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::BlockStart { index, block } => Some((*index, block.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            (0, BlockStart::Text),
            (
                1,
                BlockStart::ToolUse {
                    id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                    name: "get_weather".into()
                }
            ),
            (
                2,
                BlockStart::ToolUse {
                    id: "toolu_01VkRcbM3mWGRkTxsD5XzqLp".into(),
                    name: "get_time".into()
                }
            ),
        ]
    );
    let inputs = tool_inputs(&events);
    let parsed: Vec<Value> = inputs
        .values()
        .map(|s| serde_json::from_str(s).expect("tool input deltas concatenate to JSON"))
        .collect();
    assert_eq!(
        parsed,
        vec![
            json!({"location": "San Francisco, CA", "unit": "fahrenheit"}),
            json!({"tz": "America/Los_Angeles"}),
        ]
    );
    let n = events.len();
    assert_eq!(
        events[n - 2],
        StreamEvent::Usage(Usage {
            input_tokens: 472,
            output_tokens: 89,
            ..Usage::default()
        })
    );
    assert_eq!(
        events[n - 1],
        StreamEvent::Finish {
            reason: StopReason::ToolCalls,
            native: Some("tool_use".into()),
            stop_sequence: None,
        }
    );
}

#[test]
fn thinking_stream() {
    let (events, err) = assert_split_invariant("stream_thinking.sse");
    assert!(err.is_none(), "{err:?}");
    let mut thinking = String::new();
    let mut signature = String::new();
    let mut answer = String::new();
    for ev in &events {
        match ev {
            StreamEvent::BlockDelta { index: 0, delta } => match delta {
                BlockDelta::Thinking(t) => thinking.push_str(t),
                BlockDelta::Signature(s) => signature.push_str(s),
                other => panic!("unexpected delta in thinking block: {other:?}"),
            },
            StreamEvent::BlockDelta {
                index: 2,
                delta: BlockDelta::Text(t),
            } => answer.push_str(t),
            StreamEvent::BlockDelta { index, delta } => {
                panic!("unexpected delta {delta:?} at {index}")
            }
            _ => {}
        }
    }
    assert!(thinking.starts_with("I need to find the GCD"));
    assert!(thinking.ends_with("147 = 7 × 21 + 0"));
    assert!(signature.starts_with("EqQBCgIYAhIM"));
    assert_eq!(
        answer,
        "The greatest common divisor of 1071 and 462 is **21**."
    );
    assert!(events.contains(&StreamEvent::BlockStart {
        index: 1,
        block: BlockStart::RedactedThinking {
            data: "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj".into()
        }
    }));
    let stops: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::BlockStop { index } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(stops, vec![0, 1, 2]);
}

#[test]
fn error_stream() {
    let (events, err) = assert_split_invariant("stream_error.sse");
    let err = err.expect("an error event fails the stream");
    assert_eq!(err.kind, ErrorKind::Overloaded);
    assert_eq!(err.status, 529);
    assert_eq!(err.message, "claude: Overloaded");
    // The text so far, then `finish` closes the block the error interrupted.
    assert_eq!(
        events[events.len() - 2..],
        [
            StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("Once upon a".into())
            },
            StreamEvent::BlockStop { index: 0 },
        ]
    );
}

#[test]
fn dropped_stream_closes_blocks_and_fails() {
    let bytes = fixture("stream_tool_use.sse");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let last_piece = text
        .find("renheit")
        .expect("fixture has the last input piece");
    // Dropped between two events, inside the second tool call's arguments.
    let cut = text[..last_piece].rfind("event:").unwrap();
    let (events, err) = decode(&bytes[..cut], &[]);
    let err = err.expect("a stream without message_stop is an error");
    assert_eq!(err.status, 502);
    assert_eq!(err.kind, ErrorKind::UpstreamError);
    assert_eq!(err.message, "claude: stream ended before message_stop");
    assert_eq!(events.last(), Some(&StreamEvent::BlockStop { index: 1 }));
    assert!(!events
        .iter()
        .any(|e| matches!(e, StreamEvent::Finish { .. })));

    // Dropped inside an event: the truncated JSON fails, the open block is still closed.
    let (events, err) = decode(&bytes[..last_piece], &[]);
    assert_eq!(err.expect("truncated event").status, 502);
    assert_eq!(events.last(), Some(&StreamEvent::BlockStop { index: 1 }));

    // Everything arrived except the final message_stop: still a dropped stream.
    let cut = text.find("event: message_stop").unwrap();
    let (events, err) = decode(&bytes[..cut], &[]);
    assert!(err.is_some());
    assert!(matches!(events.last(), Some(StreamEvent::Finish { .. })));
}
