//! The OpenAI-compatible surface: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`.
//! openai-kind upstreams are relayed with surgical edits (lossless); other kinds go through
//! the hub.

use crate::catalog::{pusd_to_usd, Pricing};
use crate::config::{ProviderConfig, ProviderKind};
use crate::ctx::Ctx;
use crate::dialects::openai_chat::inbound as wire;
use crate::dialects::openai_chat::{completions, errors, usage};
use crate::dispatch::candidates;
use crate::dispatch::{Codec, HubEncoder, Ids, Job, NativeStream, Outcome};
use crate::error::ApiError;
use crate::http::respond::{read_json_raw, sse_data, ErrorFrame, Surface};
use crate::json_path;
use crate::model::{ChatRequest, ChatResponse, StreamEvent, Usage};
use crate::providers::params::Dropped;
use crate::providers::{self, UpstreamRequest};
use crate::record::{new_generation_id, Recorder, Start};
use crate::sse::SseEvent;
use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::sync::Arc;

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

pub async fn handle(ctx: Ctx, endpoint: Endpoint, body: Body) -> Response {
    let surface = Surface::OpenAi;
    let limit = ctx.cfg.server.max_body_bytes;
    let resp = match read_json_raw(&ctx.headers, body, limit).await {
        Ok((body, raw)) => match job(&ctx, endpoint, body, &raw) {
            Ok((job, rec)) => job.run(rec).await,
            Err(e) => surface.error(&e),
        },
        Err(e) => surface.error(&e),
    };
    ctx.finish(resp)
}

