//! The management and batch store interface ([`ManageStore`], [`BatchStore`]) on both
//! backends: one suite, run through the traits on the embedded SQLite store and on team mode's
//! PostgreSQL store (a throwaway cluster; skipped, with the reason printed, when PostgreSQL is
//! absent) over the same fixture, must give exactly the same answers, call by call. Plus what
//! only PostgreSQL has: batch requests leased to one of several servers.

use arouter_core::model::Usage;
use arouter_core::store::{KeyInfo, Store, UsageRecord};
use arouter_store::{
    BatchStore, Cursor, GroupBy, KeyPatch, ManageStore, NewBatch, PgStore, RequestFilter,
    SqliteStore, TimeRange, TransactionFilter, WindowStarts,
};
use arouter_tests::pg::Pg;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-03-10T00:00:00Z: the fixture straddles this UTC midnight.
const MIDNIGHT: i64 = 1_773_100_800_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// A key that made requests and was deleted since (its rows keep the hash).
const GONE_KEY: &str = "0123456789abcdef0123456789abcdef";

/// One fixture row; `n` varies everything else so groups and orders are not all ties.
fn row(id: &str, key: &str, created_ms: i64, n: u64) -> UsageRecord {
    let apps = ["cli", "ide", "bot"];
    let models = [("oa", "oa/gpt"), ("an", "an/claude"), ("oa", "oa/mini")];
    let (provider, model) = models[(n % 3) as usize];
    UsageRecord {
        id: id.into(),
        created_ms,
        app: apps[(n % 3) as usize / 2 + (n % 2) as usize].into(),
        key_hash: key.into(),
        surface: "openai".into(),
        endpoint: "chat".into(),
        requested_model: if n.is_multiple_of(4) {
            "alias".into()
        } else {
            model.into()
        },
        served_model: model.into(),
        provider: provider.into(),
        usage: Usage {
            input_tokens: 100 + n,
            output_tokens: 10 * n,
            reasoning_tokens: n % 5,
            cache_read_tokens: n % 7,
            cache_write_tokens: n % 2,
        },
        cost_pusd: if n % 6 == 5 {
            0
        } else {
            1_000 * (n as i64 + 1)
        },
        priced: n % 6 != 5,
        latency_ms: 20 + n as i64,
        ttft_ms: n.is_multiple_of(2).then_some(7),
        streamed: n.is_multiple_of(2),
        finish_reason: Some("stop".into()),
        status: match n % 8 {
            3 => 429,
            6 => 500,
            _ => 200,
        },
        error: (n % 9 == 4).then(|| "stream cut".to_string()),
        request_body: Some(json!({"n": n}).into()),
        response_body: Some(json!({"ok": n}).into()),
        ..UsageRecord::default()
    }
}

/// The fixture rows for keys `k` (three live keys' hashes).
fn fixture(k: &[String; 3]) -> Vec<UsageRecord> {
    let mut rows = Vec::new();
    let times = [
        MIDNIGHT - 2 * DAY - 5 * HOUR,
        MIDNIGHT - DAY,
        MIDNIGHT - 3 * HOUR,
        MIDNIGHT - 1,
        MIDNIGHT,
        MIDNIGHT + 1,
        MIDNIGHT + 999,
        MIDNIGHT + 5 * HOUR,
        MIDNIGHT + DAY + 1,
        MIDNIGHT + 3 * DAY + 7,
    ];
    let mut n = 0u64;
    for (i, &t) in times.iter().enumerate() {
        for j in 0..3 {
            let key = if (i + j) % 5 == 4 {
                GONE_KEY
            } else {
                &k[(i + j) % 3]
            };
            rows.push(row(&format!("gen-{i}-{j}"), key, t, n));
            n += 1;
        }
    }
    // Ties on time ordered by id bytes (SQLite's order; PostgreSQL under COLLATE "C").
    for id in ["gen-Tie", "gen-tie", "gen-_tie", "gen-tie-2"] {
        rows.push(row(id, &k[0], MIDNIGHT + 2 * HOUR, n));
        n += 1;
    }
    // A request with two failed attempts before it (copies of its record), and ids that
    // share a prefix with it but are no attempts of it.
    let mut main = row("gen-x", &k[1], MIDNIGHT + 4 * HOUR, 40);
    main.attempt = 2;
    for a in 0..2u32 {
        let mut failed = main.clone();
        failed.id = format!("gen-x-attempt{a}");
        failed.attempt = a;
        failed.status = 502;
        failed.error = Some(format!("upstream {a} failed"));
        failed.request_body = None;
        rows.push(failed);
    }
    rows.push(main.clone());
    rows.push(row("gen-x-attemp", &k[1], MIDNIGHT + 4 * HOUR, 41));
    rows.push(row("gen-xx", &k[1], MIDNIGHT + 4 * HOUR, 42));
    rows
}

