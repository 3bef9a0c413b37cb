//! `GET /metrics` end to end: a real Prometheus (Debian's `prometheus`) scrapes a running
//! ARouter with an admin key, `promtool check metrics` accepts the exposition, and PromQL over
//! Prometheus' HTTP API gives the per-key request count and token sum the ledger has for the
//! same traffic. Also: who may scrape (admin key; loopback without one only when switched on)
//! and that caller-chosen strings (X-Title, unknown model names) never become label values.

mod common;

use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port (bound then released; Prometheus cannot report a port 0 bind).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Prometheus scraping `target` (host:port) every second with `bearer`.
async fn prometheus(target: &str, bearer: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: arouter\n    metrics_path: /metrics\n\
         \x20   authorization:\n      type: Bearer\n      credentials: {bearer}\n\
         \x20   static_configs:\n      - targets: ['{target}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting prometheus");
    let p = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client().get(format!("{}/-/ready", p.url)).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready: {}",
            std::fs::read_to_string(p._dir.path().join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `sum by (key_name) (...)` as a map, from Prometheus' HTTP API.
async fn query_by_key(p: &Prometheus, promql: &str) -> BTreeMap<String, u64> {
    let r: Value = client()
        .get(format!("{}/api/v1/query", p.url))
        .query(&[("query", promql)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "success", "{r}");
    r["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let v: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
            (
                s["metric"]["key_name"].as_str().unwrap().to_string(),
                v as u64,
            )
        })
        .collect()
}

/// Per key name: (requests, input + output tokens) as the ledger has them.
fn ledger_by_key(router: &RouterProcess) -> BTreeMap<String, (u64, u64)> {
    let db = rusqlite::Connection::open(router.data_dir.join("arouter.db")).unwrap();
    let mut st = db
        .prepare(
            "SELECT k.name, COUNT(*), SUM(r.input_tokens + r.output_tokens) FROM requests r \
             JOIN keys k ON k.hash = r.key_hash WHERE r.id NOT LIKE '%-attempt%' GROUP BY k.name",
        )
        .unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64),
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

async fn new_key(router: &RouterProcess, name: &str) -> String {
    let out = router.cli(&["keys", "create", "--name", name]).await;
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap()
        .to_string()
}

async fn scrape(router: &RouterProcess, key: Option<&str>) -> reqwest::Response {
    let mut req = client().get(router.url("/metrics"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn prometheus_scrape_matches_the_ledger() {
    if !have("prometheus") || !have("promtool") {
        panic!("prometheus and promtool are needed (apt-get install prometheus; .ci/run does)");
    }
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let an = MockUpstream::start(Vendor::Anthropic).await;
    let cfg = format!(
        "{}models = [\"m\"]\n{}models = [\"m\"]\n",
        oa.provider_toml("oa", None),
        an.provider_toml("an", None),
    );
    let router = RouterProcess::start(&cfg).await;
    let other = new_key(&router, "otherapp").await;

    // Who may scrape: an admin key; not an app key, not anonymous (metrics_open is off).
    assert_eq!(scrape(&router, None).await.status(), 401);
    assert_eq!(scrape(&router, Some(&router.app_key)).await.status(), 403);

    let chat = |key: &str, model: &str, stream: bool| {
        let mut body =
            json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]});
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        client()
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("x-title", format!("title-{}", rand_suffix()))
            .json(&body)
            .send()
    };
    for _ in 0..3 {
        let r = chat(&router.app_key, "oa/m", false).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    for _ in 0..2 {
        let r = chat(&router.app_key, "oa/m", true).await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap();
    }
    // A model nobody configured: served, but labelled "other".
    let r = chat(&router.app_key, "oa/made-up-model-xyz", false)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    oa.push(Behavior::error(400));
    let r = chat(&other, "oa/m", false).await.unwrap();
    assert_eq!(r.status(), 400);
    for _ in 0..2 {
        let r = client()
            .post(router.url("/v1/messages"))
            .header("x-api-key", &other)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "an/m", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // The ledger has every row (the writer commits within ~100 ms).
    let deadline = Instant::now() + Duration::from_secs(10);
    let ledger = loop {
        let l = ledger_by_key(&router);
        if l.values().map(|v| v.0).sum::<u64>() == 9 || Instant::now() > deadline {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ledger["testapp"].0, 6, "{ledger:?}");
    assert_eq!(ledger["otherapp"].0, 3, "{ledger:?}");
    assert!(ledger["testapp"].1 > 0 && ledger["otherapp"].1 > 0);

    // The exposition itself: valid, bounded labels.
    let r = scrape(&router, Some(&router.admin_key)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    promtool_check(&text);
    assert!(!text.contains("title-"), "X-Title leaked into labels");
    assert!(
        !text.contains("made-up-model"),
        "an unknown model became a label"
    );
    assert!(text.contains("gen_ai_response_model=\"other\""), "{text}");
    for family in [
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
        "gen_ai_client_token_usage_bucket",
        "arouter_upstream_errors_total{gen_ai_provider_name=\"oa\",error_type=\"invalid_request\"} 1",
        "arouter_provider_cooldown{gen_ai_provider_name=\"an\"} 0",
        "arouter_ledger_rows_lost_total 0",
        "arouter_ledger_rows_written_total",
        "arouter_ledger_queue_depth",
    ] {
        assert!(text.contains(family), "missing {family}:\n{text}");
    }

    // A real Prometheus scrapes it with the admin key; PromQL agrees with the ledger.
    let target = router.base_url.trim_start_matches("http://").to_string();
    let prom = prometheus(&target, &router.admin_key).await;
    let want_requests: BTreeMap<String, u64> =
        ledger.iter().map(|(k, v)| (k.clone(), v.0)).collect();
    let want_tokens: BTreeMap<String, u64> = ledger.iter().map(|(k, v)| (k.clone(), v.1)).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let requests = query_by_key(&prom, "sum by (key_name) (arouter_requests_total)").await;
        let tokens = query_by_key(
            &prom,
            "sum by (key_name) (arouter_tokens_total{gen_ai_token_type=~\"input|output\"})",
        )
        .await;
        if requests == want_requests && tokens == want_tokens {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PromQL {requests:?} / {tokens:?} never matched the ledger {ledger:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let up = query_by_key(
        &prom,
        "sum by (key_name) (label_replace(up, \"key_name\", \"up\", \"\", \"\"))",
    )
    .await;
    assert_eq!(up.get("up"), Some(&1));
}

#[tokio::test]
async fn loopback_scrape_without_a_key_only_when_switched_on() {
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "[telemetry]\nmetrics_open = true\n{}",
        oa.provider_toml("oa", None)
    );
    let router = RouterProcess::start(&cfg).await;
    let r = scrape(&router, None).await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("# TYPE arouter_requests_total counter"));
}

#[tokio::test]
async fn refusals_fallbacks_and_retries_are_counted() {
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let an = MockUpstream::start(Vendor::Anthropic).await;
    let cfg = format!(
        "[aliases]\nboth = [\"oa/m\", \"an/m\"]\n\
         [models.\"oa/m\"]\ninput_per_mtok = 5.0\noutput_per_mtok = 5.0\n{}models = [\"m\"]\n{}models = [\"m\"]\n",
        oa.provider_toml("oa", None),
        an.provider_toml("an", None),
    );
    let router = RouterProcess::start(&cfg).await;
    let limited = {
        let out = router
            .cli(&["keys", "create", "--name", "limited", "--rpm", "1"])
            .await;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap()
            .trim()
            .to_string()
    };
    let budgeted = {
        let out = router
            .cli(&["keys", "create", "--name", "budgeted", "--budget", "0.0001"])
            .await;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap()
            .trim()
            .to_string()
    };
    let chat = |key: &str, model: &str| {
        client()
            .post(router.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": model, "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    assert_eq!(chat(&limited, "oa/m").await.unwrap().status(), 200);
    assert_eq!(chat(&limited, "oa/m").await.unwrap().status(), 429);
    assert_eq!(chat(&budgeted, "oa/m").await.unwrap().status(), 402);
    // oa fails with a 500: the alias falls back to an.
    oa.push(Behavior::error(500));
    assert_eq!(chat(&router.app_key, "both").await.unwrap().status(), 200);
    // The last candidate answers 503 once: retried on the same provider.
    an.push(Behavior::error(503));
    assert_eq!(chat(&router.app_key, "an/m").await.unwrap().status(), 200);

    let text = scrape(&router, Some(&router.admin_key))
        .await
        .text()
        .await
        .unwrap();
    promtool_check(&text);
    for line in [
        "arouter_refusals_total{key_name=\"limited\",reason=\"rate_limit\"} 1",
        "arouter_refusals_total{key_name=\"budgeted\",reason=\"budget\"} 1",
        "arouter_fallbacks_total{gen_ai_provider_name=\"oa\"} 1",
        "arouter_retries_total{gen_ai_provider_name=\"an\"} 1",
        "arouter_upstream_errors_total{gen_ai_provider_name=\"oa\",error_type=\"provider_error\"} 1",
        "arouter_upstream_errors_total{gen_ai_provider_name=\"an\",error_type=\"overloaded\"} 1",
        "key_name=\"budgeted\",gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"oa\",gen_ai_response_model=\"oa/m\",surface=\"openai\",http_response_status_code=\"402\"} 1",
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }

    // The Health view's endpoint: admin only; per provider state, recent errors, quantiles.
    let health = |key: &str| {
        client()
            .get(router.url("/api/v1/health"))
            .bearer_auth(key)
            .send()
    };
    assert_eq!(health(&router.app_key).await.unwrap().status(), 403);
    let h: Value = health(&router.admin_key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = |id: &str| {
        h["data"]["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()
            .clone()
    };
    let (oa_h, an_h) = (p("oa"), p("an"));
    assert_eq!(oa_h["state"], "failing", "{h}");
    assert!(
        oa_h["last_error"].as_str().unwrap().starts_with("oa: "),
        "{h}"
    );
    assert!(oa_h["last_error_at_ms"].as_i64().is_some(), "{h}");
    assert_eq!(an_h["state"], "ok", "{h}");
    // oa: the rate-limited key's success, the budget refusal (a 402 before any upstream call,
    // still a failed request of oa's), the 500 that fell back.
    assert_eq!(oa_h["recent"]["attempts"], 3, "{h}");
    assert_eq!(oa_h["recent"]["errors"], 2, "{h}");
    // an: the fallback's success, the retried 503, the retry's success.
    assert_eq!(an_h["recent"]["attempts"], 3, "{h}");
    assert_eq!(an_h["recent"]["errors"], 1, "{h}");
    assert!(
        an_h["recent"]["latency_ms"]["p50"].as_u64().is_some(),
        "{h}"
    );
    assert!(
        an_h["recent"]["latency_ms"]["p95"].as_u64().is_some(),
        "{h}"
    );
    assert_eq!(h["data"]["ledger"]["rows_lost"], 0);
    assert_eq!(h["data"]["traces"]["enabled"], false);
}

fn rand_suffix() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
