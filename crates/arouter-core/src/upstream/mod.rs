//! All upstream HTTP in one place: send with connect / first-byte timeouts, map transport
//! failures and non-2xx answers to `ApiError`s that say which provider failed and why.

pub mod client;

pub use client::{body_stream, next_chunk, Body, Client, Response, TransportError, TransportKind};

use crate::config::ProviderConfig;
use crate::error::{ApiError, ErrorKind};
use crate::providers::{self, UpstreamRequest};
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};
use parking_lot::RwLock;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

thread_local! {
    /// Which serving thread this is (`None` off the serving threads).
    static SERVING_THREAD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks the calling thread as serving thread `index` (it then uses its own client).
pub fn set_serving_thread(index: usize) {
    SERVING_THREAD.with(|t| t.set(Some(index)));
}

/// How many serving threads the server runs: `AROUTER_HTTP_THREADS`, else one per core.
pub fn serving_threads() -> usize {
    std::env::var("AROUTER_HTTP_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(64)
}

/// Upstream clients: one per serving thread (its pooled connections are driven on that
/// thread), then one shared by every other thread.
pub struct Clients(Vec<Client>);

impl Clients {
    pub fn new(serving_threads: usize) -> Self {
        Clients((0..=serving_threads).map(|_| Client::new()).collect())
    }

    /// The calling thread's client.
    pub fn get(&self) -> &Client {
        let last = self.0.len() - 1;
        let i = SERVING_THREAD.with(Cell::get).map_or(last, |i| i.min(last));
        &self.0[i]
    }
}

/// Largest upstream error body read (the excerpt we keep is much shorter).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends a request; returns the response once a 2xx status arrived (body not read yet).
pub async fn send(
    http: &Client,
    provider: &ProviderConfig,
    req: &UpstreamRequest,
) -> Result<Response, ApiError> {
    send_method(http, provider, Method::POST, req).await
}

pub async fn send_method(
    http: &Client,
    provider: &ProviderConfig,
    method: Method,
    req: &UpstreamRequest,
) -> Result<Response, ApiError> {
    let mut headers = HeaderMap::with_capacity(req.headers.len() + provider.headers.len() + 2);
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
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                headers.insert(n, v);
            }
            _ => {
                tracing::warn!(provider = %provider.id, header = name, "skipping an invalid header")
            }
        }
    }
    let uri = parsed_uri(&req.url)
        .map_err(|e| ApiError::internal(format!("{}: invalid upstream URL: {e}", provider.id)))?;
    let resp = exchange(
        http,
        provider,
        method,
        uri,
        headers,
        Body::full(req.body.clone()),
    )
    .await?;
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

/// Sends and waits for the response head within the provider's first-byte timeout; transport
/// failures become `ApiError`s naming the provider. Any status is returned as is.
pub async fn exchange(
    http: &Client,
    provider: &ProviderConfig,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let first_byte = Duration::from_secs(provider.first_byte_timeout_secs);
    let connect = Duration::from_secs(provider.connect_timeout_secs);
    let send = http.send_within(connect, method, uri, headers, body);
    match tokio::time::timeout(first_byte, send).await {
        Err(_) => Err(ApiError::new(
            ErrorKind::Timeout,
            format!(
                "{}: no response within {}s",
                provider.id, provider.first_byte_timeout_secs
            ),
        )
        .with_metadata(meta(provider, "timeout"))),
        Ok(Err(e)) => Err(transport_error(provider, &e)),
        Ok(Ok(r)) => Ok(r),
    }
}

/// Upstream URLs seen so far, parsed. The request path asks for the same few (provider ×
/// endpoint) URLs again and again; a cached `Uri` is cloned by reference counts.
pub fn parsed_uri(url: &str) -> Result<Uri, String> {
    /// Enough for every provider × endpoint × model in use; beyond it the cache starts over.
    const MAX_URLS: usize = 1024;
    static URLS: OnceLock<RwLock<HashMap<String, Uri>>> = OnceLock::new();
    let urls = URLS.get_or_init(Default::default);
    if let Some(u) = urls.read().get(url) {
        return Ok(u.clone());
    }
    let parsed = parse_uri(url)?;
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

/// An absolute http(s) URL as a `Uri` (what the client needs: scheme, host, path and query).
pub fn parse_uri(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(uri),
        _ => Err(format!("not an absolute http(s) URL: {url}")),
    }
}

/// A connect / TLS / reset failure, without the URL (whose query could hold a key).
pub fn transport_error(provider: &ProviderConfig, e: &TransportError) -> ApiError {
    let timeout = e.kind == TransportKind::Timeout;
    let what = match e.kind {
        TransportKind::Connect => "could not connect",
        TransportKind::Timeout => "timed out",
        TransportKind::Body => "connection dropped while reading the response",
        TransportKind::Other => "request failed",
    };
    let message = if e.cause.is_empty() {
        format!("{}: {what}", provider.id)
    } else {
        format!("{}: {what} ({})", provider.id, e.cause)
    };
    ApiError::new(
        if timeout {
            ErrorKind::Timeout
        } else {
            ErrorKind::Unavailable
        },
        message,
    )
    .with_status(if timeout { 504 } else { 502 })
    .with_metadata(meta(
        provider,
        if timeout { "timeout" } else { "connection" },
    ))
}

/// The largest whole (non-streamed) upstream answer held in memory; a larger one fails.
/// Generous: a big embeddings batch in JSON floats runs to ~100 MiB.
pub const MAX_UNARY_BODY: usize = 256 << 20;

/// Reads a whole body, failing if the upstream goes quiet for longer than its idle timeout or
/// sends more than [`MAX_UNARY_BODY`] bytes (502).
pub async fn read_body(resp: Response, provider: &ProviderConfig) -> Result<Bytes, ApiError> {
    let body = read_capped(resp, MAX_UNARY_BODY + 1, provider).await?;
    if body.len() > MAX_UNARY_BODY {
        return Err(ApiError::new(
            ErrorKind::UpstreamError,
            format!(
                "{}: response larger than {} MiB",
                provider.id,
                MAX_UNARY_BODY >> 20
            ),
        )
        .with_status(502)
        .with_metadata(meta(provider, "response_too_large")));
    }
    Ok(body)
}

async fn read_capped(
    resp: Response,
    cap: usize,
    provider: &ProviderConfig,
) -> Result<Bytes, ApiError> {
    let idle = Duration::from_secs(provider.idle_timeout_secs);
    let mut body = resp.into_body();
    // Most bodies arrive in one chunk: keep it as is, copy only when a second one comes.
    let mut first: Option<Bytes> = None;
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout(idle, next_chunk(&mut body)).await {
            Err(_) => {
                return Err(ApiError::new(
                    ErrorKind::Timeout,
                    format!("{}: response stalled for {}s", provider.id, idle.as_secs()),
                )
                .with_metadata(meta(provider, "timeout")))
            }
            Ok(None) => {
                return Ok(match first {
                    Some(b) => b,
                    None => Bytes::from(buf),
                })
            }
            Ok(Some(Err(e))) => return Err(transport_error(provider, &e)),
            Ok(Some(Ok(chunk))) => {
                if buf.is_empty() && first.is_none() {
                    if chunk.len() >= cap {
                        return Ok(chunk.slice(..cap));
                    }
                    first = Some(chunk);
                    continue;
                }
                if let Some(f) = first.take() {
                    buf.extend_from_slice(&f);
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
