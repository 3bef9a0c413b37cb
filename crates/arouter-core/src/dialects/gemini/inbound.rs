//! The Gemini `generateContent` surface: request → hub, hub → `GenerateContentResponse`, stream
//! chunks, usage metadata and the `models/{model}:method` path grammar.

use super::usage::UsageMetadata;
#[allow(unused_imports)]
use super::{errors, reasons, usage};
use crate::error::ApiError;
use crate::model::{
    tagged, BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, Effort, MediaSource,
    Message, Part, Reasoning, ResponseFormat, Role, Signed, StopReason, StreamEvent, Tool,
    ToolChoice, Usage,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};

type Obj = Map<String, Value>;

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

/// Deserializes a wire struct; on failure names the offending field by re-trying each key of
/// the object alone (every wire struct has only optional fields, so one key always fits).
fn typed<T: DeserializeOwned>(v: &Value, path: &str) -> Result<T, ApiError> {
    match T::deserialize(v) {
        Ok(t) => Ok(t),
        Err(whole) => {
            if let Value::Object(o) = v {
                for (k, val) in o {
                    let mut single = Obj::new();
                    single.insert(k.clone(), val.clone());
                    if let Err(e) = T::deserialize(&Value::Object(single)) {
                        return Err(bad(&join(path, k), e));
                    }
                }
            }
            Err(bad(path, whole))
        }
    }
}

// ---- request wire types -------------------------------------------------------------------

