//! The `gemini` wire format adapter: hub requests to Google's v1beta `generateContent` /
//! `streamGenerateContent?alt=sse`, and Gemini responses, errors and stream chunks back to the hub.

use super::{bad_body, StreamDecoder, Target, UpstreamRequest};
use crate::error::{upstream_error, ApiError, ErrorKind};
use crate::model::{
    BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, Effort, MediaSource, Message, Part,
    Reasoning, ResponseFormat, Role, StopReason, StreamEvent, Tool, ToolChoice, Usage,
};
use crate::sse::SseEvent;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The signature Google documents for function calls Gemini did not produce itself (history from
/// another model or hand-built transcripts): Gemini 3 answers 400 when the first `functionCall` of
/// a step in the current turn carries no signature at all.
const FOREIGN_SIGNATURE: &str = "skip_thought_signature_validator";

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

// ---------------------------------------------------------------------------------------------
// Response wire types
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    model_version: Option<String>,
    response_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<CandidateContent>,
    finish_reason: Option<String>,
    #[serde(default)]
    index: u32,
}

#[derive(Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RespPart {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    thought_signature: Option<String>,
    function_call: Option<FunctionCallIn>,
    inline_data: Option<BlobIn>,
}

#[derive(Deserialize)]
struct FunctionCallIn {
    id: Option<String>,
    name: String,
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlobIn {
    mime_type: String,
    data: String,
}

#[derive(Deserialize)]
struct GoogleError {
    code: Option<u16>,
    message: Option<String>,
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
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
    let url = format!(
        "{}/models/{}:{method}",
        api_root(&target.provider.base_url),
        model_id(target.model)
    );
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(key) = target.api_key {
        headers.push(("x-goog-api-key", key.to_string()));
    }
    UpstreamRequest {
        url,
        headers,
        body: Bytes::from(body.to_string()),
    }
}

/// `{base_url}/v1beta`, unless the configured base URL already names an API version.
fn api_root(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1beta") || base.ends_with("/v1") || base.ends_with("/v1alpha") {
        base.to_string()
    } else {
        format!("{base}/v1beta")
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
                    if let Some(sig) = signature.as_deref().filter(|s| !s.is_empty()) {
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
    signature: &Option<String>,
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
        thought_signature: signature.clone().filter(|s| !s.is_empty()),
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

// ---------------------------------------------------------------------------------------------
// Schema sanitising
// ---------------------------------------------------------------------------------------------

/// Nesting beyond this (or a `$ref` cycle) is cut off as a plain OBJECT.
const MAX_SCHEMA_DEPTH: usize = 24;

/// Rewrites a JSON Schema into the OpenAPI 3.0 subset Gemini accepts in `parameters` and
/// `responseSchema`: only `type` (upper-case enum), `format`, `description`, `nullable`, `enum`,
/// `properties`, `required`, `propertyOrdering`, `items`, `anyOf`, `minItems`/`maxItems`,
/// `minLength`/`maxLength`, `pattern`, `minProperties`/`maxProperties`, `minimum`/`maximum`
/// survive, recursively. `$ref`s are inlined from the same document, `const` becomes a one-value
/// `enum`, `["T","null"]` and `anyOf` with a null branch become `nullable`, `oneOf` becomes
/// `anyOf` and `allOf` is merged.
pub fn sanitize_schema(schema: &Value) -> Value {
    let mut sanitizer = Sanitizer {
        root: schema,
        ref_stack: Vec::new(),
    };
    sanitizer.convert(schema, 0)
}

struct Sanitizer<'a> {
    root: &'a Value,
    /// `$ref`s being expanded, to cut cycles.
    ref_stack: Vec<String>,
}

impl Sanitizer<'_> {
    fn convert(&mut self, schema: &Value, depth: usize) -> Value {
        let Value::Object(obj) = schema else {
            // Boolean schemas (`true`): anything goes.
            return Value::Object(Map::new());
        };
        if depth > MAX_SCHEMA_DEPTH {
            return json!({ "type": "OBJECT" });
        }
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            return self.convert_ref(obj, reference, depth);
        }
        match obj.get("allOf").and_then(Value::as_array) {
            Some(all) => {
                let merged = self.merge_all_of(obj, all);
                self.convert_object(&merged, depth)
            }
            None => self.convert_object(obj, depth),
        }
    }

