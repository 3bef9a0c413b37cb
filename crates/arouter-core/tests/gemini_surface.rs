//! The Gemini surface's pure parts: request → hub, hub → response, stream chunks, framing and
//! the `models/{model}:method` path grammar.

use arouter_core::config::Config;
use arouter_core::dialects::gemini::errors::status_code;
use arouter_core::dialects::gemini::inbound::{
    from_internal, include_thoughts, parse_model_path, to_internal, Method, StreamEncoder,
};
use arouter_core::error::ErrorKind;
use arouter_core::model::{
    BlockDelta, BlockStart, ChatResponse, Dialect, Effort, MediaSource, Part, ResponseFormat, Role,
    Signed, StopReason, StreamEvent, ToolChoice, Usage,
};
use arouter_core::surfaces::gemini::{candidates, model_url, ArrayFramer};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/gemini_surface/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn rich_request_maps_to_the_hub() {
    let body = fixture("request_rich.json");
    let req = to_internal(&body, "oa/gpt-4o-mini").expect("valid request");
    assert_eq!(req.model, "oa/gpt-4o-mini");
    assert_eq!(
        req.system,
        vec![
            Part::text("You are a weather bot."),
            Part::text("Be brief.")
        ]
    );

    // Turns: user, model, user (function result + merged follow-ups), model, user.
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    assert_eq!(
        req.messages[0].content,
        vec![
            Part::text("What's the weather in Paris? Here is a photo."),
            Part::Image {
                source: MediaSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into()
                },
                detail: None
            },
            Part::File {
                source: MediaSource::Url {
                    url: "https://example.com/report.pdf".into(),
                    media_type: Some("application/pdf".into())
                },
                filename: None
            },
        ]
    );
    // The signature on the call also belongs to the thought before it.
    assert_eq!(
        req.messages[1].content,
        vec![
            Part::Thinking {
                text: "The user wants the forecast.".into(),
                signature: Some(Signed::new(Dialect::Gemini, "c2lnLTE="))
            },
            Part::ToolUse {
                id: "call_1_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
                signature: Some(Signed::new(Dialect::Gemini, "c2lnLTE="))
            },
        ]
    );
    // An id-less response pairs with the earlier call of that name.
    assert_eq!(
        req.messages[2].content,
        vec![Part::ToolResult {
            tool_use_id: "call_1_1".into(),
            name: Some("get_weather".into()),
            content: vec![Part::text("18C, cloudy")],
            is_error: false
        }]
    );
    assert_eq!(
        req.messages[4].content,
        vec![
            Part::ToolResult {
                tool_use_id: "call-7".into(),
                name: Some("get_time".into()),
                content: vec![Part::text(r#"{"error":"clock unavailable"}"#)],
                is_error: true
            },
            Part::text("Thanks! Summarise as JSON."),
        ]
    );

    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[0].name, "get_weather");
    assert_eq!(
        req.tools[0].description.as_deref(),
        Some("Current weather for a city")
    );
    assert_eq!(
        req.tools[0].parameters,
        json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": ["string", "null"], "enum": ["C", "F"]}
            },
            "required": ["city"]
        })
    );
    assert_eq!(
        req.tools[1].parameters,
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    );
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Named("get_weather".into()))
    );

    assert_eq!(req.max_tokens, Some(512));
    assert_eq!(req.temperature, Some(0.4));
    assert_eq!(req.top_p, Some(0.9));
    assert_eq!(req.top_k, Some(40));
    assert_eq!(req.stop, ["END"]);
    assert_eq!(req.seed, Some(7));
    assert_eq!(req.presence_penalty, Some(0.1));
    assert_eq!(req.frequency_penalty, Some(0.2));
    assert_eq!(req.n, Some(1));
    assert_eq!(
        req.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json!({
                "type": "object",
                "properties": {"summary": {"type": "string"}},
                "required": ["summary"]
            }),
            strict: None
        })
    );
    let reasoning = req.reasoning.expect("thinkingConfig maps to reasoning");
    assert_eq!(reasoning.max_tokens, Some(1024));
    assert!(!reasoning.exclude);
    assert!(reasoning.is_on());
    assert!(include_thoughts(&body));

    assert_eq!(req.extra_dialect, Some(Dialect::Gemini));
    assert_eq!(
        req.extra.get("cachedContent"),
        Some(&json!("cachedContents/abc123"))
    );
    assert!(req.extra.contains_key("safetySettings"));
    assert_eq!(
        req.extra.get("generationConfig"),
        Some(&json!({"responseModalities": ["TEXT"]}))
    );
}

