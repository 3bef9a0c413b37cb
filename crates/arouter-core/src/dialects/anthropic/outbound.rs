//! The `anthropic` wire format adapter: hub requests to the Messages API (`POST /v1/messages`),
//! and its answers, errors and SSE streams back to the hub.

pub use super::errors::parse_error;
use super::errors::WireError;
use super::usage::WireUsage;
#[allow(unused_imports)]
use super::{errors, reasons, usage};
use crate::dialects::target::{StreamDecoder, Target, UpstreamRequest};
use crate::error::{upstream_error, ApiError};
use crate::model::{
    BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, MediaSource, Message, Part,
    Reasoning, ResponseFormat, Role, Signed, StreamEvent, ToolChoice,
};
use crate::sse::SseEvent;
#[cfg(test)]
use crate::{error::ErrorKind, model::StopReason, model::Usage};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// Anthropic rejects `thinking.budget_tokens` below this.
const MIN_THINKING_BUDGET: u32 = 1024;
/// Anthropic has no schemaless JSON mode; `response_format: json_object` becomes this instruction.
const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single JSON object only: no prose before or after it and no Markdown code fences.";

// ---------------------------------------------------------------------------------------------
// Request wire types
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<WireBlock<'a>>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<WireThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<WireOutputConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<WireMetadata<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<WireBlock<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock<'a> {
    Text {
        text: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Image {
        source: WireSource<'a>,
    },
    Document {
        source: WireSource<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'a str>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<WireToolResultContent<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    /// An Anthropic block the hub does not model, replayed verbatim.
    #[serde(untagged)]
    Raw(&'a Value),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireSource<'a> {
    Base64 {
        media_type: &'a str,
        data: &'a str,
    },
    Url {
        url: &'a str,
    },
    /// Plain-text document content (decoded from the hub's base64).
    Text {
        media_type: &'static str,
        data: String,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolResultContent<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<WireBlock<'a>>),
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Cow<'a, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
}

#[derive(Serialize)]
struct WireToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
struct WireThinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u32,
}

#[derive(Serialize)]
struct WireOutputConfig<'a> {
    format: WireOutputFormat<'a>,
}

#[derive(Serialize)]
struct WireOutputFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: &'a Value,
}

#[derive(Serialize)]
struct WireMetadata<'a> {
    user_id: &'a str,
}

// ---------------------------------------------------------------------------------------------
// build
// ---------------------------------------------------------------------------------------------

/// Builds `POST {base_url}/v1/messages` for a hub request.
pub fn build(req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, ApiError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(ApiError::bad_request("n > 1 is not supported by anthropic"));
    }
    let messages = wire_messages(&req.messages)?;
    let tools = req.tools.iter().map(wire_tool).collect::<Vec<_>>();
    let tool_choice = wire_tool_choice(
        req.tool_choice.as_ref(),
        req.parallel_tool_calls,
        !tools.is_empty(),
    );
    // Anthropic rejects thinking together with forced tool use or an assistant prefill. Those
    // are explicit demands of the caller, so they win and the reasoning request is dropped.
    // Likewise for a tool loop whose assistant turn lost its thinking block (a client of
    // another dialect replayed only the call): Anthropic cannot continue it with thinking on.
    let forced_tool = tool_choice
        .as_ref()
        .is_some_and(|c| c.kind == "any" || c.kind == "tool");
    let prefill = messages.last().is_some_and(|m| m.role == "assistant");
    let reasoning = req
        .reasoning
        .as_ref()
        .filter(|r| r.is_on() && !forced_tool && !prefill && !unthought_tool_loop(&messages));
    let (max_tokens, thinking) = token_limits(
        req.max_tokens.unwrap_or(target.default_max_tokens),
        reasoning,
    );
    let sampling = Sampling::for_request(req, thinking.is_some());

    let mut system = wire_system(&req.system)?;
    // Structured output uses Anthropic's native `output_config.format` (GA, no beta header):
    // the answer comes back as a plain text block holding the JSON, so `parse` and the stream
    // decoder need no knowledge of the request. A forced tool would instead need the response
    // side to recognise and unwrap a synthetic tool call, and conflicts with thinking.
    let output_config = match &req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(WireOutputConfig {
            format: WireOutputFormat {
                kind: "json_schema",
                schema,
            },
        }),
        Some(ResponseFormat::JsonObject) => {
            system.push(WireBlock::Text {
                text: Cow::Borrowed(JSON_OBJECT_INSTRUCTION),
                cache_control: None,
            });
            None
        }
        Some(ResponseFormat::Text) | None => None,
    };

    let wire = WireRequest {
        model: target.model,
        max_tokens,
        system,
        messages,
        tools,
        tool_choice,
        stop_sequences: &req.stop,
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        top_k: sampling.top_k,
        thinking,
        output_config,
        metadata: req.user.as_deref().map(|user_id| WireMetadata { user_id }),
        stream: req.stream,
    };
    let merge = req.extra_dialect == Some(Dialect::Anthropic) && !req.extra.is_empty();
    let body = if merge {
        let mut body = match serde_json::to_value(&wire) {
            Ok(Value::Object(map)) => map,
            Ok(_) | Err(_) => {
                return Err(ApiError::internal("anthropic request did not serialize"))
            }
        };
        merge_extra(&mut body, &req.extra);
        serde_json::to_vec(&body)
    } else {
        // Nothing to merge: written straight from the wire struct, no intermediate tree.
        serde_json::to_vec(&wire)
    }
    .map_err(|e| ApiError::internal(format!("anthropic request did not serialize: {e}")))?;
    Ok(UpstreamRequest {
        url: format!("{}/v1/messages", target.provider.base_url),
        headers: super::request_headers(target.api_key, super::API_VERSION),
        body: body.into(),
    })
}