    fn convert_ref(&mut self, obj: &Map<String, Value>, reference: &str, depth: usize) -> Value {
        let root = self.root;
        let mut out = match resolve_pointer(root, reference) {
            Some(target) if !self.ref_stack.iter().any(|r| r == reference) => {
                self.ref_stack.push(reference.to_string());
                let out = self.convert(target, depth + 1);
                self.ref_stack.pop();
                out
            }
            // A recursive or unresolvable reference: the most Gemini can take is an object.
            _ => json!({ "type": "OBJECT" }),
        };
        if let Value::Object(map) = &mut out {
            copy_string(obj, map, "description");
            if obj.get("nullable") == Some(&Value::Bool(true)) {
                map.insert("nullable".into(), Value::Bool(true));
            }
        }
        out
    }

    /// Folds `allOf` members (resolving their refs) into one schema: properties and required
    /// lists are unioned, other keywords keep their first value.
    fn merge_all_of(&self, obj: &Map<String, Value>, all: &[Value]) -> Map<String, Value> {
        let mut merged: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| k.as_str() != "allOf")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for member in all {
            let member = match member.get("$ref").and_then(Value::as_str) {
                Some(r) => resolve_pointer(self.root, r).unwrap_or(member),
                None => member,
            };
            let Value::Object(member) = member else {
                continue;
            };
            for (key, value) in member {
                match (key.as_str(), merged.get_mut(key), value) {
                    ("properties", Some(Value::Object(props)), Value::Object(more)) => {
                        for (k, v) in more {
                            props.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    ("required", Some(Value::Array(req)), Value::Array(more)) => {
                        for v in more {
                            if !req.contains(v) {
                                req.push(v.clone());
                            }
                        }
                    }
                    (_, Some(_), _) => {}
                    (_, None, _) => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        merged
    }

    fn convert_object(&mut self, obj: &Map<String, Value>, depth: usize) -> Value {
        let mut nullable = obj.get("nullable") == Some(&Value::Bool(true));
        let mut types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if types.contains(&"null") {
            nullable = true;
            types.retain(|t| *t != "null");
        }

        let mut variants: Vec<Value> = Vec::new();
        for key in ["anyOf", "oneOf"] {
            for v in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
                if is_null_schema(v) {
                    nullable = true;
                } else {
                    variants.push(self.convert(v, depth + 1));
                }
            }
        }

        let mut out = Map::new();
        if types.len() > 1 {
            // ["string","integer"]: one branch per type, each keeping the keywords of its type.
            for t in &types {
                let mut single = obj.clone();
                single.insert("type".into(), Value::String((*t).to_string()));
                for k in ["anyOf", "oneOf", "nullable", "description"] {
                    single.remove(k);
                }
                variants.push(self.convert_object(&single, depth + 1));
            }
            copy_string(obj, &mut out, "description");
        } else {
            if let Some(t) = types.first().and_then(|t| gemini_type(t)) {
                out.insert("type".into(), Value::String(t.into()));
            }
            self.copy_keywords(obj, &mut out, &mut nullable, depth);
        }

        match variants.len() {
            0 => {}
            1 if !out.contains_key("type") => {
                // anyOf: [X, null] is a nullable X.
                if let Some(Value::Object(only)) = variants.pop() {
                    for (k, v) in only {
                        if k == "description" && out.contains_key("description") {
                            continue;
                        }
                        out.insert(k, v);
                    }
                }
            }
            _ => {
                out.insert("anyOf".into(), Value::Array(variants));
            }
        }

        if !out.contains_key("type") && !out.contains_key("anyOf") {
            if let Some(t) = inferred_type(&out) {
                out.insert("type".into(), Value::String(t.into()));
            }
        }
        if out.get("enum").is_some()
            && out.get("type").and_then(Value::as_str) != Some("STRING")
            && !out.contains_key("format")
        {
            // Gemini's enum values are strings; on other types it wants `format: enum`.
            out.insert("format".into(), Value::String("enum".into()));
        }
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        Value::Object(out)
    }

    /// Copies the supported keywords of one (single-typed) schema, converting sub-schemas.
    fn copy_keywords(
        &mut self,
        obj: &Map<String, Value>,
        out: &mut Map<String, Value>,
        nullable: &mut bool,
        depth: usize,
    ) {
        copy_string(obj, out, "description");
        copy_format(obj, out);
        copy_enum(obj, out, nullable);

        if let Some(Value::Object(props)) = obj.get("properties") {
            let mut converted = Map::new();
            for (name, sub) in props {
                converted.insert(name.clone(), self.convert(sub, depth + 1));
            }
            if !converted.is_empty() {
                let names: Vec<&String> = converted.keys().collect();
                if let Some(Value::Array(required)) = obj.get("required") {
                    let kept: Vec<Value> = required
                        .iter()
                        .filter(|r| r.as_str().is_some_and(|r| converted.contains_key(r)))
                        .cloned()
                        .collect();
                    if !kept.is_empty() {
                        out.insert("required".into(), Value::Array(kept));
                    }
                }
                if let Some(Value::Array(order)) = obj.get("propertyOrdering") {
                    let all_known = order
                        .iter()
                        .all(|o| o.as_str().is_some_and(|o| names.iter().any(|n| *n == o)));
                    if all_known {
                        out.insert("propertyOrdering".into(), Value::Array(order.clone()));
                    }
                }
                out.insert("properties".into(), Value::Object(converted));
            }
        }

        let items = match obj.get("items").or_else(|| obj.get("prefixItems")) {
            // Tuple validation has no Gemini form: any of the positional schemas.
            Some(Value::Array(tuple)) => {
                let mut branches: Vec<Value> =
                    tuple.iter().map(|s| self.convert(s, depth + 1)).collect();
                match branches.len() {
                    0 => None,
                    1 => branches.pop(),
                    _ => Some(json!({ "anyOf": branches })),
                }
            }
            Some(single) => Some(self.convert(single, depth + 1)),
            None => None,
        };
        if let Some(items) = items {
            out.insert("items".into(), items);
        }

        for key in [
            "minItems",
            "maxItems",
            "minLength",
            "maxLength",
            "minProperties",
            "maxProperties",
        ] {
            if let Some(n) = obj.get(key).filter(|v| v.is_u64()) {
                out.insert(key.into(), n.clone());
            }
        }
        copy_string(obj, out, "pattern");
        copy_bound(obj, out, "minimum", "exclusiveMinimum");
        copy_bound(obj, out, "maximum", "exclusiveMaximum");
    }
}

/// Resolves a local JSON pointer reference (`#/$defs/Name`, `#/definitions/Name`, `#`).
fn resolve_pointer<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("const") == Some(&Value::Null)
}

fn gemini_type(json_type: &str) -> Option<&'static str> {
    Some(match json_type {
        "string" => "STRING",
        "number" => "NUMBER",
        "integer" => "INTEGER",
        "boolean" => "BOOLEAN",
        "array" => "ARRAY",
        "object" => "OBJECT",
        _ => return None,
    })
}

fn inferred_type(out: &Map<String, Value>) -> Option<&'static str> {
    if out.contains_key("properties") {
        Some("OBJECT")
    } else if out.contains_key("items") {
        Some("ARRAY")
    } else if out.contains_key("enum") {
        Some("STRING")
    } else {
        None
    }
}

