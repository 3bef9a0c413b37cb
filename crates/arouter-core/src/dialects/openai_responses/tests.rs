//! Fixture tests of the Responses dialect: Codex-shaped requests into the hub, hub answers and
//! streams out in OpenAI's exact event order, upstream streams and errors back into the hub.

use super::custom::CustomTools;
use super::response::Meta;
use super::*;
use crate::error::{ApiError, ErrorKind};
use crate::model::{
    BlockDelta, BlockStart, ChatResponse, Dialect, Part, Role, Signed, StopReason, StreamEvent,
    Usage,
};
use crate::providers::StreamDecoder;
use crate::sse::SseEvent;
use serde_json::{json, Value};

fn hub(body: Value) -> request::HubRequest {
    let req = request::parse(body.to_string().as_bytes()).unwrap();
    let items = req.input.clone().unwrap().into_items();
    request::to_hub(&req, &items).unwrap()
}

fn hub_err(body: Value) -> ApiError {
    let req = request::parse(body.to_string().as_bytes()).unwrap();
    let items = req.input.clone().unwrap().into_items();
    request::to_hub(&req, &items).unwrap_err()
}

fn meta(tools: CustomTools, issuer: Dialect) -> Meta {
    Meta {
        id: "resp_abc".into(),
        model: "anthropic/claude".into(),
        created_at: 1_700_000_000,
        echo: request::echo(&wire::Request::default()),
        issuer,
        tools,
        include_encrypted: true,
    }
}

#[test]
fn string_input_is_one_user_message() {
    let h = hub(json!({"model": "m", "input": "hi", "instructions": "be brief"}));
    assert_eq!(h.chat.system, vec![Part::text("be brief")]);
    assert_eq!(h.chat.messages.len(), 1);
    assert_eq!(h.chat.messages[0].role, Role::User);
    assert_eq!(h.chat.messages[0].content, vec![Part::text("hi")]);
}

