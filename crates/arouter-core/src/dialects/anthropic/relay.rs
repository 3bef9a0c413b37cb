//! The same-dialect relay's edit of an Anthropic message: the client gets the upstream's
//! message byte for byte except `id` (our generation id, so the body's id works with
//! `GET /api/v1/generation` and the stored-completion lookup) and `model` (the ARouter model
//! that served it), as translated answers have. The members are copied as raw JSON text; the
//! message is never re-serialized.

use super::usage::WireUsage;
use crate::model::{is_foreign, Dialect};
use crate::raw_json::{object, put, put_raw, RawObject};
use serde_json::Value;

/// The client's `messages` without the thinking blocks another vendor signed (ARouter handed
/// them out tagged after a turn served elsewhere; Anthropic would refuse them), or `None` when
/// there are none, which costs a walk over the blocks and no copy.
pub fn messages_without_foreign_thinking(body: &Value) -> Option<Value> {
    let foreign = |b: &Value| {
        let field = match b.get("type").and_then(Value::as_str) {
            Some("thinking") => "signature",
            Some("redacted_thinking") => "data",
            _ => return false,
        };
        b.get(field)
            .and_then(Value::as_str)
            .is_some_and(|s| is_foreign(Dialect::Anthropic, s))
    };
    let messages = body.get("messages")?.as_array()?;
    let has_foreign = |m: &Value| {
        m.get("content")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(foreign))
    };
    if !messages.iter().any(has_foreign) {
        return None;
    }
    let cleaned = messages
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(Value::Array(content)) = m.get_mut("content") {
                content.retain(|b| !foreign(b));
            }
            m
        })
        .collect();
    Some(Value::Array(cleaned))
}

/// What the ledger reads off a message.
#[derive(Debug, Default)]
pub struct Accounting {
    pub usage: WireUsage,
    pub stop_reason: Option<String>,
}

/// The edited message and its accounting; `None` when the body is not a JSON object.
pub fn edit_message(body: &[u8], id: &str, model: &str) -> Option<(Vec<u8>, Accounting)> {
    let top: RawObject = object(body).ok()?;
    let mut acc = Accounting::default();
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(b'{');
    let (mut seen_id, mut seen_model) = (false, false);
    for (k, v) in &top.0 {
        match *k {
            "id" if !std::mem::replace(&mut seen_id, true) => put(&mut out, k, id),
            "model" if !std::mem::replace(&mut seen_model, true) => put(&mut out, k, model),
            "id" | "model" => {}
            _ => {
                if *k == "usage" {
                    acc.usage = serde_json::from_str(v.get()).unwrap_or_default();
                } else if *k == "stop_reason" {
                    acc.stop_reason = serde_json::from_str(v.get()).ok().flatten();
                }
                put_raw(&mut out, k, v);
            }
        }
    }
    if !seen_id {
        put(&mut out, "id", id);
    }
    if !seen_model {
        put(&mut out, "model", model);
    }
    out.push(b'}');
    Some((out, acc))
}

/// The same edit on a stream's `message_start` event (its `message` object).
pub fn edit_message_start(event: &mut Value, id: &str, model: &str) {
    if let Some(m) = event.get_mut("message").and_then(Value::as_object_mut) {
        m.insert("id".into(), Value::String(id.to_string()));
        m.insert("model".into(), Value::String(model.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_model_replaced_everything_else_verbatim() {
        let body = br#"{"id":"msg_up","type":"message","model":"claude-x","content":[{"type":"text","text":"hi \u00e9"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2,"service_tier":"standard"}}"#;
        let (out, acc) = edit_message(body, "msg_ours", "an/claude-x").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], "msg_ours");
        assert_eq!(v["model"], "an/claude-x");
        assert_eq!(v["usage"]["service_tier"], "standard");
        assert!(std::str::from_utf8(&out)
            .unwrap()
            .contains(r#""hi \u00e9""#));
        assert_eq!(acc.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(acc.usage.to_hub().output_tokens, 2);
        assert!(edit_message(b"[1]", "a", "b").is_none());
    }
}
