//! Inbound requests: the `POST /v1/responses` body parsed into wire structs, and wire → hub for
//! every upstream that is not itself a Responses API (those get the body relayed instead).

use super::custom::{self, CustomTools};
use super::reasoning;
use super::wire::{self, Item, MessageContent, BUILT_IN_TOOLS};
use crate::error::ApiError;
use crate::model::{
    ChatRequest, Dialect, Effort, MediaSource, Message, Part, Reasoning, ResponseFormat, Role,
    Tool, ToolChoice,
};
use serde_json::{json, Map, Value};

fn bad(path: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{path}: {message}"))
}

/// Parses the request body. Only the shape is checked here; items are checked by [`to_hub`].
pub fn parse(body: &[u8]) -> Result<wire::Request, ApiError> {
    let req: wire::Request = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
    if req.model.as_deref().is_none_or(str::is_empty) {
        return Err(bad("model", "is required"));
    }
    Ok(req)
}

/// A request in hub form plus what rendering the answer needs to know about its tools.
#[derive(Debug, Clone)]
pub struct HubRequest {
    pub chat: ChatRequest,
    pub tools: CustomTools,
}

/// Wire → hub. `items` is the whole conversation (stored items of `previous_response_id`
/// first, then this request's input).
pub fn to_hub(req: &wire::Request, items: &[Value]) -> Result<HubRequest, ApiError> {
    let mut tools = CustomTools::default();
    let mut chat = ChatRequest {
        model: req.model.clone().unwrap_or_default(),
        tools: hub_tools(req.tools.as_deref().unwrap_or_default(), &mut tools)?,
        parallel_tool_calls: req.parallel_tool_calls,
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        user: req.user.clone(),
        stream: req.streams(),
        ..ChatRequest::default()
    };
    chat.tool_choice = match &req.tool_choice {
        None => None,
        Some(choice) => tool_choice(choice)?,
    };
    if let Some(text) = &req.instructions {
        if !text.is_empty() {
            chat.system.push(Part::text(text.clone()));
        }
    }
    chat.reasoning = req
        .reasoning
        .as_ref()
        .map(hub_reasoning)
        .transpose()?
        .flatten();
    if let Some(text) = &req.text {
        chat.response_format = text.format.as_ref().map(text_format).transpose()?;
        if let Some(verbosity) = &text.verbosity {
            chat.extra.insert("verbosity".into(), json!(verbosity));
        }
    }
    for key in ["prompt_cache_key", "safety_identifier", "service_tier"] {
        let value = match key {
            "prompt_cache_key" => req.prompt_cache_key.as_ref().map(|v| json!(v)),
            _ => req.extra.get(key).cloned(),
        };
        if let Some(v) = value.filter(|v| !v.is_null()) {
            chat.extra.insert(key.into(), v);
        }
    }
    if !chat.extra.is_empty() {
        chat.extra_dialect = Some(Dialect::OpenAi);
    }
    let mut names: Vec<(String, String)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        add_item(&mut chat, &mut names, item, &format!("input[{i}]"))?;
    }
    if chat.messages.is_empty() {
        return Err(bad(
            "input",
            "must contain at least one user message or item",
        ));
    }
    Ok(HubRequest { chat, tools })
}

fn hub_reasoning(r: &wire::ReasoningParam) -> Result<Option<Reasoning>, ApiError> {
    let Some(effort) = r.effort.as_deref() else {
        return Ok(None);
    };
    if effort == "none" {
        return Ok(Some(Reasoning {
            enabled: Some(false),
            ..Reasoning::default()
        }));
    }
    let effort = Effort::parse(effort)
        .ok_or_else(|| bad("reasoning.effort", format!("unknown effort \"{effort}\"")))?;
    Ok(Some(Reasoning {
        effort: Some(effort),
        ..Reasoning::default()
    }))
}

fn text_format(format: &Value) -> Result<ResponseFormat, ApiError> {
    let path = "text.format";
    let kind = format
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(&format!("{path}.type"), "is required"))?;
    Ok(match kind {
        "text" => ResponseFormat::Text,
        "json_object" => ResponseFormat::JsonObject,
        "json_schema" => ResponseFormat::JsonSchema {
            name: format
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("response")
                .to_string(),
            schema: format
                .get("schema")
                .filter(|s| s.is_object())
                .cloned()
                .ok_or_else(|| bad(&format!("{path}.schema"), "is required"))?,
            strict: format.get("strict").and_then(Value::as_bool),
        },
        other => {
            return Err(bad(
                &format!("{path}.type"),
                format!("unknown format \"{other}\""),
            ))
        }
    })
}

