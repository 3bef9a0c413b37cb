//! Reads and writes for the management API: the filtered request log, per-day usage, key spend
//! windows and settings, the credits ledger, transactions and activity. Money is pico-USD.

use crate::keys::{self, KeyPatch};
use crate::queries::{record_from_row, GroupBy, UsageRow};
use crate::{queries, rollup, ManageStore, SqliteStore};
use anyhow::{bail, Result};
use arouter_core::store::KeyInfo;
use arouter_core::store::UsageRecord;
use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use std::collections::HashMap;

/// A time window in unix milliseconds: `since` inclusive, `until` exclusive; `None` = open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// Which requests the log shows. `ok`: `Some(true)` = succeeded, `Some(false)` = failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub range: TimeRange,
    pub app: Option<String>,
    /// Matches the served or the requested model.
    pub model: Option<String>,
    pub provider: Option<String>,
    pub ok: Option<bool>,
    pub streamed: Option<bool>,
    pub limit: i64,
    pub offset: i64,
}

/// A ledger row with the name of its key (`None` if the key was deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    pub record: UsageRecord,
    pub key_name: Option<String>,
}

/// One (day, group) cell of the stacked usage chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRow {
    /// `yyyy-mm-dd`, UTC.
    pub day: String,
    pub group: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_pusd: i64,
}

