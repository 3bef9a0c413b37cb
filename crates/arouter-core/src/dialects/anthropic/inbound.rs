//! The Anthropic Messages surface: request → hub, hub → message object, hub stream → Anthropic
//! SSE events, and a local token estimate for openai-kind upstreams.

#[allow(unused_imports)]
use super::{errors, reasons, usage};
use crate::error::ApiError;
use crate::model::{
    tagged, BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, MediaSource, Message, Part,
    Reasoning, Role, Signed, StopReason, StreamEvent, Tool, ToolChoice, Usage,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

type Obj = Map<String, Value>;

/// Top-level fields the router consumes itself (OpenRouter-style routing); never forwarded.
pub const ROUTER_ONLY_FIELDS: &[&str] = &["models", "fallbacks", "provider", "route"];

/// Top-level fields the hub models; everything else unknown travels in `extra`.
const HUB_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
];

/// Key in `ChatRequest::extra` holding Anthropic server tools (`web_search_20250305`…): they
/// have no hub form, so only anthropic-kind upstreams receive them.
pub const SERVER_TOOLS_KEY: &str = "tools";

fn bad(path: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{path}: {message}"))
}

fn join(prefix: &str, key: impl std::fmt::Display) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A present, non-null field.
fn field<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    crate::json_path::member(obj, key).filter(|v| !v.is_null())
}

/// Deserializes one wire value into a typed struct, naming the path on failure.
fn typed<'a, T: Deserialize<'a>>(v: &'a Value, path: &str) -> Result<T, ApiError> {
    T::deserialize(v).map_err(|e| bad(path, e))
}

fn opt_typed<'a, T: Deserialize<'a>>(
    obj: &'a Obj,
    prefix: &str,
    key: &str,
) -> Result<Option<T>, ApiError> {
    field(obj, key)
        .map(|v| typed(v, &join(prefix, key)))
        .transpose()
}

// ---------------------------------------------------------------------------------------------
// Wire types (request side)
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct TextBlock {
    text: String,
    #[serde(default)]
    cache_control: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireSource {
    Base64 {
        media_type: String,
        data: String,
    },
    Url {
        url: String,
    },
    Text {
        data: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MediaBlock {
    source: WireSource,
    #[serde(default)]
    title: Option<String>,
}

#[derive(Deserialize)]
struct ToolUseBlock {
    id: String,
    name: String,
    #[serde(default)]
    input: Option<Value>,
}

/// `content` is read separately (it may hold large images; no copy through serde).
#[derive(Deserialize)]
struct ToolResultBlock {
    tool_use_id: String,
    #[serde(default)]
    is_error: Option<bool>,
}

#[derive(Deserialize)]
struct ThinkingBlock {
    thinking: String,
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Deserialize)]
struct RedactedThinkingBlock {
    data: String,
}

#[derive(Deserialize)]
struct WireTool {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
    #[serde(default)]
    cache_control: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

#[derive(Deserialize)]
struct WireToolChoice {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize)]
struct WireThinking {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    budget_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct WireMetadata {
    #[serde(default)]
    user_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Request → hub
// ---------------------------------------------------------------------------------------------

/// Parses a `POST /v1/messages` body into the hub. `max_tokens` is required, as upstream.
pub fn to_internal(body: &Value) -> Result<ChatRequest, ApiError> {
    parse_request(body, true)
}

/// Parses a `POST /v1/messages/count_tokens` body (the same shape without `max_tokens`).
pub fn count_request_to_internal(body: &Value) -> Result<ChatRequest, ApiError> {
    parse_request(body, false)
}

fn parse_request(body: &Value, require_max_tokens: bool) -> Result<ChatRequest, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("request body: expected an object"))?;
    let mut req = ChatRequest {
        model: opt_typed::<String>(obj, "", "model")?.unwrap_or_default(),
        max_tokens: opt_typed(obj, "", "max_tokens")?,
        temperature: opt_typed(obj, "", "temperature")?,
        top_p: opt_typed(obj, "", "top_p")?,
        top_k: opt_typed(obj, "", "top_k")?,
        stop: opt_typed(obj, "", "stop_sequences")?.unwrap_or_default(),
        stream: opt_typed(obj, "", "stream")?.unwrap_or(false),
        ..ChatRequest::default()
    };
    if require_max_tokens && req.max_tokens.is_none() {
        return Err(bad("max_tokens", "Field required"));
    }
    req.system = system(field(obj, "system"))?;
    req.messages = messages(field(obj, "messages"))?;
    if let Some(meta) = opt_typed::<WireMetadata>(obj, "", "metadata")? {
        req.user = meta.user_id;
    }
    let server_tools = tools(&mut req, field(obj, "tools"))?;
    tool_choice(&mut req, obj)?;
    req.reasoning = thinking(obj)?;
    if !server_tools.is_empty() {
        req.extra
            .insert(SERVER_TOOLS_KEY.into(), Value::Array(server_tools));
    }
    for (key, value) in obj {
        let known =
            HUB_FIELDS.contains(&key.as_str()) || ROUTER_ONLY_FIELDS.contains(&key.as_str());
        if !known && !value.is_null() {
            req.extra.insert(key.clone(), value.clone());
        }
    }
    if !req.extra.is_empty() {
        req.extra_dialect = Some(Dialect::Anthropic);
    }
    Ok(req)
}

/// `system`: a string or an array of text blocks (with `cache_control`).
fn system(v: Option<&Value>) -> Result<Vec<Part>, ApiError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::text(s.clone())]),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let path = join("system", i);
                match block_type(b, &path)? {
                    "text" => text_part(b, &path),
                    other => Err(bad(
                        &join(&path, "type"),
                        format!("Input should be 'text', got '{other}'"),
                    )),
                }
            })
            .collect(),
        Some(_) => Err(bad(
            "system",
            "expected a string or an array of text blocks",
        )),
    }
}

