//! Connection limits: a cap on open connections (idle ones are closed first when it is
//! reached), and per-connection timeouts for headers, idle keep-alive and request-body
//! progress. A request in flight (including a response still streaming) is never cut by them.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// The limits, from `[server]` at start.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(s: &crate::config::ServerConfig) -> Self {
        Limits {
            header_timeout: Duration::from_secs(s.header_timeout_secs),
            idle_timeout: Duration::from_secs(s.idle_timeout_secs),
            body_timeout: Duration::from_secs(s.body_timeout_secs),
            max_connections: s.max_connections.max(1),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_config(&crate::config::ServerConfig::default())
    }
}

/// Under pressure, a connection is closed once it has done nothing this long (a socket just
/// accepted has its request read first).
const PRESSURE_GRACE: Duration = Duration::from_millis(250);

/// Milliseconds since the first call (0 is kept for "never").
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// The admission side, shared by the acceptor and every connection: permits for the cap and a
/// "pressure" signal that asks idle connections to close.
#[derive(Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
    pressure: Arc<watch::Sender<u64>>,
}

impl Admission {
    pub fn new(max: usize) -> Self {
        Admission {
            permits: Arc::new(Semaphore::new(max)),
            pressure: Arc::new(watch::channel(0).0),
        }
    }

    /// A permit for one more connection. When none is free, idle connections are asked to
    /// close and this waits for one of them (or any other) to end.
    pub async fn admit(&self) -> OwnedSemaphorePermit {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return p;
        }
        tracing::warn!("connection cap reached: closing idle connections");
        loop {
            self.pressure.send_modify(|n| *n = n.wrapping_add(1));
            tokio::select! {
                p = self.permits.clone().acquire_owned() => {
                    return p.expect("the semaphore is never closed");
                }
                // Connections that were too fresh to close at the last signal may be now.
                _ = tokio::time::sleep(PRESSURE_GRACE) => {}
            }
        }
    }

    pub fn open_connections(&self, max: usize) -> usize {
        max - self.permits.available_permits()
    }

    fn pressure(&self) -> watch::Receiver<u64> {
        self.pressure.subscribe()
    }
}

/// What one connection is doing, as its watchdog sees it.
#[derive(Default)]
pub struct ConnState {
    /// Requests whose response has not finished (or been dropped).
    active: AtomicU32,
    /// When the first byte of a request head arrived while none was in flight (0: none).
    head_started: AtomicU64,
    /// When the connection last became idle (opened, or its last response ended).
    idle_since: AtomicU64,
    /// Whether any request was ever received (a fresh silent socket gets the header timeout).
    served: AtomicU32,
}

