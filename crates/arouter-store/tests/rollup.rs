//! Rollup-backed usage aggregates against a brute-force scan of the `requests` table.

use arouter_core::model::Usage;
use arouter_core::store::{hash_key, Store, UsageRecord};
use arouter_store::{
    db_path, ActivityRow, DailyRow, GroupBy, ManageStore, SqliteStore, TimeRange, UsageRow,
    WindowStarts,
};
use rusqlite::Connection;
use std::path::Path;

type TestResult = anyhow::Result<()>;

/// 2024-03-01T00:00:00Z in unix ms.
const MARCH_1: i64 = 1_709_251_200_000;
const DAY_MS: i64 = 86_400_000;
const GROUPINGS: [GroupBy; 5] = [
    GroupBy::App,
    GroupBy::Model,
    GroupBy::Provider,
    GroupBy::Day,
    GroupBy::Key,
];

/// A small deterministic xorshift generator (no extra dependency for tests).
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

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn random_record(rng: &mut Rng, id: String, keys: &[&str]) -> UsageRecord {
    let model = rng.pick(&[
        "openai/gpt-4o",
        "anthropic/claude",
        "gemini/flash",
        "openai/o3",
    ]);
    UsageRecord {
        id,
        created_ms: MARCH_1 + rng.below(6 * DAY_MS as u64) as i64,
        app: rng.pick(&["cli", "web", ""]).to_string(),
        key_hash: rng.pick(keys).to_string(),
        served_model: model.to_string(),
        requested_model: model.to_string(),
        provider: model.split('/').next().unwrap_or_default().to_string(),
        usage: Usage {
            input_tokens: rng.below(1000),
            output_tokens: rng.below(500),
            reasoning_tokens: rng.below(50),
            cache_read_tokens: rng.below(30),
            cache_write_tokens: rng.below(20),
        },
        cost_pusd: rng.below(5_000_000) as i64,
        priced: rng.below(5) != 0,
        status: *[200u16, 200, 200, 429, 500]
            .get(rng.below(5) as usize)
            .unwrap_or(&200),
        error: (rng.below(10) == 0).then(|| "stream cut".to_string()),
        ..UsageRecord::default()
    }
}

const BRUTE_FAILED: &str = "(r.status >= 400 OR r.error IS NOT NULL)";
const BRUTE_DAY: &str = "strftime('%Y-%m-%d', r.created_ms / 1000, 'unixepoch')";

fn brute_group(by: GroupBy) -> &'static str {
    match by {
        GroupBy::App => "r.app",
        GroupBy::Model => "r.served_model",
        GroupBy::Provider => "r.provider",
        GroupBy::Day => BRUTE_DAY,
        GroupBy::Key => "COALESCE(k.name, r.key_hash)",
    }
}

fn brute_where(range: TimeRange) -> String {
    let since = range.since_ms.unwrap_or(i64::MIN);
    let until = range
        .until_ms
        .map_or("1 = 1".to_string(), |u| format!("r.created_ms < {u}"));
    format!("r.created_ms >= {since} AND {until}")
}

