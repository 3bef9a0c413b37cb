//! `soak`: a fault soak of the real `arouter serve` on loopback (not part of CI).
//!
//! Usage: `soak [SECONDS] [CLIENTS]` (default 600 s, 8 clients); `scripts/soak/run.sh` builds
//! and runs it. Traffic: three surfaces (OpenAI, Anthropic, Gemini) × three provider kinds,
//! streamed and not, against mock upstreams scripted with 500s, 429s, dropped connections,
//! slow first bytes and mid-stream cuts, plus clients that disconnect mid-stream. At the end it
//! checks that every request that got an answer has exactly one ledger row, that spend equals
//! the sum of the rows, that RSS and open file descriptors came back to their baseline, and
//! that no panic was logged; it prints the figures and exits non-zero if a check failed.

use arouter_core::store::Store;
use arouter_store::{db_path, GroupBy, ManageStore, SqliteStore};
use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    answered: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    transport: AtomicU64,
    disconnects: AtomicU64,
}

fn behavior(rng: &mut Rng) -> Behavior {
    match rng.below(100) {
        0..=7 => Behavior::error(500),
        8..=15 => Behavior::error(429),
        16..=21 => Behavior::DropConnection,
        22..=29 => {
            Behavior::SlowFirstByte(Duration::from_millis(300), Box::new(Behavior::text("slow")))
        }
        30..=34 => Behavior::MidStreamDrop { after_chunks: 2 },
        35..=39 => Behavior::Chunks {
            n: 20,
            delay: Some(Duration::from_millis(20)),
        },
        _ => Behavior::text("Hello from the soak, with a few words to stream"),
    }
}

fn proc_figures(pid: u32) -> (u64, usize) {
    let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss_kb, fds)
}

