//! The Anthropic Messages surface: `POST /v1/messages` and `/v1/messages/count_tokens`, and
//! [`run_unary`] for the Message Batches worker.
//! anthropic-kind upstreams are relayed losslessly (body and stream events unchanged); other
//! kinds go through the hub.

use super::relay::{all_failed, Codec, HubEncoder, Ids, Job, NativeStream, Outcome};
use super::respond::{json_response, read_json, read_json_raw, sse_event, ErrorFrame, Surface};
use super::{authed, Ctx};
use crate::app::App;
use crate::catalog::Pricing;
use crate::config::{ProviderConfig, ProviderKind};
use crate::error::{upstream_error, ApiError};
use crate::json_path;
use crate::model::{ChatRequest, ChatResponse, StreamEvent};
use crate::providers::{self, Target, UpstreamRequest};
use crate::record::{new_generation_id, Recorder};
use crate::routing::{self, Candidate};
use crate::sse::SseEvent;
use crate::surfaces::anthropic as wire;
use crate::upstream;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The API version sent upstream when the client names none.
const DEFAULT_VERSION: &str = "2023-06-01";

/// `POST /v1/messages`.
pub async fn messages(State(app): State<Arc<App>>, req: Request) -> Response {
    let surface = Surface::Anthropic;
    let (parts, body) = req.into_parts();
    let ctx = match authed(&app, parts.headers, parts.uri.query(), surface, false).await {
        Ok(ctx) => ctx,
        Err(resp) => return resp,
    };
    let limit = ctx.cfg.server.max_body_bytes;
    let resp = match read_json_raw(&ctx.headers, body, limit).await {
        Ok((body, raw)) => match job(&ctx, body, &raw, "messages") {
            Ok((job, rec)) => job.run(rec).await,
            Err(e) => surface.error(&e),
        },
        Err(e) => surface.error(&e),
    };
    ctx.finish(resp)
}

/// `POST /v1/messages/count_tokens`: anthropic kind → its own endpoint, gemini kind →
/// `:countTokens`, openai kind → a local tiktoken estimate.
pub async fn count_tokens(State(app): State<Arc<App>>, req: Request) -> Response {
    let surface = Surface::Anthropic;
    let (parts, body) = req.into_parts();
    let ctx = match authed(&app, parts.headers, parts.uri.query(), surface, false).await {
        Ok(ctx) => ctx,
        Err(resp) => return resp,
    };
    let resp = match count(&ctx, body).await {
        Ok(resp) => resp,
        Err(e) => surface.error(&e),
    };
    ctx.finish(resp)
}

/// Runs one Messages request without HTTP (the batch worker): the same routing, fallbacks,
/// translation and ledger (with `endpoint`) as `POST /v1/messages`, never streamed. `Err`
/// holds the Anthropic error body.
pub async fn run_unary(ctx: &Ctx, mut body: Value, endpoint: &str) -> Result<Value, Value> {
    let surface = Surface::Anthropic;
    if let Some(m) = body.as_object_mut() {
        m.shift_remove("stream");
    }
    let raw = super::respond::json_bytes(&body);
    let (job, rec) = job(ctx, body, &raw, endpoint).map_err(|e| surface.error_body(&e))?;
    let resp = job.run(rec).await;
    let ok = resp.status().is_success();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map_err(|e| {
            surface.error_body(&ApiError::internal(format!("reading the response: {e}")))
        })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        surface.error_body(&ApiError::internal(format!(
            "the response is not JSON: {e}"
        )))
    })?;
    if ok {
        Ok(v)
    } else {
        Err(v)
    }
}

/// The candidates a body asks for: `model`, then OpenRouter-style `models` / `fallbacks`.
pub fn candidates(ctx: &Ctx, body: &Value) -> Result<(String, Vec<Candidate>), ApiError> {
    let model = match body.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ApiError::bad_request("model: expected a string")),
    };
    let mut lists = super::openai::string_list(body, "models")?;
    lists.extend(super::openai::string_list(body, "fallbacks")?);
    let names = routing::requested(&ctx.cfg, model, &lists)?;
    let requested = names.join(",");
    Ok((requested, routing::resolve(&ctx.cfg, &names)?))
}

