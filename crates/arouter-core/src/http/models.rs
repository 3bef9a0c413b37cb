//! Model listing (OpenRouter's model object; Anthropic's list shape on request), single model
//! lookup, and the generation / stored-completion lookups.

use super::authed::{Authed, GeminiApi, ModelsApi, OpenAiApi};
use super::respond::{json_response, Surface};
use crate::app::App;
use crate::catalog::{self, pusd_to_decimal, ModelInfo, Pricing};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::store::UsageRecord;
use axum::extract::FromRequestParts;
use axum::extract::{Path, Request, State};
use axum::http::Uri;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

pub use crate::catalog::routable;

fn supported_parameters(info: Option<&ModelInfo>) -> Vec<&str> {
    if let Some(i) = info.filter(|i| !i.supported_parameters().is_empty()) {
        return i
            .supported_parameters()
            .iter()
            .map(String::as_str)
            .collect();
    }
    let mut v = vec![
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "frequency_penalty",
        "presence_penalty",
    ];
    if let Some(i) = info {
        if i.has("tools") {
            v.extend(["tools", "tool_choice"]);
        }
        if i.has("json_schema") || i.has("json_object") {
            v.push("response_format");
        }
        if i.has("json_schema") {
            v.push("structured_outputs");
        }
        if i.has("reasoning") {
            v.extend(["reasoning", "include_reasoning"]);
        }
    }
    v
}

/// OpenRouter's model object (plus OpenAI's `object` / `owned_by`).
pub fn model_object(id: &str, pricing: &Pricing, provider: &str) -> Value {
    let info = pricing.info;
    let vision = info.is_some_and(|i| i.has("vision"));
    let inputs: Vec<&str> = if vision {
        vec!["text", "image"]
    } else {
        vec!["text"]
    };
    let p = &pricing.prices;
    json!({
        "id": id,
        "canonical_slug": info.map_or(id, |i| i.id.as_str()),
        "name": info.map_or_else(|| id.to_string(), |i| i.name.clone()),
        "object": "model",
        "created": 0,
        "owned_by": provider,
        "description": "",
        "context_length": pricing.context_length,
        "architecture": {
            "modality": if vision { "text+image->text" } else { "text->text" },
            "input_modalities": inputs,
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": null,
        },
        "pricing": {
            "prompt": pusd_to_decimal(p.input),
            "completion": pusd_to_decimal(p.output),
            "request": pusd_to_decimal(p.per_request),
            "image": pusd_to_decimal(p.per_image),
            "web_search": "0",
            "internal_reasoning": pusd_to_decimal(p.reasoning.unwrap_or(0)),
            "input_cache_read": pusd_to_decimal(p.cache_read),
            "input_cache_write": pusd_to_decimal(p.cache_write),
        },
        "priced": pricing.priced,
        "top_provider": {
            "context_length": pricing.context_length,
            "max_completion_tokens": pricing.max_output,
            "is_moderated": false,
        },
        "per_request_limits": null,
        "supported_parameters": supported_parameters(info),
    })
}

/// `GET /v1/models`: OpenRouter's list, Anthropic's when the client sends `anthropic-version`
/// (the anthropic SDKs always do), Gemini's when it authenticates with `x-goog-api-key` (as
/// google-genai does).
pub async fn list(uri: Uri, Authed { ctx, surface, .. }: Authed<ModelsApi>) -> Response {
    let anthropic = surface == Surface::Anthropic;
    let gemini = surface == Surface::Gemini;
    if gemini {
        return ctx.finish(json_response(&crate::surfaces::gemini::list_body(&ctx.cfg)));
    }
    // Codex (`GET /models?client_version=…`) decodes its own `{"models": [...]}` shape and
    // fails on OpenAI's list; an empty list makes it use its built-in model defaults.
    let codex = crate::query::param(uri.query(), "client_version").is_some();
    if codex {
        return ctx.finish(json_response(&json!({"models": []})));
    }
    let models = routable(&ctx.cfg);
    let body = if anthropic {
        let data: Vec<Value> = models
            .iter()
            .map(|(id, (p, _))| {
                json!({
                    "type": "model",
                    "id": id,
                    "display_name": p.info.as_ref().map_or(id.as_str(), |i| i.name.as_str()),
                    "created_at": "1970-01-01T00:00:00Z",
                })
            })
            .collect();
        json!({
            "data": data,
            "has_more": false,
            "first_id": models.keys().next(),
            "last_id": models.keys().last(),
        })
    } else {
        let data: Vec<Value> = models
            .iter()
            .map(|(id, (p, provider))| model_object(id, p, provider))
            .collect();
        json!({"object": "list", "data": data})
    };
    ctx.finish(json_response(&body))
}

