//! Wire tests for the OpenAI chat-completions surface and the `openai` provider adapter.

use arouter_core::config::{ProviderConfig, ProviderKind};
use arouter_core::dialects::openai_chat::errors::{error_body, stream_error_chunk};
use arouter_core::dialects::openai_chat::inbound::{
    from_internal, to_internal, ChunkEncoder, ResponseIds,
};
use arouter_core::dialects::openai_chat::outbound::{self as adapter, Decoder};
use arouter_core::dialects::openai_chat::usage::usage_json;
use arouter_core::error::{ApiError, ErrorKind};
use arouter_core::model::{
    BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, Effort, MediaSource, Message, Part,
    ResponseFormat, Role, Signed, StopReason, StreamEvent, ToolChoice, Usage,
};
use arouter_core::providers::{StreamDecoder, Target};
use arouter_core::sse::SseDecoder;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/openai/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

fn provider(base_url: &str) -> ProviderConfig {
    ProviderConfig {
        id: "up".into(),
        kind: ProviderKind::OpenAi,
        base_url: base_url.into(),
        api_key_env: None,
        headers: BTreeMap::new(),
        models: Vec::new(),
        connect_timeout_secs: 10,
        first_byte_timeout_secs: 60,
        idle_timeout_secs: 60,
        local: None,
        drop_params: None,
    }
}

fn target<'a>(p: &'a ProviderConfig, model: &'a str, key: Option<&'a str>) -> Target<'a> {
    Target {
        provider: p,
        model,
        api_key: key,
        default_max_tokens: 4096,
    }
}

fn text(t: &str) -> Part {
    Part::text(t)
}

fn tool_use(id: &str, name: &str, args: &str) -> Part {
    Part::ToolUse {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
        signature: None,
    }
}

fn tool_result(id: &str, t: &str) -> Part {
    Part::ToolResult {
        tool_use_id: id.into(),
        name: None,
        content: vec![text(t)],
        is_error: false,
    }
}

fn rich() -> ChatRequest {
    to_internal(&fixture_json("request_rich.json")).expect("rich request parses")
}

// ---------------------------------------------------------------- surface: request → hub

#[test]
fn rich_request_maps_every_field_into_the_hub() {
    let req = rich();
    assert_eq!(req.model, "openai/gpt-4o");
    assert_eq!(
        req.system,
        vec![
            text("You are terse."),
            Part::Text {
                text: "Prefer metric units.".into(),
                cache_control: Some(json!({"type": "ephemeral"})),
            },
        ]
    );
    assert_eq!(
        req.messages.len(),
        3,
        "user, assistant, tool results + user"
    );

    let user = &req.messages[0];
    assert_eq!(user.role, Role::User);
    assert_eq!(
        user.content[1],
        Part::Image {
            source: MediaSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into(),
            },
            detail: Some("low".into()),
        }
    );
    assert_eq!(
        user.content[2],
        Part::Image {
            source: MediaSource::Url {
                url: "https://example.com/cat.jpg".into(),
                media_type: None,
            },
            detail: None,
        }
    );

    let assistant = &req.messages[1];
    assert_eq!(assistant.role, Role::Assistant);
    assert_eq!(
        assistant.content,
        vec![
            Part::Thinking {
                text: "The user wants weather for two cities.".into(),
                signature: Some(Signed::new(Dialect::OpenAi, "sig-abc")),
            },
            Part::RedactedThinking {
                data: Signed::new(Dialect::OpenAi, "opaque-blob")
            },
            text("Checking both cities."),
            tool_use("call_1", "get_weather", "{\"city\":\"Paris\"}"),
            tool_use("call_2", "get_weather", "{\"city\":\"Oslo\"}"),
        ]
    );

    let results = &req.messages[2];
    assert_eq!(results.role, Role::User);
    assert_eq!(
        results.content,
        vec![
            tool_result("call_1", "18C, sunny"),
            tool_result("call_2", "4C, snow"),
            text("Thanks. Answer as JSON."),
        ]
    );

    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[0].name, "get_weather");
    assert_eq!(
        req.tools[0].description.as_deref(),
        Some("Current weather for a city")
    );
    assert_eq!(req.tools[0].parameters["required"], json!(["city"]));
    assert_eq!(req.tools[0].strict, Some(true));
    assert_eq!(
        req.tools[1].parameters,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Named("get_weather".into()))
    );
    assert_eq!(req.parallel_tool_calls, Some(true));
    assert_eq!(req.max_tokens, Some(512));
    assert_eq!(req.temperature, Some(0.2));
    assert_eq!(req.top_p, Some(0.9));
    assert_eq!(req.top_k, Some(40));
    assert_eq!(req.stop, vec!["\n\n\n".to_string()]);
    assert_eq!(req.seed, Some(7));
    assert_eq!(req.frequency_penalty, Some(0.1));
    assert_eq!(req.presence_penalty, Some(-0.1));
    assert_eq!(req.logit_bias, Some(json!({"50256": -100})));
    assert_eq!(req.logprobs, Some(true));
    assert_eq!(req.top_logprobs, Some(2));
    match &req.response_format {
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            assert_eq!(name, "weather");
            assert_eq!(schema["required"], json!(["paris", "oslo"]));
            assert_eq!(*strict, Some(true));
        }
        other => panic!("unexpected response_format {other:?}"),
    }
    let reasoning = req.reasoning.expect("reasoning parsed");
    assert_eq!(reasoning.effort, Some(Effort::High));
    assert!(reasoning.exclude);
    assert_eq!(req.n, Some(1));
    assert!(req.stream);
    assert_eq!(req.user.as_deref(), Some("user-42"));
    // Only real OpenAI parameters ride along; OpenRouter routing fields and junk do not.
    assert_eq!(req.extra.len(), 1);
    assert_eq!(req.extra["service_tier"], json!("flex"));
}

