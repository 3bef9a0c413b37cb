//! `bench_ledger`: the usage ledger's sustained write rate and the dashboard's aggregate
//! queries over a large synthetic history, through `arouter_store::SqliteStore`.
//!
//! Usage: `bench_ledger DIR ROWS` — writes ROWS synthetic requests (spread over 30 days) into
//! a fresh database in DIR, reporting rows/s without and with stored bodies, then times each
//! management-API usage query (best and median of 5).

use arouter_core::model::Usage;
use arouter_core::store::{Store, UsageRecord};
use arouter_store::{GroupBy, ManageStore, RequestFilter, SqliteStore, TimeRange};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;
/// Rows queued before waiting for the writer (well under its queue capacity).
const WAVE: usize = 20_000;
const APPS: &[&str] = &["cursor", "claude-code", "aider", "open-webui", "scripts"];
const MODELS: &[(&str, &str)] = &[
    ("openai", "openai/gpt-4o-mini"),
    ("openai", "openai/gpt-4.1"),
    ("anthropic", "anthropic/claude-sonnet-4"),
    ("anthropic", "anthropic/claude-haiku-3.5"),
    ("gemini", "gemini/gemini-2.5-flash"),
    ("gemini", "gemini/gemini-2.5-pro"),
    ("openrouter", "openrouter/deepseek/deepseek-chat"),
    ("openrouter", "openrouter/qwen/qwen3-coder"),
];

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A deterministic, varied ledger row number `i` of `total`, dated within the last 30 days.
fn synthetic(i: usize, total: usize, now: i64, with_bodies: bool, keys: &[String]) -> UsageRecord {
    let (provider, model) = MODELS[i % MODELS.len()];
    let failed = i.is_multiple_of(50);
    let age = (30 * DAY_MS) * (total - i) as i64 / total.max(1) as i64;
    let usage = Usage {
        input_tokens: 200 + (i % 3000) as u64,
        output_tokens: 20 + (i % 700) as u64,
        reasoning_tokens: (i % 5) as u64 * 10,
        cache_read_tokens: (i % 7) as u64 * 100,
        cache_write_tokens: 0,
    };
    UsageRecord {
        id: format!("gen-bench-{i:09}"),
        created_ms: now - age,
        app: APPS[i % APPS.len()].into(),
        key_hash: keys[i % keys.len()].clone(),
        surface: if i.is_multiple_of(3) { "anthropic" } else { "openai" }.into(),
        endpoint: "chat".into(),
        requested_model: model.into(),
        served_model: model.into(),
        provider: provider.into(),
        usage,
        cost_pusd: (usage.input_tokens * 3_000_000 + usage.output_tokens * 15_000_000) as i64,
        priced: true,
        latency_ms: 300 + (i % 4000) as i64,
        ttft_ms: Some(120 + (i % 900) as i64),
        streamed: i.is_multiple_of(2),
        finish_reason: Some(if failed { "error" } else { "stop" }.into()),
        native_finish_reason: Some("stop".into()),
        status: if failed { 502 } else { 200 },
        error: failed.then(|| "mock: upstream failed".into()),
        attempt: 0,
        estimated: false,
        request_body: with_bodies.then(|| {
            json!({"model": model, "messages": [{"role": "user", "content": "Summarise the bench results in one line, please."}]}).into()
        }),
        response_body: with_bodies.then(|| {
            json!({"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "All targets met on a 2-core machine."}, "finish_reason": "stop"}]}).into()
        }),
    }
}

/// Writes `rows` records (ids offset by `first`) in waves; returns rows/s and the drop count.
fn write_rows(
    store: &SqliteStore,
    first: usize,
    rows: usize,
    total: usize,
    bodies: bool,
    keys: &[String],
) -> (f64, u64) {
    let now = now_ms();
    let started = Instant::now();
    let mut i = 0;
    while i < rows {
        let end = (i + WAVE).min(rows);
        for j in i..end {
            let mut rec = synthetic(first + j, total, now, bodies, keys);
            rec.id = format!("gen-bench-{:09}", first + j);
            store.record(rec);
        }
        store.flush();
        i = end;
    }
    (
        rows as f64 / started.elapsed().as_secs_f64(),
        store.dropped_records(),
    )
}

/// Best and median wall time of `runs` calls of `f`, in ms, plus the last result size.
fn time<T>(
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<T>,
    size: impl Fn(&T) -> usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        n = size(&out);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok((times[0], times[times.len() / 2], n))
}

fn run(dir: &Path, rows: usize) -> anyhow::Result<()> {
    let db = dir.join("ledger-bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store: Arc<SqliteStore> = SqliteStore::open(&db)?;
    let keys: Vec<String> = (0..3)
        .map(|k| {
            store
                .create_key(&format!("bench-{k}"), false, None, None)
                .map(|(_, info)| info.hash)
        })
        .collect::<anyhow::Result<_>>()?;
    let sample = 100_000.min(rows);
    let (with_bodies, dropped_b) = write_rows(&store, 0, sample, rows, true, &keys);
    println!(
        "{}",
        json!({"ledger": "with bodies (store_content = true)", "rows": sample, "rows_per_s": with_bodies.round(), "dropped": dropped_b})
    );
    let (plain, dropped_p) = write_rows(&store, sample, rows - sample, rows, false, &keys);
    println!(
        "{}",
        json!({"ledger": "without bodies", "rows": rows - sample, "rows_per_s": plain.round(), "dropped": dropped_p})
    );
    let since = now_ms() - 30 * DAY_MS - DAY_MS;
    let range = TimeRange {
        since_ms: Some(since),
        until_ms: None,
    };
    let week = TimeRange {
        since_ms: Some(now_ms() - 7 * DAY_MS),
        until_ms: None,
    };
    let report = |name: &str, r: anyhow::Result<(f64, f64, usize)>| -> anyhow::Result<()> {
        let (best, median, n) = r?;
        println!(
            "{}",
            json!({"query": name, "rows_in_db": rows, "best_ms": (best * 100.0).round() / 100.0, "median_ms": (median * 100.0).round() / 100.0, "result_rows": n})
        );
        Ok(())
    };
    for by in [
        GroupBy::App,
        GroupBy::Model,
        GroupBy::Provider,
        GroupBy::Key,
        GroupBy::Day,
    ] {
        report(
            &format!("usage_summary(30d, {by:?})"),
            time(5, || store.usage_summary(since, by), Vec::len),
        )?;
    }
    report(
        "usage_in_range(30d, Model)",
        time(5, || store.usage_in_range(range, GroupBy::Model), Vec::len),
    )?;
    report(
        "daily_usage(30d, Model)",
        time(5, || store.daily_usage(range, GroupBy::Model), Vec::len),
    )?;
    report(
        "daily_usage(7d, App)",
        time(5, || store.daily_usage(week, GroupBy::App), Vec::len),
    )?;
    report("activity(30d)", time(5, || store.activity(range), Vec::len))?;
    let page = RequestFilter {
        range,
        limit: 50,
        ..Default::default()
    };
    report(
        "list_requests(30d, first page of 50 + total)",
        time(5, || store.list_requests(&page), |r| r.0.len()),
    )?;
    let filtered = RequestFilter {
        range,
        app: Some("cursor".into()),
        ok: Some(false),
        limit: 50,
        ..Default::default()
    };
    report(
        "list_requests(30d, app=cursor, failed)",
        time(5, || store.list_requests(&filtered), |r| r.0.len()),
    )?;
    report("usage_total()", time(5, || store.usage_total(), |_| 1))?;
    store.shutdown();
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(rows)) = (args.first(), args.get(1).and_then(|r| r.parse().ok())) else {
        eprintln!("usage: bench_ledger DIR ROWS");
        return std::process::ExitCode::FAILURE;
    };
    let started = Instant::now();
    match run(Path::new(dir), rows) {
        Ok(()) => {
            eprintln!(
                "bench_ledger: done in {:?}",
                started.elapsed().max(Duration::ZERO)
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_ledger: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