pub async fn get_one(
    State(app): State<Arc<App>>,
    Path(rest): Path<String>,
    req: Request,
) -> Response {
    // `{model}:method` paths, and google-genai clients (which send x-goog-api-key), speak Gemini.
    let gemini = rest.contains(':') || req.headers().contains_key("x-goog-api-key");
    let (mut parts, body) = req.into_parts();
    if gemini {
        return match Authed::<GeminiApi>::from_request_parts(&mut parts, &app).await {
            Ok(authed) => {
                crate::surfaces::gemini::handle(authed, parts.method, parts.uri, body).await
            }
            Err(r) => r,
        };
    }
    let ctx = match Authed::<OpenAiApi>::from_request_parts(&mut parts, &app).await {
        Ok(a) => a.ctx,
        Err(r) => return r,
    };
    let models = routable(&ctx.cfg);
    let resp = match models.get(rest.as_str()) {
        Some((p, provider)) => json_response(&model_object(&rest, p, provider)),
        None => match rest
            .split_once('/')
            .and_then(|(p, m)| Some((ctx.cfg.providers.get(p)?, m)))
        {
            Some((provider, m)) => {
                let pricing = catalog::pricing(&ctx.cfg, provider, m);
                json_response(&model_object(&rest, &pricing, &provider.id))
            }
            None => {
                Surface::OpenAi.error(&ApiError::not_found(format!("Model \"{rest}\" not found")))
            }
        },
    };
    ctx.finish(resp)
}

/// Reads a ledger row off the async threads; app keys see only their own requests.
pub(crate) async fn load_visible(ctx: &Ctx, id: &str) -> Result<UsageRecord, ApiError> {
    let store = ctx.app.store.clone();
    let id_owned = id.to_string();
    let row = tokio::task::spawn_blocking(move || {
        store.load_generation(&id_owned).or_else(|| {
            // The writer batches; a lookup right after the response may beat it.
            store.flush();
            store.load_generation(&id_owned)
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    match row {
        Some(r) if ctx.caller.key.admin || r.key_hash == ctx.caller.key.hash => Ok(r),
        _ => Err(ApiError::not_found(format!(
            "Generation \"{id}\" not found"
        ))),
    }
}

pub async fn generation(Authed { ctx, .. }: Authed<OpenAiApi>, uri: Uri) -> Response {
    let id = crate::query::param(uri.query(), "id").map(|v| v.into_owned());
    let Some(id) = id else {
        return ctx
            .finish(Surface::OpenAi.error(&ApiError::bad_request("id: required query parameter")));
    };
    let resp = match load_visible(&ctx, &id).await {
        Ok(r) => json_response(&json!({ "data": generation_object(&r) })),
        Err(e) => Surface::OpenAi.error(&e),
    };
    ctx.finish(resp)
}

/// OpenRouter's generation object.
pub fn generation_object(r: &UsageRecord) -> Value {
    let u = &r.usage;
    json!({
        "id": r.id,
        "created_at": r.created_ms,
        "model": r.served_model,
        "requested_model": r.requested_model,
        "provider_name": r.provider,
        "app": r.app,
        "origin": r.app,
        "api_type": r.endpoint,
        "surface": r.surface,
        "streamed": r.streamed,
        "latency": r.latency_ms,
        "generation_time": r.latency_ms - r.ttft_ms.unwrap_or(0).min(r.latency_ms),
        "time_to_first_token": r.ttft_ms,
        "tokens_prompt": u.input_tokens,
        "tokens_completion": u.output_tokens,
        "native_tokens_prompt": u.input_tokens,
        "native_tokens_completion": u.output_tokens,
        "native_tokens_reasoning": u.reasoning_tokens,
        "native_tokens_cached": u.cache_read_tokens,
        "native_tokens_cache_write": u.cache_write_tokens,
        "total_cost": catalog::pusd_to_usd(r.cost_pusd),
        "usage": catalog::pusd_to_usd(r.cost_pusd),
        "priced": r.priced,
        "estimated": r.estimated,
        "finish_reason": r.finish_reason,
        "native_finish_reason": r.native_finish_reason,
        "status": r.status,
        "error": r.error,
    })
}

pub async fn stored_completion(
    Authed { ctx, .. }: Authed<OpenAiApi>,
    Path(id): Path<String>,
) -> Response {
    let resp = match load_visible(&ctx, &id).await {
        Ok(r) => match (r.request_body, r.response_body) {
            (Some(request), response) => json_response(&json!({
                "request": request.to_value(),
                "response": response.map(|r| r.to_value()),
            })),
            _ => Surface::OpenAi.error(&ApiError::not_found(format!(
                "Generation \"{id}\" has no stored content (server.store_content is off)"
            ))),
        },
        Err(e) => Surface::OpenAi.error(&e),
    };
    ctx.finish(resp)
}