/// Adds the caller's Anthropic-only fields without overwriting what the adapter computed; two
/// objects under the same key (e.g. `output_config`) are merged one level deep.
fn merge_extra(body: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        match (body.get_mut(key), value) {
            (None, _) => {
                body.insert(key.clone(), value.clone());
            }
            (Some(Value::Object(ours)), Value::Object(theirs)) => {
                for (k, v) in theirs {
                    ours.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            (Some(_), _) => {}
        }
    }
}

/// `max_tokens` (required by Anthropic) and the thinking config. The thinking budget must be at
/// least 1024 and below `max_tokens`; when it is not, `max_tokens` grows by the budget so the
/// caller keeps the output room it asked for.
fn token_limits(max_tokens: u32, reasoning: Option<&Reasoning>) -> (u32, Option<WireThinking>) {
    let Some(reasoning) = reasoning else {
        return (max_tokens, None);
    };
    let budget = reasoning.budget(max_tokens).max(MIN_THINKING_BUDGET);
    let max_tokens = if budget >= max_tokens {
        budget.saturating_add(max_tokens.max(1))
    } else {
        max_tokens
    };
    let thinking = WireThinking {
        kind: "enabled",
        budget_tokens: budget,
    };
    (max_tokens, Some(thinking))
}

/// Sampling parameters Anthropic accepts for this request.
struct Sampling {
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
}

impl Sampling {
    fn for_request(req: &ChatRequest, thinking: bool) -> Self {
        let mut s = if thinking {
            // With thinking on, Anthropic rejects temperature (other than 1) and top_k, and
            // accepts top_p only between 0.95 and 1.
            Sampling {
                temperature: req.temperature.filter(|t| *t == 1.0),
                top_p: req.top_p.filter(|p| (0.95..=1.0).contains(p)),
                top_k: None,
            }
        } else {
            // Anthropic's temperature range is 0..=1 (OpenAI's goes to 2).
            Sampling {
                temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
                top_p: req.top_p,
                top_k: req.top_k,
            }
        };
        // Current Claude models reject temperature and top_p together.
        if s.temperature.is_some() {
            s.top_p = None;
        }
        s
    }
}

fn wire_system(parts: &[Part]) -> Result<Vec<WireBlock<'_>>, ApiError> {
    let mut blocks = Vec::new();
    for part in parts {
        match part {
            Part::Text { text, .. } if text.is_empty() => {}
            Part::Text {
                text,
                cache_control,
            } => blocks.push(WireBlock::Text {
                text: Cow::Borrowed(text),
                cache_control: cache_control.as_ref(),
            }),
            Part::Unknown {
                dialect: Dialect::Anthropic,
                value,
            } => blocks.push(WireBlock::Raw(value)),
            Part::Unknown { .. } => {}
            _ => {
                return Err(ApiError::bad_request(
                    "anthropic accepts only text in system instructions",
                ))
            }
        }
    }
    Ok(blocks)
}

