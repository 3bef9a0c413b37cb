//! The gemini adapter against fixtures: request building, schema sanitising, response and error
//! parsing, and stream decoding under every byte split.

use arouter_core::config::{ProviderConfig, ProviderKind};
use arouter_core::dialects::gemini::outbound::{self as gemini, Decoder};
use arouter_core::error::ErrorKind;
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
        .join("tests/fixtures/gemini")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

fn provider() -> ProviderConfig {
    ProviderConfig {
        id: "gem".into(),
        kind: ProviderKind::Gemini,
        base_url: "https://generativelanguage.googleapis.com".into(),
        api_key_env: None,
        headers: BTreeMap::new(),
        models: Vec::new(),
        connect_timeout_secs: 10,
        first_byte_timeout_secs: 600,
        idle_timeout_secs: 300,
        local: None,
        drop_params: None,
    }
}

fn target<'a>(provider: &'a ProviderConfig, model: &'a str) -> Target<'a> {
    Target {
        provider,
        model,
        api_key: Some("AIza-test-key"),
        default_max_tokens: 4096,
    }
}

fn user(parts: Vec<Part>) -> Message {
    Message {
        role: Role::User,
        content: parts,
    }
}

fn assistant(parts: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        content: parts,
    }
}

fn tool_use(id: &str, name: &str, args: &str, signature: Option<&str>) -> Part {
    Part::ToolUse {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
        signature: signature.map(|s| Signed::new(Dialect::Gemini, s)),
    }
}

fn tool_result(id: &str, name: Option<&str>, text: &str, is_error: bool) -> Part {
    Part::ToolResult {
        tool_use_id: id.into(),
        name: name.map(str::to_string),
        content: vec![Part::text(text)],
        is_error,
    }
}

fn rich_request() -> ChatRequest {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "safetySettings".into(),
        json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]),
    );
    extra.insert(
        "generationConfig".into(),
        json!({"responseModalities": ["TEXT"], "temperature": 2.0}),
    );
    ChatRequest {
        model: "gemini-2.5-pro".into(),
        system: vec![
            Part::text("You are a weather bot."),
            Part::Text {
                text: "Answer briefly.".into(),
                cache_control: Some(json!({"type": "ephemeral"})),
            },
        ],
        messages: vec![
            user(vec![
                Part::text("What is on these pictures, and the weather in Paris and Tokyo?"),
                Part::Image {
                    source: MediaSource::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into(),
                    },
                    detail: Some("high".into()),
                },
                Part::Image {
                    source: MediaSource::Url {
                        url: "https://example.com/cat.webp?size=large".into(),
                        media_type: None,
                    },
                    detail: None,
                },
                Part::Image {
                    source: MediaSource::Url {
                        url: "https://example.com/photo".into(),
                        media_type: None,
                    },
                    detail: None,
                },
                Part::Image {
                    source: MediaSource::Url {
                        url: "data:image/gif;base64,R0lGOD==".into(),
                        media_type: None,
                    },
                    detail: None,
                },
                Part::Audio {
                    data: "UklGRg==".into(),
                    format: "wav".into(),
                },
                Part::File {
                    source: MediaSource::Url {
                        url: "https://generativelanguage.googleapis.com/v1beta/files/abc123".into(),
                        media_type: None,
                    },
                    filename: Some("report.pdf".into()),
                },
                Part::Unknown {
                    dialect: Dialect::OpenAi,
                    value: json!({"type": "input_audio_stream"}),
                },
            ]),
            assistant(vec![
                Part::Thinking {
                    text: "Two cities, two calls.".into(),
                    signature: Some(Signed::new(Dialect::Gemini, "sig-before-text")),
                },
                Part::RedactedThinking {
                    data: Signed::new(Dialect::Gemini, "opaque"),
                },
                Part::text("Checking."),
                tool_use(
                    "call_1",
                    "get_weather",
                    r#"{"city":"Paris"}"#,
                    Some("sig-call-1"),
                ),
                tool_use("call_2", "get_weather", r#"{"city":"Tokyo"}"#, None),
                Part::Unknown {
                    dialect: Dialect::Gemini,
                    value: json!({"executableCode": {"language": "PYTHON", "code": "print(1)"}}),
                },
            ]),
            user(vec![
                tool_result("call_1", None, r#"{"temp_c": 18, "sky": "cloudy"}"#, false),
                tool_result("call_2", Some("get_weather"), "service down", true),
            ]),
            user(vec![Part::text("Thanks. And tomorrow?")]),
            assistant(vec![Part::text("Tomorrow: sunny in both.")]),
            user(vec![Part::text("Great, summarise as JSON.")]),
        ],
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Current weather for a city".into()),
                parameters: json!({
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "city": {"type": "string", "description": "City name", "minLength": 1},
                        "units": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", null], "default": "celsius"},
                        "kind": {"const": "current"}
                    },
                    "required": ["city", "ghost"]
                }),
                strict: Some(true),
                cache_control: None,
            },
            Tool {
                name: "ping".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}, "additionalProperties": false}),
                strict: None,
                cache_control: None,
            },
        ],
        tool_choice: Some(ToolChoice::Named("get_weather".into())),
        parallel_tool_calls: Some(true),
        max_tokens: Some(1000),
        temperature: Some(0.7),
        top_p: Some(0.9),
        top_k: Some(40),
        stop: vec!["END".into()],
        seed: Some(42),
        frequency_penalty: Some(0.1),
        presence_penalty: Some(0.2),
        logit_bias: Some(json!({"123": 5})),
        logprobs: Some(true),
        top_logprobs: Some(3),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "summary".into(),
            schema: json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "paris": {"$ref": "#/$defs/forecast"},
                    "tokyo": {"$ref": "#/$defs/forecast"}
                },
                "required": ["paris", "tokyo"],
                "$defs": {
                    "forecast": {
                        "type": "object",
                        "title": "Forecast",
                        "properties": {"sky": {"type": "string"}, "temp_c": {"type": "number", "exclusiveMinimum": -100}},
                        "required": ["sky"],
                        "additionalProperties": false
                    }
                }
            }),
            strict: Some(true),
        }),
        reasoning: Some(Reasoning {
            effort: Some(Effort::High),
            max_tokens: None,
            exclude: false,
            enabled: None,
        }),
        n: Some(1),
        stream: true,
        user: Some("user-7".into()),
        extra,
        extra_dialect: Some(Dialect::Gemini),
    }
}

