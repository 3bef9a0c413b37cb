//! The `openai` wire format adapter: hub → chat-completions request for any OpenAI-compatible
//! upstream (OpenAI, Groq, OpenRouter, Ollama, vLLM…), and its responses and streams → hub.

use super::errors::error_from_value;
pub use super::errors::parse_error;
use super::inbound::media_url;
use super::reasons::stop_reason;
#[allow(unused_imports)]
use super::{errors, reasons, usage};
use crate::dialects::target::{bad_body, StreamDecoder, Target, UpstreamRequest};
use crate::error::{upstream_error, ApiError};
use crate::model::{
    BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, Effort, Message, Part,
    ResponseFormat, Role, Signed, StopReason, StreamEvent, Tool, ToolChoice, Usage,
};
use crate::sse::SseEvent;
use bytes::Bytes;
use serde_json::{json, Map, Value};

/// Builds `POST {base_url}/chat/completions`. `provider.headers` are added by the HTTP layer
/// (their names are not `'static`).
pub fn build(req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, ApiError> {
    let body = request_body(req, target);
    let body = serde_json::to_vec(&body)
        .map_err(|e| ApiError::internal(format!("serializing the upstream request: {e}")))?;
    Ok(UpstreamRequest {
        url: format!("{}/chat/completions", target.provider.base_url),
        headers: super::request_headers(target.api_key),
        body: Bytes::from(body),
    })
}

/// The chat-completions JSON body for a hub request.
pub fn request_body(req: &ChatRequest, target: &Target) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(target.model));
    body.insert("messages".into(), Value::Array(messages(req)));
    if let Some(max) = req.max_tokens {
        body.insert(max_tokens_field(target.model).into(), json!(max));
    }
    let optional = [
        ("temperature", req.temperature.map(|v| json!(v))),
        ("top_p", req.top_p.map(|v| json!(v))),
        (
            "top_k",
            req.top_k
                .filter(|_| accepts_top_k(target))
                .map(|v| json!(v)),
        ),
        ("seed", req.seed.map(|v| json!(v))),
        ("frequency_penalty", req.frequency_penalty.map(|v| json!(v))),
        ("presence_penalty", req.presence_penalty.map(|v| json!(v))),
        ("logit_bias", req.logit_bias.clone()),
        ("logprobs", req.logprobs.map(|v| json!(v))),
        ("top_logprobs", req.top_logprobs.map(|v| json!(v))),
        ("n", req.n.map(|v| json!(v))),
        ("user", req.user.as_ref().map(|v| json!(v))),
        (
            "response_format",
            req.response_format.as_ref().map(response_format),
        ),
        ("reasoning_effort", reasoning_effort(req, target)),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    // OpenAI rejects tool_choice / parallel_tool_calls when no tools are sent.
    if !req.tools.is_empty() {
        body.insert("tools".into(), req.tools.iter().map(tool).collect());
        if let Some(choice) = &req.tool_choice {
            body.insert("tool_choice".into(), tool_choice(choice));
        }
        if let Some(parallel) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if req.extra_dialect == Some(Dialect::OpenAi) {
        for (key, value) in &req.extra {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let dropped = crate::providers::params::Dropped::of(target.provider);
    if !dropped.is_empty() {
        body.retain(|k, _| !dropped.contains(k) || k == "model" || k == "messages");
    }
    Value::Object(body)
}

/// OpenAI's reasoning models (o-series, gpt-5) reject `max_tokens`; other servers often only
/// know `max_tokens`.
fn max_tokens_field(model: &str) -> &'static str {
    let reasoning_family = ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|prefix| model.starts_with(prefix));
    if reasoning_family {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
}

/// Strict APIs (OpenAI's own) reject `top_k`; compatible servers (vLLM, OpenRouter, Ollama)
/// accept it. The provider's parameter policy decides.
fn accepts_top_k(target: &Target) -> bool {
    !crate::providers::params::Dropped::of(target.provider).contains("top_k")
}

fn reasoning_effort(req: &ChatRequest, target: &Target) -> Option<Value> {
    let reasoning = req.reasoning.as_ref().filter(|r| r.is_on())?;
    let effort = match (reasoning.effort, reasoning.max_tokens) {
        (Some(effort), _) => effort,
        (None, Some(budget)) => {
            let cap = req.max_tokens.unwrap_or(target.default_max_tokens).max(1);
            effort_for_share(budget as f64 / cap as f64)
        }
        (None, None) => Effort::Medium,
    };
    Some(json!(effort.as_str()))
}

/// The effort whose share of the output cap (OpenRouter's 20/50/80 %) is closest to `share`.
fn effort_for_share(share: f64) -> Effort {
    if share >= 0.65 {
        Effort::High
    } else if share >= 0.35 {
        Effort::Medium
    } else {
        Effort::Low
    }
}

fn response_format(rf: &ResponseFormat) -> Value {
    match rf {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut js = json!({"name": name, "schema": schema});
            if let Some(strict) = strict {
                js["strict"] = json!(strict);
            }
            json!({"type": "json_schema", "json_schema": js})
        }
    }
}

fn tool(t: &Tool) -> Value {
    let mut function = json!({"name": t.name, "parameters": t.parameters});
    if let Some(d) = &t.description {
        function["description"] = json!(d);
    }
    if let Some(strict) = t.strict {
        function["strict"] = json!(strict);
    }
    json!({"type": "function", "function": function})
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

fn messages(req: &ChatRequest) -> Vec<Value> {
    let mut out = Vec::new();
    let system: Vec<&str> = req
        .system
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if !system.is_empty() {
        out.push(json!({"role": "system", "content": system.join("\n\n")}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => user_messages(m, &mut out),
            Role::Assistant => {
                if let Some(msg) = assistant_message(m) {
                    out.push(msg);
                }
            }
        }
    }
    out
}

/// A user turn: its tool results become `tool` messages first, the rest one `user` message.
/// Tool messages carry text only, so media inside a tool result moves to that user message.
fn user_messages(m: &Message, out: &mut Vec<Value>) {
    let mut rest = Vec::new();
    for part in &m.content {
        match part {
            Part::ToolResult {
                tool_use_id,
                content,
                ..
            } => {
                let mut text = String::new();
                for p in content {
                    match p {
                        Part::Text { text: t, .. } => text.push_str(t),
                        other => rest.push(other),
                    }
                }
                out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": text}));
            }
            other => rest.push(other),
        }
    }
    let parts: Vec<Value> = rest.iter().filter_map(|p| content_part(p)).collect();
    if parts.is_empty() {
        return;
    }
    let content = match (parts.len(), rest.first()) {
        (1, Some(Part::Text { text, .. })) => json!(text),
        _ => Value::Array(parts),
    };
    out.push(json!({"role": "user", "content": content}));
}

/// A user content part on the OpenAI wire; parts OpenAI has no form for are dropped.
fn content_part(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text { text, .. } => json!({"type": "text", "text": text}),
        Part::Image { source, detail } => {
            let mut image = json!({"url": media_url(source)});
            if let Some(d) = detail {
                image["detail"] = json!(d);
            }
            json!({"type": "image_url", "image_url": image})
        }
        Part::Audio { data, format } => {
            json!({"type": "input_audio", "input_audio": {"data": data, "format": format}})
        }
        Part::File { source, filename } => {
            let mut file = json!({"file_data": media_url(source)});
            if let Some(name) = filename {
                file["filename"] = json!(name);
            }
            json!({"type": "file", "file": file})
        }
        Part::Unknown {
            dialect: Dialect::OpenAi,
            value,
        } => value.clone(),
        _ => return None,
    })
}

/// An assistant turn: text joined into `content`, tool uses as `tool_calls`. Thinking is
/// dropped: OpenAI-compatible servers reject unknown message fields.
fn assistant_message(m: &Message) -> Option<Value> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in &m.content {
        match part {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::ToolUse {
                id,
                name,
                arguments,
                ..
            } => calls.push(json!({
                "id": id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": if arguments.is_empty() { "{}" } else { arguments.as_str() },
                },
            })),
            _ => {}
        }
    }
    if text.is_empty() && calls.is_empty() {
        return None;
    }
    let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    Some(msg)
}

