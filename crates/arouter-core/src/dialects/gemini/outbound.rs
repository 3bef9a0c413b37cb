//! The `gemini` wire format adapter: hub requests to Google's v1beta `generateContent` /
//! `streamGenerateContent?alt=sse`, and Gemini responses, errors and stream chunks back to the hub.

pub use super::errors::parse_error;
use super::reasons::hub_stop_reason;
use super::usage::UsageMetadata;
#[allow(unused_imports)]
use super::{errors, reasons, usage};
use crate::dialects::target::{bad_body, StreamDecoder, Target, UpstreamRequest};
use crate::error::{upstream_error, ApiError};
use crate::model::{
    BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, Effort, MediaSource, Message, Part,
    Reasoning, ResponseFormat, Role, Signed, StopReason, StreamEvent, Tool, ToolChoice, Usage,
};
use crate::sse::SseEvent;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

use super::FOREIGN_SIGNATURE;

// ---------------------------------------------------------------------------------------------
// Request wire types
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentRequest {
    contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<Content>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolDecl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<GenerationConfig>,
}

#[derive(Serialize)]
struct Content {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    parts: Vec<OutPart>,
}

/// A request part: typed, or a Gemini part replayed verbatim (`Part::Unknown` from a Gemini client).
#[derive(Serialize)]
#[serde(untagged)]
enum OutPart {
    Typed(Box<WirePart>),
    Raw(Value),
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<FileData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCallOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponseOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    mime_type: String,
    data: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData {
    mime_type: String,
    file_uri: String,
}

#[derive(Serialize)]
struct FunctionCallOut {
    id: String,
    name: String,
    args: Value,
}

#[derive(Serialize)]
struct FunctionResponseOut {
    id: String,
    name: String,
    response: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolDecl {
    function_declarations: Vec<FunctionDeclaration>,
}

#[derive(Serialize)]
struct FunctionDeclaration {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig {
    function_calling_config: FunctionCallingConfig,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionCallingConfig {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<Vec<String>>,
}

#[derive(Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
}

#[derive(Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_level: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    include_thoughts: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CountTokensRequest {
    generate_content_request: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountTokensResponse {
    total_tokens: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// build
// ---------------------------------------------------------------------------------------------

/// Builds the `generateContent` (or `streamGenerateContent?alt=sse`) request.
pub fn build(req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, ApiError> {
    let body = request_body(req, target)?;
    let method = if req.stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    Ok(upstream_request(target, method, body))
}

/// Builds a `countTokens` request counting what `build` would send (contents, system
/// instruction, tools and generation config, wrapped in `generateContentRequest`).
pub fn count_tokens_request(
    req: &ChatRequest,
    target: &Target,
) -> Result<UpstreamRequest, ApiError> {
    let mut inner = request_body(req, target)?;
    if let Value::Object(map) = &mut inner {
        map.insert(
            "model".into(),
            Value::String(format!("models/{}", model_id(target.model))),
        );
    }
    let body = serde_json::to_value(CountTokensRequest {
        generate_content_request: inner,
    })
    .map_err(|e| ApiError::internal(format!("serialising gemini countTokens request: {e}")))?;
    Ok(upstream_request(target, "countTokens", body))
}

/// Reads `totalTokens` from a 2xx `countTokens` answer.
pub fn parse_count_tokens(provider: &str, body: &[u8]) -> Result<u64, ApiError> {
    let resp: CountTokensResponse = serde_json::from_slice(body)
        .map_err(|e| bad_body(provider, &format!("countTokens: {e}"), body))?;
    Ok(resp.total_tokens.unwrap_or(0))
}

fn upstream_request(target: &Target, method: &str, body: Value) -> UpstreamRequest {
    UpstreamRequest {
        url: model_url(&target.provider.base_url, target.model, method),
        headers: super::request_headers(target.api_key),
        body: Bytes::from(body.to_string()),
    }
}

/// `{api root}/models/{model}:{method}`: the root is `{base_url}/v1beta` unless the base URL
/// already names an API version; the model loses a `models/` prefix clients sometimes carry.
pub fn model_url(base_url: &str, model: &str, method: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let model = model_id(model);
    if base.ends_with("/v1beta") || base.ends_with("/v1") || base.ends_with("/v1alpha") {
        format!("{base}/models/{model}:{method}")
    } else {
        format!("{base}/v1beta/models/{model}:{method}")
    }
}

/// The bare model id: Gemini clients sometimes carry the resource name `models/...`.
fn model_id(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

fn request_body(req: &ChatRequest, target: &Target) -> Result<Value, ApiError> {
    let mut contents = build_contents(&req.messages)?;
    if contents.is_empty() {
        return Err(ApiError::bad_request(
            "a gemini request needs at least one message with content",
        ));
    }
    let level_model = uses_thinking_level(target.model);
    if level_model {
        fill_missing_signatures(&mut contents);
    }
    let tools = build_tools(&req.tools);
    let tool_config = match (&req.tool_choice, tools.is_empty()) {
        (Some(choice), false) => Some(tool_config(choice)),
        _ => None,
    };
    let generation_config = generation_config(req, target, level_model);
    let wire = GenerateContentRequest {
        contents,
        system_instruction: system_instruction(&req.system),
        tools,
        tool_config,
        generation_config: (generation_config != GenerationConfig::default())
            .then_some(generation_config),
    };
    let mut body = serde_json::to_value(wire)
        .map_err(|e| ApiError::internal(format!("serialising gemini request: {e}")))?;
    if req.extra_dialect == Some(Dialect::Gemini) {
        if let Value::Object(map) = &mut body {
            merge_extra(map, &req.extra);
        }
    }
    Ok(body)
}

/// Gemini 3 and later take `thinkingLevel` and validate thought signatures strictly.
fn uses_thinking_level(model: &str) -> bool {
    let Some(rest) = model_id(model).strip_prefix("gemini-") else {
        return false;
    };
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    major.parse::<u32>().is_ok_and(|m| m >= 3)
}

/// Fields of a Gemini client the hub has no slot for. Hub-derived values win on conflict; nested
/// objects (e.g. `generationConfig.responseModalities`) fill gaps, and extra `tools` (Google
/// Search, code execution) are kept next to the function declarations.
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
            (Some(Value::Array(ours)), Value::Array(theirs)) if key == "tools" => {
                ours.extend(theirs.iter().cloned());
            }
            _ => {}
        }
    }
}

fn system_instruction(system: &[Part]) -> Option<Content> {
    let parts: Vec<OutPart> = system
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } if !text.is_empty() => Some(text_part(text.clone())),
            Part::Unknown {
                dialect: Dialect::Gemini,
                value,
            } => Some(OutPart::Raw(value.clone())),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then_some(Content { role: None, parts })
}

fn typed(part: WirePart) -> OutPart {
    OutPart::Typed(Box::new(part))
}

fn text_part(text: String) -> OutPart {
    typed(WirePart {
        text: Some(text),
        ..WirePart::default()
    })
}

fn build_contents(messages: &[Message]) -> Result<Vec<Content>, ApiError> {
    let mut tool_names: HashMap<String, String> = HashMap::new();
    let mut contents: Vec<Content> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let parts = message_parts(message, index, &mut tool_names)?;
        if parts.is_empty() {
            continue;
        }
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        match contents.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(role),
                parts,
            }),
        }
    }
    Ok(contents)
}