#[test]
fn rich_request_builds_the_expected_body() {
    let p = provider();
    let req = rich_request();
    let built = gemini::build(&req, &target(&p, "gemini-2.5-pro")).expect("builds");
    assert_eq!(
        built.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
    assert!(built
        .headers
        .contains(&("x-goog-api-key", "AIza-test-key".to_string())));
    assert!(built
        .headers
        .contains(&("content-type", "application/json".to_string())));
    let body: Value = serde_json::from_slice(&built.body).expect("body is JSON");
    let expected = fixture_json("request_rich.json");
    assert_eq!(
        body,
        expected,
        "got:\n{}",
        serde_json::to_string_pretty(&body).unwrap_or_default()
    );
}

#[test]
fn non_streaming_url_and_no_key() {
    let p = provider();
    let mut req = rich_request();
    req.stream = false;
    let mut t = target(&p, "models/gemini-2.5-flash");
    t.api_key = None;
    let built = gemini::build(&req, &t).expect("builds");
    assert_eq!(
        built.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert!(built.headers.iter().all(|(k, _)| *k != "x-goog-api-key"));
}

#[test]
fn gemini3_gets_thinking_level_and_placeholder_signatures() {
    let p = provider();
    let req = ChatRequest {
        messages: vec![
            user(vec![Part::text("old question")]),
            assistant(vec![tool_use("old", "lookup", "{}", None)]),
            user(vec![tool_result("old", None, "x", false)]),
            assistant(vec![Part::text("old answer")]),
            user(vec![Part::text("new question")]),
            assistant(vec![
                tool_use("a", "lookup", r#"{"q":1}"#, None),
                tool_use("b", "lookup", r#"{"q":2}"#, None),
            ]),
            user(vec![
                tool_result("a", None, "1", false),
                tool_result("b", None, "2", false),
            ]),
            assistant(vec![tool_use(
                "c",
                "lookup",
                r#"{"q":3}"#,
                Some("real-sig"),
            )]),
            user(vec![tool_result("c", None, "3", false)]),
        ],
        reasoning: Some(Reasoning {
            effort: Some(Effort::Low),
            ..Reasoning::default()
        }),
        ..ChatRequest::default()
    };
    let built = gemini::build(&req, &target(&p, "gemini-3-pro-preview")).expect("builds");
    let body: Value = serde_json::from_slice(&built.body).expect("JSON");
    assert_eq!(
        body["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "low", "includeThoughts": true})
    );
    let contents = body["contents"].as_array().expect("contents");
    // Earlier turns are not validated: left alone.
    assert!(contents[1]["parts"][0].get("thoughtSignature").is_none());
    // Current turn: the first call of each step is signed, parallel siblings are not.
    assert_eq!(
        contents[5]["parts"][0]["thoughtSignature"],
        "skip_thought_signature_validator"
    );
    assert!(contents[5]["parts"][1].get("thoughtSignature").is_none());
    assert_eq!(contents[7]["parts"][0]["thoughtSignature"], "real-sig");
    assert_eq!(contents[6]["parts"][1]["functionResponse"]["id"], "b");

    // The same history to a 2.5 model: no placeholders.
    let built = gemini::build(&req, &target(&p, "gemini-2.5-flash")).expect("builds");
    let body: Value = serde_json::from_slice(&built.body).expect("JSON");
    assert!(body["contents"][5]["parts"][0]
        .get("thoughtSignature")
        .is_none());
    assert_eq!(
        body["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 819, "includeThoughts": true})
    );
}

#[test]
fn bad_tool_history_is_a_400() {
    let p = provider();
    let t = target(&p, "gemini-2.5-flash");
    let unknown_id = ChatRequest {
        messages: vec![user(vec![tool_result("nope", None, "x", false)])],
        ..ChatRequest::default()
    };
    let err = gemini::build(&unknown_id, &t).expect_err("unknown id");
    assert_eq!(err.status, 400);
    assert!(err.message.contains("nope"), "{}", err.message);

    let bad_args = ChatRequest {
        messages: vec![
            user(vec![Part::text("hi")]),
            assistant(vec![tool_use("c1", "f", "{not json", None)]),
        ],
        ..ChatRequest::default()
    };
    let err = gemini::build(&bad_args, &t).expect_err("bad args");
    assert_eq!(err.kind, ErrorKind::BadRequest);

    let array_args = ChatRequest {
        messages: vec![
            user(vec![Part::text("hi")]),
            assistant(vec![tool_use("c1", "f", "[1,2]", None)]),
        ],
        ..ChatRequest::default()
    };
    assert_eq!(
        gemini::build(&array_args, &t).expect_err("array").status,
        400
    );

    let empty = ChatRequest::default();
    assert_eq!(gemini::build(&empty, &t).expect_err("empty").status, 400);
}

#[test]
fn count_tokens_wraps_the_generate_request() {
    let p = provider();
    let req = ChatRequest {
        system: vec![Part::text("sys")],
        messages: vec![user(vec![Part::text("count me")])],
        ..ChatRequest::default()
    };
    let built =
        gemini::count_tokens_request(&req, &target(&p, "gemini-2.5-flash")).expect("builds");
    assert_eq!(
        built.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens"
    );
    let body: Value = serde_json::from_slice(&built.body).expect("JSON");
    assert_eq!(
        body,
        json!({"generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "count me"}]}],
            "systemInstruction": {"parts": [{"text": "sys"}]}
        }})
    );
    assert_eq!(
        gemini::parse_count_tokens("gem", br#"{"totalTokens": 31, "promptTokensDetails": []}"#)
            .expect("parses"),
        31
    );
}

// ---------------------------------------------------------------------------------------------
// Schema sanitiser
// ---------------------------------------------------------------------------------------------

#[test]
fn sanitiser_handles_nesting_refs_const_and_nullables() {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:order",
        "title": "Order",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string", "format": "uuid", "examples": ["a"]},
            "kind": {"const": "order"},
            "count": {"type": "integer", "exclusiveMinimum": 0, "maximum": 10, "default": 1},
            "note": {"type": ["string", "null"], "maxLength": 200},
            "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "multi": {"type": ["string", "integer"], "description": "id or index"},
            "customer": {"$ref": "#/$defs/customer", "description": "who ordered"},
            "lines": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string", "pattern": "^[A-Z]+$"},
                        "qty": {"type": "number"},
                        "meta": {"type": "object", "patternProperties": {"^x-": {}}, "unevaluatedProperties": false}
                    },
                    "required": ["sku"]
                }
            },
            "tree": {"$ref": "#/definitions/node"},
            "mixed": {"allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}
            ]}
        },
        "required": ["id", "lines"],
        "$defs": {
            "customer": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "vip": {"type": "boolean", "const": true}},
                "required": ["name"]
            }
        },
        "definitions": {
            "node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/node"}}}
            }
        }
    });
    let expected = json!({
        "type": "OBJECT",
        "properties": {
            "id": {"type": "STRING"},
            "kind": {"type": "STRING", "enum": ["order"]},
            "count": {"type": "INTEGER", "minimum": 0, "maximum": 10},
            "note": {"type": "STRING", "maxLength": 200, "nullable": true},
            "when": {"type": "STRING", "format": "date-time", "nullable": true},
            "either": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]},
            "multi": {"description": "id or index", "anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
            "customer": {
                "type": "OBJECT",
                "description": "who ordered",
                "properties": {
                    "name": {"type": "STRING"},
                    "vip": {"type": "BOOLEAN", "enum": ["true"], "format": "enum"}
                },
                "required": ["name"]
            },
            "lines": {
                "type": "ARRAY",
                "minItems": 1,
                "items": {
                    "type": "OBJECT",
                    "properties": {
                        "sku": {"type": "STRING", "pattern": "^[A-Z]+$"},
                        "qty": {"type": "NUMBER"},
                        "meta": {"type": "OBJECT"}
                    },
                    "required": ["sku"]
                }
            },
            "tree": {
                "type": "OBJECT",
                "properties": {"children": {"type": "ARRAY", "items": {"type": "OBJECT"}}}
            },
            "mixed": {
                "type": "OBJECT",
                "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}},
                "required": ["a", "b"]
            }
        },
        "required": ["id", "lines"]
    });
    let got = gemini::sanitize_schema(&schema);
    assert_eq!(
        got,
        expected,
        "got:\n{}",
        serde_json::to_string_pretty(&got).unwrap_or_default()
    );
    assert_no_rejected_keywords(&got);
}

