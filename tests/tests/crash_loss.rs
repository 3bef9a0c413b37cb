//! End to end: how many finished requests lose their ledger row when `arouter serve` is killed
//! (SIGKILL) or stopped (SIGTERM) under load. SIGKILL may lose at most the rows of requests
//! that finished within one ledger batch window before the kill, and the database must open
//! cleanly afterwards; SIGTERM loses none.

mod common;

use arouter_core::store::Store;
use arouter_store::{db_path, SqliteStore};
use arouter_tests::{MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The ledger's batch window (100 ms) plus its poll (5 ms) and scheduling slack.
const WINDOW: Duration = Duration::from_millis(400);

/// Requests finished (id, when) by 6 clients until `stop`.
async fn load(url: String, key: String, for_how_long: Duration) -> Vec<(String, Instant)> {
    let done = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let until = Instant::now() + for_how_long;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (url, key, done) = (url.clone(), key.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            while Instant::now() < until {
                let Ok(resp) = c
                    .post(&url)
                    .bearer_auth(&key)
                    .json(
                        &json!({"model": "oa/m", "messages": [{"role": "user", "content": "hi"}]}),
                    )
                    .send()
                    .await
                else {
                    return;
                };
                let id = resp
                    .headers()
                    .get("x-generation-id")
                    .map(|v| v.to_str().unwrap().to_string());
                if resp.status() == 200 && resp.bytes().await.is_ok() {
                    if let Some(id) = id {
                        done.lock().push((id, Instant::now()));
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let v = done.lock().clone();
    v
}

async fn setup() -> (MockUpstream, RouterProcess) {
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "default_model = \"oa/m\"\n{}\n",
        oa.provider_toml("oa", None)
    );
    (oa, RouterProcess::start(&cfg).await)
}

/// The finished requests with no ledger row, and the store (opened after the process ended).
fn missing(r: &RouterProcess, finished: &[(String, Instant)]) -> Vec<(String, Instant)> {
    let store = SqliteStore::open(&db_path(&r.data_dir)).expect("the database opens cleanly");
    let ok: String = rusqlite::Connection::open(db_path(&r.data_dir))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    finished
        .iter()
        .filter(|(id, _)| store.load_generation(id).is_none())
        .cloned()
        .collect()
}

#[tokio::test]
async fn sigkill_loses_at_most_one_batch_window_and_sigterm_loses_none() {
    let (_oa, mut r) = setup().await;
    let loader = load(
        r.url("/v1/chat/completions"),
        r.app_key.clone(),
        Duration::from_millis(2500),
    );
    // Kill while the load is still running: the last requests finish right before the kill.
    let (finished, killed_at) = {
        let kill_after = tokio::time::sleep(Duration::from_millis(2000));
        tokio::pin!(loader);
        tokio::pin!(kill_after);
        let mut killed_at = None;
        loop {
            tokio::select! {
                f = &mut loader => break (f, killed_at.unwrap_or_else(Instant::now)),
                _ = &mut kill_after, if killed_at.is_none() => {
                    r.kill9();
                    killed_at = Some(Instant::now());
                }
            }
        }
    };
    let finished: Vec<_> = finished
        .into_iter()
        .filter(|(_, t)| *t <= killed_at)
        .collect();
    assert!(
        finished.len() > 50,
        "only {} requests finished",
        finished.len()
    );
    let lost = missing(&r, &finished);
    let oldest_lost = lost.iter().map(|(_, t)| killed_at.duration_since(*t)).max();
    println!(
        "SIGKILL: {} finished, {} without a row (finished at most {:?} before the kill)",
        finished.len(),
        lost.len(),
        oldest_lost
    );
    assert!(
        oldest_lost.is_none_or(|d| d <= WINDOW),
        "a row older than one batch window was lost: {oldest_lost:?}"
    );

    // SIGTERM under load: every finished request keeps its row.
    r.restart().await;
    let loader = load(
        r.url("/v1/chat/completions"),
        r.app_key.clone(),
        Duration::from_millis(2500),
    );
    let (finished, stopped_at) = {
        let stop_after = tokio::time::sleep(Duration::from_millis(1500));
        tokio::pin!(loader);
        tokio::pin!(stop_after);
        let mut stopped_at = None;
        loop {
            tokio::select! {
                f = &mut loader => break (f, stopped_at.unwrap_or_else(Instant::now)),
                _ = &mut stop_after, if stopped_at.is_none() => {
                    r.sigterm();
                    stopped_at = Some(Instant::now());
                }
            }
        }
    };
    let status = r.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    let lost = missing(&r, &finished);
    println!(
        "SIGTERM: {} finished ({} after the signal), {} without a row",
        finished.len(),
        finished.iter().filter(|(_, t)| *t > stopped_at).count(),
        lost.len()
    );
    assert!(lost.is_empty(), "SIGTERM lost {} rows", lost.len());
}
