//! The OpenAI-compatible surface: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`.
//! Same dialect upstream (openai kind) is relayed with surgical edits (lossless); other kinds go
//! through the hub.

use super::respond::{read_json, sse_data, sse_response, ErrorFrame, Out, Surface};
use super::Ctx;
use crate::catalog::{self, pusd_to_usd, Pricing};
use crate::config::{Config, ProviderConfig, ProviderKind};
use crate::error::ApiError;
use crate::model::{ChatRequest, StreamEvent, Usage};
use crate::providers::{self, Target, UpstreamRequest};
use crate::record::{new_generation_id, Recorder};
use crate::routing::{self, Candidate};
use crate::sse::{SseDecoder, SseEvent};
use crate::surfaces::openai as wire;
use crate::upstream;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
    Embeddings,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
        }
    }
    fn chunk_object(self) -> &'static str {
        match self {
            Endpoint::Completions => "text_completion",
            _ => "chat.completion.chunk",
        }
    }
}

/// Fields only OpenRouter understands; they never reach an upstream.
const ROUTER_ONLY_FIELDS: &[&str] = &[
    "models",
    "route",
    "provider",
    "transforms",
    "plugins",
    "usage",
    "reasoning",
    "fallbacks",
    "debug",
    "preset",
];
/// Sampling fields the official OpenAI API rejects but OpenAI-compatible servers accept.
const NON_OPENAI_SAMPLING: &[&str] = &["top_k", "min_p", "top_a", "repetition_penalty"];

pub async fn handle(ctx: Ctx, endpoint: Endpoint, body: Body) -> Response {
    let surface = Surface::OpenAi;
    let limit = ctx.cfg.server.max_body_bytes;
    let body = match read_json(&ctx.headers, body, limit).await {
        Ok(b) => b,
        Err(e) => return ctx.finish(surface.error(&e)),
    };
    match run(&ctx, endpoint, body).await {
        Ok(r) => ctx.finish(r),
        Err(e) => ctx.finish(surface.error(&e)),
    }
}

async fn run(ctx: &Ctx, endpoint: Endpoint, body: Value) -> Result<Response, ApiError> {
    let hub = match endpoint {
        Endpoint::Chat => Some(wire::to_internal(&body)?),
        _ => {
            check_legacy(endpoint, &body)?;
            None
        }
    };
    let model = match body.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ApiError::bad_request("model: expected a string")),
    };
    let models: Vec<String> = match body.get("models") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| {
                m.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad_request("models: expected a list of model ids"))
            })
            .collect::<Result<_, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "models: expected a list of model ids",
            ))
        }
    };
    let names = routing::requested(&ctx.cfg, model, &models)?;
    let requested = names.join(",");
    let candidates = routing::resolve(&ctx.cfg, &names)?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let id = new_generation_id();
    let stored = ctx.cfg.server.store_content.then(|| body.clone());
    let rec = Recorder::new(
        ctx.app.clone(),
        &ctx.caller,
        "openai",
        endpoint.name(),
        id.clone(),
        requested.clone(),
        stored,
        stream,
    );
    let job = Job {
        ctx: ctx.clone(),
        endpoint,
        body,
        hub,
        candidates,
        id,
        requested,
        stream,
    };
    if stream {
        Ok(job.stream(rec).await)
    } else {
        job.unary(rec).await
    }
}

/// Legacy completions and embeddings need a prompt / input.
fn check_legacy(endpoint: Endpoint, body: &Value) -> Result<(), ApiError> {
    let field = if endpoint == Endpoint::Embeddings {
        "input"
    } else {
        "prompt"
    };
    match body.get(field) {
        Some(Value::String(_)) | Some(Value::Array(_)) => Ok(()),
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("{field}: required"))),
        Some(_) => Err(ApiError::bad_request(format!(
            "{field}: expected a string or an array"
        ))),
    }
}

struct Job {
    ctx: Ctx,
    endpoint: Endpoint,
    body: Value,
    hub: Option<ChatRequest>,
    candidates: Vec<Candidate>,
    id: String,
    requested: String,
    stream: bool,
}

/// How one attempt talks to its upstream.
enum Mode {
    Passthrough,
    Hub(ProviderKind),
}

struct Prepared<'a> {
    provider: &'a ProviderConfig,
    pricing: Pricing,
    mode: Mode,
    request: UpstreamRequest,
}

impl Job {
    fn cfg(&self) -> &Config {
        &self.ctx.cfg
    }

