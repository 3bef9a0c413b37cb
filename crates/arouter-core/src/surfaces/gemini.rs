//! The Gemini `generateContent` surface: request → hub, hub → `GenerateContentResponse`, stream
//! chunks, usage metadata and the `models/{model}:method` path grammar.

use crate::error::{ApiError, ErrorKind};
use crate::json_path;
use crate::model::{
    BlockDelta, BlockStart, ChatRequest, ChatResponse, Dialect, Effort, MediaSource, Message, Part,
    Reasoning, ResponseFormat, Role, StopReason, StreamEvent, Tool, ToolChoice, Usage,
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
                signature: p.thought_signature,
            });
        } else {
            if let Some(sig) = p.thought_signature {
                sign_last_thinking(out, sig);
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
        if let Some(sig) = &p.thought_signature {
            sign_last_thinking(out, sig.clone());
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
            signature: p.thought_signature,
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

/// Gemini puts a thought signature on the part after the thoughts; the hub keeps it on the
/// thinking block it belongs to.
fn sign_last_thinking(parts: &mut [Part], sig: String) {
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

// ---- response wire types ------------------------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutResponse {
    candidates: Vec<OutCandidate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageMetadata>,
    model_version: String,
    response_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutCandidate {
    content: OutContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Debug, Serialize)]
struct OutContent {
    parts: Vec<OutPart>,
    role: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OutPart {
    Known(Box<KnownPart>),
    /// A Gemini part the hub carried verbatim.
    Raw(Value),
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct KnownPart {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<OutBlob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<OutFileData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<OutFunctionCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutBlob {
    mime_type: String,
    data: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutFileData {
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
    file_uri: String,
}

#[derive(Debug, Serialize)]
struct OutFunctionCall {
    id: String,
    name: String,
    args: Value,
}

/// Gemini's `usageMetadata`. `candidatesTokenCount` excludes thoughts, which are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UsageMetadata {
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    pub total_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub thoughts_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cached_content_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub tool_use_prompt_token_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl UsageMetadata {
    pub fn from_usage(u: &Usage) -> Self {
        UsageMetadata {
            prompt_token_count: u.input_tokens,
            candidates_token_count: u.output_tokens.saturating_sub(u.reasoning_tokens),
            total_token_count: u.total(),
            thoughts_token_count: u.reasoning_tokens,
            cached_content_token_count: u.cache_read_tokens,
            tool_use_prompt_token_count: 0,
        }
    }

    /// Hub usage: the tool-use prompt counts as input, thoughts as (reasoning) output.
    pub fn to_usage(self) -> Usage {
        Usage {
            input_tokens: self.prompt_token_count + self.tool_use_prompt_token_count,
            output_tokens: self.candidates_token_count + self.thoughts_token_count,
            reasoning_tokens: self.thoughts_token_count,
            cache_read_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
        }
    }
}

/// Hub usage from a response's (or chunk's) `usageMetadata`, if it has one.
pub fn usage_of(resp: &Value) -> Option<Usage> {
    let meta = resp.get("usageMetadata").filter(|m| m.is_object())?;
    UsageMetadata::deserialize(meta)
        .ok()
        .map(UsageMetadata::to_usage)
}

/// The first candidate's native `finishReason` and its normalised form (`tool_calls` when the
/// candidate stopped on a function call).
pub fn finish_of(resp: &Value) -> Option<(String, StopReason)> {
    let cand = json_path::at(resp, &["candidates", "0"])?;
    let native = cand.get("finishReason")?.as_str()?.to_string();
    let calls = json_path::pointer(cand, "/content/parts")
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| p.get("functionCall").is_some()));
    let reason = stop_reason_from_native(&native, calls);
    Some((native, reason))
}

fn stop_reason_from_native(native: &str, has_calls: bool) -> StopReason {
    match native {
        "STOP" if has_calls => StopReason::ToolCalls,
        "STOP" | "FINISH_REASON_UNSPECIFIED" => StopReason::Stop,
        "MAX_TOKENS" => StopReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => StopReason::ContentFilter,
        _ => StopReason::Error,
    }
}

/// Gemini's `finishReason` for a hub stop reason.
pub fn finish_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Stop | StopReason::ToolCalls => "STOP",
        StopReason::Length => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
        StopReason::Error => "OTHER",
    }
}

// ---- hub → response -----------------------------------------------------------------------

/// Renders a hub response as a `GenerateContentResponse`. Thought summaries appear only when
/// the caller asked for them (`includeThoughts`); signatures always travel.
pub fn from_internal(resp: &ChatResponse, model: &str, include_thoughts: bool) -> Value {
    let mut parts = Vec::new();
    let mut signature: Option<String> = None;
    for p in &resp.content {
        match p {
            Part::Thinking {
                text,
                signature: sig,
            } => {
                if include_thoughts && !text.is_empty() {
                    parts.push(OutPart::Known(Box::new(KnownPart {
                        text: Some(text.clone()),
                        thought: Some(true),
                        ..KnownPart::default()
                    })));
                }
                if sig.is_some() {
                    signature = sig.clone();
                }
            }
            Part::ToolUse { signature: own, .. } => {
                let mut known = known_part(p).unwrap_or_default();
                known.thought_signature = own.clone().or_else(|| signature.take());
                parts.push(OutPart::Known(Box::new(known)));
            }
            Part::Unknown {
                dialect: Dialect::Gemini,
                value,
            } => parts.push(OutPart::Raw(value.clone())),
            other => {
                if let Some(mut known) = known_part(other) {
                    known.thought_signature = signature.take();
                    parts.push(OutPart::Known(Box::new(known)));
                }
            }
        }
    }
    if let Some(sig) = signature {
        parts.push(signature_part(sig));
    }
    let out = OutResponse {
        candidates: vec![OutCandidate {
            content: OutContent {
                parts,
                role: "model",
            },
            finish_reason: Some(finish_reason(resp.stop_reason)),
            index: 0,
        }],
        usage_metadata: Some(UsageMetadata::from_usage(&resp.usage)),
        model_version: model.to_string(),
        response_id: resp.id.clone(),
    };
    serde_json::to_value(out).unwrap_or_else(|_| json!({}))
}

/// An empty text part carrying a signature that had no following part to ride on.
fn signature_part(sig: String) -> OutPart {
    OutPart::Known(Box::new(KnownPart {
        text: Some(String::new()),
        thought_signature: Some(sig),
        ..KnownPart::default()
    }))
}

/// The Gemini part for a hub output part (thinking is handled by the caller).
fn known_part(p: &Part) -> Option<KnownPart> {
    let mut k = KnownPart::default();
    match p {
        Part::Text { text, .. } => k.text = Some(text.clone()),
        Part::ToolUse {
            id,
            name,
            arguments,
            ..
        } => {
            k.function_call = Some(OutFunctionCall {
                id: id.clone(),
                name: name.clone(),
                args: args_object(arguments),
            })
        }
        Part::Image { source, .. } | Part::File { source, .. } => match source {
            MediaSource::Base64 { media_type, data } => {
                k.inline_data = Some(OutBlob {
                    mime_type: media_type.clone(),
                    data: data.clone(),
                })
            }
            MediaSource::Url { url, media_type } => {
                k.file_data = Some(OutFileData {
                    mime_type: media_type.clone(),
                    file_uri: url.clone(),
                })
            }
        },
        Part::Audio { data, format } => {
            k.inline_data = Some(OutBlob {
                mime_type: format!("audio/{format}"),
                data: data.clone(),
            })
        }
        _ => return None,
    }
    Some(k)
}

/// Tool arguments as the object Gemini's `args` must be. Unparseable or non-object text (a
/// truncated call) becomes `{}` rather than an invalid part.
fn args_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

// ---- streaming ----------------------------------------------------------------------------

/// A tool call being streamed: Gemini sends each call whole, so arguments are buffered.
#[derive(Debug)]
struct PendingCall {
    id: String,
    name: String,
    args: String,
}

/// Encodes hub stream events as `GenerateContentResponse` chunks.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    response_id: String,
    include_thoughts: bool,
    calls: BTreeMap<usize, PendingCall>,
    signature: Option<String>,
    usage: Usage,
    finish: Option<StopReason>,
}

impl StreamEncoder {
    pub fn new(model: &str, response_id: &str, include_thoughts: bool) -> Self {
        StreamEncoder {
            model: model.to_string(),
            response_id: response_id.to_string(),
            include_thoughts,
            calls: BTreeMap::new(),
            signature: None,
            usage: Usage::default(),
            finish: None,
        }
    }

    /// Appends the chunks for one event (usage and finish are held for [`Self::finish`]).
    pub fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        match ev {
            StreamEvent::Start { .. } => {}
            StreamEvent::BlockStart {
                index,
                block: BlockStart::ToolUse { id, name },
            } => {
                self.calls.insert(
                    *index,
                    PendingCall {
                        id: id.clone(),
                        name: name.clone(),
                        args: String::new(),
                    },
                );
            }
            StreamEvent::BlockStart { .. } => {}
            StreamEvent::BlockDelta { index, delta } => self.delta(*index, delta, out),
            StreamEvent::BlockStop { index } => {
                if let Some(call) = self.calls.remove(index) {
                    self.emit_call(call, out);
                }
            }
            StreamEvent::Usage(u) => self.usage = *u,
            StreamEvent::Finish { reason, .. } => self.finish = Some(*reason),
        }
    }

    fn delta(&mut self, index: usize, delta: &BlockDelta, out: &mut Vec<Value>) {
        match delta {
            BlockDelta::Text(text) if !text.is_empty() => {
                let part = KnownPart {
                    text: Some(text.clone()),
                    thought_signature: self.signature.take(),
                    ..KnownPart::default()
                };
                out.push(self.chunk(vec![OutPart::Known(Box::new(part))], None));
            }
            BlockDelta::Thinking(text) if self.include_thoughts && !text.is_empty() => {
                let part = KnownPart {
                    text: Some(text.clone()),
                    thought: Some(true),
                    ..KnownPart::default()
                };
                out.push(self.chunk(vec![OutPart::Known(Box::new(part))], None));
            }
            BlockDelta::Signature(sig) => self.signature = Some(sig.clone()),
            BlockDelta::ToolInput(fragment) => {
                if let Some(call) = self.calls.get_mut(&index) {
                    call.args.push_str(fragment);
                }
            }
            _ => {}
        }
    }

    fn emit_call(&mut self, call: PendingCall, out: &mut Vec<Value>) {
        let part = KnownPart {
            function_call: Some(OutFunctionCall {
                id: call.id,
                name: call.name,
                args: args_object(&call.args),
            }),
            thought_signature: self.signature.take(),
            ..KnownPart::default()
        };
        out.push(self.chunk(vec![OutPart::Known(Box::new(part))], None));
    }

    /// The last chunks of a successful stream: calls never closed, then a chunk with the
    /// finish reason and the whole request's usage.
    pub fn finish(&mut self, out: &mut Vec<Value>) {
        for (_, call) in std::mem::take(&mut self.calls) {
            self.emit_call(call, out);
        }
        let mut last = KnownPart {
            text: Some(String::new()),
            ..KnownPart::default()
        };
        last.thought_signature = self.signature.take();
        let reason = finish_reason(self.finish.unwrap_or(StopReason::Stop));
        let mut chunk = self.chunk(vec![OutPart::Known(Box::new(last))], Some(reason));
        if let Ok(meta) = serde_json::to_value(UsageMetadata::from_usage(&self.usage)) {
            chunk["usageMetadata"] = meta;
        }
        out.push(chunk);
    }

    fn chunk(&self, parts: Vec<OutPart>, finish: Option<&'static str>) -> Value {
        let resp = OutResponse {
            candidates: vec![OutCandidate {
                content: OutContent {
                    parts,
                    role: "model",
                },
                finish_reason: finish,
                index: 0,
            }],
            usage_metadata: None,
            model_version: self.model.clone(),
            response_id: self.response_id.clone(),
        };
        serde_json::to_value(resp).unwrap_or_else(|_| json!({}))
    }
}

/// Google's error object, as a body or an in-stream element.
pub fn error_body(e: &ApiError) -> Value {
    json!({"error": {"code": e.status, "message": e.message, "status": e.google_status()}})
}

// ---- paths --------------------------------------------------------------------------------

/// Methods this surface serves on `models/{model}:method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    GenerateContent,
    StreamGenerateContent,
    CountTokens,
}

