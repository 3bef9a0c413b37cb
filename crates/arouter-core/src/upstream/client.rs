//! The upstream HTTP client: hyper's pooled client over rustls (HTTP/1.1, and HTTP/2 where
//! the provider offers it by ALPN), one per serving thread. A thin layer on purpose: per
//! request it builds one `http::Request` from parts the caller already has, with no URL
//! re-parsing, redirect bookkeeping or header-map copies on the request path.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A response whose body has not been read yet.
pub type Response = hyper::Response<Incoming>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A request body: nothing, bytes in hand, or a stream relayed as it arrives.
pub enum Body {
    Empty,
    Full(Option<Bytes>),
    Stream(BoxStream<'static, Result<Bytes, BoxError>>),
}

impl Body {
    pub fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            Body::Empty
        } else {
            Body::Full(Some(bytes))
        }
    }

    pub fn stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Body::Stream(stream.map(|r| r.map_err(Into::into)).boxed())
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(s) => s.poll_next_unpin(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

/// What went wrong below HTTP: the words `upstream::transport_error` turns into an ApiError.
#[derive(Debug)]
pub struct TransportError {
    pub kind: TransportKind,
    /// The innermost cause, for the message (never contains the URL).
    pub cause: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Timeout,
    /// The connection broke while the response body was being read.
    Body,
    Other,
}

impl TransportError {
    fn classify(kind: TransportKind, e: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause = e.to_string();
        let mut timed_out = false;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = cur {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
            }
            cause = s.to_string();
            cur = s.source();
        }
        TransportError {
            kind: if timed_out {
                TransportKind::Timeout
            } else {
                kind
            },
            cause,
        }
    }

    fn from_request(e: &hyper_util::client::legacy::Error) -> Self {
        let kind = if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        Self::classify(kind, e)
    }

    fn from_body(e: &hyper::Error) -> Self {
        Self::classify(TransportKind::Body, e)
    }
}

/// A pooled upstream client. Cheap to share by reference; each serving thread has its own so
/// its pooled connections are driven on that thread.
pub struct Client {
    inner: Inner,
    /// Clients for providers whose `connect_timeout_secs` is not the default, built on first
    /// use (the timeout lives in the connector).
    others: parking_lot::Mutex<Vec<(Duration, Inner)>>,
    user_agent: HeaderValue,
}

type Inner = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Body>;

impl Client {
    pub fn new() -> Self {
        Client {
            inner: Self::build(CONNECT_TIMEOUT),
            others: Default::default(),
            user_agent: HeaderValue::from_static(concat!("arouter/", env!("CARGO_PKG_VERSION"))),
        }
    }

    fn build(connect_timeout: Duration) -> Inner {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https)
    }

    /// Sends a request (connecting within the default 10 s) and resolves once the response
    /// head arrived.
    pub async fn send(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response, TransportError> {
        self.send_within(CONNECT_TIMEOUT, method, uri, headers, body)
            .await
    }

    /// [`Client::send`] with a connect timeout of its own (a provider's `connect_timeout_secs`).
    pub async fn send_within(
        &self,
        connect_timeout: Duration,
        method: Method,
        uri: Uri,
        mut headers: HeaderMap,
        body: Body,
    ) -> Result<Response, TransportError> {
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        let call = if connect_timeout == CONNECT_TIMEOUT {
            self.inner.request(req)
        } else {
            self.other(connect_timeout).request(req)
        };
        call.await.map_err(|e| TransportError::from_request(&e))
    }
}

impl Client {
    fn other(&self, connect_timeout: Duration) -> Inner {
        let mut others = self.others.lock();
        if let Some((_, c)) = others.iter().find(|(t, _)| *t == connect_timeout) {
            return c.clone();
        }
        let c = Self::build(connect_timeout);
        others.push((connect_timeout, c.clone()));
        c
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

/// The next data chunk of a response body (trailers skipped); `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Option<Result<Bytes, TransportError>> {
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(TransportError::from_body(&e))),
        }
    }
}

/// A response body as a stream of data chunks.
pub fn body_stream(body: Incoming) -> BoxStream<'static, Result<Bytes, TransportError>> {
    futures_util::stream::unfold(body, |mut body| async move {
        let item = next_chunk(&mut body).await?;
        Some((item, body))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider's own connect timeout gets a connector of its own, built once; the default
    /// one is the shared client.
    #[tokio::test]
    async fn connect_timeouts_other_than_the_default_get_their_own_client() {
        let client = Client::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let uri: Uri = format!("http://{addr}/").parse().unwrap();
        for secs in [3, 10, 3] {
            let resp = client
                .send_within(
                    Duration::from_secs(secs),
                    Method::GET,
                    uri.clone(),
                    HeaderMap::new(),
                    Body::full(Bytes::new()),
                )
                .await
                .unwrap();
            assert_eq!(resp.status(), 204);
        }
        let others = client.others.lock();
        assert_eq!(others.len(), 1, "one extra client, for 3 s, reused");
        assert_eq!(others[0].0, Duration::from_secs(3));
    }
}
