//! The Gemini-native surface: `models/{model}:generateContent`, `:streamGenerateContent` (SSE
//! with `alt=sse`, else a streamed JSON array), `:countTokens` and the model resources, under
//! `/v1beta` and `/v1`. gemini-kind upstreams are relayed unchanged; other kinds go through the
//! hub.

use crate::app::App;
use crate::catalog::{self, Pricing};
use crate::config::{Config, ProviderConfig, ProviderKind};
use crate::ctx::Ctx;
use crate::dialects::gemini::inbound::{self as wire, Method};
pub use crate::dialects::gemini::outbound::model_url;
use crate::dialects::gemini::{
    errors as gemini_errors, reasons as gemini_reasons, usage as gemini_usage,
};
use crate::dispatch::count::{CountJob, Counted};
use crate::dispatch::{Codec, HubEncoder, Ids, Job, NativeStream, Outcome};
use crate::error::ApiError;
use crate::http::authed::{Authed, GeminiApi};
use crate::http::respond::{
    json_response, read_json, read_json_raw, sse_data, ErrorFrame, Surface,
};
use crate::json_path;
use crate::model::{ChatRequest, ChatResponse, StopReason, StreamEvent};
use crate::providers::{self, UpstreamRequest};
use crate::record::{new_generation_id, Recorder, Start};
use crate::routing::{self, Candidate};
use crate::sse::SseEvent;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Adds the Gemini routes. `/v1/models/{*rest}` GET stays with `models::get_one`, which hands
/// Gemini-shaped requests over to [`handle`].
pub fn routes(r: Router<Arc<App>>) -> Router<Arc<App>> {
    r.route("/v1beta/models", get(list))
        .route("/v1beta/models/{*rest}", get(handle).post(handle))
        .route("/v1/models/{*rest}", post(handle))
        .route("/api/v1/models/{*rest}", post(handle))
}

/// Every `…/models/{model}[:method]` request.
pub async fn handle(
    Authed { ctx, .. }: Authed<GeminiApi>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: Body,
) -> Response {
    let resp = match dispatch(&ctx, &method, &uri, body).await {
        Ok(r) => r,
        Err(e) => Surface::Gemini.error(&e),
    };
    ctx.finish(resp)
}

async fn dispatch(
    ctx: &Ctx,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let path = uri.path();
    let raw = path.split_once("/models/").map_or("", |(_, rest)| rest);
    let parsed = wire::parse_model_path(raw)?;
    let model = parsed.model.as_str();
    match (method.as_str(), parsed.method) {
        ("GET", None) => model_resource(ctx, model),
        ("POST", Some(Method::GenerateContent)) => generate(ctx, model, body, None).await,
        ("POST", Some(Method::StreamGenerateContent)) => {
            let framing = if crate::query::param(uri.query(), "alt").as_deref() == Some("sse") {
                Framing::Sse
            } else {
                Framing::JsonArray
            };
            generate(ctx, model, body, Some(framing)).await
        }
        ("POST", Some(Method::CountTokens)) => count_tokens(ctx, model, body).await,
        _ => Err(ApiError::not_found(format!("No route for {method} {path}"))),
    }
}

/// The candidates for a model named in a Gemini path: an ARouter id, alias or catalog name,
/// else a bare Gemini model name served by the first gemini-kind provider. Gemini model names
/// have no `/`: an unknown `provider/model` id is an error, not a Gemini model.
pub fn candidates(cfg: &Config, model: &str) -> Result<Vec<Candidate>, ApiError> {
    let resolved = routing::resolve(cfg, &[model]);
    if let Ok(c) = &resolved {
        if !c.is_empty() {
            return resolved;
        }
    }
    if model.contains('/') {
        return resolved;
    }
    match cfg
        .providers
        .values()
        .find(|p| p.kind == ProviderKind::Gemini)
    {
        Some(p) => Ok(vec![Candidate {
            provider: p.id.clone(),
            model: model.to_string(),
        }]),
        None => match resolved {
            Err(e) => Err(e),
            Ok(_) => Err(ApiError::not_found(format!("Model \"{model}\" not found"))),
        },
    }
}

fn provider_kind(cfg: &Config, c: &Candidate) -> Option<ProviderKind> {
    cfg.providers.get(&c.provider).map(|p| p.kind)
}

async fn generate(
    ctx: &Ctx,
    model: &str,
    body: Body,
    stream: Option<Framing>,
) -> Result<Response, ApiError> {
    let (body, raw) = read_json_raw(&ctx.headers, body, ctx.cfg.server.max_body_bytes).await?;
    let (job, rec) = job(ctx, model, body, &raw, stream)?;
    let resp = job.run(rec).await;
    Ok(match stream {
        Some(Framing::JsonArray) => as_json_array(resp),
        _ => resp,
    })
}