#[test]
fn small_shapes_parse() {
    let req = to_internal(&json!({
        "messages": [
            {"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
            ]},
            {"role": "assistant", "content": null, "reasoning": "plain thoughts",
             "function_call": {"name": "lookup", "arguments": "{}"}},
            {"role": "function", "name": "lookup", "content": "found"}
        ],
        "stop": "END",
        "max_tokens": 100,
        "reasoning_effort": "low",
        "tool_choice": "required",
        "response_format": {"type": "json_object"}
    }))
    .expect("parses");
    assert_eq!(req.model, "");
    assert_eq!(
        req.messages[0].content,
        vec![
            Part::Audio {
                data: "UklGRg==".into(),
                format: "wav".into()
            },
            Part::File {
                source: MediaSource::Base64 {
                    media_type: "application/pdf".into(),
                    data: "JVBERi0=".into()
                },
                filename: Some("a.pdf".into()),
            },
        ]
    );
    assert_eq!(
        req.messages[1].content,
        vec![
            Part::Thinking {
                text: "plain thoughts".into(),
                signature: None
            },
            tool_use("call_lookup", "lookup", "{}"),
        ]
    );
    assert_eq!(
        req.messages[2].content,
        vec![Part::ToolResult {
            tool_use_id: "call_lookup".into(),
            name: Some("lookup".into()),
            content: vec![text("found")],
            is_error: false,
        }]
    );
    assert_eq!(req.stop, vec!["END".to_string()]);
    assert_eq!(req.max_tokens, Some(100));
    assert_eq!(req.reasoning.unwrap().effort, Some(Effort::Low));
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
    assert_eq!(req.response_format, Some(ResponseFormat::JsonObject));
    assert!(!req.stream);
}

#[test]
fn effort_none_turns_reasoning_off() {
    let req = to_internal(&json!({
        "messages": [{"role": "user", "content": "hi"}],
        "reasoning": {"effort": "none"}
    }))
    .unwrap();
    let r = req.reasoning.unwrap();
    assert_eq!(r.enabled, Some(false));
    assert!(!r.is_on());
}

fn rejection(body: Value) -> ApiError {
    match to_internal(&body) {
        Ok(req) => panic!("expected an error, parsed {req:?}"),
        Err(e) => e,
    }
}