/// Converts one turn. A thinking part is not replayed (Gemini does not take thoughts back as
/// text); its signature rides on the next part of the turn, where Gemini put it.
fn message_parts(
    message: &Message,
    index: usize,
    tool_names: &mut HashMap<String, String>,
) -> Result<Vec<OutPart>, ApiError> {
    let mut out: Vec<OutPart> = Vec::new();
    let mut pending_signature: Option<&str> = None;
    for part in &message.content {
        let converted = match part {
            Part::Thinking { signature, .. } => {
                if message.role == Role::Assistant {
                    if let Some(sig) = signature
                        .as_ref()
                        .and_then(|s| s.for_upstream(Dialect::Gemini))
                    {
                        pending_signature = Some(sig);
                    }
                }
                continue;
            }
            Part::ToolUse {
                id,
                name,
                arguments,
                signature,
            } => {
                tool_names.insert(id.clone(), name.clone());
                vec![function_call_part(id, name, arguments, signature, index)?]
            }
            Part::ToolResult {
                tool_use_id,
                name,
                content,
                is_error,
            } => {
                let name = name
                    .clone()
                    .or_else(|| tool_names.get(tool_use_id).cloned())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "messages[{index}]: tool result for unknown tool call id \"{tool_use_id}\" (gemini needs the function name)"
                        ))
                    })?;
                tool_result_parts(tool_use_id, name, content, *is_error)?
            }
            other => content_part(other)?.into_iter().collect(),
        };
        for mut p in converted {
            if let Some(sig) = pending_signature.take() {
                set_signature_if_absent(&mut p, sig);
            }
            out.push(p);
        }
    }
    if let (Some(sig), Some(last)) = (pending_signature, out.last_mut()) {
        set_signature_if_absent(last, sig);
    }
    Ok(out)
}