#[test]
fn codex_turn_with_shell_call_and_apply_patch_maps_to_hub() {
    let h = hub(json!({
        "model": "anthropic/claude",
        "instructions": "sys",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ctx"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "do it"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "plan"}],
             "encrypted_content": "arouter:anthropic:SIG"},
            {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
            {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done"},
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
            {"type": "custom", "name": "apply_patch", "description": "patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "high", "summary": "auto"},
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "k",
    }));
    let c = &h.chat;
    assert_eq!(c.system, vec![Part::text("sys"), Part::text("dev")]);
    assert!(c.reasoning.as_ref().unwrap().is_on());
    assert_eq!(c.extra.get("prompt_cache_key"), Some(&json!("k")));
    assert_eq!(c.tools.len(), 2);
    assert_eq!(c.tools[1].name, "apply_patch");
    assert_eq!(c.tools[1].parameters["required"], json!(["input"]));
    assert!(c.tools[1]
        .description
        .as_ref()
        .unwrap()
        .contains("start: x"));
    assert!(h.tools.contains("apply_patch") && !h.tools.contains("exec_command"));
    // user, assistant (thinking + call), user (result), assistant (custom call), user (result)
    let roles: Vec<Role> = c.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    assert_eq!(c.messages[0].content.len(), 2);
    assert_eq!(
        c.messages[1].content[0],
        Part::Thinking {
            text: "plan".into(),
            signature: Some(Signed::new(Dialect::Anthropic, "SIG"))
        }
    );
    assert!(matches!(&c.messages[2].content[0],
        Part::ToolResult { tool_use_id, name: Some(n), .. } if tool_use_id == "call_1" && n == "exec_command"));
    match &c.messages[3].content[0] {
        Part::ToolUse { arguments, .. } => {
            assert_eq!(
                serde_json::from_str::<Value>(arguments).unwrap(),
                json!({"input": "*** Begin Patch"})
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn openai_encrypted_reasoning_reaches_only_responses_upstreams() {
    let item = json!({"type": "reasoning", "id": "rs_9", "summary": [{"type": "summary_text", "text": "s"}],
                      "encrypted_content": "gAAAA-openai"});
    let h = hub(json!({"model": "m", "input": [
        {"role": "user", "content": "q"}, item.clone(), {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}]}));
    let assistant = &h.chat.messages[1].content;
    assert_eq!(
        assistant[0],
        Part::Unknown {
            dialect: Dialect::OpenAiResponses,
            value: item.clone()
        }
    );
    assert_eq!(
        assistant[1],
        Part::Thinking {
            text: "s".into(),
            signature: None
        }
    );
    // To a Responses upstream the item goes verbatim; the plain summary is not replayed.
    let body = upstream::request_body(&h.chat, "gpt-5-codex").unwrap();
    let input = body["input"].as_array().unwrap();
    assert_eq!(input[1], item);
    assert_eq!(input[2]["type"], "message");
    assert_eq!(input[2]["content"][0]["type"], "output_text");
    assert_eq!(body["store"], false);
}

#[test]
fn built_in_tools_are_a_400_naming_the_tool() {
    let e = hub_err(json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}));
    assert_eq!(e.status, 400);
    assert!(
        e.message.contains("tools[0].type") && e.message.contains("\"web_search\""),
        "{}",
        e.message
    );
    let e = hub_err(
        json!({"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]}),
    );
    assert!(e.message.contains("file_search"));
}

#[test]
fn namespace_tools_flatten_and_calls_carry_the_namespace() {
    let h = hub(json!({"model": "m", "input": "x", "tools": [
        {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}}]}]}));
    assert_eq!(h.chat.tools[0].name, "spawn");
    let m = meta(h.tools, Dialect::Anthropic);
    let item = m.call_item(0, "c1", "spawn", "{}", "completed");
    assert_eq!(item["namespace"], "agents");
    assert_eq!(item["type"], "function_call");
}

#[test]
fn text_format_and_params() {
    let h = hub(
        json!({"model": "m", "input": "x", "max_output_tokens": 50, "temperature": 0.2,
        "text": {"format": {"type": "json_schema", "name": "p", "schema": {"type": "object"}, "strict": true}, "verbosity": "low"}}),
    );
    assert_eq!(h.chat.max_tokens, Some(50));
    assert_eq!(h.chat.temperature, Some(0.2));
    assert!(
        matches!(&h.chat.response_format, Some(crate::model::ResponseFormat::JsonSchema { name, strict: Some(true), .. }) if name == "p")
    );
    assert_eq!(h.chat.extra["verbosity"], "low");
}

#[test]
fn missing_model_and_bad_items_are_400s() {
    assert_eq!(request::parse(br#"{"input":"x"}"#).unwrap_err().status, 400);
    let e = hub_err(json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}));
    assert!(e.message.starts_with("input[0]"), "{}", e.message);
    let e = hub_err(
        json!({"model": "m", "input": [{"type": "message", "role": "robot", "content": "x"}]}),
    );
    assert!(e.message.contains("input[0].role"), "{}", e.message);
}

fn collect(events: &[StreamEvent], m: Meta) -> Vec<Value> {
    let mut enc = Encoder::new(m);
    let mut out = Vec::new();
    for ev in events {
        enc.encode(ev, &mut out);
    }
    enc.finish(&mut out);
    out
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[test]
fn stream_encoder_emits_openais_exact_sequence() {
    let mut tools = CustomTools::default();
    tools.add("apply_patch");
    let events = vec![
        StreamEvent::Start {
            id: None,
            model: None,
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Thinking,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Thinking("think".into()),
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Signature("SIG".into()),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::Text("Hel".into()),
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: BlockDelta::Text("lo".into()),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::BlockStart {
            index: 2,
            block: BlockStart::ToolUse {
                id: "call_1".into(),
                name: "exec_command".into(),
            },
        },
        StreamEvent::BlockDelta {
            index: 2,
            delta: BlockDelta::ToolInput("{\"cmd\":".into()),
        },
        StreamEvent::BlockDelta {
            index: 2,
            delta: BlockDelta::ToolInput("\"ls\"}".into()),
        },
        StreamEvent::BlockStop { index: 2 },
        StreamEvent::BlockStart {
            index: 3,
            block: BlockStart::ToolUse {
                id: "call_2".into(),
                name: "apply_patch".into(),
            },
        },
        StreamEvent::BlockDelta {
            index: 3,
            delta: BlockDelta::ToolInput("{\"input\":\"*** Begin\\nPatch\"}".into()),
        },
        StreamEvent::BlockStop { index: 3 },
        StreamEvent::Usage(Usage {
            input_tokens: 10,
            output_tokens: 5,
            reasoning_tokens: 2,
            cache_read_tokens: 4,
            cache_write_tokens: 0,
        }),
        StreamEvent::Finish {
            reason: StopReason::ToolCalls,
            native: None,
            stop_sequence: None,
        },
    ];
    let out = collect(&events, meta(tools, Dialect::Anthropic));
    assert_eq!(
        types(&out),
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, e) in out.iter().enumerate() {
        assert_eq!(e["sequence_number"], json!(i));
    }
    assert_eq!(out[0]["response"]["status"], "in_progress");
    assert_eq!(out[7]["item"]["encrypted_content"], "arouter:anthropic:SIG");
    assert_eq!(out[12]["text"], "Hello");
    assert_eq!(out[18]["arguments"], "{\"cmd\":\"ls\"}");
    assert_eq!(out[22]["input"], "*** Begin\nPatch");
    assert_eq!(out[23]["item"]["type"], "custom_tool_call");
    let done = &out[24]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"].as_array().unwrap().len(), 4);
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
               "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15})
    );
    // Item ids are consistent between added, deltas and done.
    assert_eq!(out[9]["item_id"], out[8]["item"]["id"]);
    assert_eq!(out[14]["item"]["id"], out[8]["item"]["id"]);
}

#[test]
fn stream_at_token_cap_ends_incomplete() {
    let events = vec![
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Text("x".into()),
        },
        StreamEvent::Finish {
            reason: StopReason::Length,
            native: None,
            stop_sequence: None,
        },
    ];
    let out = collect(&events, meta(CustomTools::default(), Dialect::OpenAi));
    let last = out.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    // The open text block was closed before the terminal event.
    assert!(types(&out).contains(&"response.output_item.done"));
}

#[test]
fn failure_mid_stream_is_response_failed_with_codex_codes() {
    let mut enc = Encoder::new(meta(CustomTools::default(), Dialect::OpenAi));
    let mut out = Vec::new();
    enc.encode(
        &StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        &mut out,
    );
    let mut err = ApiError::new(ErrorKind::RateLimited, "slow down");
    err.retry_after = Some(7);
    enc.fail(&err, &mut out);
    enc.finish(&mut out);
    let last = out.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["code"], "rate_limit_exceeded");
    assert!(last["response"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("try again in 7s"));
    let ctx = errors::response_error(&ApiError::new(ErrorKind::ContextLength, "too long"));
    assert_eq!(ctx["code"], "context_length_exceeded");
    let quota = errors::error_body(&ApiError::new(ErrorKind::PaymentRequired, "no credits"));
    assert_eq!(quota["error"]["code"], "insufficient_quota");
}

#[test]
fn unary_response_renders_items_and_custom_calls() {
    let mut tools = CustomTools::default();
    tools.add("apply_patch");
    let resp = ChatResponse {
        id: "x".into(),
        model: "m".into(),
        content: vec![
            Part::Thinking {
                text: "t".into(),
                signature: Some(Signed::new(Dialect::Gemini, "S")),
            },
            Part::text("a"),
            Part::text("b"),
            Part::ToolUse {
                id: "c1".into(),
                name: "apply_patch".into(),
                arguments: "{\"input\":\"P\"}".into(),
                signature: None,
            },
        ],
        stop_reason: StopReason::ToolCalls,
        native_stop_reason: None,
        stop_sequence: None,
        usage: Usage {
            input_tokens: 3,
            output_tokens: 4,
            ..Usage::default()
        },
    };
    let obj = response::from_hub(&resp, &meta(tools, Dialect::Gemini));
    assert_eq!(obj["object"], "response");
    assert_eq!(obj["status"], "completed");
    let output = obj["output"].as_array().unwrap();
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(output[0]["encrypted_content"], "arouter:gemini:S");
    assert_eq!(output[1]["content"].as_array().unwrap().len(), 2);
    assert_eq!(
        output[2],
        json!({"id": "ctc_abc_2", "type": "custom_tool_call", "status": "completed", "call_id": "c1", "name": "apply_patch", "input": "P"})
    );
    assert_eq!(obj["usage"]["total_tokens"], 7);
}

fn sse_event(v: Value) -> SseEvent {
    SseEvent {
        event: v["type"].as_str().map(str::to_string),
        data: v.to_string(),
    }
}

fn decode(events: Vec<Value>) -> (Vec<StreamEvent>, Result<(), ApiError>) {
    let mut d = Decoder::new("openai");
    let mut out = Vec::new();
    for e in events {
        if let Err(e) = d.event(&sse_event(e), &mut out) {
            return (out, Err(e));
        }
    }
    let r = d.finish(&mut out);
    (out, r)
}

#[test]
fn decoder_reads_an_openai_stream_into_hub_events() {
    let (out, r) = decode(vec![
        json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_u", "model": "gpt-5", "status": "in_progress", "output": []}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 0, "delta": "a"}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "summary_index": 1, "delta": "b"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "message", "id": "m", "role": "assistant", "content": []}}),
        json!({"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": "Hi"}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "message"}}),
        json!({"type": "response.output_item.added", "output_index": 2, "item": {"type": "function_call", "call_id": "call_9", "name": "f", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 2, "delta": "{}"}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": {"type": "function_call", "call_id": "call_9", "name": "f", "arguments": "{}"}}),
        json!({"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 1}, "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 12}}}),
    ]);
    r.unwrap();
    assert_eq!(
        out[0],
        StreamEvent::Start {
            id: Some("resp_u".into()),
            model: Some("gpt-5".into())
        }
    );
    assert_eq!(
        out[1],
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Thinking
        }
    );
    assert_eq!(
        out[3],
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Thinking("\n\nb".into())
        }
    );
    assert!(out.contains(&StreamEvent::BlockDelta {
        index: 1,
        delta: BlockDelta::Text("Hi".into())
    }));
    assert!(out.contains(&StreamEvent::BlockStart {
        index: 2,
        block: BlockStart::ToolUse {
            id: "call_9".into(),
            name: "f".into()
        }
    }));
    // arguments streamed once, not repeated from output_item.done
    let inputs = out
        .iter()
        .filter(|e| {
            matches!(
                e,
                StreamEvent::BlockDelta {
                    delta: BlockDelta::ToolInput(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(inputs, 1);
    assert_eq!(
        out[out.len() - 2],
        StreamEvent::Usage(Usage {
            input_tokens: 9,
            output_tokens: 3,
            reasoning_tokens: 2,
            cache_read_tokens: 1,
            cache_write_tokens: 0
        })
    );
    assert!(matches!(
        out.last(),
        Some(StreamEvent::Finish {
            reason: StopReason::ToolCalls,
            ..
        })
    ));
}

#[test]
fn decoder_errors_keep_openai_codes_and_dropped_streams_fail() {
    let (_, r) = decode(vec![
        json!({"type": "response.failed", "response": {"status": "failed",
        "error": {"code": "context_length_exceeded", "message": "too long"}}}),
    ]);
    let e = r.unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContextLength);
    assert_eq!(
        errors::response_error(&e)["code"],
        "context_length_exceeded"
    );
    let (_, r) = decode(vec![
        json!({"type": "response.created", "response": {"id": "r"}}),
    ]);
    assert!(r.unwrap_err().message.contains("before response.completed"));
    let (out, r) = decode(vec![
        json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}),
    ]);
    r.unwrap();
    assert!(matches!(
        out.last(),
        Some(StreamEvent::Finish {
            reason: StopReason::Length,
            ..
        })
    ));
}

#[test]
fn upstream_unary_body_to_hub() {
    let body = json!({"id": "resp_1", "model": "gpt-5", "status": "completed", "output": [
        {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "why"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok", "annotations": []}]},
        {"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": "P"},
    ], "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}});
    let r = response::to_hub("openai", body.to_string().as_bytes()).unwrap();
    assert_eq!(
        r.content[0],
        Part::Thinking {
            text: "why".into(),
            signature: None
        }
    );
    assert_eq!(r.content[1], Part::text("ok"));
    assert_eq!(r.stop_reason, StopReason::ToolCalls);
    assert_eq!(r.usage.output_tokens, 2);
    let e = errors::parse_error("openai", 429, br#"{"error":{"message":"Rate limit reached. Please try again in 2s.","type":"requests","code":"rate_limit_exceeded"}}"#);
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(
        errors::error_body(&e)["error"]["code"],
        "rate_limit_exceeded"
    );
    let e = errors::parse_error(
        "openai",
        429,
        br#"{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
    );
    assert_eq!(
        errors::error_body(&e)["error"]["code"],
        "insufficient_quota"
    );
}

#[test]
fn hub_request_to_responses_wire_for_chat_callers() {
    use crate::model::{ChatRequest, Effort, Message, Reasoning, Tool, ToolChoice};
    let req = ChatRequest {
        system: vec![Part::text("s")],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![Part::text("q")],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking {
                        text: "t".into(),
                        signature: Some(Signed::new(Dialect::Anthropic, "anthropic-sig")),
                    },
                    Part::ToolUse {
                        id: "c1".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                        signature: None,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![Part::ToolResult {
                    tool_use_id: "c1".into(),
                    name: None,
                    content: vec![Part::text("r")],
                    is_error: false,
                }],
            },
        ],
        tools: vec![Tool {
            name: "f".into(),
            description: None,
            parameters: json!({"type": "object"}),
            strict: None,
            cache_control: None,
        }],
        tool_choice: Some(ToolChoice::Named("f".into())),
        max_tokens: Some(100),
        reasoning: Some(Reasoning {
            effort: Some(Effort::Low),
            ..Reasoning::default()
        }),
        stream: true,
        ..ChatRequest::default()
    };
    let body = upstream::request_body(&req, "gpt-5-pro").unwrap();
    assert_eq!(body["instructions"], "s");
    assert_eq!(body["max_output_tokens"], 100);
    assert_eq!(
        body["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "name": "f"})
    );
    assert_eq!(body["tools"][0]["strict"], false);
    assert_eq!(body["stream"], true);
    let input = body["input"].as_array().unwrap();
    assert_eq!(input.len(), 3, "{input:?}");
    assert_eq!(
        input[1],
        json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"})
    );
    assert_eq!(
        input[2],
        json!({"type": "function_call_output", "call_id": "c1", "output": "r"})
    );
}

#[test]
fn wire_responses_is_set_per_provider_or_per_model() {
    use crate::config::Config;
    let cfg = Config::parse(
        "[providers.oa]\nkind=\"openai\"\nbase_url=\"http://x/v1\"\n\
         [providers.oar]\nkind=\"openai\"\nbase_url=\"http://y/v1\"\nwire=\"responses\"\n\
         [models.\"oa/gpt-5-pro\"]\nwire=\"responses\"\n\
         [models.\"oar/gpt-4o\"]\nwire=\"chat\"\n",
    )
    .unwrap();
    let (oa, oar) = (&cfg.providers["oa"], &cfg.providers["oar"]);
    assert!(!cfg.speaks_responses(oa, "gpt-4o-mini"));
    assert!(cfg.speaks_responses(oa, "gpt-5-pro"));
    assert!(cfg.speaks_responses(oar, "gpt-5-codex"));
    assert!(!cfg.speaks_responses(oar, "gpt-4o"));
    assert!(cfg.models.is_empty(), "wire-only tables override no price");
    let e = Config::parse(
        "[providers.an]\nkind=\"anthropic\"\nbase_url=\"http://x\"\nwire=\"responses\"\n",
    )
    .unwrap_err();
    assert_eq!(e.field, "providers.an.wire");
    let e =
        Config::parse("[providers.oa]\nkind=\"openai\"\nbase_url=\"http://x\"\nwire=\"grpc\"\n")
            .unwrap_err();
    assert!(e.message.contains("unknown wire"), "{e}");
}