#[test]
fn thinking_levels_budgets_and_modes() {
    let body = json!({
        "contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}},
        "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}
    });
    let req = to_internal(&body, "m").unwrap();
    let r = req.reasoning.unwrap();
    assert_eq!(r.effort, Some(Effort::High));
    assert!(r.exclude, "thoughts are returned only with includeThoughts");
    assert!(!include_thoughts(&body));
    assert_eq!(req.tool_choice, Some(ToolChoice::None));
    assert_eq!(req.messages[0].role, Role::User);

    let off = json!({
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}, "responseMimeType": "application/json"}
    });
    let req = to_internal(&off, "m").unwrap();
    assert_eq!(req.reasoning.unwrap().enabled, Some(false));
    assert_eq!(req.response_format, Some(ResponseFormat::JsonObject));

    let thoughts = json!({
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": true}}
    });
    let r = to_internal(&thoughts, "m").unwrap().reasoning.unwrap();
    assert!(r.is_on() && !r.exclude);

    // snake_case field names (proto JSON) are accepted too.
    let snake = json!({
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "system_instruction": {"parts": [{"text": "sys"}]},
        "generation_config": {"max_output_tokens": 9}
    });
    let req = to_internal(&snake, "m").unwrap();
    assert_eq!(req.max_tokens, Some(9));
    assert_eq!(req.system, vec![Part::text("sys")]);
}

#[test]
fn invalid_requests_name_the_field() {
    let cases = [
        (json!({}), "contents: must be a non-empty array"),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "assistant", "parts": [{"text": "b"}]}]}),
            "contents[1].role: unknown role \"assistant\"",
        ),
        (
            json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"temperature": "hot"}}),
            "generationConfig.temperature:",
        ),
        (
            json!({"contents": [{"parts": [{"text": 5}]}]}),
            "contents[0].parts[0].text:",
        ),
        (
            json!({"contents": [{"parts": [{"text": "a"}]}], "tools": [{"googleSearch": {}}]}),
            "tools[0].googleSearch: built-in Gemini tools",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}),
            "contents[0].parts[0].functionResponse: no earlier functionCall named \"f\"",
        ),
        (
            json!({"contents": [{"parts": [{"text": "a"}]}], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}),
            "toolConfig.functionCallingConfig.mode: unknown mode",
        ),
    ];
    for (body, want) in cases {
        let err = to_internal(&body, "m").expect_err(want);
        assert_eq!(err.kind, ErrorKind::BadRequest, "{want}");
        assert_eq!(err.status, 400);
        assert_eq!(status_code(&err), "INVALID_ARGUMENT");
        assert!(
            err.message.starts_with(want),
            "{:?} does not start with {want:?}",
            err.message
        );
    }
}

fn rich_response() -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-1".into(),
        model: "gpt-4o-mini".into(),
        content: vec![
            Part::Thinking {
                text: "Considering the time zone.".into(),
                signature: Some(Signed::new(Dialect::Gemini, "c2lnLTI=")),
            },
            Part::text("It is 18C in Paris."),
            Part::ToolUse {
                id: "call_1".into(),
                name: "get_time".into(),
                arguments: r#"{"tz":"CET"}"#.into(),
                signature: None,
            },
            Part::ToolUse {
                id: "call_2".into(),
                name: "get_date".into(),
                arguments: String::new(),
                signature: None,
            },
        ],
        stop_reason: StopReason::ToolCalls,
        native_stop_reason: Some("tool_calls".into()),
        stop_sequence: None,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 50,
            reasoning_tokens: 20,
            cache_read_tokens: 30,
            cache_write_tokens: 0,
        },
    }
}