fn wire_tool(tool: &crate::model::Tool) -> WireTool<'_> {
    WireTool {
        name: &tool.name,
        description: tool.description.as_deref(),
        input_schema: input_schema(&tool.parameters),
        strict: tool.strict.filter(|s| *s),
        cache_control: tool.cache_control.as_ref(),
    }
}

/// Anthropic requires an object schema with `type: "object"`; parameterless tools often send none.
fn input_schema(parameters: &Value) -> Cow<'_, Value> {
    match parameters {
        Value::Object(map) if map.contains_key("type") => Cow::Borrowed(parameters),
        Value::Object(map) => {
            let mut map = map.clone();
            map.insert("type".into(), "object".into());
            Cow::Owned(Value::Object(map))
        }
        _ => Cow::Owned(serde_json::json!({"type": "object", "properties": {}})),
    }
}

fn wire_tool_choice<'a>(
    choice: Option<&'a ToolChoice>,
    parallel_tool_calls: Option<bool>,
    has_tools: bool,
) -> Option<WireToolChoice<'a>> {
    if !has_tools {
        return None;
    }
    let disable_parallel = (parallel_tool_calls == Some(false)).then_some(true);
    let (kind, name) = match choice {
        None if disable_parallel.is_none() => return None,
        None | Some(ToolChoice::Auto) => ("auto", None),
        Some(ToolChoice::Required) => ("any", None),
        Some(ToolChoice::Named(name)) => ("tool", Some(name.as_str())),
        Some(ToolChoice::None) => {
            // `{"type":"none"}` takes no parallel flag: no tool can be called at all.
            return Some(WireToolChoice {
                kind: "none",
                name: None,
                disable_parallel_tool_use: None,
            });
        }
    };
    Some(WireToolChoice {
        kind,
        name,
        disable_parallel_tool_use: disable_parallel,
    })
}

/// Hub turns to Anthropic turns: unsendable parts dropped, empty turns skipped, consecutive
/// same-role turns merged (Anthropic requires alternation), tool results first in user turns,
/// and a final assistant prefill without trailing whitespace.
fn wire_messages(messages: &[Message]) -> Result<Vec<WireMessage<'_>>, ApiError> {
    let mut out: Vec<WireMessage> = Vec::new();
    for message in messages {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut blocks = Vec::with_capacity(message.content.len());
        for part in &message.content {
            if let Some(block) = wire_block(part, message.role)? {
                blocks.push(block);
            }
        }
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(WireMessage {
                role,
                content: blocks,
            }),
        }
    }
    for message in out.iter_mut().filter(|m| m.role == "user") {
        tool_results_first(&mut message.content);
    }
    trim_prefill(&mut out);
    Ok(out)
}

