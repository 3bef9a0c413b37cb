//! OpenAI's Responses API (`POST /v1/responses`) for the OpenAI mock, validated as strictly as
//! the real one: unknown and Chat-only parameters, bad item types and roles, outputs without
//! their call, foreign `encrypted_content`, `previous_response_id` (the mock stores nothing, as
//! with `store: false`), unknown `include` values and `max_output_tokens` below 16 are all
//! OpenAI's own 400s. Answers follow OpenAI's exact event sequence with `sequence_number`.

use super::{
    approx_tokens, collect_text, generate, unix_now, ErrorShape, Frame, GenRequest, Output,
    RecordedRequest, Reply, Shape, State,
};
use serde_json::{json, Map, Value};

const PARAMS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "text",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "include",
    "store",
    "previous_response_id",
    "conversation",
    "stream",
    "stream_options",
    "truncation",
    "service_tier",
    "background",
    "prompt",
    "client_metadata",
];

/// Chat Completions parameters and where the Responses API moved them.
const CHAT_ONLY: &[(&str, &str)] = &[
    ("messages", "input"),
    ("max_tokens", "max_output_tokens"),
    ("max_completion_tokens", "max_output_tokens"),
    ("response_format", "text.format"),
    ("reasoning_effort", "reasoning.effort"),
    ("verbosity", "text.verbosity"),
    ("functions", "tools"),
    ("n", ""),
    ("stop", ""),
    ("seed", ""),
    ("logit_bias", ""),
    ("frequency_penalty", ""),
    ("presence_penalty", ""),
];

const INCLUDES: &[&str] = &[
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
    "message.input_image.image_url",
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "code_interpreter_call.outputs",
    "computer_call_output.output.image_url",
];

const ITEM_TYPES: &[&str] = &[
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    "item_reference",
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "local_shell_call",
    "local_shell_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "mcp_call",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "compaction",
];

/// Request settings the response object repeats, as OpenAI's does.
const ECHOED: &[&str] = &[
    "instructions",
    "max_output_tokens",
    "parallel_tool_calls",
    "reasoning",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_p",
    "truncation",
    "user",
    "metadata",
];

/// What the mock signs its reasoning with; anything else is not OpenAI's.
const ENCRYPTED_PREFIX: &str = "enc_mock_";

fn error_json(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Reply {
    Reply::json(
        400,
        &error_json(message, "invalid_request_error", param, code),
    )
}

pub(super) fn responses(state: &State, req: &RecordedRequest) -> Result<Reply, Reply> {
    let body = req
        .json
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| {
            invalid(
                "We could not parse the JSON body of your request.",
                None,
                None,
            )
        })?;
    check_params(body)?;
    let model = match body.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => {
            return Err(invalid(
                "Missing required parameter: 'model'.",
                Some("model"),
                Some("missing_required_parameter"),
            ))
        }
    };
    if let Some(id) = body.get("previous_response_id").and_then(Value::as_str) {
        return Err(invalid(
            &format!("Previous response with id '{id}' not found."),
            Some("previous_response_id"),
            Some("previous_response_not_found"),
        ));
    }
    let input = body.get("input").filter(|v| !v.is_null()).ok_or_else(|| {
        invalid(
            "Missing required parameter: 'input'.",
            Some("input"),
            Some("missing_required_parameter"),
        )
    })?;
    if let Value::Array(items) = input {
        check_items(items)?;
    } else if !input.is_string() {
        return Err(invalid(
            "Invalid type for 'input': expected one of a string or array of input items.",
            Some("input"),
            Some("invalid_type"),
        ));
    }
    let custom = check_tools(body)?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_encrypted = body
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|i| i == "reasoning.encrypted_content"));
    let mut text = String::new();
    if let Some(Value::String(s)) = body.get("instructions") {
        text.push_str(s);
    }
    collect_text(input, &["text", "content", "output", "input"], &mut text);
    if let Value::String(s) = input {
        text.push_str(s);
    }
    let shape = Responses {
        id: format!("resp_mock{:06}", state.next_seq()),
        model,
        created: unix_now(),
        custom,
        include_encrypted,
        store: body.get("store").and_then(Value::as_bool).unwrap_or(true),
        echo: ECHOED
            .iter()
            .filter_map(|k| {
                Some((
                    k.to_string(),
                    body.get(*k).filter(|v| !v.is_null())?.clone(),
                ))
            })
            .collect(),
    };
    Ok(generate(
        state,
        &GenRequest {
            shape: &shape,
            stream,
            prompt_tokens: approx_tokens(&text),
            tool_id_prefix: "call_",
        },
    ))
}