/// Plain content (text and media) as a request part; `None` for parts Gemini has no slot for.
fn content_part(part: &Part) -> Result<Option<OutPart>, ApiError> {
    Ok(match part {
        Part::Text { text, .. } if text.is_empty() => None,
        Part::Text { text, .. } => Some(text_part(text.clone())),
        Part::Image { source, .. } => Some(media_part(source, None, "image/jpeg")),
        Part::Audio { data, format } => Some(typed(WirePart {
            inline_data: Some(Blob {
                mime_type: format!("audio/{}", format.to_ascii_lowercase()),
                data: data.clone(),
            }),
            ..WirePart::default()
        })),
        Part::File { source, filename } => {
            Some(media_part(source, filename.as_deref(), "application/pdf"))
        }
        Part::Unknown {
            dialect: Dialect::Gemini,
            value,
        } => Some(OutPart::Raw(value.clone())),
        Part::Unknown { .. }
        | Part::RedactedThinking { .. }
        | Part::Thinking { .. }
        | Part::ToolUse { .. }
        | Part::ToolResult { .. } => None,
    })
}

fn function_call_part(
    id: &str,
    name: &str,
    arguments: &str,
    signature: &Option<Signed>,
    index: usize,
) -> Result<OutPart, ApiError> {
    let args = if arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str::<Value>(arguments).map_err(|e| {
            ApiError::bad_request(format!(
                "messages[{index}]: arguments of tool call \"{id}\" are not valid JSON: {e}"
            ))
        })?
    };
    if !args.is_object() {
        return Err(ApiError::bad_request(format!(
            "messages[{index}]: arguments of tool call \"{id}\" must be a JSON object"
        )));
    }
    Ok(typed(WirePart {
        function_call: Some(FunctionCallOut {
            id: id.to_string(),
            name: name.to_string(),
            args,
        }),
        thought_signature: signature
            .as_ref()
            .and_then(|s| s.for_upstream(Dialect::Gemini))
            .map(str::to_string),
        ..WirePart::default()
    }))
}

/// A `functionResponse` part (its `response` must be an object), followed by any media the tool
/// returned as plain parts of the same user turn.
fn tool_result_parts(
    id: &str,
    name: String,
    content: &[Part],
    is_error: bool,
) -> Result<Vec<OutPart>, ApiError> {
    let text = content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(obj)) => Value::Object(obj),
        _ if is_error => json!({ "error": text }),
        _ => json!({ "result": text }),
    };
    let mut parts = vec![typed(WirePart {
        function_response: Some(FunctionResponseOut {
            id: id.to_string(),
            name,
            response,
        }),
        ..WirePart::default()
    })];
    for p in content {
        if matches!(p, Part::Text { .. }) {
            continue;
        }
        if let Some(media) = content_part(p)? {
            parts.push(media);
        }
    }
    Ok(parts)
}

