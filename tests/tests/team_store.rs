//! The store suite on both backends: the embedded SQLite store and team mode's PostgreSQL
//! store (a throwaway cluster; skipped, with the reason printed, when PostgreSQL is absent).
//! Plus what only PostgreSQL has: atomic rpm across stores, concurrent migrations, and a
//! database restart under load that loses no ledger row.

use arouter_core::store::{KeyInfo, Store, UsageRecord};
use arouter_store::{KeyPatch, ManageStore, PgStore, SqliteStore};
use arouter_tests::pg::Pg;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the suite needs from a store, implemented by both.
trait Backend: Store {
    fn create(&self, name: &str, rpm: Option<u32>, limit: Option<i64>) -> (String, KeyInfo);
    fn list(&self) -> Vec<KeyInfo>;
    fn update(&self, hash: &str, patch: &KeyPatch) -> Option<KeyInfo>;
    fn revoke(&self, name: &str) -> bool;
    fn delete(&self, hash: &str) -> bool;
    fn label(&self, hash: &str) -> Option<String>;
    fn create_err(&self, name: &str) -> String;
    fn purge(&self, before_ms: i64) -> u64;
}

macro_rules! backend {
    ($t:ty) => {
        impl Backend for $t {
            fn create(
                &self,
                name: &str,
                rpm: Option<u32>,
                limit: Option<i64>,
            ) -> (String, KeyInfo) {
                self.create_key(name, false, rpm, limit)
                    .expect("create_key")
            }
            fn list(&self) -> Vec<KeyInfo> {
                self.list_keys().expect("list_keys")
            }
            fn update(&self, hash: &str, patch: &KeyPatch) -> Option<KeyInfo> {
                self.update_key(hash, patch).expect("update_key")
            }
            fn revoke(&self, name: &str) -> bool {
                self.revoke_key(name).expect("revoke_key")
            }
            fn delete(&self, hash: &str) -> bool {
                self.delete_key(hash).expect("delete_key")
            }
            fn label(&self, hash: &str) -> Option<String> {
                self.key_label(hash)
            }
            fn purge(&self, before_ms: i64) -> u64 {
                self.purge_bodies(before_ms).expect("purge_bodies")
            }
            fn create_err(&self, name: &str) -> String {
                self.create_key(name, false, None, None)
                    .expect_err("a duplicate name must be refused")
                    .to_string()
            }
        }
    };
}
backend!(SqliteStore);
backend!(PgStore);

fn record(id: &str, key: &str, created_ms: i64, cost: i64) -> UsageRecord {
    UsageRecord {
        id: id.into(),
        created_ms,
        app: "suite".into(),
        key_hash: key.into(),
        surface: "openai".into(),
        endpoint: "chat".into(),
        requested_model: "oa/m".into(),
        served_model: "oa/m".into(),
        provider: "oa".into(),
        cost_pusd: cost,
        priced: true,
        latency_ms: 12,
        ttft_ms: Some(5),
        status: 200,
        finish_reason: Some("stop".into()),
        request_body: Some(
            serde_json::json!({"messages": [{"role": "user", "content": "hi"}]}).into(),
        ),
        response_body: Some(serde_json::json!({"choices": []}).into()),
        ..UsageRecord::default()
    }
}

fn keys_suite(s: &dyn Backend) {
    let (raw, info) = s.create("app-a", Some(10), Some(5_000));
    assert!(raw.starts_with("sk-ar-"));
    assert_eq!(
        s.find_key(&info.hash).as_ref(),
        Some(&info),
        "a created key is found at once"
    );
    assert_eq!(s.label(&info.hash).unwrap(), arouter_store::mask_key(&raw));
    assert!(s.create_err("app-a").contains("already exists"));
    let patched = s
        .update(
            &info.hash,
            &KeyPatch {
                name: Some("app-b".into()),
                rpm: Some(None),
                ..KeyPatch::default()
            },
        )
        .expect("the key exists");
    assert_eq!((patched.name.as_str(), patched.rpm), ("app-b", None));
    assert_eq!(s.find_key(&info.hash).unwrap().name, "app-b");
    assert!(s.revoke("app-b"));
    assert!(s.find_key(&info.hash).unwrap().disabled);
    assert!(!s.revoke("nobody"));
    let (_, other) = s.create("app-c", None, None);
    assert_eq!(
        s.list().iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["app-b", "app-c"]
    );
    assert!(s.delete(&other.hash));
    assert!(!s.delete(&other.hash));
    assert!(s.find_key_or_reload(&other.hash).is_none());
}