/// The keywords the strict upstream rejects never survive, at any depth.
fn assert_no_rejected_keywords(v: &Value) {
    match v {
        Value::Object(map) => {
            for key in [
                "$schema",
                "$id",
                "$ref",
                "$defs",
                "definitions",
                "additionalProperties",
                "const",
                "default",
                "examples",
                "patternProperties",
                "unevaluatedProperties",
                "exclusiveMinimum",
                "exclusiveMaximum",
                "title",
                "oneOf",
                "allOf",
            ] {
                assert!(!map.contains_key(key), "{key} survived in {v}");
            }
            map.values().for_each(assert_no_rejected_keywords);
        }
        Value::Array(items) => items.iter().for_each(assert_no_rejected_keywords),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Non-streaming responses and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn parses_a_text_response_with_cached_tokens() {
    let r = gemini::parse("gem", &fixture("response_text.json")).expect("parses");
    assert_eq!(r.id, "rsp-text-1");
    assert_eq!(r.model, "gemini-2.5-flash");
    assert_eq!(
        r.content,
        vec![Part::text("Hello! How can I help you today?")]
    );
    assert_eq!(r.stop_reason, StopReason::Stop);
    assert_eq!(r.native_stop_reason.as_deref(), Some("STOP"));
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 2100,
            output_tokens: 9,
            reasoning_tokens: 0,
            cache_read_tokens: 2048,
            cache_write_tokens: 0,
        }
    );
}