/// Marks a request in flight until dropped (moved into the response body).
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(now_ms(), Ordering::Relaxed);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting when a request head starts arriving.
pub struct Watched<T> {
    inner: T,
    state: Arc<ConnState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before
            && self.state.active.load(Ordering::Acquire) == 0
            && self.state.head_started.load(Ordering::Relaxed) == 0
        {
            self.state.head_started.store(now_ms(), Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Wraps a fresh socket for watching.
pub fn watch_io<T>(io: T) -> (Watched<T>, Arc<ConnState>) {
    let state = Arc::new(ConnState::default());
    state.idle_since.store(now_ms(), Ordering::Relaxed);
    (
        Watched {
            inner: io,
            state: state.clone(),
        },
        state,
    )
}

/// Wraps one request for its connection: marks it in flight until its response body ends, and
/// bounds the time its body may go without progress.
pub fn track(
    state: &Arc<ConnState>,
    limits: &Limits,
    req: Request,
) -> (Request, impl FnOnce(Response) -> Response) {
    state.active.fetch_add(1, Ordering::AcqRel);
    state.head_started.store(0, Ordering::Relaxed);
    state.served.store(1, Ordering::Relaxed);
    let guard = InFlight(state.clone());
    let timeout = limits.body_timeout;
    let req = req.map(|b| {
        Body::new(Progress {
            inner: b,
            timeout,
            sleep: None,
        })
    });
    let finish = move |resp: Response| {
        resp.map(|b| {
            Body::new(Tracked {
                inner: b,
                _guard: guard,
            })
        })
    };
    (req, finish)
}

/// A response body holding its request's in-flight mark.
struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails after `timeout` without a frame.
struct Progress {
    inner: Body,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The error a stalled request body ends with.
#[derive(Debug)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request body made no progress for {} s",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyTimeout {}

impl HttpBody for Progress {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                this.sleep = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.sleep = None;
                        Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    HeaderTimeout,
    IdleTimeout,
    Pressure,
}

/// Resolves when the connection should be closed: its head is late, it sat idle too long, or
/// the cap asked idle connections to go. Never while a request is in flight.
pub async fn watchdog(state: Arc<ConnState>, limits: Limits, admission: Admission) -> Closed {
    let mut pressure = admission.pressure();
    pressure.mark_unchanged();
    loop {
        let now = now_ms();
        let idle = state.active.load(Ordering::Acquire) == 0;
        let wait = if !idle {
            limits.idle_timeout
        } else {
            let head = state.head_started.load(Ordering::Relaxed);
            let (from, limit, why) = if head != 0 {
                (head, limits.header_timeout, Closed::HeaderTimeout)
            } else if state.served.load(Ordering::Relaxed) == 0 {
                (
                    state.idle_since.load(Ordering::Relaxed),
                    limits.header_timeout,
                    Closed::HeaderTimeout,
                )
            } else {
                (
                    state.idle_since.load(Ordering::Relaxed),
                    limits.idle_timeout,
                    Closed::IdleTimeout,
                )
            };
            let deadline = from + limit.as_millis() as u64;
            if now >= deadline {
                return why;
            }
            Duration::from_millis(deadline - now)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = pressure.changed() => {
                let quiet_since = state
                    .idle_since
                    .load(Ordering::Relaxed)
                    .max(state.head_started.load(Ordering::Relaxed));
                if changed.is_ok()
                    && state.active.load(Ordering::Acquire) == 0
                    && now_ms().saturating_sub(quiet_since) >= PRESSURE_GRACE.as_millis() as u64
                {
                    return Closed::Pressure;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            body_timeout: Duration::from_millis(100),
            max_connections: 2,
        }
    }

    #[tokio::test]
    async fn silent_socket_gets_the_header_timeout_then_idle_after_a_request() {
        let state = Arc::new(ConnState::default());
        state.idle_since.store(now_ms(), Ordering::Relaxed);
        let adm = Admission::new(2);
        let t = Instant::now();
        assert_eq!(
            watchdog(state.clone(), limits(), adm.clone()).await,
            Closed::HeaderTimeout
        );
        assert!(t.elapsed() < Duration::from_millis(250));
        // A request in flight holds the connection past every timeout.
        let req = Request::new(Body::empty());
        let (_req, finish) = track(&state, &limits(), req);
        let dog = tokio::spawn(watchdog(state.clone(), limits(), adm.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!dog.is_finished());
        let resp = finish(Response::new(Body::empty()));
        drop(resp);
        let t = Instant::now();
        assert_eq!(dog.await.unwrap(), Closed::IdleTimeout);
        assert!(t.elapsed() >= Duration::from_millis(250));
    }

    #[tokio::test]
    async fn pressure_closes_idle_connections_only() {
        let adm = Admission::new(1);
        let busy = Arc::new(ConnState::default());
        let idle = Arc::new(ConnState::default());
        for s in [&busy, &idle] {
            s.idle_since.store(now_ms(), Ordering::Relaxed);
            s.served.store(1, Ordering::Relaxed);
        }
        tokio::time::sleep(PRESSURE_GRACE).await;
        let (_r, _finish) = track(&busy, &limits(), Request::new(Body::empty()));
        let mut l = limits();
        l.idle_timeout = Duration::from_secs(60);
        let busy_dog = tokio::spawn(watchdog(busy.clone(), l, adm.clone()));
        let idle_dog = tokio::spawn(watchdog(idle.clone(), l, adm.clone()));
        let first = adm.admit().await;
        tokio::task::yield_now().await;
        let second = tokio::spawn({
            let adm = adm.clone();
            async move { adm.admit().await }
        });
        assert_eq!(idle_dog.await.unwrap(), Closed::Pressure);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!busy_dog.is_finished());
        drop(first);
        let _permit = second.await.unwrap();
        busy_dog.abort();
    }

    #[tokio::test]
    async fn stalled_body_fails() {
        let (_tx, body) = {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
            (
                tx,
                Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
            )
        };
        let state = Arc::new(ConnState::default());
        let (req, _finish) = track(&state, &limits(), Request::new(body));
        let err = axum::body::to_bytes(req.into_body(), 1024)
            .await
            .unwrap_err();
        assert!(format!("{err:?}").contains("BodyTimeout"), "{err:?}");
    }
}