    async fn prepare<'a>(&'a self, cand: &Candidate) -> Result<Prepared<'a>, ApiError> {
        let cfg = self.cfg();
        let provider = crate::app::App::provider(cfg, &cand.provider)?;
        let key = self.ctx.app.credential(provider).await?;
        let pricing = catalog::pricing(cfg, provider, &cand.model);
        if provider.kind == ProviderKind::OpenAi {
            let body = passthrough_body(
                &self.body,
                &cand.model,
                self.stream,
                is_official_openai(provider),
            );
            let mut headers = vec![("content-type", "application/json".to_string())];
            if let Some(k) = &key {
                headers.push(("authorization", format!("Bearer {k}")));
            }
            return Ok(Prepared {
                provider,
                pricing,
                mode: Mode::Passthrough,
                request: UpstreamRequest {
                    url: format!("{}{}", provider.base_url, self.endpoint.path()),
                    headers,
                    body,
                },
            });
        }
        let Some(hub) = &self.hub else {
            return Err(ApiError::bad_request(format!(
                "{} is only available from openai-kind providers; \"{}\" is a {} provider",
                self.endpoint.path(),
                provider.id,
                provider.kind.as_str()
            )));
        };
        let mut req = hub.clone();
        req.model = cand.model.clone();
        req.stream = self.stream;
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
        let request = providers::build_chat(&req, &target)?;
        Ok(Prepared {
            provider,
            pricing,
            mode: Mode::Hub(provider.kind),
            request,
        })
    }

    fn exhausted(&self, errors: Vec<(String, ApiError)>) -> ApiError {
        all_failed(errors)
    }

    async fn unary(self, mut rec: Recorder) -> Result<Response, ApiError> {
        let mut errors = Vec::new();
        let n = self.candidates.len();
        for (i, cand) in self.candidates.iter().enumerate() {
            let result = self.unary_attempt(cand, &mut rec).await;
            match result {
                Ok(resp) => return Ok(resp),
                Err(e) if e.is_retryable() && i + 1 < n => {
                    tracing::warn!(provider = %cand.provider, "attempt failed, falling back: {}", e.message);
                    rec.failed_attempt(&e);
                    errors.push((cand.id(), e));
                }
                Err(e) => {
                    errors.push((cand.id(), e));
                    let e = self.exhausted(errors);
                    rec.done(e.status, Some(&e), None);
                    return Err(e);
                }
            }
        }
        let e = self.exhausted(errors);
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
        let resp = upstream::send(&self.ctx.app.http, p.provider, p.request).await;
        let resp = self.forget_bad_key(p.provider, resp)?;
        let bytes = upstream::read_body(resp, p.provider).await?;
        rec.first_token();
        let created = crate::record::now_ms() / 1000;
        let (value, usage, finish, native) = match p.mode {
            Mode::Passthrough => {
                let mut v: Value = serde_json::from_slice(&bytes)
                    .map_err(|_| providers::bad_body(&cand.provider, "not JSON", &bytes))?;
                if !v.is_object() {
                    return Err(providers::bad_body(
                        &cand.provider,
                        "not a JSON object",
                        &bytes,
                    ));
                }
                let usage = usage_from_openai(v.get("usage"));
                let finish = v
                    .pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let cost = p.pricing.prices.cost_pusd(&usage);
                rewrite(
                    &mut v,
                    &self.id,
                    &cand.id(),
                    &cand.provider,
                    Some(cost),
                    false,
                );
                if let Some(Value::Array(choices)) = v.get_mut("choices") {
                    for c in choices {
                        if let Some(fr) = c.get("finish_reason").cloned() {
                            if c.get("native_finish_reason").is_none() {
                                c["native_finish_reason"] = fr;
                            }
                        }
                    }
                }
                (v, usage, finish.clone(), finish)
            }
            Mode::Hub(kind) => {
                let parsed = providers::parse_chat(kind, &cand.provider, &bytes)?;
                let cost = p.pricing.prices.cost_pusd(&parsed.usage);
                let include_reasoning = !self
                    .hub
                    .as_ref()
                    .and_then(|h| h.reasoning.as_ref())
                    .is_some_and(|r| r.exclude);
                let v = wire::from_internal(
                    &parsed,
                    &wire::ResponseIds {
                        id: &self.id,
                        model: &cand.id(),
                        provider: &cand.provider,
                        created,
                        cost_usd: Some(pusd_to_usd(cost)),
                        include_reasoning,
                    },
                );
                (
                    v,
                    parsed.usage,
                    Some(parsed.stop_reason.as_str().to_string()),
                    parsed.native_stop_reason.clone(),
                )
            }
        };
        rec.usage(usage, &p.pricing);
        rec.finish_reason(finish, native);
        let stored = self.ctx.cfg.server.store_content.then(|| value.clone());
        let resp = super::respond::json_response(&value);
        rec.done(200, None, stored);
        Ok(with_generation_id(resp, &self.id))
    }

    /// A 401 from the upstream may mean the keychain entry changed: re-read it next time.
    fn forget_bad_key(
        &self,
        provider: &ProviderConfig,
        r: Result<reqwest::Response, ApiError>,
    ) -> Result<reqwest::Response, ApiError> {
        if let Err(e) = &r {
            if e.status == 401 || e.status == 403 {
                self.ctx.app.forget_credential(&provider.id);
            }
        }
        r
    }

    async fn stream(self, rec: Recorder) -> Response {
        let (tx, rx) = mpsc::channel::<Out>(64);
        let keepalive = Duration::from_secs(self.cfg().server.keepalive_secs);
        let error_frame = openai_error_frame(&self.id, &self.requested, self.endpoint);
        let id = self.id.clone();
        tokio::spawn(async move { self.drive(rec, tx).await });
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&id) {
            headers.insert("x-generation-id", v);
        }
        sse_response(Surface::OpenAi, rx, keepalive, error_frame, headers).await
    }

    /// Runs the attempts of a streaming request, sending frames to `tx`.
    async fn drive(self, mut rec: Recorder, tx: mpsc::Sender<Out>) {
        let mut errors = Vec::new();
        let n = self.candidates.len();
        for (i, cand) in self.candidates.iter().enumerate() {
            let started = async {
                let p = self.prepare(cand).await?;
                rec.attempt(&cand.provider, &cand.id(), &p.pricing);
                let resp = upstream::send(&self.ctx.app.http, p.provider, p.request).await;
                let resp = self.forget_bad_key(p.provider, resp)?;
                Ok::<_, ApiError>((resp, p.pricing, p.mode, p.provider))
            }
            .await;
            match started {
                Ok((resp, pricing, mode, provider)) => {
                    self.pump(cand, resp, pricing, mode, provider, rec, tx)
                        .await;
                    return;
                }
                Err(e) if e.is_retryable() && i + 1 < n => {
                    tracing::warn!(provider = %cand.provider, "attempt failed, falling back: {}", e.message);
                    rec.failed_attempt(&e);
                    errors.push((cand.id(), e));
                }
                Err(e) => {
                    errors.push((cand.id(), e));
                    break;
                }
            }
        }
        let e = self.exhausted(errors);
        rec.done(e.status, Some(&e), None);
        let _ = tx.send(Out::Fail(e)).await;
    }

    /// Relays one upstream stream to the client. Client gone → stop (the upstream request is
    /// dropped, which cancels it) and the recorder keeps the usage seen so far.
    #[allow(clippy::too_many_arguments)]
    async fn pump(
        &self,
        cand: &Candidate,
        resp: reqwest::Response,
        pricing: Pricing,
        mode: Mode,
        provider: &ProviderConfig,
        mut rec: Recorder,
        tx: mpsc::Sender<Out>,
    ) {
        let idle = Duration::from_secs(provider.idle_timeout_secs);
        let created = crate::record::now_ms() / 1000;
        let served = cand.id();
        let include_reasoning = !self
            .hub
            .as_ref()
            .and_then(|h| h.reasoning.as_ref())
            .is_some_and(|r| r.exclude);
        let mut relay = match mode {
            Mode::Passthrough => Relay::Passthrough(Passthrough::default()),
            Mode::Hub(kind) => Relay::Hub {
                decoder: providers::stream_decoder(kind, &cand.provider),
                encoder: wire::ChunkEncoder::new(wire::ResponseIds {
                    id: &self.id,
                    model: &served,
                    provider: &cand.provider,
                    created,
                    cost_usd: None,
                    include_reasoning,
                }),
                usage: Usage::default(),
                finish: None,
            },
        };
        let mut sse = SseDecoder::new();
        let mut events: Vec<SseEvent> = Vec::new();
        let mut body = resp.bytes_stream();
        let mut transcript: Vec<Value> = Vec::new();
        let store = self.ctx.cfg.server.store_content;
        let outcome: Result<(), ApiError> = loop {
            let chunk = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => {
                    break Err(ApiError::new(
                        crate::error::ErrorKind::Timeout,
                        format!("{}: stream stalled for {}s", cand.provider, idle.as_secs()),
                    ))
                }
                Ok(None) => {
                    sse.finish(&mut events);
                    None
                }
                Ok(Some(Err(e))) => break Err(upstream::transport_error(provider, &e)),
                Ok(Some(Ok(c))) => Some(c),
            };
            if let Some(c) = &chunk {
                sse.push(c, &mut events);
            }
            let mut frames: Vec<Value> = Vec::new();
            let mut failed = None;
            for ev in events.drain(..) {
                if let Err(e) = relay.event(&ev, &self, cand, &pricing, &mut frames) {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_none() && chunk.is_none() {
                if let Err(e) = relay.end(&mut frames) {
                    failed = Some(e);
                }
            }
            if !frames.is_empty() {
                rec.first_token();
            }
            let (usage, _) = relay.usage();
            rec.usage(usage, &pricing);
            for f in frames {
                if store {
                    transcript.push(f.clone());
                }
                if tx.send(Out::Frame(sse_data(&f))).await.is_err() {
                    return; // client gone: `rec` drops and records what we have
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            if chunk.is_none() {
                break Ok(());
            }
        };
        let (usage, finish) = relay.usage();
        rec.usage(usage, &pricing);
        match outcome {
            Ok(()) => {
                let cost = pricing.prices.cost_pusd(&usage);
                if let Relay::Hub { encoder, .. } = &relay {
                    let last = encoder.finish_chunk(Some(pusd_to_usd(cost)));
                    if store {
                        transcript.push(last.clone());
                    }
                    if tx.send(Out::Frame(sse_data(&last))).await.is_err() {
                        return;
                    }
                }
                rec.finish_reason(finish.0, finish.1);
                let _ = tx
                    .send(Out::Frame(Bytes::from_static(b"data: [DONE]\n\n")))
                    .await;
                rec.done(200, None, store.then(|| Value::Array(transcript)));
            }
            Err(e) => {
                rec.finish_reason(Some("error".into()), finish.1);
                rec.done(e.status, Some(&e), store.then(|| Value::Array(transcript)));
                let _ = tx.send(Out::Fail(e)).await;
            }
        }
    }
}

enum Relay {
    Passthrough(Passthrough),
    Hub {
        decoder: Box<dyn providers::StreamDecoder>,
        encoder: wire::ChunkEncoder,
        usage: Usage,
        finish: Option<(String, Option<String>)>,
    },
}

#[derive(Default)]
struct Passthrough {
    usage: Usage,
    finish: Option<String>,
    done: bool,
}

impl Relay {
    fn event(
        &mut self,
        ev: &SseEvent,
        job: &Job,
        cand: &Candidate,
        pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError> {
        match self {
            Relay::Passthrough(p) => {
                if ev.data.trim() == "[DONE]" {
                    p.done = true;
                    return Ok(());
                }
                let mut v: Value = serde_json::from_str(&ev.data).map_err(|_| {
                    providers::bad_body(
                        &cand.provider,
                        "stream chunk is not JSON",
                        ev.data.as_bytes(),
                    )
                })?;
                if let Some(err) = v.get("error") {
                    let status = err.get("code").and_then(Value::as_u64).unwrap_or(502) as u16;
                    return Err(providers::parse_error(
                        ProviderKind::OpenAi,
                        &cand.provider,
                        status.max(400),
                        ev.data.as_bytes(),
                    ));
                }
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    p.usage = usage_from_openai(Some(u));
                    let cost = pricing.prices.cost_pusd(&p.usage);
                    rewrite(
                        &mut v,
                        &job.id,
                        &cand.id(),
                        &cand.provider,
                        Some(cost),
                        true,
                    );
                } else {
                    rewrite(&mut v, &job.id, &cand.id(), &cand.provider, None, true);
                }
                if let Some(fr) = v
                    .pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                {
                    p.finish = Some(fr.clone());
                    if let Some(c) = v.pointer_mut("/choices/0") {
                        c["native_finish_reason"] = json!(fr);
                    }
                }
                out.push(v);
                Ok(())
            }
            Relay::Hub {
                decoder,
                encoder,
                usage,
                finish,
            } => {
                let mut hub = Vec::new();
                let r = decoder.event(ev, &mut hub);
                for e in &hub {
                    match e {
                        StreamEvent::Usage(u) => *usage = *u,
                        StreamEvent::Finish { reason, native, .. } => {
                            *finish = Some((reason.as_str().to_string(), native.clone()))
                        }
                        _ => {}
                    }
                    encoder.encode(e, out);
                }
                r
            }
        }
    }

    /// The upstream closed the stream.
    fn end(&mut self, out: &mut Vec<Value>) -> Result<(), ApiError> {
        match self {
            Relay::Passthrough(p) => {
                if p.done || p.finish.is_some() {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        crate::error::ErrorKind::UpstreamError,
                        "upstream stream ended before it finished",
                    ))
                }
            }
            Relay::Hub {
                decoder,
                encoder,
                usage,
                finish,
            } => {
                let mut hub = Vec::new();
                let r = decoder.finish(&mut hub);
                for e in &hub {
                    match e {
                        StreamEvent::Usage(u) => *usage = *u,
                        StreamEvent::Finish { reason, native, .. } => {
                            *finish = Some((reason.as_str().to_string(), native.clone()))
                        }
                        _ => {}
                    }
                    encoder.encode(e, out);
                }
                r
            }
        }
    }

    fn usage(&self) -> (Usage, (Option<String>, Option<String>)) {
        match self {
            Relay::Passthrough(p) => (p.usage, (p.finish.clone(), p.finish.clone())),
            Relay::Hub { usage, finish, .. } => (
                *usage,
                finish.clone().map_or((None, None), |(a, b)| (Some(a), b)),
            ),
        }
    }
}

