//! The `keys` table on PostgreSQL, and the watcher that keeps every instance's key cache
//! current: LISTEN/NOTIFY for changes within milliseconds, a full reload on every (re)connect
//! (notifications sent while disconnected are lost), and a poll of `keys_version` that works
//! where LISTEN does not (behind a transaction-pooling PgBouncer).

use crate::keys::{mask_key, unix_now_s, KeyCache, KeyPatch};
use anyhow::{bail, Result};
use arouter_core::store::{generate_key, hash_key, KeyInfo, LimitReset};
use deadpool_postgres::Pool;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, Row};

const KEY_COLUMNS: &str =
    "hash, name, admin, disabled, rpm, limit_pusd, limit_reset, created_at, proxy";

/// How often `keys_version` is polled (the fallback when notifications do not arrive).
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Pause before reconnecting the LISTEN connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

fn key_from_row(row: &Row) -> KeyInfo {
    let rpm: Option<i64> = row.get("rpm");
    let reset: Option<String> = row.get("limit_reset");
    KeyInfo {
        hash: row.get("hash"),
        name: row.get("name"),
        admin: row.get("admin"),
        disabled: row.get("disabled"),
        rpm: rpm.and_then(|v| u32::try_from(v).ok()),
        limit_pusd: row.get("limit_pusd"),
        limit_reset: reset.as_deref().and_then(LimitReset::parse),
        created_at: row.get("created_at"),
        proxy: row.get("proxy"),
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

fn validate(name: &str, limit_pusd: Option<i64>) -> Result<()> {
    if name.trim().is_empty() {
        bail!("a key name must not be empty");
    }
    if limit_pusd.is_some_and(|l| l < 0) {
        bail!("a key budget must not be negative");
    }
    Ok(())
}

/// Every key, oldest first, and the `keys_version` read before them (a change committed in
/// between shows up as a newer version at the next poll).
pub(crate) async fn load_all(pool: &Pool) -> Result<(i64, Vec<KeyInfo>)> {
    let client = pool.get().await?;
    let version: i64 = client
        .query_one("SELECT v FROM keys_version", &[])
        .await?
        .get(0);
    let rows = client
        .query(
            &format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY created_at, name"),
            &[],
        )
        .await?;
    Ok((version, rows.iter().map(key_from_row).collect()))
}

pub(crate) async fn create(
    pool: &Pool,
    name: &str,
    admin: bool,
    rpm: Option<u32>,
    limit_pusd: Option<i64>,
) -> Result<(String, KeyInfo)> {
    validate(name, limit_pusd)?;
    let raw = generate_key();
    let info = KeyInfo {
        hash: hash_key(&raw),
        name: name.to_string(),
        admin,
        disabled: false,
        rpm,
        limit_pusd,
        limit_reset: None,
        created_at: unix_now_s(),
        proxy: None,
    };
    let client = pool.get().await?;
    let inserted = client
        .execute(
            "INSERT INTO keys (hash, name, label, admin, disabled, rpm, limit_pusd, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, FALSE, $5, $6, $7, $7)",
            &[
                &info.hash,
                &info.name,
                &mask_key(&raw),
                &info.admin,
                &info.rpm.map(i64::from),
                &info.limit_pusd,
                &info.created_at,
            ],
        )
        .await;
    match inserted {
        Ok(_) => Ok((raw, info)),
        Err(e) if is_unique_violation(&e) => bail!("a key named {name} already exists"),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn update(pool: &Pool, hash: &str, patch: &KeyPatch) -> Result<Option<KeyInfo>> {
    let client = pool.get().await?;
    let Some(row) = client
        .query_opt(
            &format!("SELECT {KEY_COLUMNS} FROM keys WHERE hash = $1"),
            &[&hash],
        )
        .await?
    else {
        return Ok(None);
    };
    let mut key = key_from_row(&row);
    if let Some(name) = &patch.name {
        key.name = name.clone();
    }
    if let Some(disabled) = patch.disabled {
        key.disabled = disabled;
    }
    if let Some(rpm) = patch.rpm {
        key.rpm = rpm;
    }
    if let Some(limit) = patch.limit_pusd {
        key.limit_pusd = limit;
    }
    validate(&key.name, key.limit_pusd)?;
    let updated = client
        .execute(
            "UPDATE keys SET name = $2, disabled = $3, rpm = $4, limit_pusd = $5, \
             updated_at = $6 WHERE hash = $1",
            &[
                &key.hash,
                &key.name,
                &key.disabled,
                &key.rpm.map(i64::from),
                &key.limit_pusd,
                &unix_now_s(),
            ],
        )
        .await;
    match updated {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(key)),
        Err(e) if is_unique_violation(&e) => bail!("a key named {} already exists", key.name),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn revoke(pool: &Pool, name_or_hash: &str) -> Result<bool> {
    let n = pool
        .get()
        .await?
        .execute(
            "UPDATE keys SET disabled = TRUE, updated_at = $2 WHERE name = $1 OR hash = $1",
            &[&name_or_hash, &unix_now_s()],
        )
        .await?;
    Ok(n > 0)
}

pub(crate) async fn delete(pool: &Pool, hash: &str) -> Result<bool> {
    let n = pool
        .get()
        .await?
        .execute("DELETE FROM keys WHERE hash = $1", &[&hash])
        .await?;
    Ok(n > 0)
}

pub(crate) async fn label(pool: &Pool, hash: &str) -> Result<Option<String>> {
    Ok(pool
        .get()
        .await?
        .query_opt("SELECT label FROM keys WHERE hash = $1", &[&hash])
        .await?
        .map(|r| r.get(0)))
}

/// Loads the keys into the cache and remembers their version.
pub(crate) async fn reload(pool: &Pool, cache: &KeyCache, seen: &AtomicI64) -> Result<()> {
    let (version, list) = load_all(pool).await?;
    cache.replace(list);
    seen.store(version, Ordering::Release);
    Ok(())
}

/// Polls `keys_version` and reloads when it moved. Runs until the runtime stops.
pub(crate) async fn poll_versions(pool: Pool, cache: Arc<KeyCache>, seen: Arc<AtomicI64>) {
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let version = match pool.get().await {
            Ok(c) => c
                .query_one("SELECT v FROM keys_version", &[])
                .await
                .map(|r| r.get::<_, i64>(0)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot poll keys_version");
                continue;
            }
        };
        match version {
            Ok(v) if v != seen.load(Ordering::Acquire) => {
                if let Err(e) = reload(&pool, &cache, &seen).await {
                    tracing::warn!(error = %e, "cannot reload keys");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "cannot poll keys_version"),
        }
    }
}

/// Holds a LISTEN connection; every notification, and every (re)connect, reloads the keys.
pub(crate) async fn listen(
    config: tokio_postgres::Config,
    tls: super::tls::Connector,
    pool: Pool,
    cache: Arc<KeyCache>,
    seen: Arc<AtomicI64>,
) {
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut conn)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
                let driver = tokio::spawn(async move {
                    while let Some(msg) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                        match msg {
                            Ok(AsyncMessage::Notification(_)) => {
                                let _ = tx.send(());
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "the key LISTEN connection failed");
                                break;
                            }
                        }
                    }
                });
                if let Err(e) = client.batch_execute("LISTEN arouter_keys").await {
                    tracing::warn!(error = %e, "cannot LISTEN for key changes");
                } else {
                    // Changes made while we were not listening were never delivered.
                    if let Err(e) = reload(&pool, &cache, &seen).await {
                        tracing::warn!(error = %e, "cannot reload keys");
                    }
                    while rx.recv().await.is_some() {
                        while rx.try_recv().is_ok() {}
                        if let Err(e) = reload(&pool, &cache, &seen).await {
                            tracing::warn!(error = %e, "cannot reload keys");
                        }
                    }
                    tracing::warn!("lost the key LISTEN connection; reconnecting");
                }
                driver.abort();
            }
            Err(e) => tracing::debug!(error = %e, "cannot open the key LISTEN connection"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