fn job(
    ctx: &Ctx,
    endpoint: Endpoint,
    body: Value,
    raw: &Bytes,
) -> Result<(Job, Recorder), ApiError> {
    let hub = match endpoint {
        Endpoint::Chat => Some(wire::to_internal(&body)?),
        Endpoint::Completions => {
            check_legacy(endpoint, &body)?;
            // Chat-only providers get the prompt as a user message; a body that has no chat
            // form (token-id prompts) still goes to openai-kind providers as it is.
            completions::to_internal(&body).ok()
        }
        Endpoint::Embeddings => {
            check_legacy(endpoint, &body)?;
            None
        }
    };
    let (requested, candidates) = candidates::from_body(ctx, &body, hub.as_ref())?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let id = new_generation_id();
    let rec = ctx.recorder(Start {
        surface: "openai",
        endpoint: endpoint.name(),
        id: id.clone(),
        requested_model: requested.clone(),
        body: Some(raw),
        streamed: stream,
    });
    let codec = OpenAiCodec {
        endpoint,
        body,
        raw: raw.clone(),
        hub,
    };
    Ok((Job::new(ctx, codec, candidates, id, requested, stream), rec))
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

struct OpenAiCodec {
    endpoint: Endpoint,
    body: Value,
    /// The body as received, for the same-dialect relay's raw edit.
    raw: Bytes,
    hub: Option<ChatRequest>,
}

impl Codec for OpenAiCodec {
    fn surface(&self) -> Surface {
        Surface::OpenAi
    }

    fn budget_hint(&self) -> (Option<u64>, usize) {
        match &self.hub {
            Some(h) => (
                h.max_tokens.map(u64::from),
                crate::budget::hub_prompt_bytes(h),
            ),
            // Legacy completions and embeddings: the raw body is the prompt.
            None => (
                self.body.get("max_tokens").and_then(Value::as_u64),
                self.body.to_string().len(),
            ),
        }
    }

    fn native_kind(&self) -> ProviderKind {
        ProviderKind::OpenAi
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
        let body = passthrough_body(
            &self.body,
            Some(&self.raw),
            model,
            stream,
            Dropped::of(provider),
        );
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(k) = key {
            headers.push(("authorization", format!("Bearer {k}")));
        }
        Ok(UpstreamRequest {
            url: format!("{}{}", provider.base_url, self.endpoint.path()),
            headers,
            body,
        })
    }

    fn native_response(
        &self,
        body: &Bytes,
        ids: &Ids,
        pricing: &Pricing,
    ) -> Result<(Bytes, Outcome), ApiError> {
        relay_response(body, ids, pricing)
    }

    fn native_stream(&self, ids: &Ids) -> Box<dyn NativeStream> {
        relay_stream(ids)
    }

    fn render(&self, resp: &ChatResponse, ids: &Ids, cost_usd: f64) -> Bytes {
        let ids = response_ids(ids, Some(cost_usd));
        if self.endpoint == Endpoint::Completions {
            return crate::http::respond::json_bytes(&completions::from_internal(resp, &ids));
        }
        Bytes::from(wire::from_internal(resp, &ids))
    }

    fn encoder(&self, ids: &Ids) -> Box<dyn HubEncoder> {
        Box::new(Encoder {
            chat: wire::ChunkEncoder::new(response_ids(ids, None)),
            legacy: self.endpoint == Endpoint::Completions,
        })
    }

    fn frame(&self, v: &Value) -> Bytes {
        sse_data(v)
    }

    fn done_frame(&self) -> Option<Bytes> {
        Some(Bytes::from_static(b"data: [DONE]\n\n"))
    }

    fn error_frame(&self, ids: &Ids) -> ErrorFrame {
        let ids = ids.clone();
        let endpoint = self.endpoint;
        Arc::new(move |e: &ApiError| {
            let legacy = endpoint == Endpoint::Completions;
            let chunk = errors::stream_error_chunk(e, &ids.id, &ids.model, ids.created, legacy);
            let mut b = sse_data(&chunk).to_vec();
            b.extend_from_slice(b"data: [DONE]\n\n");
            Bytes::from(b)
        })
    }
}

/// A same-dialect response, edited for the client, and its accounting.
pub(crate) fn relay_response(
    body: &Bytes,
    ids: &Ids,
    pricing: &Pricing,
) -> Result<(Bytes, Outcome), ApiError> {
    if let Some(done) = edit_response(body, ids, pricing) {
        return Ok(done);
    }
    // Not an object in the usual shape (or keys with escapes): the tree-based edit, which
    // also produces the right error for a body that is not JSON.
    let (v, outcome) = edit_response_value(body, ids, pricing)?;
    Ok((crate::http::respond::json_bytes(&v), outcome))
}

/// A same-dialect stream relay.
pub(crate) fn relay_stream(ids: &Ids) -> Box<dyn NativeStream> {
    Box::new(Passthrough {
        ids: ids.clone(),
        outcome: Outcome::default(),
        done: false,
    })
}

fn response_ids<'a>(ids: &'a Ids, cost_usd: Option<f64>) -> wire::ResponseIds<'a> {
    wire::ResponseIds {
        id: &ids.id,
        model: &ids.model,
        provider: &ids.provider,
        created: ids.created,
        cost_usd,
        include_reasoning: ids.include_reasoning,
        signer: ids.signer,
    }
}

/// Chat chunks, or for `/v1/completions` the same chunks in their `text_completion` form.
struct Encoder {
    chat: wire::ChunkEncoder,
    legacy: bool,
}

impl Encoder {
    fn push(&self, chunks: Vec<Value>, out: &mut Vec<Value>) {
        if self.legacy {
            out.extend(chunks.into_iter().filter_map(completions::chunk_from_chat));
        } else {
            out.extend(chunks);
        }
    }
}

impl HubEncoder for Encoder {
    fn event(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        if !self.legacy {
            return self.chat.encode(ev, out);
        }
        let mut chunks = Vec::new();
        self.chat.encode(ev, &mut chunks);
        self.push(chunks, out);
    }
    fn finish(&mut self, cost_usd: f64, out: &mut Vec<Value>) {
        let last = self.chat.finish_chunk(Some(cost_usd));
        self.push(vec![last], out);
    }
}