/// Writes the transcript of every call and its answer, with what differs between two stores
/// by nature (key hashes and labels, creation times, credit times) named the same way.
struct Transcript {
    lines: Vec<(String, String)>,
    names: Vec<(String, String)>,
}

impl Transcript {
    fn add(&mut self, call: &str, answer: impl std::fmt::Debug) {
        let mut text = format!("{answer:?}");
        for (from, to) in &self.names {
            text = text.replace(from.as_str(), to);
        }
        self.lines.push((call.to_string(), text));
    }
}

fn stable_key(mut k: KeyInfo) -> KeyInfo {
    k.created_at = 0;
    k
}

fn window(since: i64, until: i64) -> TimeRange {
    TimeRange {
        since_ms: Some(since),
        until_ms: Some(until),
    }
}

fn batch(id: &str, key: &str, created_ms: i64, n: usize) -> NewBatch {
    NewBatch {
        id: id.into(),
        key_hash: key.into(),
        app: "batcher".into(),
        headers: json!({"anthropic-version": "2023-06-01"}),
        created_ms,
        expires_ms: created_ms + DAY,
        forward: None,
        snapshot: None,
        requests: (0..n)
            .map(|i| (format!("{id}-r{i}"), json!({"max_tokens": i})))
            .collect(),
    }
}

