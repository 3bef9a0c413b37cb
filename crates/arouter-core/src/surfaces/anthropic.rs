//! The Anthropic Messages surface: `POST /v1/messages` and `/v1/messages/count_tokens`, and
//! [`run_unary`] for the Message Batches worker.
//! anthropic-kind upstreams are relayed losslessly (body and stream events unchanged); other
//! kinds go through the hub.

use crate::catalog::Pricing;
use crate::config::{ProviderConfig, ProviderKind};
use crate::ctx::Ctx;
use crate::dialects::anthropic::inbound as wire;
use crate::dialects::anthropic::usage::WireUsage;
use crate::dialects::anthropic::{errors, reasons, relay, API_VERSION};
use crate::dispatch::count::{CountJob, Counted};
use crate::dispatch::{Codec, HubEncoder, Ids, Job, NativeStream, Outcome};
use crate::error::{upstream_error, ApiError};
use crate::http::authed::{AnthropicApi, Authed};
use crate::http::respond::{
    json_response, read_json, read_json_raw, sse_event, ErrorFrame, Surface,
};
use crate::json_path;
use crate::model::{ChatRequest, ChatResponse, StreamEvent};
use crate::providers::{self, UpstreamRequest};
use crate::record::{new_message_id, Recorder, Start};
use crate::routing::Candidate;
use crate::sse::SseEvent;
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

/// `POST /v1/messages`.
pub async fn messages(Authed { ctx, surface, .. }: Authed<AnthropicApi>, body: Body) -> Response {
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
pub async fn count_tokens(
    Authed { ctx, surface, .. }: Authed<AnthropicApi>,
    body: Body,
) -> Response {
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
    let raw = crate::http::respond::json_bytes(&body);
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

/// The candidates a body asks for (the batch worker routes with this too).
pub fn candidates(
    ctx: &Ctx,
    body: &Value,
    hub: Option<&ChatRequest>,
) -> Result<(String, Vec<Candidate>), ApiError> {
    crate::dispatch::candidates::from_body(ctx, body, hub)
}

fn job(ctx: &Ctx, body: Value, raw: &Bytes, endpoint: &str) -> Result<(Job, Recorder), ApiError> {
    let hub = wire::to_internal(&body)?;
    let (requested, candidates) = candidates(ctx, &body, Some(&hub))?;
    let stream = hub.stream;
    let id = new_message_id();
    let rec = ctx.recorder(Start {
        surface: "anthropic",
        endpoint,
        id: id.clone(),
        requested_model: requested.clone(),
        body: Some(raw),
        streamed: stream,
    });
    let codec = AnthropicCodec {
        headers: ClientHeaders::from(&ctx.headers),
        body,
        raw: raw.clone(),
        hub,
    };
    Ok((Job::new(ctx, codec, candidates, id, requested, stream), rec))
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
                .unwrap_or_else(|| API_VERSION.to_string()),
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
        let mut headers = crate::dialects::anthropic::request_headers(key, &self.version);
        if let Some(beta) = &self.beta {
            headers.push(("anthropic-beta", beta.clone()));
        }
        UpstreamRequest {
            url: format!("{}{path}", provider.base_url),
            headers,
            body,
        }
    }
}

/// The client body with router-only fields removed, the upstream model name set, and thinking
/// blocks other vendors signed left out.
pub fn passthrough_body(body: &Value, raw: Option<&[u8]>, model: &str) -> Bytes {
    let mut set = vec![("model", Value::String(model.to_string()))];
    if let Some(messages) = relay::messages_without_foreign_thinking(body) {
        set.push(("messages", messages));
    }
    let skip = |k: &str| wire::ROUTER_ONLY_FIELDS.contains(&k);
    crate::raw_json::edited_object(raw, body, &skip, &set)
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
        crate::http::respond::json_bytes(&wire::from_internal(resp, &ids.id, &ids.model))
    }

    fn encoder(&self, ids: &Ids) -> Box<dyn HubEncoder> {
        Box::new(Encoder(wire::EventEncoder::new(
            &ids.id, &ids.model, ids.signer,
        )))
    }

    fn frame(&self, v: &Value) -> Bytes {
        sse_event(event_name(v), v)
    }

    fn error_frame(&self, _ids: &Ids) -> ErrorFrame {
        Arc::new(|e: &ApiError| sse_event("error", &errors::error_body(e)))
    }
}

