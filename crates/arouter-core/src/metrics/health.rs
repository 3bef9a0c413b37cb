//! The Health view's data (`GET /api/v1/health`, the web UI's Health page, the tray): per
//! configured provider its state, recent error rate, p50/p95 latency and time to first token,
//! and last error; plus the ledger's lost rows and the trace exporter's counters.

use crate::app::App;
use crate::http::authed;
use crate::http::respond::{json_response, Surface};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// `ok`, `cooling_down` (failed repeatedly; tried after healthy providers), `failing` (its
/// latest attempt failed) or `unknown` (no traffic yet).
pub fn state(h: &crate::health::HealthSnapshot, now_ms: i64) -> &'static str {
    if h.cooling_down(now_ms) {
        "cooling_down"
    } else {
        h.status()
    }
}

/// The report.
pub fn report(app: &App) -> Value {
    let cfg = app.config();
    let now = crate::clock::now_ms();
    let providers: Vec<Value> = cfg
        .providers
        .values()
        .map(|p| {
            let h = app.health.snapshot(&p.id);
            json!({
                "id": p.id,
                "kind": p.kind.as_str(),
                "state": state(&h, now),
                "consecutive_failures": h.recent_failures,
                "last_error": h.last_error,
                "last_error_at_ms": h.last_error_at,
                "last_success_at_ms": h.last_success_at,
                "recent": app.metrics.recent(&p.id),
            })
        })
        .collect();
    let store = &app.store;
    json!({
        "providers": providers,
        "ledger": {
            "rows_lost": store.lost_records(),
            "rows_without_bodies": store.rows_without_bodies(),
            "queue_depth": store.ledger_queue_depth(),
            "rows_written": store.rows_written(),
        },
        "traces": {
            "enabled": app.tracer.enabled(),
            "exported": app.tracer.counters.exported.load(Ordering::Relaxed),
            "dropped": app.tracer.counters.dropped.load(Ordering::Relaxed),
        },
    })
}

/// `GET /api/v1/health` (admin).
pub async fn serve(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(resp) = authed(&app, headers, uri.query(), Surface::OpenAi, true).await {
        return resp;
    }
    json_response(&json!({"data": report(&app)}))
}
