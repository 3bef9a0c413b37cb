//! Anthropic errors, both directions: error `type` <-> HTTP status (one table), the error body
//! and in-stream `error` event we send, and the reading of an upstream's error answer.

use crate::error::{excerpt, upstream_error, ApiError, ErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};

/// Anthropic's error types and the status each comes with
/// (<https://docs.anthropic.com/en/api/errors>).
pub const TYPE_STATUS: &[(&str, u16)] = &[
    ("invalid_request_error", 400),
    ("authentication_error", 401),
    ("billing_error", 402),
    ("permission_error", 403),
    ("not_found_error", 404),
    ("request_too_large", 413),
    ("rate_limit_error", 429),
    ("api_error", 500),
    ("timeout_error", 504),
    ("overloaded_error", 529),
];

/// The status an error type stands for (errors inside a stream carry no status of their own).
pub fn status_for_type(error_type: &str) -> Option<u16> {
    TYPE_STATUS
        .iter()
        .find(|(t, _)| *t == error_type)
        .map(|&(_, s)| s)
}

/// The error type we send for an error.
pub fn error_type(e: &ApiError) -> &'static str {
    match e.kind {
        ErrorKind::BadRequest | ErrorKind::ContextLength => "invalid_request_error",
        ErrorKind::Unauthorized => "authentication_error",
        ErrorKind::PaymentRequired => "billing_error",
        ErrorKind::Forbidden => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::PayloadTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
        _ => "api_error",
    }
}

/// `{"type":"error","error":{"type","message"}}`: the error body, and the payload of the
/// `event: error` sent when a stream fails after it began.
pub fn error_body(e: &ApiError) -> Value {
    json!({"type": "error", "error": {"type": error_type(e), "message": e.message}})
}

#[derive(Deserialize)]
struct WireErrorEnvelope {
    error: WireError,
}

#[derive(Deserialize)]
pub struct WireError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// Maps a non-2xx answer (`{"type":"error","error":{"type","message"}}`) to an error.
pub fn parse_error(provider: &str, status: u16, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<WireErrorEnvelope>(body) {
        Ok(envelope) => api_error(provider, status, &envelope.error, body),
        Err(_) => {
            let text = excerpt(body, 200);
            let message = match text.trim() {
                "" => format!("HTTP {status} with an empty body"),
                t if t.starts_with('<') => format!("HTTP {status} (non-JSON body)"),
                t => format!("HTTP {status}: {t}"),
            };
            upstream_error(provider, status, message, body)
        }
    }
}

pub fn api_error(provider: &str, status: u16, error: &WireError, raw: &[u8]) -> ApiError {
    let message = if error.message.is_empty() {
        error.kind.clone()
    } else {
        error.message.clone()
    };
    let err = upstream_error(provider, status, message, raw);
    refine_kind(err, &error.kind)
}

/// Anthropic's error type is more precise than a generic status (an `overloaded_error` may come
/// with 500 or mid-stream with no status at all).
fn refine_kind(mut err: ApiError, error_type: &str) -> ApiError {
    let kind = match error_type {
        "overloaded_error" => ErrorKind::Overloaded,
        "rate_limit_error" => ErrorKind::RateLimited,
        "timeout_error" => ErrorKind::Timeout,
        _ => return err,
    };
    if err.kind != kind {
        err.kind = kind;
        let error_type = err.error_type();
        if let Some(Value::Object(meta)) = err.metadata.as_mut() {
            meta.insert("error_type".into(), error_type.into());
        }
    }
    err
}