/// Key columns the router's `KeyInfo` does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMeta {
    /// The masked key.
    pub label: String,
    /// `daily`, `weekly` or `monthly`; `None` = the limit never resets.
    pub limit_reset: Option<String>,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Window starts (unix ms) for [`SqliteStore::key_usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowStarts {
    pub day_ms: i64,
    pub week_ms: i64,
    pub month_ms: i64,
}

/// What a key spent, all-time and in the current UTC day, week and month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    pub total_pusd: i64,
    pub daily_pusd: i64,
    pub weekly_pusd: i64,
    pub monthly_pusd: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub id: i64,
    pub created_ms: i64,
    pub amount_pusd: i64,
    pub note: String,
}

/// A credit (positive) or a request's charge (negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// `credit-<n>` or the generation id.
    pub id: String,
    pub is_credit: bool,
    pub amount_pusd: i64,
    pub created_ms: i64,
    pub note: Option<String>,
    pub model: Option<String>,
    pub app: Option<String>,
    pub key_name: Option<String>,
}

/// Which transactions to list; a `key` (name or hash) or `app` filter leaves out credits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    pub range: TimeRange,
    pub key: Option<String>,
    pub app: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One (day, model, app) cell of the activity report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    pub date: String,
    pub model: String,
    pub app: String,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub reasoning_tokens: i64,
    pub usage_pusd: i64,
}

/// The limit reset periods a key may have.
pub const LIMIT_RESETS: &[&str] = &["daily", "weekly", "monthly"];

/// A WHERE clause under construction with its bound values.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    values: Vec<Sql>,
}

impl Where {
    fn push(&mut self, clause: &str, values: impl IntoIterator<Item = Sql>) {
        self.clauses.push(clause.to_string());
        self.values.extend(values);
    }

    fn range(&mut self, column: &str, r: TimeRange) {
        if let Some(s) = r.since_ms {
            self.push(&format!("{column} >= ?"), [Sql::Integer(s)]);
        }
        if let Some(u) = r.until_ms {
            self.push(&format!("{column} < ?"), [Sql::Integer(u)]);
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_string()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

const FAILED: &str = "(r.status >= 400 OR r.error IS NOT NULL)";

fn request_where(f: &RequestFilter) -> Where {
    let mut w = Where::default();
    w.range("r.created_ms", f.range);
    if let Some(app) = &f.app {
        w.push("r.app = ?", [text(app)]);
    }
    if let Some(m) = &f.model {
        w.push(
            "(r.served_model = ? OR r.requested_model = ?)",
            [text(m), text(m)],
        );
    }
    if let Some(p) = &f.provider {
        w.push("r.provider = ?", [text(p)]);
    }
    match f.ok {
        Some(true) => w.push(&format!("NOT {FAILED}"), []),
        Some(false) => w.push(FAILED, []),
        None => {}
    }
    if let Some(s) = f.streamed {
        w.push("r.streamed = ?", [Sql::Integer(i64::from(s))]);
    }
    w
}

fn logged(row: &rusqlite::Row) -> rusqlite::Result<LoggedRequest> {
    Ok(LoggedRequest {
        record: record_from_row(row)?,
        key_name: row.get("key_name")?,
    })
}

const LOG_SELECT: &str = "SELECT r.*, NULL AS request_body, NULL AS response_body, \
    k.name AS key_name FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash";

fn list_requests(
    conn: &Connection,
    f: &RequestFilter,
) -> rusqlite::Result<(Vec<LoggedRequest>, i64)> {
    let w = request_where(f);
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM requests r WHERE {}", w.sql()),
        params_from_iter(w.values.iter()),
        |row| row.get(0),
    )?;
    let sql = format!(
        "{LOG_SELECT} WHERE {} ORDER BY r.created_ms DESC, r.id DESC LIMIT ? OFFSET ?",
        w.sql()
    );
    let mut values = w.values;
    values.extend([Sql::Integer(f.limit), Sql::Integer(f.offset)]);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), logged)?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total))
}

/// A request with its bodies, and its failed attempts (`<id>-attempt<N>`) oldest first.
fn request_detail(
    conn: &Connection,
    id: &str,
) -> rusqlite::Result<Option<(LoggedRequest, Vec<LoggedRequest>)>> {
    let main = conn
        .query_row(
            "SELECT r.*, b.request AS request_body, b.response AS response_body, \
             k.name AS key_name FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash \
             LEFT JOIN request_bodies b ON b.id = r.id WHERE r.id = ?1",
            [id],
            logged,
        )
        .optional()?;
    let Some(main) = main else {
        return Ok(None);
    };
    // A key range on the primary key: every id starting with "<id>-attempt".
    let low = format!("{id}-attempt");
    let high = format!("{id}-attempu");
    let mut stmt = conn.prepare(&format!(
        "{LOG_SELECT} WHERE r.id >= ?1 AND r.id < ?2 ORDER BY r.attempt, r.created_ms"
    ))?;
    let attempts = stmt
        .query_map(params![low, high], logged)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some((main, attempts)))
}

/// Up to `limit` requests of the window after `after` (`created_ms`, `id`), oldest first: the
/// CSV export reads the window page by page instead of all at once.
fn export_requests_page(
    conn: &Connection,
    range: TimeRange,
    after: Option<&(i64, String)>,
    limit: i64,
) -> rusqlite::Result<Vec<LoggedRequest>> {
    let mut w = Where::default();
    w.range("r.created_ms", range);
    let mut sql = format!("{LOG_SELECT} WHERE {}", w.sql());
    let mut values = w.values;
    if let Some((ms, id)) = after {
        sql.push_str(" AND (r.created_ms, r.id) > (?, ?)");
        values.extend([Sql::Integer(*ms), Sql::Text(id.clone())]);
    }
    sql.push_str(" ORDER BY r.created_ms, r.id LIMIT ?");
    values.push(Sql::Integer(limit));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), logged)?;
    rows.collect()
}

fn usage_in_range(
    conn: &Connection,
    range: TimeRange,
    by: GroupBy,
) -> rusqlite::Result<Vec<UsageRow>> {
    crate::queries::usage_by_group(conn, range, by)
}

fn daily_usage(
    conn: &Connection,
    range: TimeRange,
    by: GroupBy,
) -> rusqlite::Result<Vec<DailyRow>> {
    let (source, values) = rollup::usage_source(range, None);
    let sql = format!(
        "SELECT r.day AS d, {group} AS grp, SUM(r.requests), SUM(r.input_tokens), \
           SUM(r.output_tokens), SUM(r.cost_pusd) \
         FROM ({source}) r LEFT JOIN keys k ON k.hash = r.key_hash \
         GROUP BY d, grp ORDER BY d ASC, grp ASC",
        group = by.sql_expr(),
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), |row| {
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

fn activity(conn: &Connection, range: TimeRange) -> rusqlite::Result<Vec<ActivityRow>> {
    let (source, values) = rollup::usage_source(range, None);
    let sql = format!(
        "SELECT r.day AS d, r.served_model, r.app, SUM(r.requests), SUM(r.input_tokens), \
           SUM(r.output_tokens), SUM(r.reasoning_tokens), SUM(r.cost_pusd) \
         FROM ({source}) r \
         GROUP BY d, r.served_model, r.app ORDER BY d ASC, r.served_model ASC, r.app ASC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), |row| {
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

fn key_meta_from_row(row: &rusqlite::Row) -> rusqlite::Result<(String, KeyMeta)> {
    Ok((
        row.get(0)?,
        KeyMeta {
            label: row.get(1)?,
            limit_reset: row.get(2)?,
            updated_at: row.get(3)?,
        },
    ))
}

const KEY_META: &str = "SELECT hash, label, limit_reset, updated_at FROM keys";

fn key_usage(conn: &Connection, hash: &str, s: &WindowStarts) -> rusqlite::Result<KeyUsage> {
    let spend_since = |since_ms: Option<i64>| {
        let range = TimeRange {
            since_ms,
            until_ms: None,
        };
        crate::queries::key_spend(conn, hash, range)
    };
    Ok(KeyUsage {
        total_pusd: spend_since(None)?,
        daily_pusd: spend_since(Some(s.day_ms))?,
        weekly_pusd: spend_since(Some(s.week_ms))?,
        monthly_pusd: spend_since(Some(s.month_ms))?,
    })
}

fn transaction_parts(f: &TransactionFilter) -> (String, Vec<Sql>, String, Vec<Sql>) {
    let mut credits = Where::default();
    credits.range("c.created_ms", f.range);
    if f.key.is_some() || f.app.is_some() {
        credits.push("0 = 1", []);
    }
    let mut charges = Where::default();
    charges.push("r.cost_pusd != 0", []);
    charges.range("r.created_ms", f.range);
    if let Some(key) = &f.key {
        charges.push("(r.key_hash = ? OR k.name = ?)", [text(key), text(key)]);
    }
    if let Some(app) = &f.app {
        charges.push("r.app = ?", [text(app)]);
    }
    (credits.sql(), credits.values, charges.sql(), charges.values)
}

fn transactions(
    conn: &Connection,
    f: &TransactionFilter,
) -> rusqlite::Result<(Vec<Transaction>, i64)> {
    let (cw, cv, rw, rv) = transaction_parts(f);
    let from_credits = format!("FROM credits c WHERE {cw}");
    let from_charges =
        format!("FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash WHERE {rw}");
    let mut values: Vec<Sql> = cv.iter().chain(rv.iter()).cloned().collect();
    let total: i64 = conn.query_row(
        &format!("SELECT (SELECT COUNT(*) {from_credits}) + (SELECT COUNT(*) {from_charges})"),
        params_from_iter(values.iter()),
        |row| row.get(0),
    )?;
    let sql = format!(
        "SELECT 'credit-' || c.id AS id, 1 AS is_credit, c.amount_pusd AS amount, \
           c.created_ms AS t, c.note, NULL, NULL, NULL {from_credits} \
         UNION ALL \
         SELECT r.id, 0, -r.cost_pusd, r.created_ms, NULL, r.served_model, r.app, k.name \
           {from_charges} \
         ORDER BY t DESC, id DESC LIMIT ? OFFSET ?"
    );
    values.extend([Sql::Integer(f.limit), Sql::Integer(f.offset)]);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), |row| {
        Ok(Transaction {
            id: row.get(0)?,
            is_credit: row.get(1)?,
            amount_pusd: row.get(2)?,
            created_ms: row.get(3)?,
            note: row.get(4)?,
            model: row.get(5)?,
            app: row.get(6)?,
            key_name: row.get(7)?,
        })
    })?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total))
}

fn credit_from_row(row: &rusqlite::Row) -> rusqlite::Result<Credit> {
    Ok(Credit {
        id: row.get(0)?,
        created_ms: row.get(1)?,
        amount_pusd: row.get(2)?,
        note: row.get(3)?,
    })
}

impl ManageStore for SqliteStore {
    fn create_key(
        &self,
        name: &str,
        admin: bool,
        rpm: Option<u32>,
        limit_pusd: Option<i64>,
    ) -> Result<(String, KeyInfo)> {
        let created = self
            .conns
            .with(|c| keys::create(c, name, admin, rpm, limit_pusd))?;
        self.refresh_keys()?;
        Ok(created)
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        self.conns.with(|c| Ok(keys::load_all(c)?))
    }

    fn update_key(&self, hash: &str, patch: &KeyPatch) -> Result<Option<KeyInfo>> {
        let updated = self.conns.with(|c| keys::update(c, hash, patch))?;
        self.refresh_keys()?;
        Ok(updated)
    }

    fn revoke_key(&self, name_or_hash: &str) -> Result<bool> {
        let revoked = self.conns.with(|c| Ok(keys::revoke(c, name_or_hash)?))?;
        self.refresh_keys()?;
        Ok(revoked)
    }

    fn delete_key(&self, hash: &str) -> Result<bool> {
        let deleted = self.conns.with(|c| Ok(keys::delete(c, hash)?))?;
        self.refresh_keys()?;
        Ok(deleted)
    }

    fn key_label(&self, hash: &str) -> Option<String> {
        self.conns
            .with(|c| Ok(keys::label(c, hash)?))
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read a key label");
                None
            })
    }

    fn usage_summary(&self, since_ms: i64, by: GroupBy) -> Result<Vec<UsageRow>> {
        self.conns
            .with(|c| Ok(queries::usage_summary(c, since_ms, by)?))
    }

    fn key_usage_pusd(&self, hash: &str, since_ms: i64) -> Result<i64> {
        self.conns
            .with(|c| Ok(queries::key_usage_pusd(c, hash, since_ms)?))
    }

    fn purge_bodies(&self, before_ms: i64) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let n = self.conns.with(|c| {
                Ok(c.execute(
                    "DELETE FROM request_bodies WHERE id IN (SELECT r.id FROM requests r \
                     JOIN request_bodies b ON b.id = r.id WHERE r.created_ms < ?1 LIMIT 500)",
                    [before_ms],
                )?)
            })?;
            total += n as u64;
            if n < 500 {
                return Ok(total);
            }
        }
    }

    fn shutdown(&self) {
        self.ledger.shutdown();
        let watcher = self.watcher.lock().take();
        if let Some(watcher) = watcher {
            watcher.stop();
        }
    }

    fn list_requests(&self, f: &RequestFilter) -> Result<(Vec<LoggedRequest>, i64)> {
        self.conns.with(|c| Ok(list_requests(c, f)?))
    }

    fn request_detail(&self, id: &str) -> Result<Option<(LoggedRequest, Vec<LoggedRequest>)>> {
        self.conns.with(|c| Ok(request_detail(c, id)?))
    }

    fn export_requests_page(
        &self,
        range: TimeRange,
        after: Option<&(i64, String)>,
        limit: i64,
    ) -> Result<Vec<LoggedRequest>> {
        self.conns
            .with(|c| Ok(export_requests_page(c, range, after, limit)?))
    }

    fn usage_in_range(&self, range: TimeRange, by: GroupBy) -> Result<Vec<UsageRow>> {
        self.conns.with(|c| Ok(usage_in_range(c, range, by)?))
    }

    fn daily_usage(&self, range: TimeRange, by: GroupBy) -> Result<Vec<DailyRow>> {
        self.conns.with(|c| Ok(daily_usage(c, range, by)?))
    }

    fn activity(&self, range: TimeRange) -> Result<Vec<ActivityRow>> {
        self.conns.with(|c| Ok(activity(c, range)?))
    }

    fn key_meta(&self, hash: &str) -> Result<Option<KeyMeta>> {
        self.conns.with(|c| {
            Ok(c.query_row(
                &format!("{KEY_META} WHERE hash = ?1"),
                [hash],
                key_meta_from_row,
            )
            .optional()?
            .map(|(_, m)| m))
        })
    }

    fn key_metas(&self) -> Result<HashMap<String, KeyMeta>> {
        self.conns.with(|c| {
            let mut stmt = c.prepare(KEY_META)?;
            let rows = stmt.query_map([], key_meta_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_key_proxy(&self, hash: &str, proxy: Option<bool>) -> Result<bool> {
        let changed = self.conns.with(|c| {
            let n = c.execute(
                "UPDATE keys SET proxy = ?2, updated_at = ?3 WHERE hash = ?1",
                params![hash, proxy, crate::keys::unix_now_s()],
            )?;
            Ok(n > 0)
        })?;
        self.refresh_keys()?;
        Ok(changed)
    }

    fn set_key_limit_reset(&self, hash: &str, reset: Option<&str>) -> Result<bool> {
        if let Some(r) = reset {
            if !LIMIT_RESETS.contains(&r) {
                bail!("limit_reset must be daily, weekly, monthly or null, not {r:?}");
            }
        }
        self.conns.with(|c| {
            let n = c.execute(
                "UPDATE keys SET limit_reset = ?2, updated_at = ?3 WHERE hash = ?1",
                params![hash, reset, crate::keys::unix_now_s()],
            )?;
            Ok(n > 0)
        })
    }

    fn key_usage(&self, hash: &str, starts: &WindowStarts) -> Result<KeyUsage> {
        self.conns.with(|c| Ok(key_usage(c, hash, starts)?))
    }

    fn add_credit(&self, amount_pusd: i64, note: &str) -> Result<Credit> {
        if amount_pusd <= 0 {
            bail!("a credit amount must be positive");
        }
        let created_ms = arouter_core::record::now_ms();
        self.conns.with(|c| {
            c.execute(
                "INSERT INTO credits (created_ms, amount_pusd, note) VALUES (?1, ?2, ?3)",
                params![created_ms, amount_pusd, note],
            )?;
            Ok(Credit {
                id: c.last_insert_rowid(),
                created_ms,
                amount_pusd,
                note: note.to_string(),
            })
        })
    }

    fn list_credits(&self) -> Result<Vec<Credit>> {
        self.conns.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, created_ms, amount_pusd, note FROM credits \
                 ORDER BY created_ms DESC, id DESC",
            )?;
            let rows = stmt.query_map([], credit_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn credits_total(&self) -> Result<i64> {
        self.conns.with(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(SUM(amount_pusd), 0) FROM credits",
                [],
                |r| r.get(0),
            )?)
        })
    }

    fn usage_total(&self) -> Result<i64> {
        self.conns.with(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(SUM(cost_pusd), 0) FROM usage_daily",
                [],
                |r| r.get(0),
            )?)
        })
    }

    fn transactions(&self, f: &TransactionFilter) -> Result<(Vec<Transaction>, i64)> {
        self.conns.with(|c| Ok(transactions(c, f)?))
    }
}