/// Gemini model methods ARouter knows of but does not serve.
const OTHER_METHODS: &[&str] = &[
    "embedContent",
    "batchEmbedContents",
    "batchGenerateContent",
    "asyncBatchEmbedContent",
    "predict",
    "predictLongRunning",
    "computeTokens",
    "countTextTokens",
    "generateText",
    "generateMessage",
    "generateAnswer",
    "embedText",
];

/// A parsed `models/{model}[:method]` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPath {
    /// The model as the client named it, decoded, without a leading `models/`.
    pub model: String,
    /// `None` for a plain model resource (`GET models/{model}`).
    pub method: Option<Method>,
}

/// Parses what follows `/models/` in a request path (raw, possibly percent-encoded). The method
/// is split off at the last `:` only when it names a Gemini method, so model ids with a tag
/// (`ollama/llama3:8b`) stay whole.
pub fn parse_model_path(raw: &str) -> Result<ModelPath, ApiError> {
    let decoded = percent_decode(raw)?;
    let (model, method) = match decoded.rsplit_once(':') {
        Some((model, m)) => match m {
            "generateContent" => (model, Some(Method::GenerateContent)),
            "streamGenerateContent" => (model, Some(Method::StreamGenerateContent)),
            "countTokens" => (model, Some(Method::CountTokens)),
            other if OTHER_METHODS.contains(&other) => {
                return Err(ApiError::new(
                    ErrorKind::NotImplemented,
                    format!(
                        "ARouter does not serve :{other}; supported methods are generateContent, streamGenerateContent and countTokens"
                    ),
                ))
            }
            _ => (decoded.as_str(), None),
        },
        None => (decoded.as_str(), None),
    };
    let model = strip_models_prefix(model);
    if model.is_empty() {
        return Err(ApiError::bad_request("the path names no model"));
    }
    Ok(ModelPath {
        model: model.to_string(),
        method,
    })
}

/// `models/gemini-2.5-flash` → `gemini-2.5-flash`.
pub fn strip_models_prefix(model: &str) -> &str {
    let m = model.trim_start_matches('/');
    m.strip_prefix("models/").unwrap_or(m)
}

/// Decodes `%XX` escapes (model ids with `/` arrive as `oa%2Fgpt-4o-mini`).
fn percent_decode(s: &str) -> Result<String, ApiError> {
    crate::query::decode_path(s)
        .map(std::borrow::Cow::into_owned)
        .map_err(|e| match e {
            crate::query::DecodeError::BadEscape => {
                ApiError::bad_request(format!("bad %-escape in path \"{s}\""))
            }
            crate::query::DecodeError::NotUtf8 => {
                ApiError::bad_request(format!("path \"{s}\" is not UTF-8 once decoded"))
            }
        })
}