/// Fields of `GenerateContentRequest` the hub models; everything else is kept in `extra`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    contents: Option<Value>,
    #[serde(alias = "system_instruction")]
    system_instruction: Option<Value>,
    tools: Option<Vec<Value>>,
    #[serde(alias = "tool_config")]
    tool_config: Option<WireToolConfig>,
    #[serde(alias = "generation_config")]
    generation_config: Option<Value>,
    /// The path names the model; a body `model` (some REST callers send one) is ignored.
    #[serde(default)]
    #[allow(dead_code)]
    model: Option<Value>,
    #[serde(flatten)]
    extra: Obj,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContent {
    role: Option<String>,
    parts: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    text: Option<String>,
    thought: Option<bool>,
    #[serde(alias = "thought_signature")]
    thought_signature: Option<String>,
    #[serde(alias = "inline_data")]
    inline_data: Option<WireBlob>,
    #[serde(alias = "file_data")]
    file_data: Option<WireFileData>,
    #[serde(alias = "function_call")]
    function_call: Option<WireFunctionCall>,
    #[serde(alias = "function_response")]
    function_response: Option<WireFunctionResponse>,
    /// `executableCode`, `codeExecutionResult`, `videoMetadata`… (replayed to Gemini only).
    #[serde(flatten)]
    other: Obj,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBlob {
    #[serde(alias = "mime_type")]
    mime_type: Option<String>,
    data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFileData {
    #[serde(alias = "mime_type")]
    mime_type: Option<String>,
    #[serde(alias = "file_uri")]
    file_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFunctionCall {
    id: Option<String>,
    name: Option<String>,
    args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFunctionResponse {
    id: Option<String>,
    name: Option<String>,
    response: Option<Value>,
    /// Multimodal function results (images the function produced).
    parts: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTool {
    #[serde(alias = "function_declarations")]
    function_declarations: Option<Vec<Value>>,
    /// Built-in tools: `googleSearch`, `codeExecution`, `urlContext`…
    #[serde(flatten)]
    other: Obj,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFunctionDeclaration {
    name: Option<String>,
    description: Option<String>,
    parameters: Option<Value>,
    #[serde(alias = "parameters_json_schema")]
    parameters_json_schema: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToolConfig {
    #[serde(alias = "function_calling_config")]
    function_calling_config: Option<WireFunctionCallingConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFunctionCallingConfig {
    mode: Option<String>,
    #[serde(alias = "allowed_function_names")]
    allowed_function_names: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireGenerationConfig {
    #[serde(alias = "max_output_tokens")]
    max_output_tokens: Option<u32>,
    temperature: Option<f64>,
    #[serde(alias = "top_p")]
    top_p: Option<f64>,
    #[serde(alias = "top_k")]
    top_k: Option<f64>,
    #[serde(alias = "stop_sequences")]
    stop_sequences: Option<Vec<String>>,
    seed: Option<i64>,
    #[serde(alias = "presence_penalty")]
    presence_penalty: Option<f64>,
    #[serde(alias = "frequency_penalty")]
    frequency_penalty: Option<f64>,
    #[serde(alias = "candidate_count")]
    candidate_count: Option<u32>,
    #[serde(alias = "response_mime_type")]
    response_mime_type: Option<String>,
    #[serde(alias = "response_schema")]
    response_schema: Option<Value>,
    #[serde(alias = "response_json_schema", alias = "_responseJsonSchema")]
    response_json_schema: Option<Value>,
    #[serde(alias = "thinking_config")]
    thinking_config: Option<WireThinkingConfig>,
    /// `responseModalities`, `speechConfig`, `responseLogprobs`… (Gemini only).
    #[serde(flatten)]
    other: Obj,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireThinkingConfig {
    #[serde(alias = "include_thoughts")]
    include_thoughts: Option<bool>,
    #[serde(alias = "thinking_budget")]
    thinking_budget: Option<i64>,
    #[serde(alias = "thinking_level")]
    thinking_level: Option<String>,
}

// ---- request → hub ------------------------------------------------------------------------

/// Parses a Gemini `GenerateContentRequest` body into the hub; `model` is the path's model.
pub fn to_internal(body: &Value, model: &str) -> Result<ChatRequest, ApiError> {
    if !body.is_object() {
        return Err(bad("request body", "expected an object"));
    }
    let wire: WireRequest = typed(body, "")?;
    let mut req = ChatRequest {
        model: model.to_string(),
        ..ChatRequest::default()
    };
    let contents = match &wire.contents {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => return Err(bad("contents", "must be a non-empty array")),
    };
    req.messages = messages(contents)?;
    if let Some(sys) = wire.system_instruction.as_ref().filter(|v| !v.is_null()) {
        req.system = system_parts(sys)?;
    }
    let (tools, builtin) = tools(wire.tools.as_deref().unwrap_or(&[]))?;
    if let Some(name) = builtin {
        return Err(bad(
            &name,
            "built-in Gemini tools are only available from gemini-kind providers",
        ));
    }
    req.tools = tools;
    if let Some(cfg) = wire.tool_config.and_then(|t| t.function_calling_config) {
        req.tool_choice = tool_choice(&cfg, &mut req.tools)?;
    }
    if let Some(gc) = wire.generation_config.as_ref().filter(|v| !v.is_null()) {
        apply_generation_config(&mut req, gc)?;
    }
    for (k, v) in wire.extra {
        req.extra.insert(k, v);
    }
    if !req.extra.is_empty() {
        req.extra_dialect = Some(Dialect::Gemini);
    }
    Ok(req)
}

/// Whether the request asked for thought summaries (`thinkingConfig.includeThoughts`).
pub fn include_thoughts(body: &Value) -> bool {
    let cfg = body
        .get("generationConfig")
        .or_else(|| body.get("generation_config"));
    let tc = cfg.and_then(|c| c.get("thinkingConfig").or_else(|| c.get("thinking_config")));
    tc.and_then(|t| {
        t.get("includeThoughts")
            .or_else(|| t.get("include_thoughts"))
    })
    .and_then(Value::as_bool)
    .unwrap_or(false)
}

/// Tracks function calls awaiting a response so id-less `functionResponse`s pair by name.
#[derive(Default)]
struct CallBook {
    open: HashMap<String, VecDeque<String>>,
}

impl CallBook {
    fn called(&mut self, name: &str, id: &str) {
        self.open
            .entry(name.to_string())
            .or_default()
            .push_back(id.to_string());
    }

    /// The id of the call a response answers: its own, else the oldest open call of that name.
    fn answer(&mut self, name: &str, id: Option<String>, path: &str) -> Result<String, ApiError> {
        let queue = self.open.entry(name.to_string()).or_default();
        match id {
            Some(id) => {
                queue.retain(|open| *open != id);
                Ok(id)
            }
            None => queue.pop_front().ok_or_else(|| {
                bad(
                    path,
                    format!("no earlier functionCall named \"{name}\" for this response to answer"),
                )
            }),
        }
    }
}

fn messages(contents: &[Value]) -> Result<Vec<Message>, ApiError> {
    let mut out: Vec<Message> = Vec::new();
    let mut calls = CallBook::default();
    for (i, c) in contents.iter().enumerate() {
        let path = format!("contents[{i}]");
        if !c.is_object() {
            return Err(bad(&path, "expected an object"));
        }
        let content: WireContent = typed(c, &path)?;
        let role = match content.role.as_deref() {
            None | Some("") | Some("user") | Some("function") | Some("tool") => Role::User,
            Some("model") => Role::Assistant,
            Some(other) => {
                return Err(bad(
                    &join(&path, "role"),
                    format!("unknown role \"{other}\" (expected \"user\" or \"model\")"),
                ))
            }
        };
        let parts = content.parts.unwrap_or_default();
        let mut hub_parts = Vec::with_capacity(parts.len());
        for (j, p) in parts.iter().enumerate() {
            let part_path = format!("{path}.parts[{j}]");
            let id_hint = format!("call_{i}_{j}");
            add_part(p, &part_path, role, &id_hint, &mut calls, &mut hub_parts)?;
        }
        if hub_parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            // Consecutive turns of one role become one: strict upstreams require alternation.
            Some(last) if last.role == role => last.content.extend(hub_parts),
            _ => out.push(Message {
                role,
                content: hub_parts,
            }),
        }
    }
    if out.is_empty() {
        return Err(bad("contents", "has no parts"));
    }
    Ok(out)
}

fn add_part(
    v: &Value,
    path: &str,
    role: Role,
    id_hint: &str,
    calls: &mut CallBook,
    out: &mut Vec<Part>,
) -> Result<(), ApiError> {
    if !v.is_object() {
        return Err(bad(path, "expected an object"));
    }
    let p: WirePart = typed(v, path)?;
    if let Some(text) = p.text {
        if p.thought == Some(true) {
            out.push(Part::Thinking {
                text,
                signature: p.thought_signature.as_deref().map(take_in),
            });
        } else {
            if let Some(sig) = p.thought_signature.as_deref() {
                sign_last_thinking(out, take_in(sig));
            }
            out.push(Part::text(text));
        }
        return Ok(());
    }
    if let Some(blob) = p.inline_data {
        out.push(inline_part(blob, &join(path, "inlineData"))?);
        return Ok(());
    }
    if let Some(file) = p.file_data {
        out.push(file_part(file, &join(path, "fileData"))?);
        return Ok(());
    }
    if let Some(call) = p.function_call {
        let call_path = join(path, "functionCall");
        if role != Role::Assistant {
            return Err(bad(
                &call_path,
                "only \"model\" turns may contain function calls",
            ));
        }
        let name = call
            .name
            .ok_or_else(|| bad(&join(&call_path, "name"), "is required"))?;
        let id = call.id.unwrap_or_else(|| id_hint.to_string());
        calls.called(&name, &id);
        if let Some(sig) = p.thought_signature.as_deref() {
            sign_last_thinking(out, take_in(sig));
        }
        let arguments = match call.args {
            None | Some(Value::Null) => "{}".to_string(),
            Some(Value::Object(o)) => Value::Object(o).to_string(),
            Some(_) => return Err(bad(&join(&call_path, "args"), "expected an object")),
        };
        out.push(Part::ToolUse {
            id,
            name,
            arguments,
            signature: p.thought_signature.as_deref().map(take_in),
        });
        return Ok(());
    }
    if let Some(resp) = p.function_response {
        out.push(function_result(
            resp,
            &join(path, "functionResponse"),
            calls,
        )?);
        return Ok(());
    }
    if p.other.is_empty() {
        return Err(bad(
            path,
            "empty part (expected text, inlineData, fileData, functionCall or functionResponse)",
        ));
    }
    out.push(Part::Unknown {
        dialect: Dialect::Gemini,
        value: v.clone(),
    });
    Ok(())
}

/// A `thoughtSignature` a caller sent back (ours for another vendor are tagged).
fn take_in(sig: &str) -> Signed {
    Signed::take_in(Dialect::Gemini, sig)
}

/// Gemini puts a thought signature on the part after the thoughts; the hub keeps it on the
/// thinking block it belongs to.
fn sign_last_thinking(parts: &mut [Part], sig: Signed) {
    if let Some(Part::Thinking { signature, .. }) = parts.last_mut() {
        if signature.is_none() {
            *signature = Some(sig);
        }
    }
}

fn inline_part(blob: WireBlob, path: &str) -> Result<Part, ApiError> {
    let media_type = blob
        .mime_type
        .ok_or_else(|| bad(&join(path, "mimeType"), "is required"))?;
    let data = blob
        .data
        .ok_or_else(|| bad(&join(path, "data"), "is required"))?;
    Ok(if media_type.starts_with("image/") {
        Part::Image {
            source: MediaSource::Base64 { media_type, data },
            detail: None,
        }
    } else if let Some(format) = audio_format(&media_type) {
        Part::Audio { data, format }
    } else {
        Part::File {
            source: MediaSource::Base64 { media_type, data },
            filename: None,
        }
    })
}

/// The OpenAI `input_audio.format` for an audio MIME type it accepts.
fn audio_format(mime: &str) -> Option<String> {
    Some(
        match mime {
            "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
            "audio/mp3" | "audio/mpeg" => "mp3",
            _ => return None,
        }
        .to_string(),
    )
}

fn file_part(file: WireFileData, path: &str) -> Result<Part, ApiError> {
    let url = file
        .file_uri
        .ok_or_else(|| bad(&join(path, "fileUri"), "is required"))?;
    let is_image = file
        .mime_type
        .as_deref()
        .is_some_and(|m| m.starts_with("image/"));
    let source = MediaSource::Url {
        url,
        media_type: file.mime_type,
    };
    Ok(if is_image {
        Part::Image {
            source,
            detail: None,
        }
    } else {
        Part::File {
            source,
            filename: None,
        }
    })
}

fn function_result(
    resp: WireFunctionResponse,
    path: &str,
    calls: &mut CallBook,
) -> Result<Part, ApiError> {
    let name = resp
        .name
        .ok_or_else(|| bad(&join(path, "name"), "is required"))?;
    let tool_use_id = calls.answer(&name, resp.id, path)?;
    let response = resp.response.unwrap_or_else(|| json!({}));
    // Gemini's convention: `{"output": ...}` on success, `{"error": ...}` on failure.
    let is_error = response.get("error").is_some() && response.get("output").is_none();
    let text = match response.get("output") {
        Some(Value::String(s)) if response.as_object().is_some_and(|o| o.len() == 1) => s.clone(),
        _ => response.to_string(),
    };
    let mut content = vec![Part::text(text)];
    for (k, p) in resp.parts.unwrap_or_default().iter().enumerate() {
        let part_path = format!("{path}.parts[{k}]");
        let wire: WirePart = typed(p, &part_path)?;
        match (wire.inline_data, wire.file_data) {
            (Some(blob), _) => content.push(inline_part(blob, &join(&part_path, "inlineData"))?),
            (None, Some(file)) => content.push(file_part(file, &join(&part_path, "fileData"))?),
            (None, None) => return Err(bad(&part_path, "expected inlineData or fileData")),
        }
    }
    Ok(Part::ToolResult {
        tool_use_id,
        name: Some(name),
        content,
        is_error,
    })
}

fn system_parts(sys: &Value) -> Result<Vec<Part>, ApiError> {
    let path = "systemInstruction";
    if let Value::String(s) = sys {
        return Ok(vec![Part::text(s.clone())]);
    }
    let content: WireContent = typed(sys, path)?;
    let mut out = Vec::new();
    for (j, p) in content.parts.unwrap_or_default().iter().enumerate() {
        let part_path = format!("{path}.parts[{j}]");
        let part: WirePart = typed(p, &part_path)?;
        match part.text {
            Some(text) => out.push(Part::text(text)),
            None => {
                return Err(bad(
                    &part_path,
                    "system instructions may only hold text parts",
                ))
            }
        }
    }
    Ok(out)
}

/// Function declarations as hub tools, and the path of the first built-in tool, if any.
fn tools(list: &[Value]) -> Result<(Vec<Tool>, Option<String>), ApiError> {
    let mut out = Vec::new();
    let mut builtin = None;
    for (i, t) in list.iter().enumerate() {
        let path = format!("tools[{i}]");
        let tool: WireTool = typed(t, &path)?;
        if let Some(name) = tool.other.keys().next() {
            builtin.get_or_insert_with(|| join(&path, name));
        }
        for (k, d) in tool
            .function_declarations
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            out.push(function_tool(
                d,
                &format!("{path}.functionDeclarations[{k}]"),
            )?);
        }
    }
    Ok((out, builtin))
}

fn function_tool(d: &Value, path: &str) -> Result<Tool, ApiError> {
    let decl: WireFunctionDeclaration = typed(d, path)?;
    let name = decl
        .name
        .ok_or_else(|| bad(&join(path, "name"), "is required"))?;
    let parameters = match (decl.parameters_json_schema, decl.parameters) {
        (Some(schema @ Value::Object(_)), _) => schema,
        (Some(_), _) => {
            return Err(bad(
                &join(path, "parametersJsonSchema"),
                "expected a JSON Schema object",
            ))
        }
        (None, Some(schema @ Value::Object(_))) => openapi_to_json_schema(&schema),
        (None, Some(Value::Null)) | (None, None) => json!({"type": "object", "properties": {}}),
        (None, Some(_)) => return Err(bad(&join(path, "parameters"), "expected a Schema object")),
    };
    Ok(Tool {
        name,
        description: decl.description,
        parameters,
        strict: None,
        cache_control: None,
    })
}

/// Gemini's `Schema` (an OpenAPI 3.0 subset: upper-case types, `nullable`,
/// `propertyOrdering`) as standard JSON Schema.
pub fn openapi_to_json_schema(schema: &Value) -> Value {
    let Value::Object(o) = schema else {
        return schema.clone();
    };
    let mut out = Obj::new();
    let nullable = o.get("nullable").and_then(Value::as_bool).unwrap_or(false);
    for (k, v) in o {
        match k.as_str() {
            "nullable" | "propertyOrdering" => {}
            "type" => {
                if let Some(t) = v.as_str().map(str::to_ascii_lowercase) {
                    if t != "type_unspecified" {
                        out.insert(
                            k.clone(),
                            if nullable {
                                json!([t, "null"])
                            } else {
                                json!(t)
                            },
                        );
                    }
                } else {
                    out.insert(k.clone(), v.clone());
                }
            }
            "properties" => {
                let props = v.as_object().map(|p| {
                    p.iter()
                        .map(|(name, s)| (name.clone(), openapi_to_json_schema(s)))
                        .collect::<Obj>()
                });
                out.insert(k.clone(), props.map_or_else(|| v.clone(), Value::Object));
            }
            "items" => {
                out.insert(k.clone(), openapi_to_json_schema(v));
            }
            "anyOf" => {
                let variants = v
                    .as_array()
                    .map(|a| a.iter().map(openapi_to_json_schema).collect::<Vec<_>>());
                out.insert(k.clone(), variants.map_or_else(|| v.clone(), Value::Array));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// `functionCallingConfig`: AUTO / ANY / NONE / VALIDATED, narrowed by `allowedFunctionNames`.
fn tool_choice(
    cfg: &WireFunctionCallingConfig,
    tools: &mut Vec<Tool>,
) -> Result<Option<ToolChoice>, ApiError> {
    let path = "toolConfig.functionCallingConfig";
    let allowed = cfg.allowed_function_names.clone().unwrap_or_default();
    let mode = cfg.mode.as_deref().map(str::to_ascii_uppercase);
    Ok(match mode.as_deref() {
        None | Some("MODE_UNSPECIFIED") => None,
        Some("AUTO") | Some("VALIDATED") => Some(ToolChoice::Auto),
        Some("NONE") => Some(ToolChoice::None),
        Some("ANY") => match allowed.as_slice() {
            [] => Some(ToolChoice::Required),
            [one] => Some(ToolChoice::Named(one.clone())),
            many => {
                tools.retain(|t| many.contains(&t.name));
                Some(ToolChoice::Required)
            }
        },
        Some(other) => {
            return Err(bad(
                &join(path, "mode"),
                format!("unknown mode \"{other}\" (expected AUTO, ANY, NONE or VALIDATED)"),
            ))
        }
    })
}

fn apply_generation_config(req: &mut ChatRequest, v: &Value) -> Result<(), ApiError> {
    let path = "generationConfig";
    let gc: WireGenerationConfig = typed(v, path)?;
    req.max_tokens = gc.max_output_tokens;
    req.temperature = gc.temperature;
    req.top_p = gc.top_p;
    req.top_k = match gc.top_k {
        None => None,
        Some(k) if k >= 0.0 && k.fract() == 0.0 && k <= u32::MAX as f64 => Some(k as u32),
        Some(_) => return Err(bad(&join(path, "topK"), "expected a non-negative integer")),
    };
    req.stop = gc.stop_sequences.unwrap_or_default();
    req.seed = gc.seed;
    req.presence_penalty = gc.presence_penalty;
    req.frequency_penalty = gc.frequency_penalty;
    req.n = gc.candidate_count;
    req.response_format = response_format(
        gc.response_mime_type.as_deref(),
        gc.response_schema.filter(|s| !s.is_null()),
        gc.response_json_schema.filter(|s| !s.is_null()),
    )?;
    if let Some(tc) = gc.thinking_config {
        req.reasoning = Some(reasoning(&tc)?);
    }
    let other: Obj = gc.other.into_iter().filter(|(_, v)| !v.is_null()).collect();
    if !other.is_empty() {
        req.extra
            .insert("generationConfig".into(), Value::Object(other));
    }
    Ok(())
}

fn response_format(
    mime: Option<&str>,
    schema: Option<Value>,
    json_schema: Option<Value>,
) -> Result<Option<ResponseFormat>, ApiError> {
    let schema = json_schema.or_else(|| schema.as_ref().map(openapi_to_json_schema));
    match (mime, schema) {
        (Some("application/json"), None) => Ok(Some(ResponseFormat::JsonObject)),
        (Some("application/json") | None, Some(schema)) => Ok(Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema,
            strict: None,
        })),
        (Some("text/plain"), _) => Ok(Some(ResponseFormat::Text)),
        (None, None) => Ok(None),
        (Some(other), _) => Err(bad(
            "generationConfig.responseMimeType",
            format!("\"{other}\" is only available from gemini-kind providers"),
        )),
    }
}

/// `thinkingConfig` → hub reasoning. Budget 0 turns thinking off, -1 means "model decides".
fn reasoning(tc: &WireThinkingConfig) -> Result<Reasoning, ApiError> {
    let path = "generationConfig.thinkingConfig";
    let mut r = Reasoning {
        exclude: !tc.include_thoughts.unwrap_or(false),
        ..Reasoning::default()
    };
    match tc.thinking_budget {
        None => {}
        Some(0) => r.enabled = Some(false),
        Some(-1) => r.enabled = Some(true),
        Some(b) if b > 0 => r.max_tokens = Some(u32::try_from(b).unwrap_or(u32::MAX)),
        Some(_) => {
            return Err(bad(
                &join(path, "thinkingBudget"),
                "expected -1 (dynamic), 0 (off) or a positive token budget",
            ))
        }
    }
    // Asking for thoughts asks for thinking (Gemini models think by default; others do not).
    if tc.include_thoughts == Some(true) && r.enabled.is_none() {
        r.enabled = Some(true);
    }
    if let Some(level) = tc.thinking_level.as_deref() {
        let lower = level.to_ascii_lowercase();
        if lower != "thinking_level_unspecified" {
            r.effort = Some(Effort::parse(&lower).ok_or_else(|| {
                bad(
                    &join(path, "thinkingLevel"),
                    format!("unknown level \"{level}\" (expected MINIMAL, LOW, MEDIUM or HIGH)"),
                )
            })?);
        }
    }
    Ok(r)
}

mod encode;
pub mod paths;

pub use encode::{from_internal, StreamEncoder};
pub use paths::{parse_model_path, strip_models_prefix, Method, ModelPath};
