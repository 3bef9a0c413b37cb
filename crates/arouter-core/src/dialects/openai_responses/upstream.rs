//! Outbound: a hub request as a Responses API request, for Chat Completions, Anthropic and
//! Gemini callers reaching a model served only on `/v1/responses`. Nothing is stored upstream
//! (`store: false`): ARouter keeps conversations itself.

use crate::error::ApiError;
use crate::model::{
    ChatRequest, Dialect, MediaSource, Message, Part, ResponseFormat, Role, Tool, ToolChoice,
};
use crate::providers::{Target, UpstreamRequest};
use bytes::Bytes;
use serde_json::{json, Map, Value};

/// `POST {base_url}/responses`.
pub fn build(req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, ApiError> {
    let body = request_body(req, target.model)?;
    let body = serde_json::to_vec(&body)
        .map_err(|e| ApiError::internal(format!("serializing the upstream request: {e}")))?;
    Ok(UpstreamRequest {
        url: format!("{}/responses", target.provider.base_url),
        headers: crate::dialects::openai_chat::request_headers(target.api_key),
        body: Bytes::from(body),
    })
}

/// The Responses JSON body for a hub request.
pub fn request_body(req: &ChatRequest, model: &str) -> Result<Value, ApiError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let system: Vec<&str> = req
        .system
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if !system.is_empty() {
        body.insert("instructions".into(), json!(system.join("\n\n")));
    }
    let mut input = Vec::new();
    for m in &req.messages {
        items(m, &mut input)?;
    }
    body.insert("input".into(), Value::Array(input));
    if !req.tools.is_empty() {
        body.insert("tools".into(), req.tools.iter().map(tool).collect());
        if let Some(choice) = &req.tool_choice {
            body.insert("tool_choice".into(), tool_choice(choice));
        }
        if let Some(p) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(p));
        }
    }
    let optional = [
        ("max_output_tokens", req.max_tokens.map(|v| json!(v))),
        ("temperature", req.temperature.map(|v| json!(v))),
        ("top_p", req.top_p.map(|v| json!(v))),
        ("user", req.user.as_ref().map(|v| json!(v))),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    }
    if let Some(r) = req.reasoning.as_ref() {
        if r.enabled == Some(false) {
            body.insert("reasoning".into(), json!({"effort": "minimal"}));
        } else if r.is_on() {
            let effort = r.effort.map(|e| e.as_str()).unwrap_or("medium");
            let mut reasoning = json!({"effort": effort});
            if !r.exclude {
                reasoning["summary"] = json!("auto");
            }
            body.insert("reasoning".into(), reasoning);
        }
    }
    let mut text = Map::new();
    if let Some(format) = &req.response_format {
        text.insert("format".into(), text_format(format));
    }
    if req.extra_dialect == Some(Dialect::OpenAi) {
        if let Some(v) = req.extra.get("verbosity") {
            text.insert("verbosity".into(), v.clone());
        }
        for key in [
            "prompt_cache_key",
            "safety_identifier",
            "service_tier",
            "metadata",
        ] {
            if let Some(v) = req.extra.get(key) {
                body.insert(key.into(), v.clone());
            }
        }
    }
    if !text.is_empty() {
        body.insert("text".into(), Value::Object(text));
    }
    body.insert("store".into(), json!(false));
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

fn tool(t: &Tool) -> Value {
    let mut v = json!({"type": "function", "name": t.name, "parameters": t.parameters});
    if let Some(d) = &t.description {
        v["description"] = json!(d);
    }
    // Responses defaults `strict` to true, which rejects most hand-written schemas.
    v["strict"] = json!(t.strict.unwrap_or(false));
    v
}

fn tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(name) => json!({"type": "function", "name": name}),
    }
}

fn text_format(f: &ResponseFormat) -> Value {
    match f {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut v = json!({"type": "json_schema", "name": name, "schema": schema});
            if let Some(s) = strict {
                v["strict"] = json!(s);
            }
            v
        }
    }
}

