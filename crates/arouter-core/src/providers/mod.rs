//! Outbound provider adapters, one per wire format, and the one dispatch point from a
//! provider's kind to its adapter. Adapters are pure: build a request, parse a response,
//! decode a stream. All HTTP lives in `upstream.rs`.

pub mod anthropic;
pub mod gemini;
pub mod openai;

use crate::config::{ProviderConfig, ProviderKind};
use crate::error::ApiError;
use crate::model::{ChatRequest, ChatResponse, StreamEvent};
use crate::sse::SseEvent;
use bytes::Bytes;

/// Where a hub request goes: the provider instance, the model name it knows, its credential.
/// (`Debug` in `redact.rs` leaves the credential out.)
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub provider: &'a ProviderConfig,
    /// The upstream model name (everything after the first `/` of the ARouter id).
    pub model: &'a str,
    pub api_key: Option<&'a str>,
    /// Output token cap to send when the request has none and the vendor requires one.
    pub default_max_tokens: u32,
}

/// A ready-to-send upstream HTTP request (always POST with a JSON body). (`Debug` in
/// `redact.rs` leaves credentials out.)
#[derive(Clone)]
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

/// Builds the upstream request for a hub chat request.
pub fn build_chat(req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, ApiError> {
    match target.provider.kind {
        ProviderKind::OpenAi => openai::build(req, target),
        ProviderKind::Anthropic => anthropic::build(req, target),
        ProviderKind::Gemini => gemini::build(req, target),
    }
}

/// Parses a 2xx non-streaming upstream body.
pub fn parse_chat(
    kind: ProviderKind,
    provider: &str,
    body: &[u8],
) -> Result<ChatResponse, ApiError> {
    match kind {
        ProviderKind::OpenAi => openai::parse(provider, body),
        ProviderKind::Anthropic => anthropic::parse(provider, body),
        ProviderKind::Gemini => gemini::parse(provider, body),
    }
}

/// Maps a non-2xx upstream answer to an error (status kept, vendor message extracted).
pub fn parse_error(kind: ProviderKind, provider: &str, status: u16, body: &[u8]) -> ApiError {
    match kind {
        ProviderKind::OpenAi => openai::parse_error(provider, status, body),
        ProviderKind::Anthropic => anthropic::parse_error(provider, status, body),
        ProviderKind::Gemini => gemini::parse_error(provider, status, body),
    }
}

pub fn stream_decoder(kind: ProviderKind, provider: &str) -> Box<dyn StreamDecoder> {
    match kind {
        ProviderKind::OpenAi => Box::new(openai::Decoder::new(provider)),
        ProviderKind::Anthropic => Box::new(anthropic::Decoder::new(provider)),
        ProviderKind::Gemini => Box::new(gemini::Decoder::new(provider)),
    }
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
