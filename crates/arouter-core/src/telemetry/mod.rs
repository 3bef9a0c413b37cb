//! Opt-in OpenTelemetry traces (`[telemetry] otlp_endpoint`): one span per request and one per
//! upstream attempt, exported as OTLP/HTTP JSON by a thread of its own. The request path only
//! builds its spans and hands them over with a non-blocking `try_send`; a full queue drops them
//! (counted), so a slow or dead collector costs requests nothing.

mod export;
pub mod otlp;
pub mod trace;

use crate::config::TelemetryConfig;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

/// Requests (each a batch of spans) the export queue holds before dropping.
const QUEUE: usize = 2048;

/// An attribute value (the OTLP `AnyValue` kinds ARouter uses).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    F64(f64),
    Bool(bool),
    Strs(Vec<String>),
}

/// A finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub kind: Kind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Vec<(&'static str, Value)>,
    /// `Some(message)`: the span failed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request ARouter answers.
    Server,
    /// An attempt ARouter makes upstream.
    Client,
}

/// Counters shared with the exporter thread.
#[derive(Default)]
pub struct Counters {
    pub exported: AtomicU64,
    pub dropped: AtomicU64,
}

/// The app's tracer: whether tracing is on, where spans go, and the queue to the exporter.
#[derive(Default)]
pub struct Tracer {
    enabled: AtomicBool,
    content: AtomicBool,
    endpoint: Arc<RwLock<Option<String>>>,
    tx: OnceLock<SyncSender<Vec<Span>>>,
    pub counters: Arc<Counters>,
}

impl Tracer {
    /// Applies `[telemetry]` (at start and on every config reload); starts the exporter thread
    /// the first time an endpoint is set.
    pub fn configure(&self, t: &TelemetryConfig) {
        let endpoint = t.otlp_endpoint.as_deref().map(traces_url);
        *self.endpoint.write() = endpoint.clone();
        self.content.store(t.otlp_content, Ordering::Relaxed);
        if endpoint.is_some() && self.tx.get().is_none() {
            let (tx, rx) = sync_channel(QUEUE);
            if self.tx.set(tx).is_ok() {
                export::start(rx, self.endpoint.clone(), self.counters.clone());
            }
        }
        self.enabled.store(endpoint.is_some(), Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Whether prompt and response text go on spans.
    pub fn content(&self) -> bool {
        self.content.load(Ordering::Relaxed)
    }

    /// Hands a request's spans to the exporter without waiting; dropped (counted) when full.
    pub fn submit(&self, spans: Vec<Span>) {
        let Some(tx) = self.tx.get() else {
            return;
        };
        let n = spans.len() as u64;
        match tx.try_send(spans) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

/// The traces URL for a configured endpoint: a bare `scheme://host:port` (or `/`) gets the
/// OTLP default path `/v1/traces`; a URL with a path is used as given.
pub fn traces_url(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    match rest.find('/') {
        Some(i) if rest[i..] != *"/" => endpoint.to_string(),
        _ => format!("{}/v1/traces", endpoint.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_endpoints_get_the_traces_path() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("https://c/otlp/v1/traces"),
            "https://c/otlp/v1/traces"
        );
    }

    #[test]
    fn disabled_tracer_accepts_and_ignores_spans() {
        let t = Tracer::default();
        assert!(!t.enabled());
        t.submit(Vec::new());
        assert_eq!(t.counters.dropped.load(Ordering::Relaxed), 0);
    }
}