/// The whole suite on one store; returns its transcript.
fn suite(m: &dyn ManageStore, b: &dyn BatchStore) -> Vec<(String, String)> {
    let mut t = Transcript {
        lines: Vec::new(),
        names: Vec::new(),
    };
    // Keys.
    let mut keys = Vec::new();
    for (i, name) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let (raw, info) = m
            .create_key(name, i == 0, Some(10 * i as u32), Some(1_000_000))
            .unwrap();
        let label = m.key_label(&info.hash).expect("a label");
        assert_eq!(label, arouter_store::mask_key(&raw));
        t.names.push((info.hash.clone(), format!("HASH{i}")));
        t.names.push((label, format!("LABEL{i}")));
        t.add("create_key", stable_key(info.clone()));
        keys.push(info.hash);
    }
    let k: [String; 3] = keys.clone().try_into().unwrap();
    let (_, doomed) = m.create_key("doomed", false, None, None).unwrap();
    t.add(
        "create_key duplicate",
        m.create_key("beta", false, None, None).is_err(),
    );
    t.add(
        "update_key",
        m.update_key(
            &k[2],
            &KeyPatch {
                rpm: Some(None),
                limit_pusd: Some(Some(7)),
                ..KeyPatch::default()
            },
        )
        .unwrap()
        .map(stable_key),
    );
    t.add(
        "update_key unknown",
        m.update_key("nope", &KeyPatch::default()).unwrap(),
    );
    t.add("set_key_proxy", m.set_key_proxy(&k[1], Some(true)).unwrap());
    t.add(
        "set_key_proxy unknown",
        m.set_key_proxy("nope", None).unwrap(),
    );
    t.add(
        "set_key_limit_reset",
        m.set_key_limit_reset(&k[0], Some("weekly")).unwrap(),
    );
    t.add(
        "set_key_limit_reset invalid",
        m.set_key_limit_reset(&k[0], Some("hourly"))
            .unwrap_err()
            .to_string(),
    );
    t.add("revoke_key by name", m.revoke_key("gamma").unwrap());
    t.add("revoke_key unknown", m.revoke_key("nobody").unwrap());
    t.add("delete_key", m.delete_key(&doomed.hash).unwrap());
    t.add("delete_key again", m.delete_key(&doomed.hash).unwrap());
    t.add(
        "list_keys",
        m.list_keys()
            .unwrap()
            .into_iter()
            .map(stable_key)
            .collect::<Vec<_>>(),
    );
    t.add("find_key after edits", m.find_key(&k[1]).map(stable_key));
    let metas = m.key_metas().unwrap();
    assert_eq!(metas.len(), 3);
    assert!(metas.values().all(|meta| meta.updated_at > 0));
    let metas: Vec<_> = k
        .iter()
        .map(|h| {
            metas
                .get(h)
                .map(|m| (m.label.clone(), m.limit_reset.clone()))
        })
        .collect();
    t.add("key_metas", metas);
    t.add(
        "key_meta",
        m.key_meta(&k[0])
            .unwrap()
            .map(|meta| (meta.label, meta.limit_reset)),
    );
    t.add("key_meta unknown", m.key_meta("nope").unwrap());

    // The ledger.
    for r in fixture(&k) {
        m.record(r);
    }
    m.flush();
    t.add("usage_total", m.usage_total().unwrap());
    let all = TimeRange::default();
    let ranges = [
        ("all", all),
        (
            "across midnight",
            window(MIDNIGHT - 3 * HOUR, MIDNIGHT + HOUR),
        ),
        ("whole days", window(MIDNIGHT - DAY, MIDNIGHT + DAY)),
        (
            "head and tail",
            window(MIDNIGHT - DAY - 1, MIDNIGHT + DAY + 2),
        ),
        ("one ms", window(MIDNIGHT, MIDNIGHT + 1)),
        ("open bounds", window(i64::MIN, i64::MAX)),
        (
            "since only",
            TimeRange {
                since_ms: Some(MIDNIGHT + 1),
                until_ms: None,
            },
        ),
    ];
    let groups = [
        GroupBy::App,
        GroupBy::Model,
        GroupBy::Provider,
        GroupBy::Day,
        GroupBy::Key,
    ];
    for (name, range) in ranges {
        for by in groups {
            t.add(
                &format!("usage_in_range {name} {by:?}"),
                m.usage_in_range(range, by).unwrap(),
            );
            t.add(
                &format!("daily_usage {name} {by:?}"),
                m.daily_usage(range, by).unwrap(),
            );
        }
        t.add(&format!("activity {name}"), m.activity(range).unwrap());
    }
    for by in groups {
        t.add(
            &format!("usage_summary {by:?}"),
            m.usage_summary(MIDNIGHT, by).unwrap(),
        );
    }
    let days: BTreeSet<String> = m
        .daily_usage(window(MIDNIGHT - 3 * HOUR, MIDNIGHT + HOUR), GroupBy::App)
        .unwrap()
        .into_iter()
        .map(|d| d.day)
        .collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["2026-03-09", "2026-03-10"],
        "a row a millisecond before midnight belongs to the day before"
    );
    let starts = WindowStarts {
        day_ms: MIDNIGHT,
        week_ms: MIDNIGHT - 2 * DAY,
        month_ms: MIDNIGHT - 9 * DAY,
    };
    for (i, h) in k.iter().chain([&GONE_KEY.to_string()]).enumerate() {
        t.add(&format!("key_usage {i}"), m.key_usage(h, &starts).unwrap());
        t.add(
            &format!("key_usage_pusd {i}"),
            m.key_usage_pusd(h, MIDNIGHT).unwrap(),
        );
        t.add(
            &format!("key_usage_pusd {i} ever"),
            m.key_usage_pusd(h, 0).unwrap(),
        );
    }
    let spent = m.key_usage(&k[0], &starts).unwrap();
    assert!(spent.total_pusd > spent.weekly_pusd && spent.weekly_pusd > spent.daily_pusd);

    // The request log.
    let base = RequestFilter {
        limit: 100,
        ..RequestFilter::default()
    };
    let filters = [
        ("all", base.clone()),
        (
            "page",
            RequestFilter {
                limit: 5,
                offset: 3,
                ..base.clone()
            },
        ),
        (
            "app",
            RequestFilter {
                app: Some("ide".into()),
                ..base.clone()
            },
        ),
        (
            "model served or requested",
            RequestFilter {
                model: Some("alias".into()),
                ..base.clone()
            },
        ),
        (
            "model served",
            RequestFilter {
                model: Some("an/claude".into()),
                ..base.clone()
            },
        ),
        (
            "provider",
            RequestFilter {
                provider: Some("oa".into()),
                ..base.clone()
            },
        ),
        (
            "ok",
            RequestFilter {
                ok: Some(true),
                ..base.clone()
            },
        ),
        (
            "failed",
            RequestFilter {
                ok: Some(false),
                ..base.clone()
            },
        ),
        (
            "streamed",
            RequestFilter {
                streamed: Some(true),
                ..base.clone()
            },
        ),
        (
            "not streamed",
            RequestFilter {
                streamed: Some(false),
                ..base.clone()
            },
        ),
        (
            "window and app",
            RequestFilter {
                range: window(MIDNIGHT - 1, MIDNIGHT + DAY),
                app: Some("cli".into()),
                ..base.clone()
            },
        ),
    ];
    for (name, f) in filters {
        let (rows, total) = m.list_requests(&f).unwrap();
        assert!(rows.iter().all(|r| r.record.request_body.is_none()));
        t.add(&format!("list_requests {name}"), (rows, total));
    }
    let (failed, _) = m
        .list_requests(&RequestFilter {
            ok: Some(false),
            ..base.clone()
        })
        .unwrap();
    assert!(failed
        .iter()
        .any(|r| r.record.status == 200 && r.record.error.is_some()));
    let detail = m.request_detail("gen-x").unwrap().expect("gen-x");
    assert_eq!(
        detail
            .1
            .iter()
            .map(|a| a.record.id.as_str())
            .collect::<Vec<_>>(),
        ["gen-x-attempt0", "gen-x-attempt1"]
    );
    assert!(detail.0.record.request_body.is_some());
    t.add("request_detail", detail);
    t.add("request_detail plain", m.request_detail("gen-3-1").unwrap());
    t.add("request_detail unknown", m.request_detail("nope").unwrap());
    for (name, range) in [
        ("all", all),
        ("window", window(MIDNIGHT - 1, MIDNIGHT + DAY + 2)),
    ] {
        let mut after: Option<(i64, String)> = None;
        let mut pages = Vec::new();
        loop {
            let page = m.export_requests_page(range, after.as_ref(), 7).unwrap();
            let Some(last) = page.last() else { break };
            after = Some((last.record.created_ms, last.record.id.clone()));
            pages.push(page.iter().map(|r| r.record.id.clone()).collect::<Vec<_>>());
        }
        t.add(&format!("export pages {name}"), &pages);
    }

    // Credits and transactions. Credits are stamped now, after every fixture row.
    t.add("credits_total empty", m.credits_total().unwrap());
    t.add("add_credit zero", m.add_credit(0, "x").is_err());
    let mut credit_ids = Vec::new();
    for (amount, note) in [(5_000_000, "first"), (2_500, "second")] {
        let c = m.add_credit(amount, note).unwrap();
        credit_ids.push(c.id);
        t.add("add_credit", (c.id, c.amount_pusd, c.note));
    }
    t.add(
        "list_credits",
        m.list_credits()
            .unwrap()
            .into_iter()
            .map(|c| (c.id, c.amount_pusd, c.note))
            .collect::<Vec<_>>(),
    );
    t.add("credits_total", m.credits_total().unwrap());
    let tf = TransactionFilter {
        limit: 100,
        ..TransactionFilter::default()
    };
    let tfilters = [
        ("all", tf.clone()),
        (
            "page",
            TransactionFilter {
                limit: 4,
                offset: 1,
                ..tf.clone()
            },
        ),
        (
            "window",
            TransactionFilter {
                range: window(MIDNIGHT - 1, MIDNIGHT + 2),
                ..tf.clone()
            },
        ),
        (
            "key by name",
            TransactionFilter {
                key: Some("alpha".into()),
                ..tf.clone()
            },
        ),
        (
            "key by hash",
            TransactionFilter {
                key: Some(k[1].clone()),
                ..tf.clone()
            },
        ),
        (
            "deleted key",
            TransactionFilter {
                key: Some(GONE_KEY.into()),
                ..tf.clone()
            },
        ),
        (
            "app",
            TransactionFilter {
                app: Some("bot".into()),
                ..tf.clone()
            },
        ),
    ];
    for (name, f) in tfilters {
        let (mut rows, total) = m.transactions(&f).unwrap();
        for r in rows.iter_mut().filter(|r| r.is_credit) {
            r.created_ms = 0;
        }
        t.add(&format!("transactions {name}"), (rows, total));
    }
    let (merged, _) = m.transactions(&tf).unwrap();
    assert_eq!(merged[0].id, format!("credit-{}", credit_ids[1]));
    assert!(merged.iter().all(|r| r.is_credit || r.amount_pusd < 0));

    // Stored bodies.
    t.add("purge_bodies", m.purge_bodies(MIDNIGHT).unwrap());
    t.add("purge_bodies again", m.purge_bodies(MIDNIGHT).unwrap());
    t.add("purged detail", m.request_detail("gen-0-0").unwrap());

    // Message Batches.
    for i in 0..5 {
        b.create_batch(&batch(
            &format!("batch-{i}"),
            &k[i % 2],
            MIDNIGHT + i as i64,
            3,
        ))
        .unwrap();
    }
    let mut fwd = batch("batch-fwd", &k[0], MIDNIGHT + 10, 0);
    fwd.forward = Some(arouter_store::Forward {
        provider: "an".into(),
        upstream_id: "msgbatch_up".into(),
    });
    fwd.snapshot = Some(json!({"id": "msgbatch_up"}));
    b.create_batch(&fwd).unwrap();
    let pages = [
        (None, Cursor::First),
        (None, Cursor::After("batch-3".into())),
        (None, Cursor::Before("batch-1".into())),
        (None, Cursor::After("unknown".into())),
        (Some(0), Cursor::First),
        (Some(1), Cursor::After("batch-3".into())),
    ];
    for (key, cursor) in pages {
        t.add(
            &format!("list_batches key {key:?} {cursor:?}"),
            b.list_batches(key.map(|i| k[i].as_str()), 2, &cursor)
                .unwrap(),
        );
    }
    t.add("pending 4", b.pending_requests(4).unwrap());
    t.add("pending 6", b.pending_requests(6).unwrap());
    t.add(
        "finish",
        b.finish_request("batch-0", 0, "succeeded", &json!({"type": "succeeded"}))
            .unwrap(),
    );
    t.add(
        "finish again",
        b.finish_request("batch-0", 0, "errored", &json!({"type": "errored"}))
            .unwrap(),
    );
    t.add(
        "end not done",
        b.end_batch_if_done("batch-0", MIDNIGHT + 100).unwrap(),
    );
    t.add("cancel", b.cancel_batch("batch-0", MIDNIGHT + 101).unwrap());
    t.add(
        "cancel again",
        b.cancel_batch("batch-0", MIDNIGHT + 102).unwrap(),
    );
    t.add("to settle", b.batches_to_settle(MIDNIGHT + 103).unwrap());
    t.add(
        "to settle expired",
        b.batches_to_settle(MIDNIGHT + DAY + 2).unwrap(),
    );
    t.add(
        "settle",
        b.settle_requests("batch-0", "canceled", &[1]).unwrap(),
    );
    t.add("pending after cancel", b.pending_requests(10).unwrap());
    t.add(
        "finish running",
        b.finish_request("batch-0", 1, "errored", &json!({"type": "errored"}))
            .unwrap(),
    );
    t.add(
        "end",
        b.end_batch_if_done("batch-0", MIDNIGHT + 104).unwrap(),
    );
    t.add("get ended", b.get_batch("batch-0").unwrap());
    t.add("results", b.batch_results("batch-0").unwrap());
    t.add(
        "settle expired",
        b.settle_requests("batch-1", "expired", &[]).unwrap(),
    );
    t.add(
        "end expired",
        b.end_batch_if_done("batch-1", MIDNIGHT + DAY + 3).unwrap(),
    );
    t.add("get expired", b.get_batch("batch-1").unwrap());
    t.add(
        "end forwarded",
        b.end_batch_if_done("batch-fwd", MIDNIGHT).unwrap(),
    );
    b.set_batch_snapshot(
        "batch-fwd",
        &json!({"id": "msgbatch_up", "processing_status": "ended"}),
    )
    .unwrap();
    t.add("claim", b.claim_results_recording("batch-fwd").unwrap());
    t.add(
        "claim again",
        b.claim_results_recording("batch-fwd").unwrap(),
    );
    b.release_results_recording("batch-fwd").unwrap();
    t.add(
        "claim released",
        b.claim_results_recording("batch-fwd").unwrap(),
    );
    t.add("get forwarded", b.get_batch("batch-fwd").unwrap());
    t.add("delete", b.delete_batch("batch-2").unwrap());
    t.add("delete again", b.delete_batch("batch-2").unwrap());
    t.add("get deleted", b.get_batch("batch-2").unwrap());
    t.add("results deleted", b.batch_results("batch-2").unwrap());
    t.add(
        "list after",
        b.list_batches(None, 10, &Cursor::First).unwrap(),
    );
    t.lines
}

