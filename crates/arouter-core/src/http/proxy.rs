//! The provider proxy: `ANY /{provider}/{*path}` forwarded verbatim to the provider's base URL
//! with the caller's app key swapped for the provider's credential. Bodies stream both ways
//! unbuffered; the response is teed into the ledger (usage from JSON bodies and SSE events).

use super::respond::{read_bytes, sse_data, sse_event, Surface};
use crate::app::App;
use crate::budget;
use crate::catalog::{self, Pricing};
use crate::config::{Config, ProviderConfig, ProviderKind, RESERVED_PROVIDER_IDS};
use crate::ctx::Ctx;
use crate::dialects;
use crate::error::{ApiError, ErrorKind};
use crate::json_path;
use crate::model::{StreamEvent, Usage};
use crate::providers::{self, StreamDecoder};
use crate::record::{new_generation_id, Recorder, Start};
use crate::sse::{SseDecoder, SseEvent};
use crate::store::StoredJson;
use crate::upstream;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Request headers never forwarded: hop-by-hop, framing, and the caller's (our) credentials.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    // Identity bodies, so the ledger can read usage (the upstream client decompresses nothing).
    "accept-encoding",
];
/// Hop-by-hop headers (RFC 9110 §7.6.1), dropped both ways.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];
/// Most of a JSON body (either way) kept for usage and the stored exchange.
const TEE_CAP: usize = 8 * 1024 * 1024;
/// Anthropic's API version when the client names none.
use crate::dialects::anthropic::API_VERSION as ANTHROPIC_VERSION;

/// The handler of `/{provider}/{*path}`.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (id, rest) = split_path(req.uri().path());
    let (id, rest) = (id.to_string(), rest.to_string());
    if RESERVED_PROVIDER_IDS.contains(&id.as_str()) {
        return super::respond::not_found(req).await;
    }
    let cfg = app.config();
    let provider = cfg.providers.get(&id).cloned();
    let surface = provider
        .as_ref()
        .map_or(Surface::OpenAi, |p| kind_surface(p.kind));
    let (parts, body) = req.into_parts();
    let ctx =
        match super::authed::authed(&app, parts.headers, parts.uri.query(), surface, false).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
    if !ctx.caller.key.may_proxy() {
        let e = ApiError::new(
            ErrorKind::Forbidden,
            "This key may not use the provider proxy: keys with a budget need it granted \
             (PATCH /api/v1/keys/{hash} with {\"proxy\": true})",
        );
        return ctx.finish(surface.error(&e));
    }
    if let Err(e) = super::guard::check_proxy_rest(&rest) {
        return ctx.finish(surface.error(&e));
    }
    let Some(provider) = provider else {
        let known: Vec<&str> = cfg.providers.keys().map(String::as_str).collect();
        let e = ApiError::not_found(format!(
            "No provider \"{id}\": configured providers are {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
        return ctx.finish(Surface::OpenAi.error(&e));
    };
    let call = Call {
        url: upstream_url(&provider.base_url, &rest, parts.uri.query()),
        endpoint: endpoint_name(&rest),
        path_model: path_model(&rest),
        chat_like: is_chat_path(provider.kind, &rest),
        method: parts.method,
        provider,
    };
    let id = new_generation_id();
    let resp = forward(&ctx, call, body, id.clone()).await;
    let mut resp = ctx.finish(resp);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-generation-id", v);
    }
    resp
}

/// One proxied request, resolved.
struct Call {
    provider: ProviderConfig,
    method: axum::http::Method,
    url: String,
    endpoint: String,
    /// The model named in the path (Gemini's `models/{model}:method`).
    path_model: Option<String>,
    /// Whether the response is a chat completion in the provider's dialect.
    chat_like: bool,
}

fn kind_surface(kind: ProviderKind) -> Surface {
    match kind {
        ProviderKind::OpenAi => Surface::OpenAi,
        ProviderKind::Anthropic => Surface::Anthropic,
        ProviderKind::Gemini => Surface::Gemini,
    }
}

/// `/oa/chat/completions` → (`oa`, `/chat/completions`); the rest keeps its raw encoding.
fn split_path(path: &str) -> (&str, &str) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, ""),
    }
}