fn media_part(source: &MediaSource, filename: Option<&str>, default_mime: &str) -> OutPart {
    let part = match source {
        MediaSource::Base64 { media_type, data } => WirePart {
            inline_data: Some(Blob {
                mime_type: media_type.clone(),
                data: data.clone(),
            }),
            ..WirePart::default()
        },
        MediaSource::Url { url, media_type } => match parse_data_url(url) {
            Some((mime, data)) => WirePart {
                inline_data: Some(Blob {
                    mime_type: media_type.clone().unwrap_or(mime),
                    data,
                }),
                ..WirePart::default()
            },
            None => WirePart {
                file_data: Some(FileData {
                    mime_type: media_type
                        .clone()
                        .or_else(|| guess_mime(url))
                        .or_else(|| filename.and_then(guess_mime))
                        .unwrap_or_else(|| default_mime.to_string()),
                    file_uri: url.clone(),
                }),
                ..WirePart::default()
            },
        },
    };
    typed(part)
}

/// `data:<mime>;base64,<data>` → (mime, data).
fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((mime.to_string(), data.to_string()))
}

/// A MIME type from a URL's or file name's extension.
fn guess_mime(name: &str) -> Option<String> {
    let path = name.split(['?', '#']).next().unwrap_or(name);
    let file = path.rsplit('/').next().unwrap_or(path);
    let (_, ext) = file.rsplit_once('.')?;
    let mime = match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "json" => "application/json",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "aac" => "audio/aac",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        _ => return None,
    };
    Some(mime.to_string())
}

fn set_signature_if_absent(part: &mut OutPart, signature: &str) {
    match part {
        OutPart::Typed(p) => {
            if p.thought_signature.is_none() {
                p.thought_signature = Some(signature.to_string());
            }
        }
        OutPart::Raw(Value::Object(obj)) => {
            obj.entry("thoughtSignature")
                .or_insert_with(|| Value::String(signature.to_string()));
        }
        OutPart::Raw(_) => {}
    }
}

fn part_is_function_call(part: &OutPart) -> bool {
    match part {
        OutPart::Typed(p) => p.function_call.is_some(),
        OutPart::Raw(v) => v.get("functionCall").is_some(),
    }
}

fn part_is_function_response(part: &OutPart) -> bool {
    match part {
        OutPart::Typed(p) => p.function_response.is_some(),
        OutPart::Raw(v) => v.get("functionResponse").is_some(),
    }
}

fn part_has_signature(part: &OutPart) -> bool {
    match part {
        OutPart::Typed(p) => p.thought_signature.is_some(),
        OutPart::Raw(v) => v.get("thoughtSignature").is_some(),
    }
}

/// Gemini 3 validates the current turn (everything after the last user message with ordinary
/// content): the first `functionCall` of every model step there must carry a signature. Calls
/// that came from another model have none, so they get Google's documented placeholder.
fn fill_missing_signatures(contents: &mut [Content]) {
    let turn_start = contents
        .iter()
        .rposition(|c| {
            c.role == Some("user") && c.parts.iter().any(|p| !part_is_function_response(p))
        })
        .map_or(0, |i| i + 1);
    for content in contents[turn_start..]
        .iter_mut()
        .filter(|c| c.role == Some("model"))
    {
        if let Some(first_call) = content.parts.iter_mut().find(|p| part_is_function_call(p)) {
            if !part_has_signature(first_call) {
                set_signature_if_absent(first_call, FOREIGN_SIGNATURE);
            }
        }
    }
}

fn build_tools(tools: &[Tool]) -> Vec<ToolDecl> {
    if tools.is_empty() {
        return Vec::new();
    }
    let function_declarations = tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: t.name.clone(),
            description: t.description.clone().filter(|d| !d.is_empty()),
            parameters: function_parameters(&t.parameters),
        })
        .collect();
    vec![ToolDecl {
        function_declarations,
    }]
}

/// The sanitised parameter schema, omitted for argument-less tools: Gemini rejects an OBJECT
/// schema with an empty `properties`.
fn function_parameters(schema: &Value) -> Option<Value> {
    if schema.is_null() {
        return None;
    }
    let sanitized = sanitize_schema(schema);
    let obj = sanitized.as_object()?;
    let is_object = obj.get("type").and_then(Value::as_str) == Some("OBJECT");
    let no_properties = !obj.contains_key("properties") && !obj.contains_key("anyOf");
    if obj.is_empty() || (is_object && no_properties) {
        None
    } else {
        Some(sanitized)
    }
}