fn ledger_suite(s: &dyn Backend) {
    let now = 1_700_000_000_000i64;
    for i in 0..300 {
        s.record(record(&format!("gen-{i}"), "kh", now + i, 1_000));
    }
    // A row rewritten with its final state keeps the last version.
    s.record(record("gen-0", "kh", now, 7_000));
    // NUL is not valid in PostgreSQL text: the row must still land.
    let mut odd = record("gen-nul", "kh", now, 0);
    odd.error = Some("bad\0byte".into());
    s.record(odd);
    s.flush();
    let got = s
        .load_generation("gen-0")
        .expect("gen-0 is readable after flush");
    assert_eq!(got.cost_pusd, 7_000);
    assert_eq!(got.ttft_ms, Some(5));
    assert_eq!(got.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        got.request_body.unwrap().to_value(),
        serde_json::json!({"messages": [{"role": "user", "content": "hi"}]})
    );
    assert!(s
        .load_generation("gen-nul")
        .unwrap()
        .error
        .unwrap()
        .starts_with("bad"));
    assert_eq!(s.key_spend_pusd("kh", 0).unwrap(), 299 * 1_000 + 7_000);
    assert_eq!(s.key_spend_pusd("kh", now + 200).unwrap(), 100 * 1_000);
    assert!(s.delete_content("gen-1"));
    let bare = s.load_generation("gen-1").unwrap();
    assert!(bare.request_body.is_none() && bare.response_body.is_none());
    assert!(!s.delete_content("gen-1"));
    // Body retention: bodies of rows older than the cut go in slices; the rows stay.
    // gen-0, gen-2..=149 and gen-nul (gen-1's are gone already).
    assert_eq!(s.purge(now + 150), 150);
    assert!(s.load_generation("gen-100").unwrap().request_body.is_none());
    assert!(s.load_generation("gen-200").unwrap().request_body.is_some());
    assert_eq!(s.key_spend_pusd("kh", 0).unwrap(), 299 * 1_000 + 7_000);
    assert_eq!(s.lost_records(), 0);
}

fn sqlite() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("arouter.db")).unwrap();
    (dir, store)
}

fn pg_store(prefix: &str) -> Option<Arc<PgStore>> {
    let pg = Pg::shared()?;
    Some(PgStore::open(&pg.fresh_db(prefix)).expect("PgStore opens"))
}

#[test]
fn keys_on_sqlite() {
    keys_suite(&*sqlite().1);
}

#[test]
fn keys_on_postgres() {
    let Some(s) = pg_store("keys") else { return };
    keys_suite(&*s);
}

#[test]
fn ledger_on_sqlite() {
    ledger_suite(&*sqlite().1);
}

#[test]
fn ledger_on_postgres() {
    let Some(s) = pg_store("ledger") else { return };
    ledger_suite(&*s);
}

#[test]
fn sqlite_leaves_rate_limits_to_the_router() {
    assert!(sqlite().1.rate_admit("k", 10).is_none());
}

#[test]
fn key_edits_reach_another_instance_within_a_second() {
    let Some(pg) = Pg::shared() else { return };
    let url = pg.fresh_db("watch");
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open(&url).unwrap();
    let wait_until = |what: &str, f: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{what} took over a second"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        start.elapsed()
    };
    let (_, info) = a.create_key("shared", false, Some(5), None).unwrap();
    // `find_key` is the in-memory lookup: no reload-on-miss helps here.
    wait_until("a create", &|| b.find_key(&info.hash).is_some());
    a.revoke_key("shared").unwrap();
    wait_until("a revoke", &|| b.find_key(&info.hash).unwrap().disabled);
    // An edit made behind ARouter's back (psql) is seen too: the trigger notifies.
    let db = url.rsplit('/').next().unwrap();
    pg.psql(db, "UPDATE keys SET rpm = 99");
    wait_until("an edit in psql", &|| {
        b.find_key(&info.hash).unwrap().rpm == Some(99)
    });
}

#[test]
fn concurrent_opens_migrate_once() {
    let Some(pg) = Pg::shared() else { return };
    let url = pg.fresh_db("migrate");
    let opened: Vec<Arc<PgStore>> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::open(&url).expect("open"))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let (v, latest) = opened[0].schema_version().unwrap();
    assert_eq!(v, latest);
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        pg.psql(db, "SELECT count(*) FROM arouter_migrations"),
        latest.to_string()
    );
}

