//! SqliteStore against real database files: ledger durability, keys, reads, cross-process edits.

use arouter_core::model::Usage;
use arouter_core::store::{hash_key, Store, StoredJson, UsageRecord};
use arouter_store::{db_path, GroupBy, KeyPatch, ManageStore, SqliteStore, UsageRow};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

type TestResult = anyhow::Result<()>;

/// 2024-03-01T00:00:00Z in unix ms.
const MARCH_1: i64 = 1_709_251_200_000;
const DAY_MS: i64 = 86_400_000;

fn record(id: &str, app: &str, model: &str, created_ms: i64, cost_pusd: i64) -> UsageRecord {
    let provider = model.split('/').next().unwrap_or_default().to_string();
    UsageRecord {
        id: id.to_string(),
        created_ms,
        app: app.to_string(),
        surface: "openai".into(),
        endpoint: "chat".into(),
        requested_model: model.to_string(),
        served_model: model.to_string(),
        provider,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 20,
            reasoning_tokens: 5,
            cache_read_tokens: 7,
            cache_write_tokens: 3,
        },
        cost_pusd,
        priced: true,
        latency_ms: 120,
        status: 200,
        ..UsageRecord::default()
    }
}

fn total_requests(store: &SqliteStore) -> anyhow::Result<i64> {
    Ok(store
        .usage_summary(i64::MIN, GroupBy::App)?
        .iter()
        .map(|r| r.requests)
        .sum())
}

fn open_in(dir: &tempfile::TempDir) -> anyhow::Result<Arc<SqliteStore>> {
    SqliteStore::open(&db_path(&dir.path().join("data")))
}

#[test]
fn open_creates_directory_and_reopen_keeps_keys_and_history() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = db_path(&dir.path().join("nested").join("data"));
    let (raw, key) = {
        let store = SqliteStore::open(&path)?;
        let created = store.create_key("app", false, Some(60), Some(5_000_000_000_000))?;
        store.record(record("gen-1", "app", "openai/gpt-4o", MARCH_1, 42));
        store.shutdown();
        created
    };
    assert!(path.is_file());
    for _ in 0..2 {
        let store = SqliteStore::open(&path)?;
        assert_eq!(store.find_key(&hash_key(&raw)), Some(key.clone()));
        assert_eq!(store.list_keys()?, vec![key.clone()]);
        let gen = store
            .load_generation("gen-1")
            .expect("history survives reopen");
        assert_eq!(gen.cost_pusd, 42);
        assert_eq!(total_requests(&store)?, 1);
    }
    Ok(())
}

#[test]
fn twenty_thousand_records_from_eight_threads_all_land() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_in(&dir)?;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..2_500 {
                    let id = format!("gen-{t}-{i}");
                    store.record(record(
                        &id,
                        &format!("app{t}"),
                        "openai/gpt-4o",
                        MARCH_1 + i,
                        1,
                    ));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("recording thread panicked");
    }
    store.shutdown();
    assert_eq!(store.dropped_records(), 0);
    assert_eq!(total_requests(&store)?, 20_000);
    // What `/metrics` reports: every row written, nothing left queued.
    assert_eq!(Store::rows_written(&*store), 20_000);
    assert_eq!(Store::ledger_queue_depth(&*store), 0);
    let per_app = store.usage_summary(i64::MIN, GroupBy::App)?;
    assert_eq!(per_app.len(), 8);
    assert!(per_app
        .iter()
        .all(|r| r.requests == 2_500 && r.cost_pusd == 2_500));
    Ok(())
}

#[test]
fn flush_makes_a_record_readable_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_in(&dir)?;
    for round in 0..5 {
        let id = format!("gen-flush-{round}");
        store.record(record(&id, "app", "anthropic/claude", MARCH_1, 9));
        store.flush();
        let gen = store
            .load_generation(&id)
            .expect("flushed record is readable");
        assert_eq!(gen.app, "app");
    }
    assert_eq!(store.load_generation("gen-missing"), None);
    Ok(())
}

#[test]
fn records_after_shutdown_are_counted_as_dropped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_in(&dir)?;
    store.shutdown();
    store.shutdown();
    store.record(record("gen-late", "app", "openai/gpt-4o", MARCH_1, 1));
    store.flush();
    assert_eq!(store.dropped_records(), 1);
    assert_eq!(store.load_generation("gen-late"), None);
    assert_eq!(Store::rows_written(&*store), 0);
    assert_eq!(Store::ledger_queue_depth(&*store), 0);
    Ok(())
}

#[test]
fn dropping_the_store_flushes_the_ledger() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open_in(&dir)?;
        store.record(record("gen-drop", "app", "openai/gpt-4o", MARCH_1, 3));
    }
    let store = open_in(&dir)?;
    assert!(store.load_generation("gen-drop").is_some());
    Ok(())
}