fn messages(v: Option<&Value>) -> Result<Vec<Message>, ApiError> {
    let list = match v {
        Some(Value::Array(list)) => list,
        None => return Err(bad("messages", "Field required")),
        Some(_) => return Err(bad("messages", "expected an array")),
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| message(m, &join("messages", i)))
        .collect()
}

fn message(v: &Value, path: &str) -> Result<Message, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad(path, "expected an object"))?;
    let role: String =
        opt_typed(obj, path, "role")?.ok_or_else(|| bad(&join(path, "role"), "Field required"))?;
    let content_path = join(path, "content");
    let body = field(obj, "content").ok_or_else(|| bad(&content_path, "Field required"))?;
    let role = match role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(bad(
                &join(path, "role"),
                format!("Input should be 'user' or 'assistant', got '{other}'"),
            ))
        }
    };
    Ok(Message {
        role,
        content: content(body, &content_path)?,
    })
}

/// Message or tool-result content: a string or an array of content blocks.
fn content(v: &Value, path: &str) -> Result<Vec<Part>, ApiError> {
    match v {
        Value::String(s) => Ok(vec![Part::text(s.clone())]),
        Value::Array(blocks) => blocks
            .iter()
            .enumerate()
            .map(|(i, b)| content_block(b, &join(path, i)))
            .collect(),
        _ => Err(bad(path, "expected a string or an array of content blocks")),
    }
}

fn block_type<'a>(b: &'a Value, path: &str) -> Result<&'a str, ApiError> {
    let obj = b
        .as_object()
        .ok_or_else(|| bad(path, "expected an object"))?;
    match obj.get("type") {
        Some(Value::String(t)) => Ok(t),
        None => Err(bad(&join(path, "type"), "Field required")),
        Some(_) => Err(bad(&join(path, "type"), "expected a string")),
    }
}

fn text_part(b: &Value, path: &str) -> Result<Part, ApiError> {
    let t: TextBlock = typed(b, path)?;
    Ok(Part::Text {
        text: t.text,
        cache_control: t.cache_control,
    })
}

fn unknown(b: &Value) -> Part {
    Part::Unknown {
        dialect: Dialect::Anthropic,
        value: b.clone(),
    }
}