/// A same-dialect response: the upstream's message with our id and the served model
/// (`dialects::anthropic::relay`).
pub(crate) fn relay_response(body: &Bytes, ids: &Ids) -> Result<(Bytes, Outcome), ApiError> {
    let (edited, acc) = relay::edit_message(body, &ids.id, &ids.model)
        .ok_or_else(|| providers::bad_body(&ids.provider, "not a JSON object", body))?;
    let native = acc.stop_reason;
    let outcome = Outcome {
        usage: acc.usage.to_hub(),
        finish: native
            .as_deref()
            .map(|s| reasons::hub_stop_reason(Some(s)).as_str().to_string()),
        native_finish: native,
    };
    Ok((Bytes::from(edited), outcome))
}

/// A same-dialect stream relay.
pub(crate) fn relay_stream(ids: &Ids) -> Box<dyn NativeStream> {
    Box::new(Passthrough {
        provider: ids.provider.clone(),
        id: ids.id.clone(),
        model: ids.model.clone(),
        outcome: Outcome::default(),
        usage: WireUsage::default(),
        stopped: false,
    })
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
    /// Our generation id and the served model, for `message_start`.
    id: String,
    model: String,
    outcome: Outcome,
    usage: WireUsage,
    stopped: bool,
}

impl NativeStream for Passthrough {
    fn event(
        &mut self,
        ev: &SseEvent,
        _pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError> {
        let mut v: Value = serde_json::from_str(&ev.data).map_err(|_| {
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
                let status = json_path::at(&v, &["error", "type"])
                    .and_then(Value::as_str)
                    .and_then(errors::status_for_type)
                    .unwrap_or(500);
                return Err(providers::parse_error(
                    ProviderKind::Anthropic,
                    &self.provider,
                    status,
                    ev.data.as_bytes(),
                ));
            }
            "message_start" => {
                relay::edit_message_start(&mut v, &self.id, &self.model);
                if let Some(u) = json_path::at(&v, &["message", "usage"]) {
                    self.usage = WireUsage::from_value(u);
                    self.outcome.usage = self.usage.to_hub();
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    self.usage.merge(&WireUsage::from_value(u));
                    self.outcome.usage = self.usage.to_hub();
                }
                if let Some(reason) =
                    json_path::at(&v, &["delta", "stop_reason"]).and_then(Value::as_str)
                {
                    self.outcome.finish =
                        Some(reasons::hub_stop_reason(Some(reason)).as_str().to_string());
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

// ---------------------------------------------------------------------------------------------
// count_tokens
// ---------------------------------------------------------------------------------------------

async fn count(ctx: &Ctx, body: Body) -> Result<Response, ApiError> {
    let body = read_json(&ctx.headers, body, ctx.cfg.server.max_body_bytes).await?;
    let hub = wire::count_request_to_internal(&body)?;
    let (_, candidates) = candidates(ctx, &body, Some(&hub))?;
    let client = ClientHeaders::from(&ctx.headers);
    let counted = CountJob {
        ctx,
        candidates: &candidates,
        hub: Ok(hub),
        native_kind: ProviderKind::Anthropic,
        native_request: |provider: &ProviderConfig, model: &str, key: Option<&str>| {
            let body = passthrough_body(&body, None, model);
            client.request(provider, "/v1/messages/count_tokens", key, body)
        },
    }
    .run()
    .await?;
    Ok(match counted {
        Counted::Total(n) => json_response(&json!({ "input_tokens": n })),
        Counted::Native(bytes) => crate::http::respond::json_bytes_response(bytes),
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
            id: "msg_1".into(),
            model: "anth/claude".into(),
            outcome: Outcome::default(),
            usage: WireUsage::default(),
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
        // Unchanged but for message_start's id and model (ours).
        let mut expected = events.to_vec();
        expected[0]["message"]["id"] = json!("msg_1");
        expected[0]["message"]["model"] = json!("anth/claude");
        assert_eq!(out, expected);
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
        assert_eq!(none.version, API_VERSION);
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
    fn native_response_is_relayed_with_our_id_and_model() {
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
            signer: crate::model::Dialect::Anthropic,
        };
        let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": "ok"}], "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 2}});
        let sent = Bytes::from(body.to_string());
        let (v, o) = codec.native_response(&sent, &ids, &pricing()).unwrap();
        let mut expected = body.clone();
        expected["id"] = json!("gen-1");
        expected["model"] = json!("anth/claude-x");
        assert_eq!(
            v,
            Bytes::from(expected.to_string()),
            "relayed byte for byte but id, model"
        );
        assert_eq!(o.usage.input_tokens, 9);
        assert_eq!(o.usage.cache_read_tokens, 2);
        assert_eq!(o.finish.as_deref(), Some("tool_calls"));
        for bad in ["[1]", "{\"usage\": {}", "not json"] {
            let bad = Bytes::from(bad);
            assert!(codec.native_response(&bad, &ids, &pricing()).is_err());
        }
    }
}
