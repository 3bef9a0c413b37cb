//! Thread-per-core serving: one task accepts connections and hands each to one of N
//! single-threaded runtimes (round robin), which serves it to the end. A request, its upstream
//! call (each serving thread has its own upstream client and connection pool) and its stream
//! relay all run on one thread, so no wake-up crosses threads on the request path; a
//! work-stealing runtime paid futex wake-ups and context switches for that on every request.

use super::conn::{self, Admission, Limits};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

pub use crate::upstream::serving_threads as thread_count;

/// A socket handed to a serving thread, with its slot under the connection cap.
type Incoming = (
    std::net::TcpStream,
    std::net::SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// every open connection to finish its in-flight requests.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    threads: usize,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let admission = Admission::new(limits.max_connections);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut queues = Vec::with_capacity(threads);
    let mut finished = Vec::with_capacity(threads);
    for index in 0..threads {
        let (tx, rx) = mpsc::unbounded_channel::<Incoming>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let router = router.clone();
        let stop = stop_rx.clone();
        let admission = admission.clone();
        let tls = tls.clone();
        std::thread::Builder::new()
            .name(format!("arouter-http-{index}"))
            .spawn(move || {
                crate::upstream::set_serving_thread(index);
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => {
                        rt.block_on(serve_thread(router, rx, stop, limits, admission, tls));
                        // Idle pooled upstream connections end with the runtime; a keychain
                        // call stuck in its blocking pool must not hold up the exit.
                        rt.shutdown_timeout(std::time::Duration::from_secs(1));
                    }
                    Err(e) => tracing::error!("serving thread {index} could not start: {e}"),
                }
                let _ = done_tx.send(());
            })?;
        queues.push(tx);
        finished.push(done_rx);
    }
    tokio::pin!(shutdown);
    let mut next = 0usize;
    loop {
        // The cap: wait for a free slot (idle connections are asked to make one) before
        // taking another socket off the backlog.
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = admission.admit() => p,
        };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let _ = queues[next % threads].send((stream, peer, permit));
        next = next.wrapping_add(1);
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(queues);
    for done in finished {
        let _ = done.await;
    }
    Ok(())
}

/// One serving thread: serves the connections it is handed until told to stop, then lets
/// them finish what they are doing.
async fn serve_thread(
    router: Router,
    mut incoming: mpsc::UnboundedReceiver<Incoming>,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
    admission: Admission,
    tls: Option<TlsAcceptor>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // Bounds header size and count; hyper's own header timer stays off (the watchdog times
    // heads and idle keep-alive separately).
    builder.http1().max_buf_size(64 * 1024);
    loop {
        let stream = tokio::select! {
            _ = stop.wait_for(|&s| s) => break,
            s = incoming.recv() => match s {
                Some(s) => s,
                None => break,
            },
        };
        let (stream, peer, permit) = stream;
        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
            continue;
        };
        if let Some(tls) = &tls {
            // The handshake runs in the connection's own task, within the header timeout.
            let (tls, graceful) = (tls.clone(), graceful.watcher());
            let (router, builder, admission) = (router.clone(), builder.clone(), admission.clone());
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(limits.header_timeout, tls.accept(stream));
                match handshake.await {
                    Ok(Ok(stream)) => {
                        let conn = serve_conn(stream, peer, &router, &builder, limits, admission);
                        conn(graceful).await;
                    }
                    Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
                drop(permit);
            });
            continue;
        }
        let conn = serve_conn(stream, peer, &router, &builder, limits, admission.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            conn(watcher).await;
            drop(permit);
        });
    }
    graceful.shutdown().await;
}

/// One connection served to its end: the in-flight tracking, the catch-panic, the watchdog
/// (header and idle timeouts, the pressure to close when the cap is reached).
fn serve_conn<IO>(
    stream: IO,
    peer: std::net::SocketAddr,
    router: &Router,
    builder: &Builder<TokioExecutor>,
    limits: Limits,
    admission: Admission,
) -> impl FnOnce(Watcher) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (io, state) = conn::watch_io(stream);
    let service = {
        let state = state.clone();
        let router = router.clone();
        tower::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
            let (mut req, finish) = conn::track(&state, &limits, req.map(axum::body::Body::new));
            // Only `/metrics` asks who is calling (loopback scrapes may skip the key).
            if req.uri().path() == "/metrics" {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
            }
            let call = super::guard::catch_panic(router.clone(), req);
            async move { Ok::<_, std::convert::Infallible>(finish(call.await)) }
        })
    };
    let service = TowerToHyperService::new(service);
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    let dog = conn::watchdog(state, limits, admission);
    move |graceful: Watcher| {
        Box::pin(async move {
            tokio::select! {
                r = graceful.watch(conn) => if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                },
                why = dog => tracing::debug!("connection closed: {why:?}"),
            }
        })
    }
}