#[test]
fn every_field_and_both_bodies_round_trip() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_in(&dir)?;
    let full = UsageRecord {
        id: "gen-full".into(),
        created_ms: MARCH_1 + 1234,
        app: "cli".into(),
        key_hash: "abc123".into(),
        surface: "anthropic".into(),
        endpoint: "messages".into(),
        requested_model: "fast".into(),
        served_model: "anthropic/claude-sonnet".into(),
        provider: "anthropic".into(),
        usage: Usage {
            input_tokens: 11,
            output_tokens: 22,
            reasoning_tokens: 3,
            cache_read_tokens: 4,
            cache_write_tokens: 5,
        },
        cost_pusd: 123_456_789_012,
        priced: true,
        latency_ms: 900,
        ttft_ms: Some(150),
        streamed: true,
        finish_reason: Some("stop".into()),
        native_finish_reason: Some("end_turn".into()),
        status: 200,
        error: None,
        attempt: 2,
        estimated: true,
        request_body: Some(
            json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]}).into(),
        ),
        response_body: Some(
            json!({"content": [{"type": "text", "text": "hello"}], "n": 1.5}).into(),
        ),
    };
    let bare = UsageRecord {
        id: "gen-bare".into(),
        status: 502,
        error: Some("upstream 502: bad gateway".into()),
        ..UsageRecord::default()
    };
    store.record(full.clone());
    store.record(bare.clone());
    store.flush();
    assert_eq!(store.load_generation("gen-full"), Some(full));
    assert_eq!(store.load_generation("gen-bare"), Some(bare));
    Ok(())
}

#[test]
fn bodies_that_are_not_utf8_are_stored_and_read_back_lossily() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_in(&dir)?;
    let mut rec = record("gen-bytes", "cli", "openai/gpt-4o", MARCH_1, 1);
    rec.request_body = Some(StoredJson(b"{\"a\": \"\xff\xfe\"}".to_vec().into()));
    rec.response_body = Some(StoredJson(b"not json \xc3".to_vec().into()));
    store.record(rec.clone());
    store.flush();
    let mut lossy = rec;
    lossy.request_body = Some(StoredJson(
        "{\"a\": \"\u{fffd}\u{fffd}\"}".as_bytes().to_vec().into(),
    ));
    lossy.response_body = Some(StoredJson("not json \u{fffd}".as_bytes().to_vec().into()));
    assert_eq!(store.load_generation("gen-bytes"), Some(lossy.clone()));
    let (detail, attempts) = store
        .request_detail("gen-bytes")?
        .expect("the request is logged");
    assert_eq!(detail.record, lossy);
    assert!(attempts.is_empty());
    assert_eq!(store.list_requests(&Default::default())?.1, 1);
    Ok(())
}

#[test]
fn usage_summary_sums_are_exact_for_every_grouping() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_in(&dir)?;
    let (raw_a, _) = store.create_key("alpha", false, None, None)?;
    let (raw_b, _) = store.create_key("beta", false, None, None)?;
    let with_key = |mut r: UsageRecord, raw: &str| {
        r.key_hash = hash_key(raw);
        r
    };
    store.record(with_key(
        record("g1", "cli", "openai/gpt-4o", MARCH_1, 1_000_000),
        &raw_a,
    ));
    store.record(with_key(
        record("g2", "cli", "openai/gpt-4o", MARCH_1 + DAY_MS, 2_000_000),
        &raw_a,
    ));
    store.record(with_key(
        record("g3", "web", "anthropic/claude", MARCH_1 + 10, 500),
        &raw_b,
    ));
    let mut failed = with_key(
        record("g4", "web", "gemini/flash", MARCH_1 + DAY_MS + 5, 0),
        &raw_b,
    );
    failed.status = 429;
    failed.priced = false;
    store.record(failed);
    let mut mid_stream = with_key(
        record("g5", "web", "anthropic/claude", MARCH_1 + 20, 700),
        &raw_b,
    );
    mid_stream.error = Some("stream cut".into());
    store.record(mid_stream);
    store.record(record(
        "old",
        "cli",
        "openai/gpt-4o",
        MARCH_1 - DAY_MS,
        9_999_999,
    ));
    store.flush();

    let by_app = store.usage_summary(MARCH_1, GroupBy::App)?;
    let expected_cli = UsageRow {
        group: "cli".into(),
        requests: 2,
        errors: 0,
        input_tokens: 200,
        output_tokens: 40,
        reasoning_tokens: 10,
        cache_read_tokens: 14,
        cache_write_tokens: 6,
        cost_pusd: 3_000_000,
        unpriced: 0,
    };
    let expected_web = UsageRow {
        group: "web".into(),
        requests: 3,
        errors: 2,
        input_tokens: 300,
        output_tokens: 60,
        reasoning_tokens: 15,
        cache_read_tokens: 21,
        cache_write_tokens: 9,
        cost_pusd: 1_200,
        unpriced: 1,
    };
    assert_eq!(by_app, vec![expected_cli, expected_web]);

    let groups = |by| -> anyhow::Result<Vec<(String, i64, i64)>> {
        Ok(store
            .usage_summary(MARCH_1, by)?
            .into_iter()
            .map(|r| (r.group, r.requests, r.cost_pusd))
            .collect())
    };
    assert_eq!(
        groups(GroupBy::Model)?,
        vec![
            ("openai/gpt-4o".into(), 2, 3_000_000),
            ("anthropic/claude".into(), 2, 1_200),
            ("gemini/flash".into(), 1, 0),
        ]
    );
    assert_eq!(
        groups(GroupBy::Provider)?,
        vec![
            ("openai".into(), 2, 3_000_000),
            ("anthropic".into(), 2, 1_200),
            ("gemini".into(), 1, 0),
        ]
    );
    assert_eq!(
        groups(GroupBy::Day)?,
        vec![
            ("2024-03-02".into(), 2, 2_000_000),
            ("2024-03-01".into(), 3, 1_001_200),
        ]
    );
    assert_eq!(
        groups(GroupBy::Key)?,
        vec![("alpha".into(), 2, 3_000_000), ("beta".into(), 3, 1_200)]
    );
    assert_eq!(
        total_requests(&store)?,
        6,
        "since filters; everything is kept"
    );
    assert_eq!(
        store.key_usage_pusd(&hash_key(&raw_a), MARCH_1 + 1)?,
        2_000_000
    );
    assert_eq!(store.key_usage_pusd(&hash_key(&raw_b), MARCH_1)?, 1_200);
    assert_eq!(store.key_usage_pusd("unknown", 0)?, 0);
    Ok(())
}

