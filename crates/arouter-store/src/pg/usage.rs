//! The management API's reads on PostgreSQL: the request log, a request's attempts, export
//! pages, usage per group and per UTC day, activity, key spend and transactions. They give the
//! SQLite store's answers for the same rows.
//!
//! PostgreSQL keeps no `usage_daily` rollup (a rollup written by every instance would be a hot
//! row per key and day): totals aggregate the `requests` table, over the
//! `requests_created` / `requests_key_created` indexes. Text is ordered with `COLLATE "C"`,
//! byte order, as SQLite orders it, whatever collation the database was created with.

use super::queries::record_from_row;
use crate::{
    ActivityRow, DailyRow, GroupBy, LoggedRequest, RequestFilter, TimeRange, Transaction,
    TransactionFilter, UsageRow,
};
use anyhow::Result;
use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// A ledger row's UTC day, `yyyy-mm-dd`, of its truncated unix seconds (as SQLite's
/// `strftime('%Y-%m-%d', created_ms / 1000, 'unixepoch')` names it).
const DAY: &str = "to_char(to_timestamp((r.created_ms / 1000)::float8) AT TIME ZONE 'UTC', \
    'YYYY-MM-DD')";

/// First unix ms SQLite's date functions cannot name (year 10000).
const YEAR_10000_MS: i64 = 253_402_300_800_000;

type Arg = Box<dyn ToSql + Send + Sync>;

/// A WHERE clause under construction with its bound values (`$n` numbered as pushed).
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    /// The next placeholder, bound to `value`.
    fn bind(&mut self, value: impl ToSql + Send + Sync + 'static) -> String {
        self.args.push(Box::new(value));
        format!("${}", self.args.len())
    }

    fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    fn range(&mut self, column: &str, r: TimeRange) {
        if let Some(s) = r.since_ms {
            let p = self.bind(s);
            self.push(format!("{column} >= {p}"));
        }
        if let Some(u) = r.until_ms {
            let p = self.bind(u);
            self.push(format!("{column} < {p}"));
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "TRUE".to_string()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// Runs a query with boxed arguments.
async fn query(pool: &Pool, sql: &str, args: &[Arg]) -> Result<Vec<Row>> {
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as _).collect();
    Ok(pool.get().await?.query(sql, &refs).await?)
}

/// The window aggregates read, with SQLite's rollup semantics: bounds before 1970 or after
/// year 9999 are open (see `rollup::usage_source`).
fn aggregate_range(range: TimeRange) -> TimeRange {
    TimeRange {
        since_ms: range.since_ms.filter(|&s| s > 0),
        until_ms: range.until_ms.filter(|&u| u < YEAR_10000_MS),
    }
}

fn group_expr(by: GroupBy) -> &'static str {
    match by {
        GroupBy::App => "r.app",
        GroupBy::Model => "r.served_model",
        GroupBy::Provider => "r.provider",
        GroupBy::Day => DAY,
        GroupBy::Key => "COALESCE(k.name, r.key_hash)",
    }
}

const FAILED: &str = "(r.status >= 400 OR r.error IS NOT NULL)";

/// Totals per group in `range`, by cost (desc) then group.
pub(super) async fn usage_by_group(
    pool: &Pool,
    range: TimeRange,
    by: GroupBy,
) -> Result<Vec<UsageRow>> {
    let mut w = Where::default();
    w.range("r.created_ms", aggregate_range(range));
    let group = group_expr(by);
    let sql = format!(
        "SELECT {group} AS grp, count(*), count(*) FILTER (WHERE {FAILED}), \
           SUM(r.input_tokens)::int8, SUM(r.output_tokens)::int8, \
           SUM(r.reasoning_tokens)::int8, SUM(r.cache_read_tokens)::int8, \
           SUM(r.cache_write_tokens)::int8, SUM(r.cost_pusd)::int8, \
           count(*) FILTER (WHERE NOT r.priced) \
         FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash WHERE {} \
         GROUP BY grp ORDER BY SUM(r.cost_pusd) DESC, ({group}) COLLATE \"C\" ASC",
        w.sql()
    );
    Ok(query(pool, &sql, &w.args)
        .await?
        .iter()
        .map(|row| UsageRow {
            group: row.get::<_, Option<String>>(0).unwrap_or_default(),
            requests: row.get(1),
            errors: row.get(2),
            input_tokens: row.get(3),
            output_tokens: row.get(4),
            reasoning_tokens: row.get(5),
            cache_read_tokens: row.get(6),
            cache_write_tokens: row.get(7),
            cost_pusd: row.get(8),
            unpriced: row.get(9),
        })
        .collect())
}

