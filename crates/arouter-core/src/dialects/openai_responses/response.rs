//! Response objects: hub → the `response` object a caller receives (also inside stream events),
//! and a Responses upstream's `response` object → hub. Output items are built in one place for
//! the unary path and the stream encoder alike.

use super::custom::{self, CustomTools};
use super::reasoning;
use super::usage;
use super::wire;
use crate::error::ApiError;
use crate::model::{ChatResponse, Dialect, Part, Signed, StopReason, Usage};
use serde_json::{json, Map, Value};

/// What a response is labelled with and how its items are rendered.
#[derive(Debug, Clone)]
pub struct Meta {
    /// `resp_…`
    pub id: String,
    /// The ARouter model id the caller asked for.
    pub model: String,
    pub created_at: i64,
    /// Request settings echoed in the object (see `request::echo`).
    pub echo: Map<String, Value>,
    /// Which vendor's signatures the thinking blocks of a stream carry.
    pub issuer: Dialect,
    pub tools: CustomTools,
    /// The caller asked `include: ["reasoning.encrypted_content"]`.
    pub include_encrypted: bool,
}

impl Meta {
    /// The id of the `n`th output item, of kind `prefix` (`msg`, `rs`, `fc`, `ctc`).
    pub fn item_id(&self, prefix: &str, n: usize) -> String {
        let base = self.id.strip_prefix("resp_").unwrap_or(&self.id);
        format!("{prefix}_{base}_{n}")
    }

    /// The `response` object with the given status, output and usage.
    pub fn object(
        &self,
        status: &str,
        output: Vec<Value>,
        usage: Option<&Usage>,
        reason: Option<StopReason>,
        error: Option<Value>,
    ) -> Value {
        let incomplete = reason
            .and_then(|r| usage::status_of(r).1)
            .filter(|_| status == "incomplete")
            .map(|r| json!({"reason": r}));
        let mut o = Map::with_capacity(self.echo.len() + 12);
        o.insert("id".into(), json!(self.id));
        o.insert("object".into(), json!("response"));
        o.insert("created_at".into(), json!(self.created_at));
        o.insert("status".into(), json!(status));
        o.insert("background".into(), json!(false));
        o.insert("error".into(), error.unwrap_or(Value::Null));
        o.insert(
            "incomplete_details".into(),
            incomplete.unwrap_or(Value::Null),
        );
        o.insert("model".into(), json!(self.model));
        o.insert("output".into(), Value::Array(output));
        for (k, v) in &self.echo {
            o.insert(k.clone(), v.clone());
        }
        o.insert(
            "usage".into(),
            usage.map_or(Value::Null, |u| json!(usage::to_wire(u))),
        );
        Value::Object(o)
    }

    pub fn message_item(&self, id: &str, status: &str, texts: &[String]) -> Value {
        let content: Vec<Value> = texts.iter().map(|t| output_text(t)).collect();
        json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
    }

    pub fn reasoning_item(&self, id: &str, summary: &str, encrypted: Option<String>) -> Value {
        let summary: Vec<Value> = if summary.is_empty() {
            Vec::new()
        } else {
            vec![json!({"type": "summary_text", "text": summary})]
        };
        let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
        if let Some(enc) = encrypted {
            item["encrypted_content"] = json!(enc);
        }
        item
    }

    /// The `encrypted_content` to hand out for a thinking signature, if any.
    pub fn encrypted(&self, signature: Option<&Signed>) -> Option<String> {
        let sig = signature.filter(|s| !s.value.is_empty())?;
        // OpenAI returns its own only when asked; other vendors' signatures always travel, or
        // a later turn could not give the thinking back to the vendor that needs it.
        if sig.by == Dialect::OpenAiResponses && !self.include_encrypted {
            return None;
        }
        Some(reasoning::wrap(sig))
    }

    /// A function call, or a custom tool call when the caller declared the tool as custom.
    pub fn call_item(
        &self,
        n: usize,
        call_id: &str,
        name: &str,
        arguments: &str,
        status: &str,
    ) -> Value {
        if self.tools.contains(name) {
            return json!({
                "id": self.item_id("ctc", n), "type": "custom_tool_call", "status": status,
                "call_id": call_id, "name": name, "input": custom::input_from(arguments),
            });
        }
        let mut item = json!({
            "id": self.item_id("fc", n), "type": "function_call", "status": status,
            "arguments": arguments, "call_id": call_id, "name": name,
        });
        if let Some(ns) = self.tools.namespace_of(name) {
            item["namespace"] = json!(ns);
        }
        item
    }
}

