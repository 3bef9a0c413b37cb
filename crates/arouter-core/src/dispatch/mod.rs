//! The request path shared by every surface: try each candidate in order (falling back on
//! retryable failures, never after the first frame reached the client), relay same-dialect
//! upstreams with surgical edits, translate others through the hub, and record every attempt.
//! A surface plugs in through [`Codec`].

pub mod attempts;
pub mod candidates;
pub mod count;
mod stream;

use crate::budget;
use crate::catalog::{self, pusd_to_usd, Pricing};
use crate::config::{ProviderConfig, ProviderKind};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::http::respond::{json_bytes_response, sse_response, ErrorFrame, Out, Surface};
use crate::model::{ChatRequest, ChatResponse, StreamEvent, Usage};
use crate::providers::{self, Target, UpstreamRequest};
use crate::record::{now_ms, Recorder};
use crate::routing::Candidate;
use crate::sse::SseEvent;
use crate::store::StoredJson;
use crate::upstream;
pub use attempts::all_failed;
use attempts::Attempts;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Who a response is from, for rendering.
#[derive(Debug, Clone)]
pub struct Ids {
    /// Our generation id.
    pub id: String,
    /// What the client asked for.
    pub requested: String,
    /// The ARouter id that serves it (`provider/model`).
    pub model: String,
    pub provider: String,
    pub created: i64,
    pub include_reasoning: bool,
    /// The dialect whose signatures (thinking, reasoning) the response carries.
    pub signer: crate::model::Dialect,
}

/// What the ledger needs from a response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub usage: Usage,
    pub finish: Option<String>,
    pub native_finish: Option<String>,
}

/// A surface's pluggable parts.
pub trait Codec: Send + Sync + 'static {
    fn surface(&self) -> Surface;
    /// The provider kind speaking this surface's own dialect: relayed, not translated.
    fn native_kind(&self) -> ProviderKind;
    /// Whether a provider is relayed rather than translated. `responses`: the provider (an
    /// openai kind) is called on OpenAI's Responses API for this model.
    fn is_native(&self, provider: &ProviderConfig, responses: bool) -> bool {
        provider.kind == self.native_kind() && !responses
    }
    /// The hub form of the request; `None` when the endpoint has none (embeddings…).
    fn hub(&self) -> Option<&ChatRequest>;
    /// Why a provider that is not native cannot serve the request (when `hub` is `None`).
    fn no_hub(&self, provider: &ProviderConfig) -> ApiError {
        ApiError::bad_request(format!(
            "this endpoint is only available from {}-kind providers; \"{}\" is a {} provider",
            self.native_kind().as_str(),
            provider.id,
            provider.kind.as_str()
        ))
    }
    /// Whether reasoning text is returned (false when the caller asked `reasoning.exclude`).
    fn include_reasoning(&self) -> bool {
        !self
            .hub()
            .and_then(|h| h.reasoning.as_ref())
            .is_some_and(|r| r.exclude)
    }
    /// What the ledger keeps of a finished stream (its events, by default).
    fn stored(&self, transcript: Vec<Value>) -> StoredJson {
        Value::Array(transcript).into()
    }
    /// The upstream request for a same-dialect provider.
    fn native_request(
        &self,
        provider: &ProviderConfig,
        model: &str,
        key: Option<&str>,
        stream: bool,
    ) -> Result<UpstreamRequest, ApiError>;
    /// A same-dialect response body, edited for the client (serialized), and its accounting.
    fn native_response(
        &self,
        body: &Bytes,
        ids: &Ids,
        pricing: &Pricing,
    ) -> Result<(Bytes, Outcome), ApiError>;
    fn native_stream(&self, ids: &Ids) -> Box<dyn NativeStream>;
    /// Renders a translated (hub) response, serialized.
    fn render(&self, resp: &ChatResponse, ids: &Ids, cost_usd: f64) -> Bytes;
    fn encoder(&self, ids: &Ids) -> Box<dyn HubEncoder>;
    /// One SSE frame for a stream value.
    fn frame(&self, v: &Value) -> Bytes;
    /// The bytes that end a successful stream (`data: [DONE]`), if the dialect has them.
    fn done_frame(&self) -> Option<Bytes> {
        None
    }
    /// The in-stream error form.
    fn error_frame(&self, ids: &Ids) -> ErrorFrame;
    /// The request's output cap and prompt size in bytes, for a limited key's worst-case cost.
    fn budget_hint(&self) -> (Option<u64>, usize) {
        self.hub().map_or((None, 0), |h| {
            (h.max_tokens.map(u64::from), budget::hub_prompt_bytes(h))
        })
    }
}

