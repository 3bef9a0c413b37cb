//! The `Authed` extractor: every inbound endpoint's first step. It authenticates the caller
//! (key from `Authorization`, `x-api-key`, `x-goog-api-key` or `?key=`), applies the rate
//! limit and the pause switch, and yields the request's [`Ctx`]; a refusal is rendered in the
//! endpoint's dialect (the type parameter), with the `X-RateLimit-*` headers.
//!
//! It moves the request headers into the `Ctx` (no copy on the hot path), so handlers read
//! headers from `ctx.headers`, and the body extractor comes last.

use super::authed;
use super::respond::Surface;
use crate::app::App;
use crate::ctx::Ctx;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use std::marker::PhantomData;
use std::sync::Arc;

/// Which dialect an endpoint renders its refusals in.
pub trait Speaks: Send + Sync {
    fn surface(parts: &Parts) -> Surface;
}

/// OpenAI / OpenRouter endpoints.
pub struct OpenAiApi;
/// Anthropic Messages endpoints.
pub struct AnthropicApi;
/// Gemini endpoints.
pub struct GeminiApi;
/// `GET /v1/models…`: Anthropic's shape when the client sends `anthropic-version` (the
/// Anthropic SDKs always do), Gemini's when it authenticates with `x-goog-api-key`
/// (google-genai), else OpenRouter's.
pub struct ModelsApi;

impl Speaks for OpenAiApi {
    fn surface(_: &Parts) -> Surface {
        Surface::OpenAi
    }
}

impl Speaks for AnthropicApi {
    fn surface(_: &Parts) -> Surface {
        Surface::Anthropic
    }
}

impl Speaks for GeminiApi {
    fn surface(_: &Parts) -> Surface {
        Surface::Gemini
    }
}

impl Speaks for ModelsApi {
    fn surface(parts: &Parts) -> Surface {
        if parts.headers.contains_key("anthropic-version") {
            Surface::Anthropic
        } else if parts.headers.contains_key("x-goog-api-key") {
            Surface::Gemini
        } else {
            Surface::OpenAi
        }
    }
}

/// An authenticated inbound request.
pub struct Authed<S: Speaks> {
    pub ctx: Ctx,
    /// The dialect the request is answered in.
    pub surface: Surface,
    speaks: PhantomData<S>,
}

impl<S: Speaks> FromRequestParts<Arc<App>> for Authed<S> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let surface = S::surface(parts);
        let headers = std::mem::take(&mut parts.headers);
        let ctx = authed(app, headers, parts.uri.query(), surface, false).await?;
        Ok(Authed {
            ctx,
            surface,
            speaks: PhantomData,
        })
    }
}
