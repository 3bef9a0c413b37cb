//! Anthropic's `/v1/messages/count_tokens` as an outbound operation: the request for a hub
//! request (the Messages body narrowed to the fields the endpoint takes) and the reading of
//! its `{"input_tokens": n}` answer.

use crate::dialects::target::{bad_body, Target, UpstreamRequest};
use crate::error::ApiError;
use crate::model::ChatRequest;
use bytes::Bytes;
use serde_json::{Map, Value};

/// Fields of a Messages body that `/v1/messages/count_tokens` accepts.
const COUNT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
];

/// The count request for a hub request.
pub fn count_tokens_request(
    req: &ChatRequest,
    target: &Target,
) -> Result<UpstreamRequest, ApiError> {
    let built = super::outbound::build(req, target)?;
    let mut inner: Map<String, Value> = serde_json::from_slice(&built.body)
        .map_err(|e| ApiError::internal(format!("anthropic request body: {e}")))?;
    inner.retain(|k, _| COUNT_FIELDS.contains(&k.as_str()));
    let Some(url) = built.url.strip_suffix("/v1/messages") else {
        return Err(ApiError::internal(format!(
            "unexpected anthropic request URL for {}",
            target.model
        )));
    };
    Ok(UpstreamRequest {
        url: format!("{url}/v1/messages/count_tokens"),
        headers: built.headers,
        body: Bytes::from(Value::Object(inner).to_string()),
    })
}

/// Reads `input_tokens` from a 2xx count answer.
pub fn parse_count_tokens(provider: &str, body: &[u8]) -> Result<u64, ApiError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("input_tokens").and_then(Value::as_u64))
        .ok_or_else(|| bad_body(provider, "input_tokens is not a count", body))
}
