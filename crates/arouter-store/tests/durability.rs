//! The ledger under a locked database and oversize bodies: rows are kept and retried, never
//! dropped; bodies are bounded and purged after their retention.

use arouter_core::store::{Store, StoredJson, UsageRecord};
use arouter_store::{db_path, GroupBy, ManageStore, SqliteStore};
use std::time::{Duration, Instant};

type TestResult = anyhow::Result<()>;

fn record(id: &str, created_ms: i64) -> UsageRecord {
    UsageRecord {
        id: id.to_string(),
        created_ms,
        app: "app".into(),
        surface: "openai".into(),
        endpoint: "chat".into(),
        requested_model: "p/m".into(),
        served_model: "p/m".into(),
        provider: "p".into(),
        cost_pusd: 3,
        priced: true,
        status: 200,
        ..UsageRecord::default()
    }
}

fn total(store: &SqliteStore) -> anyhow::Result<i64> {
    Ok(store
        .usage_summary(i64::MIN, GroupBy::App)?
        .iter()
        .map(|r| r.requests)
        .sum())
}

/// Another process holds the write lock longer than SQLite's busy timeout: the writer's batch
/// fails, is kept, and lands once the lock is gone. Recording never blocked meanwhile.
#[test]
fn rows_survive_a_database_locked_past_the_busy_timeout() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = db_path(dir.path());
    let store = SqliteStore::open(&path)?;
    let locker = rusqlite::Connection::open(&path)?;
    locker.execute_batch(
        "BEGIN IMMEDIATE; INSERT INTO keys (hash, name, label, created_at, updated_at) \
         VALUES ('lock', 'lock', 'lock', 0, 0);",
    )?;
    let started = Instant::now();
    for i in 0..500 {
        let t = Instant::now();
        store.record(record(&format!("gen-{i}"), 1_000 + i));
        assert!(t.elapsed() < Duration::from_millis(50), "record blocked");
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(600));
        }
    }
    // Past the writer's 5 s busy timeout.
    let remaining = Duration::from_millis(6_500).saturating_sub(started.elapsed());
    std::thread::sleep(remaining);
    locker.execute_batch("ROLLBACK;")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while total(&store)? < 500 {
        assert!(
            Instant::now() < deadline,
            "rows did not land after the lock went"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    store.shutdown();
    assert_eq!(total(&store)?, 500);
    assert_eq!(store.dropped_records(), 0);
    assert_eq!(store.lost_records(), 0);
    Ok(())
}

#[test]
fn oversize_bodies_are_marked_and_old_bodies_purged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&db_path(dir.path()))?;
    let mut big = record("gen-big", 1_000);
    big.request_body = Some(StoredJson(vec![b' '; 5 << 20].into()));
    big.response_body = Some(StoredJson(b"{\"ok\":true}".to_vec().into()));
    store.record(big);
    let mut recent = record("gen-recent", 10_000);
    recent.request_body = Some(StoredJson(b"{\"a\":1}".to_vec().into()));
    store.record(recent);
    store.flush();
    let got = store.load_generation("gen-big").expect("row kept");
    let req = got.request_body.expect("marker kept").to_value();
    assert_eq!(req["arouter_truncated"], true, "{req}");
    assert_eq!(req["original_bytes"], 5 << 20);
    assert_eq!(got.response_body.unwrap().to_value()["ok"], true);
    assert_eq!(store.purge_bodies(5_000)?, 1);
    assert!(store
        .load_generation("gen-big")
        .unwrap()
        .request_body
        .is_none());
    assert!(store
        .load_generation("gen-recent")
        .unwrap()
        .request_body
        .is_some());
    assert_eq!(total(&store)?, 2, "purging bodies keeps the rows");
    Ok(())
}

#[cfg(unix)]
#[test]
fn data_dir_and_database_files_are_private() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let store = SqliteStore::open(&db_path(&data))?;
    store.record(record("gen-1", 1));
    store.flush();
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(&data)?, 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db_path(&data).into_os_string();
        p.push(suffix);
        assert_eq!(mode(std::path::Path::new(&p))?, 0o600, "{suffix}");
    }
    Ok(())
}

/// The queue is bounded in bytes, not rows: while the writer cannot write, stored bodies queue
/// up to 64 MiB; past it rows are queued without their bodies (counted), and every row lands.
#[test]
fn queued_bodies_are_bounded_in_bytes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = db_path(dir.path());
    let store = SqliteStore::open(&path)?;
    let locker = rusqlite::Connection::open(&path)?;
    locker.execute_batch(
        "BEGIN IMMEDIATE; INSERT INTO keys (hash, name, label, created_at, updated_at) \
         VALUES ('lock', 'lock', 'lock', 0, 0);",
    )?;
    // 20 rows of 4 MiB (the largest body stored whole): 80 MiB, over the 64 MiB budget.
    let body = StoredJson(vec![b' '; 4 << 20].into());
    for i in 0..20 {
        let mut r = record(&format!("gen-{i}"), 1_000 + i);
        r.response_body = Some(body.clone());
        store.record(r);
    }
    assert_eq!(store.rows_without_bodies(), 4);
    locker.execute_batch("ROLLBACK;")?;
    store.flush();
    assert_eq!(total(&store)?, 20);
    let kept = (0..20)
        .filter(|i| {
            store
                .load_generation(&format!("gen-{i}"))
                .is_some_and(|r| r.response_body.is_some())
        })
        .count();
    assert_eq!(kept, 16);
    assert_eq!(store.lost_records(), 0);
    Ok(())
}
