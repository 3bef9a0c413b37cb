//! The Anthropic Messages surface: request → hub, hub → message object, hub stream → Anthropic
//! SSE events, and a local token estimate for openai-kind upstreams.

use crate::error::{ApiError, ErrorKind};
use crate::model::{
    BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, MediaSource, Message, Part,
    Reasoning, Role, StopReason, StreamEvent, Tool, ToolChoice, Usage,
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
                signature: t.signature.filter(|s| !s.is_empty()),
            })
        }
        "redacted_thinking" => {
            let r: RedactedThinkingBlock = typed(b, path)?;
            Ok(Part::RedactedThinking { data: r.data })
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

/// Anthropic's `stop_reason` for a hub stop reason.
pub fn stop_reason(reason: StopReason, stop_sequence: Option<&str>) -> &'static str {
    match reason {
        StopReason::Stop if stop_sequence.is_some() => "stop_sequence",
        StopReason::Stop | StopReason::Error => "end_turn",
        StopReason::Length => "max_tokens",
        StopReason::ToolCalls => "tool_use",
        StopReason::ContentFilter => "refusal",
    }
}

/// The hub stop reason for an Anthropic `stop_reason`.
pub fn hub_stop_reason(native: &str) -> StopReason {
    match native {
        "max_tokens" | "model_context_window_exceeded" => StopReason::Length,
        "tool_use" => StopReason::ToolCalls,
        "refusal" => StopReason::ContentFilter,
        _ => StopReason::Stop,
    }
}

/// Anthropic's usage object. Its `input_tokens` excludes cached tokens, which the hub counts in.
pub fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": anthropic_input_tokens(u),
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
    })
}

fn anthropic_input_tokens(u: &Usage) -> u64 {
    u.input_tokens
        .saturating_sub(u.cache_read_tokens)
        .saturating_sub(u.cache_write_tokens)
}

/// Hub usage from an Anthropic usage object (absent fields count as 0).
pub fn usage_from_anthropic(u: &Value) -> Usage {
    let mut usage = Usage::default();
    merge_usage(&mut usage, u);
    usage
}

/// Applies the fields present in an Anthropic usage object (`message_delta` carries only some)
/// to a hub usage snapshot.
pub fn merge_usage(usage: &mut Usage, u: &Value) {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let uncached = n("input_tokens").unwrap_or_else(|| anthropic_input_tokens(usage));
    if let Some(w) = n("cache_creation_input_tokens") {
        usage.cache_write_tokens = w;
    }
    if let Some(r) = n("cache_read_input_tokens") {
        usage.cache_read_tokens = r;
    }
    usage.input_tokens = uncached + usage.cache_read_tokens + usage.cache_write_tokens;
    if let Some(o) = n("output_tokens") {
        usage.output_tokens = o;
    }
}

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
        "stop_reason": stop_reason(resp.stop_reason, resp.stop_sequence.as_deref()),
        "stop_sequence": resp.stop_sequence,
        "usage": usage_json(&resp.usage),
    })
}

fn output_block(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Thinking { text, signature } => json!({
            "type": "thinking",
            "thinking": text,
            "signature": signature.as_deref().unwrap_or(""),
        }),
        Part::RedactedThinking { data } => json!({"type": "redacted_thinking", "data": data}),
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
    model: String,
    started: bool,
    pinged: bool,
    open: BTreeSet<usize>,
    usage: Usage,
    stop: Option<(StopReason, Option<String>)>,
}