/// Function tools as they are, custom tools bridged, namespace groups flattened; a built-in
/// tool is a clear 400 (only OpenAI runs them).
fn hub_tools(list: &[Value], names: &mut CustomTools) -> Result<Vec<Tool>, ApiError> {
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        add_tool(t, &format!("tools[{i}]"), None, names, &mut out)?;
    }
    Ok(out)
}

fn add_tool(
    t: &Value,
    path: &str,
    namespace: Option<&str>,
    names: &mut CustomTools,
    out: &mut Vec<Tool>,
) -> Result<(), ApiError> {
    let str_of = |key: &str| t.get(key).and_then(Value::as_str);
    let kind = str_of("type").ok_or_else(|| bad(&format!("{path}.type"), "is required"))?;
    let name = || {
        str_of("name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad(&format!("{path}.name"), "is required"))
    };
    match kind {
        "function" => {
            let name = name()?;
            if let Some(ns) = namespace {
                names.add_namespaced(name, ns);
            }
            out.push(Tool {
                name: name.to_string(),
                description: str_of("description").map(str::to_string),
                parameters: match t.get("parameters") {
                    Some(Value::Object(o)) => Value::Object(o.clone()),
                    None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
                    Some(_) => {
                        return Err(bad(&format!("{path}.parameters"), "expected a JSON Schema"))
                    }
                },
                strict: t.get("strict").and_then(Value::as_bool),
                cache_control: None,
            });
        }
        "custom" => {
            let name = name()?;
            names.add(name);
            out.push(custom::as_function(
                name,
                str_of("description"),
                t.get("format"),
            ));
        }
        "namespace" => {
            let ns = name()?;
            let inner = t
                .get("tools")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(&format!("{path}.tools"), "expected an array"))?;
            for (j, tool) in inner.iter().enumerate() {
                add_tool(tool, &format!("{path}.tools[{j}]"), Some(ns), names, out)?;
            }
        }
        builtin if BUILT_IN_TOOLS.contains(&builtin) || builtin.starts_with("web_search") => {
            return Err(bad(
                &format!("{path}.type"),
                format!(
                    "the built-in tool \"{builtin}\" runs only on OpenAI's Responses API; the \
                     provider serving this model cannot run it (remove the tool or route to an \
                     openai provider marked wire = \"responses\")"
                ),
            ))
        }
        other => {
            return Err(bad(
                &format!("{path}.type"),
                format!("unknown tool type \"{other}\""),
            ))
        }
    }
    Ok(())
}

fn tool_choice(choice: &Value) -> Result<Option<ToolChoice>, ApiError> {
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            other => Err(bad(
                "tool_choice",
                format!("unknown tool choice \"{other}\""),
            )),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") | Some("custom") => {
                let name = o
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("tool_choice.name", "is required"))?;
                Ok(Some(ToolChoice::Named(name.to_string())))
            }
            Some("allowed_tools") => Ok(Some(match o.get("mode").and_then(Value::as_str) {
                Some("required") => ToolChoice::Required,
                _ => ToolChoice::Auto,
            })),
            Some(other) => Err(bad(
                "tool_choice.type",
                format!(
                    "\"{other}\" names a built-in tool, which only OpenAI's Responses API runs"
                ),
            )),
            None => Err(bad("tool_choice.type", "is required")),
        },
        Value::Null => Ok(None),
        _ => Err(bad("tool_choice", "expected a string or an object")),
    }
}