#[test]
fn from_internal_matches_golden() {
    let got = from_internal(&rich_response(), "oa/gpt-4o-mini", true);
    assert_eq!(got, fixture("response_golden.json"));
}

#[test]
fn thoughts_hidden_unless_asked_but_signature_kept() {
    let got = from_internal(&rich_response(), "oa/gpt-4o-mini", false);
    let parts = got["candidates"][0]["content"]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.get("thought").is_none()));
    assert_eq!(parts[0]["thoughtSignature"], "c2lnLTI=");

    for (reason, want) in [
        (StopReason::Stop, "STOP"),
        (StopReason::Length, "MAX_TOKENS"),
        (StopReason::ContentFilter, "SAFETY"),
        (StopReason::Error, "OTHER"),
    ] {
        let mut resp = rich_response();
        resp.stop_reason = reason;
        let v = from_internal(&resp, "m", false);
        assert_eq!(v["candidates"][0]["finishReason"], want);
    }
}

#[test]
fn stream_encoder_matches_golden() {
    let events = vec![
        StreamEvent::Start {
            id: Some("msg_1".into()),
            model: Some("claude-sonnet-4-5".into()),
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Thinking,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Thinking("Hmm, Paris.".into()),
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Signature("c2lnLTM=".into()),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::Text("Checking ".into()),
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::Text("now.".into()),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::BlockStart {
            index: 2,
            block: BlockStart::ToolUse {
                id: "toolu_1".into(),
                name: "get_weather".into(),
            },
        },
        StreamEvent::BlockDelta {
            index: 2,
            delta: BlockDelta::ToolInput(r#"{"city":"#.into()),
        },
        StreamEvent::BlockDelta {
            index: 2,
            delta: BlockDelta::ToolInput(r#""Paris"}"#.into()),
        },
        StreamEvent::BlockStop { index: 2 },
        StreamEvent::Finish {
            reason: StopReason::ToolCalls,
            native: Some("tool_use".into()),
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 40,
            output_tokens: 12,
            reasoning_tokens: 3,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
        }),
    ];
    let mut enc = StreamEncoder::new("an/claude-sonnet-4-5", "gen-1", true, Dialect::Gemini);
    let mut out = Vec::new();
    for ev in &events {
        enc.encode(ev, &mut out);
    }
    // The tool call is emitted whole at its BlockStop; usage waits for the end.
    assert_eq!(out.len(), 4);
    enc.finish(&mut out);
    assert_eq!(Value::Array(out), fixture("stream_golden.json"));

    // Without includeThoughts the thought text is dropped, the signature still travels.
    let mut enc = StreamEncoder::new("an/claude-sonnet-4-5", "gen-1", false, Dialect::Gemini);
    let mut out = Vec::new();
    for ev in &events {
        enc.encode(ev, &mut out);
    }
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0]["candidates"][0]["content"]["parts"][0],
        json!({"text": "Checking ", "thoughtSignature": "c2lnLTM="})
    );
}

