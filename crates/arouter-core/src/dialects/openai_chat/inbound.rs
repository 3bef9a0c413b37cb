//! The OpenAI / OpenRouter chat-completions surface: request → hub, hub → response, stream
//! chunks and error bodies.

use super::usage::{usage_json, UsageOut};
#[allow(unused_imports)]
use super::{errors, reasons, usage};
use crate::error::ApiError;
use crate::model::{
    tagged, BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, Effort, MediaSource,
    Message, Part, Reasoning, ResponseFormat, Role, Signed, StopReason, StreamEvent, Tool,
    ToolChoice, Usage,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

type Obj = Map<String, Value>;

/// Request fields the hub has no slot for that real OpenAI-compatible servers understand.
/// They travel in `ChatRequest::extra` and reach `openai`-kind upstreams only. Everything else
/// unknown (including OpenRouter's routing fields, handled by the router) is ignored.
const PASSTHROUGH_FIELDS: &[&str] = &[
    "store",
    "metadata",
    "service_tier",
    "modalities",
    "audio",
    "verbosity",
    "web_search_options",
    "safety_identifier",
    "prompt_cache_key",
];

fn bad(path: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{path}: {message}"))
}

fn join(prefix: &str, key: &str) -> String {
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

fn opt_str(obj: &Obj, prefix: &str, key: &str) -> Result<Option<String>, ApiError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(&join(prefix, key), "expected a string")),
    }
}

fn req_str(obj: &Obj, prefix: &str, key: &str) -> Result<String, ApiError> {
    opt_str(obj, prefix, key)?.ok_or_else(|| bad(&join(prefix, key), "is required"))
}

fn opt_f64(obj: &Obj, prefix: &str, key: &str) -> Result<Option<f64>, ApiError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(&join(prefix, key), "expected a number")),
    }
}

fn opt_u32(obj: &Obj, prefix: &str, key: &str) -> Result<Option<u32>, ApiError> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    let whole = v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    });
    whole
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| bad(&join(prefix, key), "expected a non-negative integer"))
}

fn opt_i64(obj: &Obj, prefix: &str, key: &str) -> Result<Option<i64>, ApiError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(&join(prefix, key), "expected an integer")),
    }
}

fn opt_bool(obj: &Obj, prefix: &str, key: &str) -> Result<Option<bool>, ApiError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(&join(prefix, key), "expected a boolean")),
    }
}

fn opt_obj<'a>(obj: &'a Obj, prefix: &str, key: &str) -> Result<Option<&'a Obj>, ApiError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(bad(&join(prefix, key), "expected an object")),
    }
}

fn as_obj<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, ApiError> {
    v.as_object().ok_or_else(|| bad(path, "expected an object"))
}

/// Parses an OpenAI / OpenRouter chat-completions request body into the hub.
pub fn to_internal(body: &Value) -> Result<ChatRequest, ApiError> {
    let obj = as_obj(body, "request body")?;
    let mut req = ChatRequest {
        model: opt_str(obj, "", "model")?.unwrap_or_default(),
        ..ChatRequest::default()
    };
    let messages = match field(obj, "messages") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => return Err(bad("messages", "must be a non-empty array")),
    };
    for (i, m) in messages.iter().enumerate() {
        add_message(&mut req, m, &format!("messages[{i}]"))?;
    }
    req.tools = tools(obj)?;
    req.tool_choice = tool_choice(obj)?;
    req.parallel_tool_calls = opt_bool(obj, "", "parallel_tool_calls")?;
    req.max_tokens = match opt_u32(obj, "", "max_completion_tokens")? {
        Some(n) => Some(n),
        None => opt_u32(obj, "", "max_tokens")?,
    };
    req.temperature = opt_f64(obj, "", "temperature")?;
    req.top_p = opt_f64(obj, "", "top_p")?;
    req.top_k = opt_u32(obj, "", "top_k")?;
    req.stop = stop(obj)?;
    req.seed = opt_i64(obj, "", "seed")?;
    req.frequency_penalty = opt_f64(obj, "", "frequency_penalty")?;
    req.presence_penalty = opt_f64(obj, "", "presence_penalty")?;
    req.logit_bias = opt_obj(obj, "", "logit_bias")?.map(|o| Value::Object(o.clone()));
    req.logprobs = opt_bool(obj, "", "logprobs")?;
    req.top_logprobs = opt_u32(obj, "", "top_logprobs")?;
    req.response_format = response_format(obj)?;
    req.reasoning = reasoning(obj)?;
    req.n = opt_u32(obj, "", "n")?;
    req.stream = opt_bool(obj, "", "stream")?.unwrap_or(false);
    req.user = opt_str(obj, "", "user")?;
    for key in PASSTHROUGH_FIELDS {
        if let Some(v) = field(obj, key) {
            req.extra.insert((*key).to_string(), v.clone());
        }
    }
    if !req.extra.is_empty() {
        req.extra_dialect = Some(Dialect::OpenAi);
    }
    Ok(req)
}