fn job(
    ctx: &Ctx,
    model: &str,
    body: Value,
    raw: &Bytes,
    stream: Option<Framing>,
) -> Result<(Job, Recorder), ApiError> {
    let resolved = candidates(&ctx.cfg, model)?;
    let hub = match wire::to_internal(&body, model) {
        Ok(h) => Some(h),
        // A request only Gemini can serve (built-in tools…) still goes to gemini-kind providers.
        Err(e)
            if resolved
                .iter()
                .any(|c| provider_kind(&ctx.cfg, c) == Some(ProviderKind::Gemini)) =>
        {
            tracing::debug!("gemini request has no hub form: {}", e.message);
            None
        }
        Err(e) => return Err(e),
    };
    let candidates = crate::dispatch::candidates::arrange(ctx, resolved, None, hub.as_ref())?;
    let id = new_generation_id();
    let requested = model.to_string();
    let rec = ctx.recorder(Start {
        surface: "gemini",
        endpoint: "generateContent",
        id: id.clone(),
        requested_model: requested.clone(),
        body: Some(raw),
        streamed: stream.is_some(),
    });
    let codec = GeminiCodec {
        include_thoughts: wire::include_thoughts(&body),
        body,
        hub,
        framing: stream.unwrap_or(Framing::Sse),
        array: Arc::new(ArrayFramer::default()),
    };
    let stream = stream.is_some();
    Ok((Job::new(ctx, codec, candidates, id, requested, stream), rec))
}

/// A committed stream in the JSON-array form: `application/json`, and the keep-alive comments
/// sent while waiting for the first element become whitespace (valid before `[`).
fn as_json_array(resp: Response) -> Response {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let stream = body.into_data_stream().map(|chunk| {
        chunk.map(|b| {
            if b.starts_with(b":") {
                Bytes::from_static(b"\r\n")
            } else {
                b
            }
        })
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// How stream elements are framed for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `?alt=sse`: `data: {...}` events.
    Sse,
    /// Gemini's default: one JSON array whose elements arrive as they are generated.
    JsonArray,
}

/// Frames a streamed JSON array, `[{...}\r\n,{...}\r\n]`: the first element opens the array.
#[derive(Debug, Default)]
pub struct ArrayFramer {
    opened: AtomicBool,
}

impl ArrayFramer {
    pub fn element(&self, v: &Value) -> Bytes {
        let mut buf = Vec::with_capacity(256);
        let prefix: &[u8] = if self.opened.swap(true, Ordering::SeqCst) {
            b"\r\n,"
        } else {
            b"["
        };
        buf.extend_from_slice(prefix);
        let _ = serde_json::to_writer(&mut buf, v);
        Bytes::from(buf)
    }

    pub fn close(&self) -> Bytes {
        if self.opened.load(Ordering::SeqCst) {
            Bytes::from_static(b"\r\n]")
        } else {
            Bytes::from_static(b"[]")
        }
    }

    /// A failure after the stream began: Google's error object as the last element.
    pub fn error(&self, e: &ApiError) -> Bytes {
        let mut buf = self.element(&gemini_errors::error_body(e)).to_vec();
        buf.extend_from_slice(&self.close());
        Bytes::from(buf)
    }
}

struct GeminiCodec {
    body: Value,
    hub: Option<ChatRequest>,
    include_thoughts: bool,
    framing: Framing,
    array: Arc<ArrayFramer>,
}

impl Codec for GeminiCodec {
    fn surface(&self) -> Surface {
        Surface::Gemini
    }

    fn native_kind(&self) -> ProviderKind {
        ProviderKind::Gemini
    }

    fn hub(&self) -> Option<&ChatRequest> {
        self.hub.as_ref()
    }

    fn native_request(
        &self,
        provider: &ProviderConfig,
        model: &str,
        key: Option<&str>,
        stream: bool,
    ) -> Result<UpstreamRequest, ApiError> {
        // The relay reads SSE upstream even when the client wants the JSON-array form.
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let cleaned = crate::dialects::gemini::relay::contents_without_foreign_signatures(
            &self.body,
        )
        .map(|contents| {
            let mut b = self.body.clone();
            b["contents"] = contents;
            b
        });
        let body = serde_json::to_vec(cleaned.as_ref().unwrap_or(&self.body))
            .map_err(|e| ApiError::internal(format!("re-encoding the request: {e}")))?;
        Ok(UpstreamRequest {
            url: model_url(&provider.base_url, model, method),
            headers: crate::dialects::gemini::request_headers(key),
            body: Bytes::from(body),
        })
    }

    fn native_response(
        &self,
        body: &Bytes,
        ids: &Ids,
        _pricing: &Pricing,
    ) -> Result<(Bytes, Outcome), ApiError> {
        relay_response(body, ids)
    }

    fn native_stream(&self, ids: &Ids) -> Box<dyn NativeStream> {
        relay_stream(ids)
    }

    fn render(&self, resp: &ChatResponse, ids: &Ids, _cost_usd: f64) -> Bytes {
        let mut v = wire::from_internal(resp, &ids.model, self.include_thoughts);
        v["responseId"] = json!(ids.id);
        crate::http::respond::json_bytes(&v)
    }

    fn encoder(&self, ids: &Ids) -> Box<dyn HubEncoder> {
        Box::new(Encoder(wire::StreamEncoder::new(
            &ids.model,
            &ids.id,
            self.include_thoughts,
            ids.signer,
        )))
    }

    fn frame(&self, v: &Value) -> Bytes {
        match self.framing {
            Framing::Sse => sse_data(v),
            Framing::JsonArray => self.array.element(v),
        }
    }

    fn done_frame(&self) -> Option<Bytes> {
        match self.framing {
            Framing::Sse => None,
            Framing::JsonArray => Some(self.array.close()),
        }
    }

    fn error_frame(&self, _ids: &Ids) -> ErrorFrame {
        match self.framing {
            Framing::Sse => Arc::new(|e: &ApiError| sse_data(&gemini_errors::error_body(e))),
            Framing::JsonArray => {
                let array = self.array.clone();
                Arc::new(move |e: &ApiError| array.error(e))
            }
        }
    }
}

/// A same-dialect response, relayed unchanged, and its accounting.
pub(crate) fn relay_response(body: &Bytes, ids: &Ids) -> Result<(Bytes, Outcome), ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| providers::bad_body(&ids.provider, "not JSON", body))?;
    if !v.is_object() {
        return Err(providers::bad_body(
            &ids.provider,
            "not a JSON object",
            body,
        ));
    }
    let mut outcome = Outcome::default();
    note_outcome(&v, &mut outcome);
    Ok((body.clone(), outcome))
}