/// Adds one input item to the conversation.
fn add_item(
    chat: &mut ChatRequest,
    names: &mut Vec<(String, String)>,
    raw: &Value,
    path: &str,
) -> Result<(), ApiError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| bad(path, "expected an object"))?;
    let kind = match obj.get("type").and_then(Value::as_str) {
        Some(k) => k,
        // OpenAI's "easy" input message has no `type`.
        None if obj.contains_key("role") => "message",
        None => return Err(bad(&format!("{path}.type"), "is required")),
    };
    let typed = || -> Result<Item, ApiError> {
        let mut v = raw.clone();
        if let Some(o) = v.as_object_mut() {
            o.entry("type").or_insert_with(|| json!("message"));
        }
        serde_json::from_value(v).map_err(|e| bad(path, e))
    };
    match kind {
        "message"
        | "function_call"
        | "function_call_output"
        | "custom_tool_call"
        | "custom_tool_call_output"
        | "reasoning" => {}
        "item_reference" => {
            return Err(bad(
                path,
                "item_reference is not supported; send the item itself or use previous_response_id",
            ))
        }
        other => {
            // Items the hub does not model (shell calls, web search results…) replay verbatim to
            // a Responses upstream only.
            let part = Part::Unknown {
                dialect: Dialect::OpenAiResponses,
                value: raw.clone(),
            };
            if other.ends_with("_output") {
                push(chat, Role::User, vec![part]);
            } else {
                push(chat, Role::Assistant, vec![part]);
            }
            return Ok(());
        }
    }
    match typed()? {
        Item::Message(m) => message(chat, m, path)?,
        Item::FunctionCall(c) => {
            names.push((c.call_id.clone(), c.name.clone()));
            push(
                chat,
                Role::Assistant,
                vec![Part::ToolUse {
                    id: c.call_id,
                    name: c.name,
                    arguments: if c.arguments.is_empty() {
                        "{}".into()
                    } else {
                        c.arguments
                    },
                    signature: None,
                }],
            );
        }
        Item::CustomToolCall(c) => {
            names.push((c.call_id.clone(), c.name.clone()));
            push(
                chat,
                Role::Assistant,
                vec![Part::ToolUse {
                    id: c.call_id,
                    arguments: custom::arguments_for(&c.input),
                    name: c.name,
                    signature: None,
                }],
            );
        }
        Item::FunctionCallOutput(o) | Item::CustomToolCallOutput(o) => {
            let name = names
                .iter()
                .rev()
                .find(|(id, _)| *id == o.call_id)
                .map(|(_, n)| n.clone());
            let content = output_parts(&o.output, &format!("{path}.output"))?;
            push(
                chat,
                Role::User,
                vec![Part::ToolResult {
                    tool_use_id: o.call_id,
                    name,
                    content,
                    is_error: false,
                }],
            );
        }
        Item::Reasoning(r) => {
            let parts = reasoning::to_parts(&r, raw);
            if !parts.is_empty() {
                push(chat, Role::Assistant, parts);
            }
        }
    }
    Ok(())
}

/// Appends parts to the conversation, merging with the last turn when it has the same role.
fn push(chat: &mut ChatRequest, role: Role, parts: Vec<Part>) {
    match chat.messages.last_mut() {
        Some(last) if last.role == role => last.content.extend(parts),
        _ => chat.messages.push(Message {
            role,
            content: parts,
        }),
    }
}

fn message(chat: &mut ChatRequest, m: wire::MessageItem, path: &str) -> Result<(), ApiError> {
    let content_path = format!("{path}.content");
    let parts = match m.content {
        MessageContent::Text(text) => vec![Part::text(text)],
        MessageContent::Parts(list) => list
            .iter()
            .enumerate()
            .map(|(j, p)| content_part(p, &format!("{content_path}[{j}]")))
            .collect::<Result<Vec<_>, _>>()?,
    };
    match m.role.as_str() {
        "system" | "developer" => {
            for part in parts {
                match part {
                    Part::Text { .. } => chat.system.push(part),
                    _ => return Err(bad(&content_path, "system messages take text only")),
                }
            }
        }
        "user" => push(chat, Role::User, parts),
        "assistant" => push(chat, Role::Assistant, parts),
        other => {
            return Err(bad(
                &format!("{path}.role"),
                format!("unknown role \"{other}\""),
            ))
        }
    }
    Ok(())
}

