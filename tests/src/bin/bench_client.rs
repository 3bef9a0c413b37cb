//! `bench_client`: the benchmark's timing client — streaming first byte / first chunk /
//! per-chunk delay (alternating targets), RSS under many concurrent streams, and cold start.
//!
//! A target is `DIALECT|URL|MODEL|KEY` (dialect `openai` or `anthropic`; KEY may be empty).
//! Subcommands (every loop is bounded by a count and a deadline):
//! - `stream N TARGET...` — N rounds; each round streams once from every target in turn.
//! - `streams CONCURRENCY PID TARGET` — that many streams at once; samples PID's RSS.
//! - `coldstart N PORT KEY MODEL BIN ARGS...` — spawns BIN N times; spawn → `/healthz` 200 →
//!   first chat 200 on `127.0.0.1:PORT`.

use futures_util::StreamExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// No single stream or request may take longer than this.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Target {
    dialect: String,
    url: String,
    model: String,
    key: String,
}

impl Target {
    fn parse(s: &str) -> Result<Target, String> {
        let parts: Vec<&str> = s.splitn(4, '|').collect();
        let [dialect, url, model, key] = parts[..] else {
            return Err(format!("target {s:?}: expected DIALECT|URL|MODEL|KEY"));
        };
        if dialect != "openai" && dialect != "anthropic" {
            return Err(format!("target {s:?}: dialect must be openai or anthropic"));
        }
        Ok(Target {
            dialect: dialect.into(),
            url: url.into(),
            model: model.into(),
            key: key.into(),
        })
    }

    fn request(&self, http: &reqwest::Client, stream: bool) -> reqwest::RequestBuilder {
        let body = serde_json::json!({
            "model": self.model,
            "max_tokens": 64,
            "stream": stream,
            "messages": [{"role": "user", "content": "Say hello."}],
        });
        let mut rb = http.post(&self.url).json(&body);
        if !self.key.is_empty() {
            rb = if self.dialect == "anthropic" {
                rb.header("x-api-key", &self.key)
                    .header("anthropic-version", "2023-06-01")
            } else {
                rb.bearer_auth(&self.key)
            };
        }
        rb
    }
}

fn unix_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// One stream's timings, in microseconds.
struct StreamTiming {
    /// Request sent → response headers.
    ttfb_us: f64,
    /// Request sent → first content chunk (a `ts:` stamp) read.
    first_chunk_us: f64,
    /// Per content chunk: read time minus the mock's send time.
    chunk_delay_us: Vec<f64>,
    /// Largest gap between two consecutive content chunks.
    max_gap_us: f64,
}

/// Every `ts:<ns>;` stamp in a byte slice.
fn stamps(bytes: &[u8]) -> Vec<i128> {
    let text = String::from_utf8_lossy(bytes);
    text.split("ts:")
        .skip(1)
        .filter_map(|rest| rest.split(';').next()?.parse().ok())
        .collect()
}

async fn stream_once(http: &reqwest::Client, t: &Target) -> Result<StreamTiming, String> {
    let sent = Instant::now();
    let resp = t
        .request(http, true)
        .send()
        .await
        .map_err(|e| format!("{}: {e}", t.url))?;
    let ttfb = sent.elapsed();
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("{}: HTTP {status}: {body}", t.url));
    }
    let mut body = resp.bytes_stream();
    let mut carry: Vec<u8> = Vec::new();
    let mut first_chunk = None;
    let mut delays = Vec::new();
    let mut last_read: Option<Instant> = None;
    let mut max_gap = Duration::ZERO;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("{}: {e}", t.url))?;
        let (now, now_ns) = (Instant::now(), unix_ns());
        carry.extend_from_slice(&chunk);
        // Only complete SSE frames: a stamp cut in two must not be parsed early.
        let Some(end) = carry.windows(2).rposition(|w| w == b"\n\n") else {
            continue;
        };
        let found = stamps(&carry[..end]);
        carry.drain(..end + 2);
        if found.is_empty() {
            continue;
        }
        first_chunk.get_or_insert(now - sent);
        if let Some(prev) = last_read {
            max_gap = max_gap.max(now - prev);
        }
        last_read = Some(now);
        delays.extend(found.iter().map(|s| (now_ns - s) as f64 / 1000.0));
    }
    let first_chunk = first_chunk.ok_or_else(|| format!("{}: no content chunk", t.url))?;
    Ok(StreamTiming {
        ttfb_us: ttfb.as_secs_f64() * 1e6,
        first_chunk_us: first_chunk.as_secs_f64() * 1e6,
        chunk_delay_us: delays,
        max_gap_us: max_gap.as_secs_f64() * 1e6,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

async fn cmd_stream(rounds: usize, targets: Vec<Target>) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_DEADLINE)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut all: Vec<Vec<StreamTiming>> = targets.iter().map(|_| Vec::new()).collect();
    // Warm-up: connections, caches.
    for t in &targets {
        stream_once(&http, t).await?;
    }
    for _ in 0..rounds {
        if Instant::now() > deadline {
            eprintln!("stream: deadline reached");
            break;
        }
        for (t, out) in targets.iter().zip(all.iter_mut()) {
            out.push(stream_once(&http, t).await?);
        }
    }
    for (t, runs) in targets.iter().zip(&all) {
        let ttfb = sorted(runs.iter().map(|r| r.ttfb_us).collect());
        let first = sorted(runs.iter().map(|r| r.first_chunk_us).collect());
        let delays = sorted(runs.iter().flat_map(|r| r.chunk_delay_us.clone()).collect());
        let gaps = sorted(runs.iter().map(|r| r.max_gap_us).collect());
        let chunks = runs.iter().map(|r| r.chunk_delay_us.len()).sum::<usize>();
        let line = serde_json::json!({
            "target": format!("{} {} {}", t.dialect, t.url, t.model),
            "streams": runs.len(),
            "chunks_per_stream": chunks as f64 / runs.len().max(1) as f64,
            "ttfb_us": {"p50": percentile(&ttfb, 0.5), "p90": percentile(&ttfb, 0.9)},
            "first_chunk_us": {"p50": percentile(&first, 0.5), "p90": percentile(&first, 0.9)},
            "chunk_delay_us": {
                "p50": percentile(&delays, 0.5), "p90": percentile(&delays, 0.9),
                "p99": percentile(&delays, 0.99), "max": percentile(&delays, 1.0)
            },
            "max_gap_between_chunks_us": {"p50": percentile(&gaps, 0.5), "max": percentile(&gaps, 1.0)},
        });
        println!("{line}");
    }
    Ok(())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

async fn cmd_streams(concurrency: usize, pid: u32, t: Target) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let idle = rss_kib(pid).ok_or("cannot read the RSS of the pid")?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, t) = (http.clone(), t.clone());
            tokio::spawn(async move { stream_once(&http, &t).await })
        })
        .collect();
    let all = futures_util::future::join_all(tasks);
    tokio::pin!(all);
    let mut peak = idle;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let results = loop {
        tokio::select! {
            r = &mut all => break r,
            _ = tick.tick() => peak = peak.max(rss_kib(pid).unwrap_or(0)),
        }
    };
    let ok = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let first_err = results.iter().find_map(|r| match r {
        Ok(Err(e)) => Some(e.clone()),
        Err(e) => Some(e.to_string()),
        Ok(Ok(_)) => None,
    });
    let line = serde_json::json!({
        "target": format!("{} {} {}", t.dialect, t.url, t.model),
        "concurrency": concurrency,
        "ok": ok,
        "first_error": first_err,
        "rss_before_mib": idle as f64 / 1024.0,
        "rss_peak_mib": peak as f64 / 1024.0,
        "rss_after_mib": rss_kib(pid).unwrap_or(0) as f64 / 1024.0,
        "wall_s": started.elapsed().as_secs_f64(),
    });
    println!("{line}");
    Ok(())
}

