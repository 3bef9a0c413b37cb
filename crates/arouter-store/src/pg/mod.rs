//! Team mode's store: keys, rate limits, the usage ledger, credits and Message Batches in
//! PostgreSQL, shared by every ARouter server pointed at the same database. Implements the
//! router's [`Store`], [`ManageStore`] and [`crate::BatchStore`] like [`crate::SqliteStore`]
//! (`manage.rs`, `usage.rs`, `batches.rs`); its I/O runs on a small runtime of its own, so its blocking methods
//! work from the CLI, from `spawn_blocking`, and its rate check is awaited on the request path.

mod batches;
mod import;
mod keys;
mod ledger;
mod manage;
mod schema;
mod tls;
mod usage;

use crate::keys::KeyCache;
use crate::ManageStore;
use anyhow::{Context, Result};
use arouter_core::store::{
    KeyInfo, RateDecision, RateFuture, ReserveFuture, SharedReservation, Store, UsageRecord,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
pub use import::Figures;
use ledger::PgLedger;
use parking_lot::Mutex;
use std::future::Future;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

/// Connections per instance at most (ledger writer, key watcher, reads, rate checks).
const POOL_SIZE: usize = 16;

/// Keys, limits and the ledger in PostgreSQL.
pub struct PgStore {
    pool: Pool,
    keys: Arc<KeyCache>,
    seen_version: Arc<AtomicI64>,
    ledger: PgLedger,
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    /// This instance's name on the batch requests it runs (see [`batches`]).
    owner: String,
}

/// A URL with its password masked, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl PgStore {
    /// Connects, migrates (under the advisory lock), loads the keys, and starts the ledger
    /// writer and the key watchers. Blocking: call it off the async threads.
    pub fn open(url: &str) -> Result<Arc<PgStore>> {
        PgStore::open_with(url, true)
    }

    /// [`PgStore::open`]; `listen = false` skips the LISTEN connection (transaction-pooling
    /// PgBouncer), leaving key changes to the `keys_version` poll (within a second).
    pub fn open_with(url: &str, listen: bool) -> Result<Arc<PgStore>> {
        let (config, tls) =
            tls::parse(url).with_context(|| format!("invalid database URL {}", redact_url(url)))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("arouter-pg")
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()?;
        let keys = Arc::new(KeyCache::default());
        let seen_version = Arc::new(AtomicI64::new(-1));
        {
            let (pool, keys, seen, shown) = (
                pool.clone(),
                keys.clone(),
                seen_version.clone(),
                redact_url(url),
            );
            let (config, tls) = (config.clone(), tls.clone());
            block_on(&handle, async move {
                let (mut client, conn) = config
                    .connect(tls)
                    .await
                    .with_context(|| format!("cannot connect to {shown}"))?;
                let driver = tokio::spawn(conn);
                schema::migrate(&mut client).await?;
                drop(client);
                let _ = driver.await;
                keys::reload(&pool, &keys, &seen).await
            })?;
        }
        if listen {
            handle.spawn(keys::listen(
                config,
                tls,
                pool.clone(),
                keys.clone(),
                seen_version.clone(),
            ));
        }
        handle.spawn(keys::poll_versions(
            pool.clone(),
            keys.clone(),
            seen_version.clone(),
        ));
        let owner = batches::owner_id();
        handle.spawn(batches::renew_leases(pool.clone(), owner.clone()));
        let ledger = PgLedger::start(&handle, pool.clone());
        tracing::info!(url = %redact_url(url), "team mode: PostgreSQL store opened");
        Ok(Arc::new(PgStore {
            pool,
            keys,
            seen_version,
            ledger,
            rt: Mutex::new(Some(rt)),
            handle,
            owner,
        }))
    }

    /// Runs `fut` on the store's runtime and waits for it (blocking).
    fn run<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        block_on(&self.handle, fut)
    }

    /// The schema version the database is at, and the latest this build knows.
    pub fn schema_version(&self) -> Result<(i32, i32)> {
        let pool = self.pool.clone();
        let v = self.run(async move { schema::version(&*pool.get().await?).await })?;
        Ok((v, schema::latest()))
    }

    /// Ledger rows in the database (every instance's).
    pub fn count_requests(&self) -> Result<i64> {
        let pool = self.pool.clone();
        self.run(async move {
            Ok(pool
                .get()
                .await?
                .query_one("SELECT count(*) FROM requests", &[])
                .await?
                .get(0))
        })
    }

    /// Blocks until every record handed in before the call is written (bounded wait).
    pub fn flush(&self) {
        self.ledger.flush();
    }

    pub fn dropped_records(&self) -> u64 {
        self.ledger.lost()
    }

    fn refresh_keys(&self) -> Result<()> {
        let (pool, keys, seen) = (
            self.pool.clone(),
            self.keys.clone(),
            self.seen_version.clone(),
        );
        self.run(async move { keys::reload(&pool, &keys, &seen).await })
    }
}