fn content_part(p: &Value, path: &str) -> Result<Part, ApiError> {
    let s = |key: &str| p.get(key).and_then(Value::as_str);
    let kind = s("type").ok_or_else(|| bad(&format!("{path}.type"), "is required"))?;
    match kind {
        "input_text" | "output_text" | "text" | "summary_text" => {
            Ok(Part::text(s("text").ok_or_else(|| {
                bad(&format!("{path}.text"), "is required")
            })?))
        }
        "refusal" => Ok(Part::text(s("refusal").unwrap_or_default())),
        "input_image" => {
            if s("file_id").is_some() {
                return Err(bad(
                    &format!("{path}.file_id"),
                    "uploaded file ids are not supported; send image_url (a URL or data URL)",
                ));
            }
            let url =
                s("image_url").ok_or_else(|| bad(&format!("{path}.image_url"), "is required"))?;
            Ok(Part::Image {
                source: media(url, &format!("{path}.image_url"))?,
                detail: s("detail").map(str::to_string),
            })
        }
        "input_file" => {
            if s("file_id").is_some() {
                return Err(bad(
                    &format!("{path}.file_id"),
                    "uploaded file ids are not supported; send the file inline as file_data",
                ));
            }
            let source = match (s("file_data"), s("file_url")) {
                (Some(data), _) if data.starts_with("data:") => {
                    media(data, &format!("{path}.file_data"))?
                }
                (Some(data), _) => MediaSource::Base64 {
                    media_type: "application/pdf".into(),
                    data: data.to_string(),
                },
                (None, Some(url)) => media(url, &format!("{path}.file_url"))?,
                (None, None) => return Err(bad(&format!("{path}.file_data"), "is required")),
            };
            Ok(Part::File {
                source,
                filename: s("filename").map(str::to_string),
            })
        }
        _ => Ok(Part::Unknown {
            dialect: Dialect::OpenAiResponses,
            value: p.clone(),
        }),
    }
}

/// Image and file URLs are OpenAI's: a base64 `data:` URL or an http(s) URL.
fn media(url: &str, path: &str) -> Result<MediaSource, ApiError> {
    crate::dialects::openai_chat::inbound::media_source(url, path)
}

/// A tool output: a string, or a list of content parts.
fn output_parts(output: &Value, path: &str) -> Result<Vec<Part>, ApiError> {
    match output {
        Value::String(s) => Ok(vec![Part::text(s.clone())]),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(j, p)| content_part(p, &format!("{path}[{j}]")))
            .collect(),
        Value::Null => Ok(Vec::new()),
        other => Ok(vec![Part::text(other.to_string())]),
    }
}

/// Request fields echoed in the response object (OpenAI returns the request's settings).
pub fn echo(req: &wire::Request) -> Map<String, Value> {
    let mut m = Map::new();
    let v = |x: Option<Value>| x.unwrap_or(Value::Null);
    m.insert(
        "instructions".into(),
        v(req.instructions.as_ref().map(|s| json!(s))),
    );
    m.insert(
        "max_output_tokens".into(),
        v(req.max_output_tokens.map(|n| json!(n))),
    );
    m.insert(
        "parallel_tool_calls".into(),
        json!(req.parallel_tool_calls.unwrap_or(true)),
    );
    m.insert(
        "previous_response_id".into(),
        v(req.previous_response_id.as_ref().map(|s| json!(s))),
    );
    m.insert(
        "reasoning".into(),
        json!({
            "effort": req.reasoning.as_ref().and_then(|r| r.effort.clone()),
            "summary": req.reasoning.as_ref().and_then(|r| r.summary.clone()),
        }),
    );
    m.insert("store".into(), json!(req.stores()));
    m.insert("temperature".into(), json!(req.temperature.unwrap_or(1.0)));
    m.insert(
        "text".into(),
        json!({
            "format": req.text.as_ref().and_then(|t| t.format.clone()).unwrap_or(json!({"type": "text"})),
            "verbosity": req.text.as_ref().and_then(|t| t.verbosity.clone()).unwrap_or_else(|| "medium".into()),
        }),
    );
    m.insert(
        "tool_choice".into(),
        req.tool_choice.clone().unwrap_or(json!("auto")),
    );
    m.insert("tools".into(), json!(req.tools.clone().unwrap_or_default()));
    m.insert("top_p".into(), json!(req.top_p.unwrap_or(1.0)));
    m.insert(
        "truncation".into(),
        req.extra
            .get("truncation")
            .cloned()
            .unwrap_or(json!("disabled")),
    );
    m.insert("user".into(), v(req.user.as_ref().map(|s| json!(s))));
    m.insert(
        "metadata".into(),
        req.metadata.clone().unwrap_or_else(|| json!({})),
    );
    m
}