#[test]
fn parses_thoughts_signatures_and_function_calls() {
    let r = gemini::parse("gem", &fixture("response_tool_call.json")).expect("parses");
    assert_eq!(r.stop_reason, StopReason::ToolCalls);
    assert_eq!(r.content.len(), 4);
    assert_eq!(
        r.content[0],
        Part::Thinking {
            text: "I should look up the weather in both cities.".into(),
            signature: Some(Signed::new(Dialect::Gemini, "Cs8BAdHtim+textsig==")),
        }
    );
    assert_eq!(r.content[1], Part::text("Checking now."));
    let Part::ToolUse {
        id,
        name,
        arguments,
        signature,
    } = &r.content[2]
    else {
        panic!("expected a tool use, got {:?}", r.content[2]);
    };
    assert!(
        id.starts_with("call_") && id.len() == 29,
        "generated id {id}"
    );
    assert_eq!(name, "get_weather");
    assert_eq!(arguments, r#"{"city":"Paris"}"#);
    assert_eq!(
        signature.as_ref().map(|s| s.value.as_str()),
        Some("EpYBCpMBAdHtim9callsig")
    );
    assert_eq!(
        r.content[3],
        Part::ToolUse {
            id: "fc_2".into(),
            name: "get_time".into(),
            arguments: r#"{"tz":"Asia/Tokyo","nested":{"a":[1,2]}}"#.into(),
            signature: None,
        }
    );
    assert_eq!(r.usage.output_tokens, 140);
    assert_eq!(r.usage.reasoning_tokens, 100);
    assert_eq!(r.usage.input_tokens, 150);
}

#[test]
fn parsed_signatures_replay_on_the_parts_they_came_from() {
    let r = gemini::parse("gem", &fixture("response_tool_call.json")).expect("parses");
    let req = ChatRequest {
        messages: vec![user(vec![Part::text("weather?")]), assistant(r.content)],
        ..ChatRequest::default()
    };
    let p = provider();
    let built = gemini::build(&req, &target(&p, "gemini-3-pro-preview")).expect("builds");
    let body: Value = serde_json::from_slice(&built.body).expect("JSON");
    let parts = &body["contents"][1]["parts"];
    assert_eq!(
        parts[0],
        json!({"text": "Checking now.", "thoughtSignature": "Cs8BAdHtim+textsig=="})
    );
    assert_eq!(parts[1]["thoughtSignature"], "EpYBCpMBAdHtim9callsig");
    assert_eq!(parts[1]["functionCall"]["args"], json!({"city": "Paris"}));
    assert_eq!(
        parts[2],
        json!({"functionCall": {"id": "fc_2", "name": "get_time", "args": {"tz": "Asia/Tokyo", "nested": {"a": [1, 2]}}}})
    );
}

#[test]
fn blocked_prompts_and_safety_stops_are_content_filter() {
    let r = gemini::parse("gem", &fixture("response_blocked.json")).expect("parses");
    assert_eq!(r.stop_reason, StopReason::ContentFilter);
    assert_eq!(r.native_stop_reason.as_deref(), Some("SAFETY"));
    assert!(r.content.is_empty());
    assert_eq!(r.usage.input_tokens, 14);

    let r = gemini::parse("gem", &fixture("response_safety_finish.json")).expect("parses");
    assert_eq!(r.stop_reason, StopReason::ContentFilter);
    assert!(r.content.is_empty());
}

#[test]
fn garbage_bodies_are_upstream_errors() {
    let err = gemini::parse("gem", b"<html>oops</html>").expect_err("not JSON");
    assert_eq!(err.status, 502);
    let err = gemini::parse("gem", b"{\"candidates\": []}").expect_err("nothing");
    assert_eq!(err.kind, ErrorKind::UpstreamError);
}

#[test]
fn errors_keep_status_and_google_message() {
    let err = gemini::parse_error("gem", 429, &fixture("error_429.json"));
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert_eq!(err.status, 429);
    assert_eq!(err.retry_after, Some(37));
    assert!(err
        .message
        .starts_with("gem: You exceeded your current quota"));
    assert_eq!(
        err.metadata.as_ref().and_then(|m| m.get("provider_name")),
        Some(&json!("gem"))
    );

    let err = gemini::parse_error("gem", 400, &fixture("error_400_context.json"));
    assert_eq!(err.kind, ErrorKind::ContextLength);
    assert_eq!(err.status, 400);
    assert_eq!(
        err.metadata.as_ref().and_then(|m| m.get("error_type")),
        Some(&json!("context_length_exceeded"))
    );

    let array_form = br#"[{"error": {"code": 404, "message": "models/nope is not found", "status": "NOT_FOUND"}}]"#;
    let err = gemini::parse_error("gem", 404, array_form);
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("models/nope"), "{}", err.message);

    let err = gemini::parse_error("gem", 502, b"<html>Bad Gateway</html>");
    assert_eq!(err.status, 502);
    assert_eq!(err.kind, ErrorKind::UpstreamError);
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

/// Feeds the pieces through the SSE decoder and the gemini decoder; returns the hub events and
/// how the stream ended (an error message on `Err`).
fn decode(pieces: &[&[u8]]) -> (Vec<StreamEvent>, Result<(), String>) {
    let mut sse = SseDecoder::new();
    let mut decoder = Decoder::new("gem");
    let mut out = Vec::new();
    let mut sse_events = Vec::new();
    for piece in pieces {
        sse.push(piece, &mut sse_events);
    }
    sse.finish(&mut sse_events);
    for ev in &sse_events {
        if let Err(e) = decoder.event(ev, &mut out) {
            return (normalise_ids(out), Err(e.message));
        }
    }
    let end = decoder.finish(&mut out).map_err(|e| e.message);
    (normalise_ids(out), end)
}

/// Generated tool ids are random: checked for shape, then replaced by a stable marker.
fn normalise_ids(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    events
        .into_iter()
        .map(|ev| match ev {
            StreamEvent::BlockStart {
                index,
                block: BlockStart::ToolUse { id, name },
            } if id.starts_with("call_") => {
                assert_eq!(id.len(), 29, "generated id {id}");
                assert!(id[5..].chars().all(|c| c.is_ascii_hexdigit()));
                StreamEvent::BlockStart {
                    index,
                    block: BlockStart::ToolUse {
                        id: "call_<generated>".into(),
                        name,
                    },
                }
            }
            other => other,
        })
        .collect()
}

/// Every 2-way split (and byte-by-byte feeding) gives the same events as the whole stream.
fn assert_split_invariant(name: &str) -> (Vec<StreamEvent>, Result<(), String>) {
    let input = fixture(name);
    let whole = decode(&[&input]);
    for i in 0..=input.len() {
        let split = decode(&[&input[..i], &input[i..]]);
        assert_eq!(split, whole, "{name}: split at byte {i}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode(&bytes), whole, "{name}: byte by byte");
    whole
}

fn text_delta(index: usize, text: &str) -> StreamEvent {
    StreamEvent::BlockDelta {
        index,
        delta: BlockDelta::Text(text.into()),
    }
}

#[test]
fn text_stream() {
    let (events, end) = assert_split_invariant("stream_text.sse");
    assert_eq!(end, Ok(()));
    let usage_1 = Usage {
        input_tokens: 8,
        output_tokens: 1,
        ..Usage::default()
    };
    let usage_2 = Usage {
        input_tokens: 8,
        output_tokens: 9,
        ..Usage::default()
    };
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: Some("mKdFaMzYEqSb1dkPxr7Y8Qg".into()),
                model: Some("gemini-2.5-flash".into()),
            },
            StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Text
            },
            text_delta(0, "Hello"),
            StreamEvent::Usage(usage_1),
            text_delta(0, ", wörld! 😀 How can I help?"),
            StreamEvent::Usage(usage_2),
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::Usage(usage_2),
            StreamEvent::Finish {
                reason: StopReason::Stop,
                native: Some("STOP".into()),
                stop_sequence: None,
            },
        ]
    );
}