/// `{base_url}{rest}` plus the query without our `key=` parameter.
fn upstream_url(base_url: &str, rest: &str, query: Option<&str>) -> String {
    let mut url = format!("{base_url}{rest}");
    let kept = crate::query::without(query.unwrap_or(""), "key");
    if !kept.is_empty() {
        url.push('?');
        url.push_str(&kept);
    }
    url
}

/// The ledger's endpoint: the path with model names left out (`v1/messages`,
/// `chat/completions`, `v1beta/models:streamGenerateContent`).
fn endpoint_name(rest: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut after_models = false;
    for seg in rest.split('/').filter(|s| !s.is_empty()) {
        if after_models {
            after_models = false;
            if let Some((_, method)) = seg.split_once(':') {
                if let Some(last) = out.last_mut() {
                    last.push(':');
                    last.push_str(method);
                }
            }
            continue;
        }
        after_models = seg == "models";
        out.push(seg.to_string());
    }
    let name = out.join("/");
    name.chars().take(100).collect()
}

/// The model of a `…/models/{model}:method` path.
fn path_model(rest: &str) -> Option<String> {
    let (_, after) = rest.split_once("/models/")?;
    let (model, _) = after.split_once(':')?;
    (!model.is_empty() && !model.contains('/')).then(|| model.to_string())
}

fn is_chat_path(kind: ProviderKind, rest: &str) -> bool {
    match kind {
        ProviderKind::OpenAi => rest.ends_with("/chat/completions"),
        ProviderKind::Anthropic => rest.ends_with("/messages"),
        ProviderKind::Gemini => {
            rest.contains(":generateContent") || rest.contains(":streamGenerateContent")
        }
    }
}

/// The headers sent upstream: the caller's, minus hop-by-hop and credentials, plus the
/// provider's credential the way its kind expects and its configured headers.
fn upstream_headers(
    client: &HeaderMap,
    provider: &ProviderConfig,
    key: Option<&str>,
) -> Result<HeaderMap, ApiError> {
    let named_by_connection: Vec<String> = client
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in client {
        let n = name.as_str();
        if DROPPED_REQUEST_HEADERS.contains(&n)
            || HOP_BY_HOP.contains(&n)
            || named_by_connection.iter().any(|c| c == n)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    let bad_key = || {
        ApiError::internal(format!(
            "{}: the stored API key is not a valid header value",
            provider.id
        ))
    };
    if let Some(k) = key {
        let (name, value) = crate::providers::auth_header(provider.kind, k);
        let name = HeaderName::from_static(name);
        let mut v = HeaderValue::from_str(&value).map_err(|_| bad_key())?;
        v.set_sensitive(true);
        out.insert(name, v);
    }
    if provider.kind == ProviderKind::Anthropic && !out.contains_key("anthropic-version") {
        out.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
    }
    for (name, value) in &provider.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.insert(n, v);
        }
    }
    Ok(out)
}

/// `max_tokens` in any dialect's spelling.
fn max_tokens_of(v: &Value) -> Option<u64> {
    ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .iter()
        .find_map(|f| v.get(*f).and_then(Value::as_u64))
        .or_else(|| json_path::at(v, &["generationConfig", "maxOutputTokens"])?.as_u64())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
}

/// A capped copy of a body as it streams by; `None` once it outgrew the cap.
type TeeBuf = Arc<Mutex<Option<Vec<u8>>>>;

fn tee_push(tee: &TeeBuf, chunk: &[u8]) {
    let mut t = tee.lock();
    if let Some(buf) = t.as_mut() {
        if buf.len() + chunk.len() > TEE_CAP {
            *t = None;
        } else {
            buf.extend_from_slice(chunk);
        }
    }
}

/// What goes upstream as the body, and a copy of it when one is kept.
struct Outgoing {
    body: upstream::Body,
    content_length: Option<HeaderValue>,
    copy: Option<TeeBuf>,
}