fn media_url(source: &MediaSource) -> String {
    crate::dialects::openai_chat::inbound::media_url(source)
}

fn input_part(p: &Part) -> Result<Option<Value>, ApiError> {
    Ok(match p {
        Part::Text { text, .. } => Some(json!({"type": "input_text", "text": text})),
        Part::Image { source, detail } => Some(json!({
            "type": "input_image",
            "image_url": media_url(source),
            "detail": detail.as_deref().unwrap_or("auto"),
        })),
        Part::File { source, filename } => {
            let mut v = json!({"type": "input_file"});
            match source {
                MediaSource::Base64 { .. } => v["file_data"] = json!(media_url(source)),
                MediaSource::Url { url, .. } => v["file_url"] = json!(url),
            }
            if let Some(name) = filename {
                v["filename"] = json!(name);
            }
            Some(v)
        }
        Part::Audio { .. } => {
            return Err(ApiError::bad_request(
                "audio input is not supported by the Responses API upstream serving this model",
            ))
        }
        Part::Unknown {
            dialect: Dialect::OpenAiResponses,
            value,
        } => Some(value.clone()),
        _ => None,
    })
}

/// The input items of one hub turn.
fn items(m: &Message, out: &mut Vec<Value>) -> Result<(), ApiError> {
    match m.role {
        Role::User => {
            let mut content = Vec::new();
            for p in &m.content {
                match p {
                    Part::ToolResult {
                        tool_use_id,
                        content: result,
                        is_error,
                        ..
                    } => {
                        flush_message(out, "user", &mut content);
                        out.push(json!({
                            "type": "function_call_output",
                            "call_id": tool_use_id,
                            "output": tool_output(result, *is_error)?,
                        }));
                    }
                    Part::Unknown {
                        dialect: Dialect::OpenAiResponses,
                        value,
                    } if value.get("type").and_then(Value::as_str) != Some("input_text") => {
                        flush_message(out, "user", &mut content);
                        out.push(value.clone());
                    }
                    other => content.extend(input_part(other)?),
                }
            }
            flush_message(out, "user", &mut content);
        }
        Role::Assistant => {
            let mut content = Vec::new();
            for p in &m.content {
                match p {
                    Part::Text { text, .. } => content
                        .push(json!({"type": "output_text", "text": text, "annotations": []})),
                    Part::ToolUse {
                        id,
                        name,
                        arguments,
                        ..
                    } => {
                        flush_message(out, "assistant", &mut content);
                        out.push(json!({
                            "type": "function_call",
                            "call_id": id,
                            "name": name,
                            "arguments": if arguments.is_empty() { "{}" } else { arguments },
                        }));
                    }
                    Part::Unknown {
                        dialect: Dialect::OpenAiResponses,
                        value,
                    } => {
                        flush_message(out, "assistant", &mut content);
                        out.push(value.clone());
                    }
                    // Other vendors' thinking cannot be replayed to OpenAI.
                    _ => {}
                }
            }
            flush_message(out, "assistant", &mut content);
        }
    }
    Ok(())
}

fn flush_message(out: &mut Vec<Value>, role: &str, content: &mut Vec<Value>) {
    if !content.is_empty() {
        out.push(json!({"type": "message", "role": role, "content": std::mem::take(content)}));
    }
}

/// A tool result: plain text when it is all text, else a list of input parts.
fn tool_output(parts: &[Part], is_error: bool) -> Result<Value, ApiError> {
    let all_text = parts.iter().all(|p| matches!(p, Part::Text { .. }));
    if all_text {
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let text = text.concat();
        return Ok(json!(if is_error {
            format!("Error: {text}")
        } else {
            text
        }));
    }
    let mut list = Vec::new();
    for p in parts {
        list.extend(input_part(p)?);
    }
    Ok(Value::Array(list))
}