fn add_message(req: &mut ChatRequest, m: &Value, path: &str) -> Result<(), ApiError> {
    let obj = as_obj(m, path)?;
    let role = req_str(obj, path, "role")?;
    let content_path = join(path, "content");
    match role.as_str() {
        "system" | "developer" => {
            let parts = text_parts(field(obj, "content"), &content_path)?;
            req.system.extend(parts);
        }
        "user" => {
            let parts = user_content(field(obj, "content"), &content_path)?;
            push_user_parts(&mut req.messages, parts);
        }
        "assistant" => {
            let parts = assistant_parts(obj, path)?;
            if !parts.is_empty() {
                req.messages.push(Message {
                    role: Role::Assistant,
                    content: parts,
                });
            }
        }
        "tool" => {
            let result = Part::ToolResult {
                tool_use_id: req_str(obj, path, "tool_call_id")?,
                name: None,
                content: user_content(field(obj, "content"), &content_path)?,
                is_error: false,
            };
            push_user_parts(&mut req.messages, vec![result]);
        }
        "function" => {
            let name = req_str(obj, path, "name")?;
            let result = Part::ToolResult {
                tool_use_id: legacy_call_id(&name),
                name: Some(name),
                content: user_content(field(obj, "content"), &content_path)?,
                is_error: false,
            };
            push_user_parts(&mut req.messages, vec![result]);
        }
        other => {
            return Err(bad(
                &join(path, "role"),
                format!("unknown role \"{other}\""),
            ))
        }
    }
    Ok(())
}

/// Legacy `function_call` / `function` messages carry no ids: pair them by function name.
fn legacy_call_id(name: &str) -> String {
    format!("call_{name}")
}

/// Appends user-side parts: tool results and the user message right after them share one turn.
fn push_user_parts(messages: &mut Vec<Message>, parts: Vec<Part>) {
    if let Some(last) = messages.last_mut() {
        let after_tool_result = matches!(last.content.last(), Some(Part::ToolResult { .. }));
        if last.role == Role::User && after_tool_result {
            last.content.extend(parts);
            return;
        }
    }
    messages.push(Message {
        role: Role::User,
        content: parts,
    });
}

/// System / developer content: a string or an array of text parts.
fn text_parts(content: Option<&Value>, path: &str) -> Result<Vec<Part>, ApiError> {
    match content {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::text(s.clone())]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, item)| {
                let item_path = format!("{path}[{j}]");
                let part = as_obj(item, &item_path)?;
                match req_str(part, &item_path, "type")?.as_str() {
                    "text" => text_part(part, &item_path),
                    other => Err(bad(
                        &join(&item_path, "type"),
                        format!("expected \"text\", got \"{other}\""),
                    )),
                }
            })
            .collect(),
        Some(_) => Err(bad(path, "expected a string or an array of content parts")),
    }
}

fn text_part(part: &Obj, path: &str) -> Result<Part, ApiError> {
    Ok(Part::Text {
        text: req_str(part, path, "text")?,
        cache_control: field(part, "cache_control").cloned(),
    })
}

/// User / tool content: a string or an array of text, image, audio and file parts.
fn user_content(content: Option<&Value>, path: &str) -> Result<Vec<Part>, ApiError> {
    match content {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::text(s.clone())]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, item)| content_part(item, &format!("{path}[{j}]")))
            .collect(),
        Some(_) => Err(bad(path, "expected a string or an array of content parts")),
    }
}

fn content_part(item: &Value, path: &str) -> Result<Part, ApiError> {
    let part = as_obj(item, path)?;
    match req_str(part, path, "type")?.as_str() {
        "text" => text_part(part, path),
        "image_url" => image_part(part, path),
        "input_audio" => {
            let audio_path = join(path, "input_audio");
            let audio = opt_obj(part, path, "input_audio")?
                .ok_or_else(|| bad(&audio_path, "is required"))?;
            Ok(Part::Audio {
                data: req_str(audio, &audio_path, "data")?,
                format: req_str(audio, &audio_path, "format")?,
            })
        }
        "file" => file_part(part, path),
        // Parts the hub does not model (video_url…) replay verbatim to OpenAI-format upstreams.
        _ => Ok(Part::Unknown {
            dialect: Dialect::OpenAi,
            value: item.clone(),
        }),
    }
}