pub fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// Output items for a finished hub answer.
pub fn output_items(resp: &ChatResponse, meta: &Meta) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let flush = |out: &mut Vec<Value>, texts: &mut Vec<String>| {
        if !texts.is_empty() {
            let id = meta.item_id("msg", out.len());
            out.push(meta.message_item(&id, "completed", texts));
            texts.clear();
        }
    };
    for part in &resp.content {
        match part {
            Part::Text { text, .. } => {
                texts.push(text.clone());
                continue;
            }
            _ => flush(&mut out, &mut texts),
        }
        match part {
            Part::Thinking { text, signature } => {
                let id = meta.item_id("rs", out.len());
                out.push(meta.reasoning_item(&id, text, meta.encrypted(signature.as_ref())));
            }
            Part::RedactedThinking { data } => {
                let id = meta.item_id("rs", out.len());
                out.push(meta.reasoning_item(&id, "", Some(reasoning::wrap_redacted(data))));
            }
            Part::ToolUse {
                id,
                name,
                arguments,
                ..
            } => {
                let args = if arguments.is_empty() {
                    "{}"
                } else {
                    arguments
                };
                out.push(meta.call_item(out.len(), id, name, args, "completed"));
            }
            Part::Unknown {
                dialect: Dialect::OpenAiResponses,
                value,
            } => out.push(value.clone()),
            _ => {}
        }
    }
    flush(&mut out, &mut texts);
    out
}

/// The whole `response` object for a finished hub answer.
pub fn from_hub(resp: &ChatResponse, meta: &Meta) -> Value {
    let (status, _) = usage::status_of(resp.stop_reason);
    meta.object(
        status,
        output_items(resp, meta),
        Some(&resp.usage),
        Some(resp.stop_reason),
        None,
    )
}

/// A Responses upstream's 2xx body → hub.
pub fn to_hub(provider: &str, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| crate::providers::bad_body(provider, "not JSON", body))?;
    let output = v
        .get("output")
        .and_then(Value::as_array)
        .ok_or_else(|| crate::providers::bad_body(provider, "no output", body))?;
    let mut content = Vec::new();
    for item in output {
        item_parts(item, &mut content);
    }
    let has_call = content.iter().any(|p| matches!(p, Part::ToolUse { .. }));
    let status = v.get("status").and_then(Value::as_str);
    let incomplete = v
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str);
    let usage = v
        .get("usage")
        .and_then(|u| serde_json::from_value::<wire::Usage>(u.clone()).ok())
        .map(|u| usage::from_wire(&u))
        .unwrap_or_default();
    Ok(ChatResponse {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        content,
        stop_reason: usage::stop_reason(status, incomplete, has_call),
        native_stop_reason: incomplete.or(status).map(str::to_string),
        stop_sequence: None,
        usage,
    })
}

/// Hub parts of one upstream output item.
pub fn item_parts(item: &Value, out: &mut Vec<Part>) {
    let typed: Option<wire::Item> = serde_json::from_value(item.clone()).ok();
    match typed {
        Some(wire::Item::Message(m)) => match m.content {
            wire::MessageContent::Text(t) => out.push(Part::text(t)),
            wire::MessageContent::Parts(parts) => {
                for p in parts {
                    let text = p
                        .get("text")
                        .or_else(|| p.get("refusal"))
                        .and_then(Value::as_str);
                    if let Some(t) = text {
                        out.push(Part::text(t));
                    }
                }
            }
        },
        Some(wire::Item::Reasoning(r)) => {
            let text = reasoning::text_of(&r);
            if r.encrypted_content.is_some() {
                out.push(Part::Unknown {
                    dialect: Dialect::OpenAiResponses,
                    value: item.clone(),
                });
            }
            if !text.is_empty() {
                out.push(Part::Thinking {
                    text,
                    signature: None,
                });
            }
        }
        Some(wire::Item::FunctionCall(c)) => out.push(Part::ToolUse {
            id: c.call_id,
            name: c.name,
            arguments: c.arguments,
            signature: None,
        }),
        Some(wire::Item::CustomToolCall(c)) => out.push(Part::ToolUse {
            id: c.call_id,
            name: c.name,
            arguments: custom::arguments_for(&c.input),
            signature: None,
        }),
        _ => out.push(Part::Unknown {
            dialect: Dialect::OpenAiResponses,
            value: item.clone(),
        }),
    }
}
