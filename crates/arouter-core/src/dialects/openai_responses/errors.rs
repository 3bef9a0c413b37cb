//! Errors in OpenAI's shape: the `{"error":{message,type,param,code}}` body, the `error` of a
//! `response.failed` event, and upstream Responses errors back to `ApiError`. Codex acts on the
//! codes `context_length_exceeded`, `insufficient_quota` and `rate_limit_exceeded` (the last
//! with "try again in Ns" in the message), so those are always set where they apply.

use crate::error::{upstream_error, ApiError, ErrorKind};
use serde_json::{json, Value};

/// OpenAI's `error.type` and `error.code` for an error. An upstream's own code is kept.
pub fn type_and_code(err: &ApiError) -> (&'static str, Option<String>) {
    let upstream_code = err
        .metadata
        .as_ref()
        .and_then(|m| m.get("code"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (kind, code) = match err.kind {
        ErrorKind::BadRequest | ErrorKind::PayloadTooLarge => ("invalid_request_error", None),
        ErrorKind::ContextLength => ("invalid_request_error", Some("context_length_exceeded")),
        ErrorKind::Unauthorized => ("authentication_error", Some("invalid_api_key")),
        ErrorKind::PaymentRequired => ("insufficient_quota", Some("insufficient_quota")),
        ErrorKind::Forbidden => ("permission_error", None),
        ErrorKind::NotFound => ("invalid_request_error", Some("not_found")),
        ErrorKind::RateLimited => ("requests", Some("rate_limit_exceeded")),
        ErrorKind::NotImplemented => ("invalid_request_error", Some("unsupported")),
        ErrorKind::Timeout => ("server_error", Some("timeout")),
        ErrorKind::UpstreamError
        | ErrorKind::Overloaded
        | ErrorKind::Unavailable
        | ErrorKind::Internal => ("server_error", Some("server_error")),
    };
    (kind, upstream_code.or(code.map(str::to_string)))
}

/// The message, with OpenAI's "Please try again in Ns." on rate limits (Codex reads the delay).
pub fn message(err: &ApiError) -> String {
    if err.kind == ErrorKind::RateLimited && !err.message.contains("try again in") {
        let secs = err.retry_after.unwrap_or(1);
        return format!("{} Please try again in {secs}s.", err.message);
    }
    err.message.clone()
}

/// `{"error":{message,type,param,code}}` for a non-2xx answer.
pub fn error_body(err: &ApiError) -> Value {
    let (kind, code) = type_and_code(err);
    let param = err
        .metadata
        .as_ref()
        .and_then(|m| m.get("param"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({"error": {"message": message(err), "type": kind, "param": param, "code": code}})
}

/// The `error` of a failed response object: `{code, message}`.
pub fn response_error(err: &ApiError) -> Value {
    let (_, code) = type_and_code(err);
    json!({"code": code.unwrap_or_else(|| "server_error".into()), "message": message(err)})
}

/// A non-2xx answer from a Responses upstream.
pub fn parse_error(provider: &str, status: u16, body: &[u8]) -> ApiError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("upstream answered {status}"));
    with_code(upstream_error(provider, status, message, body), err)
}

/// The error of a `response.failed` event or a stream `error` event (`{code, message}`).
pub fn from_failed(provider: &str, error: Option<&Value>, raw: &[u8]) -> ApiError {
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("the upstream response failed")
        .to_string();
    let status = match code {
        Some("context_length_exceeded") | Some("invalid_prompt") => 400,
        Some("insufficient_quota") => 402,
        Some("rate_limit_exceeded") => 429,
        _ => 502,
    };
    with_code(upstream_error(provider, status, message, raw), error)
}

/// Keeps an OpenAI error's string `code` (and `param`) so callers see OpenAI's own vocabulary.
/// The kind still follows the HTTP status (a 429 `insufficient_quota` may fall back to another
/// provider), except that a context overflow is never retried elsewhere as is.
pub fn with_code(mut e: ApiError, error: Option<&Value>) -> ApiError {
    let code = error.and_then(|e| e.get("code")).filter(|c| c.is_string());
    if code.and_then(Value::as_str) == Some("context_length_exceeded") {
        e.kind = ErrorKind::ContextLength;
    }
    if let (Some(meta), Some(code)) = (e.metadata.as_mut().and_then(Value::as_object_mut), code) {
        meta.insert("code".into(), code.clone());
        if let Some(param) = error.and_then(|e| e.get("param")).filter(|p| !p.is_null()) {
            meta.insert("param".into(), param.clone());
        }
    }
    e
}
