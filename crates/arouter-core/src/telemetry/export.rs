//! The exporter thread: gathers queued spans into batches (up to [`MAX_BATCH`] or
//! [`MAX_WAIT`]) and POSTs each to the collector with a timeout, on a runtime of its own. A
//! batch that cannot be delivered is dropped and counted, never retried into a backlog.

use super::{otlp, Counters, Span};
use crate::upstream::Client;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::Method;
use parking_lot::RwLock;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_BATCH: usize = 512;
const MAX_WAIT: Duration = Duration::from_secs(1);
/// Between drains the thread sleeps instead of blocking on the queue, so senders do not pay a
/// wake-up per request (as in the ledger writer).
const POLL: Duration = Duration::from_millis(20);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn start(
    rx: Receiver<Vec<Span>>,
    endpoint: Arc<RwLock<Option<String>>>,
    counters: Arc<Counters>,
) {
    let spawned = std::thread::Builder::new()
        .name("arouter-otlp".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("OTLP exporter cannot start a runtime: {e}");
                    return;
                }
            };
            let client = Client::new();
            let mut batch: Vec<Span> = Vec::new();
            while let Ok(first) = rx.recv() {
                batch.extend(first);
                let open = collect(&rx, &mut batch);
                let url = endpoint.read().clone();
                let n = batch.len() as u64;
                let delivered = match url {
                    Some(url) => rt.block_on(post(&client, &url, otlp::encode(&batch))),
                    None => false,
                };
                let counter = if delivered {
                    &counters.exported
                } else {
                    &counters.dropped
                };
                counter.fetch_add(n, Ordering::Relaxed);
                batch.clear();
                if !open {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("OTLP exporter thread did not start: {e}");
    }
}

/// Adds what arrives within [`MAX_WAIT`] (up to [`MAX_BATCH`] spans); `false` once the queue
/// is closed.
fn collect(rx: &Receiver<Vec<Span>>, batch: &mut Vec<Span>) -> bool {
    let deadline = Instant::now() + MAX_WAIT;
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(spans) => batch.extend(spans),
            Err(TryRecvError::Disconnected) => return false,
            Err(TryRecvError::Empty) => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::sleep(POLL.min(deadline - now));
            }
        }
    }
    true
}

async fn post(client: &Client, url: &str, body: Vec<u8>) -> bool {
    let Ok(uri) = crate::upstream::parse_uri(url) else {
        tracing::warn!(url, "OTLP endpoint is not a valid URL; spans dropped");
        return false;
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let send = async {
        let resp = client
            .send(
                Method::POST,
                uri,
                headers,
                crate::upstream::Body::full(Bytes::from(body)),
            )
            .await
            .map_err(|e| e.cause)?;
        let status = resp.status();
        // Read the answer so the connection can be reused.
        let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("collector answered {status}"))
        }
    };
    match tokio::time::timeout(EXPORT_TIMEOUT, send).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!("OTLP export failed: {e}");
            false
        }
        Err(_) => {
            tracing::debug!("OTLP export timed out");
            false
        }
    }
}