/// The client body with router-only fields removed, the upstream model name set and usage
/// requested on streams.
fn passthrough_body(body: &Value, model: &str, stream: bool, official_openai: bool) -> Bytes {
    let mut m: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    for f in ROUTER_ONLY_FIELDS {
        m.remove(*f);
    }
    if official_openai {
        for f in NON_OPENAI_SAMPLING {
            m.remove(*f);
        }
    }
    if !m.contains_key("reasoning_effort") {
        if let Some(effort) = body.pointer("/reasoning/effort").and_then(Value::as_str) {
            m.insert("reasoning_effort".into(), json!(effort));
        }
    }
    m.insert("model".into(), Value::String(model.to_string()));
    if stream {
        let opts = m.entry("stream_options").or_insert_with(|| json!({}));
        if !opts.is_object() {
            *opts = json!({});
        }
        opts["include_usage"] = Value::Bool(true);
    }
    Bytes::from(serde_json::to_vec(&Value::Object(m)).unwrap_or_default())
}

fn is_official_openai(p: &ProviderConfig) -> bool {
    p.base_url.contains("api.openai.com")
}

/// Sets our id, the served model id and provider; adds `usage.cost` when known.
fn rewrite(
    v: &mut Value,
    id: &str,
    model: &str,
    provider: &str,
    cost_pusd: Option<i64>,
    _chunk: bool,
) {
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(id));
        o.insert("model".into(), json!(model));
        o.insert("provider".into(), json!(provider));
        if let (Some(cost), Some(u)) = (cost_pusd, o.get_mut("usage")) {
            if u.is_object() {
                u["cost"] = json!(pusd_to_usd(cost));
            }
        }
    }
}