#[test]
fn thinking_stream() {
    let (events, end) = assert_split_invariant("stream_thinking.sse");
    assert_eq!(end, Ok(()));
    let blocks: Vec<&StreamEvent> = events
        .iter()
        .filter(|e| !matches!(e, StreamEvent::Usage(_)))
        .collect();
    assert_eq!(
        blocks,
        vec![
            &StreamEvent::Start {
                id: Some("think-1".into()),
                model: Some("gemini-2.5-pro".into()),
            },
            &StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Thinking
            },
            &StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Thinking(
                    "**Weighing the options**\n\nThe user asks for 17 * 23.".into()
                )
            },
            &StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Thinking(" 17 * 23 = 391.".into())
            },
            &StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Signature("CiQBVKhc7sig+AbC/1==".into())
            },
            &StreamEvent::BlockStop { index: 0 },
            &StreamEvent::BlockStart {
                index: 1,
                block: BlockStart::Text
            },
            &text_delta(1, "17 × 23 = **391**."),
            &StreamEvent::BlockStop { index: 1 },
            &StreamEvent::Finish {
                reason: StopReason::Length,
                native: Some("MAX_TOKENS".into()),
                stop_sequence: None,
            },
        ]
    );
    assert_eq!(
        events[events.len() - 2],
        StreamEvent::Usage(Usage {
            input_tokens: 1030,
            output_tokens: 82,
            reasoning_tokens: 70,
            cache_read_tokens: 1024,
            cache_write_tokens: 0,
        })
    );
}