/// Whether the last assistant turn calls tools without opening with a thinking block: with
/// thinking enabled Anthropic requires that block before the lastmost tool use.
fn unthought_tool_loop(messages: &[WireMessage<'_>]) -> bool {
    let Some(last) = messages.iter().rev().find(|m| m.role == "assistant") else {
        return false;
    };
    let calls = last
        .content
        .iter()
        .any(|b| matches!(b, WireBlock::ToolUse { .. }));
    let opens_with_thinking = matches!(
        last.content.first(),
        Some(WireBlock::Thinking { .. } | WireBlock::RedactedThinking { .. })
    );
    calls && !opens_with_thinking
}

/// Anthropic wants the `tool_result` blocks answering the previous turn before anything else.
fn tool_results_first(blocks: &mut Vec<WireBlock<'_>>) {
    let (mut ordered, rest): (Vec<_>, Vec<_>) = std::mem::take(blocks)
        .into_iter()
        .partition(|b| matches!(b, WireBlock::ToolResult { .. }));
    ordered.extend(rest);
    *blocks = ordered;
}

/// Anthropic rejects a final assistant message ending in whitespace.
fn trim_prefill(messages: &mut Vec<WireMessage<'_>>) {
    let Some(last) = messages.last_mut().filter(|m| m.role == "assistant") else {
        return;
    };
    while let Some(WireBlock::Text { text, .. }) = last.content.last_mut() {
        let trimmed_len = text.trim_end().len();
        if trimmed_len == text.len() {
            break;
        }
        if trimmed_len == 0 {
            last.content.pop();
            continue;
        }
        match text {
            Cow::Borrowed(s) => *s = &s[..trimmed_len],
            Cow::Owned(s) => s.truncate(trimmed_len),
        }
        break;
    }
    if last.content.is_empty() {
        messages.pop();
    }
}

/// One hub part as an Anthropic block; `None` for parts Anthropic cannot take and that can be
/// dropped without changing the conversation's meaning.
fn wire_block(part: &Part, role: Role) -> Result<Option<WireBlock<'_>>, ApiError> {
    let block = match part {
        // Anthropic rejects empty text blocks.
        Part::Text { text, .. } if text.is_empty() => return Ok(None),
        Part::Text {
            text,
            cache_control,
        } => WireBlock::Text {
            text: Cow::Borrowed(text),
            cache_control: cache_control.as_ref(),
        },
        Part::Image { source, .. } => WireBlock::Image {
            source: image_source(source),
        },
        Part::Audio { .. } => {
            return Err(ApiError::bad_request(
                "anthropic does not accept audio input",
            ))
        }
        Part::File { source, filename } => document(source, filename.as_deref())?,
        Part::ToolUse {
            id,
            name,
            arguments,
            ..
        } => WireBlock::ToolUse {
            id,
            name,
            input: tool_input(id, name, arguments)?,
        },
        Part::ToolResult {
            tool_use_id,
            content,
            is_error,
            ..
        } => WireBlock::ToolResult {
            tool_use_id,
            content: tool_result_content(content)?,
            is_error: *is_error,
        },
        // Thinking is replayable only in assistant turns and only with its signature.
        // Another vendor's signature would earn a 400: such blocks are left out.
        Part::Thinking {
            text,
            signature: Some(signed),
        } if role == Role::Assistant => match signed.for_upstream(Dialect::Anthropic) {
            Some(signature) => WireBlock::Thinking {
                thinking: text,
                signature,
            },
            None => return Ok(None),
        },
        Part::Thinking { .. } => return Ok(None),
        Part::RedactedThinking { data } if role == Role::Assistant => {
            match data.for_upstream(Dialect::Anthropic) {
                Some(data) => WireBlock::RedactedThinking { data },
                None => return Ok(None),
            }
        }
        Part::RedactedThinking { .. } => return Ok(None),
        Part::Unknown {
            dialect: Dialect::Anthropic,
            value,
        } => WireBlock::Raw(value),
        Part::Unknown { .. } => return Ok(None),
    };
    Ok(Some(block))
}

fn image_source(source: &MediaSource) -> WireSource<'_> {
    match source {
        MediaSource::Base64 { media_type, data } => WireSource::Base64 { media_type, data },
        MediaSource::Url { url, .. } => WireSource::Url { url },
    }
}

