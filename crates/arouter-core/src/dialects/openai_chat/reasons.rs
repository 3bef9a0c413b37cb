//! `finish_reason`: the hub's stop reasons are OpenRouter's own set (`StopReason::as_str`), so
//! only the reading side needs a map.

use crate::model::StopReason;

/// The hub stop reason for an upstream `finish_reason`.
pub fn stop_reason(native: Option<&str>, has_tool_use: bool) -> StopReason {
    let reason = match native {
        Some("length") => StopReason::Length,
        Some("tool_calls" | "function_call") => StopReason::ToolCalls,
        Some("content_filter") => StopReason::ContentFilter,
        Some("error") => StopReason::Error,
        _ => StopReason::Stop,
    };
    // Some servers (older Ollama, llama.cpp) report "stop" after emitting tool calls.
    if reason == StopReason::Stop && has_tool_use {
        StopReason::ToolCalls
    } else {
        reason
    }
}
