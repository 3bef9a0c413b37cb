//! Anthropic Messages wire shapes (messages, count_tokens, models) and validation.

use super::{
    approx_tokens, auxiliary, collect_text, generate, pieces, ErrorShape, Frame, GenRequest,
    Output, RecordedRequest, Reply, Shape, State,
};
use serde_json::{json, Map, Value};

const MODELS: &[(&str, &str, &str)] = &[
    (
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        "2025-09-29T00:00:00Z",
    ),
    (
        "claude-haiku-4-5-20251001",
        "Claude Haiku 4.5",
        "2025-10-01T00:00:00Z",
    ),
];

pub(super) fn respond(state: &State, req: &RecordedRequest) -> Reply {
    if let Some(rejection) = check_headers(state, req) {
        return rejection;
    }
    let result = match (req.method.as_str(), req.path_only()) {
        ("POST", "/v1/messages") => messages(state, req),
        ("POST", "/v1/messages/count_tokens") => count_tokens(state, req),
        ("GET", "/v1/models") => Ok(models()),
        (method, path) if path.starts_with("/v1/messages/batches") => {
            Ok(super::anthropic_batches::respond(state, method, path, req))
        }
        _ => Err(error(404, "not_found_error", "Not Found")),
    };
    result.unwrap_or_else(|rejection| rejection)
}

fn check_headers(state: &State, req: &RecordedRequest) -> Option<Reply> {
    if let Some(expected) = state.expected_key() {
        match req.header("x-api-key") {
            None => {
                return Some(error(
                    401,
                    "authentication_error",
                    "x-api-key header is required",
                ))
            }
            Some(key) if key != expected => {
                return Some(error(401, "authentication_error", "invalid x-api-key"))
            }
            Some(_) => {}
        }
    }
    if req.header("anthropic-version").is_none() {
        return Some(invalid("anthropic-version: header is required"));
    }
    None
}

/// `{"type": "error", "error": {"type", "message"}, "request_id"}`.
pub(super) fn error_json(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"})
}

pub(super) fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(status, &error_json(kind, message))
}

fn invalid(message: &str) -> Reply {
    error(400, "invalid_request_error", message)
}

fn status_error(status: u16) -> Value {
    let (kind, message) = match status {
        400 => ("invalid_request_error", "Invalid request"),
        401 => ("authentication_error", "invalid x-api-key"),
        402 => (
            "billing_error",
            "Your credit balance is too low to access the Anthropic API.",
        ),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => ("not_found_error", "Not found"),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => (
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        529 => ("overloaded_error", "Overloaded"),
        _ => ("api_error", "Internal server error"),
    };
    error_json(kind, message)
}

fn body_object(req: &RecordedRequest) -> Result<&Map<String, Value>, Reply> {
    req.json
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("There was an error parsing the body."))
}