#[test]
fn validation_errors_name_the_field() {
    let user = json!({"role": "user", "content": "hi"});
    let cases = [
        (
            json!({"messages": []}),
            "messages: must be a non-empty array",
        ),
        (json!({"model": "x"}), "messages: must be a non-empty array"),
        (
            json!({"messages": [user, user, {"role": "robot", "content": "beep"}]}),
            "messages[2].role: unknown role \"robot\"",
        ),
        (
            json!({"messages": [user], "temperature": "hot"}),
            "temperature: expected a number",
        ),
        (
            json!({"messages": [user], "max_tokens": -5}),
            "max_tokens: expected a non-negative integer",
        ),
        (
            json!({"messages": [user], "stream": "yes"}),
            "stream: expected a boolean",
        ),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            "messages[0].content: expected a string or an array of content parts",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}),
            "messages[0].content[0].image_url.url: expected an http(s) URL",
        ),
        (
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id: is required",
        ),
        (
            json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {}}]}]}),
            "messages[0].tool_calls[0].function.name: is required",
        ),
        (
            json!({"messages": [user], "tools": [{"type": "web_search"}]}),
            "tools[0].type: unsupported tool type \"web_search\"",
        ),
        (
            json!({"messages": [user], "tool_choice": "sometimes"}),
            "tool_choice: unknown tool choice \"sometimes\"",
        ),
        (
            json!({"messages": [user], "stop": [1]}),
            "stop[0]: expected a string",
        ),
        (
            json!({"messages": [user], "reasoning": {"effort": "extreme"}}),
            "reasoning.effort: unknown effort \"extreme\"",
        ),
        (
            json!({"messages": [user], "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
            "response_format.json_schema.schema: is required",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]}),
            "messages[0].content[0].file.file_id: uploaded file ids are not supported",
        ),
        (json!([1, 2]), "request body: expected an object"),
    ];
    for (body, expected) in cases {
        let err = rejection(body.clone());
        assert_eq!(err.kind, ErrorKind::BadRequest, "{body}");
        assert_eq!(err.status, 400);
        assert!(
            err.message.starts_with(expected),
            "for {body}: got {:?}, want prefix {expected:?}",
            err.message
        );
    }
}

// ---------------------------------------------------------------- surface: hub → response

fn ids(include_reasoning: bool) -> ResponseIds<'static> {
    ResponseIds {
        id: "gen-1",
        model: "anthropic/claude-sonnet-4.6",
        provider: "anthropic",
        created: 1_760_000_000,
        cost_usd: Some(0.00042),
        include_reasoning,
        signer: Dialect::OpenAi,
    }
}

fn hub_response() -> ChatResponse {
    ChatResponse {
        id: "msg_1".into(),
        model: "claude-sonnet-4-6".into(),
        content: vec![
            Part::Thinking {
                text: "Let me think.".into(),
                signature: Some(Signed::new(Dialect::OpenAi, "sig")),
            },
            Part::RedactedThinking {
                data: Signed::new(Dialect::OpenAi, "blob"),
            },
            text("The answer "),
            text("is 42."),
            tool_use("call_1", "get_weather", "{\"city\":\"Paris\"}"),
        ],
        stop_reason: StopReason::ToolCalls,
        native_stop_reason: Some("tool_use".into()),
        stop_sequence: None,
        usage: Usage {
            input_tokens: 30,
            output_tokens: 20,
            reasoning_tokens: 12,
            cache_read_tokens: 10,
            cache_write_tokens: 5,
        },
    }
}

fn rendered(resp: &ChatResponse, ids: &ResponseIds) -> Value {
    serde_json::from_slice(&from_internal(resp, ids)).expect("renders JSON")
}

/// Byte for byte, so member order is checked too (the fixture is written in output order).
#[test]
fn from_internal_matches_golden() {
    let got = String::from_utf8(from_internal(&hub_response(), &ids(true))).unwrap();
    let golden = serde_json::to_string(&fixture_json("golden_response.json")).unwrap();
    assert_eq!(got, golden);
}

#[test]
fn from_internal_hides_reasoning_when_excluded_and_nulls_missing_text() {
    let got = rendered(&hub_response(), &ids(false));
    let message = &got["choices"][0]["message"];
    assert!(message.get("reasoning").is_none());
    assert!(message.get("reasoning_details").is_none());
    assert_eq!(message["content"], json!("The answer is 42."));

    let mut only_tools = hub_response();
    only_tools.content = vec![tool_use("c", "f", "")];
    let got = rendered(&only_tools, &ids(true));
    let message = &got["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["reasoning"], Value::Null);
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        json!("{}")
    );
}

