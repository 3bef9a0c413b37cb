//! `arouter migrate --to postgres://…`: copies the embedded SQLite history (keys, ledger rows
//! with their stored request/response bodies, credits, Message Batches) into an empty team-mode
//! database, from one consistent SQLite snapshot, and checks the figures on both sides agree.
//! The daily rollups are not a table in PostgreSQL (its reads aggregate the ledger): the check
//! compares SQLite's rollups with the per-day totals of the copied rows.

use super::ledger::write_batch;
use super::PgStore;
use anyhow::{bail, Context, Result};
use deadpool_postgres::Pool;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Ledger rows per copy batch.
const PAGE: i64 = 2000;

/// Totals compared before and after a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub keys: i64,
    pub requests: i64,
    pub cost_pusd: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub bodies: i64,
    pub credits: i64,
    pub credits_pusd: i64,
    pub batches: i64,
    pub batch_requests: i64,
    /// Per UTC day: (day, requests, cost) — SQLite's rollups, or the copied rows' totals.
    pub days: Vec<(String, i64, i64)>,
}

fn sqlite_figures(c: &Connection) -> Result<Figures> {
    let one = |sql: &str| -> Result<i64> { Ok(c.query_row(sql, [], |r| r.get(0))?) };
    let mut stmt = c.prepare(
        "SELECT day, SUM(requests), SUM(cost_pusd) FROM usage_daily GROUP BY day \
         HAVING SUM(requests) != 0 ORDER BY day",
    )?;
    let days = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Figures {
        keys: one("SELECT count(*) FROM keys")?,
        requests: one("SELECT count(*) FROM requests")?,
        cost_pusd: one("SELECT COALESCE(SUM(cost_pusd), 0) FROM requests")?,
        input_tokens: one("SELECT COALESCE(SUM(input_tokens), 0) FROM requests")?,
        output_tokens: one("SELECT COALESCE(SUM(output_tokens), 0) FROM requests")?,
        bodies: one("SELECT count(*) FROM request_bodies")?,
        credits: one("SELECT count(*) FROM credits")?,
        credits_pusd: one("SELECT COALESCE(SUM(amount_pusd), 0) FROM credits")?,
        batches: one("SELECT count(*) FROM batches")?,
        batch_requests: one("SELECT count(*) FROM batch_requests")?,
        days,
    })
}

async fn pg_figures(pool: &Pool) -> Result<Figures> {
    let c = pool.get().await?;
    let one = |sql: &'static str| {
        let c = &c;
        async move { Ok::<i64, anyhow::Error>(c.query_one(sql, &[]).await?.get(0)) }
    };
    let days = c
        .query(
            "SELECT to_char(to_timestamp((created_ms / 1000)::float8) AT TIME ZONE 'UTC', \
             'YYYY-MM-DD') AS d, count(*)::int8, COALESCE(SUM(cost_pusd), 0)::int8 \
             FROM requests GROUP BY d ORDER BY d",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    Ok(Figures {
        keys: one("SELECT count(*) FROM keys").await?,
        requests: one("SELECT count(*) FROM requests").await?,
        cost_pusd: one("SELECT COALESCE(SUM(cost_pusd), 0)::int8 FROM requests").await?,
        input_tokens: one("SELECT COALESCE(SUM(input_tokens), 0)::int8 FROM requests").await?,
        output_tokens: one("SELECT COALESCE(SUM(output_tokens), 0)::int8 FROM requests").await?,
        bodies: one("SELECT count(*) FROM request_bodies").await?,
        credits: one("SELECT count(*) FROM credits").await?,
        credits_pusd: one("SELECT COALESCE(SUM(amount_pusd), 0)::int8 FROM credits").await?,
        batches: one("SELECT count(*) FROM batches").await?,
        batch_requests: one("SELECT count(*) FROM batch_requests").await?,
        days,
    })
}

impl PgStore {
    /// The figures of this database.
    pub fn figures(&self) -> Result<Figures> {
        let pool = self.pool.clone();
        self.run(async move { pg_figures(&pool).await })
    }

    /// Copies the SQLite database at `db` into this (empty) database. Returns the source's
    /// figures and this database's after the copy; fails when they differ.
    pub fn import_sqlite(&self, db: &Path) -> Result<(Figures, Figures)> {
        let pool = self.pool.clone();
        let target = self.run(async move { pg_figures(&pool).await })?;
        if target.keys + target.requests + target.credits + target.batches > 0 {
            bail!(
                "the target database is not empty ({} keys, {} requests, {} credits, {} batches): \
                 migrate copies into a fresh database",
                target.keys,
                target.requests,
                target.credits,
                target.batches
            );
        }
        let mut src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", db.display()))?;
        // One read transaction: a consistent snapshot even while a server writes (WAL).
        let tx = src.transaction()?;
        let before = sqlite_figures(&tx)?;
        self.copy_keys(&tx)?;
        self.copy_ledger(&tx)?;
        self.copy_credits(&tx)?;
        self.copy_batches(&tx)?;
        drop(tx);
        self.refresh_keys()?;
        let after = self.figures()?;
        if before != after {
            bail!(
                "figures differ after the copy:\n  SQLite:     {before:?}\n  PostgreSQL: {after:?}"
            );
        }
        Ok((before, after))
    }