fn content_block(b: &Value, path: &str) -> Result<Part, ApiError> {
    match block_type(b, path)? {
        "text" => text_part(b, path),
        "image" => {
            let m: MediaBlock = typed(b, path)?;
            Ok(match m.source {
                WireSource::Base64 { media_type, data } => Part::Image {
                    source: MediaSource::Base64 { media_type, data },
                    detail: None,
                },
                WireSource::Url { url } => Part::Image {
                    source: MediaSource::Url {
                        url,
                        media_type: None,
                    },
                    detail: None,
                },
                // Files API ids and other sources only mean something to Anthropic itself.
                _ => unknown(b),
            })
        }
        "document" => {
            let m: MediaBlock = typed(b, path)?;
            Ok(match m.source {
                WireSource::Base64 { media_type, data } => Part::File {
                    source: MediaSource::Base64 { media_type, data },
                    filename: m.title,
                },
                WireSource::Url { url } => Part::File {
                    source: MediaSource::Url {
                        url,
                        media_type: Some("application/pdf".into()),
                    },
                    filename: m.title,
                },
                // A plain-text document is text to any other vendor.
                WireSource::Text { data } => Part::text(data),
                WireSource::Other => unknown(b),
            })
        }
        "tool_use" => {
            let t: ToolUseBlock = typed(b, path)?;
            let arguments = match t.input {
                None => "{}".to_string(),
                Some(input @ Value::Object(_)) => input.to_string(),
                Some(_) => return Err(bad(&join(path, "input"), "expected an object")),
            };
            Ok(Part::ToolUse {
                id: t.id,
                name: t.name,
                arguments,
                signature: None,
            })
        }
        "tool_result" => {
            let r: ToolResultBlock = typed(b, path)?;
            let content = match b.get("content").filter(|c| !c.is_null()) {
                None => Vec::new(),
                Some(c) => content(c, &join(path, "content"))?,
            };
            Ok(Part::ToolResult {
                tool_use_id: r.tool_use_id,
                name: None,
                content,
                is_error: r.is_error.unwrap_or(false),
            })
        }
        "thinking" => {
            let t: ThinkingBlock = typed(b, path)?;
            Ok(Part::Thinking {
                text: t.thinking,
                signature: t
                    .signature
                    .filter(|s| !s.is_empty())
                    .map(|s| Signed::take_in(Dialect::Anthropic, &s)),
            })
        }
        "redacted_thinking" => {
            let r: RedactedThinkingBlock = typed(b, path)?;
            Ok(Part::RedactedThinking {
                data: Signed::take_in(Dialect::Anthropic, &r.data),
            })
        }
        _ => Ok(unknown(b)),
    }
}

/// Custom tools go to the hub; server tools (typed, without `input_schema`) are returned to be
/// kept for anthropic-kind upstreams only.
fn tools(req: &mut ChatRequest, v: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    let list = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("tools", "expected an array")),
    };
    let mut server = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let path = join("tools", i);
        let tool: WireTool = typed(t, &path)?;
        let custom = tool.kind.as_deref().is_none_or(|k| k == "custom");
        let schema = match (tool.input_schema, custom) {
            (Some(schema @ Value::Object(_)), _) => schema,
            (Some(_), _) => return Err(bad(&join(&path, "input_schema"), "expected an object")),
            (None, false) => {
                server.push(t.clone());
                continue;
            }
            (None, true) => return Err(bad(&join(&path, "input_schema"), "Field required")),
        };
        let name = tool
            .name
            .ok_or_else(|| bad(&join(&path, "name"), "Field required"))?;
        req.tools.push(Tool {
            name,
            description: tool.description,
            parameters: schema,
            strict: tool.strict,
            cache_control: tool.cache_control,
        });
    }
    Ok(server)
}

fn tool_choice(req: &mut ChatRequest, obj: &Obj) -> Result<(), ApiError> {
    let Some(tc) = opt_typed::<WireToolChoice>(obj, "", "tool_choice")? else {
        return Ok(());
    };
    req.tool_choice = Some(match tc.kind.as_str() {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Named(
            tc.name
                .ok_or_else(|| bad("tool_choice.name", "Field required"))?,
        ),
        other => {
            return Err(bad(
                "tool_choice.type",
                format!("Input should be 'auto', 'any', 'tool' or 'none', got '{other}'"),
            ))
        }
    });
    if tc.disable_parallel_tool_use == Some(true) {
        req.parallel_tool_calls = Some(false);
    }
    Ok(())
}