#[allow(clippy::too_many_arguments)]
async fn one(
    c: &reqwest::Client,
    base: &str,
    key: &str,
    mocks: &[MockUpstream; 3],
    rng: &mut Rng,
    counts: &Counts,
    ids: &parking_lot::Mutex<Vec<String>>,
) {
    let provider = ["oa", "an", "gm"][rng.below(3) as usize];
    let mock = &mocks[match provider {
        "oa" => 0,
        "an" => 1,
        _ => 2,
    }];
    mock.push(behavior(rng));
    let stream = rng.below(2) == 0;
    let model = format!("{provider}/m");
    let msg = "Say hello";
    let req = match rng.below(3) {
        0 => c
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": model, "stream": stream, "max_tokens": 64,
                           "messages": [{"role": "user", "content": msg}]})),
        1 => c
            .post(format!("{base}/v1/messages"))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": model, "stream": stream, "max_tokens": 64,
                           "messages": [{"role": "user", "content": msg}]})),
        _ => {
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            c.post(format!(
                "{base}/v1beta/models/{}:{method}",
                model.replace('/', "%2F")
            ))
            .header("x-goog-api-key", key)
            .json(
                &json!({"contents": [{"role": "user", "parts": [{"text": msg}]}],
                               "generationConfig": {"maxOutputTokens": 64}}),
            )
        }
    };
    counts.sent.fetch_add(1, Ordering::Relaxed);
    let resp = match req.send().await {
        Ok(r) => r,
        Err(_) => {
            counts.transport.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    counts.answered.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = resp
        .headers()
        .get("x-generation-id")
        .and_then(|v| v.to_str().ok())
    {
        ids.lock().push(id.to_string());
    }
    if resp.status().is_success() {
        counts.ok.fetch_add(1, Ordering::Relaxed);
    } else {
        counts.errors.fetch_add(1, Ordering::Relaxed);
    }
    if stream && rng.below(10) == 0 {
        // The client leaves after the first chunk.
        let mut resp = resp;
        let _ = resp.chunk().await;
        counts.disconnects.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let _ = resp.bytes().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(600);
    let clients: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let mocks = Arc::new([
        MockUpstream::start(Vendor::OpenAi).await,
        MockUpstream::start(Vendor::Anthropic).await,
        MockUpstream::start(Vendor::Gemini).await,
    ]);
    let mut cfg = String::from("default_model = \"oa/m\"\n[server]\nkeepalive_secs = 1\n");
    for (m, id) in mocks.iter().zip(["oa", "an", "gm"]) {
        cfg.push_str(&m.provider_toml(id, None));
        cfg.push_str(&format!(
            "[models.\"{id}/m\"]\ninput_per_mtok = 3.0\noutput_per_mtok = 15.0\n"
        ));
    }
    let mut r = RouterProcess::start(&cfg).await;
    let pid = r.pid().expect("router running");
    let (base, key) = (r.base_url.clone(), r.app_key.clone());
    let counts = Arc::new(Counts::default());
    let ids = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let warmup = Duration::from_secs(secs.min(600) / 20 + 5);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (base, key, mocks, counts, ids) = (
            base.clone(),
            key.clone(),
            mocks.clone(),
            counts.clone(),
            ids.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i + 1).wrapping_mul(0x1234_5678_9ABC));
            while Instant::now() < until {
                one(&c, &base, &key, &mocks, &mut rng, &counts, &ids).await;
            }
        }));
    }
    // Baseline once the pools and caches are warm.
    tokio::time::sleep(warmup).await;
    let (rss0, fds0) = proc_figures(pid);
    let mut peak = (rss0, fds0);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (rss, fds) = proc_figures(pid);
        peak = (peak.0.max(rss), peak.1.max(fds));
    }
    for t in tasks {
        let _ = t.await;
    }
    // Idle: client connections are gone; upstream pools drain on their idle timeout.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (rss1, fds1) = proc_figures(pid);
    let health: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .and_then(|r| r.error_for_status())
        .map(|r| r.json())
        .expect("healthz")
        .await
        .unwrap_or_default();
    r.sigterm();
    let exit = r.wait_exit(Duration::from_secs(30)).await;
    let log = r.stderr_log();
    let panics = log.matches("panicked").count();

    let store = SqliteStore::open(&db_path(&r.data_dir)).expect("database opens");
    let ids = ids.lock().clone();
    let unique: HashSet<&String> = ids.iter().collect();
    let missing = ids
        .iter()
        .filter(|id| store.load_generation(id).is_none())
        .count();
    let conn = rusqlite::Connection::open(db_path(&r.data_dir)).expect("sqlite");
    let (rows, row_sum): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(cost_pusd), 0) FROM requests WHERE id NOT LIKE '%-attempt%'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("row totals");
    let all_sum: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(cost_pusd), 0) FROM requests",
            [],
            |row| row.get(0),
        )
        .expect("sum");
    // Rows of clients gone mid-stream (499), and those charged an estimate.
    let (gone, estimated, estimated_sum): (i64, i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(estimated), 0), \
             COALESCE(SUM(CASE WHEN estimated = 1 THEN cost_pusd ELSE 0 END), 0) \
             FROM requests WHERE status = 499",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .expect("client-gone rows");
    let rollup_sum: i64 = store
        .usage_summary(i64::MIN, GroupBy::App)
        .expect("usage")
        .iter()
        .map(|u| u.cost_pusd)
        .sum();
    let c = &counts;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "soak: {secs} s, {clients} clients, git {}",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "requests sent {}, answered {} (ok {}, error statuses {}), transport errors {}, client disconnects {}",
        load(&c.sent), load(&c.answered), load(&c.ok), load(&c.errors), load(&c.transport), load(&c.disconnects)
    );
    println!(
        "ledger: {} answered ids ({} distinct), {} without a row; {rows} rows (attempt rows excluded); rows lost per /healthz: {}",
        ids.len(), unique.len(), missing, health["ledger"]["rows_lost"]
    );
    println!("spend: sum of rows {all_sum} pUSD, usage totals {rollup_sum} pUSD (first-attempt rows {row_sum})");
    println!(
        "client gone mid-request: {gone} rows (499), {estimated} charged an estimate totalling {estimated_sum} pUSD"
    );
    println!(
        "RSS: baseline {rss0} KiB, peak {} KiB, after idle {rss1} KiB; fds: baseline {fds0}, peak {}, after idle {fds1}",
        peak.0, peak.1
    );
    println!("panics in the log: {panics}; exit on SIGTERM: {exit}");
    let mut ok = true;
    let mut check = |cond: bool, what: &str| {
        if !cond {
            println!("FAILED: {what}");
            ok = false;
        }
    };
    check(missing == 0, "every answered request has a ledger row");
    check(unique.len() == ids.len(), "generation ids are unique");
    check(all_sum == rollup_sum, "spend equals the sum of the rows");
    check(fds1 <= fds0 + 4, "open file descriptors back to baseline");
    check(rss1 <= rss0 + rss0 / 2 + 8 * 1024, "RSS back near baseline");
    check(panics == 0, "no panic in the log");
    check(exit.success(), "clean exit on SIGTERM");
    check(health["ledger"]["rows_lost"] == 0, "no row lost");
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