fn copy_string(from: &Map<String, Value>, to: &mut Map<String, Value>, key: &str) {
    if let Some(v) = from.get(key).filter(|v| v.is_string()) {
        to.insert(key.into(), v.clone());
    }
}

/// Gemini honours only a few formats; others (`uri`, `email`…) are rejected by the Developer API.
fn copy_format(from: &Map<String, Value>, to: &mut Map<String, Value>) {
    let Some(format) = from.get("format").and_then(Value::as_str) else {
        return;
    };
    if matches!(
        format,
        "enum" | "date-time" | "float" | "double" | "int32" | "int64"
    ) {
        to.insert("format".into(), Value::String(format.into()));
    }
}

/// `enum` (and `const`, as a one-value enum) with string values; a null value means nullable.
fn copy_enum(from: &Map<String, Value>, to: &mut Map<String, Value>, nullable: &mut bool) {
    let values: Vec<&Value> = match (from.get("enum"), from.get("const")) {
        (Some(Value::Array(values)), _) => values.iter().collect(),
        (_, Some(value)) => vec![value],
        _ => return,
    };
    let mut strings = Vec::new();
    for v in values {
        match v {
            Value::Null => *nullable = true,
            Value::String(s) => strings.push(Value::String(s.clone())),
            other => strings.push(Value::String(other.to_string())),
        }
    }
    if !strings.is_empty() {
        to.insert("enum".into(), Value::Array(strings));
    }
}