/// `thinking`: enabled with a budget, adaptive (the model decides), or disabled.
fn thinking(obj: &Obj) -> Result<Option<Reasoning>, ApiError> {
    let Some(t) = opt_typed::<WireThinking>(obj, "", "thinking")? else {
        return Ok(None);
    };
    let reasoning = match t.kind.as_str() {
        "enabled" => Reasoning {
            max_tokens: Some(
                t.budget_tokens
                    .ok_or_else(|| bad("thinking.budget_tokens", "Field required"))?,
            ),
            enabled: Some(true),
            ..Reasoning::default()
        },
        "adaptive" => Reasoning {
            enabled: Some(true),
            ..Reasoning::default()
        },
        "disabled" => Reasoning {
            enabled: Some(false),
            ..Reasoning::default()
        },
        other => {
            return Err(bad(
                "thinking.type",
                format!("Input should be 'enabled', 'adaptive' or 'disabled', got '{other}'"),
            ))
        }
    };
    Ok(Some(reasoning))
}

// ---------------------------------------------------------------------------------------------
// Hub → message object
// ---------------------------------------------------------------------------------------------

/// Renders a hub response as an Anthropic message object. Tool arguments that are not a JSON
/// object (a model emitting broken JSON through another vendor) become
/// `{"_raw_arguments": "<text>"}`: Anthropic requires an object, and the text is kept so the
/// caller can see what the model produced. Parts Anthropic has no output block for (images,
/// audio, other dialects' unknown parts) are left out.
pub fn from_internal(resp: &ChatResponse, id: &str, model: &str) -> Value {
    let content: Vec<Value> = resp.content.iter().filter_map(output_block).collect();
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reasons::stop_reason(resp.stop_reason, resp.stop_sequence.as_deref()),
        "stop_sequence": resp.stop_sequence,
        "usage": usage::usage_json(&resp.usage),
    })
}

fn output_block(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Thinking { text, signature } => json!({
            "type": "thinking",
            "thinking": text,
            "signature": signature.as_ref().map(|s| s.hand_out(Dialect::Anthropic)).unwrap_or_default(),
        }),
        Part::RedactedThinking { data } => {
            json!({"type": "redacted_thinking", "data": data.hand_out(Dialect::Anthropic)})
        }
        Part::Text { text, .. } => json!({"type": "text", "text": text}),
        Part::ToolUse {
            id,
            name,
            arguments,
            ..
        } => json!({"type": "tool_use", "id": id, "name": name, "input": tool_input(arguments)}),
        Part::Unknown {
            dialect: Dialect::Anthropic,
            value,
        } => value.clone(),
        _ => return None,
    })
}

/// Tool arguments as the object Anthropic's `input` must be.
pub fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"_raw_arguments": arguments}),
    }
}

// ---------------------------------------------------------------------------------------------
// Hub stream → Anthropic SSE events
// ---------------------------------------------------------------------------------------------

/// Encodes hub stream events as Anthropic stream events (each value's `type` is also its SSE
/// event name): `message_start`, then per block `content_block_start` / `_delta` / `_stop`
/// (a `ping` after the first block start, as Anthropic sends), and from [`EventEncoder::finish`]
/// `message_delta` (stop reason and the final usage) and `message_stop`.
///
/// `message_start` is held back until the first content or finish event, so a usage snapshot
/// that arrives right after the upstream's start is reported in it; usage that arrives only at
/// the end (OpenAI, Gemini upstreams) is reported in `message_delta`.
#[derive(Debug)]
pub struct EventEncoder {
    id: String,
    /// Who signed the thinking blocks: another dialect's signatures go out tagged.
    signer: Dialect,
    /// Blocks whose signature has begun (only its first fragment carries the tag).
    signed: BTreeSet<usize>,
    model: String,
    started: bool,
    pinged: bool,
    open: BTreeSet<usize>,
    usage: Usage,
    stop: Option<(StopReason, Option<String>)>,
}