fn image_part(part: &Obj, path: &str) -> Result<Part, ApiError> {
    let image_path = join(path, "image_url");
    match field(part, "image_url") {
        Some(Value::String(url)) => Ok(Part::Image {
            source: media_source(url, &image_path)?,
            detail: None,
        }),
        Some(Value::Object(image)) => Ok(Part::Image {
            source: media_source(
                &req_str(image, &image_path, "url")?,
                &join(&image_path, "url"),
            )?,
            detail: opt_str(image, &image_path, "detail")?,
        }),
        Some(_) => Err(bad(&image_path, "expected an object with a url")),
        None => Err(bad(&image_path, "is required")),
    }
}

fn file_part(part: &Obj, path: &str) -> Result<Part, ApiError> {
    let file_path = join(path, "file");
    let file = opt_obj(part, path, "file")?.ok_or_else(|| bad(&file_path, "is required"))?;
    let filename = opt_str(file, &file_path, "filename")?;
    if let Some(data) = opt_str(file, &file_path, "file_data")? {
        return Ok(Part::File {
            source: media_source(&data, &join(&file_path, "file_data"))?,
            filename,
        });
    }
    if field(file, "file_id").is_some() {
        return Err(bad(
            &join(&file_path, "file_id"),
            "uploaded file ids are not supported; send the file inline as file_data",
        ));
    }
    Err(bad(&join(&file_path, "file_data"), "is required"))
}

/// A base64 `data:` URL or an http(s) URL.
pub fn media_source(url: &str, path: &str) -> Result<MediaSource, ApiError> {
    if url.starts_with("data:") {
        let (media_type, data) = parse_data_url(url).ok_or_else(|| {
            bad(
                path,
                "expected a data URL of the form data:<mime>;base64,<data>",
            )
        })?;
        return Ok(MediaSource::Base64 { media_type, data });
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(MediaSource::Url {
            url: url.to_string(),
            media_type: None,
        });
    }
    Err(bad(path, "expected an http(s) URL or a base64 data URL"))
}

/// Splits `data:<mime>[;params];base64,<data>` into the MIME type and the base64 payload.
pub fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let mime = meta.split(';').next().unwrap_or("");
    let mime = if mime.is_empty() {
        "application/octet-stream"
    } else {
        mime
    };
    Some((mime.to_string(), data.to_string()))
}

/// Rebuilds a `data:` URL (or returns the plain URL) for a media source.
pub fn media_url(source: &MediaSource) -> String {
    match source {
        MediaSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        MediaSource::Url { url, .. } => url.clone(),
    }
}

/// Assistant turn in hub order: thinking, text, tool uses.
fn assistant_parts(obj: &Obj, path: &str) -> Result<Vec<Part>, ApiError> {
    let mut parts = reasoning_parts(obj, path)?;
    let content_path = join(path, "content");
    match field(obj, "content") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => parts.push(Part::text(s.clone())),
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                parts.push(assistant_content_part(
                    item,
                    &format!("{content_path}[{j}]"),
                )?);
            }
        }
        Some(_) => {
            return Err(bad(
                &content_path,
                "expected a string, an array of content parts or null",
            ))
        }
    }
    if let Some(refusal) = opt_str(obj, path, "refusal")? {
        parts.push(Part::text(refusal));
    }
    if let Some(calls) = field(obj, "tool_calls") {
        let calls_path = join(path, "tool_calls");
        let calls = calls
            .as_array()
            .ok_or_else(|| bad(&calls_path, "expected an array"))?;
        for (k, call) in calls.iter().enumerate() {
            parts.push(tool_call(call, &format!("{calls_path}[{k}]"))?);
        }
    }
    if let Some(call) = opt_obj(obj, path, "function_call")? {
        let call_path = join(path, "function_call");
        let name = req_str(call, &call_path, "name")?;
        parts.push(Part::ToolUse {
            id: legacy_call_id(&name),
            arguments: arguments_text(field(call, "arguments"), &call_path)?,
            name,
            signature: None,
        });
    }
    Ok(parts)
}