fn job(ctx: &Ctx, body: Value, raw: &Bytes, endpoint: &str) -> Result<(Job, Recorder), ApiError> {
    let hub = wire::to_internal(&body)?;
    let (requested, candidates) = candidates(ctx, &body)?;
    let stream = hub.stream;
    let id = new_generation_id();
    let rec = Recorder::new(
        ctx,
        "anthropic",
        endpoint,
        id.clone(),
        requested.clone(),
        Some(raw),
        stream,
    );
    let codec = AnthropicCodec {
        headers: ClientHeaders::from(&ctx.headers),
        body,
        raw: raw.clone(),
        hub,
    };
    Ok((
        Job {
            ctx: ctx.clone(),
            codec: Arc::new(codec),
            candidates,
            id,
            requested,
            stream,
        },
        rec,
    ))
}

/// The client's Anthropic headers that an anthropic-kind upstream must see too.
#[derive(Debug, Clone)]
pub struct ClientHeaders {
    pub version: String,
    pub beta: Option<String>,
}

impl ClientHeaders {
    pub fn from(headers: &HeaderMap) -> Self {
        let all = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect()
        };
        let beta = all("anthropic-beta");
        ClientHeaders {
            version: all("anthropic-version")
                .into_iter()
                .next()
                .unwrap_or_else(|| DEFAULT_VERSION.to_string()),
            beta: (!beta.is_empty()).then(|| beta.join(",")),
        }
    }

    /// The upstream request to `{base_url}{path}` with the client's body.
    pub fn request(
        &self,
        provider: &ProviderConfig,
        path: &str,
        key: Option<&str>,
        body: Bytes,
    ) -> UpstreamRequest {
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            ("anthropic-version", self.version.clone()),
        ];
        if let Some(beta) = &self.beta {
            headers.push(("anthropic-beta", beta.clone()));
        }
        if let Some(k) = key {
            headers.push(("x-api-key", k.to_string()));
        }
        UpstreamRequest {
            url: format!("{}{path}", provider.base_url),
            headers,
            body,
        }
    }
}

/// The client body with router-only fields removed and the upstream model name set.
pub fn passthrough_body(body: &Value, raw: Option<&[u8]>, model: &str) -> Bytes {
    let set = [("model", Value::String(model.to_string()))];
    let skip = |k: &str| wire::ROUTER_ONLY_FIELDS.contains(&k);
    super::raw_json::edited_object(raw, body, &skip, &set)
}

struct AnthropicCodec {
    headers: ClientHeaders,
    body: Value,
    /// The body as received, for the same-dialect relay's raw edit.
    raw: Bytes,
    hub: ChatRequest,
}

impl Codec for AnthropicCodec {
    fn surface(&self) -> Surface {
        Surface::Anthropic
    }

    fn native_kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn hub(&self) -> Option<&ChatRequest> {
        Some(&self.hub)
    }

    fn native_request(
        &self,
        provider: &ProviderConfig,
        model: &str,
        key: Option<&str>,
        _stream: bool,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = passthrough_body(&self.body, Some(&self.raw), model);
        Ok(self.headers.request(provider, "/v1/messages", key, body))
    }

    /// Relayed byte for byte; only the accounting fields are read (the rest is validated and
    /// skipped without building a tree).
    fn native_response(
        &self,
        body: &Bytes,
        ids: &Ids,
        _pricing: &Pricing,
    ) -> Result<(Bytes, Outcome), ApiError> {
        #[derive(serde::Deserialize)]
        struct Accounting {
            usage: Option<Value>,
            stop_reason: Option<String>,
        }
        let v: Accounting = super::raw_json::object(body)
            .map_err(|_| providers::bad_body(&ids.provider, "not a JSON object", body))?;
        let usage = v
            .usage
            .as_ref()
            .map(wire::usage_from_anthropic)
            .unwrap_or_default();
        let native = v.stop_reason;
        let outcome = Outcome {
            usage,
            finish: native
                .as_deref()
                .map(|s| wire::hub_stop_reason(s).as_str().to_string()),
            native_finish: native,
        };
        Ok((body.clone(), outcome))
    }

    fn native_stream(&self, ids: &Ids) -> Box<dyn NativeStream> {
        Box::new(Passthrough {
            provider: ids.provider.clone(),
            outcome: Outcome::default(),
            stopped: false,
        })
    }