/// Polls `url` until it answers 200 or `deadline` passes.
async fn wait_200(
    http: &reqwest::Client,
    rb: impl Fn() -> reqwest::RequestBuilder,
    deadline: Instant,
) -> bool {
    let _ = http;
    while Instant::now() < deadline {
        if let Ok(r) = rb().send().await {
            if r.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    false
}

async fn cmd_coldstart(
    n: usize,
    port: u16,
    key: String,
    model: String,
    cmd: Vec<String>,
) -> Result<(), String> {
    let (bin, args) = cmd.split_first().ok_or("coldstart: no binary")?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let health = format!("http://127.0.0.1:{port}/healthz");
    let chat = Target {
        dialect: "openai".into(),
        url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
        model,
        key,
    };
    let (mut to_health, mut to_chat) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let spawned = Instant::now();
        let mut child = tokio::process::Command::new(bin)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn {bin}: {e}"))?;
        let deadline = spawned + Duration::from_secs(10);
        let healthy = wait_200(&http, || http.get(&health), deadline).await;
        let t_health = spawned.elapsed();
        let chatted = healthy && wait_200(&http, || chat.request(&http, false), deadline).await;
        let t_chat = spawned.elapsed();
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        if !chatted {
            return Err(format!(
                "coldstart: no 200 within 10 s (healthz ok: {healthy})"
            ));
        }
        to_health.push(t_health.as_secs_f64() * 1000.0);
        to_chat.push(t_chat.as_secs_f64() * 1000.0);
        // Let the port and the database settle between spawns.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (h, c) = (sorted(to_health), sorted(to_chat));
    let line = serde_json::json!({
        "runs": n,
        "spawn_to_healthz_ms": {"min": percentile(&h, 0.0), "p50": percentile(&h, 0.5), "max": percentile(&h, 1.0)},
        "spawn_to_first_chat_ms": {"min": percentile(&c, 0.0), "p50": percentile(&c, 0.5), "max": percentile(&c, 1.0)},
    });
    println!("{line}");
    Ok(())
}

fn parse<T: std::str::FromStr>(s: Option<&String>, what: &str) -> Result<T, String> {
    s.and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("expected {what}"))
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let targets = |from: usize| -> Result<Vec<Target>, String> {
        args.iter().skip(from).map(|s| Target::parse(s)).collect()
    };
    match args.first().map(String::as_str) {
        Some("stream") => cmd_stream(parse(args.get(1), "N rounds")?, targets(2)?).await,
        Some("streams") => {
            let t = targets(3)?.pop().ok_or("streams: expected a target")?;
            cmd_streams(
                parse(args.get(1), "concurrency")?,
                parse(args.get(2), "pid")?,
                t,
            )
            .await
        }
        Some("coldstart") => {
            cmd_coldstart(
                parse(args.get(1), "N runs")?,
                parse(args.get(2), "port")?,
                args.get(3).cloned().unwrap_or_default(),
                args.get(4).cloned().unwrap_or_default(),
                args.iter().skip(5).cloned().collect(),
            )
            .await
        }
        _ => Err("usage: bench_client stream|streams|coldstart … (see the module doc)".into()),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match tokio::time::timeout(Duration::from_secs(300), run(args)).await {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("bench_client: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("bench_client: gave up after 300 s");
            std::process::ExitCode::FAILURE
        }
    }
}