fn assistant_content_part(item: &Value, path: &str) -> Result<Part, ApiError> {
    let part = as_obj(item, path)?;
    match req_str(part, path, "type")?.as_str() {
        "text" => text_part(part, path),
        "refusal" => Ok(Part::text(req_str(part, path, "refusal")?)),
        _ => Ok(Part::Unknown {
            dialect: Dialect::OpenAi,
            value: item.clone(),
        }),
    }
}

/// `reasoning_details` (with signatures) when present, else the plain `reasoning` text.
fn reasoning_parts(obj: &Obj, path: &str) -> Result<Vec<Part>, ApiError> {
    if let Some(details) = field(obj, "reasoning_details") {
        let details_path = join(path, "reasoning_details");
        let details = details
            .as_array()
            .ok_or_else(|| bad(&details_path, "expected an array"))?;
        let mut parts = Vec::new();
        for (k, detail) in details.iter().enumerate() {
            if let Some(part) = reasoning_detail(detail, &format!("{details_path}[{k}]"))? {
                parts.push(part);
            }
        }
        return Ok(parts);
    }
    for key in ["reasoning", "reasoning_content"] {
        if let Some(text) = opt_str(obj, path, key)? {
            return Ok(vec![Part::Thinking {
                text,
                signature: None,
            }]);
        }
    }
    Ok(Vec::new())
}

/// One OpenRouter reasoning detail; unknown detail types are skipped.
fn reasoning_detail(detail: &Value, path: &str) -> Result<Option<Part>, ApiError> {
    let d = as_obj(detail, path)?;
    Ok(match req_str(d, path, "type")?.as_str() {
        "reasoning.text" => Some(Part::Thinking {
            text: opt_str(d, path, "text")?.unwrap_or_default(),
            signature: opt_str(d, path, "signature")?
                .filter(|s| !s.is_empty())
                .map(|s| Signed::take_in(Dialect::OpenAi, &s)),
        }),
        "reasoning.summary" => Some(Part::Thinking {
            text: opt_str(d, path, "summary")?.unwrap_or_default(),
            signature: None,
        }),
        "reasoning.encrypted" => Some(Part::RedactedThinking {
            data: Signed::take_in(Dialect::OpenAi, &req_str(d, path, "data")?),
        }),
        _ => None,
    })
}

fn tool_call(call: &Value, path: &str) -> Result<Part, ApiError> {
    let c = as_obj(call, path)?;
    let fn_path = join(path, "function");
    let function = opt_obj(c, path, "function")?.ok_or_else(|| bad(&fn_path, "is required"))?;
    Ok(Part::ToolUse {
        id: req_str(c, path, "id")?,
        name: req_str(function, &fn_path, "name")?,
        arguments: arguments_text(field(function, "arguments"), &fn_path)?,
        signature: None,
    })
}

/// Tool arguments as JSON text; some clients send an object instead of a string.
fn arguments_text(args: Option<&Value>, path: &str) -> Result<String, ApiError> {
    match args {
        None => Ok("{}".to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Object(o)) => Ok(Value::Object(o.clone()).to_string()),
        Some(_) => Err(bad(&join(path, "arguments"), "expected a JSON string")),
    }
}

fn tools(obj: &Obj) -> Result<Vec<Tool>, ApiError> {
    if let Some(list) = field(obj, "tools") {
        let list = list
            .as_array()
            .ok_or_else(|| bad("tools", "expected an array"))?;
        return list
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let path = format!("tools[{i}]");
                let tool = as_obj(t, &path)?;
                let kind = req_str(tool, &path, "type")?;
                if kind != "function" {
                    return Err(bad(
                        &join(&path, "type"),
                        format!("unsupported tool type \"{kind}\"; only \"function\" is supported"),
                    ));
                }
                let fn_path = join(&path, "function");
                let function = opt_obj(tool, &path, "function")?
                    .ok_or_else(|| bad(&fn_path, "is required"))?;
                function_tool(function, &fn_path)
            })
            .collect();
    }
    match field(obj, "functions") {
        None => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let path = format!("functions[{i}]");
                function_tool(as_obj(f, &path)?, &path)
            })
            .collect(),
        Some(_) => Err(bad("functions", "expected an array")),
    }
}

fn function_tool(function: &Obj, path: &str) -> Result<Tool, ApiError> {
    let parameters = match field(function, "parameters") {
        None => json!({"type": "object", "properties": {}}),
        Some(Value::Object(o)) => Value::Object(o.clone()),
        Some(_) => {
            return Err(bad(
                &join(path, "parameters"),
                "expected a JSON Schema object",
            ))
        }
    };
    Ok(Tool {
        name: req_str(function, path, "name")?,
        description: opt_str(function, path, "description")?,
        parameters,
        strict: opt_bool(function, path, "strict")?,
        cache_control: None,
    })
}

