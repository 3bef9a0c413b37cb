//! What every outbound adapter shares: where a request goes ([`Target`]), the ready request
//! ([`UpstreamRequest`]), the stream decoder trait, and the error for a garbage 2xx body.

use crate::config::ProviderConfig;
use crate::error::ApiError;
use crate::model::StreamEvent;
use crate::sse::SseEvent;
use bytes::Bytes;

/// Where a hub request goes: the provider instance, the model name it knows, its credential.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub provider: &'a ProviderConfig,
    /// The upstream model name (everything after the first `/` of the ARouter id).
    pub model: &'a str,
    pub api_key: Option<&'a str>,
    /// Output token cap to send when the request has none and the vendor requires one.
    pub default_max_tokens: u32,
}

/// A ready-to-send upstream HTTP request (always POST with a JSON body).
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

/// Turns a vendor's SSE events into hub stream events. Stateful (block indexes, usage so far).
pub trait StreamDecoder: Send {
    /// Handles one SSE event; an upstream error event becomes `Err` (the stream then ends).
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ApiError>;
    /// The upstream closed the stream. Returns `Err` if it ended before the vendor's own end
    /// marker (a dropped stream), after closing any open blocks in `out`.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ApiError>;
}

/// A garbage 2xx body: the upstream answered but not in its own format.
pub fn bad_body(provider: &str, what: &str, body: &[u8]) -> ApiError {
    crate::error::upstream_error(
        provider,
        502,
        format!("invalid response body: {what}"),
        body,
    )
}