/// A same-dialect stream relay.
pub(crate) fn relay_stream(ids: &Ids) -> Box<dyn NativeStream> {
    Box::new(Passthrough {
        provider: ids.provider.clone(),
        outcome: Outcome::default(),
    })
}

/// Usage and finish reason of a Gemini response or chunk (a blocked prompt has no candidate,
/// only `promptFeedback.blockReason`).
fn note_outcome(v: &Value, outcome: &mut Outcome) {
    if let Some(u) = gemini_usage::usage_of(v) {
        outcome.usage = u;
    }
    if let Some((native, reason)) = gemini_reasons::finish_of(v) {
        outcome.finish = Some(reason.as_str().to_string());
        outcome.native_finish = Some(native);
    } else if let Some(block) =
        json_path::pointer(v, "/promptFeedback/blockReason").and_then(Value::as_str)
    {
        outcome.finish = Some(StopReason::ContentFilter.as_str().to_string());
        outcome.native_finish = Some(block.to_string());
    }
}

struct Encoder(wire::StreamEncoder);

impl HubEncoder for Encoder {
    fn event(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        self.0.encode(ev, out);
    }
    fn finish(&mut self, _cost_usd: f64, out: &mut Vec<Value>) {
        self.0.finish(out);
    }
}

/// Relays a Gemini SSE stream unchanged, keeping the latest usage snapshot and finish reason.
struct Passthrough {
    provider: String,
    outcome: Outcome,
}

impl NativeStream for Passthrough {
    fn event(
        &mut self,
        ev: &SseEvent,
        _pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError> {
        if ev.data.trim().is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(&ev.data).map_err(|_| {
            providers::bad_body(
                &self.provider,
                "stream chunk is not JSON",
                ev.data.as_bytes(),
            )
        })?;
        if let Some(err) = v.get("error") {
            let status = err.get("code").and_then(Value::as_u64).unwrap_or(502);
            let status = u16::try_from(status)
                .ok()
                .filter(|s| *s >= 400)
                .unwrap_or(502);
            return Err(providers::parse_error(
                ProviderKind::Gemini,
                &self.provider,
                status,
                ev.data.as_bytes(),
            ));
        }
        note_outcome(&v, &mut self.outcome);
        out.push(v);
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<Value>) -> Result<(), ApiError> {
        if self.outcome.finish.is_some() {
            Ok(())
        } else {
            Err(crate::error::upstream_error(
                &self.provider,
                502,
                "stream ended before it finished".into(),
                b"",
            ))
        }
    }

    fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }
}

