//! `bench_team_ledger`: the ledger writer's sustained rows/s on team mode's PostgreSQL store
//! next to the embedded SQLite store's, on this machine, same rows, same waves.
//!
//! Usage: `bench_team_ledger ROWS` — starts a throwaway PostgreSQL cluster (fsync on, like a
//! real server; SQLite runs WAL with synchronous=NORMAL as shipped), writes ROWS rows without
//! and then with stored bodies into each store, and prints one JSON line per run. Then times
//! what team mode adds to a request with limits: one `rate_admit` and one `budget_reserve` +
//! settle round-trip each (p50/p99 over sequential calls; SQLite adds none of them).
//!
//! `bench_team_ledger --hold-db`: starts the same cluster, prints a fresh database's URL and
//! keeps it up until stdin closes (bench/run.sh serves ARouter on it to time whole requests).

use arouter_core::model::Usage;
use arouter_core::store::{Store, UsageRecord};
use arouter_store::{ManageStore, PgStore, SqliteStore};
use arouter_tests::pg::Pg;
use serde_json::json;
use std::time::Instant;

/// Rows queued before waiting for the writer.
const WAVE: usize = 20_000;

fn row(i: usize, bodies: bool) -> UsageRecord {
    let usage = Usage {
        input_tokens: 200 + (i % 3000) as u64,
        output_tokens: 20 + (i % 700) as u64,
        ..Usage::default()
    };
    UsageRecord {
        id: format!("gen-bench-{}-{i:09}", u8::from(bodies)),
        created_ms: 1_700_000_000_000 + i as i64,
        app: ["cursor", "aider", "scripts"][i % 3].into(),
        key_hash: format!("key{}", i % 3),
        surface: "openai".into(),
        endpoint: "chat".into(),
        requested_model: "openai/gpt-4o-mini".into(),
        served_model: "openai/gpt-4o-mini".into(),
        provider: "openai".into(),
        usage,
        cost_pusd: (usage.input_tokens * 3_000_000 + usage.output_tokens * 15_000_000) as i64,
        priced: true,
        latency_ms: 300 + (i % 4000) as i64,
        ttft_ms: Some(120),
        streamed: i.is_multiple_of(2),
        finish_reason: Some("stop".into()),
        native_finish_reason: Some("stop".into()),
        status: 200,
        request_body: bodies.then(|| {
            json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Summarise the bench results in one line, please."}]}).into()
        }),
        response_body: bodies.then(|| {
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "All targets met on a 2-core machine."}, "finish_reason": "stop"}]}).into()
        }),
        ..UsageRecord::default()
    }
}

fn write(store: &dyn Store, rows: usize, bodies: bool) -> f64 {
    let started = Instant::now();
    let mut i = 0;
    while i < rows {
        let end = (i + WAVE).min(rows);
        for j in i..end {
            store.record(row(j, bodies));
        }
        store.flush();
        i = end;
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

/// Serves a database for the bench script until stdin closes.
fn hold_db() -> anyhow::Result<()> {
    let Some(pg) = Pg::start_with(true) else {
        anyhow::bail!("PostgreSQL is not installed");
    };
    println!("{}", pg.create_db("routerbench"));
    std::io::Write::flush(&mut std::io::stdout())?;
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--hold-db") {
        return hold_db();
    }
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let Some(pg) = Pg::start_with(true) else {
        anyhow::bail!("PostgreSQL is not installed");
    };
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStore::open(&dir.path().join("bench.db"))?;
    let postgres = PgStore::open(&pg.create_db("bench"))?;
    for (name, store) in [("sqlite", &*sqlite as &dyn Store), ("postgres", &*postgres)] {
        for bodies in [false, true] {
            let rate = write(store, rows, bodies);
            println!(
                "{}",
                json!({"bench": "ledger_write", "store": name, "bodies": bodies, "rows": rows,
                       "rows_per_s": rate.round(), "lost": store.lost_records()})
            );
        }
    }
    let rt = tokio::runtime::Runtime::new()?;
    let calls = 2000;
    let mut rate = Vec::with_capacity(calls);
    let mut budget = Vec::with_capacity(calls);
    for i in 0..calls {
        let t = Instant::now();
        let d = rt
            .block_on(
                postgres
                    .rate_admit("bench-key", 1_000_000)
                    .expect("PostgreSQL decides"),
            )
            .map_err(anyhow::Error::msg)?;
        rate.push(t.elapsed());
        assert!(d.allowed);
        let t = Instant::now();
        let hold = rt
            .block_on(
                postgres
                    .budget_reserve("bench-key", 0, i64::MAX / 2, 1_000)
                    .expect("PostgreSQL decides"),
            )
            .map_err(anyhow::Error::msg)?;
        budget.push(t.elapsed());
        if let arouter_core::store::SharedReservation::Granted(id) = hold {
            postgres.budget_settle("bench-key", id, 500);
        }
        if i % 500 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    for (name, mut v) in [("rate_admit", rate), ("budget_reserve", budget)] {
        v.sort();
        let us = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_micros();
        println!(
            "{}",
            json!({"bench": "team_request_path", "call": name, "calls": calls,
                   "p50_us": us(0.5), "p99_us": us(0.99)})
        );
    }
    postgres.shutdown();
    Ok(())
}