#[test]
fn function_call_stream() {
    let (events, end) = assert_split_invariant("stream_function_call.sse");
    assert_eq!(end, Ok(()));
    let blocks: Vec<&StreamEvent> = events
        .iter()
        .filter(|e| !matches!(e, StreamEvent::Usage(_) | StreamEvent::Start { .. }))
        .collect();
    assert_eq!(
        blocks,
        vec![
            &StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Text
            },
            &text_delta(0, "Let me check both cities."),
            &StreamEvent::BlockStop { index: 0 },
            &StreamEvent::BlockStart {
                index: 1,
                block: BlockStart::ToolUse {
                    id: "call_<generated>".into(),
                    name: "get_weather".into()
                }
            },
            &StreamEvent::BlockDelta {
                index: 1,
                delta: BlockDelta::Signature("EpYBCpMBAdHtim9sigA".into())
            },
            &StreamEvent::BlockDelta {
                index: 1,
                delta: BlockDelta::ToolInput(r#"{"city":"Paris","units":"celsius"}"#.into())
            },
            &StreamEvent::BlockStop { index: 1 },
            &StreamEvent::BlockStart {
                index: 2,
                block: BlockStart::ToolUse {
                    id: "fc_tokyo_2".into(),
                    name: "get_weather".into()
                }
            },
            &StreamEvent::BlockDelta {
                index: 2,
                delta: BlockDelta::ToolInput(r#"{"city":"Tokyo"}"#.into())
            },
            &StreamEvent::BlockStop { index: 2 },
            &StreamEvent::Finish {
                reason: StopReason::ToolCalls,
                native: Some("STOP".into()),
                stop_sequence: None,
            },
        ]
    );
}

#[test]
fn error_inside_the_stream_is_an_err() {
    let (events, end) = assert_split_invariant("stream_error.sse");
    let message = end.expect_err("error event");
    assert!(message.contains("overloaded"), "{message}");
    // The open text block is closed before the error surfaces.
    assert_eq!(events.last(), Some(&StreamEvent::BlockStop { index: 0 }));

    let mut decoder = Decoder::new("gem");
    let mut out = Vec::new();
    let err = decoder
        .event(
            &arouter_core::sse::SseEvent {
                event: None,
                data: r#"{"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}"#
                    .into(),
            },
            &mut out,
        )
        .expect_err("error");
    assert_eq!(err.kind, ErrorKind::RateLimited);
}

#[test]
fn dropped_stream_is_an_err_after_closing_blocks() {
    let (events, end) = assert_split_invariant("stream_dropped.sse");
    let message = end.expect_err("dropped");
    assert!(
        message.contains("stream ended before finishReason"),
        "{message}"
    );
    assert_eq!(events.last(), Some(&StreamEvent::BlockStop { index: 0 }));
    assert!(!events
        .iter()
        .any(|e| matches!(e, StreamEvent::Finish { .. })));
}

#[test]
fn blocked_prompt_stream_finishes_with_content_filter() {
    let (events, end) = assert_split_invariant("stream_blocked.sse");
    assert_eq!(end, Ok(()));
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Finish {
            reason: StopReason::ContentFilter,
            native: Some("PROHIBITED_CONTENT".into()),
            stop_sequence: None,
        })
    );
}