    fn render(&self, resp: &ChatResponse, ids: &Ids, _cost_usd: f64) -> Bytes {
        super::respond::json_bytes(&wire::from_internal(resp, &ids.id, &ids.model))
    }

    fn encoder(&self, ids: &Ids) -> Box<dyn HubEncoder> {
        Box::new(Encoder(wire::EventEncoder::new(&ids.id, &ids.model)))
    }

    fn frame(&self, v: &Value) -> Bytes {
        sse_event(event_name(v), v)
    }

    fn error_frame(&self, _ids: &Ids) -> ErrorFrame {
        Arc::new(|e: &ApiError| sse_event("error", &wire::error_event(e)))
    }
}

/// An Anthropic stream value's SSE event name is its `type`.
fn event_name(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("message")
}

struct Encoder(wire::EventEncoder);

impl HubEncoder for Encoder {
    fn event(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        self.0.encode(ev, out);
    }
    fn finish(&mut self, _cost_usd: f64, out: &mut Vec<Value>) {
        self.0.finish(out);
    }
}

/// Relays an Anthropic stream event for event, keeping usage and the stop reason.
struct Passthrough {
    provider: String,
    outcome: Outcome,
    stopped: bool,
}

impl NativeStream for Passthrough {
    fn event(
        &mut self,
        ev: &SseEvent,
        _pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError> {
        let v: Value = serde_json::from_str(&ev.data).map_err(|_| {
            providers::bad_body(
                &self.provider,
                "stream event is not JSON",
                ev.data.as_bytes(),
            )
        })?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or("");
        match kind {
            "error" => {
                let status =
                    error_status(json_path::at(&v, &["error", "type"]).and_then(Value::as_str));
                return Err(providers::parse_error(
                    ProviderKind::Anthropic,
                    &self.provider,
                    status,
                    ev.data.as_bytes(),
                ));
            }
            "message_start" => {
                if let Some(u) = json_path::at(&v, &["message", "usage"]) {
                    self.outcome.usage = wire::usage_from_anthropic(u);
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    wire::merge_usage(&mut self.outcome.usage, u);
                }
                if let Some(reason) =
                    json_path::at(&v, &["delta", "stop_reason"]).and_then(Value::as_str)
                {
                    self.outcome.finish = Some(wire::hub_stop_reason(reason).as_str().to_string());
                    self.outcome.native_finish = Some(reason.to_string());
                }
            }
            "message_stop" => self.stopped = true,
            _ => {}
        }
        out.push(v);
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<Value>) -> Result<(), ApiError> {
        if self.stopped {
            Ok(())
        } else {
            Err(upstream_error(
                &self.provider,
                502,
                "stream ended before message_stop".into(),
                b"",
            ))
        }
    }

    fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }
}

/// The HTTP status an Anthropic in-stream `error.type` stands for.
fn error_status(kind: Option<&str>) -> u16 {
    match kind {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("billing_error") => 402,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("timeout_error") => 504,
        Some("overloaded_error") => 529,
        _ => 500,
    }
}

// ---------------------------------------------------------------------------------------------
// count_tokens
// ---------------------------------------------------------------------------------------------

async fn count(ctx: &Ctx, body: Body) -> Result<Response, ApiError> {
    let body = read_json(&ctx.headers, body, ctx.cfg.server.max_body_bytes).await?;
    let hub = wire::count_request_to_internal(&body)?;
    let (_, candidates) = candidates(ctx, &body)?;
    let client = ClientHeaders::from(&ctx.headers);
    let mut errors = Vec::new();
    let n = candidates.len();
    for (i, cand) in candidates.iter().enumerate() {
        match count_with(ctx, &client, &body, &hub, cand).await {
            Ok(resp) => return Ok(resp),
            Err(e) => {
                let retry = e.is_retryable() && i + 1 < n;
                errors.push((cand.id(), e));
                if !retry {
                    break;
                }
            }
        }
    }
    Err(all_failed(errors))
}

