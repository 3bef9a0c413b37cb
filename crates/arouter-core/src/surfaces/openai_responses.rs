//! The OpenAI Responses surface: `POST /v1/responses`, relayed unchanged (but for the model
//! name and ids) to openai-kind providers that speak Responses, translated through the hub for
//! every other provider; stored responses (`GET`/`DELETE /v1/responses/{id}`, `input_items`),
//! kept in the ledger only when the request has `store` (OpenAI's default) and nothing at all
//! beyond the ledger row with `store: false`. `previous_response_id` is rebuilt from the ledger
//! for any provider: upstreams are stateless here.

use crate::app::App;
use crate::catalog::Pricing;
use crate::config::{ProviderConfig, ProviderKind};
use crate::dialects::openai_responses::{
    encode, errors, reasoning, request, response, usage as wire_usage, wire, CustomTools, Encoder,
};
use crate::dispatch::candidates::string_list;
use crate::dispatch::{Codec, HubEncoder, Ids, Job, NativeStream, Outcome};
use crate::error::{ApiError, ErrorKind};
use crate::http::respond::{json_response, read_bytes, ErrorFrame, Surface};
use crate::http::{authed, Ctx};
use crate::model::{ChatRequest, ChatResponse, StreamEvent, Usage};
use crate::providers::{self, UpstreamRequest};
use crate::record::{Recorder, Start};
use crate::routing;
use crate::sse::SseEvent;
use crate::store::{StoredJson, UsageRecord};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Fields only OpenRouter-style routing understands; they never reach an upstream.
const ROUTER_ONLY_FIELDS: &[&str] = &["models", "provider", "route", "transforms", "plugins"];
/// How many `previous_response_id` links are followed before giving up.
const MAX_CHAIN: usize = 1000;

fn surface() -> Surface {
    Surface::OpenAiResponses
}

async fn ctx_of(app: &Arc<App>, headers: HeaderMap, query: Option<&str>) -> Result<Ctx, Response> {
    authed(app, headers, query, surface(), false).await
}

/// `POST /v1/responses`
pub async fn create(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ctx = match authed(&app, parts.headers, parts.uri.query(), surface(), false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let resp = match job(&ctx, body).await {
        Ok((job, rec)) => job.run(rec).await,
        Err(e) => surface().error(&e),
    };
    ctx.finish(resp)
}

async fn job(ctx: &Ctx, body: Body) -> Result<(Job, Recorder), ApiError> {
    let raw = read_bytes(&ctx.headers, body, ctx.cfg.server.max_body_bytes).await?;
    let mut req = request::parse(&raw)?;
    let input = req.input.take();
    let mut items = match &req.previous_response_id {
        Some(prev) => conversation(ctx, prev).await?,
        None => Vec::new(),
    };
    let expanded = req.previous_response_id.is_some();
    items.extend(input.map(wire::Input::into_items).unwrap_or_default());
    let models = match req.extra.get("models") {
        Some(list) => string_list(&json!({ "models": list }), "models")?,
        None => Vec::new(),
    };
    let names = routing::requested(&ctx.cfg, req.model.as_deref(), &models)?;
    let requested = names.join(",");
    let candidates = routing::resolve(&ctx.cfg, &names)?;
    let prefs = routing::Preferences::parse(req.extra.get("provider"))?;
    let candidates = routing::arrange(
        &ctx.cfg,
        candidates,
        prefs.as_ref(),
        needs(&req, &items),
        &ctx.app.health,
    )?;
    let stream = req.streams();
    let id = new_response_id();
    let mut rec = ctx.recorder(Start {
        surface: "openai",
        endpoint: "responses",
        id: id.clone(),
        requested_model: requested.clone(),
        body: None,
        streamed: stream,
    });
    rec.keep_content(req.stores().then_some(&raw));
    let codec = ResponsesCodec {
        items: expanded.then_some(items.clone()),
        hub: OnceLock::new(),
        all_items: items,
        raw,
        req,
        progress: Arc::new(AtomicU64::new(NOT_STARTED)),
    };
    Ok((Job::new(ctx, codec, candidates, id, requested, stream), rec))
}

/// `resp_` and 48 hex digits, as OpenAI's ids look. Also the request's generation id.
pub fn new_response_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    format!("resp_{}", hex::encode(b))
}