impl EventEncoder {
    /// `id` is the message id (`msg_…` or our generation id), `model` the model reported.
    pub fn new(id: &str, model: &str) -> Self {
        EventEncoder {
            id: id.to_string(),
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
                "stop_reason": stop_reason(reason, sequence.as_deref()),
                "stop_sequence": sequence,
            },
            "usage": {
                "output_tokens": self.usage.output_tokens,
                "input_tokens": anthropic_input_tokens(&self.usage),
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
                "usage": usage_json(&self.usage),
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
                json!({"type": "redacted_thinking", "data": data})
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

/// The `event: error` payload for a failure after the stream began.
pub fn error_event(e: &ApiError) -> Value {
    json!({"type": "error", "error": {"type": e.anthropic_type(), "message": e.message}})
}

// ---------------------------------------------------------------------------------------------
// Local token estimate (openai-kind upstreams have no count endpoint)
// ---------------------------------------------------------------------------------------------

/// OpenAI's tokenizer families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    O200kBase,
    Cl100kBase,
}

impl Encoding {
    /// `o200k_base` for the GPT-4o / 4.1 / 4.5 / 5 and o-series families, else `cl100k_base`.
    pub fn for_model(model: &str) -> Encoding {
        let name = model
            .rsplit('/')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        let o_series = ["o1", "o3", "o4"]
            .iter()
            .any(|p| name == *p || name.starts_with(&format!("{p}-")));
        let o200k = [
            "gpt-4o",
            "chatgpt-4o",
            "gpt-4.1",
            "gpt-4.5",
            "gpt-5",
            "gpt-oss",
            "codex-",
        ]
        .iter()
        .any(|p| name.starts_with(p));
        if o_series || o200k {
            Encoding::O200kBase
        } else {
            Encoding::Cl100kBase
        }
    }

    fn count(self, text: &str) -> u64 {
        let bpe = match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        };
        bpe.count_ordinary(text) as u64
    }
}

// Framing constants from OpenAI's cookbook ("How to count tokens with tiktoken", and its
// section on function/tool definitions, measured for the gpt-4o family).
const TOKENS_PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;
const TOOL_CALL_OVERHEAD: u64 = 1;
const FUNC_INIT: u64 = 7;
const PROP_INIT: u64 = 3;
const PROP_KEY: u64 = 3;
const ENUM_ITEM: u64 = 3;
const FUNC_END: u64 = 12;

/// Estimates the prompt tokens an openai-kind upstream would count for a hub request, with
/// tiktoken and the cookbook's per-message and per-tool overheads. Images use OpenAI's tile
/// formula when their size can be read from the data (an unreadable or remote image counts as
/// a 1024×1024 one); reasoning parts are not sent to OpenAI-format upstreams and are not
/// counted. Documents cannot be counted locally: that is an error, not a guess.
pub fn estimate_openai_tokens(req: &ChatRequest, model: &str) -> Result<u64, ApiError> {
    let enc = Encoding::for_model(model);
    let mini = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .starts_with("gpt-4o-mini");
    let mut total = REPLY_PRIMING;
    if !req.system.is_empty() {
        total += TOKENS_PER_MESSAGE + enc.count("system");
        for p in &req.system {
            total += part_tokens(enc, p, mini)?;
        }
    }
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut body = 0;
        // An empty turn is still a message; one holding only tool results is not.
        let mut has_body = m.content.is_empty();
        for p in &m.content {
            if let Part::ToolResult { content, .. } = p {
                // Each tool result is its own `tool` message on the OpenAI wire.
                total += TOKENS_PER_MESSAGE + enc.count("tool");
                for c in content {
                    total += part_tokens(enc, c, mini)?;
                }
            } else {
                has_body = true;
                body += part_tokens(enc, p, mini)?;
            }
        }
        if has_body {
            total += TOKENS_PER_MESSAGE + enc.count(role) + body;
        }
    }
    if !req.tools.is_empty() {
        total += req.tools.iter().map(|t| tool_tokens(enc, t)).sum::<u64>() + FUNC_END;
    }
    Ok(total)
}

fn part_tokens(enc: Encoding, p: &Part, mini: bool) -> Result<u64, ApiError> {
    Ok(match p {
        Part::Text { text, .. } => enc.count(text),
        Part::Image { source, detail } => image_tokens(source, detail.as_deref(), mini),
        Part::ToolUse {
            name, arguments, ..
        } => enc.count(name) + enc.count(arguments) + TOOL_CALL_OVERHEAD,
        Part::ToolResult { content, .. } => {
            let mut n = 0;
            for c in content {
                n += part_tokens(enc, c, mini)?;
            }
            n
        }
        Part::Thinking { .. } | Part::RedactedThinking { .. } | Part::Unknown { .. } => 0,
        Part::File { .. } | Part::Audio { .. } => {
            return Err(ApiError::new(
                ErrorKind::NotImplemented,
                "token counting for documents and audio is not available for openai-kind providers; remove them or count against an anthropic or gemini provider",
            ))
        }
    })
}