#[test]
fn from_internal_escapes_text_and_omits_what_is_absent() {
    let mut plain = hub_response();
    plain.content = vec![text("h\u{e9} \"q\"\n")];
    plain.native_stop_reason = None;
    let no_cost = ResponseIds {
        cost_usd: None,
        ..ids(true)
    };
    let got = rendered(&plain, &no_cost);
    let message = &got["choices"][0]["message"];
    assert_eq!(message["content"], json!("h\u{e9} \"q\"\n"));
    assert!(message.get("tool_calls").is_none());
    assert!(message.get("reasoning_details").is_none());
    assert_eq!(got["choices"][0]["native_finish_reason"], Value::Null);
    assert!(got["usage"].get("cost").is_none());

    let mut empty = hub_response();
    empty.content = Vec::new();
    let got = rendered(&empty, &ids(false));
    assert_eq!(got["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(got["usage"]["cost"], json!(0.00042));
}

#[test]
fn usage_json_uses_openrouter_names() {
    let u = Usage {
        input_tokens: 7,
        output_tokens: 3,
        reasoning_tokens: 1,
        cache_read_tokens: 2,
        cache_write_tokens: 4,
    };
    assert_eq!(
        usage_json(&u, None),
        json!({
            "prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 1}
        })
    );
    assert_eq!(usage_json(&u, Some(0.5))["cost"], json!(0.5));
}

fn stream_events() -> Vec<StreamEvent> {
    use StreamEvent::*;
    vec![
        Start {
            id: Some("msg_1".into()),
            model: Some("claude".into()),
        },
        BlockStart {
            index: 0,
            block: arouter_core::model::BlockStart::Thinking,
        },
        BlockDelta {
            index: 0,
            delta: arouter_core::model::BlockDelta::Thinking("Hm".into()),
        },
        BlockDelta {
            index: 0,
            delta: arouter_core::model::BlockDelta::Signature("sig".into()),
        },
        BlockStop { index: 0 },
        BlockStart {
            index: 1,
            block: arouter_core::model::BlockStart::Text,
        },
        BlockDelta {
            index: 1,
            delta: arouter_core::model::BlockDelta::Text("Hi".into()),
        },
        BlockStop { index: 1 },
        BlockStart {
            index: 2,
            block: arouter_core::model::BlockStart::ToolUse {
                id: "call_1".into(),
                name: "f".into(),
            },
        },
        BlockDelta {
            index: 2,
            delta: arouter_core::model::BlockDelta::ToolInput("{\"a\":".into()),
        },
        BlockDelta {
            index: 2,
            delta: arouter_core::model::BlockDelta::ToolInput("1}".into()),
        },
        BlockStop { index: 2 },
        BlockStart {
            index: 3,
            block: arouter_core::model::BlockStart::ToolUse {
                id: "call_2".into(),
                name: "g".into(),
            },
        },
        BlockDelta {
            index: 3,
            delta: arouter_core::model::BlockDelta::ToolInput("{}".into()),
        },
        BlockStop { index: 3 },
        Usage(arouter_core::model::Usage {
            input_tokens: 10,
            output_tokens: 5,
            reasoning_tokens: 2,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
        }),
        Finish {
            reason: StopReason::ToolCalls,
            native: Some("tool_use".into()),
            stop_sequence: None,
        },
    ]
}

fn encode_all(include_reasoning: bool) -> Vec<Value> {
    let mut enc = ChunkEncoder::new(ids(include_reasoning));
    let mut out = Vec::new();
    for ev in stream_events() {
        enc.encode(&ev, &mut out);
    }
    out.push(enc.finish_chunk(Some(0.001)));
    out
}

#[test]
fn chunk_encoder_matches_golden() {
    let got = encode_all(true);
    assert_eq!(Value::Array(got), fixture_json("golden_chunks.json"));
}

#[test]
fn chunk_encoder_skips_reasoning_when_excluded() {
    let got = encode_all(false);
    assert!(got.iter().all(|c| {
        let delta = &c["choices"][0]["delta"];
        delta.get("reasoning").is_none() && delta.get("reasoning_details").is_none()
    }));
    // role, text, 2 tool starts, 3 argument fragments, finish, usage
    assert_eq!(got.len(), 9);
}

#[test]
fn error_chunk_and_body_use_openrouter_shape() {
    let err = ApiError::new(ErrorKind::UpstreamError, "up: boom")
        .with_metadata(json!({"provider_name": "up"}));
    let chunk = stream_error_chunk(&err, "gen-1", "a/m", 7, false);
    assert_eq!(chunk["object"], json!("chat.completion.chunk"));
    assert_eq!(chunk["id"], json!("gen-1"));
    assert_eq!(chunk["model"], json!("a/m"));
    assert_eq!(
        chunk["error"],
        json!({"code": 502, "message": "up: boom", "metadata": {"provider_name": "up"}})
    );
    assert_eq!(chunk["choices"][0]["finish_reason"], json!("error"));
    assert_eq!(chunk["choices"][0]["delta"], json!({"content": ""}));
    let legacy = stream_error_chunk(&err, "gen-1", "a/m", 7, true);
    assert_eq!(legacy["object"], json!("text_completion"));
    assert_eq!(legacy["choices"][0]["text"], json!(""));

    let body = error_body(&ApiError::bad_request(
        "messages: must be a non-empty array",
    ));
    assert_eq!(
        body,
        json!({"error": {"code": 400, "message": "messages: must be a non-empty array"}})
    );
}

// ---------------------------------------------------------------- adapter: build

#[test]
fn build_sets_url_headers_and_body() {
    let p = provider("https://api.openai.com/v1");
    let req = rich();
    let up = adapter::build(&req, &target(&p, "gpt-4o", Some("sk-test"))).unwrap();
    assert_eq!(up.url, "https://api.openai.com/v1/chat/completions");
    assert!(up
        .headers
        .contains(&("authorization", "Bearer sk-test".to_string())));
    assert!(up
        .headers
        .contains(&("content-type", "application/json".to_string())));
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(body["model"], json!("gpt-4o"));
    assert_eq!(body["max_tokens"], json!(512));
    assert!(body.get("max_completion_tokens").is_none());
    assert!(body.get("top_k").is_none(), "api.openai.com rejects top_k");
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["reasoning_effort"], json!("high"));
    assert_eq!(body["service_tier"], json!("flex"));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(body["stop"], json!(["\n\n\n"]));
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are terse.\n\nPrefer metric units."})
    );
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "user"]
    );
    let assistant = &body["messages"][2];
    assert!(assistant.get("reasoning").is_none());
    assert!(assistant.get("reasoning_details").is_none());
    assert_eq!(
        body["messages"][1]["content"][1]["image_url"],
        json!({"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"})
    );
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"})
    );
}