fn tool_choice(obj: &Obj) -> Result<Option<ToolChoice>, ApiError> {
    let (key, value) = match (field(obj, "tool_choice"), field(obj, "function_call")) {
        (Some(v), _) => ("tool_choice", v),
        (None, Some(v)) => ("function_call", v),
        (None, None) => return Ok(None),
    };
    match value {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            other => Err(bad(key, format!("unknown tool choice \"{other}\""))),
        },
        Value::Object(o) => {
            // `{"type":"function","function":{"name"}}`, or legacy `{"name"}`.
            let name = match opt_obj(o, key, "function")? {
                Some(f) => req_str(f, &join(key, "function"), "name")?,
                None => req_str(o, key, "name")?,
            };
            Ok(Some(ToolChoice::Named(name)))
        }
        _ => Err(bad(key, "expected a string or an object")),
    }
}

fn stop(obj: &Obj) -> Result<Vec<String>, ApiError> {
    match field(obj, "stop") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(&format!("stop[{i}]"), "expected a string"))
            })
            .collect(),
        Some(_) => Err(bad("stop", "expected a string or an array of strings")),
    }
}

fn response_format(obj: &Obj) -> Result<Option<ResponseFormat>, ApiError> {
    let Some(rf) = opt_obj(obj, "", "response_format")? else {
        return Ok(None);
    };
    let format = match req_str(rf, "response_format", "type")?.as_str() {
        "text" => ResponseFormat::Text,
        "json_object" => ResponseFormat::JsonObject,
        "json_schema" => {
            let path = "response_format.json_schema";
            let js = opt_obj(rf, "response_format", "json_schema")?
                .ok_or_else(|| bad(path, "is required"))?;
            ResponseFormat::JsonSchema {
                name: opt_str(js, path, "name")?.unwrap_or_else(|| "response".to_string()),
                schema: field(js, "schema")
                    .cloned()
                    .ok_or_else(|| bad(&join(path, "schema"), "is required"))?,
                strict: opt_bool(js, path, "strict")?,
            }
        }
        other => {
            return Err(bad(
                "response_format.type",
                format!("unknown response format \"{other}\""),
            ))
        }
    };
    Ok(Some(format))
}

/// OpenRouter's `reasoning` object, else OpenAI's `reasoning_effort`. Effort `none` turns
/// reasoning off.
fn reasoning(obj: &Obj) -> Result<Option<Reasoning>, ApiError> {
    if let Some(r) = opt_obj(obj, "", "reasoning")? {
        let mut out = Reasoning {
            max_tokens: opt_u32(r, "reasoning", "max_tokens")?,
            exclude: opt_bool(r, "reasoning", "exclude")?.unwrap_or(false),
            enabled: opt_bool(r, "reasoning", "enabled")?,
            effort: None,
        };
        if let Some(effort) = opt_str(r, "reasoning", "effort")? {
            apply_effort(&mut out, &effort, "reasoning.effort")?;
        }
        return Ok(Some(out));
    }
    match opt_str(obj, "", "reasoning_effort")? {
        None => Ok(None),
        Some(effort) => {
            let mut out = Reasoning::default();
            apply_effort(&mut out, &effort, "reasoning_effort")?;
            Ok(Some(out))
        }
    }
}

fn apply_effort(r: &mut Reasoning, effort: &str, path: &str) -> Result<(), ApiError> {
    if effort == "none" {
        r.enabled = Some(false);
        return Ok(());
    }
    r.effort = Some(
        Effort::parse(effort).ok_or_else(|| bad(path, format!("unknown effort \"{effort}\"")))?,
    );
    Ok(())
}

/// What a response or stream is labelled with.
#[derive(Debug, Clone, Copy)]
pub struct ResponseIds<'a> {
    pub id: &'a str,
    /// The ARouter model id (`provider/model`).
    pub model: &'a str,
    pub provider: &'a str,
    pub created: i64,
    pub cost_usd: Option<f64>,
    /// False when the caller asked `reasoning.exclude`: reasoning text is not returned.
    pub include_reasoning: bool,
    /// Who signed the reasoning of a stream: another dialect's signatures go out tagged.
    pub signer: Dialect,
}

mod encode;

pub use encode::{from_internal, ChunkEncoder};
