//! Message Batches on PostgreSQL, with the SQLite store's semantics plus leases: several
//! servers share the database, so each waiting request is claimed by one of them
//! (`owner`, `lease_ms`; `FOR UPDATE SKIP LOCKED`) before it runs. A live server renews its
//! leases every [`RENEW_EVERY`]; a crashed one's lapse after [`LEASE_MS`] and another server
//! picks its requests up. Lease times are on the database's clock.

use super::PgStore;
use crate::batches::{
    BatchRow, Cursor, Forward, NewBatch, PendingRequest, RequestCounts, RequestResult, CANCELED,
    EXPIRED,
};
use crate::BatchStore;
use anyhow::Result;
use arouter_core::store::{generate_key, hash_key};
use deadpool_postgres::Pool;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::Row;

/// How long a claimed request stays with its server without a renewal.
const LEASE_MS: i64 = 60_000;
/// How often a server renews the leases it holds (six chances per [`LEASE_MS`]).
const RENEW_EVERY: Duration = Duration::from_secs(10);

const BATCH_COLUMNS: &str = "id, key_hash, app, headers, status, created_ms, expires_ms, \
    ended_ms, cancel_ms, archived_ms, provider, upstream_id, snapshot, results_recorded";

/// A name for this store instance's leases, unique across servers and restarts.
pub(super) fn owner_id() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        &hash_key(&generate_key())[..16]
    )
}

/// Keeps this instance's live leases live. Runs until the store's runtime stops, so a crashed
/// or stopped server's leases lapse. An expired lease is never renewed: another server may
/// hold the request by then.
pub(super) async fn renew_leases(pool: Pool, owner: String) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let renewed = async {
            pool.get()
                .await?
                .execute(
                    "UPDATE batch_requests SET lease_ms = arouter_now_ms() + $2 \
                     WHERE owner = $1 AND status = 'processing' AND lease_ms > arouter_now_ms()",
                    &[&owner, &LEASE_MS],
                )
                .await?;
            anyhow::Ok(())
        };
        if let Err(e) = renewed.await {
            tracing::warn!(error = %e, "cannot renew batch request leases");
        }
    }
}

/// Gives back this instance's leases (at shutdown, after the batch worker stopped), so other
/// servers run those requests without waiting for the leases to lapse.
pub(super) async fn release_leases(pool: &Pool, owner: &str) -> Result<u64> {
    Ok(pool
        .get()
        .await?
        .execute(
            "UPDATE batch_requests SET owner = NULL, lease_ms = NULL \
             WHERE owner = $1 AND status = 'processing'",
            &[&owner],
        )
        .await?)
}

fn json_text(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn batch_from_row(r: &Row) -> BatchRow {
    let provider: Option<String> = r.get(10);
    let upstream_id: Option<String> = r.get(11);
    BatchRow {
        id: r.get(0),
        key_hash: r.get(1),
        app: r.get(2),
        headers: json_text(r.get(3)).unwrap_or_else(|| Value::Object(Default::default())),
        status: r.get(4),
        created_ms: r.get(5),
        expires_ms: r.get(6),
        ended_ms: r.get(7),
        cancel_ms: r.get(8),
        archived_ms: r.get(9),
        forward: provider
            .zip(upstream_id)
            .map(|(provider, upstream_id)| Forward {
                provider,
                upstream_id,
            }),
        snapshot: json_text(r.get(12)),
        results_recorded: r.get::<_, i64>(13) != 0,
        counts: RequestCounts::default(),
    }
}

/// Request counts per state of each batch in `ids`.
async fn counts(
    c: &deadpool_postgres::Client,
    ids: &[String],
) -> Result<HashMap<String, RequestCounts>> {
    let rows = c
        .query(
            "SELECT batch_id, status, count(*) FROM batch_requests \
             WHERE batch_id = ANY($1) GROUP BY batch_id, status",
            &[&ids],
        )
        .await?;
    let mut out: HashMap<String, RequestCounts> = HashMap::new();
    for row in rows {
        let (id, status): (String, String) = (row.get(0), row.get(1));
        let n = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
        out.entry(id.clone()).or_default().set(&id, &status, n);
    }
    Ok(out)
}

async fn with_counts(
    c: &deadpool_postgres::Client,
    mut rows: Vec<BatchRow>,
) -> Result<Vec<BatchRow>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut all = counts(c, &ids).await?;
    for row in &mut rows {
        row.counts = all.remove(&row.id).unwrap_or_default();
    }
    Ok(rows)
}