/// What routing must find in a model, read off the wire request (no hub conversion).
fn needs(req: &wire::Request, items: &[Value]) -> routing::Needs {
    let has_image = |v: &Value| {
        v.get("content").and_then(Value::as_array).is_some_and(|c| {
            c.iter()
                .any(|p| p.get("type") == Some(&json!("input_image")))
        })
    };
    routing::Needs {
        tools: req.tools.as_ref().is_some_and(|t| !t.is_empty()),
        json_schema: req
            .text
            .as_ref()
            .and_then(|t| t.format.as_ref())
            .and_then(|f| f.get("type"))
            == Some(&json!("json_schema")),
        reasoning: req
            .reasoning
            .as_ref()
            .and_then(|r| r.effort.as_deref())
            .is_some_and(|e| e != "none"),
        vision: items.iter().any(has_image),
    }
}

/// The items of a stored conversation up to and including response `id`: each turn's input
/// items, then its output.
async fn conversation(ctx: &Ctx, id: &str) -> Result<Vec<Value>, ApiError> {
    let mut turns: Vec<(Value, Value)> = Vec::new();
    let mut next = Some(id.to_string());
    while let Some(cur) = next.take() {
        if turns.len() >= MAX_CHAIN {
            return Err(ApiError::bad_request(format!(
                "previous_response_id: the conversation is longer than {MAX_CHAIN} responses"
            )));
        }
        let row = stored(ctx, &cur).await.map_err(|_| {
            let mut e =
                ApiError::bad_request(format!("Previous response with id '{cur}' not found."));
            e.metadata = Some(
                json!({"param": "previous_response_id", "code": "previous_response_not_found"}),
            );
            e
        })?;
        let (request, response) = row;
        next = request
            .get("previous_response_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        turns.push((request, response));
    }
    let mut items = Vec::new();
    for (request, response) in turns.into_iter().rev() {
        let input: Option<wire::Input> = request
            .get("input")
            .cloned()
            .and_then(|i| serde_json::from_value(i).ok());
        items.extend(input.map(wire::Input::into_items).unwrap_or_default());
        if let Some(Value::Array(output)) = response.get("output") {
            items.extend(output.iter().cloned());
        }
    }
    Ok(items)
}

/// A stored response's (request, response) bodies, if the caller may see them.
async fn stored(ctx: &Ctx, id: &str) -> Result<(Value, Value), ApiError> {
    let row = crate::http::models::load_visible(ctx, id).await.ok();
    let not_found = || {
        let mut e = ApiError::not_found(format!("Response with id '{id}' not found."));
        e.metadata = Some(json!({"param": "response_id"}));
        e
    };
    match row {
        Some(UsageRecord {
            request_body: Some(req),
            response_body: Some(resp),
            endpoint,
            ..
        }) if endpoint == "responses" => Ok((req.to_value(), resp.to_value())),
        _ => Err(not_found()),
    }
}

/// `GET /v1/responses/{id}`
pub async fn get(State(app): State<Arc<App>>, Path(id): Path<String>, req: Request) -> Response {
    let ctx = match ctx_of(&app, req.headers().clone(), req.uri().query()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let resp = match stored(&ctx, &id).await {
        Ok((_, response)) => json_response(&response),
        Err(e) => surface().error(&e),
    };
    ctx.finish(resp)
}

/// `GET /v1/responses/{id}/input_items` (`order`, default `desc`, as OpenAI).
pub async fn input_items(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let ctx = match ctx_of(&app, req.headers().clone(), req.uri().query()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let asc = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv == "order=asc");
    let resp = match stored(&ctx, &id).await {
        Ok((request, _)) => {
            let input: Option<wire::Input> = request
                .get("input")
                .cloned()
                .and_then(|i| serde_json::from_value(i).ok());
            let base = id.strip_prefix("resp_").unwrap_or(&id);
            let mut data: Vec<Value> = input
                .map(wire::Input::into_items)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, mut item)| {
                    if let Some(o) = item.as_object_mut() {
                        o.entry("id")
                            .or_insert_with(|| json!(format!("msg_{base}_in{i}")));
                        o.entry("type").or_insert_with(|| json!("message"));
                    }
                    item
                })
                .collect();
            if !asc {
                data.reverse();
            }
            let first = data.first().and_then(|v| v.get("id")).cloned();
            let last = data.last().and_then(|v| v.get("id")).cloned();
            json_response(&json!({
                "object": "list", "data": data, "first_id": first, "last_id": last, "has_more": false,
            }))
        }
        Err(e) => surface().error(&e),
    };
    ctx.finish(resp)
}

