//! The request path shared by every surface: try each candidate in order (falling back on
//! retryable failures, never after the first frame reached the client), relay same-dialect
//! upstreams with surgical edits, translate others through the hub, and record every attempt.
//! A surface plugs in through [`Codec`].

use super::respond::{json_bytes_response, sse_response, ErrorFrame, Out, Surface};
use super::Ctx;
use crate::budget;
use crate::catalog::{self, pusd_to_usd, Pricing};
use crate::config::{ProviderConfig, ProviderKind};
use crate::error::{ApiError, ErrorKind};
use crate::model::{ChatRequest, ChatResponse, StreamEvent, Usage};
use crate::providers::{self, Target, UpstreamRequest};
use crate::record::{now_ms, Recorder};
use crate::routing::Candidate;
use crate::sse::{SseDecoder, SseEvent};
use crate::store::StoredJson;
use crate::upstream;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{json, Value};
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

    fn ids(&self, cand: &Candidate) -> Ids {
        Ids {
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
        let key = self.ctx.app.credential(provider).await?;
        let pricing = catalog::pricing(cfg, provider, &cand.model);
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

    /// Sends, and on 401/403 forgets a cached keychain credential (it may have changed).
    async fn send(&self, p: &Prepared<'_>) -> Result<upstream::Response, ApiError> {
        let r = upstream::send(self.ctx.app.http(), p.provider, &p.request).await;
        let health = &self.ctx.app.health;
        match &r {
            Ok(_) => health.record_success(&p.provider.id),
            Err(e) => {
                if e.status == 401 || e.status == 403 {
                    self.ctx.app.forget_credential(&p.provider.id);
                }
                if e.is_retryable() {
                    health.record_failure(&p.provider.id, &e.message);
                }
            }
        }
        r
    }

    async fn unary(self, mut rec: Recorder) -> Result<Response, ApiError> {
        let mut errors = Vec::new();
        let (mut i, mut retries) = (0, 0);
        while let Some(cand) = self.candidates.get(i) {
            let e = match self.unary_attempt(cand, &mut rec).await {
                Ok(resp) => return Ok(resp),
                Err(e) => e,
            };
            let next = after_failure(&e, retries, i + 1 < self.candidates.len());
            if !matches!(next, Next::Stop) {
                tracing::warn!(provider = %cand.provider, "attempt failed ({next:?}): {}", e.message);
                rec.failed_attempt(&e);
            }
            errors.push((cand.id(), e));
            match next {
                Next::Retry(wait) => {
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Next::Fallback => (i, retries) = (i + 1, 0),
                Next::Stop => break,
            }
        }
        let e = all_failed(errors);
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
        let resp = self.send(&p).await?;
        let bytes = upstream::read_body(resp, p.provider).await?;
        rec.first_token();
        let ids = self.ids(cand);
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

    /// Runs the attempts of a streaming request, sending frames to `tx`.
    async fn drive(self, mut rec: Recorder, tx: mpsc::Sender<Out>) {
        let mut errors = Vec::new();
        let (mut i, mut retries) = (0, 0);
        while let Some(cand) = self.candidates.get(i) {
            let started = async {
                let p = self.prepare(cand).await?;
                rec.attempt(&cand.provider, &cand.id(), &p.pricing);
                self.reserve(&p, &mut rec).await?;
                let resp = self.send(&p).await?;
                Ok::<_, ApiError>((resp, p))
            }
            .await;
            let e = match started {
                Ok((resp, p)) => {
                    self.pump(cand, resp, p, rec, tx).await;
                    return;
                }
                Err(e) => e,
            };
            let next = after_failure(&e, retries, i + 1 < self.candidates.len());
            if !matches!(next, Next::Stop) {
                tracing::warn!(provider = %cand.provider, "attempt failed ({next:?}): {}", e.message);
                rec.failed_attempt(&e);
            }
            errors.push((cand.id(), e));
            match next {
                Next::Retry(wait) => {
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Next::Fallback => (i, retries) = (i + 1, 0),
                Next::Stop => break,
            }
        }
        let e = all_failed(errors);
        rec.done(e.status, Some(&e), None);
        let _ = tx.send(Out::Fail(e)).await;
    }

    /// Relays one upstream stream to the client. Client gone → stop (dropping the upstream
    /// response cancels it) and the recorder keeps the usage seen so far.
    async fn pump(
        &self,
        cand: &Candidate,
        resp: upstream::Response,
        p: Prepared<'_>,
        mut rec: Recorder,
        tx: mpsc::Sender<Out>,
    ) {
        let idle = Duration::from_secs(p.provider.idle_timeout_secs);
        let ids = self.ids(cand);
        let mut relay = match p.mode {
            Mode::Native => Relay::Native(self.codec.native_stream(&ids)),
            Mode::Hub { kind, responses } => Relay::Hub {
                decoder: if responses {
                    Box::new(crate::dialects::openai_responses::Decoder::new(
                        &cand.provider,
                    ))
                } else {
                    providers::stream_decoder(kind, &cand.provider)
                },
                encoder: self.codec.encoder(&ids),
                outcome: Outcome::default(),
            },
        };
        let store = rec.stores_content();
        let mut transcript: Vec<Value> = Vec::new();
        let mut sse = SseDecoder::new();
        let mut events: Vec<SseEvent> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut body = resp.into_body();
        let outcome: Result<(), ApiError> = loop {
            let chunk = match tokio::time::timeout(idle, upstream::next_chunk(&mut body)).await {
                Err(_) => {
                    break Err(ApiError::new(
                        ErrorKind::Timeout,
                        format!("{}: stream stalled for {}s", cand.provider, idle.as_secs()),
                    ))
                }
                Ok(Some(Err(e))) => break Err(upstream::transport_error(p.provider, &e)),
                Ok(Some(Ok(c))) => Some(c),
                Ok(None) => None,
            };
            match &chunk {
                Some(c) => sse.push(c, &mut events),
                None => sse.finish(&mut events),
            }
            let mut failed = None;
            for ev in events.drain(..) {
                if let Err(e) = relay.event(&ev, &p.pricing, &mut values) {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_none() && chunk.is_none() {
                failed = relay.end(&mut values).err();
            }
            if !values.is_empty() {
                rec.first_token();
            }
            rec.usage(relay.outcome().usage, &p.pricing);
            for v in values.drain(..) {
                let frame = self.codec.frame(&v);
                if store {
                    transcript.push(v);
                }
                if tx.send(Out::Frame(frame)).await.is_err() {
                    return; // client gone: `rec` drops and records what it has
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            if chunk.is_none() {
                break Ok(());
            }
        };
        let result = relay.outcome();
        rec.usage(result.usage, &p.pricing);
        rec.finish_reason(result.finish.clone(), result.native_finish.clone());
        match outcome {
            Ok(()) => {
                if let Relay::Hub { encoder, .. } = &mut relay {
                    let cost = p.pricing.prices.cost_pusd(&result.usage);
                    encoder.finish(pusd_to_usd(cost), &mut values);
                }
                let mut frames: Vec<Bytes> = values.iter().map(|v| self.codec.frame(v)).collect();
                frames.extend(self.codec.done_frame());
                if store {
                    transcript.append(&mut values);
                }
                // Record before the last bytes go out: once the client has the whole body a
                // graceful shutdown may stop this task.
                rec.done(200, None, store.then(|| self.codec.stored(transcript)));
                for frame in frames {
                    if tx.send(Out::Frame(frame)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                rec.finish_reason(Some("error".into()), result.native_finish);
                rec.done(
                    e.status,
                    Some(&e),
                    store.then(|| self.codec.stored(transcript)),
                );
                let _ = tx.send(Out::Fail(e)).await;
            }
        }
    }
}

enum Relay {
    Native(Box<dyn NativeStream>),
    Hub {
        decoder: Box<dyn providers::StreamDecoder>,
        encoder: Box<dyn HubEncoder>,
        outcome: Outcome,
    },
}

impl Relay {
    fn event(
        &mut self,
        ev: &SseEvent,
        pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError> {
        match self {
            Relay::Native(n) => n.event(ev, pricing, out),
            Relay::Hub {
                decoder,
                encoder,
                outcome,
            } => {
                let mut hub = Vec::new();
                let r = decoder.event(ev, &mut hub);
                encode_all(&hub, encoder.as_mut(), outcome, out);
                r
            }
        }
    }

    fn end(&mut self, out: &mut Vec<Value>) -> Result<(), ApiError> {
        match self {
            Relay::Native(n) => n.end(out),
            Relay::Hub {
                decoder,
                encoder,
                outcome,
            } => {
                let mut hub = Vec::new();
                let r = decoder.finish(&mut hub);
                encode_all(&hub, encoder.as_mut(), outcome, out);
                r
            }
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            Relay::Native(n) => n.outcome(),
            Relay::Hub { outcome, .. } => outcome.clone(),
        }
    }
}

fn encode_all(
    hub: &[StreamEvent],
    encoder: &mut dyn HubEncoder,
    outcome: &mut Outcome,
    out: &mut Vec<Value>,
) {
    for e in hub {
        match e {
            StreamEvent::Usage(u) => outcome.usage = *u,
            StreamEvent::Finish { reason, native, .. } => {
                outcome.finish = Some(reason.as_str().to_string());
                outcome.native_finish = native.clone();
            }
            _ => {}
        }
        encoder.event(e, out);
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

/// Retries on the same provider before giving up on the last candidate.
const MAX_SAME_PROVIDER_RETRIES: u32 = 2;
/// A `Retry-After` longer than this is passed to the client instead of waited out.
const MAX_RETRY_AFTER_SECS: u64 = 5;

/// What to do after a failed attempt.
#[derive(Debug)]
enum Next {
    /// Try the same candidate again after a pause.
    Retry(Duration),
    /// Move to the next candidate.
    Fallback,
    Stop,
}

/// Client errors stop; retryable failures fall back while candidates remain. On the last
/// candidate, overload answers (429/503/529) are retried with jittered exponential backoff,
/// honouring a short `Retry-After`.
fn after_failure(e: &ApiError, retries: u32, more_candidates: bool) -> Next {
    if !e.is_retryable() {
        return Next::Stop;
    }
    if more_candidates {
        return Next::Fallback;
    }
    if retries >= MAX_SAME_PROVIDER_RETRIES || !matches!(e.status, 429 | 503 | 529) {
        return Next::Stop;
    }
    match e.retry_after {
        Some(secs) if secs > MAX_RETRY_AFTER_SECS => Next::Stop,
        Some(secs) => Next::Retry(Duration::from_secs(secs)),
        None => {
            let base = 250u64 << retries;
            Next::Retry(Duration::from_millis(base + rand::random::<u64>() % base))
        }
    }
}

/// One error listing every attempt; status of the last failure.
pub fn all_failed(mut errors: Vec<(String, ApiError)>) -> ApiError {
    if errors.len() <= 1 {
        return errors.pop().map(|(_, e)| e).unwrap_or_else(|| {
            ApiError::new(
                ErrorKind::Unavailable,
                "no provider could serve this request",
            )
        });
    }
    let Some((_, last)) = errors.last() else {
        return ApiError::new(
            ErrorKind::Unavailable,
            "no provider could serve this request",
        );
    };
    let mut e = last.clone();
    let attempts: Vec<Value> = errors
        .iter()
        .map(|(model, e)| json!({"model": model, "status": e.status, "message": e.message}))
        .collect();
    let summary = errors
        .iter()
        .map(|(model, e)| format!("{model}: {} ({})", e.message, e.status))
        .collect::<Vec<_>>()
        .join("; ");
    e.message = format!("All {} attempts failed: {summary}", errors.len());
    let mut meta = e.metadata.take().unwrap_or_else(|| json!({}));
    meta["attempts"] = Value::Array(attempts);
    e.metadata = Some(meta);
    e
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

    fn err(status: u16, retry_after: Option<u64>) -> ApiError {
        let mut e = crate::error::upstream_error("p", status, "x".into(), b"");
        e.retry_after = retry_after;
        e
    }

    #[test]
    fn failures_fall_back_then_retry_overload_on_the_last_candidate() {
        assert!(matches!(
            after_failure(&err(400, None), 0, true),
            Next::Stop
        ));
        assert!(matches!(
            after_failure(&err(500, None), 0, true),
            Next::Fallback
        ));
        assert!(matches!(
            after_failure(&err(500, None), 0, false),
            Next::Stop
        ));
        match after_failure(&err(429, Some(2)), 0, false) {
            Next::Retry(d) => assert_eq!(d, Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            after_failure(&err(429, Some(60)), 0, false),
            Next::Stop
        ));
        match after_failure(&err(529, None), 1, false) {
            Next::Retry(d) => {
                assert!(d >= Duration::from_millis(500) && d < Duration::from_millis(1000))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            after_failure(&err(503, None), MAX_SAME_PROVIDER_RETRIES, false),
            Next::Stop
        ));
    }
}