/// PDFs (inline or by URL) and plain text become `document` blocks; nothing else is accepted.
fn document<'a>(
    source: &'a MediaSource,
    title: Option<&'a str>,
) -> Result<WireBlock<'a>, ApiError> {
    let source = match source {
        MediaSource::Base64 { media_type, data } => match essence(media_type) {
            "application/pdf" => WireSource::Base64 { media_type, data },
            "text/plain" => WireSource::Text {
                media_type: "text/plain",
                data: decode_text(data)?,
            },
            other => return Err(unsupported_file(other)),
        },
        MediaSource::Url { url, media_type } => match media_type.as_deref().map(essence) {
            None | Some("application/pdf") => WireSource::Url { url },
            Some(other) => return Err(unsupported_file(other)),
        },
    };
    Ok(WireBlock::Document { source, title })
}

/// `text/plain; charset=utf-8` → `text/plain`.
fn essence(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or_default().trim()
}

fn unsupported_file(media_type: &str) -> ApiError {
    ApiError::bad_request(format!(
        "anthropic accepts only PDF and plain-text files, not {media_type}"
    ))
}

fn decode_text(data: &str) -> Result<String, ApiError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::bad_request(format!("text file is not valid base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| ApiError::bad_request("text file is not valid UTF-8"))
}

/// Tool call arguments travel as JSON text in the hub; Anthropic wants the object.
fn tool_input(id: &str, name: &str, arguments: &str) -> Result<Value, ApiError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::bad_request(format!(
            "tool call {id} ({name}): arguments must be a JSON object"
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "tool call {id} ({name}): arguments are not valid JSON: {e}"
        ))),
    }
}

/// A lone plain text result goes as a string, anything richer as blocks.
fn tool_result_content(parts: &[Part]) -> Result<Option<WireToolResultContent<'_>>, ApiError> {
    let mut blocks = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Part::Text { .. }
            | Part::Image { .. }
            | Part::File { .. }
            | Part::Audio { .. }
            | Part::Unknown { .. } => {
                if let Some(block) = wire_block(part, Role::User)? {
                    blocks.push(block);
                }
            }
            Part::ToolUse { .. }
            | Part::ToolResult { .. }
            | Part::Thinking { .. }
            | Part::RedactedThinking { .. } => {
                return Err(ApiError::bad_request(
                    "a tool result may contain only text, images and documents",
                ))
            }
        }
    }
    let content = match blocks.as_slice() {
        [] => return Ok(None),
        [WireBlock::Text {
            text,
            cache_control: None,
        }] => WireToolResultContent::Text(text.clone()),
        _ => WireToolResultContent::Blocks(blocks),
    };
    Ok(Some(content))
}

mod decode;

