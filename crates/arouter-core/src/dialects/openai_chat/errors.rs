//! OpenAI / OpenRouter errors, both directions: the body we send
//! (`{"error":{"code":<status>,"message","metadata"}}`), the in-stream error chunk, and the
//! reading of an upstream's error answer (OpenAI, OpenRouter, Ollama, vLLM shapes).

use crate::error::{upstream_error, ApiError};
use serde_json::{json, Value};

/// OpenRouter's error body: `{"error":{"code":<status>,"message",...}}`.
pub fn error_body(err: &ApiError) -> Value {
    json!({ "error": error_object(err) })
}

pub fn error_object(err: &ApiError) -> Value {
    let mut e = json!({"code": err.status, "message": err.message});
    if let Some(meta) = &err.metadata {
        e["metadata"] = meta.clone();
    }
    e
}

/// A mid-stream failure as OpenRouter sends it: a chunk with a top-level `error` and
/// `finish_reason: "error"`, then `[DONE]`. `legacy` is `/v1/completions` (`text_completion`).
pub fn stream_error_chunk(
    err: &ApiError,
    id: &str,
    model: &str,
    created: i64,
    legacy: bool,
) -> Value {
    let (object, choice) = if legacy {
        (
            "text_completion",
            json!({"index": 0, "text": "", "finish_reason": "error"}),
        )
    } else {
        (
            "chat.completion.chunk",
            json!({"index": 0, "delta": {"content": ""}, "finish_reason": "error"}),
        )
    };
    json!({
        "id": id,
        "object": object,
        "created": created,
        "model": model,
        "error": error_object(err),
        "choices": [choice],
    })
}

/// Maps a non-2xx answer: OpenAI `{"error":{"message","type","code"}}`, OpenRouter
/// `{"error":{"code":<int>,"message"}}`, `{"error":"…"}` (Ollama), `{"message"}` (vLLM).
pub fn parse_error(provider: &str, status: u16, body: &[u8]) -> ApiError {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return upstream_error(provider, status, fallback_message(status, body), body);
    };
    match v.get("error").filter(|e| !e.is_null()) {
        Some(err) => error_from_value(provider, status, err, body),
        None => {
            let message = ["message", "detail"]
                .iter()
                .find_map(|k| v.get(*k).and_then(Value::as_str))
                .map(str::to_string)
                .unwrap_or_else(|| fallback_message(status, body));
            upstream_error(provider, status, message, body)
        }
    }
}

/// An `error` value (object or string). An integer `code` that is an HTTP status (OpenRouter)
/// overrides `status` when the transport status says nothing (2xx bodies, stream chunks).
pub fn error_from_value(provider: &str, status: u16, err: &Value, raw: &[u8]) -> ApiError {
    let message = match err {
        Value::String(s) => s.clone(),
        _ => err
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| fallback_message(status, raw)),
    };
    let code = err
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c));
    let status = match code {
        Some(code) if status < 400 || status == 502 => code,
        _ => status,
    };
    crate::dialects::openai_responses::errors::with_code(
        upstream_error(provider, status, message, raw),
        Some(err),
    )
}

fn fallback_message(status: u16, body: &[u8]) -> String {
    let text = crate::error::excerpt(body, 200);
    if text.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        text
    }
}
