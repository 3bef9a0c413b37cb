//! The same-dialect relay's edit of a Gemini request: the client's body goes upstream as it
//! came, except thought signatures another vendor issued (ARouter handed them out tagged after
//! a turn served elsewhere), which Gemini would refuse.

use super::FOREIGN_SIGNATURE;
use crate::model::{is_foreign, Dialect};
use serde_json::Value;

/// The client's `contents` without foreign thought signatures, or `None` when there are none
/// (a walk over the parts, no copy). A function call keeps Google's documented placeholder in
/// place of one, since Gemini requires a signature on the first call of a step.
pub fn contents_without_foreign_signatures(body: &Value) -> Option<Value> {
    let foreign = |p: &Value| {
        p.get("thoughtSignature")
            .or_else(|| p.get("thought_signature"))
            .and_then(Value::as_str)
            .is_some_and(|s| is_foreign(Dialect::Gemini, s))
    };
    let has_foreign = |c: &Value| {
        c.get("parts")
            .and_then(Value::as_array)
            .is_some_and(|p| p.iter().any(foreign))
    };
    let contents = body.get("contents")?.as_array()?;
    if !contents.iter().any(has_foreign) {
        return None;
    }
    let mut contents = contents.clone();
    for c in &mut contents {
        let Some(Value::Array(parts)) = c.get_mut("parts") else {
            continue;
        };
        for p in parts.iter_mut().filter(|p| foreign(p)) {
            let Some(obj) = p.as_object_mut() else {
                continue;
            };
            obj.remove("thought_signature");
            if obj.contains_key("functionCall") || obj.contains_key("function_call") {
                obj.insert("thoughtSignature".into(), FOREIGN_SIGNATURE.into());
            } else {
                obj.remove("thoughtSignature");
            }
        }
    }
    Some(Value::Array(contents))
}
