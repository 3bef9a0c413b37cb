//! Message Batches persistence: batches (run here or forwarded upstream), their requests and
//! results, cancellation and expiry bookkeeping, and cursor pagination for listings.

use crate::{BatchStore, SqliteStore};
use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde_json::Value;

/// Batch processing states, as Anthropic names them.
pub const IN_PROGRESS: &str = "in_progress";
pub const CANCELING: &str = "canceling";
pub const ENDED: &str = "ended";

/// Request states; `processing` until it has a result.
pub const PROCESSING: &str = "processing";
pub const SUCCEEDED: &str = "succeeded";
pub const ERRORED: &str = "errored";
pub const CANCELED: &str = "canceled";
pub const EXPIRED: &str = "expired";

/// Where a forwarded batch lives upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub provider: String,
    pub upstream_id: String,
}

/// A batch to create. `requests` are (custom_id, params) and stay empty for forwarded batches.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub id: String,
    pub key_hash: String,
    pub app: String,
    /// Client headers replayed on every request (`anthropic-version`, `anthropic-beta`).
    pub headers: Value,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub forward: Option<Forward>,
    /// The upstream batch object, for forwarded batches.
    pub snapshot: Option<Value>,
    pub requests: Vec<(String, Value)>,
}

/// How many requests of a batch are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub processing: u64,
    pub succeeded: u64,
    pub errored: u64,
    pub canceled: u64,
    pub expired: u64,
}

impl RequestCounts {
    /// Sets the count of one stored request state; an unknown state is logged and ignored.
    pub(crate) fn set(&mut self, batch: &str, status: &str, n: u64) {
        match status {
            PROCESSING => self.processing = n,
            SUCCEEDED => self.succeeded = n,
            ERRORED => self.errored = n,
            CANCELED => self.canceled = n,
            EXPIRED => self.expired = n,
            other => tracing::warn!(batch, status = other, "unknown batch request state"),
        }
    }
}

/// A stored batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    pub id: String,
    pub key_hash: String,
    pub app: String,
    pub headers: Value,
    pub status: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub ended_ms: Option<i64>,
    pub cancel_ms: Option<i64>,
    pub archived_ms: Option<i64>,
    pub forward: Option<Forward>,
    pub snapshot: Option<Value>,
    pub results_recorded: bool,
    /// Always zero for forwarded batches (upstream keeps their counts).
    pub counts: RequestCounts,
}

/// A request the worker may run.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRequest {
    pub batch_id: String,
    pub idx: i64,
    pub params: Value,
    pub key_hash: String,
    pub app: String,
    pub headers: Value,
}

/// One request's outcome, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestResult {
    pub custom_id: String,
    pub status: String,
    pub result: Option<Value>,
}

/// Which page of a listing (newest first): the first, the one after `id`, or the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    First,
    After(String),
    Before(String),
}

const BATCH_COLUMNS: &str = "id, key_hash, app, headers, status, created_ms, expires_ms, \
    ended_ms, cancel_ms, archived_ms, provider, upstream_id, snapshot, results_recorded, seq";

impl BatchStore for SqliteStore {
    fn create_batch(&self, batch: &NewBatch) -> Result<()> {
        self.conns.with(|c| insert_batch(c, batch))
    }

    fn get_batch(&self, id: &str) -> Result<Option<BatchRow>> {
        self.conns.with(|c| load_batch(c, id))
    }

    fn list_batches(
        &self,
        key_hash: Option<&str>,
        limit: usize,
        cursor: &Cursor,
    ) -> Result<(Vec<BatchRow>, bool)> {
        self.conns.with(|c| list(c, key_hash, limit, cursor))
    }

    fn pending_requests(&self, limit: usize) -> Result<Vec<PendingRequest>> {
        self.conns.with(|c| pending(c, limit))
    }

    fn finish_request(
        &self,
        batch_id: &str,
        idx: i64,
        status: &str,
        result: &Value,
    ) -> Result<bool> {
        self.conns.with(|c| {
            let n = c.execute(
                "UPDATE batch_requests SET status = ?3, result = ?4 \
                 WHERE batch_id = ?1 AND idx = ?2 AND status = 'processing'",
                params![batch_id, idx, status, result.to_string()],
            )?;
            Ok(n == 1)
        })
    }