/// `DELETE /v1/responses/{id}`: the stored bodies go; the ledger row (usage, cost) stays.
pub async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>, req: Request) -> Response {
    let ctx = match ctx_of(&app, req.headers().clone(), req.uri().query()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let resp = match stored(&ctx, &id).await {
        Ok(_) => {
            let store = ctx.app.store.clone();
            let target = id.clone();
            let _ = tokio::task::spawn_blocking(move || store.delete_content(&target)).await;
            json_response(&json!({"id": id, "object": "response.deleted", "deleted": true}))
        }
        Err(e) => surface().error(&e),
    };
    ctx.finish(resp)
}

/// `POST /v1/responses/compact`: Codex's remote compaction, which only OpenAI's own service
/// performs (Codex sends it only to providers it takes for OpenAI; the recommended
/// configuration names ARouter as its own provider, so Codex compacts locally instead).
pub async fn compact(State(app): State<Arc<App>>, req: Request) -> Response {
    let ctx = match ctx_of(&app, req.headers().clone(), req.uri().query()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut e = ApiError::new(
        ErrorKind::NotImplemented,
        "Remote compaction (/v1/responses/compact) is not available through ARouter. Configure \
         Codex with ARouter as its own model provider (model_provider = \"arouter\") so it \
         compacts the conversation locally.",
    );
    e.metadata = Some(json!({"code": "unsupported_endpoint"}));
    ctx.finish(surface().error(&e))
}

/// `progress` before the first event went out.
const NOT_STARTED: u64 = u64::MAX;

struct ResponsesCodec {
    req: wire::Request,
    /// The whole conversation when `previous_response_id` was expanded (sent upstream instead
    /// of the caller's `input`).
    items: Option<Vec<Value>>,
    all_items: Vec<Value>,
    raw: Bytes,
    /// The hub form, built on first use (a relayed request never needs it).
    hub: OnceLock<Result<request::HubRequest, ApiError>>,
    /// The next `sequence_number` of the stream sent to the caller (`NOT_STARTED` before any):
    /// a failure event continues the numbering.
    progress: Arc<AtomicU64>,
}

impl ResponsesCodec {
    fn hub_request(&self) -> &Result<request::HubRequest, ApiError> {
        self.hub
            .get_or_init(|| request::to_hub(&self.req, &self.all_items))
    }

    fn meta(&self, ids: &Ids) -> response::Meta {
        let tools = match self.hub_request() {
            Ok(h) => h.tools.clone(),
            Err(_) => CustomTools::default(),
        };
        response::Meta {
            id: ids.id.clone(),
            model: ids.model.clone(),
            created_at: ids.created,
            echo: request::echo(&self.req),
            issuer: ids.signer,
            tools,
            include_encrypted: self.req.includes("reasoning.encrypted_content"),
        }
    }
}

impl Codec for ResponsesCodec {
    fn surface(&self) -> Surface {
        surface()
    }

    fn native_kind(&self) -> ProviderKind {
        ProviderKind::OpenAi
    }

    fn is_native(&self, provider: &ProviderConfig, responses: bool) -> bool {
        provider.kind == ProviderKind::OpenAi && responses
    }

    fn hub(&self) -> Option<&ChatRequest> {
        self.hub_request().as_ref().ok().map(|h| &h.chat)
    }

    fn no_hub(&self, _provider: &ProviderConfig) -> ApiError {
        match self.hub_request() {
            Err(e) => e.clone(),
            Ok(_) => ApiError::internal("the request has no hub form"),
        }
    }

    fn include_reasoning(&self) -> bool {
        true
    }

    fn budget_hint(&self) -> (Option<u64>, usize) {
        (self.req.max_output_tokens.map(u64::from), self.raw.len())
    }

    fn native_request(
        &self,
        provider: &ProviderConfig,
        model: &str,
        key: Option<&str>,
        _stream: bool,
    ) -> Result<UpstreamRequest, ApiError> {
        let mut set: Vec<(&str, Value)> = vec![("model", Value::String(model.to_string()))];
        // Another vendor's reasoning (a conversation that switched models) cannot go to OpenAI;
        // a cheap scan of the bytes keeps the usual request free of a tree walk.
        let foreign = self.all_items.iter().any(reasoning::is_foreign);
        if let Some(items) = &self.items {
            set.push(("input", Value::Array(items.clone())));
        } else if foreign {
            set.push(("input", Value::Array(self.all_items.clone())));
        }
        if foreign {
            if let Some((_, Value::Array(items))) = set.iter_mut().find(|(k, _)| *k == "input") {
                items.retain(|i| !reasoning::is_foreign(i));
            }
        }
        let expanded = self.items.is_some();
        let skip =
            |k: &str| ROUTER_ONLY_FIELDS.contains(&k) || (expanded && k == "previous_response_id");
        // The raw edit copies every other member as received; the tree is built only for a
        // body it cannot handle (escaped or repeated keys).
        let body = match crate::http::raw_json::edit_object(&self.raw, &skip, &set) {
            Some(edited) => Bytes::from(edited),
            None => {
                let mut base = serde_json::to_value(&self.req).unwrap_or_default();
                base["input"] = Value::Array(self.all_items.clone());
                crate::http::raw_json::edited_object(None, &base, &skip, &set)
            }
        };
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(k) = key {
            headers.push(("authorization", format!("Bearer {k}")));
        }
        Ok(UpstreamRequest {
            url: format!("{}/responses", provider.base_url),
            headers,
            body,
        })
    }

    fn native_response(
        &self,
        body: &Bytes,
        ids: &Ids,
        _pricing: &Pricing,
    ) -> Result<(Bytes, Outcome), ApiError> {
        if let Some(done) = edit_response(body, ids, self.req.previous_response_id.as_deref()) {
            return Ok(done);
        }
        let mut v: Value = serde_json::from_slice(body)
            .map_err(|_| providers::bad_body(&ids.provider, "not JSON", body))?;
        let outcome = outcome_of(&v);
        rewrite(&mut v, ids, self.req.previous_response_id.as_deref());
        Ok((crate::http::respond::json_bytes(&v), outcome))
    }

    fn native_stream(&self, ids: &Ids) -> Box<dyn NativeStream> {
        Box::new(Passthrough {
            ids: ids.clone(),
            previous: self.req.previous_response_id.clone(),
            outcome: Outcome::default(),
            terminal: false,
            progress: self.progress.clone(),
        })
    }

    fn render(&self, resp: &ChatResponse, ids: &Ids, _cost_usd: f64) -> Bytes {
        crate::http::respond::json_bytes(&response::from_hub(resp, &self.meta(ids)))
    }

    fn encoder(&self, ids: &Ids) -> Box<dyn HubEncoder> {
        Box::new(HubStream {
            enc: Encoder::new(self.meta(ids)),
            progress: self.progress.clone(),
        })
    }

    fn frame(&self, v: &Value) -> Bytes {
        encode::sse(v)
    }

    fn error_frame(&self, ids: &Ids) -> ErrorFrame {
        let progress = self.progress.clone();
        let meta = self.meta(ids);
        Arc::new(move |e: &ApiError| {
            // The stream always ends in a terminal event: `response.failed`, after a
            // `response.created` when nothing was sent yet.
            let next = progress.load(Ordering::Relaxed);
            let mut out = Vec::new();
            let mut seq = if next == NOT_STARTED { 0 } else { next };
            let failed = meta.object(
                "failed",
                Vec::new(),
                None,
                None,
                Some(errors::response_error(e)),
            );
            if next == NOT_STARTED {
                let created = meta.object("in_progress", Vec::new(), None, None, None);
                let ev = json!({"type": "response.created", "sequence_number": seq, "response": created});
                out.extend_from_slice(&encode::sse(&ev));
                seq += 1;
            }
            let ev = json!({"type": "response.failed", "sequence_number": seq, "response": failed});
            out.extend_from_slice(&encode::sse(&ev));
            progress.store(seq + 1, Ordering::Relaxed);
            Bytes::from(out)
        })
    }

    fn stored(&self, transcript: Vec<Value>) -> StoredJson {
        let last = transcript.into_iter().rev().find(|v| {
            matches!(
                v.get("type").and_then(Value::as_str),
                Some("response.completed" | "response.incomplete" | "response.failed")
            )
        });
        match last.and_then(|mut v| v.get_mut("response").map(Value::take)) {
            Some(r) => r.into(),
            None => Value::Null.into(),
        }
    }
}

/// Hub stream events → Responses events, keeping the shared sequence counter current.
struct HubStream {
    enc: Encoder,
    progress: Arc<AtomicU64>,
}

impl HubEncoder for HubStream {
    fn event(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        self.enc.encode(ev, out);
        self.sync(out);
    }

    fn finish(&mut self, _cost_usd: f64, out: &mut Vec<Value>) {
        self.enc.finish(out);
        self.sync(out);
    }
}

impl HubStream {
    fn sync(&self, out: &[Value]) {
        if let Some(n) = out
            .last()
            .and_then(|v| v.get("sequence_number"))
            .and_then(Value::as_u64)
        {
            self.progress.store(n + 1, Ordering::Relaxed);
        }
    }
}

/// Our id, the served model (and the caller's `previous_response_id` when ARouter expanded
/// it) on a response object.
fn rewrite(v: &mut Value, ids: &Ids, previous: Option<&str>) {
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(ids.id));
        o.insert("model".into(), json!(ids.model));
        if let Some(p) = previous {
            o.insert("previous_response_id".into(), json!(p));
        }
    }
}