/// Streams the body through with a byte cap (413 mid-upload aborts the upstream request).
fn streamed_body(ctx: &Ctx, body: Body) -> Result<Outgoing, ApiError> {
    let limit = ctx.cfg.server.max_body_bytes;
    let declared = ctx
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let chunked = ctx.headers.contains_key(header::TRANSFER_ENCODING);
    if declared.unwrap_or(0) == 0 && !chunked {
        return Ok(Outgoing {
            body: upstream::Body::Empty,
            content_length: None,
            copy: None,
        });
    }
    let copy: Option<TeeBuf> =
        is_json(&ctx.headers).then(|| Arc::new(Mutex::new(Some(Vec::new()))));
    let tee = copy.clone();
    let mut seen = 0usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len();
        if seen > limit {
            return Err(axum::Error::new(std::io::Error::other(
                "request body over the size limit",
            )));
        }
        if let Some(t) = &tee {
            tee_push(t, &chunk);
        }
        Ok(chunk)
    });
    Ok(Outgoing {
        body: upstream::Body::stream(stream),
        content_length: declared.and_then(|n| HeaderValue::from_str(&n.to_string()).ok()),
        copy,
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "Request body is larger than the {} MiB limit",
            limit / (1024 * 1024)
        ),
    )
}

/// A limited key's request: buffered, so its worst-case cost can be reserved first.
async fn budgeted_body(
    ctx: &Ctx,
    call: &Call,
    body: Body,
    rec: &mut Recorder,
) -> Result<Outgoing, ApiError> {
    let bytes = read_bytes(&ctx.headers, body, ctx.cfg.server.max_body_bytes).await?;
    let json: Option<Value> = serde_json::from_slice(&bytes).ok();
    let model = call
        .path_model
        .clone()
        .or_else(|| json.as_ref().and_then(body_model))
        .unwrap_or_default();
    let pricing = catalog::pricing(&ctx.cfg, &call.provider, &model);
    crate::budget::refuse_unpriced(&ctx.caller.key, &pricing, &call.provider.id, &model)?;
    let amount =
        budget::max_cost_pusd(&pricing, json.as_ref().and_then(max_tokens_of), bytes.len());
    let hold = ctx
        .app
        .budgets
        .reserve(&ctx.app.store, &ctx.caller.key, amount)
        .await?;
    rec.hold(hold);
    let copy = (bytes.len() <= TEE_CAP).then(|| Arc::new(Mutex::new(Some(bytes.to_vec()))));
    Ok(Outgoing {
        body: upstream::Body::full(bytes),
        content_length: None,
        copy,
    })
}

fn body_model(v: &Value) -> Option<String> {
    v.get("model")
        .and_then(Value::as_str)
        .map(|m| m.strip_prefix("models/").unwrap_or(m).to_string())
}

/// Sends the request and relays the answer; every failure is recorded and answered in the
/// provider's dialect.
async fn forward(ctx: &Ctx, call: Call, body: Body, id: String) -> Response {
    let surface = kind_surface(call.provider.kind);
    let mut rec = ctx.recorder(Start {
        surface: "proxy",
        endpoint: &call.endpoint,
        id,
        requested_model: call.path_model.clone().unwrap_or_default(),
        body: None,
        streamed: false,
    });
    match send(ctx, &call, body, &mut rec).await {
        Ok((resp, copy)) => relay(ctx, call, resp, copy, rec),
        Err(e) => {
            rec.done(e.status, Some(&e), None);
            surface.error(&e)
        }
    }
}

async fn send(
    ctx: &Ctx,
    call: &Call,
    body: Body,
    rec: &mut Recorder,
) -> Result<(upstream::Response, Option<TeeBuf>), ApiError> {
    let key = ctx.app.credential(&call.provider).await?;
    let mut headers = upstream_headers(&ctx.headers, &call.provider, key.as_deref())?;
    let out = if ctx.caller.key.limit_pusd.is_some() {
        budgeted_body(ctx, call, body, rec).await?
    } else {
        streamed_body(ctx, body)?
    };
    if let Some(len) = out.content_length {
        headers.insert(header::CONTENT_LENGTH, len);
    }
    let uri = upstream::parse_uri(&call.url).map_err(|e| {
        ApiError::internal(format!("{}: invalid upstream URL: {e}", call.provider.id))
    })?;
    let resp = upstream::exchange(
        ctx.app.http(),
        &call.provider,
        call.method.clone(),
        uri,
        headers,
        out.body,
    )
    .await
    .inspect_err(|e| ctx.app.metrics.upstream_error(&call.provider.id, e))?;
    Ok((resp, out.copy))
}