#[test]
fn build_picks_token_field_and_omits_key_and_tool_options() {
    let p = provider("http://127.0.0.1:11434/v1");
    let mut req = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![text("hi")],
        }],
        max_tokens: Some(1000),
        top_k: Some(5),
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(false),
        reasoning: Some(arouter_core::model::Reasoning {
            max_tokens: Some(800),
            ..Default::default()
        }),
        ..Default::default()
    };
    let up = adapter::build(&req, &target(&p, "o3-mini", None)).unwrap();
    assert!(up.headers.iter().all(|(name, _)| *name != "authorization"));
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(body["max_completion_tokens"], json!(1000));
    assert_eq!(body["top_k"], json!(5));
    assert_eq!(
        body["reasoning_effort"],
        json!("high"),
        "800 of 1000 tokens"
    );
    assert!(body.get("tool_choice").is_none());
    assert!(body.get("parallel_tool_calls").is_none());
    assert!(body.get("stream").is_none());
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));

    req.reasoning = None;
    let body: Value = serde_json::from_slice(
        &adapter::build(&req, &target(&p, "gpt-5-mini", None))
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(body["max_completion_tokens"], json!(1000));
    assert!(body.get("reasoning_effort").is_none());
}

#[test]
fn hub_to_wire_to_hub_round_trip_keeps_messages_and_tools() {
    let p = provider("https://openrouter.ai/api/v1");
    let original = rich();
    let up = adapter::build(&original, &target(&p, "openai/gpt-4o", None)).unwrap();
    let wire: Value = serde_json::from_slice(&up.body).unwrap();
    let back = to_internal(&wire).expect("our own request parses as inbound");

    // Thinking is dropped on the OpenAI wire; everything else survives.
    let mut expected = original.messages.clone();
    expected[1]
        .content
        .retain(|p| !matches!(p, Part::Thinking { .. } | Part::RedactedThinking { .. }));
    assert_eq!(back.messages, expected);
    assert_eq!(back.tools, original.tools);
    assert_eq!(back.tool_choice, original.tool_choice);
    assert_eq!(back.response_format, original.response_format);
    assert_eq!(back.top_k, original.top_k);
    assert_eq!(back.max_tokens, original.max_tokens);
    assert_eq!(back.stop, original.stop);
    assert_eq!(
        back.system,
        vec![text("You are terse.\n\nPrefer metric units.")]
    );
}