#[test]
fn key_lifecycle_create_label_update_revoke_delete() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_in(&dir)?;
    let (raw, key) = store.create_key("ci", true, Some(30), None)?;
    assert!(raw.starts_with("sk-ar-"));
    assert_eq!(key.hash, hash_key(&raw));
    assert!(key.admin && !key.disabled);
    assert_eq!(store.find_key(&key.hash), Some(key.clone()));

    let label = store.key_label(&key.hash).expect("label exists");
    assert_eq!(label, format!("{}...{}", &raw[..8], &raw[raw.len() - 3..]));
    assert!(!label.contains(&raw[8..raw.len() - 3]));

    let err = store
        .create_key("ci", false, None, None)
        .expect_err("duplicate names are refused");
    assert_eq!(err.to_string(), "a key named ci already exists");
    assert!(store.create_key(" ", false, None, None).is_err());

    let patch = KeyPatch {
        rpm: Some(None),
        limit_pusd: Some(Some(1_000)),
        ..KeyPatch::default()
    };
    let updated = store.update_key(&key.hash, &patch)?.expect("key exists");
    assert_eq!((updated.rpm, updated.limit_pusd), (None, Some(1_000)));
    assert_eq!(store.find_key(&key.hash), Some(updated));
    assert_eq!(store.update_key("nope", &patch)?, None);

    assert!(store.revoke_key("ci")?);
    assert!(store.find_key(&key.hash).is_some_and(|k| k.disabled));
    assert!(!store.revoke_key("nope")?);

    assert!(store.delete_key(&key.hash)?);
    assert!(!store.delete_key(&key.hash)?);
    assert_eq!(store.find_key(&key.hash), None);
    assert_eq!(store.key_label(&key.hash), None);
    assert!(store.list_keys()?.is_empty());
    Ok(())
}

/// Polls `check` for up to 3 s; returns how long it took, or `None` if it never held.
fn wait_until(mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if check() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn key_edits_by_another_instance_are_seen_without_reload() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = open_in(&dir)?;
    let cli = open_in(&dir)?;

    let (raw, _) = cli.create_key("from-cli", false, None, None)?;
    let hash = hash_key(&raw);
    let seen = wait_until(|| server.find_key(&hash).is_some()).expect("new key seen");
    assert!(seen < Duration::from_secs(2), "took {seen:?}");

    assert!(cli.revoke_key(&hash)?);
    let seen =
        wait_until(|| server.find_key(&hash).is_some_and(|k| k.disabled)).expect("revocation seen");
    assert!(seen < Duration::from_secs(2), "took {seen:?}");

    assert!(cli.delete_key(&hash)?);
    wait_until(|| server.find_key(&hash).is_none()).expect("deletion seen");
    Ok(())
}

#[test]
fn reload_keys_reads_the_table_at_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = open_in(&dir)?;
    server.shutdown(); // stops the watcher: only an explicit reload can see the new key
    let cli = open_in(&dir)?;
    let (raw, _) = cli.create_key("late", false, None, None)?;
    assert_eq!(server.find_key(&hash_key(&raw)), None);
    server.reload_keys();
    assert!(server.find_key(&hash_key(&raw)).is_some());
    Ok(())
}