fn tool_config(choice: &ToolChoice) -> ToolConfig {
    let (mode, allowed_function_names) = match choice {
        ToolChoice::Auto => ("AUTO", None),
        ToolChoice::None => ("NONE", None),
        ToolChoice::Required => ("ANY", None),
        ToolChoice::Named(name) => ("ANY", Some(vec![name.clone()])),
    };
    ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names,
        },
    }
}

fn generation_config(req: &ChatRequest, target: &Target, level_model: bool) -> GenerationConfig {
    let (response_mime_type, response_schema) = match &req.response_format {
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json"), Some(sanitize_schema(schema)))
        }
        Some(ResponseFormat::Text) | None => (None, None),
    };
    GenerationConfig {
        max_output_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop_sequences: req.stop.clone(),
        // Gemini's seed is an int32; wrapping keeps equal seeds equal.
        seed: req.seed.map(|s| s as i32),
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        candidate_count: req.n,
        response_logprobs: req.logprobs.or(req.top_logprobs.map(|_| true)),
        logprobs: req.top_logprobs,
        response_mime_type,
        response_schema,
        thinking_config: req.reasoning.as_ref().and_then(|r| {
            thinking_config(
                r,
                req.max_tokens.unwrap_or(target.default_max_tokens),
                level_model,
                target.model,
            )
        }),
    }
}

/// Gemini 3 models take a `thinkingLevel` (both Pro and Flash accept `low` and `high`) and
/// cannot turn thinking off; earlier models take a token `thinkingBudget` (0 = off).
fn thinking_config(
    reasoning: &Reasoning,
    max_tokens: u32,
    level_model: bool,
    model: &str,
) -> Option<ThinkingConfig> {
    if reasoning.enabled == Some(false) {
        let config = if level_model {
            ThinkingConfig {
                thinking_budget: None,
                thinking_level: Some(if model.contains("flash") {
                    "minimal"
                } else {
                    "low"
                }),
                include_thoughts: None,
            }
        } else {
            ThinkingConfig {
                thinking_budget: Some(0),
                thinking_level: None,
                include_thoughts: None,
            }
        };
        return Some(config);
    }
    if !reasoning.is_on() {
        return None;
    }
    let include_thoughts = Some(!reasoning.exclude);
    if level_model && reasoning.max_tokens.is_none() {
        // No effort: the model's own default level (dynamic, "high").
        let level = reasoning.effort.map(|effort| match effort {
            Effort::Minimal | Effort::Low => "low",
            Effort::Medium | Effort::High => "high",
        });
        return Some(ThinkingConfig {
            thinking_budget: None,
            thinking_level: level,
            include_thoughts,
        });
    }
    Some(ThinkingConfig {
        thinking_budget: Some(reasoning.budget(max_tokens)),
        thinking_level: None,
        include_thoughts,
    })
}

mod decode;
mod schema;