// ---------------------------------------------------------------- adapter: parse

#[test]
fn parse_reads_tools_reasoning_content_and_cached_usage() {
    let resp = adapter::parse("deepseek", &fixture("response_tools.json")).unwrap();
    assert_eq!(resp.id, "chatcmpl-R2");
    assert_eq!(resp.model, "deepseek-chat");
    assert_eq!(
        resp.content,
        vec![
            Part::Thinking {
                text: "Need the weather tool.".into(),
                signature: None
            },
            text("Let me check."),
            tool_use("call_a", "get_weather", "{\"city\":\"Paris\"}"),
            tool_use("call_b", "get_time", ""),
        ]
    );
    assert_eq!(resp.stop_reason, StopReason::ToolCalls);
    assert_eq!(resp.native_stop_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        resp.usage,
        Usage {
            input_tokens: 100,
            output_tokens: 25,
            reasoning_tokens: 7,
            cache_read_tokens: 64,
            cache_write_tokens: 0,
        }
    );
}

#[test]
fn parse_prefers_reasoning_details_with_signatures() {
    let resp = adapter::parse("openrouter", &fixture("response_reasoning_details.json")).unwrap();
    assert_eq!(
        resp.content,
        vec![
            Part::Thinking {
                text: "Let me think.".into(),
                signature: Some(Signed::new(Dialect::OpenAi, "EqQBCkgI"))
            },
            Part::RedactedThinking {
                data: Signed::new(Dialect::OpenAi, "c2VjcmV0")
            },
            text("42."),
        ]
    );
    assert_eq!(resp.stop_reason, StopReason::Stop);
    assert_eq!(resp.usage.cache_write_tokens, 5);
    assert_eq!(resp.usage.cache_read_tokens, 10);
}

#[test]
fn parse_rejects_garbage_and_maps_finish_reasons() {
    for body in [&b"<html>oops</html>"[..], b"{}", b"{\"choices\": []}"] {
        let err = adapter::parse("up", body).unwrap_err();
        assert_eq!(err.status, 502, "{}", String::from_utf8_lossy(body));
        assert!(err.message.contains("invalid response body"));
    }
    let with = |reason: &str| {
        let body = json!({"id": "x", "model": "m", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "t"}, "finish_reason": reason}]});
        adapter::parse("up", body.to_string().as_bytes())
            .unwrap()
            .stop_reason
    };
    assert_eq!(with("stop"), StopReason::Stop);
    assert_eq!(with("length"), StopReason::Length);
    assert_eq!(with("content_filter"), StopReason::ContentFilter);
    assert_eq!(with("function_call"), StopReason::ToolCalls);
    assert_eq!(with("tool_calls"), StopReason::ToolCalls);
}

#[test]
fn parse_error_reads_openai_openrouter_and_plain_bodies() {
    let err = adapter::parse_error("openai", 400, &fixture("error_openai.json"));
    assert_eq!(err.kind, ErrorKind::ContextLength);
    assert_eq!(err.status, 400);
    assert!(err
        .message
        .starts_with("openai: This model's maximum context length"));
    assert_eq!(
        err.metadata.as_ref().unwrap()["provider_name"],
        json!("openai")
    );

    let err = adapter::parse_error("openrouter", 429, &fixture("error_openrouter.json"));
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert_eq!(
        err.message,
        "openrouter: Rate limit exceeded: free-models-per-min"
    );

    let err = adapter::parse_error("ollama", 404, br#"{"error":"model \"llama9\" not found"}"#);
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.message, "ollama: model \"llama9\" not found");

    let err = adapter::parse_error("vllm", 500, b"Internal Server Error");
    assert_eq!(err.status, 500);
    assert_eq!(err.message, "vllm: Internal Server Error");
}

