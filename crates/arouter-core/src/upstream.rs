//! All upstream HTTP in one place: send with connect / first-byte timeouts, map transport
//! failures and non-2xx answers to `ApiError`s that say which provider failed and why.

use crate::config::ProviderConfig;
use crate::error::{ApiError, ErrorKind};
use crate::providers::{self, UpstreamRequest};
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

/// Largest upstream error body read (the excerpt we keep is much shorter).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends a request; returns the response once a 2xx status arrived (body not read yet).
pub async fn send(
    http: &reqwest::Client,
    provider: &ProviderConfig,
    req: UpstreamRequest,
) -> Result<reqwest::Response, ApiError> {
    send_method(http, provider, reqwest::Method::POST, req).await
}

pub async fn send_method(
    http: &reqwest::Client,
    provider: &ProviderConfig,
    method: reqwest::Method,
    req: UpstreamRequest,
) -> Result<reqwest::Response, ApiError> {
    let mut headers = reqwest::header::HeaderMap::new();
    // Configured provider headers replace the adapter's defaults of the same name.
    let configured = provider
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()));
    for (name, value) in req
        .headers
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .chain(configured)
    {
        match (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                headers.insert(n, v);
            }
            _ => {
                tracing::warn!(provider = %provider.id, header = name, "skipping an invalid header")
            }
        }
    }
    let url = parsed_url(&req.url)
        .map_err(|e| ApiError::internal(format!("{}: invalid upstream URL: {e}", provider.id)))?;
    let rb = http.request(method, url).headers(headers).body(req.body);
    let first_byte = Duration::from_secs(provider.first_byte_timeout_secs);
    let resp = match tokio::time::timeout(first_byte, rb.send()).await {
        Err(_) => {
            return Err(ApiError::new(
                ErrorKind::Timeout,
                format!(
                    "{}: no response within {}s",
                    provider.id, provider.first_byte_timeout_secs
                ),
            )
            .with_metadata(meta(provider, "timeout")))
        }
        Ok(Err(e)) => return Err(transport_error(provider, &e)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = read_capped(resp, MAX_ERROR_BODY, provider)
        .await
        .unwrap_or_default();
    let mut err = providers::parse_error(provider.kind, &provider.id, status, &body);
    err.retry_after = retry_after;
    Err(err)
}

/// Upstream URLs seen so far, parsed. The request path asks for the same few (provider ×
/// endpoint) URLs again and again, and parsing one cost more than the rest of building the
/// request (≈3% of the router's CPU under load).
fn parsed_url(url: &str) -> Result<reqwest::Url, String> {
    /// Enough for every provider × endpoint × model in use; beyond it the cache starts over.
    const MAX_URLS: usize = 1024;
    static URLS: OnceLock<RwLock<HashMap<String, reqwest::Url>>> = OnceLock::new();
    let urls = URLS.get_or_init(Default::default);
    if let Some(u) = urls.read().get(url) {
        return Ok(u.clone());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let mut w = urls.write();
    if w.len() >= MAX_URLS {
        w.clear();
    }
    w.insert(url.to_string(), parsed.clone());
    Ok(parsed)
}

fn meta(provider: &ProviderConfig, error_type: &str) -> serde_json::Value {
    serde_json::json!({"provider_name": provider.id, "error_type": error_type})
}

/// A connect / TLS / reset failure, without the URL's query (which could hold a key).
pub fn transport_error(provider: &ProviderConfig, e: &reqwest::Error) -> ApiError {
    let what = if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the response"
    } else {
        "request failed"
    };
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Unavailable
    };
    let status = if e.is_timeout() { 504 } else { 502 };
    let mut source = String::new();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = cur {
        source = s.to_string();
        cur = s.source();
    }
    let message = if source.is_empty() {
        format!("{}: {what}", provider.id)
    } else {
        format!("{}: {what} ({source})", provider.id)
    };
    ApiError::new(kind, message)
        .with_status(status)
        .with_metadata(meta(
            provider,
            if e.is_timeout() {
                "timeout"
            } else {
                "connection"
            },
        ))
}

/// Reads a whole body, failing if the upstream goes quiet for longer than its idle timeout.
pub async fn read_body(
    resp: reqwest::Response,
    provider: &ProviderConfig,
) -> Result<Bytes, ApiError> {
    read_capped(resp, usize::MAX, provider).await
}

async fn read_capped(
    resp: reqwest::Response,
    cap: usize,
    provider: &ProviderConfig,
) -> Result<Bytes, ApiError> {
    let idle = Duration::from_secs(provider.idle_timeout_secs);
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => {
                return Err(ApiError::new(
                    ErrorKind::Timeout,
                    format!("{}: response stalled for {}s", provider.id, idle.as_secs()),
                )
                .with_metadata(meta(provider, "timeout")))
            }
            Ok(None) => return Ok(Bytes::from(buf)),
            Ok(Some(Err(e))) => return Err(transport_error(provider, &e)),
            Ok(Some(Ok(chunk))) => {
                if buf.is_empty() && chunk.len() >= cap {
                    return Ok(chunk.slice(..cap));
                }
                buf.extend_from_slice(&chunk);
                if buf.len() >= cap {
                    buf.truncate(cap);
                    return Ok(Bytes::from(buf));
                }
            }
        }
    }
}