/// One tool definition, following the cookbook: name and description, then each top-level
/// property as `name:type:description` plus its enum values. Nested schemas (which the
/// cookbook does not cover) add their compact JSON.
fn tool_tokens(enc: Encoding, t: &Tool) -> u64 {
    let desc = t.description.as_deref().unwrap_or("");
    let mut n = FUNC_INIT + enc.count(&format!("{}:{}", t.name, desc.trim_end_matches('.')));
    let Some(props) = t.parameters.get("properties").and_then(Value::as_object) else {
        return n;
    };
    if props.is_empty() {
        return n;
    }
    n += PROP_INIT;
    for (key, schema) in props {
        n += PROP_KEY;
        let kind = match schema.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let p_desc = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        n += enc.count(&format!("{key}:{kind}:{}", p_desc.trim_end_matches('.')));
        if let Some(items) = schema.get("enum").and_then(Value::as_array) {
            // The cookbook's enum_init is -3: the first item's framing is free.
            n = n.saturating_sub(ENUM_ITEM);
            for item in items {
                let text = item
                    .as_str()
                    .map_or_else(|| item.to_string(), str::to_string);
                n += ENUM_ITEM + enc.count(&text);
            }
        }
        let nested: Obj = schema
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "type" | "description" | "enum"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if !nested.is_empty() {
            n += enc.count(&Value::Object(nested).to_string());
        }
    }
    n
}

/// OpenAI's image cost: 85 base tokens plus 170 per 512px tile after scaling to fit 2048×2048
/// and then to a 768px shortest side (gpt-4o-mini: 2833 + 5667 per tile); `low` detail is the
/// base cost alone.
fn image_tokens(source: &MediaSource, detail: Option<&str>, mini: bool) -> u64 {
    let (base, per_tile) = if mini { (2833, 5667) } else { (85, 170) };
    if detail == Some("low") {
        return base;
    }
    let (w, h) = match source {
        MediaSource::Base64 { data, .. } => image_size(data).unwrap_or((1024, 1024)),
        MediaSource::Url { .. } => (1024, 1024),
    };
    let (mut w, mut h) = (w.max(1) as f64, h.max(1) as f64);
    let fit = (2048.0 / w.max(h)).min(1.0);
    w *= fit;
    h *= fit;
    let shrink = (768.0 / w.min(h)).min(1.0);
    w *= shrink;
    h *= shrink;
    let tiles = ((w / 512.0).ceil() * (h / 512.0).ceil()) as u64;
    base + per_tile * tiles
}

/// Width and height of a base64 PNG, GIF, JPEG or WebP image, read from its header.
pub fn image_size(b64: &str) -> Option<(u32, u32)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let be16 = |i: usize| Some(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as u32);
    let le16 = |i: usize| Some(u16::from_le_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as u32);
    let be32 = |i: usize| {
        Some(u32::from_be_bytes([
            *bytes.get(i)?,
            *bytes.get(i + 1)?,
            *bytes.get(i + 2)?,
            *bytes.get(i + 3)?,
        ]))
    };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((be32(16)?, be32(20)?));
    }
    if bytes.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return webp_size(&bytes);
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        // Walk JPEG segments to the first start-of-frame marker.
        let mut i = 2;
        while i + 9 < bytes.len() {
            if bytes[i] != 0xFF {
                return None;
            }
            let marker = bytes[i + 1];
            let len = be16(i + 2)? as usize;
            let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if sof {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            i += 2 + len;
        }
    }
    None
}

fn webp_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let b = |i: usize| bytes.get(i).copied().map(u32::from);
    match bytes.get(12..16)? {
        b"VP8X" => Some((
            1 + (b(24)? | b(25)? << 8 | b(26)? << 16),
            1 + (b(27)? | b(28)? << 8 | b(29)? << 16),
        )),
        b"VP8 " => Some((
            (b(26)? | b(27)? << 8) & 0x3FFF,
            (b(28)? | b(29)? << 8) & 0x3FFF,
        )),
        b"VP8L" => {
            let bits = b(21)? | b(22)? << 8 | b(23)? << 16 | b(24)? << 24;
            Some((1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)))
        }
        _ => None,
    }
}