/// Relays an OpenAI-compatible stream: our id, served model and provider on every chunk,
/// `cost` added to the usage chunk, `[DONE]` held back for the end.
struct Passthrough {
    ids: Ids,
    outcome: Outcome,
    done: bool,
}

impl NativeStream for Passthrough {
    fn event(
        &mut self,
        ev: &SseEvent,
        pricing: &Pricing,
        out: &mut Vec<Value>,
    ) -> Result<(), ApiError> {
        if ev.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let mut v: Value = serde_json::from_str(&ev.data).map_err(|_| {
            providers::bad_body(
                &self.ids.provider,
                "stream chunk is not JSON",
                ev.data.as_bytes(),
            )
        })?;
        if let Some(err) = v.get("error") {
            let status = err.get("code").and_then(Value::as_u64).unwrap_or(502) as u16;
            return Err(providers::parse_error(
                ProviderKind::OpenAi,
                &self.ids.provider,
                if status >= 400 { status } else { 502 },
                ev.data.as_bytes(),
            ));
        }
        let cost = match v.get("usage").filter(|u| u.is_object()) {
            Some(u) => {
                self.outcome.usage = usage::from_value(Some(u));
                Some(pricing.prices.cost_pusd(&self.outcome.usage))
            }
            None => None,
        };
        rewrite(&mut v, &self.ids, cost);
        if let Some(Value::Array(choices)) = v.get_mut("choices") {
            for c in choices {
                if let Some(fr) = c
                    .get("finish_reason")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                {
                    c["native_finish_reason"] = json!(fr);
                    self.outcome.native_finish = Some(fr.clone());
                    self.outcome.finish = Some(fr);
                }
            }
        }
        out.push(v);
        Ok(())
    }

