//! [`ManageStore`] on PostgreSQL: keys (every write fires the `keys` trigger, so other
//! instances follow), the management reads of [`super::usage`], credits, and shutdown.

use super::{batches, keys, usage, PgStore};
use crate::{
    ActivityRow, Credit, DailyRow, GroupBy, KeyMeta, KeyPatch, KeyUsage, LoggedRequest,
    ManageStore, RequestFilter, TimeRange, Transaction, TransactionFilter, UsageRow, WindowStarts,
    LIMIT_RESETS,
};
use anyhow::{bail, Result};
use arouter_core::store::KeyInfo;
use std::collections::HashMap;
use tokio_postgres::Row;

const KEY_META: &str = "SELECT hash, label, limit_reset, updated_at FROM keys";

fn key_meta_from_row(row: &Row) -> (String, KeyMeta) {
    (
        row.get(0),
        KeyMeta {
            label: row.get(1),
            limit_reset: row.get(2),
            updated_at: row.get(3),
        },
    )
}

fn credit_from_row(row: &Row) -> Credit {
    Credit {
        id: row.get(0),
        created_ms: row.get(1),
        amount_pusd: row.get(2),
        note: row.get(3),
    }
}

impl PgStore {
    /// Runs a one-value query (an int8 sum or count).
    fn one_i64(&self, sql: &'static str) -> Result<i64> {
        let pool = self.pool.clone();
        self.run(async move { Ok(pool.get().await?.query_one(sql, &[]).await?.get(0)) })
    }

    /// Sets one column of a key (and `updated_at`); `false` if there is no such key.
    fn set_key_column(
        &self,
        sql: &'static str,
        hash: &str,
        value: Box<dyn tokio_postgres::types::ToSql + Send + Sync>,
    ) -> Result<bool> {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        let changed = self.run(async move {
            let n = pool
                .get()
                .await?
                .execute(sql, &[&hash, value.as_ref(), &crate::keys::unix_now_s()])
                .await?;
            anyhow::Ok(n > 0)
        })?;
        self.refresh_keys()?;
        Ok(changed)
    }
}

impl ManageStore for PgStore {
    fn create_key(
        &self,
        name: &str,
        admin: bool,
        rpm: Option<u32>,
        limit_pusd: Option<i64>,
    ) -> Result<(String, KeyInfo)> {
        let (pool, name) = (self.pool.clone(), name.to_string());
        let created =
            self.run(async move { keys::create(&pool, &name, admin, rpm, limit_pusd).await })?;
        self.refresh_keys()?;
        Ok(created)
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let pool = self.pool.clone();
        Ok(self.run(async move { keys::load_all(&pool).await })?.1)
    }

    fn update_key(&self, hash: &str, patch: &KeyPatch) -> Result<Option<KeyInfo>> {
        let (pool, hash, patch) = (self.pool.clone(), hash.to_string(), patch.clone());
        let updated = self.run(async move { keys::update(&pool, &hash, &patch).await })?;
        self.refresh_keys()?;
        Ok(updated)
    }

    fn revoke_key(&self, name_or_hash: &str) -> Result<bool> {
        let (pool, which) = (self.pool.clone(), name_or_hash.to_string());
        let revoked = self.run(async move { keys::revoke(&pool, &which).await })?;
        self.refresh_keys()?;
        Ok(revoked)
    }

    fn delete_key(&self, hash: &str) -> Result<bool> {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        let deleted = self.run(async move { keys::delete(&pool, &hash).await })?;
        self.refresh_keys()?;
        Ok(deleted)
    }