/// Parses a 2xx `chat.completion` body.
pub fn parse(provider: &str, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| bad_body(provider, "not JSON", body))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(error_from_value(provider, 502, err, body));
    }
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| bad_body(provider, "no choices", body))?;
    let message = choice
        .get("message")
        .and_then(Value::as_object)
        .ok_or_else(|| bad_body(provider, "choice without a message", body))?;
    let content = message_parts(message);
    let native = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(ChatResponse {
        id: str_field(&v, "id"),
        model: str_field(&v, "model"),
        stop_reason: stop_reason(native.as_deref(), has_tool_use(&content)),
        content,
        native_stop_reason: native,
        stop_sequence: None,
        usage: usage::from_value(v.get("usage")),
    })
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn has_tool_use(parts: &[Part]) -> bool {
    parts.iter().any(|p| matches!(p, Part::ToolUse { .. }))
}

/// Message content in hub order: thinking, text, tool uses.
fn message_parts(message: &Map<String, Value>) -> Vec<Part> {
    let mut parts = match message.get("reasoning_details").and_then(Value::as_array) {
        Some(details) if !details.is_empty() => details.iter().filter_map(detail_part).collect(),
        _ => reasoning_text(message)
            .map(|text| {
                vec![Part::Thinking {
                    text: text.to_string(),
                    signature: None,
                }]
            })
            .unwrap_or_default(),
    };
    match message.get("content") {
        Some(Value::String(s)) if !s.is_empty() => parts.push(Part::text(s.clone())),
        Some(Value::Array(items)) => {
            let text: String = items
                .iter()
                .filter_map(|i| i.get("text").and_then(Value::as_str))
                .collect();
            if !text.is_empty() {
                parts.push(Part::text(text));
            }
        }
        _ => {
            if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
                parts.push(Part::text(refusal));
            }
        }
    }
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (i, call) in calls.iter().enumerate() {
            let function = call.get("function");
            let arguments = match function.and_then(|f| f.get("arguments")) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => "{}".to_string(),
                Some(other) => other.to_string(),
            };
            parts.push(Part::ToolUse {
                id: call
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("call_{i}")),
                name: function
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                arguments,
                signature: None,
            });
        }
    }
    parts
}