fn brute_usage(c: &Connection, range: TimeRange, by: GroupBy) -> rusqlite::Result<Vec<UsageRow>> {
    let sql = format!(
        "SELECT {g} AS grp, COUNT(*), SUM(CASE WHEN {BRUTE_FAILED} THEN 1 ELSE 0 END), \
           SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.reasoning_tokens), \
           SUM(r.cache_read_tokens), SUM(r.cache_write_tokens), SUM(r.cost_pusd), \
           SUM(CASE WHEN r.priced = 0 THEN 1 ELSE 0 END) \
         FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash WHERE {w} \
         GROUP BY grp ORDER BY SUM(r.cost_pusd) DESC, grp ASC",
        g = brute_group(by),
        w = brute_where(range)
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map([], |row| {
        Ok(UsageRow {
            group: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
            requests: row.get(1)?,
            errors: row.get(2)?,
            input_tokens: row.get(3)?,
            output_tokens: row.get(4)?,
            reasoning_tokens: row.get(5)?,
            cache_read_tokens: row.get(6)?,
            cache_write_tokens: row.get(7)?,
            cost_pusd: row.get(8)?,
            unpriced: row.get(9)?,
        })
    })?;
    rows.collect()
}

fn brute_daily(c: &Connection, range: TimeRange, by: GroupBy) -> rusqlite::Result<Vec<DailyRow>> {
    let sql = format!(
        "SELECT {BRUTE_DAY} AS d, {g} AS grp, COUNT(*), SUM(r.input_tokens), \
           SUM(r.output_tokens), SUM(r.cost_pusd) \
         FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash WHERE {w} \
         GROUP BY d, grp ORDER BY d ASC, grp ASC",
        g = brute_group(by),
        w = brute_where(range)
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map([], |row| {
        Ok(DailyRow {
            day: row.get(0)?,
            group: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
            requests: row.get(2)?,
            input_tokens: row.get(3)?,
            output_tokens: row.get(4)?,
            cost_pusd: row.get(5)?,
        })
    })?;
    rows.collect()
}

fn brute_activity(c: &Connection, range: TimeRange) -> rusqlite::Result<Vec<ActivityRow>> {
    let sql = format!(
        "SELECT {BRUTE_DAY} AS d, r.served_model, r.app, COUNT(*), SUM(r.input_tokens), \
           SUM(r.output_tokens), SUM(r.reasoning_tokens), SUM(r.cost_pusd) \
         FROM requests r WHERE {w} \
         GROUP BY d, r.served_model, r.app ORDER BY d ASC, r.served_model ASC, r.app ASC",
        w = brute_where(range)
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map([], |row| {
        Ok(ActivityRow {
            date: row.get(0)?,
            model: row.get(1)?,
            app: row.get(2)?,
            requests: row.get(3)?,
            prompt_tokens: row.get(4)?,
            completion_tokens: row.get(5)?,
            reasoning_tokens: row.get(6)?,
            usage_pusd: row.get(7)?,
        })
    })?;
    rows.collect()
}

fn brute_key_spend(c: &Connection, hash: &str, since: i64) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT COALESCE(SUM(cost_pusd), 0) FROM requests WHERE key_hash = ?1 AND created_ms >= ?2",
        rusqlite::params![hash, since],
        |row| row.get(0),
    )
}

fn random_range(rng: &mut Rng) -> TimeRange {
    let bound = |rng: &mut Rng| {
        let aligned = rng.below(3) == 0;
        let day = MARCH_1 + (rng.below(8) as i64 - 1) * DAY_MS;
        match rng.below(6) {
            0 => None,
            _ if aligned => Some(day),
            _ => Some(day + rng.below(DAY_MS as u64) as i64),
        }
    };
    let a = bound(rng);
    let b = bound(rng);
    match (a, b) {
        (Some(x), Some(y)) if x > y => TimeRange {
            since_ms: Some(y),
            until_ms: Some(x),
        },
        _ => TimeRange {
            since_ms: a,
            until_ms: b,
        },
    }
}

fn assert_matches_brute_force(store: &SqliteStore, db: &Path, rng: &mut Rng) -> TestResult {
    let conn = Connection::open(db)?;
    let mut ranges = vec![
        TimeRange::default(),
        TimeRange {
            since_ms: Some(MARCH_1 + 3 * DAY_MS + 1),
            until_ms: Some(MARCH_1 + 3 * DAY_MS + 5_000_000),
        },
    ];
    ranges.extend((0..40).map(|_| random_range(rng)));
    for range in ranges {
        for by in GROUPINGS {
            assert_eq!(
                store.usage_in_range(range, by)?,
                brute_usage(&conn, range, by)?,
                "{range:?} {by:?}"
            );
            assert_eq!(
                store.daily_usage(range, by)?,
                brute_daily(&conn, range, by)?,
                "{range:?} {by:?}"
            );
            if range.until_ms.is_none() {
                let since = range.since_ms.unwrap_or(i64::MIN);
                assert_eq!(
                    store.usage_summary(since, by)?,
                    brute_usage(&conn, range, by)?
                );
            }
        }
        assert_eq!(store.activity(range)?, brute_activity(&conn, range)?);
    }
    Ok(())
}

fn assert_key_spend_matches(store: &SqliteStore, db: &Path, keys: &[&str]) -> TestResult {
    let conn = Connection::open(db)?;
    for hash in keys {
        for offset in [0, 1, DAY_MS / 2, 2 * DAY_MS, 3 * DAY_MS + 17, 10 * DAY_MS] {
            let since = MARCH_1 + offset;
            assert_eq!(
                store.key_usage_pusd(hash, since)?,
                brute_key_spend(&conn, hash, since)?
            );
        }
        let starts = WindowStarts {
            day_ms: MARCH_1 + 5 * DAY_MS,
            week_ms: MARCH_1 + DAY_MS + 3,
            month_ms: MARCH_1,
        };
        let usage = store.key_usage(hash, &starts)?;
        assert_eq!(usage.total_pusd, brute_key_spend(&conn, hash, i64::MIN)?);
        assert_eq!(
            usage.daily_pusd,
            brute_key_spend(&conn, hash, starts.day_ms)?
        );
        assert_eq!(
            usage.weekly_pusd,
            brute_key_spend(&conn, hash, starts.week_ms)?
        );
        assert_eq!(
            usage.monthly_pusd,
            brute_key_spend(&conn, hash, starts.month_ms)?
        );
    }
    let total: i64 = conn.query_row(
        "SELECT COALESCE(SUM(cost_pusd), 0) FROM requests",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(store.usage_total()?, total);
    Ok(())
}

#[test]
fn rollup_aggregates_equal_a_full_scan_including_replaced_ids() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_path(&dir.path().join("data"));
    let store = SqliteStore::open(&db)?;
    let (raw, _) = store.create_key("alpha", false, None, None)?;
    let named = hash_key(&raw);
    let keys = [named.as_str(), "deleted-key-hash", ""];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..3000 {
        store.record(random_record(&mut rng, format!("gen-{i}"), &keys));
        if i % 700 == 0 {
            store.flush();
        }
    }
    store.flush();
    // Replacements: some land in a later batch, some in the same batch as their first write.
    for i in (0..3000).step_by(37) {
        store.record(random_record(&mut rng, format!("gen-{i}"), &keys));
    }
    for i in 0..50 {
        let id = format!("twice-{i}");
        store.record(random_record(&mut rng, id.clone(), &keys));
        store.record(random_record(&mut rng, id, &keys));
    }
    store.flush();
    assert_matches_brute_force(&store, &db, &mut rng)?;
    assert_key_spend_matches(&store, &db, &keys)?;
    Ok(())
}

#[test]
fn the_migration_backfills_existing_rows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_path(&dir.path().join("data"));
    let keys = ["k1", "k2"];
    let mut rng = Rng(42);
    {
        let store = SqliteStore::open(&db)?;
        for i in 0..500 {
            store.record(random_record(&mut rng, format!("old-{i}"), &keys));
        }
        store.shutdown();
    }
    {
        // Simulate a database written before the rollup existed.
        let conn = Connection::open(&db)?;
        conn.execute_batch(
            "DROP TABLE usage_daily; ALTER TABLE keys DROP COLUMN proxy; \
             ALTER TABLE requests DROP COLUMN estimated; PRAGMA user_version = 2;",
        )?;
    }
    let store = SqliteStore::open(&db)?;
    assert_matches_brute_force(&store, &db, &mut rng)?;
    assert_key_spend_matches(&store, &db, &keys)?;
    Ok(())
}
