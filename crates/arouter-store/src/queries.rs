//! Ledger reads: one generation by id, usage aggregates, and a key's spend.

use crate::admin::TimeRange;
use crate::rollup;
use arouter_core::model::Usage;
use arouter_core::store::{StoredJson, UsageRecord};
use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// What [`crate::ManageStore::usage_summary`] groups rows by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    App,
    /// The served model (`provider/model`).
    Model,
    Provider,
    /// UTC day, `yyyy-mm-dd`.
    Day,
    /// The key's name (its hash if the key was deleted).
    Key,
}

impl GroupBy {
    /// The SQL expression naming a row's group (`r` = [`rollup::usage_source`], `k` = keys).
    pub(crate) fn sql_expr(self) -> &'static str {
        match self {
            GroupBy::App => "r.app",
            GroupBy::Model => "r.served_model",
            GroupBy::Provider => "r.provider",
            GroupBy::Day => "r.day",
            GroupBy::Key => "COALESCE(k.name, r.key_hash)",
        }
    }
}

impl FromStr for GroupBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "app" => Ok(GroupBy::App),
            "model" => Ok(GroupBy::Model),
            "provider" => Ok(GroupBy::Provider),
            "day" => Ok(GroupBy::Day),
            "key" => Ok(GroupBy::Key),
            other => Err(format!(
                "unknown grouping {other:?}: expected app, model, provider, day or key"
            )),
        }
    }
}

/// One group's totals. Money in pico-USD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    pub group: String,
    pub requests: i64,
    /// Requests answered with status >= 400 or that recorded an error (e.g. mid-stream).
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost_pusd: i64,
    /// Requests whose model had no known price (their cost counts as 0).
    pub unpriced: i64,
}

/// Totals per group for requests created at or after `since_ms`, by cost (desc) then group.
pub(crate) fn usage_summary(
    conn: &Connection,
    since_ms: i64,
    by: GroupBy,
) -> rusqlite::Result<Vec<UsageRow>> {
    let range = TimeRange {
        since_ms: Some(since_ms),
        until_ms: None,
    };
    usage_by_group(conn, range, by)
}

/// Totals per group in `range`: whole days from the rollup, partial days from the ledger.
pub(crate) fn usage_by_group(
    conn: &Connection,
    range: TimeRange,
    by: GroupBy,
) -> rusqlite::Result<Vec<UsageRow>> {
    let (source, values) = rollup::usage_source(range, None);
    let sql = format!(
        "SELECT {group} AS grp, SUM(r.requests), SUM(r.errors), \
           SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.reasoning_tokens), \
           SUM(r.cache_read_tokens), SUM(r.cache_write_tokens), SUM(r.cost_pusd), \
           SUM(r.unpriced) \
         FROM ({source}) r LEFT JOIN keys k ON k.hash = r.key_hash \
         GROUP BY grp ORDER BY SUM(r.cost_pusd) DESC, grp ASC",
        group = by.sql_expr()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), |row| {
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

/// The cost of a key's requests created at or after `since_ms`.
pub(crate) fn key_usage_pusd(
    conn: &Connection,
    hash: &str,
    since_ms: i64,
) -> rusqlite::Result<i64> {
    let range = TimeRange {
        since_ms: Some(since_ms),
        until_ms: None,
    };
    key_spend(conn, hash, range)
}

/// The cost of a key's requests in `range`.
pub(crate) fn key_spend(conn: &Connection, hash: &str, range: TimeRange) -> rusqlite::Result<i64> {
    let (source, values) = rollup::usage_source(range, Some(hash));
    conn.query_row(
        &format!("SELECT COALESCE(SUM(cost_pusd), 0) FROM ({source})"),
        params_from_iter(values.iter()),
        |row| row.get(0),
    )
}

/// A ledger row with its stored bodies, by generation id.
pub(crate) fn load_generation(
    conn: &Connection,
    id: &str,
) -> rusqlite::Result<Option<UsageRecord>> {
    conn.query_row(
        "SELECT r.*, b.request AS request_body, b.response AS response_body \
         FROM requests r LEFT JOIN request_bodies b ON b.id = r.id WHERE r.id = ?1",
        [id],
        record_from_row,
    )
    .optional()
}

fn token_count(row: &Row, column: &str) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(column)?).unwrap_or(0))
}

/// Stored bodies are JSON text; anything unparseable comes back as a JSON string. The ledger
/// stores the bytes it was given without checking UTF-8, so they are read back lossily.
fn body(row: &Row, column: &str) -> rusqlite::Result<Option<StoredJson>> {
    let text = match row.get_ref(column)? {
        ValueRef::Null => return Ok(None),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
    };
    Ok(Some(StoredJson(text.into())))
}

pub(crate) fn record_from_row(row: &Row) -> rusqlite::Result<UsageRecord> {
    Ok(UsageRecord {
        id: row.get("id")?,
        created_ms: row.get("created_ms")?,
        app: row.get("app")?,
        key_hash: row.get("key_hash")?,
        surface: row.get("surface")?,
        endpoint: row.get("endpoint")?,
        requested_model: row.get("requested_model")?,
        served_model: row.get("served_model")?,
        provider: row.get("provider")?,
        usage: Usage {
            input_tokens: token_count(row, "input_tokens")?,
            output_tokens: token_count(row, "output_tokens")?,
            reasoning_tokens: token_count(row, "reasoning_tokens")?,
            cache_read_tokens: token_count(row, "cache_read_tokens")?,
            cache_write_tokens: token_count(row, "cache_write_tokens")?,
        },
        cost_pusd: row.get("cost_pusd")?,
        priced: row.get("priced")?,
        latency_ms: row.get("latency_ms")?,
        ttft_ms: row.get("ttft_ms")?,
        streamed: row.get("streamed")?,
        finish_reason: row.get("finish_reason")?,
        native_finish_reason: row.get("native_finish_reason")?,
        status: u16::try_from(row.get::<_, i64>("status")?).unwrap_or(0),
        error: row.get("error")?,
        attempt: u32::try_from(row.get::<_, i64>("attempt")?).unwrap_or(0),
        estimated: row.get("estimated")?,
        request_body: body(row, "request_body")?,
        response_body: body(row, "response_body")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_parses_case_insensitively() {
        assert_eq!("Model".parse::<GroupBy>(), Ok(GroupBy::Model));
        assert_eq!("day".parse::<GroupBy>(), Ok(GroupBy::Day));
        assert!("week".parse::<GroupBy>().is_err());
    }
}