/// Totals per UTC day and group, oldest day first.
pub(super) async fn daily_usage(
    pool: &Pool,
    range: TimeRange,
    by: GroupBy,
) -> Result<Vec<DailyRow>> {
    let mut w = Where::default();
    w.range("r.created_ms", aggregate_range(range));
    let group = group_expr(by);
    let sql = format!(
        "SELECT {DAY} AS d, {group} AS grp, count(*), SUM(r.input_tokens)::int8, \
           SUM(r.output_tokens)::int8, SUM(r.cost_pusd)::int8 \
         FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash WHERE {} \
         GROUP BY d, grp ORDER BY d ASC, ({group}) COLLATE \"C\" ASC",
        w.sql()
    );
    Ok(query(pool, &sql, &w.args)
        .await?
        .iter()
        .map(|row| DailyRow {
            day: row.get(0),
            group: row.get::<_, Option<String>>(1).unwrap_or_default(),
            requests: row.get(2),
            input_tokens: row.get(3),
            output_tokens: row.get(4),
            cost_pusd: row.get(5),
        })
        .collect())
}

/// Totals per UTC day, served model and app.
pub(super) async fn activity(pool: &Pool, range: TimeRange) -> Result<Vec<ActivityRow>> {
    let mut w = Where::default();
    w.range("r.created_ms", aggregate_range(range));
    let sql = format!(
        "SELECT {DAY} AS d, r.served_model, r.app, count(*), SUM(r.input_tokens)::int8, \
           SUM(r.output_tokens)::int8, SUM(r.reasoning_tokens)::int8, SUM(r.cost_pusd)::int8 \
         FROM requests r WHERE {} GROUP BY d, r.served_model, r.app \
         ORDER BY d ASC, r.served_model COLLATE \"C\" ASC, r.app COLLATE \"C\" ASC",
        w.sql()
    );
    Ok(query(pool, &sql, &w.args)
        .await?
        .iter()
        .map(|row| ActivityRow {
            date: row.get(0),
            model: row.get(1),
            app: row.get(2),
            requests: row.get(3),
            prompt_tokens: row.get(4),
            completion_tokens: row.get(5),
            reasoning_tokens: row.get(6),
            usage_pusd: row.get(7),
        })
        .collect())
}