#[allow(unused_imports)]
use decode::*;
pub use decode::{parse, Decoder};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProviderConfig, ProviderKind};
    use crate::model::{Effort, Tool};
    use serde_json::json;

    fn provider() -> ProviderConfig {
        ProviderConfig {
            id: "claude".into(),
            kind: ProviderKind::Anthropic,
            base_url: "http://127.0.0.1:9".into(),
            api_key_env: None,
            headers: Default::default(),
            models: Vec::new(),
            connect_timeout_secs: 1,
            first_byte_timeout_secs: 1,
            idle_timeout_secs: 1,
            local: None,
            drop_params: None,
        }
    }

    fn try_body(req: &ChatRequest) -> Result<Value, ApiError> {
        let provider = provider();
        let target = Target {
            provider: &provider,
            model: "claude-test",
            api_key: None,
            default_max_tokens: 4096,
        };
        let built = build(req, &target)?;
        Ok(serde_json::from_slice(&built.body).expect("body is JSON"))
    }

    fn body(req: &ChatRequest) -> Value {
        try_body(req).expect("request builds")
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

    fn hello() -> ChatRequest {
        ChatRequest {
            messages: vec![user(vec![Part::text("hi")])],
            ..ChatRequest::default()
        }
    }

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            description: None,
            parameters: json!({"type": "object", "properties": {}}),
            strict: None,
            cache_control: None,
        }
    }

    fn reasoning(effort: Option<Effort>, max_tokens: Option<u32>) -> Option<Reasoning> {
        Some(Reasoning {
            effort,
            max_tokens,
            ..Reasoning::default()
        })
    }

    #[test]
    fn rejects_what_anthropic_cannot_do() {
        let req = ChatRequest {
            n: Some(2),
            ..hello()
        };
        let err = try_body(&req).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.message, "n > 1 is not supported by anthropic");

        let req = ChatRequest {
            messages: vec![user(vec![Part::Audio {
                data: "UklGRg==".into(),
                format: "wav".into(),
            }])],
            ..ChatRequest::default()
        };
        let err = try_body(&req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest);
        assert_eq!(err.message, "anthropic does not accept audio input");

        let req = ChatRequest {
            messages: vec![user(vec![Part::File {
                source: MediaSource::Base64 {
                    media_type: "application/zip".into(),
                    data: "UEsDBA==".into(),
                },
                filename: None,
            }])],
            ..ChatRequest::default()
        };
        assert!(try_body(&req)
            .unwrap_err()
            .message
            .contains("not application/zip"));
    }

    #[test]
    fn tool_arguments_must_be_a_json_object() {
        let call = |arguments: &str| ChatRequest {
            messages: vec![
                user(vec![Part::text("go")]),
                assistant(vec![Part::ToolUse {
                    id: "call_9".into(),
                    name: "lookup".into(),
                    arguments: arguments.into(),
                    signature: None,
                }]),
            ],
            ..ChatRequest::default()
        };
        let err = try_body(&call("{\"q\": ")).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err
            .message
            .starts_with("tool call call_9 (lookup): arguments are not valid JSON"));
        let err = try_body(&call("[1]")).unwrap_err();
        assert!(err.message.contains("must be a JSON object"));
        let b = body(&call("  "));
        assert_eq!(b["messages"][1]["content"][0]["input"], json!({}));
    }

    #[test]
    fn thinking_budget_is_clamped_and_fits_under_max_tokens() {
        // Effort share of the default 4096 is below Anthropic's minimum budget.
        let b = body(&ChatRequest {
            reasoning: reasoning(Some(Effort::Minimal), None),
            ..hello()
        });
        assert_eq!(
            b["thinking"],
            json!({"type": "enabled", "budget_tokens": 1024})
        );
        assert_eq!(b["max_tokens"], 4096);

        // An explicit budget above max_tokens raises max_tokens, keeping the output room.
        let b = body(&ChatRequest {
            max_tokens: Some(1000),
            reasoning: reasoning(None, Some(8000)),
            ..hello()
        });
        assert_eq!(b["thinking"]["budget_tokens"], 8000);
        assert_eq!(b["max_tokens"], 9000);

        let b = body(&ChatRequest {
            reasoning: Some(Reasoning {
                effort: Some(Effort::High),
                enabled: Some(false),
                ..Reasoning::default()
            }),
            ..hello()
        });
        assert!(b.get("thinking").is_none());
    }

    #[test]
    fn thinking_constrains_sampling_and_yields_to_forced_tools() {
        let b = body(&ChatRequest {
            temperature: Some(1.0),
            top_p: Some(0.5),
            top_k: Some(10),
            reasoning: reasoning(Some(Effort::Low), None),
            ..hello()
        });
        assert_eq!(b["temperature"], 1.0);
        assert!(b.get("top_p").is_none());
        assert!(b.get("top_k").is_none());

        let b = body(&ChatRequest {
            tools: vec![tool("lookup")],
            tool_choice: Some(ToolChoice::Named("lookup".into())),
            temperature: Some(0.3),
            reasoning: reasoning(Some(Effort::High), None),
            ..hello()
        });
        assert!(b.get("thinking").is_none());
        assert_eq!(b["temperature"], 0.3);
        assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "lookup"}));
    }

    #[test]
    fn thinking_yields_to_a_tool_loop_that_lost_its_thinking_block() {
        let call = Part::ToolUse {
            id: "toolu_1".into(),
            name: "lookup".into(),
            arguments: "{}".into(),
            signature: Some(Signed::new(Dialect::Gemini, "sig-from-gemini")),
        };
        let result = Part::ToolResult {
            tool_use_id: "toolu_1".into(),
            name: None,
            content: vec![Part::text("42")],
            is_error: false,
        };
        let tool_loop = |assistant_parts: Vec<Part>| ChatRequest {
            messages: vec![
                user(vec![Part::text("hi")]),
                assistant(assistant_parts),
                user(vec![result.clone()]),
            ],
            tools: vec![tool("lookup")],
            reasoning: reasoning(None, Some(2048)),
            ..ChatRequest::default()
        };
        let b = body(&tool_loop(vec![call.clone()]));
        assert!(b.get("thinking").is_none(), "{b}");

        let thought = Part::Thinking {
            text: "use the tool".into(),
            signature: Some(Signed::new(Dialect::Anthropic, "sig")),
        };
        let b = body(&tool_loop(vec![thought, call.clone()]));
        assert_eq!(b["thinking"]["type"], "enabled");
        assert_eq!(b["messages"][1]["content"][0]["type"], "thinking");

        // A loop that is closed (the assistant answered in text since) keeps thinking on.
        let mut closed = tool_loop(vec![call]);
        closed
            .messages
            .push(assistant(vec![Part::text("It is 42.")]));
        closed.messages.push(user(vec![Part::text("thanks")]));
        assert_eq!(body(&closed)["thinking"]["type"], "enabled");
    }

    #[test]
    fn tool_choice_mapping() {
        let choice = |choice: Option<ToolChoice>, parallel: Option<bool>, tools: Vec<Tool>| {
            body(&ChatRequest {
                tools,
                tool_choice: choice,
                parallel_tool_calls: parallel,
                ..hello()
            })
            .get("tool_choice")
            .cloned()
        };
        let t = || vec![tool("a")];
        assert_eq!(choice(None, None, t()), None);
        assert_eq!(
            choice(None, Some(false), t()),
            Some(json!({"type": "auto", "disable_parallel_tool_use": true}))
        );
        assert_eq!(
            choice(Some(ToolChoice::Required), Some(false), t()),
            Some(json!({"type": "any", "disable_parallel_tool_use": true}))
        );
        assert_eq!(
            choice(Some(ToolChoice::None), Some(false), t()),
            Some(json!({"type": "none"}))
        );
        assert_eq!(
            choice(Some(ToolChoice::Auto), Some(true), t()),
            Some(json!({"type": "auto"}))
        );
        assert_eq!(choice(Some(ToolChoice::Required), None, Vec::new()), None);
    }

    #[test]
    fn turns_are_merged_and_cleaned() {
        let req = ChatRequest {
            messages: vec![
                user(vec![
                    Part::text("q"),
                    Part::Thinking {
                        text: "user-side thinking".into(),
                        signature: Some(Signed::new(Dialect::Anthropic, "sig")),
                    },
                ]),
                assistant(vec![Part::text("")]),
                user(vec![Part::ToolResult {
                    tool_use_id: "t1".into(),
                    name: None,
                    content: Vec::new(),
                    is_error: false,
                }]),
                assistant(vec![Part::text("a")]),
                assistant(vec![Part::text("b")]),
                assistant(vec![Part::text("  \n")]),
            ],
            ..ChatRequest::default()
        };
        let b = body(&req);
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1"},
                    {"type": "text", "text": "q"}
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "a"},
                    {"type": "text", "text": "b"}
                ]}
            ])
        );
    }

    #[test]
    fn whitespace_only_prefill_is_removed() {
        let req = ChatRequest {
            messages: vec![
                user(vec![Part::text("q")]),
                assistant(vec![Part::text(" ")]),
            ],
            ..ChatRequest::default()
        };
        let b = body(&req);
        assert_eq!(b["messages"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn plain_text_files_become_text_documents() {
        let req = ChatRequest {
            messages: vec![user(vec![Part::File {
                source: MediaSource::Base64 {
                    media_type: "text/plain; charset=utf-8".into(),
                    data: "aMOpbGxv".into(),
                },
                filename: Some("note.txt".into()),
            }])],
            ..ChatRequest::default()
        };
        assert_eq!(
            body(&req)["messages"][0]["content"][0],
            json!({
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
                "title": "note.txt"
            })
        );
    }

    #[test]
    fn extra_fields_fill_gaps_without_overriding() {
        let req = ChatRequest {
            response_format: Some(ResponseFormat::JsonSchema {
                name: "x".into(),
                schema: json!({"type": "object"}),
                strict: None,
            }),
            extra: serde_json::from_value(json!({
                "model": "sneaky",
                "output_config": {"effort": "low", "format": {"type": "other"}},
                "container": "c_1"
            }))
            .unwrap(),
            extra_dialect: Some(Dialect::Anthropic),
            ..hello()
        };
        let b = body(&req);
        assert_eq!(b["model"], "claude-test");
        assert_eq!(b["container"], "c_1");
        assert_eq!(
            b["output_config"],
            json!({"format": {"type": "json_schema", "schema": {"type": "object"}}, "effort": "low"})
        );
    }

    #[test]
    fn error_type_refines_a_generic_status() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let err = parse_error("claude", 500, body);
        assert_eq!(err.kind, ErrorKind::Overloaded);
        assert_eq!(err.status, 500);
        assert_eq!(err.metadata.as_ref().unwrap()["error_type"], "overloaded");

        let err = parse_error("claude", 401, b"");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert_eq!(err.message, "claude: HTTP 401 with an empty body");
    }

    fn sse(data: Value) -> SseEvent {
        SseEvent {
            event: data["type"].as_str().map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn unmodelled_stream_blocks_keep_hub_indexes_dense() {
        let mut d = Decoder::new("claude");
        let mut out = Vec::new();
        let events = [
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"query\":\"x\"}"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "Found"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": {}}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "pause_turn", "stop_sequence": null}, "usage": {"input_tokens": 50, "cache_read_input_tokens": 5, "output_tokens": 9}}),
            json!({"type": "message_stop"}),
        ];
        for ev in events {
            d.event(&sse(ev), &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        assert_eq!(
            out,
            vec![
                StreamEvent::BlockStart {
                    index: 0,
                    block: BlockStart::Text
                },
                StreamEvent::BlockDelta {
                    index: 0,
                    delta: BlockDelta::Text("Found".into())
                },
                StreamEvent::BlockStop { index: 0 },
                StreamEvent::Usage(Usage {
                    input_tokens: 55,
                    output_tokens: 9,
                    cache_read_tokens: 5,
                    ..Usage::default()
                }),
                StreamEvent::Finish {
                    reason: StopReason::Stop,
                    native: Some("pause_turn".into()),
                    stop_sequence: None,
                },
            ]
        );
    }

    #[test]
    fn stream_error_event_maps_its_type() {
        let mut d = Decoder::new("claude");
        let mut out = Vec::new();
        let err = d
            .event(
                &sse(json!({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(err.status, 500);
        assert_eq!(err.kind, ErrorKind::UpstreamError);
        assert_eq!(err.message, "claude: Internal server error");
        // The error was reported; finishing does not report a second one.
        assert!(d.finish(&mut out).is_ok());
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(reasons::hub_stop_reason(Some("end_turn")), StopReason::Stop);
        assert_eq!(
            reasons::hub_stop_reason(Some("stop_sequence")),
            StopReason::Stop
        );
        assert_eq!(
            reasons::hub_stop_reason(Some("pause_turn")),
            StopReason::Stop
        );
        assert_eq!(
            reasons::hub_stop_reason(Some("max_tokens")),
            StopReason::Length
        );
        assert_eq!(
            reasons::hub_stop_reason(Some("model_context_window_exceeded")),
            StopReason::Length
        );
        assert_eq!(
            reasons::hub_stop_reason(Some("tool_use")),
            StopReason::ToolCalls
        );
        assert_eq!(
            reasons::hub_stop_reason(Some("refusal")),
            StopReason::ContentFilter
        );
    }
}