/// `reasoning` (OpenRouter) or `reasoning_content` (DeepSeek, vLLM), when non-empty.
fn reasoning_text(obj: &Map<String, Value>) -> Option<&str> {
    ["reasoning", "reasoning_content"]
        .iter()
        .filter_map(|k| obj.get(*k).and_then(Value::as_str))
        .find(|s| !s.is_empty())
}

/// An OpenRouter `reasoning_details` entry as a hub part.
fn detail_part(d: &Value) -> Option<Part> {
    let text = |key: &str| d.get(key).and_then(Value::as_str).map(str::to_string);
    match d.get("type").and_then(Value::as_str)? {
        "reasoning.text" => Some(Part::Thinking {
            text: text("text").unwrap_or_default(),
            signature: text("signature")
                .filter(|s| !s.is_empty())
                .map(|s| Signed::new(Dialect::OpenAi, s)),
        }),
        "reasoning.summary" => Some(Part::Thinking {
            text: text("summary").unwrap_or_default(),
            signature: None,
        }),
        "reasoning.encrypted" => Some(Part::RedactedThinking {
            data: Signed::new(Dialect::OpenAi, text("data")?),
        }),
        _ => None,
    }
}

/// What the currently open hub block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    Tool,
}

/// One upstream tool call seen in the stream.
#[derive(Debug)]
struct ToolSlot {
    upstream_index: u64,
    id: String,
    block: usize,
}

/// Decodes OpenAI `chat.completion.chunk` SSE into hub stream events.
pub struct Decoder {
    provider: String,
    started: bool,
    next_block: usize,
    open: Option<(usize, Open)>,
    tools: Vec<ToolSlot>,
    usage: Option<Usage>,
    finish: Option<(StopReason, Option<String>)>,
    done: bool,
}

impl Decoder {
    pub fn new(provider: &str) -> Self {
        Decoder {
            provider: provider.to_string(),
            started: false,
            next_block: 0,
            open: None,
            tools: Vec::new(),
            usage: None,
            finish: None,
            done: false,
        }
    }