/// Usage and stop reason of a response object.
fn outcome_of(v: &Value) -> Outcome {
    let usage = v
        .get("usage")
        .filter(|u| u.is_object())
        .and_then(|u| serde_json::from_value::<wire::Usage>(u.clone()).ok())
        .map(|u| wire_usage::from_wire(&u))
        .unwrap_or_default();
    let status = v.get("status").and_then(Value::as_str);
    let incomplete = v
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str);
    let has_call = v.get("output").and_then(Value::as_array).is_some_and(|o| {
        o.iter().any(|i| {
            matches!(
                i.get("type").and_then(Value::as_str),
                Some("function_call" | "custom_tool_call")
            )
        })
    });
    let reason = wire_usage::stop_reason(status, incomplete, has_call);
    Outcome {
        usage,
        finish: Some(reason.as_str().to_string()),
        native_finish: incomplete.or(status).map(str::to_string),
    }
}

/// The same-dialect unary body, edited without a tree: every member is copied as raw text
/// except `id` and `model` (ours) and `previous_response_id` (the caller's, when expanded);
/// usage and status are read for the ledger. `None` when the body is not a plain object.
fn edit_response(body: &[u8], ids: &Ids, previous: Option<&str>) -> Option<(Bytes, Outcome)> {
    use crate::http::raw_json::{object, put, put_raw, RawObject};
    let top: RawObject = object(body).ok()?;
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut usage = Usage::default();
    let (mut status, mut incomplete, mut has_call) = (None, None, false);
    out.push(b'{');
    for (k, v) in &top.0 {
        match *k {
            "id" => put(&mut out, k, ids.id.as_str()),
            "model" => put(&mut out, k, ids.model.as_str()),
            "previous_response_id" if previous.is_some() => put(&mut out, k, &previous),
            "usage" => {
                if let Ok(u) = serde_json::from_str::<wire::Usage>(v.get()) {
                    usage = wire_usage::from_wire(&u);
                }
                put_raw(&mut out, k, v);
            }
            "status" => {
                status = serde_json::from_str::<String>(v.get()).ok();
                put_raw(&mut out, k, v);
            }
            "incomplete_details" => {
                incomplete = serde_json::from_str::<Value>(v.get())
                    .ok()
                    .and_then(|d| d.get("reason").and_then(Value::as_str).map(str::to_string));
                put_raw(&mut out, k, v);
            }
            "output" => {
                let text = v.get();
                has_call =
                    text.contains("\"function_call\"") || text.contains("\"custom_tool_call\"");
                put_raw(&mut out, k, v);
            }
            _ => put_raw(&mut out, k, v),
        }
    }
    out.push(b'}');
    let reason = wire_usage::stop_reason(status.as_deref(), incomplete.as_deref(), has_call);
    Some((
        Bytes::from(out),
        Outcome {
            usage,
            finish: Some(reason.as_str().to_string()),
            native_finish: incomplete.or(status),
        },
    ))
}

