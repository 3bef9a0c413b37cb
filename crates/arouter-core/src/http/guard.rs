//! The browser-facing guards and the last line of defence: which surface a caller speaks (for
//! errors answered before any handler runs), the Host and Origin rules, path checks, 405s, and
//! the catch-panic layer that turns a panic into a 500 in the caller's error shape.

use super::respond::Surface;
use crate::error::{ApiError, ErrorKind};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::FutureExt;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The error shape a request expects, judged from its path and headers alone (no handler has
/// run): Gemini for `/v1beta…` or `x-goog-api-key`, Anthropic for `…/v1/messages…` or an
/// `anthropic-version` header, OpenAI otherwise.
pub fn surface_of(path: &str, headers: &HeaderMap) -> Surface {
    surface_from(path, HeaderHint::of(headers))
}

/// The headers that name a caller's dialect, read before a request is handed on (its headers
/// go with it) so the surface can be worked out later, only if an error needs it.
#[derive(Clone, Copy)]
pub struct HeaderHint {
    goog_key: bool,
    anthropic_version: bool,
}

impl HeaderHint {
    pub fn of(headers: &HeaderMap) -> Self {
        HeaderHint {
            goog_key: headers.contains_key("x-goog-api-key"),
            anthropic_version: headers.contains_key("anthropic-version"),
        }
    }
}

fn surface_from(path: &str, hint: HeaderHint) -> Surface {
    if path.starts_with("/v1beta") || path.contains("/v1beta/") || hint.goog_key {
        Surface::Gemini
    } else if path.contains("/v1/messages") || hint.anthropic_version {
        Surface::Anthropic
    } else {
        Surface::OpenAi
    }
}

/// Is this `Host` header (or origin host) a loopback name?
pub fn is_loopback_host(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    let h = h.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h == "::1"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The `Host` check against DNS rebinding. `Err` carries the text to show. A header that is
/// present but not visible ASCII is refused (it used to read as absent, and pass). Besides
/// loopback names and the bind address, the names in `allowed` pass (public mode's
/// `[server] allowed_hosts`), with or without a port.
pub fn check_host(headers: &HeaderMap, bind_host: &str, allowed: &[String]) -> Result<(), String> {
    let mut values = headers.get_all(axum::http::header::HOST).iter();
    let Some(value) = values.next() else {
        return Ok(());
    };
    if values.next().is_some() {
        return Err("more than one Host header".into());
    }
    let Ok(host) = value.to_str() else {
        return Err("the Host header is not ASCII".into());
    };
    let name = host_name(host);
    if host.is_empty()
        || is_loopback_host(host)
        || (bind_host != "0.0.0.0" && host.split(':').next() == Some(bind_host))
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
    {
        Ok(())
    } else if allowed.is_empty() {
        Err(format!(
            "Host \"{host}\" is not allowed: ARouter only answers to loopback names"
        ))
    } else {
        Err(format!(
            "Host \"{host}\" is not allowed: not a loopback name nor in [server] allowed_hosts"
        ))
    }
}

/// A Host header's name without its port (`[::1]:8402` -> `::1`), lowercased, no final dot.
fn host_name(host: &str) -> String {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// Origins granted CORS: only the desktop window's own (Tauri serves its pages from
/// `tauri://localhost` on macOS and Linux, `http(s)://tauri.localhost` on Windows; the
/// "not running" page from the `arouter` scheme). The web UI is same-origin and needs none.
pub fn origin_allowed(origin: &str) -> bool {
    matches!(
        origin,
        "tauri://localhost"
            | "http://tauri.localhost"
            | "https://tauri.localhost"
            | "arouter://localhost"
            | "http://arouter.localhost"
            | "https://arouter.localhost"
    )
}

/// A path whose percent-decoding is not UTF-8, or has a bad escape, is refused here in the
/// caller's shape, so no `Path<String>` extractor downstream can reject it as plain text.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    match crate::query::decode_path(path) {
        Ok(_) => Ok(()),
        Err(crate::query::DecodeError::BadEscape) => Err("the path has a bad %-escape"),
        Err(crate::query::DecodeError::NotUtf8) => Err("the path is not UTF-8 once decoded"),
    }
}

/// The provider proxy's path after `/{provider}`: no `.` or `..` segment (raw or
/// percent-encoded) and no empty segment, so a request can never leave the provider's base
/// URL (with the credential attached) once an upstream normalises the path.
pub fn check_proxy_rest(rest: &str) -> Result<(), ApiError> {
    let decoded = crate::query::decode_path(rest)
        .map_err(|_| ApiError::bad_request("the path has a bad %-escape"))?;
    let segments: Vec<&str> = decoded
        .strip_prefix('/')
        .unwrap_or(&decoded)
        .split('/')
        .collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        if *seg == "." || *seg == ".." || seg.contains('\\') || (seg.is_empty() && i != last) {
            return Err(ApiError::bad_request(format!(
                "the proxied path \"{rest}\" has an empty, \".\" or \"..\" segment"
            )));
        }
    }
    Ok(())
}

