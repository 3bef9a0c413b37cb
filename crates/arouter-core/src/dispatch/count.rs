//! Token counting (`/v1/messages/count_tokens`, `:countTokens`) as a pipeline operation like
//! any other: the same candidates, attempt policy, health recording and credential refresh as
//! generation. A same-dialect provider gets the client's own body (lossless, betas included);
//! other kinds count the hub form on their own endpoint, or locally when they have none. Counts
//! are free, so there is no budget reservation and no ledger row.

use super::attempts::{self, Attempts};
use crate::app::App;
use crate::config::{ProviderConfig, ProviderKind};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::model::ChatRequest;
use crate::providers::{self, Target, UpstreamRequest};
use crate::routing::Candidate;
use crate::upstream;
use bytes::Bytes;

/// A count, as the client's dialect will render it.
pub enum Counted {
    /// A number of input tokens.
    Total(u64),
    /// A same-dialect provider's own answer body, relayed unchanged.
    Native(Bytes),
}

/// What a surface brings to a count.
pub struct CountJob<'a, F>
where
    F: Fn(&ProviderConfig, &str, Option<&str>) -> UpstreamRequest,
{
    pub ctx: &'a Ctx,
    pub candidates: &'a [Candidate],
    /// The request's hub form (its error is reported only if a candidate needs it).
    pub hub: Result<ChatRequest, ApiError>,
    /// The kind that speaks the surface's dialect, and its request (provider, upstream
    /// model, credential).
    pub native_kind: ProviderKind,
    pub native_request: F,
}

impl<F> CountJob<'_, F>
where
    F: Fn(&ProviderConfig, &str, Option<&str>) -> UpstreamRequest,
{
    pub async fn run(self) -> Result<Counted, ApiError> {
        let mut attempts = Attempts::new(self.candidates);
        while let Some(cand) = attempts.current() {
            match self.attempt(cand).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    if !attempts.failed(e, None).await {
                        break;
                    }
                }
            }
        }
        Err(attempts.error())
    }

    async fn attempt(&self, cand: &Candidate) -> Result<Counted, ApiError> {
        let provider = App::provider(&self.ctx.cfg, &cand.provider)?;
        let native = provider.kind == self.native_kind;
        let hub = || self.hub.as_ref().map_err(Clone::clone);
        if !native && provider.kind == ProviderKind::OpenAi {
            return providers::estimate_count(hub()?, &cand.model).map(Counted::Total);
        }
        let key = self.ctx.app.credential(provider).await?;
        let request = if native {
            (self.native_request)(provider, &cand.model, key.as_deref())
        } else {
            let target = Target {
                provider,
                model: &cand.model,
                api_key: key.as_deref(),
                default_max_tokens: 4096,
            };
            providers::build_count(hub()?, &target)?.ok_or_else(|| {
                ApiError::internal(format!("{} has no count endpoint", provider.id))
            })?
        };
        let resp = attempts::send(self.ctx, provider, &request).await?;
        let bytes = upstream::read_body(resp, provider).await?;
        if native {
            let ok =
                serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.is_object());
            if !ok {
                return Err(providers::bad_body(
                    &provider.id,
                    "not a JSON object",
                    &bytes,
                ));
            }
            return Ok(Counted::Native(bytes));
        }
        providers::parse_count(provider.kind, &provider.id, &bytes).map(Counted::Total)
    }
}