/// Spawns `fut` on `handle` and blocks the calling thread for its output. Unlike
/// `Handle::block_on` it works on any thread that is not an async worker of this runtime.
fn block_on<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    fut: impl Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the PostgreSQL store's runtime stopped")
}

impl Store for PgStore {
    fn find_key(&self, hash: &str) -> Option<KeyInfo> {
        self.keys.get(hash)
    }

    fn reload_keys(&self) {
        if let Err(e) = self.refresh_keys() {
            tracing::warn!(error = %e, "cannot reload keys");
        }
    }

    fn find_key_or_reload(&self, hash: &str) -> Option<KeyInfo> {
        if let Some(k) = self.keys.get(hash) {
            return Some(k);
        }
        if self.keys.should_reload_for(hash) {
            self.reload_keys();
            if let Some(k) = self.keys.get(hash) {
                return Some(k);
            }
        }
        self.keys.remember_miss(hash);
        None
    }

    fn record(&self, rec: UsageRecord) {
        self.ledger.record(rec);
    }

    fn load_generation(&self, id: &str) -> Option<UsageRecord> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move { queries::load_generation(&pool, &id).await })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read a generation");
                None
            })
    }

    fn flush(&self) {
        PgStore::flush(self);
    }

    fn delete_content(&self, id: &str) -> bool {
        PgStore::flush(self);
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move {
            let n = pool
                .get()
                .await?
                .execute("DELETE FROM request_bodies WHERE id = $1", &[&id])
                .await?;
            anyhow::Ok(n > 0)
        })
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot delete stored content");
            false
        })
    }

    fn key_spend_pusd(&self, hash: &str, since_ms: i64) -> std::result::Result<i64, String> {
        PgStore::flush(self);
        self.key_usage_pusd(hash, since_ms)
            .map_err(|e| format!("cannot read the key's spend: {e}"))
    }

    fn rate_admit(&self, hash: &str, rpm: u32) -> Option<RateFuture> {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        let task = self.handle.spawn(async move {
            let row = pool
                .get()
                .await
                .map_err(|e| e.to_string())?
                .query_one(
                    "SELECT allowed, used, reset_ms FROM arouter_rate_admit($1, $2)",
                    &[&hash, &(rpm.min(i32::MAX as u32) as i32)],
                )
                .await
                .map_err(|e| e.to_string())?;
            let used: i32 = row.get(1);
            let reset_ms: i64 = row.get(2);
            Ok(RateDecision {
                allowed: row.get(0),
                limit: Some(rpm),
                remaining: rpm.saturating_sub(used.max(0) as u32),
                reset_ms: reset_ms.max(0) as u64,
            })
        });
        Some(Box::pin(
            async move { task.await.map_err(|e| e.to_string())? },
        ))
    }

    fn budget_reserve(
        &self,
        hash: &str,
        window_start: i64,
        limit: i64,
        amount: i64,
    ) -> Option<ReserveFuture> {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        let task = self.handle.spawn(async move {
            let row = pool
                .get()
                .await
                .map_err(|e| e.to_string())?
                .query_one(
                    "SELECT hold, remaining FROM arouter_budget_reserve($1, $2, $3, $4)",
                    &[&hash, &window_start, &limit, &amount],
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(match row.get::<_, Option<i64>>(0) {
                Some(id) => SharedReservation::Granted(id),
                None => SharedReservation::Refused {
                    remaining: row.get(1),
                },
            })
        });
        Some(Box::pin(
            async move { task.await.map_err(|e| e.to_string())? },
        ))
    }

    fn budget_settle(&self, hash: &str, hold: i64, cost_pusd: i64) {
        let (pool, hash) = (self.pool.clone(), hash.to_string());
        // Retried for a while; a hold never settled expires (and its cost is read back from
        // the ledger later), so the key is held back, never overspent.
        self.handle.spawn(async move {
            for attempt in 0..20u32 {
                let done = match pool.get().await {
                    Ok(c) => c
                        .execute(
                            "SELECT arouter_budget_settle($1, $2, $3)",
                            &[&hash, &hold, &cost_pusd],
                        )
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match done {
                    Ok(_) => return,
                    Err(e) if attempt == 0 => {
                        tracing::warn!(error = %e, "cannot settle a budget hold; retrying")
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(std::time::Duration::from_millis(250) * (attempt + 1)).await;
            }
            tracing::error!(
                hold,
                "gave up settling a budget hold; it expires within an hour"
            );
        });
    }

    fn lost_records(&self) -> u64 {
        self.ledger.lost()
    }

    fn rows_without_bodies(&self) -> u64 {
        self.ledger.bodies_dropped()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        ManageStore::shutdown(self);
    }
}

mod queries {
    //! Reads of the ledger on PostgreSQL.
    use arouter_core::model::Usage;
    use arouter_core::store::{StoredJson, UsageRecord};
    use deadpool_postgres::Pool;
    use tokio_postgres::Row;

    pub(super) async fn load_generation(
        pool: &Pool,
        id: &str,
    ) -> anyhow::Result<Option<UsageRecord>> {
        let Some(row) = pool
            .get()
            .await?
            .query_opt(
                "SELECT r.*, b.request AS request_body, b.response AS response_body \
                 FROM requests r LEFT JOIN request_bodies b ON b.id = r.id WHERE r.id = $1",
                &[&id],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(record_from_row(&row)))
    }

    /// A `requests` row (with `request_body` / `response_body` columns, NULL when not read).
    pub(super) fn record_from_row(row: &Row) -> UsageRecord {
        let tokens = |c: &str| u64::try_from(row.get::<_, i64>(c)).unwrap_or(0);
        let body = |c: &str| {
            row.get::<_, Option<String>>(c)
                .map(|t| StoredJson(t.into()))
        };
        UsageRecord {
            id: row.get("id"),
            created_ms: row.get("created_ms"),
            app: row.get("app"),
            key_hash: row.get("key_hash"),
            surface: row.get("surface"),
            endpoint: row.get("endpoint"),
            requested_model: row.get("requested_model"),
            served_model: row.get("served_model"),
            provider: row.get("provider"),
            usage: Usage {
                input_tokens: tokens("input_tokens"),
                output_tokens: tokens("output_tokens"),
                reasoning_tokens: tokens("reasoning_tokens"),
                cache_read_tokens: tokens("cache_read_tokens"),
                cache_write_tokens: tokens("cache_write_tokens"),
            },
            cost_pusd: row.get("cost_pusd"),
            priced: row.get("priced"),
            latency_ms: row.get("latency_ms"),
            ttft_ms: row.get("ttft_ms"),
            streamed: row.get("streamed"),
            finish_reason: row.get("finish_reason"),
            native_finish_reason: row.get("native_finish_reason"),
            status: u16::try_from(row.get::<_, i32>("status")).unwrap_or(0),
            error: row.get("error"),
            attempt: u32::try_from(row.get::<_, i32>("attempt")).unwrap_or(0),
            estimated: row.get("estimated"),
            request_body: body("request_body"),
            response_body: body("response_body"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_in_logs_hide_the_password() {
        assert_eq!(
            super::redact_url("postgres://arouter:s3cret@db:5432/arouter"),
            "postgres://arouter:***@db:5432/arouter"
        );
        assert_eq!(
            super::redact_url("postgres://arouter@db/arouter"),
            "postgres://arouter@db/arouter"
        );
    }
}
