//! Daily usage rollups: the `usage_daily` source aggregates read from, and its upkeep per write.

use crate::admin::TimeRange;
use arouter_core::store::UsageRecord;
use rusqlite::types::Value as Sql;
use rusqlite::{params, OptionalExtension, Transaction};
use std::borrow::Cow;
use std::collections::HashMap;

const DAY_MS: i64 = 86_400_000;

/// A ledger row's UTC day, the same expression the rollup is keyed by.
macro_rules! day_of {
    ($ms:literal) => {
        concat!("strftime('%Y-%m-%d', ", $ms, " / 1000, 'unixepoch')")
    };
}

/// One rollup cell: unix day (of the truncated seconds, as SQLite's `strftime` computes it),
/// app, key hash, served model, provider (borrowed from the batch's records).
type Cell<'a> = (i64, Cow<'a, str>, Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);

/// requests, errors, input, output, reasoning, cache read, cache write tokens, cost, unpriced.
type Sums = [i64; 9];

const UPSERT_CELL: &str = "INSERT INTO usage_daily (day, app, key_hash, served_model, provider, \
    requests, errors, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, \
    cache_write_tokens, cost_pusd, unpriced) VALUES (strftime('%Y-%m-%d', ?1 * 86400, \
    'unixepoch'), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
    ON CONFLICT (day, app, key_hash, served_model, provider) DO UPDATE SET \
    requests = requests + excluded.requests, errors = errors + excluded.errors, \
    input_tokens = input_tokens + excluded.input_tokens, \
    output_tokens = output_tokens + excluded.output_tokens, \
    reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, \
    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, \
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, \
    cost_pusd = cost_pusd + excluded.cost_pusd, unpriced = unpriced + excluded.unpriced";

/// Drops a cell a replaced row emptied, so it does not show up as a zero group.
const DELETE_EMPTY: &str = "DELETE FROM usage_daily WHERE requests = 0 AND \
    day = strftime('%Y-%m-%d', ?1 * 86400, 'unixepoch') AND app = ?2 AND key_hash = ?3 AND \
    served_model = ?4 AND provider = ?5";

/// The contribution of a stored `requests` row, by id.
const STORED_ROW: &str = "SELECT created_ms, app, key_hash, served_model, provider, \
    CASE WHEN status >= 400 OR error IS NOT NULL THEN 1 ELSE 0 END, input_tokens, \
    output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost_pusd, \
    CASE WHEN priced = 0 THEN 1 ELSE 0 END FROM requests WHERE id = ?1";

fn unix_day(created_ms: i64) -> i64 {
    (created_ms / 1000).div_euclid(86_400)
}

/// A batch's net changes to `usage_daily`, written once per touched cell.
#[derive(Default)]
pub(crate) struct BatchRollup<'a> {
    /// Fx hash: the keys are short strings from this process's own records, and SipHash was a
    /// visible part of the writer's work per row.
    cells: HashMap<Cell<'a>, Sums, rustc_hash::FxBuildHasher>,
}

impl<'a> BatchRollup<'a> {
    fn apply(&mut self, cell: Cell<'a>, sign: i64, values: [i64; 8]) {
        let sums = self.cells.entry(cell).or_default();
        sums[0] += sign;
        for (sum, value) in sums[1..].iter_mut().zip(values) {
            *sum += sign * value;
        }
    }

    /// Takes out the contribution of the stored row with this id, if any (about to be replaced).
    pub(crate) fn subtract_existing(&mut self, tx: &Transaction, id: &str) -> rusqlite::Result<()> {
        let stored = tx
            .prepare_cached(STORED_ROW)?
            .query_row([id], |row| {
                let cell = (
                    unix_day(row.get(0)?),
                    Cow::Owned(row.get(1)?),
                    Cow::Owned(row.get(2)?),
                    Cow::Owned(row.get(3)?),
                    Cow::Owned(row.get(4)?),
                );
                let mut values = [0i64; 8];
                for (i, value) in values.iter_mut().enumerate() {
                    *value = row.get(5 + i)?;
                }
                Ok((cell, values))
            })
            .optional()?;
        if let Some((cell, values)) = stored {
            self.apply(cell, -1, values);
        }
        Ok(())
    }