async fn insert_batch(pool: &Pool, b: NewBatch) -> Result<()> {
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    tx.execute(
        "INSERT INTO batches (id, key_hash, app, headers, status, created_ms, expires_ms, \
         provider, upstream_id, snapshot) \
         VALUES ($1, $2, $3, $4, 'in_progress', $5, $6, $7, $8, $9)",
        &[
            &b.id,
            &b.key_hash,
            &b.app,
            &b.headers.to_string(),
            &b.created_ms,
            &b.expires_ms,
            &b.forward.as_ref().map(|f| f.provider.as_str()),
            &b.forward.as_ref().map(|f| f.upstream_id.as_str()),
            &b.snapshot.as_ref().map(Value::to_string),
        ],
    )
    .await?;
    if !b.requests.is_empty() {
        let idx: Vec<i64> = (0..b.requests.len() as i64).collect();
        let custom: Vec<&str> = b.requests.iter().map(|(c, _)| c.as_str()).collect();
        let params: Vec<String> = b.requests.iter().map(|(_, p)| p.to_string()).collect();
        // One statement for the whole batch (up to 100,000 requests), not a round trip each.
        tx.execute(
            "INSERT INTO batch_requests (batch_id, idx, custom_id, params, status) \
             SELECT $1, i, c, p, 'processing' FROM unnest($2::int8[], $3::text[], $4::text[]) \
             AS t(i, c, p)",
            &[&b.id, &idx, &custom, &params],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn list(
    pool: &Pool,
    key_hash: Option<String>,
    limit: usize,
    cursor: Cursor,
) -> Result<(Vec<BatchRow>, bool)> {
    let c = pool.get().await?;
    let seq_of = |id: String| {
        let c = &c;
        async move {
            anyhow::Ok(
                c.query_opt("SELECT seq FROM batches WHERE id = $1", &[&id])
                    .await?
                    .map(|r| r.get::<_, i64>(0)),
            )
        }
    };
    let (bound, newer) = match cursor {
        Cursor::First => (None, false),
        Cursor::After(id) => (Some(seq_of(id).await?.unwrap_or(i64::MIN)), false),
        Cursor::Before(id) => (Some(seq_of(id).await?.unwrap_or(i64::MAX)), true),
    };
    let (cmp, order) = if newer { (">", "ASC") } else { ("<", "DESC") };
    let sql = format!(
        "SELECT {BATCH_COLUMNS} FROM batches WHERE ($1::text IS NULL OR key_hash = $1) \
         AND ($2::int8 IS NULL OR seq {cmp} $2) ORDER BY seq {order} LIMIT $3"
    );
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let mut rows: Vec<BatchRow> = c
        .query(&sql, &[&key_hash, &bound, &fetch])
        .await?
        .iter()
        .map(batch_from_row)
        .collect();
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    if newer {
        rows.reverse();
    }
    Ok((with_counts(&c, rows).await?, has_more))
}

/// Runnable: a waiting request of a batch run here that is in progress.
const RUNNABLE: &str = "b.status = 'in_progress' AND b.provider IS NULL \
    AND r.status = 'processing'";

/// The requests this instance holds (live leases) topped up with newly claimed ones, up to
/// `limit`, oldest batch first. Held ones come back every call: the worker skips those it is
/// running, and runs those it is not (a task that failed), as it does on SQLite.
async fn pending(pool: &Pool, owner: String, limit: usize) -> Result<Vec<PendingRequest>> {
    let c = pool.get().await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let held: i64 = c
        .query_one(
            &format!(
                "SELECT count(*) FROM batch_requests r JOIN batches b ON b.id = r.batch_id \
                 WHERE {RUNNABLE} AND r.owner = $1 AND r.lease_ms > arouter_now_ms()"
            ),
            &[&owner],
        )
        .await?
        .get(0);
    if held < limit {
        c.execute(
            &format!(
                "UPDATE batch_requests t SET owner = $1, lease_ms = arouter_now_ms() + $2 \
                 FROM (SELECT r.batch_id, r.idx FROM batch_requests r \
                   JOIN batches b ON b.id = r.batch_id \
                   WHERE {RUNNABLE} AND (r.owner IS NULL OR r.lease_ms IS NULL \
                     OR r.lease_ms <= arouter_now_ms()) \
                   ORDER BY b.seq, r.idx LIMIT $3 FOR UPDATE OF r SKIP LOCKED) claim \
                 WHERE t.batch_id = claim.batch_id AND t.idx = claim.idx"
            ),
            &[&owner, &LEASE_MS, &(limit - held)],
        )
        .await?;
    }
    let rows = c
        .query(
            &format!(
                "SELECT r.batch_id, r.idx, r.params, b.key_hash, b.app, b.headers \
                 FROM batch_requests r JOIN batches b ON b.id = r.batch_id \
                 WHERE {RUNNABLE} AND r.owner = $1 AND r.lease_ms > arouter_now_ms() \
                 ORDER BY b.seq, r.idx LIMIT $2"
            ),
            &[&owner, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| PendingRequest {
            batch_id: r.get(0),
            idx: r.get(1),
            params: json_text(r.get(2)).unwrap_or(Value::Null),
            key_hash: r.get(3),
            app: r.get(4),
            headers: json_text(r.get(5)).unwrap_or_else(|| Value::Object(Default::default())),
        })
        .collect())
}

impl PgStore {
    /// Runs one statement and returns how many rows it changed.
    fn change(
        &self,
        sql: &'static str,
        args: Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>,
    ) -> Result<u64> {
        let pool = self.pool.clone();
        self.run(async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                args.iter().map(|a| a.as_ref() as _).collect();
            Ok(pool.get().await?.execute(sql, &refs).await?)
        })
    }
}

impl BatchStore for PgStore {
    fn create_batch(&self, batch: &NewBatch) -> Result<()> {
        let (pool, batch) = (self.pool.clone(), batch.clone());
        self.run(async move { insert_batch(&pool, batch).await })
    }

    fn get_batch(&self, id: &str) -> Result<Option<BatchRow>> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move {
            let c = pool.get().await?;
            let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1");
            let Some(row) = c.query_opt(&sql, &[&id]).await? else {
                return Ok(None);
            };
            Ok(with_counts(&c, vec![batch_from_row(&row)]).await?.pop())
        })
    }

    fn list_batches(
        &self,
        key_hash: Option<&str>,
        limit: usize,
        cursor: &Cursor,
    ) -> Result<(Vec<BatchRow>, bool)> {
        let (pool, key_hash, cursor) = (
            self.pool.clone(),
            key_hash.map(str::to_string),
            cursor.clone(),
        );
        self.run(async move { list(&pool, key_hash, limit, cursor).await })
    }

    fn pending_requests(&self, limit: usize) -> Result<Vec<PendingRequest>> {
        let (pool, owner) = (self.pool.clone(), self.owner.clone());
        self.run(async move { pending(&pool, owner, limit).await })
    }

    fn finish_request(
        &self,
        batch_id: &str,
        idx: i64,
        status: &str,
        result: &Value,
    ) -> Result<bool> {
        let n = self.change(
            "UPDATE batch_requests SET status = $3, result = $4, owner = NULL, lease_ms = NULL \
             WHERE batch_id = $1 AND idx = $2 AND status = 'processing'",
            vec![
                Box::new(batch_id.to_string()),
                Box::new(idx),
                Box::new(status.to_string()),
                Box::new(result.to_string()),
            ],
        )?;
        Ok(n == 1)
    }

    fn end_batch_if_done(&self, id: &str, now_ms: i64) -> Result<bool> {
        let n = self.change(
            "UPDATE batches SET status = 'ended', ended_ms = $2 \
             WHERE id = $1 AND status != 'ended' AND provider IS NULL AND NOT EXISTS \
             (SELECT 1 FROM batch_requests WHERE batch_id = $1 AND status = 'processing')",
            vec![Box::new(id.to_string()), Box::new(now_ms)],
        )?;
        Ok(n == 1)
    }

    fn cancel_batch(&self, id: &str, now_ms: i64) -> Result<bool> {
        let n = self.change(
            "UPDATE batches SET status = 'canceling', cancel_ms = $2 \
             WHERE id = $1 AND status = 'in_progress'",
            vec![Box::new(id.to_string()), Box::new(now_ms)],
        )?;
        Ok(n == 1)
    }

    fn batches_to_settle(&self, now_ms: i64) -> Result<Vec<(String, &'static str)>> {
        let pool = self.pool.clone();
        self.run(async move {
            let rows = pool
                .get()
                .await?
                .query(
                    "SELECT id, expires_ms FROM batches \
                     WHERE provider IS NULL AND status != 'ended' \
                     AND (status = 'canceling' OR expires_ms <= $1) ORDER BY seq",
                    &[&now_ms],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let expires: i64 = r.get(1);
                    let state = if expires <= now_ms { EXPIRED } else { CANCELED };
                    (r.get::<_, String>(0), state)
                })
                .collect())
        })
    }

    fn settle_requests(&self, batch_id: &str, status: &str, running: &[i64]) -> Result<usize> {
        // Not this server's running ones, nor any another server holds a live lease on (it
        // is running them, and stores their results when they finish).
        let n = self.change(
            "UPDATE batch_requests SET status = $2, owner = NULL, lease_ms = NULL \
             WHERE batch_id = $1 AND status = 'processing' AND NOT (idx = ANY($3)) \
             AND (owner IS NULL OR owner = $4 OR lease_ms IS NULL \
               OR lease_ms <= arouter_now_ms())",
            vec![
                Box::new(batch_id.to_string()),
                Box::new(status.to_string()),
                Box::new(running.to_vec()),
                Box::new(self.owner.clone()),
            ],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn batch_results(&self, id: &str) -> Result<Vec<RequestResult>> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move {
            let rows = pool
                .get()
                .await?
                .query(
                    "SELECT custom_id, status, result FROM batch_requests \
                     WHERE batch_id = $1 ORDER BY idx",
                    &[&id],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| RequestResult {
                    custom_id: r.get(0),
                    status: r.get(1),
                    result: json_text(r.get(2)),
                })
                .collect())
        })
    }

    fn set_batch_snapshot(&self, id: &str, snapshot: &Value) -> Result<()> {
        self.change(
            "UPDATE batches SET snapshot = $2 WHERE id = $1",
            vec![Box::new(id.to_string()), Box::new(snapshot.to_string())],
        )?;
        Ok(())
    }

    fn claim_results_recording(&self, id: &str) -> Result<bool> {
        let n = self.change(
            "UPDATE batches SET results_recorded = 1 WHERE id = $1 AND results_recorded = 0",
            vec![Box::new(id.to_string())],
        )?;
        Ok(n == 1)
    }

    fn release_results_recording(&self, id: &str) -> Result<()> {
        self.change(
            "UPDATE batches SET results_recorded = 0 WHERE id = $1",
            vec![Box::new(id.to_string())],
        )?;
        Ok(())
    }

    fn delete_batch(&self, id: &str) -> Result<bool> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            tx.execute("DELETE FROM batch_requests WHERE batch_id = $1", &[&id])
                .await?;
            let n = tx
                .execute("DELETE FROM batches WHERE id = $1", &[&id])
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }
}
