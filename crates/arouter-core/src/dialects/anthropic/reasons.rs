//! `stop_reason`, both directions.

use crate::model::StopReason;

/// Anthropic's `stop_reason` for a hub stop reason.
pub fn stop_reason(reason: StopReason, stop_sequence: Option<&str>) -> &'static str {
    match reason {
        StopReason::Stop if stop_sequence.is_some() => "stop_sequence",
        StopReason::Stop | StopReason::Error => "end_turn",
        StopReason::Length => "max_tokens",
        StopReason::ToolCalls => "tool_use",
        StopReason::ContentFilter => "refusal",
    }
}

/// The hub stop reason for an Anthropic `stop_reason` (`end_turn`, `stop_sequence`,
/// `pause_turn` and reasons newer than this map are a normal stop).
pub fn hub_stop_reason(native: Option<&str>) -> StopReason {
    match native {
        Some("max_tokens" | "model_context_window_exceeded") => StopReason::Length,
        Some("tool_use") => StopReason::ToolCalls,
        Some("refusal") => StopReason::ContentFilter,
        _ => StopReason::Stop,
    }
}
