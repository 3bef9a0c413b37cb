//! OpenAI wire shapes (chat completions, legacy completions, embeddings, models) and validation.

use super::{
    approx_tokens, collect_text, generate, pieces, unix_now, ErrorShape, GenRequest, Output,
    RecordedRequest, Reply, Shape, State,
};
use base64::Engine;
use serde_json::{json, Map, Value};

/// Fields OpenRouter adds that api.openai.com rejects.
const OPENROUTER_ONLY_FIELDS: &[&str] = &[
    "models",
    "route",
    "provider",
    "transforms",
    "plugins",
    "usage",
];
const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];
const MODELS: &[&str] = &[
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
];

pub(super) fn respond(state: &State, req: &RecordedRequest) -> Reply {
    if let Some(rejection) = check_auth(state, req) {
        return rejection;
    }
    let result = match (req.method.as_str(), req.path_only()) {
        ("POST", "/v1/chat/completions") => chat(state, req),
        ("POST", "/v1/completions") => legacy(state, req),
        ("POST", "/v1/embeddings") => embeddings(state, req),
        ("POST", "/v1/responses") => super::openai_responses::responses(state, req),
        ("GET", "/v1/models") => Ok(models()),
        (method, path) => Err(error(
            404,
            &format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
            None,
            None,
        )),
    };
    result.unwrap_or_else(|rejection| rejection)
}

fn check_auth(state: &State, req: &RecordedRequest) -> Option<Reply> {
    let expected = state.expected_key()?;
    let given = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(key) if key == expected => None,
        Some(key) => Some(error(
            401,
            &format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                redact(key)
            ),
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        )),
        None => Some(error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            None,
        )),
    }
}

fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// `{"error": {"message", "type", "param", "code"}}`.
fn error_json(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

fn error(status: u16, message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Reply {
    Reply::json(status, &error_json(message, kind, param, code))
}

fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Reply {
    error(400, message, "invalid_request_error", param, code)
}

/// The default error body for a status.
pub(super) fn status_error(status: u16) -> Value {
    let (message, kind, code) = match status {
        400 => ("Bad request.", "invalid_request_error", None),
        401 => (
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        403 => (
            "You are not allowed to sample from this model",
            "invalid_request_error",
            None,
        ),
        404 => (
            "The model does not exist or you do not have access to it.",
            "invalid_request_error",
            Some("model_not_found"),
        ),
        429 => (
            "Rate limit reached for requests. Please try again in 20s.",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        503 => (
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        ),
        _ => (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
    };
    error_json(message, kind, None, code)
}

fn body_object(req: &RecordedRequest) -> Result<&Map<String, Value>, Reply> {
    req.json.as_ref().and_then(Value::as_object).ok_or_else(|| {
        invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
            None,
            None,
        )
    })
}

fn require<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a Value, Reply> {
    body.get(field).filter(|v| !v.is_null()).ok_or_else(|| {
        invalid(
            &format!("Missing required parameter: '{field}'."),
            Some(field),
            Some("missing_required_parameter"),
        )
    })
}

fn model_of(body: &Map<String, Value>) -> Result<String, Reply> {
    match body.get("model").and_then(Value::as_str) {
        Some(model) if !model.is_empty() => Ok(model.to_owned()),
        _ => Err(invalid("you must provide a model parameter", None, None)),
    }
}

fn reject_unknown_fields(body: &Map<String, Value>) -> Result<(), Reply> {
    match body
        .keys()
        .find(|k| OPENROUTER_ONLY_FIELDS.contains(&k.as_str()))
    {
        Some(field) => Err(invalid(
            &format!("Unrecognized request argument supplied: {field}"),
            None,
            None,
        )),
        None => Ok(()),
    }
}

/// `stream` and `stream_options.include_usage` of a request.
fn stream_flags(body: &Map<String, Value>) -> Result<(bool, bool), Reply> {
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let options = body.get("stream_options").filter(|v| !v.is_null());
    if options.is_some() && !stream {
        return Err(invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
            None,
        ));
    }
    let include_usage = options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok((stream, include_usage))
}

fn chat(state: &State, req: &RecordedRequest) -> Result<Reply, Reply> {
    let body = body_object(req)?;
    reject_unknown_fields(body)?;
    let model = model_of(body)?;
    let messages = require(body, "messages")?;
    validate_messages(messages)?;
    let (stream, include_usage) = stream_flags(body)?;
    let mut text = String::new();
    collect_text(messages, &["content", "text"], &mut text);
    let shape = Chat {
        id: format!("chatcmpl-mock{:06}", state.next_seq()),
        model,
        created: unix_now(),
        include_usage,
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

fn validate_messages(messages: &Value) -> Result<(), Reply> {
    let list = messages.as_array().ok_or_else(|| {
        invalid(
            "Invalid type for 'messages': expected an array, but got an object instead.",
            Some("messages"),
            Some("invalid_type"),
        )
    })?;
    if list.is_empty() {
        return Err(invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    for (i, message) in list.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if !ROLES.contains(&role) {
            return Err(invalid(
                &format!("Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            ));
        }
    }
    validate_tool_turns(list)
}

fn tool_call_ids(message: &Value) -> Vec<&str> {
    message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .filter_map(|c| c.get("id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Tool messages answer the nearest assistant `tool_calls` (only tool messages between), and
/// every such call gets its answer before the next non-tool message.
fn validate_tool_turns(list: &[Value]) -> Result<(), Reply> {
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (i, message) in list.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if role == "tool" {
            let Some((_, pending)) = open.as_mut() else {
                return Err(invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                    Some(&format!("messages.[{i}].role")),
                    None,
                ));
            };
            let id = message
                .get("tool_call_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            let Some(pos) = pending.iter().position(|p| *p == id) else {
                return Err(invalid(
                    &format!("Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' of previous message."),
                    Some(&format!("messages.[{i}].tool_call_id")),
                    None,
                ));
            };
            pending.remove(pos);
            continue;
        }
        check_answered(&open)?;
        let ids = tool_call_ids(message);
        open = (role == "assistant" && !ids.is_empty()).then_some((i, ids));
    }
    check_answered(&open)
}

fn check_answered(open: &Option<(usize, Vec<&str>)>) -> Result<(), Reply> {
    match open {
        Some((at, pending)) if !pending.is_empty() => Err(invalid(
            &format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                pending.join(", ")
            ),
            Some(&format!("messages.[{at}].role")),
            None,
        )),
        _ => Ok(()),
    }
}

/// `chat.completion` / `chat.completion.chunk`.
struct Chat {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
}

fn usage_json(out: &Output) -> Value {
    let u = &out.usage;
    json!({
        "prompt_tokens": u.input_total(),
        "completion_tokens": u.output_total(),
        "total_tokens": u.input_total() + u.output_total(),
        "prompt_tokens_details": {"cached_tokens": u.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn finish_reason(out: &Output) -> &'static str {
    if out.tool.is_some() {
        "tool_calls"
    } else {
        "stop"
    }
}

/// OpenRouter's `reasoning_details` entry for a signed reasoning text.
fn reasoning_detail(text: &str, signature: Option<&str>) -> Value {
    let mut detail = json!({"type": "reasoning.text", "text": text, "format": "anthropic-claude-v1", "index": 0});
    if let Some(sig) = signature {
        detail["signature"] = json!(sig);
    }
    detail
}

impl Chat {
    fn chunk(&self, choices: Value, usage: Option<Value>) -> String {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": choices,
        });
        if self.include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        self.frame("", &chunk.to_string())
    }

    fn delta(&self, delta: Value, finish: Option<&str>) -> String {
        self.chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
            None,
        )
    }
}

impl Shape for Chat {
    fn body(&self, out: &Output) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": if out.tool.is_some() { Value::Null } else { json!(out.text()) },
            "refusal": null,
            "annotations": []
        });
        if let Some(thinking) = &out.thinking {
            let text = out.thinking_text();
            message["reasoning"] = json!(text);
            message["reasoning_details"] =
                json!([reasoning_detail(&text, Some(&thinking.signature))]);
        }
        if let Some(tool) = &out.tool {
            message["tool_calls"] = json!([{
                "id": tool.id,
                "type": "function",
                "function": {"name": tool.name, "arguments": tool.arguments}
            }]);
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(out)}],
            "usage": usage_json(out),
            "service_tier": "default",
            "system_fingerprint": "fp_mock"
        })
    }

    fn stream(&self, out: &Output) -> Vec<super::Frame> {
        use super::Frame;
        let content = if out.tool.is_some() {
            Value::Null
        } else {
            json!("")
        };
        let mut frames = vec![Frame::meta(self.delta(
            json!({"role": "assistant", "content": content, "refusal": null}),
            None,
        ))];
        if let Some(thinking) = &out.thinking {
            for piece in &thinking.pieces {
                frames.push(Frame::chunk(self.delta(
                    json!({"reasoning": piece, "reasoning_details": [reasoning_detail(piece, None)]}),
                    None,
                )));
            }
            frames.push(Frame::meta(self.delta(
                json!({"reasoning_details": [reasoning_detail("", Some(&thinking.signature))]}),
                None,
            )));
        }
        for piece in &out.text {
            frames.push(Frame::chunk(self.delta(json!({"content": piece}), None)));
        }
        if let Some(tool) = &out.tool {
            frames.push(Frame::chunk(self.delta(
                json!({"tool_calls": [{"index": 0, "id": tool.id, "type": "function", "function": {"name": tool.name, "arguments": ""}}]}),
                None,
            )));
            for piece in pieces(&tool.arguments, 3) {
                frames.push(Frame::chunk(self.delta(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                )));
            }
        }
        frames.push(Frame::meta(self.delta(json!({}), Some(finish_reason(out)))));
        if self.include_usage {
            frames.push(Frame::meta(self.chunk(json!([]), Some(usage_json(out)))));
        }
        frames.push(Frame::meta(self.frame("", "[DONE]")));
        frames
    }

    fn frame(&self, _event: &str, data: &str) -> String {
        format!("data: {data}\n\n")
    }

    fn stream_error(&self) -> String {
        self.frame("", &status_error(500).to_string())
    }
}

fn legacy(state: &State, req: &RecordedRequest) -> Result<Reply, Reply> {
    let body = body_object(req)?;
    reject_unknown_fields(body)?;
    let model = model_of(body)?;
    let prompt = require(body, "prompt")?;
    let (stream, include_usage) = stream_flags(body)?;
    let text = match prompt {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(invalid(
                "Invalid type for 'prompt': expected a string or an array of strings.",
                Some("prompt"),
                Some("invalid_type"),
            ))
        }
    };
    let shape = Legacy {
        id: format!("cmpl-mock{:06}", state.next_seq()),
        model,
        created: unix_now(),
        include_usage,
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

/// `text_completion` objects of the legacy `/v1/completions` endpoint.
struct Legacy {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
}

fn legacy_usage(out: &Output) -> Value {
    let u = &out.usage;
    json!({"prompt_tokens": u.input_total(), "completion_tokens": u.output_total(), "total_tokens": u.input_total() + u.output_total()})
}

impl Legacy {
    fn object(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "system_fingerprint": "fp_mock",
        })
    }

    fn choice(text: &str, finish: Option<&str>) -> Value {
        json!([{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}])
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> String {
        let mut chunk = self.object(choices);
        if self.include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        self.frame("", &chunk.to_string())
    }
}

impl Shape for Legacy {
    fn body(&self, out: &Output) -> Value {
        let mut body = self.object(Self::choice(&out.text(), Some("stop")));
        body["usage"] = legacy_usage(out);
        body
    }

    fn stream(&self, out: &Output) -> Vec<super::Frame> {
        use super::Frame;
        let mut frames: Vec<Frame> = out
            .text
            .iter()
            .map(|piece| Frame::chunk(self.chunk(Self::choice(piece, None), None)))
            .collect();
        frames.push(Frame::meta(
            self.chunk(Self::choice("", Some("stop")), None),
        ));
        if self.include_usage {
            frames.push(Frame::meta(self.chunk(json!([]), Some(legacy_usage(out)))));
        }
        frames.push(Frame::meta(self.frame("", "[DONE]")));
        frames
    }

    fn frame(&self, _event: &str, data: &str) -> String {
        format!("data: {data}\n\n")
    }

    fn stream_error(&self) -> String {
        self.frame("", &status_error(500).to_string())
    }
}

fn embeddings(state: &State, req: &RecordedRequest) -> Result<Reply, Reply> {
    let body = body_object(req)?;
    reject_unknown_fields(body)?;
    let model = model_of(body)?;
    let inputs: Vec<String> = match require(body, "input")? {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
            .collect(),
        _ => {
            return Err(invalid(
                "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                None,
                None,
            ))
        }
    };
    let base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(invalid(
                &format!("Invalid value: '{other}'. Supported values are: 'float' and 'base64'."),
                Some("encoding_format"),
                Some("invalid_value"),
            ))
        }
    };
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .unwrap_or(16)
        .clamp(1, 4096) as usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let vector = embed(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|t| approx_tokens(t)).sum();
    let normal = Reply::json(
        200,
        &json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    );
    Ok(super::auxiliary(state, &Errors, normal))
}

/// A deterministic unit vector derived from the text (FNV-1a seeded per dimension).
pub fn embed(text: &str, dims: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..dims as u64)
        .map(|d| {
            let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ d.wrapping_mul(0x100_0000_01b3);
            for byte in text.bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
            }
            (hash % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    raw.iter().map(|x| x / norm).collect()
}

fn models() -> Reply {
    let data: Vec<Value> = MODELS
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_721_172_741, "owned_by": "system"}))
        .collect();
    Reply::json(200, &json!({"object": "list", "data": data}))
}

/// OpenAI's error rendering, shared by every endpoint.
struct Errors;

macro_rules! openai_errors {
    ($($shape:ty),*) => {$(
        impl ErrorShape for $shape {
            fn error(&self, status: u16) -> Value {
                status_error(status)
            }

            fn overloaded_status(&self) -> u16 {
                500
            }
        }
    )*};
}

openai_errors!(Errors, Chat, Legacy);
