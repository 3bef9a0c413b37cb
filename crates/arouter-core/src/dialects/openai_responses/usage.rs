//! Usage and stop reasons: the Responses `usage` object and `status` / `incomplete_details`
//! against the hub's `Usage` and `StopReason`.

use super::wire;
use crate::model::{StopReason, Usage};

pub fn to_wire(u: &Usage) -> wire::Usage {
    wire::Usage {
        input_tokens: u.input_tokens,
        input_tokens_details: wire::InputDetails {
            cached_tokens: u.cache_read_tokens,
        },
        output_tokens: u.output_tokens,
        output_tokens_details: wire::OutputDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
        total_tokens: u.total(),
    }
}

pub fn from_wire(u: &wire::Usage) -> Usage {
    Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        reasoning_tokens: u.output_tokens_details.reasoning_tokens,
        cache_read_tokens: u.input_tokens_details.cached_tokens,
        cache_write_tokens: 0,
    }
}

/// `status` and `incomplete_details.reason` for a finished response.
pub fn status_of(reason: StopReason) -> (&'static str, Option<&'static str>) {
    match reason {
        StopReason::Length => ("incomplete", Some("max_output_tokens")),
        StopReason::ContentFilter => ("incomplete", Some("content_filter")),
        StopReason::Error => ("failed", None),
        StopReason::Stop | StopReason::ToolCalls => ("completed", None),
    }
}

/// The hub stop reason of an upstream response.
pub fn stop_reason(
    status: Option<&str>,
    incomplete: Option<&str>,
    has_tool_call: bool,
) -> StopReason {
    match (status, incomplete) {
        (Some("incomplete"), Some("content_filter")) => StopReason::ContentFilter,
        (Some("incomplete"), _) => StopReason::Length,
        (Some("failed"), _) => StopReason::Error,
        _ if has_tool_call => StopReason::ToolCalls,
        _ => StopReason::Stop,
    }
}