async fn count_with(
    ctx: &Ctx,
    client: &ClientHeaders,
    body: &Value,
    hub: &ChatRequest,
    cand: &Candidate,
) -> Result<Response, ApiError> {
    let provider = App::provider(&ctx.cfg, &cand.provider)?;
    if provider.kind == ProviderKind::OpenAi {
        let n = wire::estimate_openai_tokens(hub, &cand.model)?;
        return Ok(json_response(&json!({"input_tokens": n})));
    }
    let key = ctx.app.credential(provider).await?;
    let request = match provider.kind {
        ProviderKind::Anthropic => client.request(
            provider,
            "/v1/messages/count_tokens",
            key.as_deref(),
            passthrough_body(body, None, &cand.model),
        ),
        _ => gemini_count_request(hub, provider, &cand.model, key.as_deref())?,
    };
    let resp = match upstream::send(ctx.app.http(), provider, &request).await {
        Ok(r) => r,
        Err(e) => {
            if e.status == 401 || e.status == 403 {
                ctx.app.forget_credential(&provider.id);
            }
            return Err(e);
        }
    };
    let bytes = upstream::read_body(resp, provider).await?;
    let v: Value = serde_json::from_slice(&bytes)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| providers::bad_body(&provider.id, "not a JSON object", &bytes))?;
    if provider.kind == ProviderKind::Anthropic {
        return Ok(json_response(&v));
    }
    // proto3 JSON leaves zero-valued fields out: no `totalTokens` means 0 tokens.
    let total = match v.get("totalTokens") {
        None => 0,
        Some(t) => t.as_u64().ok_or_else(|| {
            providers::bad_body(&provider.id, "totalTokens is not a count", &bytes)
        })?,
    };
    Ok(json_response(&json!({"input_tokens": total})))
}