    fn copy_keys(&self, src: &Connection) -> Result<()> {
        type KeyRow = (
            String,
            String,
            String,
            bool,
            bool,
            Option<i64>,
            Option<i64>,
            Option<String>,
            i64,
            i64,
            Option<bool>,
        );
        let mut stmt = src.prepare(
            "SELECT hash, name, label, admin, disabled, rpm, limit_pusd, limit_reset, \
             created_at, updated_at, proxy FROM keys",
        )?;
        let rows: Vec<KeyRow> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let pool = self.pool.clone();
        self.run(async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            for k in &rows {
                tx.execute(
                    "INSERT INTO keys (hash, name, label, admin, disabled, rpm, limit_pusd, \
                     limit_reset, created_at, updated_at, proxy) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &[
                        &k.0, &k.1, &k.2, &k.3, &k.4, &k.5, &k.6, &k.7, &k.8, &k.9, &k.10,
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            anyhow::Ok(())
        })
    }

    fn copy_ledger(&self, src: &Connection) -> Result<()> {
        let mut stmt = src.prepare(
            "SELECT r.rowid AS rid, r.*, b.request AS request_body, b.response AS response_body \
             FROM requests r LEFT JOIN request_bodies b ON b.id = r.id \
             WHERE r.rowid > ?1 ORDER BY r.rowid LIMIT ?2",
        )?;
        let mut last = i64::MIN;
        loop {
            let mut page = Vec::new();
            let mut rows = stmt.query(rusqlite::params![last, PAGE])?;
            while let Some(row) = rows.next()? {
                last = row.get("rid")?;
                page.push(crate::queries::record_from_row(row)?);
            }
            drop(rows);
            if page.is_empty() {
                return Ok(());
            }
            let pool = self.pool.clone();
            let n = page.len() as i64;
            self.run(async move {
                write_batch(&pool, &page)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot copy ledger rows: {}", e.message))
            })?;
            if n < PAGE {
                return Ok(());
            }
        }
    }

    fn copy_credits(&self, src: &Connection) -> Result<()> {
        let mut stmt = src.prepare("SELECT id, created_ms, amount_pusd, note FROM credits")?;
        let rows: Vec<(i64, i64, i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let pool = self.pool.clone();
        self.run(async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            for r in &rows {
                tx.execute(
                    "INSERT INTO credits (id, created_ms, amount_pusd, note) VALUES ($1, $2, $3, $4)",
                    &[&r.0, &r.1, &r.2, &r.3],
                )
                .await?;
            }
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('credits', 'id'), \
                 GREATEST((SELECT MAX(id) FROM credits), 1))",
                &[],
            )
            .await?;
            tx.commit().await?;
            anyhow::Ok(())
        })
    }

    fn copy_batches(&self, src: &Connection) -> Result<()> {
        type Batch = (
            i64,
            String,
            String,
            String,
            String,
            String,
            i64,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
        );
        let mut stmt = src.prepare(
            "SELECT seq, id, key_hash, app, headers, status, created_ms, expires_ms, ended_ms, \
             cancel_ms, archived_ms, provider, upstream_id, snapshot, results_recorded FROM batches",
        )?;
        let batches: Vec<Batch> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                    r.get(14)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = src.prepare(
            "SELECT batch_id, idx, custom_id, params, status, result FROM batch_requests",
        )?;
        type Request = (String, i64, String, String, String, Option<String>);
        let requests: Vec<Request> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let pool = self.pool.clone();
        self.run(async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            for b in &batches {
                tx.execute(
                    "INSERT INTO batches (seq, id, key_hash, app, headers, status, created_ms, \
                     expires_ms, ended_ms, cancel_ms, archived_ms, provider, upstream_id, \
                     snapshot, results_recorded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                     $10, $11, $12, $13, $14, $15)",
                    &[
                        &b.0, &b.1, &b.2, &b.3, &b.4, &b.5, &b.6, &b.7, &b.8, &b.9, &b.10, &b.11,
                        &b.12, &b.13, &b.14,
                    ],
                )
                .await?;
            }
            let insert = tx
                .prepare(
                    "INSERT INTO batch_requests (batch_id, idx, custom_id, params, status, result) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            for r in &requests {
                tx.execute(&insert, &[&r.0, &r.1, &r.2, &r.3, &r.4, &r.5])
                    .await?;
            }
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('batches', 'seq'), \
                 GREATEST((SELECT MAX(seq) FROM batches), 1))",
                &[],
            )
            .await?;
            tx.commit().await?;
            anyhow::Ok(())
        })
    }
}