/// Relays status, headers and body as they arrive, teeing the body into the ledger.
fn relay(
    ctx: &Ctx,
    call: Call,
    resp: upstream::Response,
    request_copy: Option<TeeBuf>,
    mut rec: Recorder,
) -> Response {
    let status = resp.status();
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/event-stream"));
    let request_copy = request_copy.and_then(|c| c.lock().take());
    let request_json: Option<Value> = request_copy
        .as_ref()
        .and_then(|b| serde_json::from_slice(b).ok());
    let requested = call
        .path_model
        .clone()
        .or_else(|| request_json.as_ref().and_then(body_model));
    let stored = request_json.and(request_copy).map(|b| StoredJson(b.into()));
    rec.set_request(requested.as_deref().unwrap_or(""), stored);
    rec.streamed(sse);
    let mut headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || n == "content-length" {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    let mut tap = Tap {
        cfg: ctx.cfg.clone(),
        provider: call.provider,
        chat_like: call.chat_like,
        status: status.as_u16(),
        pricing: None,
        model: requested,
        rec,
        mode: if sse {
            Mode::Sse(Box::default())
        } else {
            Mode::Body(Some(Vec::new()))
        },
        usage: None,
        finish: None,
    };
    if let Some(m) = tap.model.clone() {
        tap.price(&m);
    }
    let idle = Duration::from_secs(tap.provider.idle_timeout_secs);
    let state = Pump {
        upstream: upstream::body_stream(resp.into_body()),
        tap: Some(tap),
        idle,
        first: true,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        let item = st.next().await?;
        Some((item, st))
    });
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// The relay loop's state: the upstream body and the ledger tap, dropped together when the
/// client goes away (the recorder then writes what it saw).
struct Pump {
    upstream: BoxStream<'static, Result<Bytes, upstream::TransportError>>,
    tap: Option<Tap>,
    idle: Duration,
    first: bool,
}

impl Pump {
    /// The next chunk for the client; `None` at the end.
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        let tap = self.tap.as_mut()?;
        let got = tokio::time::timeout(self.idle, self.upstream.next()).await;
        match got {
            Ok(Some(Ok(chunk))) => {
                if std::mem::take(&mut self.first) {
                    tap.rec.first_token();
                }
                tap.chunk(&chunk);
                Some(Ok(chunk))
            }
            Ok(None) => {
                let tap = self.tap.take()?;
                tap.end();
                None
            }
            Ok(Some(Err(e))) => {
                let err = upstream::transport_error(&tap.provider, &e);
                self.fail(err)
            }
            Err(_) => {
                let err = ApiError::new(
                    ErrorKind::Timeout,
                    format!(
                        "{}: response stalled for {}s",
                        tap.provider.id,
                        self.idle.as_secs()
                    ),
                );
                self.fail(err)
            }
        }
    }

    /// Records the failure; an SSE stream ends with the dialect's error event, any other body
    /// is cut so the client sees it incomplete (never a silent truncation).
    fn fail(&mut self, err: ApiError) -> Option<Result<Bytes, std::io::Error>> {
        let tap = self.tap.take()?;
        let frame = matches!(tap.mode, Mode::Sse(_)).then(|| error_frame(tap.provider.kind, &err));
        tap.failed(&err);
        match frame {
            Some(f) => Some(Ok(f)),
            None => Some(Err(std::io::Error::other(err.message))),
        }
    }
}

/// The in-stream error event of a provider kind's own SSE dialect.
fn error_frame(kind: ProviderKind, err: &ApiError) -> Bytes {
    let surface = kind_surface(kind);
    let body = surface.error_body(err);
    match kind {
        ProviderKind::Anthropic => sse_event("error", &body),
        ProviderKind::OpenAi | ProviderKind::Gemini => sse_data(&body),
    }
}

