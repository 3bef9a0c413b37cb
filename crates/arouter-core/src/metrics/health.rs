//! The Health view's data (`GET /api/v1/health`, the web UI's Health page, the tray): per
//! configured provider its state, recent error rate, p50/p95 latency and time to first token,
//! and last error; plus the ledger's lost rows and the trace exporter's counters.

use crate::app::App;
use crate::http::respond::json_response;
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

/// `850 ms` / `2.4 s`.
fn ms(v: &Value) -> Option<String> {
    let ms = v.as_u64()?;
    Some(if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    })
}

/// The report as short lines (the tray's Health submenu): per provider its state, error rate
/// and p50/p95 latency and first token over the recent window, then its last error when it is
/// not healthy; lost ledger rows first when there are any.
pub fn lines(report: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    let lost = report["ledger"]["rows_lost"].as_u64().unwrap_or(0);
    if lost > 0 {
        let noun = if lost == 1 { "row" } else { "rows" };
        lines.push(format!("⚠ {lost} usage {noun} lost (see the log)"));
    }
    let providers = report["providers"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if providers.is_empty() {
        lines.push("No providers configured".into());
    }
    for p in providers {
        let state = p["state"].as_str().unwrap_or("unknown");
        let (mark, label) = match state {
            "ok" => ("●", "ok"),
            "cooling_down" => ("◐", "cooling down"),
            "failing" => ("✕", "failing"),
            _ => ("○", "no traffic yet"),
        };
        let mut line = format!("{mark} {}: {label}", p["id"].as_str().unwrap_or("?"));
        let r = &p["recent"];
        let attempts = r["attempts"].as_u64().unwrap_or(0);
        if attempts > 0 {
            let errors = r["errors"].as_u64().unwrap_or(0);
            let pct = (errors as f64 * 100.0 / attempts as f64).round();
            line.push_str(&format!(" · {pct}% errors ({errors}/{attempts})"));
        }
        if let (Some(p50), Some(p95)) = (ms(&r["latency_ms"]["p50"]), ms(&r["latency_ms"]["p95"])) {
            line.push_str(&format!(" · {p50} / {p95}"));
        }
        if let (Some(p50), Some(p95)) = (ms(&r["ttft_ms"]["p50"]), ms(&r["ttft_ms"]["p95"])) {
            line.push_str(&format!(" · first token {p50} / {p95}"));
        }
        lines.push(line);
        if state != "ok" {
            if let Some(e) = p["last_error"].as_str() {
                lines.push(format!("    last error: {}", first_line(e, 80)));
            }
        }
    }
    lines
}

/// The first line of `s`, cut to `max` characters (an ellipsis marks the cut).
pub fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        return line.to_string();
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// `GET /api/v1/health` (admin).
pub async fn serve(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(resp) = super::endpoint::admin(&app, &headers, uri.query()).await {
        return resp;
    }
    json_response(&json!({"data": report(&app)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_lines_read_like_the_health_page() {
        let report = json!({
            "providers": [
                {"id": "oa", "state": "cooling_down", "last_error": "oa: 500 boom\nmore",
                 "recent": {"attempts": 6, "errors": 3, "latency_ms": {"p50": 7, "p95": 1500},
                            "ttft_ms": {"p50": 6, "p95": 88}}},
                {"id": "an", "state": "ok", "last_error": "old",
                 "recent": {"attempts": 0, "errors": 0, "latency_ms": {"p50": null, "p95": null},
                            "ttft_ms": {"p50": null, "p95": null}}},
            ],
            "ledger": {"rows_lost": 2},
        });
        assert_eq!(
            lines(&report),
            vec![
                "⚠ 2 usage rows lost (see the log)".to_string(),
                "◐ oa: cooling down · 50% errors (3/6) · 7 ms / 1.5 s · first token 6 ms / 88 ms"
                    .to_string(),
                "    last error: oa: 500 boom".to_string(),
                "● an: ok".to_string(),
            ]
        );
        let empty = json!({"providers": [], "ledger": {"rows_lost": 0}});
        assert_eq!(lines(&empty), vec!["No providers configured".to_string()]);
    }
}
