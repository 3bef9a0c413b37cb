//! `finishReason`, both directions (one map for the adapter, the relay and the surface).

use crate::json_path;
use crate::model::StopReason;
use serde_json::Value;

/// The first candidate's native `finishReason` and its normalised form (`tool_calls` when the
/// candidate stopped on a function call).
pub fn finish_of(resp: &Value) -> Option<(String, StopReason)> {
    let cand = json_path::at(resp, &["candidates", "0"])?;
    let native = cand.get("finishReason")?.as_str()?.to_string();
    let calls = json_path::pointer(cand, "/content/parts")
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|p| p.get("functionCall").is_some()));
    let reason = hub_stop_reason(&native, calls);
    Some((native, reason))
}

/// The hub stop reason for a `finishReason`. `FINISH_REASON_UNSPECIFIED` (the enum's unused
/// default) is a normal stop; `MODEL_ARMOR` (Vertex's Model Armor) is a content filter;
/// `MALFORMED_FUNCTION_CALL`, `OTHER`, `LANGUAGE`, `UNEXPECTED_TOOL_CALL` and unknown values
/// are errors.
pub fn hub_stop_reason(native: &str, has_calls: bool) -> StopReason {
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
        | "IMAGE_RECITATION"
        | "MODEL_ARMOR" => StopReason::ContentFilter,
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