fn messages(state: &State, req: &RecordedRequest) -> Result<Reply, Reply> {
    let body = body_object(req)?;
    validate(body, true)?;
    let shape = Messages {
        id: format!("msg_mock{:020}", state.next_seq()),
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    Ok(generate(
        state,
        &GenRequest {
            shape: &shape,
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
            prompt_tokens: prompt_tokens(body),
            tool_id_prefix: "toolu_",
        },
    ))
}

/// One batch request run like `POST /v1/messages` (never streamed): `Ok(message)` or
/// `Err(error response)`, consuming one behavior as the Messages endpoint would.
pub(super) fn batch_message(state: &State, params: &Value) -> Result<Value, Value> {
    let fail = |reply: Reply| match reply {
        Reply::Full { body, .. } => serde_json::from_slice(&body)
            .unwrap_or_else(|_| error_json("api_error", "Internal server error")),
        _ => error_json("api_error", "Internal server error"),
    };
    let Some(body) = params.as_object() else {
        return Err(error_json(
            "invalid_request_error",
            "params: Input should be an object",
        ));
    };
    validate(body, true).map_err(fail)?;
    let shape = Messages {
        id: format!("msg_mock{:020}", state.next_seq()),
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let reply = generate(
        state,
        &GenRequest {
            shape: &shape,
            stream: false,
            prompt_tokens: prompt_tokens(body),
            tool_id_prefix: "toolu_",
        },
    );
    match reply {
        Reply::Full {
            status: 200, body, ..
        } => serde_json::from_slice(&body)
            .map_err(|_| error_json("api_error", "Internal server error")),
        other => Err(fail(other)),
    }
}

fn count_tokens(state: &State, req: &RecordedRequest) -> Result<Reply, Reply> {
    let body = body_object(req)?;
    validate(body, false)?;
    let normal = Reply::json(200, &json!({"input_tokens": prompt_tokens(body)}));
    Ok(auxiliary(state, &Errors, normal))
}

fn prompt_tokens(body: &Map<String, Value>) -> u64 {
    let mut text = String::new();
    match body.get("system") {
        Some(Value::String(system)) => text.push_str(system),
        Some(blocks) => collect_text(blocks, &["text"], &mut text),
        None => {}
    }
    if let Some(messages) = body.get("messages") {
        collect_text(messages, &["text", "content"], &mut text);
    }
    approx_tokens(&text)
}

fn models() -> Reply {
    let data: Vec<Value> = MODELS
        .iter()
        .map(|(id, name, created)| {
            json!({"type": "model", "id": id, "display_name": name, "created_at": created})
        })
        .collect();
    let first = MODELS.first().map(|m| m.0);
    let last = MODELS.last().map(|m| m.0);
    Reply::json(
        200,
        &json!({"data": data, "has_more": false, "first_id": first, "last_id": last}),
    )
}

/// Field-level checks in the order the API reports them.
fn validate(body: &Map<String, Value>, needs_max_tokens: bool) -> Result<(), Reply> {
    if body.get("model").and_then(Value::as_str).is_none() {
        return Err(invalid("model: Field required"));
    }
    let max_tokens = body.get("max_tokens").and_then(Value::as_u64);
    if needs_max_tokens {
        match max_tokens {
            None => return Err(invalid("max_tokens: Field required")),
            Some(0) => {
                return Err(invalid(
                    "max_tokens: Input should be greater than or equal to 1",
                ))
            }
            Some(_) => {}
        }
    }
    let messages = match body.get("messages") {
        None => return Err(invalid("messages: Field required")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("messages: Input should be a valid list")),
    };
    validate_roles(messages)?;
    validate_tool_results(messages)?;
    validate_thinking(body, max_tokens)?;
    validate_thinking_tool_loop(body, messages)?;
    validate_final_assistant(messages)
}

fn role(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("")
}

/// Content as blocks (a string content has none).
fn blocks(message: &Value) -> &[Value] {
    message
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn is_empty_content(message: &Value) -> bool {
    match message.get("content") {
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        _ => true,
    }
}

fn validate_roles(messages: &[Value]) -> Result<(), Reply> {
    if messages.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    for (i, message) in messages.iter().enumerate() {
        match role(message) {
            "user" | "assistant" => {}
            "system" => return Err(invalid(
                "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.",
            )),
            _ => return Err(invalid(&format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            ))),
        }
    }
    if role(&messages[0]) != "user" {
        return Err(invalid(
            "messages: first message must use the \"user\" role",
        ));
    }
    for pair in messages.windows(2) {
        if role(&pair[0]) == role(&pair[1]) {
            return Err(invalid(&format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{}\" roles in a row",
                role(&pair[0])
            )));
        }
    }
    let last = messages.len() - 1;
    for (i, message) in messages.iter().enumerate() {
        let optional_final = i == last && role(message) == "assistant";
        if is_empty_content(message) && !optional_final {
            return Err(invalid(&format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            )));
        }
    }
    Ok(())
}

