//! Team mode end to end: two `arouter serve` processes on one PostgreSQL database (a throwaway
//! cluster; skipped with the reason printed when PostgreSQL is absent) share keys, rpm limits
//! and the ledger.

mod common;

use arouter_tests::harness::RouterOptions;
use arouter_tests::pg::Pg;
use arouter_tests::{MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OA_KEY: &str = "sk-upstream-oa";

struct Team {
    oa: MockUpstream,
    a: RouterProcess,
    b: RouterProcess,
    db: String,
}

async fn team(pg: &Pg, db: &str) -> Team {
    let url = pg.create_db(db);
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    oa.expect_key(Some(OA_KEY));
    let cfg = format!(
        "default_model = \"oa/m\"\n{}\n[models.\"oa/m\"]\ninput_per_mtok = 5.0\noutput_per_mtok = 5.0\n",
        oa.provider_toml("oa", Some("OA_TEST_KEY"))
    );
    let options = RouterOptions::default()
        .env("OA_TEST_KEY", OA_KEY)
        .env("AROUTER_DATABASE_URL", &url);
    let a = RouterProcess::start_with(&cfg, options.clone()).await;
    let b = RouterProcess::start_with(
        &cfg,
        RouterOptions {
            no_keys: true,
            ..options
        },
    )
    .await;
    assert!(
        a.stdout_log().contains("PostgreSQL (team mode)"),
        "{}",
        a.stdout_log()
    );
    Team {
        oa,
        a,
        b,
        db: db.to_string(),
    }
}

async fn new_key(router: &RouterProcess, args: &[&str]) -> String {
    let mut full = vec!["keys", "create"];
    full.extend_from_slice(args);
    let out = router.cli(&full).await;
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .expect("a key")
        .to_string()
}

fn chat() -> Value {
    json!({"model": "oa/m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]})
}

async fn status(router: &RouterProcess, key: &str) -> u16 {
    client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat())
        .send()
        .await
        .expect("request completes")
        .status()
        .as_u16()
}

fn rows_for(pg: &Pg, db: &str, key: &str) -> i64 {
    let hash = arouter_core::store::hash_key(key);
    pg.psql(
        db,
        &format!("SELECT count(*) FROM requests WHERE key_hash = '{hash}'"),
    )
    .parse()
    .unwrap()
}

#[tokio::test]
async fn a_key_made_on_one_instance_works_on_the_other_and_a_revoke_reaches_it_within_a_second() {
    let Some(pg) = Pg::shared() else { return };
    let t = team(pg, "team_keys").await;
    assert_eq!(
        status(&t.b, &t.a.app_key).await,
        200,
        "a key made before B started"
    );
    let fresh = new_key(&t.a, &["--name", "fresh"]).await;
    assert_eq!(
        status(&t.b, &fresh).await,
        200,
        "a key made on A, used on B at once"
    );
    let out = t.a.cli(&["keys", "revoke", "fresh"]).await;
    assert!(out.status.success(), "{out:?}");
    let revoked = Instant::now();
    loop {
        if status(&t.b, &fresh).await == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B still takes a revoked key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listed = t.b.cli(&["keys", "list"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("fresh") && listed.contains("revoked"),
        "{listed}"
    );
}

async fn api(
    router: &RouterProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, router.url(path))
        .bearer_auth(&router.admin_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request completes");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `probe` until it holds, for at most `limit`.
async fn within<F, Fut>(limit: Duration, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !probe().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_management_api_ui_cli_and_batches_share_one_database() {
    let Some(pg) = Pg::shared() else { return };
    let mut t = team(pg, "team_manage").await;
    // B was started without keys of its own: A's admin key is in the shared database.
    t.b.admin_key = t.a.admin_key.clone();
    use reqwest::Method;

    // A key made with the management API on A, edited there, is seen edited on B.
    let (status, made) = api(
        &t.a,
        Method::POST,
        "/api/v1/keys",
        Some(json!({"name": "web", "limit": 5, "limit_reset": "daily"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let raw = made["key"].as_str().expect("the raw key, once").to_string();
    let hash = made["data"]["hash"].as_str().unwrap().to_string();
    let (status, edited) = api(
        &t.a,
        Method::PATCH,
        &format!("/api/v1/keys/{hash}"),
        Some(json!({"limit_reset": "weekly"})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    let path = format!("/api/v1/keys/{hash}");
    within(Duration::from_secs(1), "the edit on B", || async {
        let (_, seen) = api(&t.b, Method::GET, &path, None).await;
        seen["data"]["limit_reset"] == "weekly"
    })
    .await;

    // Requests on both instances land in one ledger: each sees both in its usage and log.
    assert_eq!(crate::status(&t.a, &raw).await, 200);
    assert_eq!(crate::status(&t.b, &raw).await, 200);
    // Another instance's rows reach the database with its writer's next batch.
    within(
        Duration::from_secs(5),
        "both requests in B's log",
        || async {
            let (_, log) = api(&t.b, Method::GET, "/api/v1/requests?limit=50", None).await;
            log["data"].as_array().map_or(0, |rows| {
                rows.iter().filter(|r| r["key_name"] == "web").count()
            }) == 2
        },
    )
    .await;
    let (status, usage) = api(&t.a, Method::GET, "/api/v1/usage?group_by=key", None).await;
    assert_eq!(status, 200, "{usage}");
    let (_, key_view) = api(&t.b, Method::GET, &path, None).await;
    assert!(
        key_view["data"]["usage"].as_f64().unwrap() > 0.0,
        "{key_view}"
    );

    // Credits added on A are B's balance too; the CLI reads the same database.
    let (status, credit) = api(
        &t.a,
        Method::POST,
        "/api/v1/credits",
        Some(json!({"amount": 10})),
    )
    .await;
    assert!(status == 200 || status == 201, "{credit}");
    let (_, balance_a) = api(&t.a, Method::GET, "/api/v1/credits", None).await;
    let (_, balance_b) = api(&t.b, Method::GET, "/api/v1/credits", None).await;
    assert_eq!(balance_a, balance_b);
    assert_eq!(balance_b["data"]["total_credits"], 10.0, "{balance_b}");
    let out = t.b.cli(&["credits", "add", "2.5"]).await;
    assert!(out.status.success(), "{out:?}");
    let (_, balance) = api(&t.a, Method::GET, "/api/v1/credits", None).await;
    assert_eq!(balance["data"]["total_credits"], 12.5, "{balance}");
    let out = t.a.cli(&["usage", "--by", "key"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("web"),
        "{out:?}"
    );

    // The web UI is served.
    let ui = client().get(t.b.url("/ui/")).send().await.unwrap();
    assert_eq!(ui.status().as_u16(), 200);

    // A Message Batch made on A runs once (on either worker) and reads back on B.
    let requests: Vec<Value> = (0..6)
        .map(|i| {
            json!({"custom_id": format!("r{i}"), "params": {
                "model": "oa/m", "max_tokens": 16,
                "messages": [{"role": "user", "content": format!("q{i}")}]}})
        })
        .collect();
    let (status, batch) = api(
        &t.a,
        Method::POST,
        "/v1/messages/batches",
        Some(json!({"requests": requests})),
    )
    .await;
    assert_eq!(status, 200, "{batch}");
    let id = batch["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        let (_, b) = api(
            &t.b,
            Method::GET,
            &format!("/v1/messages/batches/{id}"),
            None,
        )
        .await;
        if b["processing_status"] == "ended" {
            break b;
        }
        assert!(Instant::now() < deadline, "batch never ended: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ended["request_counts"]["succeeded"], 6, "{ended}");
    let results = client()
        .get(t.b.url(&format!("/v1/messages/batches/{id}/results")))
        .bearer_auth(&t.b.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ids: Vec<String> = results
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["custom_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4", "r5"]);
    // Each request went upstream once, though two workers poll the same database.
    let batch_calls =
        t.oa.requests()
            .iter()
            .filter(|r| {
                r.json.as_ref().is_some_and(|j| {
                    j["messages"][0]["content"]
                        .as_str()
                        .is_some_and(|c| c.starts_with('q'))
                })
            })
            .count();
    assert_eq!(batch_calls, 6);
}

#[tokio::test]
async fn fifty_requests_over_two_instances_against_rpm_10_give_exactly_10() {
    let Some(pg) = Pg::shared() else { return };
    let t = team(pg, "team_rpm").await;
    let key = new_key(&t.a, &["--name", "limited", "--rpm", "10"]).await;
    let burst = (0..50).map(|i| {
        let router = if i % 2 == 0 { &t.a } else { &t.b };
        status(router, &key)
    });
    let statuses = futures_util::future::join_all(burst).await;
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((ok, limited), (10, 40), "{statuses:?}");
    assert_eq!(
        t.oa.call_count(),
        10,
        "refused requests never reach upstream"
    );
}

#[tokio::test]
async fn sigterm_to_one_instance_mid_load_loses_no_finished_row() {
    let Some(pg) = Pg::shared() else { return };
    let mut t = team(pg, "team_sigterm").await;
    let key = new_key(&t.a, &["--name", "load"]).await;
    let done = Arc::new(AtomicUsize::new(0));
    let url = t.a.url("/v1/chat/completions");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (done, url, key) = (done.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                for _ in 0..200 {
                    let sent = client()
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&chat())
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            if r.bytes().await.is_ok() {
                                done.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    while done.load(Ordering::SeqCst) < 40 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    t.a.sigterm();
    let exit = t.a.wait_exit(Duration::from_secs(40)).await;
    assert!(exit.success(), "{exit:?}\n{}", t.a.stderr_log());
    for w in workers {
        w.await.unwrap();
    }
    let finished = done.load(Ordering::SeqCst) as i64;
    assert!(finished >= 40, "load ran: {finished}");
    assert_eq!(
        rows_for(pg, &t.db, &key),
        finished,
        "every finished request has its row"
    );
    // B kept serving throughout.
    assert_eq!(status(&t.b, &key).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_postgres_mid_load_loses_no_row() {
    // Its own cluster: the test stops and starts the server.
    let Some(pg) = Pg::start() else { return };
    let t = team(&pg, "team_restart").await;
    let key = new_key(&t.a, &["--name", "load"]).await;
    let ok = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = [&t.a, &t.b]
        .into_iter()
        .map(|r| {
            let (ok, url, key) = (ok.clone(), r.url("/v1/chat/completions"), key.clone());
            tokio::spawn(async move {
                let until = Instant::now() + Duration::from_secs(4);
                while Instant::now() < until {
                    let sent = client()
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&chat())
                        .send()
                        .await;
                    if let Ok(r) = sent {
                        if r.status().is_success() && r.bytes().await.is_ok() {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    tokio::task::block_in_place(|| {
        pg.stop();
        std::thread::sleep(Duration::from_millis(1500));
        pg.start_server();
    });
    for w in workers {
        w.await.unwrap();
    }
    let served = ok.load(Ordering::SeqCst) as i64;
    assert!(served > 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = rows_for(&pg, &t.db, &key);
        if rows == served {
            break;
        }
        assert!(
            Instant::now() < deadline && rows < served,
            "{rows} rows for {served} served requests"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_budgeted_key_is_never_overspent_across_both_instances() {
    let Some(pg) = Pg::shared() else { return };
    let t = team(pg, "team_budget").await;
    // Worst case per request (20 output + a prompt estimate, at $5/Mtok) is about a tenth of
    // the budget: 50 at once over both instances cannot all fit.
    let key = new_key(&t.a, &["--name", "budgeted", "--budget", "0.001"]).await;
    let mut statuses = Vec::new();
    for _round in 0..4 {
        let burst = (0..50).map(|i| {
            let router = if i % 2 == 0 { &t.a } else { &t.b };
            status(router, &key)
        });
        statuses.extend(futures_util::future::join_all(burst).await);
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 402),
        "{statuses:?}"
    );
    let ok = statuses.iter().filter(|s| **s == 200).count() as i64;
    assert!(ok >= 1 && statuses.contains(&402), "{statuses:?}");
    // Every served request's row lands; their costs stay within the limit (1e9 pico-USD).
    let hash = arouter_core::store::hash_key(&key);
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows_for(pg, &t.db, &key) < ok {
        assert!(Instant::now() < deadline, "rows missing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spent: i64 = pg
        .psql(
            &t.db,
            &format!("SELECT COALESCE(SUM(cost_pusd), 0) FROM requests WHERE key_hash = '{hash}'"),
        )
        .parse()
        .unwrap();
    assert!(
        spent > 0 && spent <= 1_000_000_000,
        "spent {spent} pico-USD"
    );
}

#[tokio::test]
async fn sigkill_mid_load_loses_at_most_the_last_batch_window() {
    let Some(pg) = Pg::shared() else { return };
    let mut t = team(pg, "team_sigkill").await;
    let key = new_key(&t.a, &["--name", "load"]).await;
    let started = Instant::now();
    // Finish times (ms since `started`) of the requests that completed.
    let finished = Arc::new(parking_lot::Mutex::new(Vec::<u128>::new()));
    let url = t.a.url("/v1/chat/completions");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (finished, url, key) = (finished.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                for _ in 0..300 {
                    let sent = client()
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&chat())
                        .send()
                        .await;
                    let Ok(r) = sent else { break };
                    if !r.status().is_success() || r.bytes().await.is_err() {
                        break;
                    }
                    finished.lock().push(started.elapsed().as_millis());
                }
            })
        })
        .collect();
    // Load for 2.5 s at least, so most finished requests are well before the kill.
    while (finished.lock().len() < 60 || started.elapsed() < Duration::from_millis(2500))
        && started.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed_at = started.elapsed().as_millis();
    t.a.kill9();
    for w in workers {
        w.await.unwrap();
    }
    let done = finished.lock().clone();
    let rows = rows_for(pg, &t.db, &key) as usize;
    // The writer batches for 50 ms, then writes: allow a generous 1 s window before the kill.
    let settled_before = done.iter().filter(|&&ms| ms + 1000 < killed_at).count();
    assert!(settled_before >= 30, "the load ran: {settled_before}");
    eprintln!("SIGKILL: {} finished, {rows} rows", done.len());
    assert!(
        rows >= settled_before && rows <= done.len(),
        "{rows} rows; {} finished, {settled_before} of them over a second before the kill",
        done.len()
    );
}