/// Relays a same-dialect stream: edits each upstream event and keeps the accounting.
pub trait NativeStream: Send {
    fn event(
        &mut self,
        ev: &SseEvent,
        pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError>;
    /// The upstream closed; `Err` if it ended before the dialect's end marker.
    fn end(&mut self, out: &mut Vec<Value>) -> Result<(), ApiError>;
    fn outcome(&self) -> Outcome;
}

/// Encodes hub stream events in a surface's dialect.
pub trait HubEncoder: Send {
    fn event(&mut self, ev: &StreamEvent, out: &mut Vec<Value>);
    /// Final values of a successful stream (usage, stop markers).
    fn finish(&mut self, cost_usd: f64, out: &mut Vec<Value>);
}

/// One request on its way through the candidates.
pub struct Job {
    pub ctx: Ctx,
    pub codec: Arc<dyn Codec>,
    pub candidates: Vec<Candidate>,
    pub id: String,
    pub requested: String,
    pub stream: bool,
}

enum Mode {
    Native,
    /// Translated; `responses`: the upstream is an OpenAI Responses API.
    Hub {
        kind: ProviderKind,
        responses: bool,
    },
}

struct Prepared<'a> {
    provider: &'a ProviderConfig,
    pricing: Pricing,
    mode: Mode,
    request: UpstreamRequest,
}

impl Job {
    pub fn new(
        ctx: &Ctx,
        codec: impl Codec,
        candidates: Vec<Candidate>,
        id: String,
        requested: String,
        stream: bool,
    ) -> Job {
        Job {
            ctx: ctx.clone(),
            codec: Arc::new(codec),
            candidates,
            id,
            requested,
            stream,
        }
    }

    pub async fn run(self, rec: Recorder) -> Response {
        let codec = self.codec.clone();
        let resp = if self.stream {
            self.stream(rec).await
        } else {
            let id = self.id.clone();
            match self.unary(rec).await {
                Ok(r) => with_generation_id(r, &id),
                Err(e) => codec.surface().error(&e),
            }
        };
        resp
    }

    fn ids(&self, cand: &Candidate, mode: &Mode) -> Ids {
        let signer = match *mode {
            Mode::Native => self.codec.surface().dialect(),
            Mode::Hub { kind, responses } => crate::model::Dialect::of_upstream(kind, responses),
        };
        Ids {
            signer,
            id: self.id.clone(),
            requested: self.requested.clone(),
            model: cand.id(),
            provider: cand.provider.clone(),
            created: now_ms() / 1000,
            include_reasoning: self.codec.include_reasoning(),
        }
    }