    fn end_batch_if_done(&self, id: &str, now_ms: i64) -> Result<bool> {
        self.conns.with(|c| {
            let n = c.execute(
                "UPDATE batches SET status = 'ended', ended_ms = ?2 \
                 WHERE id = ?1 AND status != 'ended' AND provider IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM batch_requests WHERE batch_id = ?1 AND status = 'processing')",
                params![id, now_ms],
            )?;
            Ok(n == 1)
        })
    }

    fn cancel_batch(&self, id: &str, now_ms: i64) -> Result<bool> {
        self.conns.with(|c| {
            let n = c.execute(
                "UPDATE batches SET status = 'canceling', cancel_ms = ?2 \
                 WHERE id = ?1 AND status = 'in_progress'",
                params![id, now_ms],
            )?;
            Ok(n == 1)
        })
    }

    fn batches_to_settle(&self, now_ms: i64) -> Result<Vec<(String, &'static str)>> {
        self.conns.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, expires_ms FROM batches \
                 WHERE provider IS NULL AND status != 'ended' \
                 AND (status = 'canceling' OR expires_ms <= ?1) ORDER BY seq",
            )?;
            let rows = stmt.query_map([now_ms], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, expires) = row?;
                out.push((id, if expires <= now_ms { EXPIRED } else { CANCELED }));
            }
            Ok(out)
        })
    }

    fn settle_requests(&self, batch_id: &str, status: &str, running: &[i64]) -> Result<usize> {
        self.conns.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let waiting: Vec<i64> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT idx FROM batch_requests WHERE batch_id = ?1 AND status = 'processing'",
                )?;
                let rows = stmt.query_map([batch_id], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut changed = 0;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE batch_requests SET status = ?3 WHERE batch_id = ?1 AND idx = ?2",
                )?;
                for idx in waiting.iter().filter(|i| !running.contains(i)) {
                    changed += update.execute(params![batch_id, idx, status])?;
                }
            }
            tx.commit()?;
            Ok(changed)
        })
    }

    fn batch_results(&self, id: &str) -> Result<Vec<RequestResult>> {
        self.conns.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT custom_id, status, result FROM batch_requests \
                 WHERE batch_id = ?1 ORDER BY idx",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(RequestResult {
                    custom_id: r.get(0)?,
                    status: r.get(1)?,
                    result: json_column(r, 2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_batch_snapshot(&self, id: &str, snapshot: &Value) -> Result<()> {
        self.conns.with(|c| {
            c.execute(
                "UPDATE batches SET snapshot = ?2 WHERE id = ?1",
                params![id, snapshot.to_string()],
            )?;
            Ok(())
        })
    }

    fn claim_results_recording(&self, id: &str) -> Result<bool> {
        self.conns.with(|c| {
            let n = c.execute(
                "UPDATE batches SET results_recorded = 1 WHERE id = ?1 AND results_recorded = 0",
                [id],
            )?;
            Ok(n == 1)
        })
    }

    fn release_results_recording(&self, id: &str) -> Result<()> {
        self.conns.with(|c| {
            c.execute(
                "UPDATE batches SET results_recorded = 0 WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
    }

    fn delete_batch(&self, id: &str) -> Result<bool> {
        self.conns.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM batch_requests WHERE batch_id = ?1", [id])?;
            let n = tx.execute("DELETE FROM batches WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(n == 1)
        })
    }
}

fn insert_batch(c: &mut Connection, b: &NewBatch) -> Result<()> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO batches (id, key_hash, app, headers, status, created_ms, expires_ms, \
         provider, upstream_id, snapshot) VALUES (?1, ?2, ?3, ?4, 'in_progress', ?5, ?6, ?7, ?8, ?9)",
        params![
            b.id,
            b.key_hash,
            b.app,
            b.headers.to_string(),
            b.created_ms,
            b.expires_ms,
            b.forward.as_ref().map(|f| f.provider.as_str()),
            b.forward.as_ref().map(|f| f.upstream_id.as_str()),
            b.snapshot.as_ref().map(Value::to_string),
        ],
    )?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO batch_requests (batch_id, idx, custom_id, params, status) \
             VALUES (?1, ?2, ?3, ?4, 'processing')",
        )?;
        for (idx, (custom_id, params)) in b.requests.iter().enumerate() {
            stmt.execute(params![b.id, idx as i64, custom_id, params.to_string()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn json_column(r: &Row, i: usize) -> rusqlite::Result<Option<Value>> {
    let text: Option<String> = r.get(i)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

fn batch_from_row(r: &Row) -> rusqlite::Result<(BatchRow, i64)> {
    let provider: Option<String> = r.get(10)?;
    let upstream_id: Option<String> = r.get(11)?;
    let forward = provider
        .zip(upstream_id)
        .map(|(provider, upstream_id)| Forward {
            provider,
            upstream_id,
        });
    let row = BatchRow {
        id: r.get(0)?,
        key_hash: r.get(1)?,
        app: r.get(2)?,
        headers: json_column(r, 3)?.unwrap_or_else(|| Value::Object(Default::default())),
        status: r.get(4)?,
        created_ms: r.get(5)?,
        expires_ms: r.get(6)?,
        ended_ms: r.get(7)?,
        cancel_ms: r.get(8)?,
        archived_ms: r.get(9)?,
        forward,
        snapshot: json_column(r, 12)?,
        results_recorded: r.get(13)?,
        counts: RequestCounts::default(),
    };
    Ok((row, r.get(14)?))
}

fn load_batch(c: &mut Connection, id: &str) -> Result<Option<BatchRow>> {
    let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?1");
    let found = c
        .query_row(&sql, [id], batch_from_row)
        .optional()?
        .map(|(row, _)| row);
    match found {
        Some(mut row) => {
            row.counts = counts(c, id)?;
            Ok(Some(row))
        }
        None => Ok(None),
    }
}

fn counts(c: &Connection, id: &str) -> Result<RequestCounts> {
    let mut stmt = c.prepare_cached(
        "SELECT status, COUNT(*) FROM batch_requests WHERE batch_id = ?1 GROUP BY status",
    )?;
    let rows = stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = RequestCounts::default();
    for row in rows {
        let (status, n) = row?;
        out.set(id, &status, u64::try_from(n).unwrap_or(0));
    }
    Ok(out)
}

fn seq_of(c: &Connection, id: &str) -> Result<Option<i64>> {
    Ok(
        c.query_row("SELECT seq FROM batches WHERE id = ?1", [id], |r| r.get(0))
            .optional()?,
    )
}

fn list(
    c: &mut Connection,
    key_hash: Option<&str>,
    limit: usize,
    cursor: &Cursor,
) -> Result<(Vec<BatchRow>, bool)> {
    let (bound, newer) = match cursor {
        Cursor::First => (None, false),
        Cursor::After(id) => (Some(seq_of(c, id)?.unwrap_or(i64::MIN)), false),
        Cursor::Before(id) => (Some(seq_of(c, id)?.unwrap_or(i64::MAX)), true),
    };
    let (cmp, order) = if newer { (">", "ASC") } else { ("<", "DESC") };
    let sql = format!(
        "SELECT {BATCH_COLUMNS} FROM batches WHERE (?1 IS NULL OR key_hash = ?1) \
         AND (?2 IS NULL OR seq {cmp} ?2) ORDER BY seq {order} LIMIT ?3"
    );
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let mut rows: Vec<BatchRow> = {
        let mut stmt = c.prepare(&sql)?;
        let mapped = stmt.query_map(params![key_hash, bound, fetch], batch_from_row)?;
        mapped
            .map(|r| r.map(|(row, _)| row))
            .collect::<rusqlite::Result<_>>()?
    };
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    if newer {
        rows.reverse();
    }
    for row in &mut rows {
        row.counts = counts(c, &row.id)?;
    }
    Ok((rows, has_more))
}

fn pending(c: &mut Connection, limit: usize) -> Result<Vec<PendingRequest>> {
    let mut stmt = c.prepare_cached(
        "SELECT r.batch_id, r.idx, r.params, b.key_hash, b.app, b.headers \
         FROM batch_requests r JOIN batches b ON b.id = r.batch_id \
         WHERE b.status = 'in_progress' AND b.provider IS NULL AND r.status = 'processing' \
         ORDER BY b.seq, r.idx LIMIT ?1",
    )?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok(PendingRequest {
            batch_id: r.get(0)?,
            idx: r.get(1)?,
            params: json_column(r, 2)?.unwrap_or(Value::Null),
            key_hash: r.get(3)?,
            app: r.get(4)?,
            headers: json_column(r, 5)?.unwrap_or_else(|| Value::Object(Default::default())),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, std::sync::Arc<SqliteStore>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("t.db")).expect("open");
        (dir, store)
    }

    fn batch(id: &str, key: &str, n: usize) -> NewBatch {
        NewBatch {
            id: id.into(),
            key_hash: key.into(),
            app: "app".into(),
            headers: json!({"anthropic-version": "2023-06-01"}),
            created_ms: 1,
            expires_ms: i64::MAX,
            forward: None,
            snapshot: None,
            requests: (0..n)
                .map(|i| (format!("r{i}"), json!({"max_tokens": i})))
                .collect(),
        }
    }

    #[test]
    fn requests_run_settle_and_end_the_batch() -> Result<()> {
        let (_dir, s) = store();
        s.create_batch(&batch("b1", "k", 3))?;
        let pending = s.pending_requests(10)?;
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[2].params, json!({"max_tokens": 2}));
        assert!(s.finish_request("b1", 0, SUCCEEDED, &json!({"type": "succeeded"}))?);
        assert!(!s.end_batch_if_done("b1", 5)?);
        assert!(s.cancel_batch("b1", 6)?);
        assert!(
            !s.cancel_batch("b1", 7)?,
            "only an in-progress batch cancels"
        );
        assert!(
            s.pending_requests(10)?.is_empty(),
            "canceling batches run nothing new"
        );
        assert_eq!(s.batches_to_settle(8)?, vec![("b1".to_string(), CANCELED)]);
        assert_eq!(s.settle_requests("b1", CANCELED, &[1])?, 1);
        assert!(s.finish_request("b1", 1, ERRORED, &json!({"type": "errored"}))?);
        assert!(s.end_batch_if_done("b1", 9)?);
        let row = s.get_batch("b1")?.expect("batch");
        assert_eq!(row.status, ENDED);
        assert_eq!((row.ended_ms, row.cancel_ms), (Some(9), Some(6)));
        assert_eq!(
            row.counts,
            RequestCounts {
                succeeded: 1,
                errored: 1,
                canceled: 1,
                ..Default::default()
            }
        );
        let results = s.batch_results("b1")?;
        let ids: Vec<_> = results.iter().map(|r| r.custom_id.as_str()).collect();
        assert_eq!(ids, ["r0", "r1", "r2"]);
        assert_eq!(results[2].result, None);
        assert!(s.delete_batch("b1")?);
        assert!(s.get_batch("b1")?.is_none());
        Ok(())
    }

    #[test]
    fn listing_pages_newest_first_in_both_directions() -> Result<()> {
        let (_dir, s) = store();
        for i in 0..5 {
            s.create_batch(&batch(&format!("b{i}"), "k", 1))?;
        }
        s.create_batch(&batch("other", "k2", 1))?;
        let ids = |rows: &[BatchRow]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        let (first, more) = s.list_batches(Some("k"), 2, &Cursor::First)?;
        assert_eq!(
            (ids(&first), more),
            (vec!["b4".to_string(), "b3".into()], true)
        );
        let (next, more) = s.list_batches(Some("k"), 2, &Cursor::After("b3".into()))?;
        assert_eq!(
            (ids(&next), more),
            (vec!["b2".to_string(), "b1".into()], true)
        );
        let (last, more) = s.list_batches(Some("k"), 2, &Cursor::After("b1".into()))?;
        assert_eq!((ids(&last), more), (vec!["b0".to_string()], false));
        let (back, more) = s.list_batches(Some("k"), 2, &Cursor::Before("b1".into()))?;
        assert_eq!(
            (ids(&back), more),
            (vec!["b3".to_string(), "b2".into()], true)
        );
        let (all, _) = s.list_batches(None, 10, &Cursor::First)?;
        assert_eq!(all.len(), 6);
        assert_eq!(all[0].counts.processing, 1);
        Ok(())
    }

    #[test]
    fn forwarded_batches_keep_their_mapping_and_record_once() -> Result<()> {
        let (_dir, s) = store();
        let mut b = batch("fw", "k", 0);
        b.forward = Some(Forward {
            provider: "anth".into(),
            upstream_id: "msgbatch_up".into(),
        });
        b.snapshot = Some(json!({"id": "msgbatch_up"}));
        s.create_batch(&b)?;
        assert!(s.pending_requests(10)?.is_empty());
        assert!(
            !s.end_batch_if_done("fw", 1)?,
            "upstream ends forwarded batches"
        );
        let row = s.get_batch("fw")?.expect("batch");
        assert_eq!(row.forward, b.forward);
        assert!(s.claim_results_recording("fw")?);
        assert!(!s.claim_results_recording("fw")?);
        s.release_results_recording("fw")?;
        assert!(s.claim_results_recording("fw")?);
        Ok(())
    }
}
