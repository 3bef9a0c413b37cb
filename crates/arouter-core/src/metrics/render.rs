//! The Prometheus text exposition (format 0.0.4) of [`Metrics`] plus the gauges read at scrape
//! time (provider cooldown, ledger queue). Series are summed over the labels a family does not
//! carry, so a histogram is not split by key or status.

use super::histogram::{Buckets, HistogramSnapshot};
use super::series::{Series, TOKEN_TYPES};
use super::{Metrics, ERROR_KINDS, REFUSAL_REASONS, SEMCONV};
use crate::app::App;
use crate::catalog::pusd_to_usd;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type LabelSet = Vec<(&'static str, String)>;

/// Escapes a label value (`\`, `"`, newline).
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn labels(out: &mut String, l: &[(&'static str, String)], extra: Option<(&str, &str)>) {
    if l.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in l.iter().map(|(k, v)| (*k, v.as_str())).chain(extra) {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
    out.push('}');
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, l: &[(&'static str, String)], v: impl std::fmt::Display) {
    out.push_str(name);
    labels(out, l, None);
    let _ = writeln!(out, " {v}");
}

fn f64_text(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    buckets: &Buckets,
    rows: &BTreeMap<LabelSet, HistogramSnapshot>,
) {
    header(out, name, "histogram", help);
    for (l, h) in rows {
        for (i, c) in h.cumulative.iter().enumerate() {
            let le = buckets
                .bounds
                .get(i)
                .map_or(f64::INFINITY, |&b| b as f64 / buckets.scale);
            out.push_str(name);
            out.push_str("_bucket");
            labels(out, l, Some(("le", &f64_text(le))));
            let _ = writeln!(out, " {c}");
        }
        sample(
            out,
            &format!("{name}_sum"),
            l,
            f64_text(h.sum as f64 / buckets.scale),
        );
        sample(out, &format!("{name}_count"), l, h.count());
    }
}

fn model_labels(s: &Series) -> LabelSet {
    vec![
        ("gen_ai_provider_name", s.labels.provider.to_string()),
        ("gen_ai_response_model", s.labels.model.to_string()),
    ]
}

/// Sums `f` of every series into rows keyed by `key`.
fn sum_by<V: Default>(
    all: &[std::sync::Arc<Series>],
    key: impl Fn(&Series) -> LabelSet,
    mut f: impl FnMut(&mut V, &Series),
) -> BTreeMap<LabelSet, V> {
    let mut rows: BTreeMap<LabelSet, V> = BTreeMap::new();
    for s in all {
        f(rows.entry(key(s)).or_default(), s);
    }
    rows
}

/// Renders every family.
pub fn render(m: &Metrics, app: &App) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let all = m.series().all();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);

    header(
        &mut out,
        "arouter_build_info",
        "gauge",
        "ARouter version and the OpenTelemetry semantic conventions its names follow.",
    );
    sample(
        &mut out,
        "arouter_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("semconv_version", SEMCONV.to_string()),
        ],
        1,
    );

    header(
        &mut out,
        "arouter_requests_total",
        "counter",
        "Requests finished, by API key name, operation, provider, model, surface and HTTP status.",
    );
    for s in &all {
        let mut l = vec![("key_name", s.labels.key.to_string())];
        l.push(("gen_ai_operation_name", s.labels.operation.to_string()));
        l.extend(model_labels(s));
        l.push(("surface", s.labels.surface.to_string()));
        l.push(("http_response_status_code", s.labels.status.to_string()));
        sample(&mut out, "arouter_requests_total", &l, load(&s.requests));
    }

    let by_key_model = |s: &Series| {
        let mut l = vec![("key_name", s.labels.key.to_string())];
        l.extend(model_labels(s));
        l
    };
    let tokens = sum_by(&all, by_key_model, |acc: &mut [u64; 5], s| {
        for (a, c) in acc.iter_mut().zip(&s.tokens) {
            *a += c.load(Ordering::Relaxed);
        }
    });
    header(
        &mut out,
        "arouter_tokens_total",
        "counter",
        "Tokens by API key name, provider, model and type (input, output, reasoning, cache_read, cache_write).",
    );
    for (l, acc) in &tokens {
        for (t, n) in TOKEN_TYPES.iter().zip(acc) {
            let mut l = l.clone();
            l.push(("gen_ai_token_type", t.to_string()));
            sample(&mut out, "arouter_tokens_total", &l, n);
        }
    }
    let cost = sum_by(&all, by_key_model, |acc: &mut u64, s| {
        *acc += load(&s.cost_pusd)
    });
    header(
        &mut out,
        "arouter_cost_usd_total",
        "counter",
        "Cost in USD by API key name, provider and model (catalog or configured prices).",
    );
    for (l, pusd) in &cost {
        sample(
            &mut out,
            "arouter_cost_usd_total",
            l,
            f64_text(pusd_to_usd(*pusd as i64)),
        );
    }

    let by_op_model = |s: &Series| {
        let mut l = vec![("gen_ai_operation_name", s.labels.operation.to_string())];
        l.extend(model_labels(s));
        l
    };
    let duration = sum_by(
        &all,
        |s| {
            let mut l = by_op_model(s);
            if s.labels.status >= 400 {
                l.push(("error_type", s.labels.status.to_string()));
            }
            l
        },
        |acc: &mut HistogramSnapshot, s| acc.add(&s.duration.snapshot()),
    );
    histogram(
        &mut out,
        "gen_ai_client_operation_duration_seconds",
        "GenAI operation duration: a request from arrival to its last byte.",
        &super::histogram::DURATION,
        &duration,
    );
    let ttft = sum_by(&all, by_op_model, |acc: &mut HistogramSnapshot, s| {
        acc.add(&s.ttft.snapshot())
    });
    let ttft: BTreeMap<_, _> = ttft.into_iter().filter(|(_, h)| h.count() > 0).collect();
    histogram(
        &mut out,
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "Time to the first chunk of a streamed response.",
        &super::histogram::TTFT,
        &ttft,
    );
    let usage = sum_by(&all, by_op_model, |acc: &mut [HistogramSnapshot; 2], s| {
        acc[0].add(&s.input_tokens.snapshot());
        acc[1].add(&s.output_tokens.snapshot());
    });
    let mut usage_rows = BTreeMap::new();
    for (l, [input, output]) in usage {
        for (t, h) in [("input", input), ("output", output)] {
            if h.count() > 0 {
                let mut l = l.clone();
                l.push(("gen_ai_token_type", t.to_string()));
                usage_rows.insert(l, h);
            }
        }
    }
    histogram(
        &mut out,
        "gen_ai_client_token_usage",
        "Input and output tokens per request.",
        &super::histogram::TOKENS,
        &usage_rows,
    );

    let providers = m.provider_counters();
    header(
        &mut out,
        "arouter_upstream_errors_total",
        "counter",
        "Failed upstream attempts by provider and error type.",
    );
    for (p, c) in &providers {
        for (kind, n) in ERROR_KINDS.iter().zip(&c.errors) {
            let n = load(n);
            if n > 0 {
                let l = vec![
                    ("gen_ai_provider_name", p.clone()),
                    (
                        "error_type",
                        crate::error::ApiError::new(*kind, "")
                            .error_type()
                            .to_string(),
                    ),
                ];
                sample(&mut out, "arouter_upstream_errors_total", &l, n);
            }
        }
    }
    header(
        &mut out,
        "arouter_fallbacks_total",
        "counter",
        "Failed attempts after which the next candidate was tried, by the provider that failed.",
    );
    for (p, c) in &providers {
        let l = vec![("gen_ai_provider_name", p.clone())];
        sample(&mut out, "arouter_fallbacks_total", &l, load(&c.fallbacks));
    }
    header(
        &mut out,
        "arouter_retries_total",
        "counter",
        "Attempts repeated on the same provider after an overload answer.",
    );
    for (p, c) in &providers {
        let l = vec![("gen_ai_provider_name", p.clone())];
        sample(&mut out, "arouter_retries_total", &l, load(&c.retries));
    }

    let cfg = app.config();
    let now = crate::clock::now_ms();
    header(
        &mut out,
        "arouter_provider_cooldown",
        "gauge",
        "1 while a provider cools down after repeated failures (tried after healthy ones).",
    );
    let health: Vec<_> = cfg
        .providers
        .keys()
        .map(|p| (p, app.health.snapshot(p)))
        .collect();
    for (p, h) in &health {
        let l = vec![("gen_ai_provider_name", p.to_string())];
        sample(
            &mut out,
            "arouter_provider_cooldown",
            &l,
            u8::from(h.cooling_down(now)),
        );
    }
    header(
        &mut out,
        "arouter_provider_consecutive_failures",
        "gauge",
        "Failed attempts since the provider last answered.",
    );
    for (p, h) in &health {
        let l = vec![("gen_ai_provider_name", p.to_string())];
        sample(
            &mut out,
            "arouter_provider_consecutive_failures",
            &l,
            h.recent_failures,
        );
    }

    header(
        &mut out,
        "arouter_refusals_total",
        "counter",
        "Requests refused by the key's rate limit or budget, by API key name.",
    );
    for (k, n) in m.refusal_counters() {
        for (reason, n) in REFUSAL_REASONS.iter().zip(n) {
            let l = vec![("key_name", k.clone()), ("reason", reason.to_string())];
            sample(&mut out, "arouter_refusals_total", &l, n);
        }
    }

    let store = &app.store;
    for (name, kind, help, v) in [
        (
            "arouter_ledger_queue_depth",
            "gauge",
            "Ledger rows handed to the writer and not yet written.",
            store.ledger_queue_depth(),
        ),
        (
            "arouter_ledger_rows_written_total",
            "counter",
            "Ledger rows written since start.",
            store.rows_written(),
        ),
        (
            "arouter_ledger_rows_lost_total",
            "counter",
            "Ledger rows lost for good since start.",
            store.lost_records(),
        ),
        (
            "arouter_ledger_rows_without_bodies_total",
            "counter",
            "Ledger rows kept without their stored bodies (body budget full) since start.",
            store.rows_without_bodies(),
        ),
        (
            "arouter_requests_in_flight",
            "gauge",
            "Requests whose ledger row is not written yet.",
            app.inflight() as u64,
        ),
        (
            "arouter_trace_spans_exported_total",
            "counter",
            "Trace spans the OTLP exporter delivered.",
            load(&app.tracer.counters.exported),
        ),
        (
            "arouter_trace_spans_dropped_total",
            "counter",
            "Trace spans dropped: export queue full or collector unreachable.",
            load(&app.tracer.counters.dropped),
        ),
    ] {
        header(&mut out, name, kind, help);
        sample(&mut out, name, &[], v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut s = String::new();
        labels(&mut s, &[("a", "x".into())], Some(("le", "+Inf")));
        assert_eq!(s, "{a=\"x\",le=\"+Inf\"}");
    }
}