// ---------------------------------------------------------------- adapter: stream decoder

/// Decodes `input` cut once at `cut`, returning the events and the error, if any.
fn decode(input: &[u8], cut: usize) -> (Vec<StreamEvent>, Option<ApiError>) {
    let mut sse = SseDecoder::new();
    let mut dec = Decoder::new("up");
    let mut events = Vec::new();
    let mut raw = Vec::new();
    sse.push(&input[..cut], &mut raw);
    sse.push(&input[cut..], &mut raw);
    sse.finish(&mut raw);
    for ev in &raw {
        if let Err(e) = dec.event(ev, &mut events) {
            return (events, Some(e));
        }
    }
    match dec.finish(&mut events) {
        Ok(()) => (events, None),
        Err(e) => (events, Some(e)),
    }
}

/// Every 2-way byte split gives what the whole input gives.
fn decode_all_splits(name: &str) -> (Vec<StreamEvent>, Option<ApiError>) {
    let input = fixture(name);
    let whole = decode(&input, input.len());
    for cut in 0..input.len() {
        assert_eq!(decode(&input, cut), whole, "{name} cut at byte {cut}");
    }
    whole
}

fn assert_well_formed(events: &[StreamEvent]) {
    let mut open: Option<usize> = None;
    let mut next = 0;
    for ev in events {
        match ev {
            StreamEvent::BlockStart { index, .. } => {
                assert_eq!(open, None, "block {index} starts while another is open");
                assert_eq!(*index, next, "block indexes are dense");
                open = Some(*index);
                next += 1;
            }
            StreamEvent::BlockDelta { index, .. } => assert_eq!(open, Some(*index)),
            StreamEvent::BlockStop { index } => {
                assert_eq!(open, Some(*index));
                open = None;
            }
            _ => {}
        }
    }
    assert_eq!(open, None, "every block is closed");
}

#[test]
fn text_stream_decodes() {
    let (events, err) = decode_all_splits("stream_text.sse");
    assert!(err.is_none());
    assert_well_formed(&events);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: Some("chatcmpl-AbC1".into()),
                model: Some("gpt-4o-mini-2024-07-18".into())
            },
            StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Text
            },
            StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("Hél".into())
            },
            StreamEvent::BlockDelta {
                index: 0,
                delta: BlockDelta::Text("lo 👋".into())
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::Usage(Usage {
                input_tokens: 12,
                output_tokens: 3,
                ..Default::default()
            }),
            StreamEvent::Finish {
                reason: StopReason::Stop,
                native: Some("stop".into()),
                stop_sequence: None
            },
        ]
    );
}

#[test]
fn parallel_tool_call_stream_decodes_into_two_blocks_with_valid_json() {
    let (events, err) = decode_all_splits("stream_tools.sse");
    assert!(err.is_none());
    assert_well_formed(&events);
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for ev in &events {
        match ev {
            StreamEvent::BlockStart {
                block: BlockStart::ToolUse { id, name },
                ..
            } => calls.push((id.clone(), name.clone(), String::new())),
            StreamEvent::BlockDelta {
                delta: BlockDelta::ToolInput(fragment),
                ..
            } => calls
                .last_mut()
                .expect("a call is open")
                .2
                .push_str(fragment),
            _ => {}
        }
    }
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0, "call_paris");
    assert_eq!(calls[1].0, "call_oslo");
    let args: Vec<Value> = calls
        .iter()
        .map(|c| serde_json::from_str(&c.2).expect("arguments are valid JSON"))
        .collect();
    assert_eq!(args, [json!({"city": "Paris"}), json!({"city": "Oslo"})]);
    let tail = &events[events.len() - 2..];
    assert_eq!(
        tail,
        [
            StreamEvent::Usage(Usage {
                input_tokens: 80,
                output_tokens: 40,
                cache_read_tokens: 64,
                ..Default::default()
            }),
            StreamEvent::Finish {
                reason: StopReason::ToolCalls,
                native: Some("tool_calls".into()),
                stop_sequence: None
            },
        ]
    );
}

