//! Outbound targets: what a provider instance is (URL, credential, model), which dialect its
//! kind speaks, and the one dispatch point from a kind to that dialect's outbound adapter
//! (`dialects::<name>::outbound`). Adapters are pure: build a request, parse a response,
//! decode a stream. All HTTP lives in `upstream`.

pub mod params;

use crate::dialects::anthropic::outbound as anthropic;
use crate::dialects::gemini::outbound as gemini;
use crate::dialects::openai_chat::outbound as openai;

use crate::config::ProviderKind;
pub use crate::dialects::target::{bad_body, StreamDecoder, Target, UpstreamRequest};
use crate::error::ApiError;
use crate::model::{ChatRequest, ChatResponse};

/// The header that carries a provider's credential in its kind's dialect.
pub fn auth_header(kind: ProviderKind, key: &str) -> (&'static str, String) {
    match kind {
        ProviderKind::OpenAi => crate::dialects::openai_chat::auth_header(key),
        ProviderKind::Anthropic => crate::dialects::anthropic::auth_header(key),
        ProviderKind::Gemini => crate::dialects::gemini::auth_header(key),
    }
}

/// The provider's model-list request (`GET`, no body) in its kind's dialect.
pub fn list_models_request(
    p: &crate::config::ProviderConfig,
    key: Option<&str>,
) -> UpstreamRequest {
    use crate::dialects::{anthropic, gemini, openai_chat};
    let mut headers: Vec<_> = key.map(|k| auth_header(p.kind, k)).into_iter().collect();
    let url = match p.kind {
        ProviderKind::OpenAi => openai_chat::models_url(&p.base_url),
        ProviderKind::Anthropic => {
            headers.push(("anthropic-version", anthropic::API_VERSION.to_string()));
            anthropic::models_url(&p.base_url)
        }
        ProviderKind::Gemini => gemini::models_url(&p.base_url),
    };
    UpstreamRequest {
        url,
        headers,
        body: Default::default(),
    }
}

/// Builds the upstream request for a hub chat request.
pub fn build_chat(req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, ApiError> {
    match target.provider.kind {
        ProviderKind::OpenAi => openai::build(req, target),
        ProviderKind::Anthropic => anthropic::build(req, target),
        ProviderKind::Gemini => gemini::build(req, target),
    }
}

/// Token counting on a provider: the request to its kind's count endpoint for a hub request,
/// or `None` when the kind has none (openai: [`estimate_count`] counts locally).
pub fn build_count(
    req: &ChatRequest,
    target: &Target,
) -> Result<Option<UpstreamRequest>, ApiError> {
    let mut req = req.clone();
    req.model = target.model.to_string();
    req.stream = false;
    match target.provider.kind {
        ProviderKind::OpenAi => Ok(None),
        ProviderKind::Anthropic => {
            crate::dialects::anthropic::count::count_tokens_request(&req, target).map(Some)
        }
        ProviderKind::Gemini => gemini::count_tokens_request(&req, target).map(Some),
    }
}

/// The token count in a 2xx answer of [`build_count`]'s request.
pub fn parse_count(kind: ProviderKind, provider: &str, body: &[u8]) -> Result<u64, ApiError> {
    match kind {
        ProviderKind::Anthropic => {
            crate::dialects::anthropic::count::parse_count_tokens(provider, body)
        }
        ProviderKind::Gemini => gemini::parse_count_tokens(provider, body),
        ProviderKind::OpenAi => Err(ApiError::internal(
            "openai-kind providers have no count endpoint",
        )),
    }
}

/// A local count for kinds without a count endpoint (OpenAI's tokenizers).
pub fn estimate_count(req: &ChatRequest, model: &str) -> Result<u64, ApiError> {
    crate::dialects::openai_chat::estimate::estimate_openai_tokens(req, model)
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