fn check_params(body: &Map<String, Value>) -> Result<(), Reply> {
    for key in body.keys() {
        if let Some((_, moved)) = CHAT_ONLY.iter().find(|(k, _)| k == key) {
            let hint = if moved.is_empty() {
                String::new()
            } else {
                format!(" In the Responses API, this parameter has moved to '{moved}'.")
            };
            return Err(invalid(
                &format!("Unsupported parameter: '{key}'.{hint}"),
                Some(key),
                Some("unsupported_parameter"),
            ));
        }
        if !PARAMS.contains(&key.as_str()) {
            return Err(invalid(
                &format!("Unknown parameter: '{key}'."),
                Some(key),
                Some("unknown_parameter"),
            ));
        }
    }
    if let Some(n) = body.get("max_output_tokens").and_then(Value::as_u64) {
        if n < 16 {
            return Err(invalid(
                &format!("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {n} instead."),
                Some("max_output_tokens"),
                Some("integer_below_min_value"),
            ));
        }
    }
    if let Some(list) = body.get("include").and_then(Value::as_array) {
        for (i, v) in list.iter().enumerate() {
            let s = v.as_str().unwrap_or_default();
            if !INCLUDES.contains(&s) {
                return Err(invalid(
                    &format!(
                        "Invalid value: '{s}'. Supported values are: {}.",
                        INCLUDES.join(", ")
                    ),
                    Some(&format!("include[{i}]")),
                    Some("invalid_value"),
                ));
            }
        }
    }
    let streams = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if body.get("stream_options").is_some_and(|v| !v.is_null()) && !streams {
        return Err(invalid(
            "Invalid 'stream_options': only allowed when 'stream' is true.",
            Some("stream_options"),
            None,
        ));
    }
    Ok(())
}

/// Names of the custom tools; function tools must have a name and an object schema.
fn check_tools(body: &Map<String, Value>) -> Result<Vec<String>, Reply> {
    let mut custom = Vec::new();
    let Some(tools) = body.get("tools").and_then(Value::as_array) else {
        return Ok(custom);
    };
    for (i, t) in tools.iter().enumerate() {
        let kind = t.get("type").and_then(Value::as_str).unwrap_or_default();
        let name = t.get("name").and_then(Value::as_str);
        match kind {
            "function" | "custom" if name.is_none_or(str::is_empty) => {
                return Err(invalid(
                    &format!("Missing required parameter: 'tools[{i}].name'."),
                    Some(&format!("tools[{i}].name")),
                    Some("missing_required_parameter"),
                ))
            }
            "function" => {
                if t.get("function").is_some() {
                    return Err(invalid(
                        &format!("Unknown parameter: 'tools[{i}].function'."),
                        Some(&format!("tools[{i}].function")),
                        Some("unknown_parameter"),
                    ));
                }
            }
            "custom" => custom.push(name.unwrap_or_default().to_string()),
            "web_search"
            | "web_search_preview"
            | "file_search"
            | "code_interpreter"
            | "computer_use_preview"
            | "image_generation"
            | "local_shell"
            | "mcp"
            | "namespace" => {}
            other => {
                return Err(invalid(
                    &format!("Invalid value: '{other}'."),
                    Some(&format!("tools[{i}].type")),
                    Some("invalid_value"),
                ))
            }
        }
    }
    Ok(custom)
}