impl EventEncoder {
    /// `id` is the message id (`msg_…` or our generation id), `model` the model reported.
    pub fn new(id: &str, model: &str, signer: Dialect) -> Self {
        EventEncoder {
            id: id.to_string(),
            signer,
            signed: BTreeSet::new(),
            model: model.to_string(),
            started: false,
            pinged: false,
            open: BTreeSet::new(),
            usage: Usage::default(),
            stop: None,
        }
    }

    /// Appends the Anthropic events for one hub event.
    pub fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        match ev {
            StreamEvent::Start { .. } => {}
            StreamEvent::Usage(u) => self.usage = *u,
            StreamEvent::BlockStart { index, block } => {
                self.ensure_started(out);
                self.block_start(*index, block, out);
            }
            StreamEvent::BlockDelta { index, delta } => {
                self.ensure_started(out);
                self.block_delta(*index, delta, out);
            }
            StreamEvent::BlockStop { index } => {
                self.ensure_started(out);
                if self.open.remove(index) {
                    out.push(json!({"type": "content_block_stop", "index": index}));
                }
            }
            StreamEvent::Finish {
                reason,
                stop_sequence,
                ..
            } => {
                self.ensure_started(out);
                self.stop = Some((*reason, stop_sequence.clone()));
            }
        }
    }

    /// Ends a successful stream: closes open blocks, then `message_delta` and `message_stop`.
    pub fn finish(&mut self, out: &mut Vec<Value>) {
        self.ensure_started(out);
        for index in std::mem::take(&mut self.open) {
            out.push(json!({"type": "content_block_stop", "index": index}));
        }
        let (reason, sequence) = self.stop.clone().unwrap_or((StopReason::Stop, None));
        out.push(json!({
            "type": "message_delta",
            "delta": {
                "stop_reason": reasons::stop_reason(reason, sequence.as_deref()),
                "stop_sequence": sequence,
            },
            "usage": {
                "output_tokens": self.usage.output_tokens,
                "input_tokens": usage::uncached_input(&self.usage),
                "cache_creation_input_tokens": self.usage.cache_write_tokens,
                "cache_read_input_tokens": self.usage.cache_read_tokens,
            },
        }));
        out.push(json!({"type": "message_stop"}));
    }

    fn ensure_started(&mut self, out: &mut Vec<Value>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(json!({
            "type": "message_start",
            "message": {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage::usage_json(&self.usage),
            },
        }));
    }

    fn block_start(&mut self, index: usize, block: &BlockStart, out: &mut Vec<Value>) {
        if !self.open.insert(index) {
            return;
        }
        let content_block = match block {
            BlockStart::Text => json!({"type": "text", "text": ""}),
            BlockStart::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            BlockStart::RedactedThinking { data } => {
                json!({"type": "redacted_thinking", "data": tagged(self.signer, Dialect::Anthropic, data)})
            }
            BlockStart::ToolUse { id, name } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": {}})
            }
        };
        out.push(json!({
            "type": "content_block_start",
            "index": index,
            "content_block": content_block,
        }));
        if !self.pinged {
            self.pinged = true;
            out.push(json!({"type": "ping"}));
        }
    }

    fn block_delta(&mut self, index: usize, delta: &BlockDelta, out: &mut Vec<Value>) {
        // A delta for a block that never started has nothing to attach to on this wire.
        if !self.open.contains(&index) {
            return;
        }
        let delta = match delta {
            BlockDelta::Text(t) if !t.is_empty() => json!({"type": "text_delta", "text": t}),
            BlockDelta::Thinking(t) if !t.is_empty() => {
                json!({"type": "thinking_delta", "thinking": t})
            }
            BlockDelta::Signature(s) if !s.is_empty() => {
                let s = if self.signed.insert(index) {
                    tagged(self.signer, Dialect::Anthropic, s)
                } else {
                    s.clone()
                };
                json!({"type": "signature_delta", "signature": s})
            }
            BlockDelta::ToolInput(j) if !j.is_empty() => {
                json!({"type": "input_json_delta", "partial_json": j})
            }
            _ => return,
        };
        out.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
    }
}