/// An error answered by the guards, in the shape `surface` expects.
pub fn refuse(
    surface: Surface,
    kind: ErrorKind,
    status: u16,
    message: impl Into<String>,
) -> Response {
    surface.error(&ApiError::new(kind, message).with_status(status))
}

/// The router's 405 handler: the caller's shape instead of an empty body.
pub async fn method_not_allowed(req: Request) -> Response {
    let surface = surface_of(req.uri().path(), req.headers());
    refuse(
        surface,
        ErrorKind::BadRequest,
        405,
        format!(
            "Method {} is not allowed on {}",
            req.method(),
            req.uri().path()
        ),
    )
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Runs one request through the router, catching panics: a panic in a handler answers 500 in
/// the caller's shape (the connection stays up); a panic while a streamed body is produced ends
/// that body with an error. The server calls this per request; it is not an axum layer, which
/// would cost a boxed service call on every request.
pub async fn catch_panic(router: axum::Router, req: Request) -> Response {
    // Only what a panic report needs, cheaply: the surface and text are worked out on a panic.
    let (method, uri, hint) = (
        req.method().clone(),
        req.uri().clone(),
        HeaderHint::of(req.headers()),
    );
    match AssertUnwindSafe(tower::ServiceExt::oneshot(router, req))
        .catch_unwind()
        .await
    {
        Ok(Ok(resp)) => fused(resp),
        Ok(Err(never)) => match never {},
        Err(p) => {
            let path = uri.path();
            tracing::error!("panic while serving {method} {path}: {}", panic_text(&*p));
            let mut resp = refuse(
                surface_from(path, hint),
                ErrorKind::Internal,
                500,
                "internal error in ARouter (logged)",
            );
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            resp
        }
    }
}

/// A body of known size is bytes already in memory, with nothing left to panic; any other gets
/// the fuse.
fn fused(resp: Response) -> Response {
    if resp.body().size_hint().exact().is_some() {
        return resp;
    }
    resp.map(|b| {
        Body::new(PanicFuse {
            inner: b,
            done: false,
        })
    })
}

/// A response body that turns a panic in its producer into an error frame.
struct PanicFuse {
    inner: Body,
    done: bool,
}

impl HttpBody for PanicFuse {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        match std::panic::catch_unwind(AssertUnwindSafe(|| {
            Pin::new(&mut this.inner).poll_frame(cx)
        })) {
            Ok(p) => p,
            Err(p) => {
                this.done = true;
                tracing::error!("panic while streaming a response: {}", panic_text(&*p));
                Poll::Ready(Some(Err(axum::Error::new("response body panicked"))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;

    #[test]
    fn loopback_hosts_and_origins() {
        for h in [
            "localhost",
            "localhost:8402",
            "127.0.0.1:8402",
            "[::1]:8402",
            "127.0.0.2",
            "app.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.com",
            "evil.com:8402",
            "192.168.1.2",
            "localhost.evil.com",
            "127.0.0.1.evil.com",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(origin_allowed("tauri://localhost"));
        assert!(origin_allowed("http://tauri.localhost"));
        assert!(!origin_allowed("http://127.0.0.1:8402"));
        assert!(!origin_allowed("http://localhost:3000"));
        assert!(!origin_allowed("https://evil.com"));
    }

    #[test]
    fn non_ascii_host_is_refused() {
        let mut h = HeaderMap::new();
        assert!(check_host(&h, "127.0.0.1", &[]).is_ok());
        h.insert("host", "127.0.0.1:8402".parse().unwrap());
        assert!(check_host(&h, "127.0.0.1", &[]).is_ok());
        h.insert(
            "host",
            axum::http::HeaderValue::from_bytes(b"\xe9vil.com").unwrap(),
        );
        assert!(check_host(&h, "127.0.0.1", &[]).is_err());
        h.insert("host", "evil.com".parse().unwrap());
        assert!(check_host(&h, "127.0.0.1", &[]).is_err());
        h.insert("host", "10.0.0.5:1".parse().unwrap());
        assert!(check_host(&h, "10.0.0.5", &[]).is_ok());
        assert!(check_host(&h, "0.0.0.0", &[]).is_err());
    }

    #[test]
    fn public_mode_takes_the_allowed_hosts() {
        let allowed = vec!["router.team.internal".to_string(), "10.0.0.5".to_string()];
        let mut h = HeaderMap::new();
        for ok in [
            "router.team.internal",
            "Router.Team.Internal.:8402",
            "10.0.0.5:8402",
            "localhost:1",
        ] {
            h.insert("host", ok.parse().unwrap());
            assert!(check_host(&h, "0.0.0.0", &allowed).is_ok(), "{ok}");
        }
        for bad in ["evil.com", "router.team.internal.evil.com", "10.0.0.6"] {
            h.insert("host", bad.parse().unwrap());
            let why = check_host(&h, "0.0.0.0", &allowed).unwrap_err();
            assert!(why.contains("allowed_hosts"), "{why}");
        }
    }

    #[test]
    fn surfaces_from_paths() {
        let h = HeaderMap::new();
        assert_eq!(surface_of("/v1/messages", &h), Surface::Anthropic);
        assert_eq!(
            surface_of("/ant/v1/messages/batches", &h),
            Surface::Anthropic
        );
        assert_eq!(
            surface_of("/v1beta/models/x:generateContent", &h),
            Surface::Gemini
        );
        assert_eq!(surface_of("/v1/chat/completions", &h), Surface::OpenAi);
        assert!(check_path("/v1/models/oa%2Fgpt").is_ok());
        assert!(check_path("/v1/models/%FF").is_err());
        assert!(check_path("/v1/models/%G1").is_err());
        assert!(check_proxy_rest("/v1/chat/completions").is_ok());
        assert!(check_proxy_rest("/v1beta/models/gemini:generateContent").is_ok());
        assert!(check_proxy_rest("").is_ok());
        assert!(check_proxy_rest("/v1/").is_ok());
        for bad in [
            "/../x",
            "/v1/%2e%2e/x",
            "/v1/%2E%2E%2Fx",
            "//evil.com/x",
            "/./x",
            "/a%5c..%5cb",
        ] {
            assert!(check_proxy_rest(bad).is_err(), "{bad}");
        }
    }

    async fn call(router: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::builder().uri(path).body(Body::empty()).unwrap();
        let resp = catch_panic(router, req).await;
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await;
        let v = body
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null);
        (status, v)
    }

    #[tokio::test]
    async fn panics_answer_500_in_the_callers_shape() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        async fn stream_boom() -> Response {
            let s = futures_util::stream::iter([0u8, 1]).map(|i| {
                if i == 1 {
                    panic!("mid-stream");
                }
                Ok::<_, std::io::Error>(Bytes::from_static(b"data: x\n\n"))
            });
            Response::new(Body::from_stream(s))
        }
        use futures_util::StreamExt;
        let router = Router::new()
            .route("/v1/messages", get(boom))
            .route("/v1/chat/completions", get(boom))
            .route("/v1beta/models/x", get(boom))
            .route("/stream", get(stream_boom));
        let (s, v) = call(router.clone(), "/v1/messages").await;
        assert_eq!(s, 500);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "api_error");
        let (s, v) = call(router.clone(), "/v1/chat/completions").await;
        assert_eq!(s, 500);
        assert_eq!(v["error"]["code"], 500);
        let (s, v) = call(router.clone(), "/v1beta/models/x").await;
        assert_eq!(s, 500);
        assert_eq!(v["error"]["status"], "INTERNAL");
        let req = Request::builder()
            .uri("/stream")
            .body(Body::empty())
            .unwrap();
        let resp = catch_panic(router, req).await;
        assert_eq!(resp.status(), 200);
        assert!(axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .is_err());
    }

    /// Over a real socket: the panicking request gets its 500 and the same keep-alive
    /// connection then serves the next request.
    #[tokio::test]
    async fn a_panic_keeps_the_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        async fn boom() -> &'static str {
            panic!("boom")
        }
        async fn fine() -> &'static str {
            "fine"
        }
        let inner = Router::new()
            .route("/v1/chat/completions", get(boom))
            .route("/ok", get(fine));
        // As the server calls it: every request through `catch_panic`.
        let router = Router::new().fallback_service(tower::service_fn(move |req: Request| {
            let inner = inner.clone();
            async move { Ok::<_, std::convert::Infallible>(catch_panic(inner, req).await) }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let read_response = async |sock: &mut tokio::net::TcpStream| {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n =
                    tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut chunk))
                        .await
                        .expect("an answer")
                        .unwrap();
                assert!(
                    n > 0,
                    "connection closed: {}",
                    String::from_utf8_lossy(&buf)
                );
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        return text;
                    }
                }
            }
        };
        sock.write_all(b"GET /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let first = read_response(&mut sock).await;
        assert!(first.starts_with("HTTP/1.1 500"), "{first}");
        assert!(
            !first.to_ascii_lowercase().contains("connection: close"),
            "{first}"
        );
        sock.write_all(b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let second = read_response(&mut sock).await;
        assert!(second.starts_with("HTTP/1.1 200"), "{second}");
        assert!(second.ends_with("fine"), "{second}");
    }
}