    fn key_label(&self, hash: &str) -> Option<String> {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        self.run(async move { keys::label(&pool, &hash).await })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read a key label");
                None
            })
    }

    fn key_meta(&self, hash: &str) -> Result<Option<KeyMeta>> {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        self.run(async move {
            let row = pool
                .get()
                .await?
                .query_opt(&format!("{KEY_META} WHERE hash = $1"), &[&hash])
                .await?;
            Ok(row.map(|r| key_meta_from_row(&r).1))
        })
    }

    fn key_metas(&self) -> Result<HashMap<String, KeyMeta>> {
        let pool = self.pool.clone();
        self.run(async move {
            let rows = pool.get().await?.query(KEY_META, &[]).await?;
            Ok(rows.iter().map(key_meta_from_row).collect())
        })
    }

    fn set_key_proxy(&self, hash: &str, proxy: Option<bool>) -> Result<bool> {
        self.set_key_column(
            "UPDATE keys SET proxy = $2, updated_at = $3 WHERE hash = $1",
            hash,
            Box::new(proxy),
        )
    }

    fn set_key_limit_reset(&self, hash: &str, reset: Option<&str>) -> Result<bool> {
        if let Some(r) = reset {
            if !LIMIT_RESETS.contains(&r) {
                bail!("limit_reset must be daily, weekly, monthly or null, not {r:?}");
            }
        }
        self.set_key_column(
            "UPDATE keys SET limit_reset = $2, updated_at = $3 WHERE hash = $1",
            hash,
            Box::new(reset.map(str::to_string)),
        )
    }

    fn key_usage(&self, hash: &str, starts: &WindowStarts) -> Result<KeyUsage> {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        let since = vec![
            None,
            Some(starts.day_ms),
            Some(starts.week_ms),
            Some(starts.month_ms),
        ];
        let sums = self.run(async move { usage::key_spend(&pool, hash, since).await })?;
        Ok(KeyUsage {
            total_pusd: sums[0],
            daily_pusd: sums[1],
            weekly_pusd: sums[2],
            monthly_pusd: sums[3],
        })
    }

    fn key_usage_pusd(&self, hash: &str, since_ms: i64) -> Result<i64> {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        let sums =
            self.run(async move { usage::key_spend(&pool, hash, vec![Some(since_ms)]).await })?;
        Ok(sums[0])
    }

    fn usage_summary(&self, since_ms: i64, by: GroupBy) -> Result<Vec<UsageRow>> {
        let range = TimeRange {
            since_ms: Some(since_ms),
            until_ms: None,
        };
        self.usage_in_range(range, by)
    }

    fn usage_in_range(&self, range: TimeRange, by: GroupBy) -> Result<Vec<UsageRow>> {
        let pool = self.pool.clone();
        self.run(async move { usage::usage_by_group(&pool, range, by).await })
    }

    fn daily_usage(&self, range: TimeRange, by: GroupBy) -> Result<Vec<DailyRow>> {
        let pool = self.pool.clone();
        self.run(async move { usage::daily_usage(&pool, range, by).await })
    }

    fn activity(&self, range: TimeRange) -> Result<Vec<ActivityRow>> {
        let pool = self.pool.clone();
        self.run(async move { usage::activity(&pool, range).await })
    }

    fn list_requests(&self, f: &RequestFilter) -> Result<(Vec<LoggedRequest>, i64)> {
        let (pool, f) = (self.pool.clone(), f.clone());
        self.run(async move { usage::list_requests(&pool, f).await })
    }

    fn request_detail(&self, id: &str) -> Result<Option<(LoggedRequest, Vec<LoggedRequest>)>> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move { usage::request_detail(&pool, id).await })
    }

    fn export_requests_page(
        &self,
        range: TimeRange,
        after: Option<&(i64, String)>,
        limit: i64,
    ) -> Result<Vec<LoggedRequest>> {
        let (pool, after) = (self.pool.clone(), after.cloned());
        self.run(async move { usage::export_requests_page(&pool, range, after, limit).await })
    }

    /// In slices of 500, so the ledger writers are never held up long.
    fn purge_bodies(&self, before_ms: i64) -> Result<u64> {
        let pool = self.pool.clone();
        self.run(async move {
            let c = pool.get().await?;
            let mut total = 0u64;
            loop {
                let n = c
                    .execute(
                        "DELETE FROM request_bodies WHERE id IN (SELECT r.id FROM requests r \
                         JOIN request_bodies b ON b.id = r.id WHERE r.created_ms < $1 LIMIT 500)",
                        &[&before_ms],
                    )
                    .await?;
                total += n;
                if n < 500 {
                    return Ok(total);
                }
            }
        })
    }

    fn add_credit(&self, amount_pusd: i64, note: &str) -> Result<Credit> {
        if amount_pusd <= 0 {
            bail!("a credit amount must be positive");
        }
        let created_ms = arouter_core::record::now_ms();
        let (pool, note) = (self.pool.clone(), note.to_string());
        self.run(async move {
            let row = pool
                .get()
                .await?
                .query_one(
                    "INSERT INTO credits (created_ms, amount_pusd, note) VALUES ($1, $2, $3) \
                     RETURNING id, created_ms, amount_pusd, note",
                    &[&created_ms, &amount_pusd, &note],
                )
                .await?;
            Ok(credit_from_row(&row))
        })
    }

    fn list_credits(&self) -> Result<Vec<Credit>> {
        let pool = self.pool.clone();
        self.run(async move {
            let rows = pool
                .get()
                .await?
                .query(
                    "SELECT id, created_ms, amount_pusd, note FROM credits \
                     ORDER BY created_ms DESC, id DESC",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(credit_from_row).collect())
        })
    }

    fn credits_total(&self) -> Result<i64> {
        self.one_i64("SELECT COALESCE(SUM(amount_pusd), 0)::int8 FROM credits")
    }

    fn usage_total(&self) -> Result<i64> {
        self.one_i64("SELECT COALESCE(SUM(cost_pusd), 0)::int8 FROM requests")
    }

    fn transactions(&self, f: &TransactionFilter) -> Result<(Vec<Transaction>, i64)> {
        let (pool, f) = (self.pool.clone(), f.clone());
        self.run(async move { usage::transactions(&pool, f).await })
    }

    /// Writes what is queued (retrying for a while), gives back this instance's batch leases
    /// (the batch worker has stopped by now), then stops the store's runtime. Idempotent;
    /// reads after it fail.
    fn shutdown(&self) {
        self.ledger.shutdown();
        let mut rt = self.rt.lock();
        if rt.is_some() {
            let (pool, owner) = (self.pool.clone(), self.owner.clone());
            let released = self.run(async move {
                let release = batches::release_leases(&pool, &owner);
                tokio::time::timeout(std::time::Duration::from_secs(5), release).await
            });
            if !matches!(released, Ok(Ok(_))) {
                tracing::warn!("cannot give back batch leases; they lapse within a minute");
            }
        }
        if let Some(rt) = rt.take() {
            rt.shutdown_background();
        }
    }
}