fn check_items(items: &[Value]) -> Result<(), Reply> {
    let mut calls: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let s = |k: &str| item.get(k).and_then(Value::as_str);
        let kind = s("type").unwrap_or(if item.get("role").is_some() {
            "message"
        } else {
            ""
        });
        if !ITEM_TYPES.contains(&kind) {
            return Err(invalid(
                &format!("Invalid value: '{kind}'."),
                Some(&format!("input[{i}].type")),
                Some("invalid_value"),
            ));
        }
        match kind {
            "message" => check_message(item, i)?,
            "function_call" | "custom_tool_call" => {
                for field in ["call_id", "name"] {
                    if s(field).is_none() {
                        return Err(missing(&format!("input[{i}].{field}")));
                    }
                }
                calls.push(s("call_id").unwrap_or_default());
            }
            "function_call_output" | "custom_tool_call_output" => {
                let id = s("call_id").ok_or_else(|| missing(&format!("input[{i}].call_id")))?;
                if item.get("output").is_none_or(Value::is_null) {
                    return Err(missing(&format!("input[{i}].output")));
                }
                if !calls.contains(&id) {
                    return Err(invalid(
                        &format!("No tool call found for function call output with call_id {id}."),
                        Some("input"),
                        None,
                    ));
                }
            }
            "reasoning" => {
                if item.get("summary").is_none_or(|v| !v.is_array()) {
                    return Err(missing(&format!("input[{i}].summary")));
                }
                if let Some(enc) = s("encrypted_content") {
                    if !enc.starts_with(ENCRYPTED_PREFIX) {
                        return Err(invalid(
                            "The encrypted content for item could not be verified.",
                            None,
                            Some("invalid_encrypted_content"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn missing(param: &str) -> Reply {
    invalid(
        &format!("Missing required parameter: '{param}'."),
        Some(param),
        Some("missing_required_parameter"),
    )
}

fn check_message(item: &Value, i: usize) -> Result<(), Reply> {
    let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
    let allowed: &[&str] = match role {
        "user" | "system" | "developer" => &["input_text", "input_image", "input_file"],
        "assistant" => &["output_text", "refusal"],
        _ => {
            return Err(invalid(
                &format!("Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and 'user'."),
                Some(&format!("input[{i}].role")),
                Some("invalid_value"),
            ))
        }
    };
    match item.get("content") {
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
                if !allowed.contains(&kind) {
                    return Err(invalid(
                        &format!(
                            "Invalid value: '{kind}'. Supported values are: {}.",
                            allowed.join(", ")
                        ),
                        Some(&format!("input[{i}].content[{j}].type")),
                        Some("invalid_value"),
                    ));
                }
            }
            Ok(())
        }
        _ => Err(missing(&format!("input[{i}].content"))),
    }
}

/// The `response` object and its event stream.
struct Responses {
    id: String,
    model: String,
    created: u64,
    custom: Vec<String>,
    include_encrypted: bool,
    store: bool,
    echo: Map<String, Value>,
}

impl Responses {
    fn usage(out: &Output) -> Value {
        let u = &out.usage;
        json!({
            "input_tokens": u.input_total(),
            "input_tokens_details": {"cached_tokens": u.cache_read},
            "output_tokens": u.output_total(),
            "output_tokens_details": {"reasoning_tokens": u.reasoning},
            "total_tokens": u.input_total() + u.output_total(),
        })
    }

    fn object(&self, status: &str, output: Vec<Value>, usage: Value) -> Value {
        let mut o = json!({
            "id": self.id, "object": "response", "created_at": self.created, "status": status,
            "background": false, "error": null, "incomplete_details": null, "instructions": null,
            "max_output_tokens": null, "model": self.model, "output": output,
            "parallel_tool_calls": true, "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null}, "store": self.store,
            "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
            "usage": usage, "user": null, "metadata": {},
        });
        for (k, v) in &self.echo {
            o[k.as_str()] = v.clone();
        }
        o
    }

    fn reasoning_item(&self, out: &Output, done: bool) -> Option<Value> {
        let thinking = out.thinking.as_ref()?;
        let mut item = json!({"id": format!("rs_{}", self.id), "type": "reasoning", "summary": []});
        if done {
            item["summary"] = json!([{"type": "summary_text", "text": out.thinking_text()}]);
            if self.include_encrypted {
                item["encrypted_content"] =
                    json!(format!("{ENCRYPTED_PREFIX}{}", thinking.signature));
            }
        }
        Some(item)
    }

    fn message_item(&self, text: &str, done: bool) -> Value {
        let content = if done {
            json!([{"type": "output_text", "text": text, "annotations": [], "logprobs": []}])
        } else {
            json!([])
        };
        json!({"id": format!("msg_{}", self.id), "type": "message", "status": if done {"completed"} else {"in_progress"},
               "role": "assistant", "content": content})
    }

    fn call_item(&self, out: &Output, done: bool) -> Option<Value> {
        let tool = out.tool.as_ref()?;
        let status = if done { "completed" } else { "in_progress" };
        if self.custom.contains(&tool.name) {
            let input = if done {
                custom_input(&tool.arguments)
            } else {
                String::new()
            };
            return Some(
                json!({"id": format!("ctc_{}", self.id), "type": "custom_tool_call", "status": status,
                               "call_id": tool.id, "name": tool.name, "input": input}),
            );
        }
        let args = if done { tool.arguments.as_str() } else { "" };
        Some(
            json!({"id": format!("fc_{}", self.id), "type": "function_call", "status": status,
                    "arguments": args, "call_id": tool.id, "name": tool.name}),
        )
    }

    fn output_items(&self, out: &Output) -> Vec<Value> {
        let mut items: Vec<Value> = self.reasoning_item(out, true).into_iter().collect();
        if !out.text.is_empty() && out.tool.is_none() {
            items.push(self.message_item(&out.text(), true));
        }
        items.extend(self.call_item(out, true));
        items
    }
}

/// A custom tool's input: the `input` string of the scripted arguments, else them verbatim.
fn custom_input(arguments: &str) -> String {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| v.get("input").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| arguments.to_string())
}

impl ErrorShape for Responses {
    fn error(&self, status: u16) -> Value {
        super::openai::status_error(status)
    }
    fn overloaded_status(&self) -> u16 {
        500
    }
}

impl Shape for Responses {
    fn body(&self, out: &Output) -> Value {
        self.object("completed", self.output_items(out), Self::usage(out))
    }

    fn stream(&self, out: &Output) -> Vec<Frame> {
        let mut seq = 0u64;
        let mut frames = Vec::new();
        let mut ev = |frames: &mut Vec<Frame>, chunk: bool, kind: &str, mut body: Value| {
            body["type"] = json!(kind);
            body["sequence_number"] = json!(seq);
            seq += 1;
            let text = self.frame(kind, &body.to_string());
            frames.push(if chunk {
                Frame::chunk(text)
            } else {
                Frame::meta(text)
            });
        };
        let pending = self.object("in_progress", Vec::new(), Value::Null);
        ev(
            &mut frames,
            false,
            "response.created",
            json!({"response": pending.clone()}),
        );
        ev(
            &mut frames,
            false,
            "response.in_progress",
            json!({"response": pending}),
        );
        let mut index = 0;
        if let (Some(item), Some(thinking)) = (self.reasoning_item(out, false), &out.thinking) {
            let id = item["id"].clone();
            ev(
                &mut frames,
                false,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            let part = json!({"type": "summary_text", "text": ""});
            ev(
                &mut frames,
                false,
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": index, "summary_index": 0, "part": part}),
            );
            for piece in &thinking.pieces {
                ev(
                    &mut frames,
                    true,
                    "response.reasoning_summary_text.delta",
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": piece}),
                );
            }
            let text = out.thinking_text();
            ev(
                &mut frames,
                false,
                "response.reasoning_summary_text.done",
                json!({"item_id": id, "output_index": index, "summary_index": 0, "text": text}),
            );
            ev(
                &mut frames,
                false,
                "response.reasoning_summary_part.done",
                json!({"item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": text}}),
            );
            ev(
                &mut frames,
                false,
                "response.output_item.done",
                json!({"output_index": index, "item": self.reasoning_item(out, true)}),
            );
            index += 1;
        }
        if out.tool.is_none() {
            let item = self.message_item("", false);
            let id = item["id"].clone();
            ev(
                &mut frames,
                false,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            let empty =
                json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
            ev(
                &mut frames,
                false,
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": empty}),
            );
            for piece in &out.text {
                ev(
                    &mut frames,
                    true,
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "delta": piece, "logprobs": []}),
                );
            }
            let text = out.text();
            ev(
                &mut frames,
                false,
                "response.output_text.done",
                json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
            );
            ev(
                &mut frames,
                false,
                "response.content_part.done",
                json!({"item_id": id, "output_index": index, "content_index": 0,
                      "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []}}),
            );
            ev(
                &mut frames,
                false,
                "response.output_item.done",
                json!({"output_index": index, "item": self.message_item(&text, true)}),
            );
        }
        if let (Some(item), Some(tool)) = (self.call_item(out, false), &out.tool) {
            let id = item["id"].clone();
            let custom = item["type"] == "custom_tool_call";
            ev(
                &mut frames,
                false,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            if custom {
                let input = custom_input(&tool.arguments);
                for piece in super::pieces(&input, 3) {
                    ev(
                        &mut frames,
                        true,
                        "response.custom_tool_call_input.delta",
                        json!({"item_id": id, "output_index": index, "delta": piece}),
                    );
                }
                ev(
                    &mut frames,
                    false,
                    "response.custom_tool_call_input.done",
                    json!({"item_id": id, "output_index": index, "input": input}),
                );
            } else {
                for piece in super::pieces(&tool.arguments, 3) {
                    ev(
                        &mut frames,
                        true,
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": index, "delta": piece}),
                    );
                }
                ev(
                    &mut frames,
                    false,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "name": tool.name, "arguments": tool.arguments}),
                );
            }
            ev(
                &mut frames,
                false,
                "response.output_item.done",
                json!({"output_index": index, "item": self.call_item(out, true)}),
            );
        }
        let done = self.object("completed", self.output_items(out), Self::usage(out));
        ev(
            &mut frames,
            false,
            "response.completed",
            json!({"response": done}),
        );
        frames
    }

    fn frame(&self, event: &str, data: &str) -> String {
        format!("event: {event}\ndata: {data}\n\n")
    }

    fn stream_error(&self) -> String {
        let mut failed = self.object("failed", Vec::new(), Value::Null);
        failed["error"] = json!({"code": "server_error", "message": "The server had an error while processing your request. Sorry about that!"});
        let body = json!({"type": "response.failed", "sequence_number": 999, "response": failed});
        self.frame("response.failed", &body.to_string())
    }
}