/// Both transcripts, call by call (the first difference is reported with its call).
fn assert_same(sqlite: &[(String, String)], pg: &[(String, String)]) {
    for (s, p) in sqlite.iter().zip(pg) {
        assert_eq!(s.0, p.0, "the suites diverged");
        assert_eq!(
            s.1, p.1,
            "{}: SQLite (left) and PostgreSQL (right) differ",
            s.0
        );
    }
    assert_eq!(sqlite.len(), pg.len());
}

fn sqlite() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("arouter.db")).unwrap();
    (dir, store)
}

#[test]
fn sqlite_and_postgres_answer_alike() {
    let (_dir, lite) = sqlite();
    let on_sqlite = suite(&*lite, &*lite);
    assert!(on_sqlite.len() > 150);
    let Some(pg) = Pg::shared() else { return };
    // A database whose collation is not byte order (ICU's English: case and punctuation
    // weigh less than letters), as team databases often are: the order must stay SQLite's.
    pg.psql(
        "postgres",
        "CREATE DATABASE manage_icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
    );
    let team = PgStore::open(&pg.url("manage_icu")).unwrap();
    let on_pg = suite(&*team, &*team);
    assert_same(&on_sqlite, &on_pg);
}

fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

#[test]
fn batch_requests_go_to_one_server_and_lapse_back() {
    let Some(pg) = Pg::shared() else { return };
    let url = pg.fresh_db("leases");
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open(&url).unwrap();
    let idx = |rs: &[arouter_store::PendingRequest]| rs.iter().map(|r| r.idx).collect::<Vec<_>>();

    a.create_batch(&batch("b", "k", 1, 10)).unwrap();
    let on_a = a.pending_requests(4).unwrap();
    let on_b = b.pending_requests(4).unwrap();
    assert_eq!(
        (idx(&on_a), idx(&on_b)),
        (vec![0, 1, 2, 3], vec![4, 5, 6, 7])
    );
    assert_eq!(
        a.pending_requests(4).unwrap(),
        on_a,
        "a server's own come back to it"
    );
    assert_eq!(idx(&b.pending_requests(10).unwrap()), [4, 5, 6, 7, 8, 9]);
    assert_eq!(
        idx(&a.pending_requests(10).unwrap()),
        [0, 1, 2, 3],
        "nothing left to claim"
    );

    // B crashes: its leases lapse (no renewal) and A picks its requests up.
    pg.psql(
        db_name(&url),
        "UPDATE batch_requests SET lease_ms = 0 WHERE batch_id = 'b' AND idx >= 4",
    );
    assert_eq!(
        idx(&a.pending_requests(10).unwrap()),
        (0..10).collect::<Vec<_>>()
    );
    assert!(
        b.pending_requests(10).unwrap().is_empty(),
        "B lost its lapsed leases"
    );
    for i in 0..10 {
        assert!(a.finish_request("b", i, "succeeded", &json!({})).unwrap());
    }
    assert!(b.end_batch_if_done("b", 2).unwrap());

    // Settling leaves alone what another live server runs.
    a.create_batch(&batch("c", "k", 3, 4)).unwrap();
    assert_eq!(idx(&a.pending_requests(2).unwrap()), [0, 1]);
    assert!(b.cancel_batch("c", 4).unwrap());
    assert_eq!(b.settle_requests("c", "canceled", &[]).unwrap(), 2);
    assert!(!b.end_batch_if_done("c", 5).unwrap(), "A still runs two");
    assert_eq!(a.settle_requests("c", "canceled", &[0]).unwrap(), 1);
    assert!(a.finish_request("c", 0, "succeeded", &json!({})).unwrap());
    assert!(a.end_batch_if_done("c", 6).unwrap());
    let counts = b.get_batch("c").unwrap().unwrap().counts;
    assert_eq!((counts.succeeded, counts.canceled), (1, 3));

    // Two servers working one batch off concurrently run each request once.
    a.create_batch(&batch("d", "k", 7, 60)).unwrap();
    let workers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|s| {
            std::thread::spawn(move || {
                let mut done = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline {
                    let got = s.pending_requests(3).unwrap();
                    if got.is_empty() {
                        break;
                    }
                    for r in got {
                        assert!(s
                            .finish_request("d", r.idx, "succeeded", &json!({}))
                            .unwrap());
                        done.push(r.idx);
                    }
                }
                done
            })
        })
        .collect();
    let mut all: Vec<i64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(
        all,
        (0..60).collect::<Vec<_>>(),
        "every request ran exactly once"
    );

    // A live server's leases are renewed (every 10 s, for 60 s) while it runs them.
    a.create_batch(&batch("r", "k", 8, 1)).unwrap();
    assert_eq!(a.pending_requests(1).unwrap().len(), 1);
    let db = db_name(&url);
    pg.psql(
        db,
        "UPDATE batch_requests SET lease_ms = arouter_now_ms() + 12000 WHERE batch_id = 'r'",
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let renewed = "SELECT lease_ms > arouter_now_ms() + 30000 FROM batch_requests \
        WHERE batch_id = 'r'";
    while pg.psql(db, renewed) != "t" {
        assert!(Instant::now() < deadline, "the lease was not renewed");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(b.pending_requests(1).unwrap().is_empty());
    assert!(a.finish_request("r", 0, "succeeded", &json!({})).unwrap());

    // A stopping gives its leases back at once.
    a.create_batch(&batch("e", "k", 8, 2)).unwrap();
    assert_eq!(a.pending_requests(2).unwrap().len(), 2);
    assert!(b.pending_requests(2).unwrap().is_empty());
    ManageStore::shutdown(&*a);
    assert_eq!(idx(&b.pending_requests(2).unwrap()), [0, 1]);
}

#[test]
fn key_settings_reach_another_instance() {
    let Some(pg) = Pg::shared() else { return };
    let url = pg.fresh_db("keyset");
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open(&url).unwrap();
    let (_, info) = a.create_key("k", false, None, Some(5)).unwrap();
    assert!(a.set_key_proxy(&info.hash, Some(true)).unwrap());
    assert!(a.set_key_limit_reset(&info.hash, Some("daily")).unwrap());
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let seen = b.find_key(&info.hash);
        let reset = seen.as_ref().and_then(|k| k.limit_reset);
        if seen.as_ref().and_then(|k| k.proxy) == Some(true) && reset.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "B still sees {seen:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