    /// Adds a record's contribution (as the ledger stores it).
    pub(crate) fn add(&mut self, rec: &'a UsageRecord) {
        let cell = (
            unix_day(rec.created_ms),
            Cow::Borrowed(rec.app.as_str()),
            Cow::Borrowed(rec.key_hash.as_str()),
            Cow::Borrowed(rec.served_model.as_str()),
            Cow::Borrowed(rec.provider.as_str()),
        );
        let failed = rec.status >= 400 || rec.error.is_some();
        let values = [
            i64::from(failed),
            count(rec.usage.input_tokens),
            count(rec.usage.output_tokens),
            count(rec.usage.reasoning_tokens),
            count(rec.usage.cache_read_tokens),
            count(rec.usage.cache_write_tokens),
            rec.cost_pusd,
            i64::from(!rec.priced),
        ];
        self.apply(cell, 1, values);
    }

    /// Upserts every touched cell, dropping any a replacement emptied.
    pub(crate) fn write(self, tx: &Transaction) -> rusqlite::Result<()> {
        let mut upsert = tx.prepare_cached(UPSERT_CELL)?;
        for ((day, app, key_hash, model, provider), sums) in self.cells {
            if sums.iter().all(|&v| v == 0) {
                continue;
            }
            upsert.execute(params![
                day, app, key_hash, model, provider, sums[0], sums[1], sums[2], sums[3], sums[4],
                sums[5], sums[6], sums[7], sums[8]
            ])?;
            if sums[0] < 0 {
                tx.prepare_cached(DELETE_EMPTY)?
                    .execute(params![day, app, key_hash, model, provider])?;
            }
        }
        Ok(())
    }
}

/// Token counts are u64 in the hub model; SQLite integers are i64 (no real count gets near).
pub(crate) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The migration creating and backfilling `usage_daily`.
pub(crate) const MIGRATION: &str = concat!(
    "CREATE TABLE usage_daily (
    day                TEXT NOT NULL,
    app                TEXT NOT NULL,
    key_hash           TEXT NOT NULL,
    served_model       TEXT NOT NULL,
    provider           TEXT NOT NULL,
    requests           INTEGER NOT NULL DEFAULT 0,
    errors             INTEGER NOT NULL DEFAULT 0,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_pusd          INTEGER NOT NULL DEFAULT 0,
    unpriced           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, app, key_hash, served_model, provider)
) WITHOUT ROWID;
CREATE INDEX usage_daily_key ON usage_daily(key_hash, day);
INSERT INTO usage_daily SELECT ",
    day_of!("created_ms"),
    " AS d, app, key_hash, served_model, provider, COUNT(*), \
     SUM(CASE WHEN status >= 400 OR error IS NOT NULL THEN 1 ELSE 0 END), SUM(input_tokens), \
     SUM(output_tokens), SUM(reasoning_tokens), SUM(cache_read_tokens), \
     SUM(cache_write_tokens), SUM(cost_pusd), SUM(CASE WHEN priced = 0 THEN 1 ELSE 0 END) \
     FROM requests GROUP BY d, app, key_hash, served_model, provider;"
);

const ROLLUP_SELECT: &str = "SELECT day, app, key_hash, served_model, provider, requests, \
    errors, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, \
    cache_write_tokens, cost_pusd, unpriced FROM usage_daily WHERE requests != 0";

const SCAN_SELECT: &str = concat!(
    "SELECT ",
    day_of!("created_ms"),
    " AS day, app, key_hash, served_model, provider, 1 AS requests, \
     CASE WHEN status >= 400 OR error IS NOT NULL THEN 1 ELSE 0 END AS errors, input_tokens, \
     output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost_pusd, \
     CASE WHEN priced = 0 THEN 1 ELSE 0 END AS unpriced FROM requests WHERE 1 = 1"
);

/// A window cut into whole UTC days (read from the rollup) and partial days (scanned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Split {
    /// Day-aligned `[since, until)` bounds for the rollup; `None` = nothing from the rollup.
    pub whole: Option<TimeRange>,
    /// Ranges scanned from `requests`.
    pub partial: Vec<TimeRange>,
}

