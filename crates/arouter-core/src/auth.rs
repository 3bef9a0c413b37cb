//! Caller authentication (Bearer, x-api-key, x-goog-api-key or `?key=`), per-app attribution
//! and the rate-limit check with its response headers.

use crate::app::App;
use crate::error::{ApiError, ErrorKind};
use crate::limits::RateDecision;
use crate::store::{hash_key, KeyInfo};
use axum::http::{HeaderMap, HeaderValue};
use std::sync::Arc;

/// `X-RateLimit-Limit` / `-Remaining` for a key without a rate limit (u32::MAX).
pub const UNLIMITED_RATE: u32 = u32::MAX;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: KeyInfo,
    /// The app the request is attributed to: the key's name, refined by `X-Title` /
    /// `HTTP-Referer`.
    pub app: String,
    pub rate: RateDecision,
}

/// The raw key from any of the four accepted places.
pub fn extract_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<String> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim();
        if !token.is_empty() {
            return Some(token.to_string());
        }
    }
    for h in ["x-api-key", "x-goog-api-key"] {
        if let Some(v) = headers.get(h).and_then(|v| v.to_str().ok()) {
            if !v.trim().is_empty() {
                return Some(v.trim().to_string());
            }
        }
    }
    crate::query::param(query, "key")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A refused request: the error, and the rate decision when the key's rate limit refused it
/// (its 429 carries the `X-RateLimit-*` headers too).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: ApiError,
    pub rate: Option<RateDecision>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal { error, rate: None }
    }
}

/// Authenticates a request; `admin_only` for management endpoints. Counts the request against
/// the key's rate limit.
pub async fn authenticate(
    app: &Arc<App>,
    headers: &HeaderMap,
    query: Option<&str>,
    admin_only: bool,
) -> Result<Caller, Refusal> {
    let raw = extract_key(headers, query).ok_or_else(|| {
        Refusal::from(ApiError::new(
            ErrorKind::Unauthorized,
            "No API key: send it as 'Authorization: Bearer KEY', 'x-api-key', 'x-goog-api-key' or '?key='",
        ))
    })?;
    let hash = hash_key(&raw);
    let key = match app.store.find_key(&hash) {
        Some(k) => k,
        None => {
            // A key created a moment ago by the CLI: re-read (unless it already missed since the
            // keys last changed), off the async threads.
            let store = app.store.clone();
            let h = hash.clone();
            tokio::task::spawn_blocking(move || store.find_key_or_reload(&h))
                .await
                .ok()
                .flatten()
                .ok_or_else(|| ApiError::new(ErrorKind::Unauthorized, "Invalid API key"))?
        }
    };
    if key.disabled {
        return Err(ApiError::new(ErrorKind::Unauthorized, "This API key is disabled").into());
    }
    if admin_only && !key.admin {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "This endpoint needs an admin key (arouter keys create --admin)",
        )
        .into());
    }
    let shared = key.rpm.and_then(|rpm| app.store.rate_admit(&key.hash, rpm));
    let rate = match shared {
        Some(decision) => decision.await.map_err(|e| {
            tracing::warn!(error = %e, "cannot check the rate limit in the database");
            Refusal::from(ApiError::new(
                ErrorKind::Unavailable,
                "The rate-limit store is unavailable; try again",
            ))
        })?,
        None => app.limiter.check(&key.hash, key.rpm),
    };
    if !rate.allowed {
        app.metrics
            .refused(&key.name, crate::metrics::Refusal::RateLimit);
        let mut e = ApiError::new(
            ErrorKind::RateLimited,
            format!(
                "Rate limit exceeded: {} requests per minute for this key",
                rate.limit.unwrap_or(0)
            ),
        );
        e.retry_after = Some(rate.retry_after_secs());
        return Err(Refusal {
            error: e,
            rate: Some(rate),
        });
    }
    let app_name = attribution(&key.name, headers);
    Ok(Caller {
        key,
        app: app_name,
        rate,
    })
}

/// `X-Title` names the app; else the host of `HTTP-Referer`; else the key's name.
fn attribution(key_name: &str, headers: &HeaderMap) -> String {
    let get = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(t) = get("x-title") {
        return t.chars().take(100).collect();
    }
    if let Some(r) = get("http-referer").or_else(|| get("referer")) {
        let host = r.split_once("://").map_or(r, |(_, rest)| rest);
        let host = host.split('/').next().unwrap_or(host);
        if !host.is_empty() {
            return host.chars().take(100).collect();
        }
    }
    key_name.to_string()
}

/// The `X-RateLimit-*` headers for a decision.
pub fn rate_headers(rate: &RateDecision, headers: &mut HeaderMap) {
    let (limit, remaining) = match rate.limit {
        Some(l) => (HeaderValue::from(l), HeaderValue::from(rate.remaining)),
        // Clients parse these as integers: a key without a limit sends the largest one.
        None => (
            HeaderValue::from(UNLIMITED_RATE),
            HeaderValue::from(UNLIMITED_RATE),
        ),
    };
    headers.insert("x-ratelimit-limit", limit);
    headers.insert("x-ratelimit-remaining", remaining);
    headers.insert("x-ratelimit-reset", HeaderValue::from(rate.reset_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_all_four_places() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer sk-1".parse().unwrap());
        assert_eq!(extract_key(&h, None).as_deref(), Some("sk-1"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "sk-2".parse().unwrap());
        assert_eq!(extract_key(&h, None).as_deref(), Some("sk-2"));
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", "sk-3".parse().unwrap());
        assert_eq!(extract_key(&h, None).as_deref(), Some("sk-3"));
        let h = HeaderMap::new();
        assert_eq!(
            extract_key(&h, Some("alt=sse&key=sk-4")).as_deref(),
            Some("sk-4")
        );
        assert_eq!(extract_key(&h, Some("alt=sse")), None);
        assert_eq!(extract_key(&h, Some("key=a%2Bb")).as_deref(), Some("a+b"));
        // An escape cut by a multi-byte character used to slice a str mid-character.
        assert_eq!(
            extract_key(&h, Some("key=%\u{e9}x")).as_deref(),
            Some("%\u{e9}x")
        );
        assert_eq!(
            extract_key(&h, Some("key=%a\u{e9}")).as_deref(),
            Some("%a\u{e9}")
        );
    }

    #[test]
    fn attribution_prefers_title_then_referer_host() {
        let mut h = HeaderMap::new();
        assert_eq!(attribution("k", &h), "k");
        h.insert("http-referer", "https://cursor.sh/x".parse().unwrap());
        assert_eq!(attribution("k", &h), "cursor.sh");
        h.insert("x-title", "My App".parse().unwrap());
        assert_eq!(attribution("k", &h), "My App");
    }
}