#[test]
fn openrouter_reasoning_stream_keeps_signature_and_does_not_double_text() {
    let (events, err) = decode_all_splits("stream_reasoning.sse");
    assert!(err.is_none());
    assert_well_formed(&events);
    let deltas: Vec<&BlockDelta> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::BlockDelta { delta, .. } => Some(delta),
            _ => None,
        })
        .collect();
    assert_eq!(
        deltas,
        [
            &BlockDelta::Thinking("Let me ".into()),
            &BlockDelta::Thinking("think.".into()),
            &BlockDelta::Signature("EqQBCkgIARABGAIiQ".into()),
            &BlockDelta::Text("42.".into()),
        ]
    );
    assert!(events.contains(&StreamEvent::BlockStart {
        index: 0,
        block: BlockStart::Thinking
    }));
    assert!(events.contains(&StreamEvent::Usage(Usage {
        input_tokens: 30,
        output_tokens: 20,
        reasoning_tokens: 12,
        cache_read_tokens: 10,
        cache_write_tokens: 5,
    })));
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Finish {
            reason: StopReason::Stop,
            native: Some("stop".into()),
            stop_sequence: None
        })
    );
}

#[test]
fn deepseek_stream_without_done_ends_cleanly_after_finish_reason() {
    let (events, err) = decode_all_splits("stream_deepseek.sse");
    assert!(
        err.is_none(),
        "finish_reason seen: a missing [DONE] is fine"
    );
    assert_well_formed(&events);
    assert!(events.contains(&StreamEvent::BlockDelta {
        index: 0,
        delta: BlockDelta::Thinking("Hmm".into())
    }));
    assert!(events.contains(&StreamEvent::BlockDelta {
        index: 1,
        delta: BlockDelta::Text("Yes".into())
    }));
    let n = events.len();
    assert_eq!(
        events[n - 2],
        StreamEvent::Usage(Usage {
            input_tokens: 5,
            output_tokens: 9,
            reasoning_tokens: 4,
            cache_read_tokens: 3,
            cache_write_tokens: 0,
        })
    );
    assert_eq!(
        events[n - 1],
        StreamEvent::Finish {
            reason: StopReason::Length,
            native: Some("length".into()),
            stop_sequence: None
        }
    );
}

#[test]
fn error_chunk_becomes_an_error() {
    let (events, err) = decode_all_splits("stream_error.sse");
    let err = err.expect("the error chunk fails the stream");
    assert_eq!(err.status, 502);
    assert!(err.is_retryable());
    assert_eq!(err.message, "up: Provider disconnected unexpectedly");
    assert!(events.contains(&StreamEvent::BlockDelta {
        index: 0,
        delta: BlockDelta::Text("Part".into())
    }));
}

#[test]
fn dropped_stream_is_an_error_after_closing_blocks() {
    let (events, err) = decode_all_splits("stream_dropped.sse");
    let err = err.expect("no finish_reason and no [DONE]");
    assert_eq!(err.status, 502);
    assert!(err.message.contains("stream ended early"));
    assert_well_formed(&events);
    assert_eq!(events.last(), Some(&StreamEvent::BlockStop { index: 0 }));
}

#[test]
fn non_json_chunk_is_an_error() {
    let (_, err) = decode(b"data: {not json\n\n", 0);
    assert!(err.unwrap().message.contains("invalid response body"));
}

#[test]
fn whole_tool_calls_reusing_index_zero_become_separate_blocks() {
    // Gemini's OpenAI endpoint and Ollama send complete calls, each at index 0.
    let stream = concat!(
        "data: {\"id\":\"g\",\"model\":\"gemini-2.5-flash\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}}]}}]}\n\n",
        "data: {\"id\":\"g\",\"model\":\"gemini-2.5-flash\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let (events, err) = decode(stream.as_bytes(), 0);
    assert!(err.is_none());
    assert_well_formed(&events);
    let starts: Vec<&BlockStart> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::BlockStart { block, .. } => Some(block),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        [
            &BlockStart::ToolUse {
                id: "a".into(),
                name: "f".into()
            },
            &BlockStart::ToolUse {
                id: "b".into(),
                name: "g".into()
            },
        ]
    );
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Finish {
            reason: StopReason::ToolCalls,
            native: Some("stop".into()),
            stop_sequence: None
        }),
        "\"stop\" after tool calls means tool_calls"
    );
}