/// Usage from an OpenAI-shaped `usage` object.
pub fn usage_from_openai(u: Option<&Value>) -> Usage {
    let Some(u) = u else {
        return Usage::default();
    };
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("/prompt_tokens"),
        output_tokens: n("/completion_tokens"),
        reasoning_tokens: n("/completion_tokens_details/reasoning_tokens"),
        cache_read_tokens: n("/prompt_tokens_details/cached_tokens"),
        cache_write_tokens: n("/prompt_tokens_details/cache_write_tokens"),
    }
}

/// One error listing every attempt; status of the last failure.
fn all_failed(mut errors: Vec<(String, ApiError)>) -> ApiError {
    if errors.len() == 1 {
        return errors
            .pop()
            .map(|(_, e)| e)
            .unwrap_or_else(|| ApiError::internal("no attempt"));
    }
    let Some((_, last)) = errors.last() else {
        return ApiError::new(
            crate::error::ErrorKind::Unavailable,
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

/// The in-stream error form of this surface: a chunk with a top-level `error` and
/// `finish_reason: "error"`, then `[DONE]`.
fn openai_error_frame(id: &str, model: &str, endpoint: Endpoint) -> ErrorFrame {
    let id = id.to_string();
    let model = model.to_string();
    Arc::new(move |e: &ApiError| {
        let mut err = json!({"code": e.status, "message": e.message});
        if let Some(m) = &e.metadata {
            err["metadata"] = m.clone();
        }
        let choice = if endpoint == Endpoint::Completions {
            json!({"index": 0, "text": "", "finish_reason": "error"})
        } else {
            json!({"index": 0, "delta": {"content": ""}, "finish_reason": "error"})
        };
        let chunk = json!({
            "id": id,
            "object": endpoint.chunk_object(),
            "created": crate::record::now_ms() / 1000,
            "model": model,
            "error": err,
            "choices": [choice],
        });
        let mut b = sse_data(&chunk).to_vec();
        b.extend_from_slice(b"data: [DONE]\n\n");
        Bytes::from(b)
    })
}

pub fn with_generation_id(mut resp: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-generation-id", v);
    }
    resp
}