#[allow(unused_imports)]
use decode::*;
pub use decode::{parse, Decoder};
pub use schema::sanitize_schema;
#[allow(unused_imports)]
use schema::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn reasoning(effort: Option<Effort>, enabled: Option<bool>) -> Reasoning {
        Reasoning {
            effort,
            max_tokens: None,
            exclude: false,
            enabled,
        }
    }

    fn config_json(config: Option<ThinkingConfig>) -> Value {
        serde_json::to_value(config).unwrap_or_default()
    }

    #[test]
    fn thinking_budget_for_older_models_and_levels_for_gemini3() {
        let on = reasoning(Some(Effort::Medium), None);
        assert_eq!(
            config_json(thinking_config(&on, 2000, false, "gemini-2.5-flash")),
            json!({"thinkingBudget": 1000, "includeThoughts": true})
        );
        assert_eq!(
            config_json(thinking_config(&on, 2000, true, "gemini-3-pro-preview")),
            json!({"thinkingLevel": "high", "includeThoughts": true})
        );
        let off = reasoning(None, Some(false));
        assert_eq!(
            config_json(thinking_config(&off, 2000, false, "gemini-2.5-flash")),
            json!({"thinkingBudget": 0})
        );
        assert_eq!(
            config_json(thinking_config(&off, 2000, true, "gemini-3-flash-preview")),
            json!({"thinkingLevel": "minimal"})
        );
        let hidden = Reasoning {
            exclude: true,
            max_tokens: Some(512),
            ..Reasoning::default()
        };
        assert_eq!(
            config_json(thinking_config(&hidden, 2000, true, "gemini-3-pro-preview")),
            json!({"thinkingBudget": 512, "includeThoughts": false})
        );
        let just_on = reasoning(None, Some(true));
        assert_eq!(
            config_json(thinking_config(
                &just_on,
                2000,
                true,
                "gemini-3-pro-preview"
            )),
            json!({"includeThoughts": true})
        );
        assert!(thinking_config(&Reasoning::default(), 2000, false, "gemini-2.5-pro").is_none());
    }

    #[test]
    fn gemini3_detection() {
        assert!(uses_thinking_level("gemini-3-pro-preview"));
        assert!(uses_thinking_level("models/gemini-3.1-flash"));
        assert!(uses_thinking_level("gemini-10-ultra"));
        assert!(!uses_thinking_level("gemini-2.5-pro"));
        assert!(!uses_thinking_level("gemini-exp-1206"));
        assert!(!uses_thinking_level("gemma-3-27b-it"));
    }

    #[test]
    fn mime_guessing_and_data_urls() {
        assert_eq!(
            guess_mime("https://x/y/cat.PNG?x=1#f").as_deref(),
            Some("image/png")
        );
        assert_eq!(guess_mime("https://x.example/photo"), None);
        assert_eq!(guess_mime("a.mp3").as_deref(), Some("audio/mp3"));
        assert_eq!(
            parse_data_url("data:image/webp;base64,AAAA"),
            Some(("image/webp".into(), "AAAA".into()))
        );
        assert_eq!(parse_data_url("data:text/plain,hello"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
    }

    #[test]
    fn tool_results_always_send_an_object() {
        let response = |text: &str, is_error: bool| {
            let parts = tool_result_parts("id", "f".into(), &[Part::text(text)], is_error)
                .expect("converts");
            serde_json::to_value(&parts[0]).expect("serialises")["functionResponse"]["response"]
                .clone()
        };
        assert_eq!(response(r#"{"ok":true}"#, false), json!({"ok": true}));
        assert_eq!(response("[1,2]", false), json!({"result": "[1,2]"}));
        assert_eq!(response("42", false), json!({"result": "42"}));
        assert_eq!(response("boom", true), json!({"error": "boom"}));
    }

    #[test]
    fn tool_result_media_follows_the_function_response() {
        let content = vec![
            Part::text("see image"),
            Part::Image {
                source: MediaSource::Base64 {
                    media_type: "image/png".into(),
                    data: "AAAA".into(),
                },
                detail: None,
            },
        ];
        let parts = tool_result_parts("id", "shot".into(), &content, false).expect("converts");
        let json = serde_json::to_value(&parts).expect("serialises");
        assert_eq!(
            json,
            json!([
                {"functionResponse": {"id": "id", "name": "shot", "response": {"result": "see image"}}},
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}
            ])
        );
    }

    #[test]
    fn a_trailing_thinking_signature_goes_on_the_previous_part() {
        let message = Message {
            role: Role::Assistant,
            content: vec![
                Part::text("answer"),
                Part::Thinking {
                    text: String::new(),
                    signature: Some(Signed::new(Dialect::Gemini, "tail")),
                },
            ],
        };
        let parts = message_parts(&message, 0, &mut HashMap::new()).expect("converts");
        assert_eq!(
            serde_json::to_value(&parts).expect("serialises"),
            json!([{"text": "answer", "thoughtSignature": "tail"}])
        );
    }

    #[test]
    fn extra_fills_gaps_without_overriding_hub_values() {
        let mut body = json!({
            "contents": [],
            "tools": [{"functionDeclarations": []}],
            "generationConfig": {"temperature": 0.5}
        });
        let extra = json!({
            "tools": [{"googleSearch": {}}],
            "generationConfig": {"temperature": 1.0, "mediaResolution": "MEDIA_RESOLUTION_LOW"},
            "cachedContent": "cachedContents/abc",
            "contents": "ignored"
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, &extra) {
            merge_extra(b, e);
        }
        assert_eq!(
            body,
            json!({
                "contents": [],
                "tools": [{"functionDeclarations": []}, {"googleSearch": {}}],
                "generationConfig": {"temperature": 0.5, "mediaResolution": "MEDIA_RESOLUTION_LOW"},
                "cachedContent": "cachedContents/abc"
            })
        );
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(reasons::hub_stop_reason("STOP", false), StopReason::Stop);
        assert_eq!(
            reasons::hub_stop_reason("STOP", true),
            StopReason::ToolCalls
        );
        assert_eq!(
            reasons::hub_stop_reason("MAX_TOKENS", true),
            StopReason::Length
        );
        for filtered in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(
                reasons::hub_stop_reason(filtered, false),
                StopReason::ContentFilter
            );
        }
        for error in ["MALFORMED_FUNCTION_CALL", "OTHER", "SOMETHING_NEW"] {
            assert_eq!(reasons::hub_stop_reason(error, false), StopReason::Error);
        }
    }

    #[test]
    fn retry_info_is_rounded_up() {
        let details = vec![
            json!({"@type": "type.googleapis.com/google.rpc.Help"}),
            json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.2s"}),
        ];
        assert_eq!(errors::retry_delay(&details), Some(2));
        assert_eq!(errors::retry_delay(&[json!({"retryDelay": "soon"})]), None);
    }

    #[test]
    fn sanitiser_edge_cases() {
        // Boolean and empty schemas, tuples, and a self-referencing root.
        assert_eq!(sanitize_schema(&json!(true)), json!({}));
        assert_eq!(
            sanitize_schema(
                &json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]})
            ),
            json!({"type": "ARRAY", "items": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}})
        );
        assert_eq!(
            sanitize_schema(&json!({"type": "object", "properties": {"next": {"$ref": "#"}}})),
            json!({"type": "OBJECT", "properties": {"next": {"type": "OBJECT", "properties": {"next": {"type": "OBJECT"}}}}})
        );
        assert_eq!(
            sanitize_schema(&json!({"$ref": "#/$defs/missing"})),
            json!({"type": "OBJECT"})
        );
        assert_eq!(
            sanitize_schema(&json!({"type": "integer", "enum": [1, 2, null]})),
            json!({"type": "INTEGER", "enum": ["1", "2"], "format": "enum", "nullable": true})
        );
        assert_eq!(
            sanitize_schema(&json!({"type": "string", "format": "uri"})),
            json!({"type": "STRING"})
        );
    }

    #[test]
    fn argument_less_tools_send_no_parameters() {
        assert_eq!(
            function_parameters(&json!({"type": "object", "properties": {}})),
            None
        );
        assert_eq!(function_parameters(&json!({})), None);
        assert_eq!(function_parameters(&Value::Null), None);
        assert!(function_parameters(
            &json!({"type": "object", "properties": {"a": {"type": "string"}}})
        )
        .is_some());
    }

    #[test]
    fn signature_only_parts_become_thinking() {
        let mut content = Vec::new();
        push_piece(&mut content, classify(&json!({"text": "hi"})));
        push_piece(
            &mut content,
            classify(&json!({"text": "", "thoughtSignature": "s"})),
        );
        assert_eq!(
            content,
            vec![
                Part::text("hi"),
                Part::Thinking {
                    text: String::new(),
                    signature: Some(Signed::new(Dialect::Gemini, "s"))
                }
            ]
        );
        assert!(matches!(
            classify(&json!({"thoughtSignature": "s"})),
            Piece::Thought { .. }
        ));
        assert!(matches!(
            classify(&json!({"executableCode": {"code": "1"}})),
            Piece::Other(_)
        ));
    }
}