/// What a key spent since each of `since` (`None` = ever), one scan of its rows.
pub(super) async fn key_spend(
    pool: &Pool,
    hash: String,
    since: Vec<Option<i64>>,
) -> Result<Vec<i64>> {
    let mut w = Where::default();
    let key = w.bind(hash);
    let sums: Vec<String> = since
        .iter()
        .map(|&s| {
            match aggregate_range(TimeRange {
                since_ms: s,
                until_ms: None,
            })
            .since_ms
            {
                Some(s) => {
                    let p = w.bind(s);
                    format!("COALESCE(SUM(cost_pusd) FILTER (WHERE created_ms >= {p}), 0)::int8")
                }
                None => "COALESCE(SUM(cost_pusd), 0)::int8".to_string(),
            }
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM requests WHERE key_hash = {key}",
        sums.join(", ")
    );
    let row = query(pool, &sql, &w.args).await?;
    Ok((0..since.len()).map(|i| row[0].get(i)).collect())
}

fn request_where(f: &RequestFilter) -> Where {
    let mut w = Where::default();
    w.range("r.created_ms", f.range);
    if let Some(app) = &f.app {
        let p = w.bind(app.clone());
        w.push(format!("r.app = {p}"));
    }
    if let Some(m) = &f.model {
        let p = w.bind(m.clone());
        w.push(format!("(r.served_model = {p} OR r.requested_model = {p})"));
    }
    if let Some(p) = &f.provider {
        let p = w.bind(p.clone());
        w.push(format!("r.provider = {p}"));
    }
    match f.ok {
        Some(true) => w.push(format!("NOT {FAILED}")),
        Some(false) => w.push(FAILED.to_string()),
        None => {}
    }
    if let Some(s) = f.streamed {
        let p = w.bind(s);
        w.push(format!("r.streamed = {p}"));
    }
    w
}

const LOG_SELECT: &str = "SELECT r.*, NULL::text AS request_body, NULL::text AS response_body, \
    k.name AS key_name FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash";

fn logged(row: &Row) -> LoggedRequest {
    LoggedRequest {
        record: record_from_row(row),
        key_name: row.get("key_name"),
    }
}

/// The request log, newest first, and how many rows match in all.
pub(super) async fn list_requests(
    pool: &Pool,
    f: RequestFilter,
) -> Result<(Vec<LoggedRequest>, i64)> {
    let mut w = request_where(&f);
    let total: i64 = query(
        pool,
        &format!("SELECT count(*) FROM requests r WHERE {}", w.sql()),
        &w.args,
    )
    .await?[0]
        .get(0);
    let filter = w.sql();
    let (limit, offset) = (w.bind(f.limit), w.bind(f.offset));
    let sql = format!(
        "{LOG_SELECT} WHERE {filter} ORDER BY r.created_ms DESC, r.id COLLATE \"C\" DESC \
         LIMIT {limit} OFFSET {offset}"
    );
    let rows = query(pool, &sql, &w.args).await?;
    Ok((rows.iter().map(logged).collect(), total))
}

/// A request with its bodies, and its failed attempts (`<id>-attempt<N>`) oldest first. An
/// attempt's row is a copy of its request's record (`record::Recorder::failed_attempt`), so
/// it has the request's `created_ms`: the lookup goes through `requests_created` instead of a
/// prefix scan of the whole table, for the same rows SQLite's id range finds.
pub(super) async fn request_detail(
    pool: &Pool,
    id: String,
) -> Result<Option<(LoggedRequest, Vec<LoggedRequest>)>> {
    let c = pool.get().await?;
    let Some(main) = c
        .query_opt(
            "SELECT r.*, b.request AS request_body, b.response AS response_body, \
             k.name AS key_name FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash \
             LEFT JOIN request_bodies b ON b.id = r.id WHERE r.id = $1",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let main = logged(&main);
    let prefix = format!("{id}-attempt");
    let attempts = c
        .query(
            &format!(
                "{LOG_SELECT} WHERE r.created_ms = $1 AND starts_with(r.id, $2) \
                 ORDER BY r.attempt, r.created_ms, r.id COLLATE \"C\""
            ),
            &[&main.record.created_ms, &prefix],
        )
        .await?;
    Ok(Some((main, attempts.iter().map(logged).collect())))
}

/// Up to `limit` requests of the window after `after` (`created_ms`, `id`), oldest first.
pub(super) async fn export_requests_page(
    pool: &Pool,
    range: TimeRange,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<LoggedRequest>> {
    let mut w = Where::default();
    w.range("r.created_ms", range);
    if let Some((ms, id)) = after {
        let (ms, id) = (w.bind(ms), w.bind(id));
        w.push(format!(
            "(r.created_ms > {ms} OR (r.created_ms = {ms} AND r.id COLLATE \"C\" > {id}))"
        ));
    }
    let filter = w.sql();
    let limit = w.bind(limit);
    let sql = format!(
        "{LOG_SELECT} WHERE {filter} ORDER BY r.created_ms, r.id COLLATE \"C\" LIMIT {limit}"
    );
    Ok(query(pool, &sql, &w.args)
        .await?
        .iter()
        .map(logged)
        .collect())
}

/// Credits and charges merged newest first, and how many match in all.
pub(super) async fn transactions(
    pool: &Pool,
    f: TransactionFilter,
) -> Result<(Vec<Transaction>, i64)> {
    let mut w = Where::default();
    let mut credits = Vec::new();
    if let Some(s) = f.range.since_ms {
        credits.push(format!("c.created_ms >= {}", w.bind(s)));
    }
    if let Some(u) = f.range.until_ms {
        credits.push(format!("c.created_ms < {}", w.bind(u)));
    }
    if f.key.is_some() || f.app.is_some() {
        credits.push("FALSE".to_string());
    }
    let mut charges = vec!["r.cost_pusd != 0".to_string()];
    if let Some(s) = f.range.since_ms {
        charges.push(format!("r.created_ms >= {}", w.bind(s)));
    }
    if let Some(u) = f.range.until_ms {
        charges.push(format!("r.created_ms < {}", w.bind(u)));
    }
    if let Some(key) = &f.key {
        let p = w.bind(key.clone());
        charges.push(format!("(r.key_hash = {p} OR k.name = {p})"));
    }
    if let Some(app) = &f.app {
        charges.push(format!("r.app = {}", w.bind(app.clone())));
    }
    let credits = if credits.is_empty() {
        "TRUE".to_string()
    } else {
        credits.join(" AND ")
    };
    let from_credits = format!("FROM credits c WHERE {credits}");
    let from_charges = format!(
        "FROM requests r LEFT JOIN keys k ON k.hash = r.key_hash WHERE {}",
        charges.join(" AND ")
    );
    let total: i64 = query(
        pool,
        &format!("SELECT (SELECT count(*) {from_credits}) + (SELECT count(*) {from_charges})"),
        &w.args,
    )
    .await?[0]
        .get(0);
    let (limit, offset) = (w.bind(f.limit), w.bind(f.offset));
    let sql = format!(
        "SELECT * FROM (\
           SELECT 'credit-' || c.id AS id, TRUE AS is_credit, c.amount_pusd AS amount, \
             c.created_ms AS t, c.note AS note, NULL::text AS model, NULL::text AS app, \
             NULL::text AS key_name {from_credits} \
           UNION ALL \
           SELECT r.id, FALSE, -r.cost_pusd, r.created_ms, NULL, r.served_model, r.app, k.name \
             {from_charges}) u \
         ORDER BY u.t DESC, u.id COLLATE \"C\" DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = query(pool, &sql, &w.args).await?;
    Ok((
        rows.iter()
            .map(|row| Transaction {
                id: row.get(0),
                is_credit: row.get(1),
                amount_pusd: row.get(2),
                created_ms: row.get(3),
                note: row.get(4),
                model: row.get(5),
                app: row.get(6),
                key_name: row.get(7),
            })
            .collect(),
        total,
    ))
}