    fn end(&mut self, _out: &mut Vec<Value>) -> Result<(), ApiError> {
        if self.done || self.outcome.finish.is_some() {
            Ok(())
        } else {
            Err(crate::error::upstream_error(
                &self.ids.provider,
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

/// The client body with router-only fields removed, the upstream model name set and usage
/// requested on streams.
fn passthrough_body(
    body: &Value,
    raw: Option<&[u8]>,
    model: &str,
    stream: bool,
    dropped: Dropped<'_>,
) -> Bytes {
    let empty = Map::new();
    let base = body.as_object().unwrap_or(&empty);
    let mut set: Vec<(&str, Value)> = vec![("model", Value::String(model.to_string()))];
    if !base.contains_key("reasoning_effort") {
        if let Some(effort) = json_path::at(body, &["reasoning", "effort"]).and_then(Value::as_str)
        {
            set.push(("reasoning_effort", json!(effort)));
        }
    }
    if stream {
        let mut opts = match base.get("stream_options") {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        opts.insert("include_usage".into(), Value::Bool(true));
        set.push(("stream_options", Value::Object(opts)));
    }
    if let Some(messages) =
        crate::dialects::openai_chat::relay::messages_without_foreign_reasoning(body)
    {
        set.push(("messages", messages));
    }
    let skip = |k: &str| ROUTER_ONLY_FIELDS.contains(&k) || dropped.contains(k);
    crate::raw_json::edited_object(raw, body, &skip, &set)
}

/// The client's copy of a same-dialect chat/completions/embeddings response, edited without
/// building a tree: the upstream's fields are copied as raw JSON text except `id`, `model`,
/// `provider` (ours), `usage` (gains `cost`) and each choice's `native_finish_reason`.
/// `None` when the body is not an object of that usual shape.
pub(crate) fn edit_response(body: &[u8], ids: &Ids, pricing: &Pricing) -> Option<(Bytes, Outcome)> {
    use crate::raw_json::{key, object, put, put_raw, RawObject};
    let top: RawObject = object(body).ok()?;
    let mut usage = Usage::default();
    let mut finish = None;
    let mut out = Vec::with_capacity(body.len() + 160);
    out.push(b'{');
    let mut seen = (false, false, false);
    for (k, v) in &top.0 {
        match *k {
            "id" => {
                seen.0 = true;
                put(&mut out, k, ids.id.as_str());
            }
            "model" => {
                seen.1 = true;
                put(&mut out, k, ids.model.as_str());
            }
            "provider" => {
                seen.2 = true;
                put(&mut out, k, ids.provider.as_str());
            }
            "usage" if v.get().starts_with('{') => {
                let u: RawObject = object(v.get().as_bytes()).ok()?;
                usage = usage::from_raw(v.get())?;
                let cost = pusd_to_usd(pricing.prices.cost_pusd(&usage));
                key(&mut out, k);
                out.push(b'{');
                let mut costed = false;
                for (uk, uv) in &u.0 {
                    if *uk == "cost" {
                        if !std::mem::replace(&mut costed, true) {
                            put(&mut out, uk, &cost);
                        }
                    } else {
                        put_raw(&mut out, uk, uv);
                    }
                }
                if !costed {
                    put(&mut out, "cost", &cost);
                }
                out.push(b'}');
            }
            "choices" => {
                let choices: Vec<RawObject> = serde_json::from_str(v.get()).ok()?;
                key(&mut out, k);
                out.push(b'[');
                for (i, c) in choices.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let reason = c.get("finish_reason");
                    if i == 0 {
                        finish = reason
                            .and_then(|r| serde_json::from_str::<Option<String>>(r.get()).ok())
                            .flatten();
                    }
                    out.push(b'{');
                    for (ck, cv) in &c.0 {
                        put_raw(&mut out, ck, cv);
                    }
                    if let (Some(r), None) = (reason, c.get("native_finish_reason")) {
                        put_raw(&mut out, "native_finish_reason", r);
                    }
                    out.push(b'}');
                }
                out.push(b']');
            }
            _ => put_raw(&mut out, k, v),
        }
    }
    if !seen.0 {
        put(&mut out, "id", ids.id.as_str());
    }
    if !seen.1 {
        put(&mut out, "model", ids.model.as_str());
    }
    if !seen.2 {
        put(&mut out, "provider", ids.provider.as_str());
    }
    out.push(b'}');
    let outcome = Outcome {
        usage,
        finish: finish.clone(),
        native_finish: finish,
    };
    Some((Bytes::from(out), outcome))
}

/// [`edit_response`] on a `Value` tree: for bodies the raw edit does not handle.
pub(crate) fn edit_response_value(
    body: &[u8],
    ids: &Ids,
    pricing: &Pricing,
) -> Result<(Value, Outcome), ApiError> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|_| providers::bad_body(&ids.provider, "not JSON", body))?;
    if !v.is_object() {
        return Err(providers::bad_body(
            &ids.provider,
            "not a JSON object",
            body,
        ));
    }
    let usage = usage::from_value(v.get("usage"));
    let finish = json_path::pointer(&v, "/choices/0/finish_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    rewrite(&mut v, ids, Some(pricing.prices.cost_pusd(&usage)));
    if let Some(Value::Array(choices)) = v.get_mut("choices") {
        for c in choices {
            if let Some(fr) = c.get("finish_reason").cloned() {
                if c.get("native_finish_reason").is_none() {
                    c["native_finish_reason"] = fr;
                }
            }
        }
    }
    Ok((
        v,
        Outcome {
            usage,
            finish: finish.clone(),
            native_finish: finish,
        },
    ))
}

/// Sets our id, the served model id and provider; adds `usage.cost` when known.
fn rewrite(v: &mut Value, ids: &Ids, cost_pusd: Option<i64>) {
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(ids.id));
        o.insert("model".into(), json!(ids.model));
        o.insert("provider".into(), json!(ids.provider));
        if let (Some(cost), Some(u)) = (cost_pusd, o.get_mut("usage")) {
            if u.is_object() {
                u["cost"] = json!(pusd_to_usd(cost));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Ids {
        Ids {
            id: "gen-1".into(),
            requested: "oa/gpt-4o".into(),
            model: "oa/gpt-4o".into(),
            provider: "oa".into(),
            created: 0,
            include_reasoning: true,
            signer: crate::model::Dialect::OpenAi,
        }
    }

    /// The raw edit gives exactly what the tree edit gives, key order included.
    #[test]
    fn raw_response_edit_matches_the_tree_edit() {
        let cfg = crate::config::Config::parse(
            "[providers.oa]\nkind=\"openai\"\nbase_url=\"https://api.openai.com/v1\"\n",
        )
        .unwrap();
        let pricing = crate::catalog::pricing(&cfg, &cfg.providers["oa"], "gpt-4o");
        let bodies = [
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "h\u{e9} \"q\"\n", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}, "logprobs": null, "finish_reason": "tool_calls"},
                            {"index": 1, "message": {"role": "assistant", "content": "b"}, "finish_reason": "stop", "native_finish_reason": "end"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}},
                "system_fingerprint": "fp", "provider": "upstream"}),
            json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -2e-5]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
            json!({"choices": [{"finish_reason": null, "text": "x"}], "usage": null}),
            json!({"usage": {"prompt_tokens": 3, "cost": 1.5, "completion_tokens": 2.0, "prompt_tokens_details": null}}),
            json!({}),
        ];
        for body in bodies {
            let raw = serde_json::to_vec(&body).unwrap();
            let (fast, fast_outcome) = edit_response(&raw, &ids(), &pricing).expect("raw edit");
            let (tree, tree_outcome) = edit_response_value(&raw, &ids(), &pricing).unwrap();
            assert_eq!(
                serde_json::from_slice::<Value>(&fast).unwrap(),
                tree,
                "{body}"
            );
            assert_eq!(
                String::from_utf8(fast.to_vec()).unwrap(),
                serde_json::to_string(&tree).unwrap(),
                "same bytes, same key order"
            );
            assert_eq!(fast_outcome, tree_outcome);
        }
        for odd in [
            &b"[1]"[..],
            b"{\"choices\": [1]}",
            b"{\"a\\u0062\": 1}",
            b"nope",
        ] {
            assert!(edit_response(odd, &ids(), &pricing).is_none());
        }
    }

    #[test]
    fn passthrough_edits_fields_in_place_and_keeps_the_rest() {
        let body = json!({
            "model": "fast",
            "messages": [{"role": "user", "content": "hi"}],
            "models": ["a", "b"],
            "provider": {"order": ["x"]},
            "reasoning": {"effort": "high"},
            "top_k": 5,
            "stream_options": {"other": 1},
            "custom": {"kept": true}
        });
        let raw = serde_json::to_vec(&body).unwrap();
        let strict = Dropped::Default(crate::providers::params::NON_OPENAI_SAMPLING);
        let lax = Dropped::Default(&[]);
        for (stream, official) in [(true, strict), (false, lax)] {
            assert_eq!(
                passthrough_body(&body, Some(&raw), "gpt-4o", stream, official),
                passthrough_body(&body, None, "gpt-4o", stream, official),
                "the raw edit writes the same bytes as the tree edit"
            );
        }
        let out: Value =
            serde_json::from_slice(&passthrough_body(&body, None, "gpt-4o", true, strict)).unwrap();
        let keys: Vec<&str> = out
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "model",
                "messages",
                "stream_options",
                "custom",
                "reasoning_effort"
            ]
        );
        assert_eq!(out["model"], "gpt-4o");
        assert_eq!(
            out["stream_options"],
            json!({"other": 1, "include_usage": true})
        );
        assert_eq!(out["reasoning_effort"], "high");
        assert_eq!(out["custom"], json!({"kept": true}));

        let out: Value =
            serde_json::from_slice(&passthrough_body(&body, None, "llama", false, lax)).unwrap();
        assert_eq!(out["top_k"], 5, "non-OpenAI servers accept top_k");
        assert_eq!(
            out["stream_options"],
            json!({"other": 1}),
            "untouched unless streaming"
        );
    }
}