    async fn prepare(&self, cand: &Candidate) -> Result<Prepared<'_>, ApiError> {
        let cfg = &self.ctx.cfg;
        let provider = crate::app::App::provider(cfg, &cand.provider)?;
        let pricing = catalog::pricing(cfg, provider, &cand.model);
        crate::budget::refuse_unpriced(&self.ctx.caller.key, &pricing, &provider.id, &cand.model)?;
        let key = self.ctx.app.credential(provider).await?;
        let responses = cfg.speaks_responses(provider, &cand.model);
        if self.codec.is_native(provider, responses) {
            let request =
                self.codec
                    .native_request(provider, &cand.model, key.as_deref(), self.stream)?;
            return Ok(Prepared {
                provider,
                pricing,
                mode: Mode::Native,
                request,
            });
        }
        let Some(hub) = self.codec.hub() else {
            return Err(self.codec.no_hub(provider));
        };
        let mut req = hub.clone();
        req.model = cand.model.clone();
        req.stream = self.stream;
        fit_to_model(&mut req, &pricing);
        let target = Target {
            provider,
            model: &cand.model,
            api_key: key.as_deref(),
            default_max_tokens: pricing
                .max_output
                .filter(|&m| m > 0)
                .unwrap_or(4096)
                .min(32_000),
        };
        let request = if responses {
            crate::dialects::openai_responses::upstream::build(&req, &target)?
        } else {
            providers::build_chat(&req, &target)?
        };
        Ok(Prepared {
            provider,
            pricing,
            mode: Mode::Hub {
                kind: provider.kind,
                responses,
            },
            request,
        })
    }

    /// Reserves the attempt's worst-case cost against a limited key's budget (402 if it does
    /// not fit). Releases the previous attempt's reservation first.
    async fn reserve(&self, p: &Prepared<'_>, rec: &mut Recorder) -> Result<(), ApiError> {
        rec.hold(None);
        let key = &self.ctx.caller.key;
        if key.limit_pusd.is_none() {
            return Ok(());
        }
        let (max_tokens, prompt_bytes) = self.codec.budget_hint();
        let amount = budget::max_cost_pusd(&p.pricing, max_tokens, prompt_bytes);
        let hold = self
            .ctx
            .app
            .budgets
            .reserve(&self.ctx.app.store, key, amount)
            .await?;
        rec.hold(hold);
        Ok(())
    }

    async fn unary(self, mut rec: Recorder) -> Result<Response, ApiError> {
        let mut attempts = Attempts::new(&self.candidates);
        while let Some(cand) = attempts.current() {
            match self.unary_attempt(cand, &mut rec).await {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    if !attempts.failed(e, Some(&mut rec)).await {
                        break;
                    }
                }
            }
        }
        let e = attempts.error();
        rec.done(e.status, Some(&e), None);
        Err(e)
    }

    async fn unary_attempt(
        &self,
        cand: &Candidate,
        rec: &mut Recorder,
    ) -> Result<Response, ApiError> {
        let p = self.prepare(cand).await?;
        rec.attempt(&cand.provider, &cand.id(), &p.pricing);
        self.reserve(&p, rec).await?;
        let resp = attempts::send(&self.ctx, p.provider, &p.request).await?;
        let bytes = upstream::read_body(resp, p.provider).await?;
        rec.first_token();
        let ids = self.ids(cand, &p.mode);
        let (body, outcome) = match p.mode {
            Mode::Native => self.codec.native_response(&bytes, &ids, &p.pricing)?,
            Mode::Hub { kind, responses } => {
                let parsed = if responses {
                    crate::dialects::openai_responses::response::to_hub(&cand.provider, &bytes)?
                } else {
                    providers::parse_chat(kind, &cand.provider, &bytes)?
                };
                let cost = p.pricing.prices.cost_pusd(&parsed.usage);
                let body = self.codec.render(&parsed, &ids, pusd_to_usd(cost));
                let outcome = Outcome {
                    usage: parsed.usage,
                    finish: Some(parsed.stop_reason.as_str().to_string()),
                    native_finish: parsed.native_stop_reason.clone(),
                };
                (body, outcome)
            }
        };
        rec.usage(outcome.usage, &p.pricing);
        rec.finish_reason(outcome.finish, outcome.native_finish);
        rec.done(200, None, Some(StoredJson(body.clone())));
        Ok(json_bytes_response(body))
    }

    async fn stream(self, rec: Recorder) -> Response {
        let (tx, rx) = mpsc::channel::<Out>(64);
        let keepalive = Duration::from_secs(self.ctx.cfg.server.keepalive_secs);
        let pre_ids = Ids {
            id: self.id.clone(),
            requested: self.requested.clone(),
            model: self.requested.clone(),
            provider: String::new(),
            created: now_ms() / 1000,
            include_reasoning: true,
            signer: self.codec.surface().dialect(),
        };
        let error_frame = self.codec.error_frame(&pre_ids);
        let surface = self.codec.surface();
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&self.id) {
            headers.insert("x-generation-id", v);
        }
        let driver = Box::pin(async move { self.drive(rec, tx).await });
        sse_response(surface, driver, rx, keepalive, error_frame, headers).await
    }
}

/// Keeps a translated request within what the catalog says the model accepts: the output cap
/// at the model's maximum, and no reasoning settings for models that cannot reason (vendors
/// reject both). Unknown models are left as asked.
fn fit_to_model(req: &mut ChatRequest, pricing: &Pricing) {
    let Some(info) = &pricing.info else {
        return;
    };
    if info.max_output > 0 {
        if let Some(m) = req.max_tokens.as_mut() {
            *m = (*m).min(info.max_output);
        }
    }
    if !info.has("reasoning") {
        req.reasoning = None;
    }
}

pub fn with_generation_id(mut resp: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-generation-id", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translated_requests_fit_the_model() {
        let cfg = crate::config::Config::parse(
            "[providers.openai]\nkind=\"openai\"\nbase_url=\"https://api.openai.com/v1\"\n",
        )
        .unwrap();
        let p = &cfg.providers["openai"];
        let mut req = ChatRequest {
            max_tokens: Some(32_000),
            reasoning: Some(crate::model::Reasoning {
                effort: Some(crate::model::Effort::High),
                ..Default::default()
            }),
            ..Default::default()
        };
        fit_to_model(&mut req, &catalog::pricing(&cfg, p, "gpt-4o-mini"));
        assert_eq!(req.max_tokens, Some(16_384));
        assert!(req.reasoning.is_none());
        let mut req = ChatRequest {
            max_tokens: Some(32_000),
            reasoning: Some(crate::model::Reasoning::default()),
            ..Default::default()
        };
        fit_to_model(&mut req, &catalog::pricing(&cfg, p, "o4-mini"));
        assert_eq!(req.max_tokens, Some(32_000));
        assert!(req.reasoning.is_some());
    }
}