#[derive(Default)]
struct SseTap {
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    /// The dialect's chat decoder; dropped after it fails on a non-chat stream.
    chat: Option<Box<dyn StreamDecoder>>,
}

enum Mode {
    Sse(Box<SseTap>),
    /// A copy of the body, `None` once over the cap.
    Body(Option<Vec<u8>>),
}

/// Watches the relayed bytes and keeps the ledger row current.
struct Tap {
    cfg: Arc<Config>,
    provider: ProviderConfig,
    chat_like: bool,
    status: u16,
    /// Known once the model is.
    pricing: Option<Pricing>,
    model: Option<String>,
    rec: Recorder,
    mode: Mode,
    usage: Option<Usage>,
    finish: Option<(String, Option<String>)>,
}

impl Tap {
    fn price(&mut self, model: &str) {
        let pricing = catalog::pricing(&self.cfg, &self.provider, model);
        let served = format!("{}/{}", self.provider.id, model);
        self.rec.attempt(&self.provider.id, &served, &pricing);
        self.pricing = Some(pricing);
    }

    fn chunk(&mut self, chunk: &[u8]) {
        let mut seen = Vec::new();
        match &mut self.mode {
            Mode::Body(buf) => {
                if buf
                    .as_ref()
                    .is_some_and(|b| b.len() + chunk.len() > TEE_CAP)
                {
                    *buf = None;
                }
                if let Some(b) = buf.as_mut() {
                    b.extend_from_slice(chunk);
                }
            }
            Mode::Sse(t) => {
                t.decoder.push(chunk, &mut t.events);
                seen = std::mem::take(&mut t.events);
            }
        }
        for ev in &seen {
            self.sse_event(ev);
        }
    }

    fn sse_event(&mut self, ev: &SseEvent) {
        let mut hub = Vec::new();
        if self.chat_like {
            if let Mode::Sse(t) = &mut self.mode {
                let provider = self.provider.id.clone();
                let dec = t.chat.get_or_insert_with(|| {
                    providers::stream_decoder(self.provider.kind, &provider)
                });
                if dec.event(ev, &mut hub).is_err() {
                    t.chat = None;
                    self.chat_like = false;
                }
            }
        }
        for e in hub {
            match e {
                StreamEvent::Start { model: Some(m), .. } if self.model.is_none() => {
                    self.model = Some(m.clone());
                    self.price(&m);
                }
                StreamEvent::Usage(u) => self.set_usage(u),
                StreamEvent::Finish { reason, native, .. } => {
                    self.finish = Some((reason.as_str().to_string(), native))
                }
                _ => {}
            }
        }
        if !self.chat_like {
            if let Ok(v) = serde_json::from_str::<Value>(&ev.data) {
                self.learn_model(&v);
                if let Some(u) = usage_of(self.provider.kind, &v) {
                    self.set_usage(u);
                }
            }
        }
    }

    fn learn_model(&mut self, v: &Value) {
        if self.model.is_some() {
            return;
        }
        let m = v
            .get("model")
            .or_else(|| v.get("modelVersion"))
            .or_else(|| json_path::at(v, &["response", "model"]))
            .or_else(|| json_path::at(v, &["message", "model"]))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(m) = m {
            self.model = Some(m.clone());
            self.price(&m);
        }
    }

    fn set_usage(&mut self, u: Usage) {
        self.usage = Some(u);
        if let Some(p) = &self.pricing {
            self.rec.usage(u, p);
        }
    }

    /// The upstream finished: parse what the body says and write the row.
    fn end(mut self) {
        let mut stored = None;
        let mut failure = None;
        if let Mode::Body(Some(buf)) = std::mem::replace(&mut self.mode, Mode::Body(None)) {
            if self.status >= 400 {
                failure = Some(providers::parse_error(
                    self.provider.kind,
                    &self.provider.id,
                    self.status,
                    &buf,
                ));
            } else {
                stored = self.read_body(&buf).map(|_| StoredJson(buf.into()));
            }
        } else if let Mode::Sse(t) = &mut self.mode {
            let mut events = Vec::new();
            t.decoder.finish(&mut events);
            for ev in &events {
                self.sse_event(ev);
            }
        }
        if self.status >= 400 && failure.is_none() {
            failure = Some(
                ApiError::new(
                    ErrorKind::from_upstream_status(self.status),
                    format!("{}: answered {}", self.provider.id, self.status),
                )
                .with_status(self.status),
            );
        }
        self.settle_model();
        if let Some((reason, native)) = self.finish.take() {
            self.rec.finish_reason(Some(reason), native);
        }
        let store = self.cfg.server.store_content;
        self.rec
            .done(self.status, failure.as_ref(), stored.filter(|_| store));
    }

