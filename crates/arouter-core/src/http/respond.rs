//! Response helpers shared by every surface: errors in each vendor's shape, JSON bodies with a
//! size limit, and the committed-or-not SSE response with keep-alive comments.

use crate::dialects;
use crate::error::{ApiError, ErrorKind};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Which API dialect a route speaks, for error rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    OpenAi,
    /// OpenAI's own `{"error":{message,type,param,code}}` (the Responses API's clients read
    /// string codes such as `rate_limit_exceeded`).
    OpenAiResponses,
    Anthropic,
    Gemini,
}

impl Surface {
    /// The wire dialect this surface speaks.
    pub fn dialect(self) -> crate::model::Dialect {
        use crate::model::Dialect;
        match self {
            Surface::OpenAi => Dialect::OpenAi,
            Surface::OpenAiResponses => Dialect::OpenAiResponses,
            Surface::Anthropic => Dialect::Anthropic,
            Surface::Gemini => Dialect::Gemini,
        }
    }

    /// The error body in this dialect (each dialect's `errors::error_body`).
    pub fn error_body(self, e: &ApiError) -> Value {
        match self {
            Surface::OpenAi => dialects::openai_chat::errors::error_body(e),
            Surface::OpenAiResponses => dialects::openai_responses::errors::error_body(e),
            Surface::Anthropic => dialects::anthropic::errors::error_body(e),
            Surface::Gemini => dialects::gemini::errors::error_body(e),
        }
    }

    pub fn error(self, e: &ApiError) -> Response {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut resp = (status, json_response(&self.error_body(e))).into_response();
        if let Some(secs) = e.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// The answer for a path no route serves (in Gemini's shape under `/v1beta`).
pub async fn not_found(req: Request) -> Response {
    let surface = if req.uri().path().starts_with("/v1beta") {
        Surface::Gemini
    } else {
        Surface::OpenAi
    };
    surface.error(&ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.uri().path()
    )))
}

/// A JSON response body without an intermediate `Value` clone.
pub fn json_response(v: &Value) -> Response {
    json_bytes_response(json_bytes(v))
}

/// A value serialized once, to be both sent and stored.
pub fn json_bytes(v: &Value) -> Bytes {
    serde_json::to_vec(v)
        .unwrap_or_else(|_| b"{}".to_vec())
        .into()
}

/// A response carrying already-serialized JSON.
pub fn json_bytes_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Reads a request body up to `limit` bytes and parses it as JSON. Too big → 413; not JSON
/// → 400 with the parser's position.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ApiError> {
    read_json_raw(headers, body, limit).await.map(|(v, _)| v)
}

/// [`read_json`], also returning the bytes as received (for the ledger's stored content).
pub async fn read_json_raw(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(Value, Bytes), ApiError> {
    let bytes = read_bytes(headers, body, limit).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "Request body is empty; expected a JSON object",
        ));
    }
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("Request body must be a JSON object"));
    }
    Ok((v, bytes))
}

pub async fn read_bytes(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_big = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "Request body is larger than the {} MiB limit",
                limit / (1024 * 1024)
            ),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_big());
        }
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let debug = format!("{e:?}");
        if debug.contains("LengthLimit") || e.to_string().contains("length limit") {
            too_big()
        } else if debug.contains("BodyTimeout") {
            ApiError::new(ErrorKind::Timeout, format!("Request body stalled: {e}")).with_status(408)
        } else {
            ApiError::bad_request(format!("Could not read the request body: {e}"))
        }
    })
}

/// What a streaming driver sends towards the client.
pub enum Out {
    /// Ready-to-send SSE bytes.
    Frame(Bytes),
    /// A terminal failure; rendered as an HTTP error if nothing was sent yet, else in-stream.
    Fail(ApiError),
}

pub type ErrorFrame = Arc<dyn Fn(&ApiError) -> Bytes + Send + Sync>;

/// The future producing a stream's items into its channel (a request's attempts and relay).
pub type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A driver polled together with the channel it fills, inside the task that consumes the
/// channel: a stream needs no task of its own, so no frame crosses threads on its way out.
struct Driven {
    driver: Option<Driver>,
    rx: mpsc::Receiver<Out>,
}

impl Driven {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Out>> {
        if let Some(d) = self.driver.as_mut() {
            if d.as_mut().poll(cx).is_ready() {
                self.driver = None;
            }
        }
        self.rx.poll_recv(cx)
    }
}

/// Turns a driver and its channel into the response. Waits up to `keepalive` for the first
/// item so an early failure keeps its HTTP status; after that commits to
/// `200 text/event-stream` and sends `: AROUTER PROCESSING` comments until the first frame.
/// The response body polls the driver: a client that goes away drops it (and the upstream).
pub async fn sse_response(
    surface: Surface,
    driver: Driver,
    rx: mpsc::Receiver<Out>,
    keepalive: Duration,
    error_frame: ErrorFrame,
    mut headers: HeaderMap,
) -> Response {
    let mut driven = Driven {
        driver: Some(driver),
        rx,
    };
    let first =
        tokio::time::timeout(keepalive, std::future::poll_fn(|cx| driven.poll_next(cx))).await;
    let pending = match first {
        Ok(Some(Out::Fail(e))) => {
            let mut resp = surface.error(&e);
            resp.headers_mut().extend(headers);
            return resp;
        }
        Ok(None) => {
            return surface.error(&ApiError::internal("stream ended before it began"));
        }
        Ok(Some(frame)) => Some(frame),
        Err(_) => None,
    };
    let mut body = SseBody {
        driven,
        pending,
        waiting: None,
        keepalive,
        error_frame,
    };
    if body.pending.is_none() {
        body.waiting = Some(Box::pin(tokio::time::sleep(keepalive)));
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let stream = futures_util::stream::poll_fn(move |cx| body.poll_frame(cx));
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().extend(headers);
    resp
}

/// The body of a committed stream.
struct SseBody {
    driven: Driven,
    /// The first item, already received.
    pending: Option<Out>,
    /// Until the first frame: when the next keep-alive comment is due.
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
    keepalive: Duration,
    error_frame: ErrorFrame,
}

impl SseBody {
    fn render(&self, o: Out) -> Bytes {
        match o {
            Out::Frame(b) => b,
            Out::Fail(e) => (self.error_frame)(&e),
        }
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, std::convert::Infallible>>> {
        if let Some(o) = self.pending.take() {
            return Poll::Ready(Some(Ok(self.render(o))));
        }
        match self.driven.poll_next(cx) {
            Poll::Ready(Some(o)) => {
                self.waiting = None;
                Poll::Ready(Some(Ok(self.render(o))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let Some(sleep) = self.waiting.as_mut() else {
                    return Poll::Pending;
                };
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let next = tokio::time::Instant::now() + self.keepalive;
                sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(Bytes::from_static(b": AROUTER PROCESSING\n\n"))))
            }
        }
    }
}

/// `data: <json>\n\n`
pub fn sse_data(v: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut buf, v);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// `event: <name>\ndata: <json>\n\n`
pub fn sse_event(name: &str, v: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut buf, v);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}
