//! Google API errors, both directions: `error.status` codes <-> HTTP status (one table), the
//! error object we send, and the reading of an upstream's error answer (body, 2xx body or
//! stream element; `RetryInfo` becomes `Retry-After`).

use crate::error::{upstream_error, ApiError, ErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};

/// google.rpc.Code names and the HTTP status Google sends with each.
pub const CODE_STATUS: &[(&str, u16)] = &[
    ("INVALID_ARGUMENT", 400),
    ("FAILED_PRECONDITION", 400),
    ("OUT_OF_RANGE", 400),
    ("UNAUTHENTICATED", 401),
    ("PERMISSION_DENIED", 403),
    ("NOT_FOUND", 404),
    ("ABORTED", 409),
    ("ALREADY_EXISTS", 409),
    ("RESOURCE_EXHAUSTED", 429),
    ("CANCELLED", 499),
    ("INTERNAL", 500),
    ("UNKNOWN", 500),
    ("DATA_LOSS", 500),
    ("UNIMPLEMENTED", 501),
    ("UNAVAILABLE", 503),
    ("DEADLINE_EXCEEDED", 504),
];

/// The HTTP status of a `status` code (an error element inside a stream has no other).
pub fn status_for_code(code: &str) -> Option<u16> {
    CODE_STATUS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|&(_, s)| s)
}

/// The `status` code we send for an error.
pub fn status_code(e: &ApiError) -> &'static str {
    match e.kind {
        ErrorKind::BadRequest | ErrorKind::ContextLength | ErrorKind::PayloadTooLarge => {
            "INVALID_ARGUMENT"
        }
        ErrorKind::Unauthorized => "UNAUTHENTICATED",
        ErrorKind::PaymentRequired | ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
        ErrorKind::Forbidden => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "UNAVAILABLE",
        ErrorKind::Timeout => "DEADLINE_EXCEEDED",
        ErrorKind::NotImplemented => "UNIMPLEMENTED",
        _ => "INTERNAL",
    }
}

/// Google's error object, as a body or an in-stream element.
pub fn error_body(e: &ApiError) -> Value {
    json!({"error": {"code": e.status, "message": e.message, "status": status_code(e)}})
}

#[derive(Deserialize)]
pub struct GoogleError {
    code: Option<u16>,
    message: Option<String>,
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

/// Maps a non-2xx answer (`{"error":{"code","message","status","details"}}`, or the same inside
/// a one-element array as `streamGenerateContent` without `alt=sse` sends it).
pub fn parse_error(provider: &str, status: u16, body: &[u8]) -> ApiError {
    let value = serde_json::from_slice::<Value>(body).ok();
    let error = match &value {
        Some(Value::Array(items)) => items.first().and_then(|v| v.get("error")),
        Some(v) => v.get("error"),
        None => None,
    };
    match error {
        Some(error) => error_object(provider, Some(status), error, body),
        None => upstream_error(
            provider,
            status,
            format!("upstream answered HTTP {status}"),
            body,
        ),
    }
}

/// An error object from an error body, a 2xx body or a stream chunk.
pub fn error_object(provider: &str, status: Option<u16>, error: &Value, raw: &[u8]) -> ApiError {
    let fallback = status.filter(|s| *s >= 400).unwrap_or(502);
    match error {
        Value::Object(_) => match GoogleError::deserialize(error) {
            Ok(e) => google_error(provider, status, e, raw),
            Err(_) => upstream_error(provider, fallback, "upstream sent an error".into(), raw),
        },
        Value::String(message) => upstream_error(provider, fallback, message.clone(), raw),
        _ => upstream_error(provider, fallback, "upstream sent an error".into(), raw),
    }
}

fn google_error(provider: &str, http: Option<u16>, error: GoogleError, raw: &[u8]) -> ApiError {
    let status = http
        .filter(|s| *s >= 400)
        .or(error.code.filter(|c| *c >= 400))
        .or_else(|| error.status.as_deref().and_then(status_for_code))
        .unwrap_or(502);
    let message = error
        .message
        .clone()
        .filter(|m| !m.is_empty())
        .or_else(|| error.status.clone())
        .unwrap_or_else(|| format!("upstream answered HTTP {status}"));
    let mut err = upstream_error(provider, status, message.clone(), raw);
    err.retry_after = retry_delay(&error.details);
    let lower = message.to_ascii_lowercase();
    if err.kind == ErrorKind::BadRequest
        && (lower.contains("exceeds the maximum number of tokens")
            || lower.contains("input token count"))
    {
        set_kind(&mut err, ErrorKind::ContextLength);
    }
    err
}

fn set_kind(err: &mut ApiError, kind: ErrorKind) {
    err.kind = kind;
    let error_type = err.error_type();
    if let Some(Value::Object(meta)) = &mut err.metadata {
        meta.insert("error_type".into(), Value::String(error_type.into()));
    }
}

/// Seconds from a `google.rpc.RetryInfo` detail (`"retryDelay": "37s"` or `"1.5s"`), rounded up.
pub fn retry_delay(details: &[Value]) -> Option<u64> {
    details.iter().find_map(|d| {
        let delay = d.get("retryDelay")?.as_str()?.strip_suffix('s')?;
        let secs: f64 = delay.parse().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| secs.ceil() as u64)
    })
}