#[test]
fn rpm_is_atomic_across_stores_and_slides() {
    let Some(pg) = Pg::shared() else { return };
    let url = pg.fresh_db("rate");
    let stores = [PgStore::open(&url).unwrap(), PgStore::open(&url).unwrap()];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let decisions = rt.block_on(async {
        let checks = (0..50).map(|i| {
            let fut = stores[i % 2]
                .rate_admit("kh", 10)
                .expect("PostgreSQL decides");
            async move { fut.await.expect("a decision") }
        });
        futures_util::future::join_all(checks).await
    });
    let allowed: Vec<u32> = decisions
        .iter()
        .filter(|d| d.allowed)
        .map(|d| d.remaining)
        .collect();
    assert_eq!(allowed.len(), 10, "exactly the limit across both stores");
    let mut remaining = allowed.clone();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..10).collect::<Vec<u32>>());
    let refused = decisions.iter().find(|d| !d.allowed).unwrap();
    assert_eq!(refused.remaining, 0);
    // The slot frees a minute after the oldest counted request, by the database's clock.
    let db = url.rsplit('/').next().unwrap();
    let oldest: u64 = pg
        .psql(db, "SELECT min(at_ms) FROM rate_hits WHERE key_hash = 'kh'")
        .parse()
        .unwrap();
    assert_eq!(refused.reset_ms, oldest + 60_000);
    // Age the log by 61 s: the window slides and lets the key through again.
    pg.psql(db, "UPDATE rate_hits SET at_ms = at_ms - 61000");
    let again = rt
        .block_on(stores[0].rate_admit("kh", 10).unwrap())
        .unwrap();
    assert!(again.allowed);
    assert_eq!(again.remaining, 9);
}

#[test]
fn a_database_restart_under_load_loses_no_row() {
    // Its own cluster: this test stops and starts the server.
    let Some(pg) = Pg::start() else { return };
    let url = pg.create_db("restart");
    let store = PgStore::open(&url).unwrap();
    let total = 3_000;
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..total {
                store.record(record(&format!("gen-{i}"), "kh", 1_000 + i as i64, 1));
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    pg.stop();
    std::thread::sleep(Duration::from_millis(1500));
    pg.start_server();
    writer.join().unwrap();
    store.flush();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = store.count_requests().unwrap_or(-1);
        if n == total as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {total} rows after the restart"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(store.lost_records(), 0);
    assert_eq!(store.key_usage_pusd("kh", 0).unwrap(), total as i64);
}

#[test]
fn budget_holds_are_atomic_across_stores() {
    use arouter_core::store::SharedReservation;
    let Some(pg) = Pg::shared() else { return };
    let url = pg.fresh_db("budget");
    let stores = [PgStore::open(&url).unwrap(), PgStore::open(&url).unwrap()];
    // Spend already in the ledger counts: 300 of a 1000 limit.
    stores[0].record(record("gen-old", "kb", 10, 300));
    stores[0].flush();
    assert!(
        sqlite().1.budget_reserve("kb", 0, 1000, 1).is_none(),
        "SQLite leaves it to the router"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answers = rt.block_on(async {
        let asks = (0..40).map(|i| {
            let fut = stores[i % 2].budget_reserve("kb", 0, 1000, 100).unwrap();
            async move { fut.await.expect("an answer") }
        });
        futures_util::future::join_all(asks).await
    });
    let granted: Vec<i64> = answers
        .iter()
        .filter_map(|a| match a {
            SharedReservation::Granted(id) => Some(*id),
            SharedReservation::Refused { .. } => None,
        })
        .collect();
    assert_eq!(
        granted.len(),
        7,
        "(1000 - 300) / 100 holds fit, across both stores"
    );
    assert!(answers.contains(&SharedReservation::Refused { remaining: 0 }));
    // Settling at a lower real cost frees the difference; a release (cost 0) frees it all.
    for (i, id) in granted.iter().enumerate() {
        stores[i % 2].budget_settle("kb", *id, if i < 3 { 40 } else { 0 });
    }
    // Settles run in the background: wait until the room shows.
    let deadline = Instant::now() + Duration::from_secs(5);
    let left = loop {
        match rt
            .block_on(stores[0].budget_reserve("kb", 0, 1000, 1000).unwrap())
            .unwrap()
        {
            SharedReservation::Refused { remaining } if remaining == 1000 - 300 - 120 => {
                break remaining
            }
            SharedReservation::Granted(id) => panic!("a 1000 hold must not fit (hold {id})"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "settles never landed");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(left, 580);
}

#[test]
fn without_listen_the_version_poll_carries_key_changes_within_a_second() {
    // A transaction-pooling PgBouncer: no LISTEN; the keys_version poll alone.
    let Some(pg) = Pg::shared() else { return };
    let url = pg.fresh_db("poll");
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open_with(&url, false).unwrap();
    let (_, info) = a.create_key("polled", false, None, None).unwrap();
    let start = Instant::now();
    while b.find_key(&info.hash).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the poll took over a second"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    a.revoke_key("polled").unwrap();
    let start = Instant::now();
    while !b.find_key(&info.hash).unwrap().disabled {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the poll took over a second"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