fn floor_day(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

fn ceil_day(ms: i64) -> i64 {
    floor_day(ms.saturating_add(DAY_MS - 1))
}

/// First unix ms SQLite's date functions cannot name (year 10000).
const YEAR_10000_MS: i64 = 253_402_300_800_000;

/// Bounds outside 1970..10000 are open: ledger times are `now`, and SQLite's `strftime` has
/// no day name for them (so a day comparison against one would match nothing).
fn open_out_of_range(range: TimeRange) -> TimeRange {
    TimeRange {
        since_ms: range.since_ms.filter(|&s| s > 0),
        until_ms: range.until_ms.filter(|&u| u < YEAR_10000_MS),
    }
}

/// Splits `range` into a partial head day, whole days and a partial tail day.
pub(crate) fn split(range: TimeRange) -> Split {
    let range = open_out_of_range(range);
    let start = range.since_ms.map(ceil_day);
    let end = range.until_ms.map(floor_day);
    if let (Some(a), Some(b)) = (start, end) {
        if a >= b {
            return Split {
                whole: None,
                partial: vec![range],
            };
        }
    }
    let mut partial = Vec::new();
    if let (Some(since), Some(a)) = (range.since_ms, start) {
        if since < a {
            partial.push(TimeRange {
                since_ms: Some(since),
                until_ms: Some(a),
            });
        }
    }
    if let (Some(until), Some(b)) = (range.until_ms, end) {
        if b < until {
            partial.push(TimeRange {
                since_ms: Some(b),
                until_ms: Some(until),
            });
        }
    }
    Split {
        whole: Some(TimeRange {
            since_ms: start,
            until_ms: end,
        }),
        partial,
    }
}

/// A subquery (to use as `FROM (<sql>) r`) yielding rollup-shaped rows for `range`, optionally
/// only one key's, with its bound values in order. Columns: day, app, key_hash, served_model,
/// provider, requests, errors, the five token counts, cost_pusd, unpriced.
pub(crate) fn usage_source(range: TimeRange, key_hash: Option<&str>) -> (String, Vec<Sql>) {
    let split = split(range);
    let mut parts = Vec::new();
    let mut values = Vec::new();
    let key_clause = |values: &mut Vec<Sql>| match key_hash {
        Some(k) => {
            values.push(Sql::Text(k.to_string()));
            " AND key_hash = ?"
        }
        None => "",
    };
    if let Some(whole) = split.whole {
        let mut sql = ROLLUP_SELECT.to_string();
        if let Some(s) = whole.since_ms {
            sql.push_str(concat!(" AND day >= ", day_of!("?")));
            values.push(Sql::Integer(s));
        }
        if let Some(u) = whole.until_ms {
            sql.push_str(concat!(" AND day < ", day_of!("?")));
            values.push(Sql::Integer(u));
        }
        sql.push_str(key_clause(&mut values));
        parts.push(sql);
    }
    for p in split.partial {
        let mut sql = SCAN_SELECT.to_string();
        if let Some(s) = p.since_ms {
            sql.push_str(" AND created_ms >= ?");
            values.push(Sql::Integer(s));
        }
        if let Some(u) = p.until_ms {
            sql.push_str(" AND created_ms < ?");
            values.push(Sql::Integer(u));
        }
        sql.push_str(key_clause(&mut values));
        parts.push(sql);
    }
    (parts.join(" UNION ALL "), values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(since: Option<i64>, until: Option<i64>) -> TimeRange {
        TimeRange {
            since_ms: since,
            until_ms: until,
        }
    }

    #[test]
    fn splits_into_head_whole_and_tail() {
        let s = split(r(Some(DAY_MS + 5), Some(4 * DAY_MS + 7)));
        assert_eq!(s.whole, Some(r(Some(2 * DAY_MS), Some(4 * DAY_MS))));
        assert_eq!(
            s.partial,
            vec![
                r(Some(DAY_MS + 5), Some(2 * DAY_MS)),
                r(Some(4 * DAY_MS), Some(4 * DAY_MS + 7))
            ]
        );
    }

    #[test]
    fn a_window_inside_one_or_two_days_is_scanned() {
        let range = r(Some(DAY_MS + 5), Some(2 * DAY_MS + 7));
        assert_eq!(split(range).whole, None);
        assert_eq!(split(range).partial, vec![range]);
    }

    #[test]
    fn bounds_strftime_cannot_name_are_open() {
        let s = split(r(Some(i64::MIN), Some(i64::MAX)));
        assert_eq!(s.whole, Some(r(None, None)));
        assert!(s.partial.is_empty());
    }

    #[test]
    fn open_and_aligned_bounds_need_no_scan() {
        let s = split(r(None, None));
        assert_eq!(s.whole, Some(r(None, None)));
        assert!(s.partial.is_empty());
        let s = split(r(Some(DAY_MS), Some(3 * DAY_MS)));
        assert_eq!(s.whole, Some(r(Some(DAY_MS), Some(3 * DAY_MS))));
        assert!(s.partial.is_empty());
    }
}