    fn chunk(&mut self, v: &Value, raw: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(error_from_value(&self.provider, 502, err, raw));
        }
        if !self.started {
            self.started = true;
            let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            out.push(StreamEvent::Start {
                id: text("id"),
                model: text("model"),
            });
        }
        // Groq reports stream usage under `x_groq.usage`.
        let usage = v
            .get("usage")
            .or_else(|| v.get("x_groq").and_then(|x| x.get("usage")));
        if let Some(u) = usage.filter(|u| u.is_object()) {
            self.usage = Some(usage::from_value(Some(u)));
        }
        let Some(choice) = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(());
        };
        if let Some(delta) = choice.get("delta").and_then(Value::as_object) {
            self.delta(delta, out);
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            let has_tools = !self.tools.is_empty();
            self.finish = Some((
                stop_reason(Some(reason), has_tools),
                Some(reason.to_string()),
            ));
        }
        Ok(())
    }

    fn delta(&mut self, delta: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        // OpenRouter repeats the text of `reasoning_details` in `reasoning`: use one of them.
        match delta.get("reasoning_details").and_then(Value::as_array) {
            Some(details) if !details.is_empty() => {
                for d in details {
                    self.reasoning_detail(d, out);
                }
            }
            _ => {
                if let Some(text) = reasoning_text(delta) {
                    let index = self.ensure_open(Open::Thinking, out);
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Thinking(text.to_string()),
                    });
                }
            }
        }
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                let index = self.ensure_open(Open::Text, out);
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::Text(text.to_string()),
                });
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                self.tool_call(call, position as u64, out);
            }
        }
    }

    fn reasoning_detail(&mut self, d: &Value, out: &mut Vec<StreamEvent>) {
        let text = |key: &str| d.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        match d.get("type").and_then(Value::as_str) {
            Some("reasoning.text") | Some("reasoning.summary") => {
                let body = text("text").or_else(|| text("summary"));
                let signature = text("signature");
                if body.is_none() && signature.is_none() {
                    return;
                }
                let index = self.ensure_open(Open::Thinking, out);
                if let Some(t) = body {
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Thinking(t.to_string()),
                    });
                }
                if let Some(sig) = signature {
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Signature(sig.to_string()),
                    });
                }
            }
            Some("reasoning.encrypted") => {
                if let Some(data) = text("data") {
                    self.close_open(out);
                    let index = self.new_block();
                    out.push(StreamEvent::BlockStart {
                        index,
                        block: BlockStart::RedactedThinking {
                            data: data.to_string(),
                        },
                    });
                    out.push(StreamEvent::BlockStop { index });
                }
            }
            _ => {}
        }
    }

    /// A `tool_calls[]` entry: the first sight of a call (by `index`, or a new `id` at a reused
    /// index, as some servers send) opens its block; argument fragments become `ToolInput`.
    fn tool_call(&mut self, call: &Value, position: u64, out: &mut Vec<StreamEvent>) {
        let upstream_index = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position);
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let existing = self
            .tools
            .iter()
            .rposition(|t| t.upstream_index == upstream_index)
            .filter(|&slot| id.is_none_or(|id| self.tools[slot].id == id));
        let block = match existing {
            // Servers stream calls one after another; a late fragment for an earlier call
            // still goes to that call's block so no argument text is lost.
            Some(slot) => self.tools[slot].block,
            None => {
                self.close_open(out);
                let block = self.new_block();
                let id = id
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("call_{upstream_index}"));
                out.push(StreamEvent::BlockStart {
                    index: block,
                    block: BlockStart::ToolUse {
                        id: id.clone(),
                        name: name.to_string(),
                    },
                });
                self.tools.push(ToolSlot {
                    upstream_index,
                    id,
                    block,
                });
                self.open = Some((block, Open::Tool));
                block
            }
        };
        let fragment = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !fragment.is_empty() {
            out.push(StreamEvent::BlockDelta {
                index: block,
                delta: BlockDelta::ToolInput(fragment.to_string()),
            });
        }
    }

    fn new_block(&mut self) -> usize {
        let index = self.next_block;
        self.next_block += 1;
        index
    }

    /// The index of an open block of `kind`, opening one (and closing another kind) if needed.
    fn ensure_open(&mut self, kind: Open, out: &mut Vec<StreamEvent>) -> usize {
        if let Some((index, open)) = self.open {
            if open == kind {
                return index;
            }
        }
        self.close_open(out);
        let index = self.new_block();
        let block = match kind {
            Open::Thinking => BlockStart::Thinking,
            _ => BlockStart::Text,
        };
        out.push(StreamEvent::BlockStart { index, block });
        self.open = Some((index, kind));
        index
    }

    fn close_open(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    /// Closes the open block, then reports usage and the held finish reason.
    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_open(out);
        if let Some(usage) = self.usage.take() {
            out.push(StreamEvent::Usage(usage));
        }
        if let Some((reason, native)) = self.finish.take() {
            out.push(StreamEvent::Finish {
                reason,
                native,
                stop_sequence: None,
            });
        }
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let data = ev.data.trim();
        if self.done || data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            if self.finish.is_none() {
                let reason = stop_reason(None, !self.tools.is_empty());
                self.finish = Some((reason, None));
            }
            self.end(out);
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|_| bad_body(&self.provider, "stream chunk is not JSON", data.as_bytes()))?;
        let result = self.chunk(&v, data.as_bytes(), out);
        if result.is_err() {
            self.done = true;
        }
        result
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let finished = self.finish.is_some();
        self.end(out);
        if finished {
            Ok(())
        } else {
            Err(upstream_error(
                &self.provider,
                502,
                "stream ended early".to_string(),
                b"",
            ))
        }
    }
}