/// `minimum`/`maximum`, falling back to a numeric `exclusiveMinimum`/`exclusiveMaximum`
/// (draft 6+), which Gemini lacks: the closest inclusive bound it can express.
fn copy_bound(from: &Map<String, Value>, to: &mut Map<String, Value>, key: &str, exclusive: &str) {
    let value = from
        .get(key)
        .filter(|v| v.is_number())
        .or_else(|| from.get(exclusive).filter(|v| v.is_number()));
    if let Some(v) = value {
        to.insert(key.into(), v.clone());
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// One response part, classified.
enum Piece {
    Thought {
        text: String,
        signature: Option<String>,
    },
    Text {
        text: String,
        signature: Option<String>,
    },
    Call {
        id: String,
        name: String,
        args: String,
        signature: Option<String>,
    },
    Image {
        mime_type: String,
        data: String,
    },
    Other(Value),
}

fn classify(raw: &Value) -> Piece {
    let Ok(part) = RespPart::deserialize(raw) else {
        return Piece::Other(raw.clone());
    };
    let signature = part.thought_signature.filter(|s| !s.is_empty());
    if let Some(call) = part.function_call {
        let args = call
            .args
            .filter(|a| !a.is_null())
            .unwrap_or_else(|| Value::Object(Map::new()));
        return Piece::Call {
            id: call
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(new_call_id),
            name: call.name,
            args: args.to_string(),
            signature,
        };
    }
    match (part.text, part.inline_data) {
        (Some(text), _) if part.thought => Piece::Thought { text, signature },
        (Some(text), _) => Piece::Text { text, signature },
        (None, Some(blob)) if blob.mime_type.starts_with("image/") => Piece::Image {
            mime_type: blob.mime_type,
            data: blob.data,
        },
        // A part carrying nothing but a signature (seen at the end of streams).
        (None, None) if signature.is_some() && raw.as_object().is_some_and(|o| o.len() <= 2) => {
            Piece::Thought {
                text: String::new(),
                signature,
            }
        }
        _ => Piece::Other(raw.clone()),
    }
}

fn new_call_id() -> String {
    format!("call_{}", hex::encode(rand::random::<[u8; 12]>()))
}

fn new_response_id() -> String {
    format!("gemini-{}", hex::encode(rand::random::<[u8; 12]>()))
}

/// The candidate the hub follows: index 0 (others exist only with `candidateCount` > 1).
fn first_candidate(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates
        .iter()
        .find(|c| c.index == 0)
        .or_else(|| candidates.first())
}

fn candidate_parts(candidate: &Candidate) -> &[Value] {
    candidate
        .content
        .as_ref()
        .map_or(&[], |c| c.parts.as_slice())
}

fn hub_usage(u: &UsageMetadata) -> Usage {
    Usage {
        // promptTokenCount already includes cachedContentTokenCount.
        input_tokens: u.prompt_token_count + u.tool_use_prompt_token_count,
        output_tokens: u.candidates_token_count + u.thoughts_token_count,
        reasoning_tokens: u.thoughts_token_count,
        cache_read_tokens: u.cached_content_token_count,
        cache_write_tokens: 0,
    }
}

fn stop_reason(native: &str, saw_tool_call: bool) -> StopReason {
    match native {
        "STOP" if saw_tool_call => StopReason::ToolCalls,
        "STOP" => StopReason::Stop,
        "MAX_TOKENS" => StopReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "MODEL_ARMOR" => StopReason::ContentFilter,
        // MALFORMED_FUNCTION_CALL, OTHER, LANGUAGE, UNEXPECTED_TOOL_CALL, unknown values.
        _ => StopReason::Error,
    }
}

/// Appends a response part to hub content. A signature on a non-thought part travels as a
/// thinking part right before it (so `build` puts it back on the same part).
fn push_piece(content: &mut Vec<Part>, piece: Piece) {
    match piece {
        Piece::Thought { text, signature } => match content.last_mut() {
            Some(Part::Thinking {
                text: prev,
                signature: prev_sig @ None,
            }) => {
                prev.push_str(&text);
                *prev_sig = signature;
            }
            _ => content.push(Part::Thinking { text, signature }),
        },
        Piece::Text { text, signature } => {
            if let Some(sig) = signature {
                push_piece(
                    content,
                    Piece::Thought {
                        text: String::new(),
                        signature: Some(sig),
                    },
                );
            }
            if text.is_empty() {
                return;
            }
            match content.last_mut() {
                Some(Part::Text { text: prev, .. }) => prev.push_str(&text),
                _ => content.push(Part::text(text)),
            }
        }
        Piece::Call {
            id,
            name,
            args,
            signature,
        } => content.push(Part::ToolUse {
            id,
            name,
            arguments: args,
            signature,
        }),
        Piece::Image { mime_type, data } => content.push(Part::Image {
            source: MediaSource::Base64 {
                media_type: mime_type,
                data,
            },
            detail: None,
        }),
        Piece::Other(value) => content.push(Part::Unknown {
            dialect: Dialect::Gemini,
            value,
        }),
    }
}

/// Parses a 2xx `generateContent` body.
pub fn parse(provider: &str, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad_body(provider, &e.to_string(), body))?;
    if let Some(error) = value.get("error") {
        return Err(error_object(provider, None, error, body));
    }
    let resp: GenerateContentResponse =
        serde_json::from_value(value).map_err(|e| bad_body(provider, &e.to_string(), body))?;
    let usage = resp
        .usage_metadata
        .as_ref()
        .map(hub_usage)
        .unwrap_or_default();
    let id = resp.response_id.clone().unwrap_or_else(new_response_id);
    let model = resp.model_version.clone().unwrap_or_default();
    let block_reason = resp
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.clone());
    let Some(candidate) = first_candidate(&resp.candidates) else {
        let Some(reason) = block_reason else {
            return Err(bad_body(provider, "no candidates", body));
        };
        return Ok(ChatResponse {
            id,
            model,
            content: Vec::new(),
            stop_reason: StopReason::ContentFilter,
            native_stop_reason: Some(reason),
            stop_sequence: None,
            usage,
        });
    };
    let mut content = Vec::new();
    for raw in candidate_parts(candidate) {
        push_piece(&mut content, classify(raw));
    }
    let saw_tool_call = content.iter().any(|p| matches!(p, Part::ToolUse { .. }));
    let native = candidate.finish_reason.clone();
    let stop_reason = match native.as_deref() {
        Some(n) => stop_reason(n, saw_tool_call),
        None if saw_tool_call => StopReason::ToolCalls,
        None => StopReason::Stop,
    };
    Ok(ChatResponse {
        id,
        model,
        content,
        stop_reason,
        native_stop_reason: native,
        stop_sequence: None,
        usage,
    })
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Maps a non-2xx answer (`{"error":{"code","message","status","details"}}`, or the same inside
/// a one-element array as `streamGenerateContent` without `alt=sse` sends it).
pub fn parse_error(provider: &str, status: u16, body: &[u8]) -> ApiError {
    let value = serde_json::from_slice::<Value>(body).ok();
    let error = match &value {
        Some(Value::Array(items)) => items.first().and_then(|v| v.get("error")),
        Some(v) => v.get("error"),
        None => None,
    };
    match error {
        Some(error) => error_object(provider, Some(status), error, body),
        None => upstream_error(
            provider,
            status,
            format!("upstream answered HTTP {status}"),
            body,
        ),
    }
}

/// An error object from an error body, a 2xx body or a stream chunk.
fn error_object(provider: &str, status: Option<u16>, error: &Value, raw: &[u8]) -> ApiError {
    let fallback = status.filter(|s| *s >= 400).unwrap_or(502);
    match error {
        Value::Object(_) => match GoogleError::deserialize(error) {
            Ok(e) => google_error(provider, status, e, raw),
            Err(_) => upstream_error(provider, fallback, "upstream sent an error".into(), raw),
        },
        Value::String(message) => upstream_error(provider, fallback, message.clone(), raw),
        _ => upstream_error(provider, fallback, "upstream sent an error".into(), raw),
    }
}

fn google_error(provider: &str, http: Option<u16>, error: GoogleError, raw: &[u8]) -> ApiError {
    let status = http
        .filter(|s| *s >= 400)
        .or(error.code.filter(|c| *c >= 400))
        .or_else(|| error.status.as_deref().map(status_for_google_code))
        .unwrap_or(502);
    let message = error
        .message
        .clone()
        .filter(|m| !m.is_empty())
        .or_else(|| error.status.clone())
        .unwrap_or_else(|| format!("upstream answered HTTP {status}"));
    let mut err = upstream_error(provider, status, message.clone(), raw);
    err.retry_after = retry_delay(&error.details);
    let lower = message.to_ascii_lowercase();
    if err.kind == ErrorKind::BadRequest
        && (lower.contains("exceeds the maximum number of tokens")
            || lower.contains("input token count"))
    {
        set_kind(&mut err, ErrorKind::ContextLength);
    }
    err
}

fn status_for_google_code(code: &str) -> u16 {
    match code {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "RESOURCE_EXHAUSTED" => 429,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        "INTERNAL" => 500,
        _ => 502,
    }
}

fn set_kind(err: &mut ApiError, kind: ErrorKind) {
    err.kind = kind;
    let error_type = err.error_type();
    if let Some(Value::Object(meta)) = &mut err.metadata {
        meta.insert("error_type".into(), Value::String(error_type.into()));
    }
}

/// Seconds from a `google.rpc.RetryInfo` detail (`"retryDelay": "37s"` or `"1.5s"`), rounded up.
fn retry_delay(details: &[Value]) -> Option<u64> {
    details.iter().find_map(|d| {
        let delay = d.get("retryDelay")?.as_str()?.strip_suffix('s')?;
        let secs: f64 = delay.parse().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as u64)
    })
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    Thinking,
}

struct OpenBlock {
    index: usize,
    kind: BlockKind,
    signed: bool,
}

/// Decodes `streamGenerateContent?alt=sse`: every `data:` event is a whole
/// `GenerateContentResponse` chunk.
pub struct Decoder {
    provider: String,
    started: bool,
    next_index: usize,
    open: Option<OpenBlock>,
    saw_tool_call: bool,
    usage: Option<Usage>,
    finished: bool,
}

impl Decoder {
    pub fn new(provider: &str) -> Self {
        Decoder {
            provider: provider.to_string(),
            started: false,
            next_index: 0,
            open: None,
            saw_tool_call: false,
            usage: None,
            finished: false,
        }
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(block) = self.open.take() {
            out.push(StreamEvent::BlockStop { index: block.index });
        }
    }

    fn new_index(&mut self) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        index
    }

    /// The open block of `kind`, starting one if another kind (or a signed thinking block) is
    /// open: a thinking block ends with its signature.
    fn ensure_open(&mut self, kind: BlockKind, out: &mut Vec<StreamEvent>) -> usize {
        if let Some(block) = &self.open {
            if block.kind == kind && !(kind == BlockKind::Thinking && block.signed) {
                return block.index;
            }
        }
        self.close(out);
        let index = self.new_index();
        out.push(StreamEvent::BlockStart {
            index,
            block: match kind {
                BlockKind::Text => BlockStart::Text,
                BlockKind::Thinking => BlockStart::Thinking,
            },
        });
        self.open = Some(OpenBlock {
            index,
            kind,
            signed: false,
        });
        index
    }

    fn sign(&mut self, signature: String, out: &mut Vec<StreamEvent>) {
        let index = self.ensure_open(BlockKind::Thinking, out);
        out.push(StreamEvent::BlockDelta {
            index,
            delta: BlockDelta::Signature(signature),
        });
        if let Some(block) = &mut self.open {
            block.signed = true;
        }
    }

    fn piece(&mut self, piece: Piece, out: &mut Vec<StreamEvent>) {
        match piece {
            Piece::Thought { text, signature } => {
                if !text.is_empty() {
                    let index = self.ensure_open(BlockKind::Thinking, out);
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Thinking(text),
                    });
                }
                if let Some(sig) = signature {
                    self.sign(sig, out);
                }
            }
            Piece::Text { text, signature } => {
                if let Some(sig) = signature {
                    self.sign(sig, out);
                }
                if !text.is_empty() {
                    let index = self.ensure_open(BlockKind::Text, out);
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Text(text),
                    });
                }
            }
            Piece::Call {
                id,
                name,
                args,
                signature,
            } => {
                self.close(out);
                self.saw_tool_call = true;
                let index = self.new_index();
                out.push(StreamEvent::BlockStart {
                    index,
                    block: BlockStart::ToolUse { id, name },
                });
                if let Some(sig) = signature {
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Signature(sig),
                    });
                }
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::ToolInput(args),
                });
                out.push(StreamEvent::BlockStop { index });
            }
            // Inline images and other vendor parts have no stream block in the hub.
            Piece::Image { .. } | Piece::Other(_) => {}
        }
    }

    fn end(
        &mut self,
        reason: StopReason,
        native: String,
        usage: Option<Usage>,
        out: &mut Vec<StreamEvent>,
    ) {
        self.close(out);
        if usage.is_some() {
            self.usage = usage;
        }
        out.push(StreamEvent::Usage(self.usage.unwrap_or_default()));
        out.push(StreamEvent::Finish {
            reason,
            native: Some(native),
            stop_sequence: None,
        });
        self.finished = true;
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let data = ev.data.trim();
        if self.finished || data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                self.close(out);
                return Err(bad_body(
                    &self.provider,
                    &format!("stream chunk: {e}"),
                    data.as_bytes(),
                ));
            }
        };
        if let Some(error) = value.get("error") {
            self.close(out);
            return Err(error_object(&self.provider, None, error, data.as_bytes()));
        }
        let chunk: GenerateContentResponse = match serde_json::from_value(value) {
            Ok(c) => c,
            Err(e) => {
                self.close(out);
                return Err(bad_body(
                    &self.provider,
                    &format!("stream chunk: {e}"),
                    data.as_bytes(),
                ));
            }
        };
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.response_id.clone(),
                model: chunk.model_version.clone(),
            });
        }
        let usage = chunk.usage_metadata.as_ref().map(hub_usage);
        if let Some(candidate) = first_candidate(&chunk.candidates) {
            for raw in candidate_parts(candidate) {
                self.piece(classify(raw), out);
            }
            if let Some(native) = &candidate.finish_reason {
                let reason = stop_reason(native, self.saw_tool_call);
                self.end(reason, native.clone(), usage, out);
                return Ok(());
            }
        } else if let Some(block) = chunk
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.clone())
        {
            self.end(StopReason::ContentFilter, block, usage, out);
            return Ok(());
        }
        if let Some(u) = usage {
            if self.usage != Some(u) {
                self.usage = Some(u);
                out.push(StreamEvent::Usage(u));
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        if self.finished {
            return Ok(());
        }
        self.close(out);
        Err(upstream_error(
            &self.provider,
            502,
            "stream ended before finishReason".into(),
            b"",
        ))
    }
}

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
                    signature: Some("tail".into()),
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
        assert_eq!(stop_reason("STOP", false), StopReason::Stop);
        assert_eq!(stop_reason("STOP", true), StopReason::ToolCalls);
        assert_eq!(stop_reason("MAX_TOKENS", true), StopReason::Length);
        for filtered in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(stop_reason(filtered, false), StopReason::ContentFilter);
        }
        for error in ["MALFORMED_FUNCTION_CALL", "OTHER", "SOMETHING_NEW"] {
            assert_eq!(stop_reason(error, false), StopReason::Error);
        }
    }

    #[test]
    fn retry_info_is_rounded_up() {
        let details = vec![
            json!({"@type": "type.googleapis.com/google.rpc.Help"}),
            json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.2s"}),
        ];
        assert_eq!(retry_delay(&details), Some(2));
        assert_eq!(retry_delay(&[json!({"retryDelay": "soon"})]), None);
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
                    signature: Some("s".into())
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