/// Relays a Responses stream: our id and served model on the response objects, usage read
/// off the terminal event, an upstream `error` event turned into our `response.failed`.
struct Passthrough {
    ids: Ids,
    previous: Option<String>,
    outcome: Outcome,
    terminal: bool,
    progress: Arc<AtomicU64>,
}

impl NativeStream for Passthrough {
    fn event(
        &mut self,
        ev: &SseEvent,
        _pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" || self.terminal {
            return Ok(());
        }
        let mut v: Value = serde_json::from_str(data).map_err(|_| {
            providers::bad_body(
                &self.ids.provider,
                "stream event is not JSON",
                data.as_bytes(),
            )
        })?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = kind.as_str();
        if kind == "error" {
            let error = v.get("error").cloned().unwrap_or_else(|| v.clone());
            return Err(errors::from_failed(
                &self.ids.provider,
                Some(&error),
                data.as_bytes(),
            ));
        }
        let terminal = matches!(
            kind,
            "response.completed" | "response.incomplete" | "response.failed"
        );
        if let Some(r) = v.get_mut("response") {
            rewrite(r, &self.ids, self.previous.as_deref());
            if terminal {
                self.outcome = outcome_of(r);
                if kind == "response.failed" {
                    self.outcome.finish = Some("error".into());
                }
            }
        }
        self.terminal = terminal;
        if let Some(n) = v.get("sequence_number").and_then(Value::as_u64) {
            self.progress.store(n + 1, Ordering::Relaxed);
        }
        out.push(v);
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<Value>) -> Result<(), ApiError> {
        if self.terminal {
            Ok(())
        } else {
            Err(crate::error::upstream_error(
                &self.ids.provider,
                502,
                "stream ended before response.completed".into(),
                b"",
            ))
        }
    }

    fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }
}