fn block_type(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

fn tool_use_ids(message: &Value) -> Vec<&str> {
    blocks(message)
        .iter()
        .filter(|b| block_type(b) == "tool_use")
        .filter_map(|b| b.get("id").and_then(Value::as_str))
        .collect()
}

/// (block index, tool_use_id) of every tool_result block.
fn tool_results(message: &Value) -> Vec<(usize, &str)> {
    blocks(message)
        .iter()
        .enumerate()
        .filter(|(_, b)| block_type(b) == "tool_result")
        .map(|(j, b)| {
            (
                j,
                b.get("tool_use_id").and_then(Value::as_str).unwrap_or(""),
            )
        })
        .collect()
}

fn leading_tool_results(message: &Value) -> usize {
    blocks(message)
        .iter()
        .take_while(|b| block_type(b) == "tool_result")
        .count()
}

/// Every tool_result answers a tool_use of the assistant turn right before it; every tool_use
/// is answered first thing in the next user turn.
fn validate_tool_results(messages: &[Value]) -> Result<(), Reply> {
    for (i, message) in messages.iter().enumerate() {
        if role(message) != "user" {
            continue;
        }
        let previous: Vec<&str> = i
            .checked_sub(1)
            .map(|p| tool_use_ids(&messages[p]))
            .unwrap_or_default();
        if let Some((j, id)) = tool_results(message)
            .into_iter()
            .find(|(_, id)| !previous.contains(id))
        {
            return Err(invalid(&format!(
                "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
            )));
        }
    }
    for (i, message) in messages.iter().enumerate() {
        let ids = tool_use_ids(message);
        if ids.is_empty() {
            continue;
        }
        let next = messages.get(i + 1);
        let answered: Vec<&str> = next
            .map(|n| tool_results(n).into_iter().map(|(_, id)| id).collect())
            .unwrap_or_default();
        if next.is_some_and(|n| !answered.is_empty() && leading_tool_results(n) < ids.len()) {
            return Err(invalid(&format!(
                "messages.{}: Did not find {} `tool_result` block(s) at the beginning of this message. Messages following `tool_use` blocks must begin with a matching number of `tool_result` blocks.",
                i + 1,
                ids.len()
            )));
        }
        let missing: Vec<&str> = ids
            .into_iter()
            .filter(|id| !answered.contains(id))
            .collect();
        if !missing.is_empty() {
            return Err(invalid(&format!(
                "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

fn validate_thinking(body: &Map<String, Value>, max_tokens: Option<u64>) -> Result<(), Reply> {
    let Some(thinking) = body.get("thinking") else {
        return Ok(());
    };
    if thinking.get("type").and_then(Value::as_str) != Some("enabled") {
        return Ok(());
    }
    let Some(budget) = thinking.get("budget_tokens").and_then(Value::as_u64) else {
        return Err(invalid("thinking.enabled.budget_tokens: Field required"));
    };
    if budget < 1024 {
        return Err(invalid(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ));
    }
    if max_tokens.is_some_and(|max| budget >= max) {
        return Err(invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
        ));
    }
    Ok(())
}

/// With thinking enabled, the last assistant turn of a tool-use loop must open with its
/// thinking block (the API checks the signature chain through tool use).
fn validate_thinking_tool_loop(body: &Map<String, Value>, messages: &[Value]) -> Result<(), Reply> {
    let enabled = body
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t == "enabled" || t == "adaptive");
    if !enabled {
        return Ok(());
    }
    let Some((i, last)) = messages
        .iter()
        .enumerate()
        .rev()
        .find(|(_, m)| role(m) == "assistant")
    else {
        return Ok(());
    };
    if tool_use_ids(last).is_empty() {
        return Ok(());
    }
    let first = blocks(last).first().map(block_type).unwrap_or("");
    if first == "thinking" || first == "redacted_thinking" {
        return Ok(());
    }
    Err(invalid(&format!(
        "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    )))
}

fn validate_final_assistant(messages: &[Value]) -> Result<(), Reply> {
    let Some(last) = messages.last().filter(|m| role(m) == "assistant") else {
        return Ok(());
    };
    let final_text = match last.get("content") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Array(items)) => items
            .last()
            .filter(|b| block_type(b) == "text")
            .and_then(|b| b.get("text"))
            .and_then(Value::as_str),
        _ => None,
    };
    if final_text.is_some_and(|t| t.ends_with(char::is_whitespace)) {
        return Err(invalid(
            "messages: final assistant content cannot end with trailing whitespace",
        ));
    }
    Ok(())
}

struct Errors;

/// A Messages API answer.
struct Messages {
    id: String,
    model: String,
}

macro_rules! anthropic_errors {
    ($($shape:ty),*) => {$(
        impl ErrorShape for $shape {
            fn error(&self, status: u16) -> Value {
                status_error(status)
            }

            fn overloaded_status(&self) -> u16 {
                529
            }
        }
    )*};
}

anthropic_errors!(Errors, Messages);

fn stop_reason(out: &Output) -> &'static str {
    if out.tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn usage_json(out: &Output, output_tokens: u64) -> Value {
    let u = &out.usage;
    json!({
        "input_tokens": u.prompt,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": u.cache_write, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard"
    })
}

/// Tool arguments as the `input` object (an unparsable script falls back to `{}`).
fn tool_input(arguments: &str) -> Value {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

impl Messages {
    fn event(&self, data: Value) -> String {
        let kind = data.get("type").and_then(Value::as_str).unwrap_or_default();
        self.frame(kind, &data.to_string())
    }

    fn delta(&self, index: usize, delta: Value) -> String {
        self.event(json!({"type": "content_block_delta", "index": index, "delta": delta}))
    }

    fn block(&self, frames: &mut Vec<Frame>, index: usize, start: Value, deltas: Vec<Frame>) {
        frames.push(Frame::meta(self.event(
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        )));
        if index == 0 {
            frames.push(Frame::meta(self.event(json!({"type": "ping"}))));
        }
        frames.extend(deltas);
        frames.push(Frame::meta(
            self.event(json!({"type": "content_block_stop", "index": index})),
        ));
    }
}

impl Shape for Messages {
    fn body(&self, out: &Output) -> Value {
        let mut content = Vec::new();
        if let Some(thinking) = &out.thinking {
            content.push(json!({"type": "thinking", "thinking": out.thinking_text(), "signature": thinking.signature}));
        }
        match &out.tool {
            Some(tool) => content.push(json!({"type": "tool_use", "id": tool.id, "name": tool.name, "input": tool_input(&tool.arguments)})),
            None => content.push(json!({"type": "text", "text": out.text()})),
        }
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason(out),
            "stop_sequence": null,
            "usage": usage_json(out, out.usage.output_total())
        })
    }

    fn stream(&self, out: &Output) -> Vec<Frame> {
        let mut frames = vec![Frame::meta(self.event(json!({
            "type": "message_start",
            "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": usage_json(out, 1)
            }
        })))];
        let mut index = 0;
        if let Some(thinking) = &out.thinking {
            let mut deltas: Vec<Frame> = thinking
                .pieces
                .iter()
                .map(|p| {
                    Frame::chunk(
                        self.delta(index, json!({"type": "thinking_delta", "thinking": p})),
                    )
                })
                .collect();
            deltas.push(Frame::meta(self.delta(
                index,
                json!({"type": "signature_delta", "signature": thinking.signature}),
            )));
            self.block(
                &mut frames,
                index,
                json!({"type": "thinking", "thinking": ""}),
                deltas,
            );
            index += 1;
        }
        match &out.tool {
            Some(tool) => {
                let deltas = std::iter::once(String::new())
                    .chain(pieces(&tool.arguments, 3))
                    .map(|p| {
                        Frame::chunk(self.delta(
                            index,
                            json!({"type": "input_json_delta", "partial_json": p}),
                        ))
                    })
                    .collect();
                let start =
                    json!({"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}});
                self.block(&mut frames, index, start, deltas);
            }
            None => {
                let deltas = out
                    .text
                    .iter()
                    .map(|p| {
                        Frame::chunk(self.delta(index, json!({"type": "text_delta", "text": p})))
                    })
                    .collect();
                self.block(
                    &mut frames,
                    index,
                    json!({"type": "text", "text": ""}),
                    deltas,
                );
            }
        }
        frames.push(Frame::meta(self.event(json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(out), "stop_sequence": null},
            "usage": {"output_tokens": out.usage.output_total()}
        }))));
        frames.push(Frame::meta(self.event(json!({"type": "message_stop"}))));
        frames
    }

    fn frame(&self, event: &str, data: &str) -> String {
        format!("event: {event}\ndata: {data}\n\n")
    }

    fn stream_error(&self) -> String {
        let data = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        self.frame("error", &data.to_string())
    }

    fn sse_content_type(&self) -> &'static str {
        "text/event-stream; charset=utf-8"
    }
}