#[test]
fn stream_encoder_flushes_unclosed_calls_and_defaults_to_stop() {
    let mut enc = StreamEncoder::new("m", "gen-2", false, Dialect::Gemini);
    let mut out = Vec::new();
    enc.encode(
        &StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::ToolUse {
                id: "c1".into(),
                name: "f".into(),
            },
        },
        &mut out,
    );
    enc.encode(
        &StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::ToolInput("{\"a\":1}".into()),
        },
        &mut out,
    );
    assert!(out.is_empty());
    enc.finish(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0]["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"id": "c1", "name": "f", "args": {"a": 1}})
    );
    assert_eq!(out[1]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        out[1]["usageMetadata"],
        json!({"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0})
    );
}

#[test]
fn model_paths_parse() {
    let p = parse_model_path("oa%2Fgpt-4o-mini:streamGenerateContent").unwrap();
    assert_eq!(p.model, "oa/gpt-4o-mini");
    assert_eq!(p.method, Some(Method::StreamGenerateContent));

    let p = parse_model_path("models/gemini-2.5-flash:generateContent").unwrap();
    assert_eq!(p.model, "gemini-2.5-flash");
    assert_eq!(p.method, Some(Method::GenerateContent));

    let p = parse_model_path("oa/gpt-4o-mini:countTokens").unwrap();
    assert_eq!(p.model, "oa/gpt-4o-mini");
    assert_eq!(p.method, Some(Method::CountTokens));

    // A model resource, and a model tag that is not a method.
    let p = parse_model_path("gemini-2.5-flash").unwrap();
    assert_eq!((p.model.as_str(), p.method), ("gemini-2.5-flash", None));
    let p = parse_model_path("ol/llama3:8b:generateContent").unwrap();
    assert_eq!(p.model, "ol/llama3:8b");
    let p = parse_model_path("ol/llama3:latest").unwrap();
    assert_eq!((p.model.as_str(), p.method), ("ol/llama3:latest", None));

    let e = parse_model_path("gemini-2.5-flash:embedContent").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotImplemented);
    assert_eq!(status_code(&e), "UNIMPLEMENTED");
    assert!(parse_model_path("oa%2").is_err());
    assert!(parse_model_path("models/:generateContent").is_err());
}

#[test]
fn json_array_framing() {
    let f = ArrayFramer::default();
    let mut body = Vec::new();
    body.extend_from_slice(&f.element(&json!({"a": 1})));
    body.extend_from_slice(&f.element(&json!({"b": 2})));
    body.extend_from_slice(&f.close());
    assert_eq!(
        String::from_utf8(body.clone()).unwrap(),
        "[{\"a\":1}\r\n,{\"b\":2}\r\n]"
    );
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(parsed, json!([{"a": 1}, {"b": 2}]));

    assert_eq!(&ArrayFramer::default().close()[..], b"[]");

    // A mid-stream error is the last element, and the body stays one JSON array.
    let f = ArrayFramer::default();
    let mut body = f.element(&json!({"a": 1})).to_vec();
    let err = arouter_core::error::ApiError::new(ErrorKind::Overloaded, "busy");
    body.extend_from_slice(&f.error(&err));
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        parsed[1],
        json!({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    );
}

#[test]
fn upstream_urls_and_candidates() {
    assert_eq!(
        model_url(
            "https://generativelanguage.googleapis.com",
            "models/gemini-2.5-flash",
            "streamGenerateContent?alt=sse"
        ),
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        model_url("http://127.0.0.1:9/v1/", "g", "countTokens"),
        "http://127.0.0.1:9/v1/models/g:countTokens"
    );

    let cfg = Config::parse(
        r#"
[providers.oa]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
[providers.gem]
kind = "gemini"
base_url = "http://127.0.0.1:2"
[aliases]
fast = ["oa/gpt-4o-mini"]
"#,
    )
    .unwrap();
    let ids = |m: &str| {
        candidates(&cfg, m)
            .unwrap()
            .iter()
            .map(|c| c.id())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("oa/gpt-4o-mini"), ["oa/gpt-4o-mini"]);
    assert_eq!(ids("fast"), ["oa/gpt-4o-mini"]);
    // A bare Gemini name nobody else serves goes to the gemini-kind provider.
    assert_eq!(ids("gemini-2.5-flash"), ["gem/gemini-2.5-flash"]);

    let no_gemini =
        Config::parse("[providers.oa]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n")
            .unwrap();
    assert!(candidates(&no_gemini, "gemini-2.5-flash").is_err());
}