/// `:countTokens`, answered by the first candidate that can: a gemini-kind provider counts with
/// the model's own tokenizer (the body is forwarded), an anthropic-kind one with its
/// `/v1/messages/count_tokens`, and an openai-kind one (no count endpoint) gets the local
/// tiktoken estimate.
async fn count_tokens(ctx: &Ctx, model: &str, body: Body) -> Result<Response, ApiError> {
    let body = read_json(&ctx.headers, body, ctx.cfg.server.max_body_bytes).await?;
    let hub = wire::to_internal(count_subject(&body), model);
    let resolved = candidates(&ctx.cfg, model)?;
    let candidates = crate::dispatch::candidates::arrange(ctx, resolved, None, hub.as_ref().ok())?;
    let counted = CountJob {
        ctx,
        candidates: &candidates,
        hub,
        native_kind: ProviderKind::Gemini,
        native_request: |provider: &ProviderConfig, model: &str, key: Option<&str>| {
            gemini_count_request(&body, provider, model, key)
        },
    }
    .run()
    .await?;
    Ok(match counted {
        Counted::Total(n) => json_response(&json!({ "totalTokens": n })),
        Counted::Native(bytes) => crate::http::respond::json_bytes_response(bytes),
    })
}

/// The request a countTokens body describes: its `generateContentRequest` when it has one,
/// else the body itself (`contents` alone).
fn count_subject(body: &Value) -> &Value {
    body.get("generateContentRequest")
        .or_else(|| body.get("generate_content_request"))
        .filter(|v| v.is_object())
        .unwrap_or(body)
}

/// The client's countTokens body for a gemini-kind provider; `generateContentRequest.model`
/// must name the upstream model, not the ARouter id.
fn gemini_count_request(
    body: &Value,
    provider: &ProviderConfig,
    model: &str,
    key: Option<&str>,
) -> UpstreamRequest {
    let mut body = body.clone();
    if let Some(inner) = body
        .get_mut("generateContentRequest")
        .and_then(Value::as_object_mut)
    {
        if inner.contains_key("model") {
            inner.insert(
                "model".into(),
                json!(format!("models/{}", wire::strip_models_prefix(model))),
            );
        }
    }
    UpstreamRequest {
        url: model_url(&provider.base_url, model, "countTokens"),
        headers: crate::dialects::gemini::request_headers(key),
        body: Bytes::from(body.to_string()),
    }
}

/// `GET /v1beta/models`: every routable model as a Gemini `Model` resource.
pub async fn list(Authed { ctx, .. }: Authed<GeminiApi>) -> Response {
    ctx.finish(json_response(&list_body(&ctx.cfg)))
}

/// Gemini's `ListModelsResponse` of every routable model (one page: no `nextPageToken`).
pub fn list_body(cfg: &Config) -> Value {
    let list: Vec<Value> = crate::catalog::routable(cfg)
        .iter()
        .map(|(id, (pricing, _))| model_object(id, pricing))
        .collect();
    json!({ "models": list })
}

/// `GET …/models/{model}`.
fn model_resource(ctx: &Ctx, model: &str) -> Result<Response, ApiError> {
    if let Some((pricing, _)) = crate::catalog::routable(&ctx.cfg).get(model) {
        return Ok(json_response(&model_object(model, pricing)));
    }
    let cands = candidates(&ctx.cfg, model)
        .map_err(|_| ApiError::not_found(format!("Model \"models/{model}\" not found")))?;
    let (cand, provider) = cands
        .iter()
        .find_map(|c| Some((c, ctx.cfg.providers.get(&c.provider)?)))
        .ok_or_else(|| ApiError::not_found(format!("Model \"models/{model}\" not found")))?;
    let pricing = catalog::pricing(&ctx.cfg, provider, &cand.model);
    Ok(json_response(&model_object(model, &pricing)))
}

/// Gemini's `Model` resource for a routable id (countTokens is answered for every kind).
pub fn model_object(id: &str, pricing: &Pricing) -> Value {
    let info = pricing.info;
    let methods = ["generateContent", "streamGenerateContent", "countTokens"];
    let mut m = json!({
        "name": format!("models/{id}"),
        "displayName": info.map_or(id, |i| i.name.as_str()),
        "description": "",
        "supportedGenerationMethods": methods,
    });
    if let Some(n) = pricing.context_length {
        m["inputTokenLimit"] = json!(n);
    }
    if let Some(n) = pricing.max_output {
        m["outputTokenLimit"] = json!(n);
    }
    if info.is_some_and(|i| i.has("reasoning")) {
        m["thinking"] = json!(true);
    }
    m
}