/// Gemini's `:countTokens` for what `generateContent` would receive: the adapter's request
/// body (contents, system instruction, tools, generation config) wrapped in
/// `generateContentRequest`, which must name its model.
fn gemini_count_request(
    hub: &ChatRequest,
    provider: &ProviderConfig,
    model: &str,
    key: Option<&str>,
) -> Result<UpstreamRequest, ApiError> {
    let mut req = hub.clone();
    req.model = model.to_string();
    req.stream = false;
    let target = Target {
        provider,
        model,
        api_key: key,
        default_max_tokens: 4096,
    };
    let built = providers::build_chat(&req, &target)?;
    let Some(url) = built.url.strip_suffix(":generateContent") else {
        return Err(ApiError::internal(format!(
            "unexpected gemini request URL for {model}"
        )));
    };
    let mut inner: Map<String, Value> = serde_json::from_slice(&built.body)
        .map_err(|e| ApiError::internal(format!("gemini request body: {e}")))?;
    let bare = model.strip_prefix("models/").unwrap_or(model);
    inner.insert("model".into(), json!(format!("models/{bare}")));
    let body = json!({"generateContentRequest": inner});
    Ok(UpstreamRequest {
        url: format!("{url}:countTokens"),
        headers: built.headers,
        body: Bytes::from(body.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Prices;
    use crate::config::Config;
    use crate::model::Usage;
    use axum::http::HeaderValue;

    fn pricing() -> Pricing {
        Pricing {
            prices: Prices::default(),
            priced: false,
            context_length: None,
            max_output: None,
            info: None,
        }
    }

    fn ev(data: Value) -> SseEvent {
        SseEvent {
            event: data["type"].as_str().map(str::to_string),
            data: data.to_string(),
        }
    }

    fn passthrough() -> Passthrough {
        Passthrough {
            provider: "anth".into(),
            outcome: Outcome::default(),
            stopped: false,
        }
    }

    #[test]
    fn native_stream_relays_events_unchanged_and_accounts_usage() {
        let events = [
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-x", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": {"output_tokens": 42}}),
            json!({"type": "message_stop"}),
        ];
        let mut p = passthrough();
        let mut out = Vec::new();
        for e in &events {
            p.event(&ev(e.clone()), &pricing(), &mut out).unwrap();
        }
        p.end(&mut out).unwrap();
        assert_eq!(out, events.to_vec());
        let o = p.outcome();
        assert_eq!(
            o.usage,
            Usage {
                input_tokens: 115,
                output_tokens: 42,
                reasoning_tokens: 0,
                cache_read_tokens: 100,
                cache_write_tokens: 5,
            }
        );
        assert_eq!(o.finish.as_deref(), Some("length"));
        assert_eq!(o.native_finish.as_deref(), Some("max_tokens"));
        let codec_frame = sse_event(event_name(&out[0]), &out[0]);
        assert!(codec_frame.starts_with(b"event: message_start\ndata: {"));
    }

    #[test]
    fn native_stream_errors_and_truncation_fail() {
        let mut p = passthrough();
        let mut out = Vec::new();
        let err = p
            .event(
                &ev(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
                &pricing(),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(err.status, 529);
        assert!(out.is_empty());

        let mut p = passthrough();
        p.event(
            &ev(json!({"type": "message_start", "message": {"usage": {"input_tokens": 3}}})),
            &pricing(),
            &mut out,
        )
        .unwrap();
        let err = p.end(&mut out).unwrap_err();
        assert!(err.message.contains("message_stop"), "{}", err.message);
        assert_eq!(err.status, 502);
        assert!(
            err.is_retryable(),
            "a cut stream may fall back before its first frame"
        );

        let bad = SseEvent {
            event: Some("message_start".into()),
            data: "{not json".into(),
        };
        assert_eq!(
            passthrough()
                .event(&bad, &pricing(), &mut out)
                .unwrap_err()
                .status,
            502
        );
    }

    #[test]
    fn client_headers_default_the_version_and_join_betas() {
        let none = ClientHeaders::from(&HeaderMap::new());
        assert_eq!(none.version, DEFAULT_VERSION);
        assert_eq!(none.beta, None);

        let mut h = HeaderMap::new();
        h.insert("anthropic-version", HeaderValue::from_static("2023-01-01"));
        h.append(
            "anthropic-beta",
            HeaderValue::from_static("prompt-caching-2024-07-31"),
        );
        h.append(
            "anthropic-beta",
            HeaderValue::from_static("interleaved-thinking-2025-05-14"),
        );
        let c = ClientHeaders::from(&h);
        let cfg = Config::parse(
            "[providers.anth]\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\n",
        )
        .unwrap();
        let provider = &cfg.providers["anth"];
        let req = c.request(provider, "/v1/messages", Some("sk-ant"), Bytes::new());
        assert_eq!(req.url, "https://api.anthropic.com/v1/messages");
        let get = |n: &str| {
            req.headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("anthropic-version"), Some("2023-01-01"));
        assert_eq!(
            get("anthropic-beta"),
            Some("prompt-caching-2024-07-31,interleaved-thinking-2025-05-14")
        );
        assert_eq!(get("x-api-key"), Some("sk-ant"));
        assert_eq!(get("content-type"), Some("application/json"));
    }

    #[test]
    fn passthrough_body_only_sets_model_and_drops_router_fields() {
        let body = json!({
            "model": "anth/claude-x",
            "max_tokens": 5,
            "models": ["a/b"],
            "fallbacks": ["c/d"],
            "provider": {"order": ["anth"]},
            "route": "fallback",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
            "context_management": {"edits": []}
        });
        let out: Value =
            serde_json::from_slice(&passthrough_body(&body, None, "claude-x")).unwrap();
        assert_eq!(
            out,
            json!({
                "model": "claude-x",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
                "context_management": {"edits": []}
            })
        );
        let raw = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            passthrough_body(&body, Some(&raw), "claude-x"),
            passthrough_body(&body, None, "claude-x"),
            "the raw edit writes the same bytes as the tree edit"
        );
    }

    #[test]
    fn native_response_is_relayed_unchanged_with_accounting() {
        let codec = AnthropicCodec {
            headers: ClientHeaders::from(&HeaderMap::new()),
            body: json!({}),
            raw: Bytes::new(),
            hub: ChatRequest::default(),
        };
        let ids = Ids {
            id: "gen-1".into(),
            requested: "anth/claude-x".into(),
            model: "anth/claude-x".into(),
            provider: "anth".into(),
            created: 0,
            include_reasoning: true,
        };
        let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": "ok"}], "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 2}});
        let sent = Bytes::from(body.to_string());
        let (v, o) = codec.native_response(&sent, &ids, &pricing()).unwrap();
        assert_eq!(v, sent, "relayed byte for byte");
        assert_eq!(o.usage.input_tokens, 9);
        assert_eq!(o.usage.cache_read_tokens, 2);
        assert_eq!(o.finish.as_deref(), Some("tool_calls"));
        for bad in ["[1]", "{\"usage\": {}", "not json"] {
            let bad = Bytes::from(bad);
            assert!(codec.native_response(&bad, &ids, &pricing()).is_err());
        }
    }
}
