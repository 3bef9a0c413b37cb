//! The same-dialect relay's edit of a chat request: `reasoning_details` another vendor signed
//! (ARouter handed them out tagged after a turn served elsewhere) do not go upstream.

use crate::model::{is_foreign, Dialect};
use serde_json::Value;

/// The client's `messages` without foreign reasoning signatures and encrypted reasoning, or
/// `None` when there are none (a walk over the details, no copy).
pub fn messages_without_foreign_reasoning(body: &Value) -> Option<Value> {
    let foreign = |d: &Value| {
        ["signature", "data"].iter().any(|f| {
            d.get(*f)
                .and_then(Value::as_str)
                .is_some_and(|s| is_foreign(Dialect::OpenAi, s))
        })
    };
    let has_foreign = |m: &Value| {
        m.get("reasoning_details")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(foreign))
    };
    let messages = body.get("messages")?.as_array()?;
    if !messages.iter().any(has_foreign) {
        return None;
    }
    let mut messages = messages.clone();
    for m in &mut messages {
        let Some(Value::Array(details)) = m.get_mut("reasoning_details") else {
            continue;
        };
        // Encrypted reasoning is nothing without its data; a text detail keeps its text.
        details.retain(|d| {
            !(d.get("type").and_then(Value::as_str) == Some("reasoning.encrypted") && foreign(d))
        });
        for d in details.iter_mut().filter(|d| foreign(d)) {
            if let Some(obj) = d.as_object_mut() {
                obj.remove("signature");
            }
        }
    }
    Some(Value::Array(messages))
}