    /// Usage, model and finish reason of a whole JSON body; returns the parsed body.
    fn read_body(&mut self, buf: &[u8]) -> Option<Value> {
        let v: Value = serde_json::from_slice(buf).ok()?;
        if self.chat_like {
            if let Ok(parsed) = providers::parse_chat(self.provider.kind, &self.provider.id, buf) {
                if self.model.is_none() && !parsed.model.is_empty() {
                    self.model = Some(parsed.model.clone());
                    self.price(&parsed.model);
                }
                self.set_usage(parsed.usage);
                self.finish = Some((
                    parsed.stop_reason.as_str().to_string(),
                    parsed.native_stop_reason,
                ));
                return Some(v);
            }
        }
        let last = match &v {
            Value::Array(items) => items.last().cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        self.learn_model(&last);
        if let Some(u) = usage_of(self.provider.kind, &last) {
            self.set_usage(u);
        }
        Some(v)
    }

    /// A response that never named its model is still attributed to the provider.
    fn settle_model(&mut self) {
        if self.pricing.is_none() {
            let pricing = catalog::pricing(&self.cfg, &self.provider, "");
            self.rec.attempt(&self.provider.id, "", &pricing);
            self.pricing = Some(pricing);
        }
        if let (Some(u), Some(p)) = (self.usage, &self.pricing) {
            self.rec.usage(u, p);
        }
    }

    fn failed(mut self, err: &ApiError) {
        self.settle_model();
        self.rec.finish_reason(Some("error".into()), None);
        self.rec.done(err.status, Some(err), None);
    }
}

/// Usage from any vendor's body or event, read by that vendor's dialect: OpenAI
/// `usage.prompt_tokens`, Anthropic `usage.input_tokens` (also under `message`), Gemini
/// `usageMetadata`, and OpenAI Responses `response.usage`.
pub(crate) fn usage_of(kind: ProviderKind, v: &Value) -> Option<Usage> {
    if let Some(u) = dialects::gemini::usage::usage_of(v) {
        return Some(u);
    }
    let u = v
        .get("usage")
        .or_else(|| json_path::at(v, &["response", "usage"]))
        .or_else(|| json_path::at(v, &["message", "usage"]))
        .filter(|u| u.is_object())?;
    if dialects::openai_chat::usage::is_openai_shape(u) {
        return Some(dialects::openai_chat::usage::from_value(Some(u)));
    }
    u.get("input_tokens").or_else(|| u.get("output_tokens"))?;
    if kind == ProviderKind::Anthropic {
        return Some(dialects::anthropic::usage::from_value(u));
    }
    // OpenAI's Responses API: input_tokens includes the cached ones. (Moves into
    // `dialects::openai_responses` when that dialect lands.)
    let n = |p: &str| {
        json_path::pointer(u, p)
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Some(Usage {
        input_tokens: n("/input_tokens"),
        output_tokens: n("/output_tokens"),
        reasoning_tokens: n("/output_tokens_details/reasoning_tokens"),
        cache_read_tokens: n("/input_tokens_details/cached_tokens"),
        cache_write_tokens: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_and_name_endpoints() {
        assert_eq!(
            split_path("/oa/chat/completions"),
            ("oa", "/chat/completions")
        );
        assert_eq!(split_path("/oa"), ("oa", ""));
        assert_eq!(endpoint_name("/chat/completions"), "chat/completions");
        assert_eq!(endpoint_name("/v1/messages"), "v1/messages");
        assert_eq!(
            endpoint_name("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            "v1beta/models:streamGenerateContent"
        );
        assert_eq!(endpoint_name("/models/gpt-4o"), "models");
        assert_eq!(
            path_model("/v1beta/models/gemini-2.5-flash:generateContent").as_deref(),
            Some("gemini-2.5-flash")
        );
        assert_eq!(path_model("/chat/completions"), None);
    }

    #[test]
    fn our_key_param_is_dropped_from_the_query() {
        assert_eq!(
            upstream_url(
                "http://x/v1beta",
                "/models/m:streamGenerateContent",
                Some("alt=sse&key=sk-ar-1")
            ),
            "http://x/v1beta/models/m:streamGenerateContent?alt=sse"
        );
        assert_eq!(upstream_url("http://x", "/a", Some("key=1")), "http://x/a");
        assert_eq!(
            upstream_url("http://x", "/a", Some("keyring=1")),
            "http://x/a?keyring=1"
        );
    }

    fn provider(kind: ProviderKind) -> ProviderConfig {
        let cfg = Config::parse(&format!(
            "[providers.p]\nkind = \"{}\"\nbase_url = \"http://127.0.0.1:1\"\n",
            kind.as_str()
        ))
        .unwrap();
        cfg.providers["p"].clone()
    }

    #[test]
    fn credentials_are_swapped_per_kind() {
        let mut client = HeaderMap::new();
        client.insert("authorization", "Bearer sk-ar-app".parse().unwrap());
        client.insert("x-api-key", "sk-ar-app".parse().unwrap());
        client.insert("connection", "keep-alive, x-drop".parse().unwrap());
        client.insert("x-drop", "1".parse().unwrap());
        client.insert("host", "127.0.0.1:8402".parse().unwrap());
        client.insert("x-title", "App".parse().unwrap());
        let h = upstream_headers(&client, &provider(ProviderKind::OpenAi), Some("up")).unwrap();
        assert_eq!(h["authorization"], "Bearer up");
        assert!(!h.contains_key("x-api-key") && !h.contains_key("host"));
        assert!(!h.contains_key("x-drop") && !h.contains_key("connection"));
        assert_eq!(h["x-title"], "App");
        let h = upstream_headers(&client, &provider(ProviderKind::Anthropic), Some("up")).unwrap();
        assert_eq!(h["x-api-key"], "up");
        assert!(!h.contains_key("authorization"));
        assert_eq!(h["anthropic-version"], ANTHROPIC_VERSION);
        let h = upstream_headers(&client, &provider(ProviderKind::Gemini), None).unwrap();
        assert!(!h.contains_key("x-goog-api-key") && !h.contains_key("authorization"));
    }

    #[test]
    fn usage_objects_of_every_vendor() {
        let o = usage_of(
            ProviderKind::OpenAi,
            &json!({"usage": {"prompt_tokens": 10, "completion_tokens": 3,
                "prompt_tokens_details": {"cached_tokens": 4}}}),
        )
        .unwrap();
        assert_eq!(
            (o.input_tokens, o.output_tokens, o.cache_read_tokens),
            (10, 3, 4)
        );
        let a = usage_of(
            ProviderKind::Anthropic,
            &json!({"usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 5}}),
        )
        .unwrap();
        assert_eq!((a.input_tokens, a.cache_read_tokens), (15, 5));
        let g = usage_of(
            ProviderKind::Gemini,
            &json!({"usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2, "thoughtsTokenCount": 1}}),
        )
        .unwrap();
        assert_eq!(
            (g.input_tokens, g.output_tokens, g.reasoning_tokens),
            (7, 3, 1)
        );
        assert!(usage_of(ProviderKind::OpenAi, &json!({"data": []})).is_none());
    }

    #[test]
    fn max_tokens_in_every_spelling() {
        assert_eq!(max_tokens_of(&json!({"max_tokens": 5})), Some(5));
        assert_eq!(max_tokens_of(&json!({"max_completion_tokens": 6})), Some(6));
        assert_eq!(
            max_tokens_of(&json!({"generationConfig": {"maxOutputTokens": 7}})),
            Some(7)
        );
        assert_eq!(max_tokens_of(&json!({})), None);
    }
}
