//! Errors of the request path: one type, one place that maps kinds to HTTP status and to each
//! surface's vendor error vocabulary.

use serde_json::Value;

/// What went wrong, independent of which API surface renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    PaymentRequired,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ContextLength,
    UpstreamError,
    Overloaded,
    Unavailable,
    Timeout,
    Internal,
    NotImplemented,
}

/// An error as returned to a client, in any surface's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    /// HTTP status sent to the client (an upstream's own status is kept when relayed).
    pub status: u16,
    pub message: String,
    /// OpenRouter-style `metadata` (provider_name, raw excerpt, error_type, attempts…).
    pub metadata: Option<Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            status: kind.default_status(),
            message: message.into(),
            metadata: None,
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// OpenRouter's `metadata.error_type` vocabulary.
    pub fn error_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::BadRequest => "invalid_request",
            ErrorKind::Unauthorized => "authentication",
            ErrorKind::PaymentRequired => "insufficient_credits",
            ErrorKind::Forbidden => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_exceeded",
            ErrorKind::ContextLength => "context_length_exceeded",
            ErrorKind::UpstreamError => "provider_error",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Unavailable => "no_provider_available",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
            ErrorKind::NotImplemented => "not_implemented",
        }
    }

    /// Whether a router may try the next candidate after this failure.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::RateLimited
                | ErrorKind::UpstreamError
                | ErrorKind::Overloaded
                | ErrorKind::Unavailable
                | ErrorKind::Timeout
        ) || (self.kind == ErrorKind::Unauthorized && self.is_upstream())
            || self.status == 408
    }

    fn is_upstream(&self) -> bool {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("provider_name"))
            .is_some()
    }
}

impl ErrorKind {
    pub fn default_status(self) -> u16 {
        match self {
            ErrorKind::BadRequest | ErrorKind::ContextLength => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::PaymentRequired => 402,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::UpstreamError => 502,
            ErrorKind::Overloaded | ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Internal => 500,
            ErrorKind::NotImplemented => 501,
        }
    }

    /// The kind an upstream HTTP status means.
    pub fn from_upstream_status(status: u16) -> Self {
        match status {
            400 | 422 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::PaymentRequired,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            413 => ErrorKind::PayloadTooLarge,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            _ => ErrorKind::UpstreamError,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

/// Builds the error for an upstream's non-2xx answer: keeps the upstream status, names the
/// provider, and carries a short excerpt of the body (never request headers, so never a key).
pub fn upstream_error(provider: &str, status: u16, message: String, raw: &[u8]) -> ApiError {
    let mut kind = ErrorKind::from_upstream_status(status);
    let lower = message.to_ascii_lowercase();
    if kind == ErrorKind::BadRequest
        && (lower.contains("context length")
            || lower.contains("context_length")
            || lower.contains("too long")
            || lower.contains("maximum context"))
    {
        kind = ErrorKind::ContextLength;
    }
    let excerpt = excerpt(raw, 500);
    let err = ApiError {
        kind,
        status: if status >= 400 { status } else { 502 },
        message: format!("{provider}: {message}"),
        metadata: None,
        retry_after: None,
    };
    let error_type = err.error_type();
    err.with_metadata(serde_json::json!({
        "provider_name": provider,
        "error_type": error_type,
        "raw": excerpt,
    }))
}

/// The first `max` bytes of a body as lossy UTF-8, on a char boundary.
pub fn excerpt(raw: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(&raw[..raw.len().min(max)]);
    s.trim_end_matches('\u{FFFD}').to_string()
}
