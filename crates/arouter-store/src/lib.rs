//! ARouter's persistence: the SQLite usage ledger, key store and Message Batches
//! ([`SqliteStore`]), team mode's PostgreSQL store ([`PgStore`]) and the OS-keychain secrets
//! store ([`KeyringSecrets`]).

mod admin;
pub mod batches;
mod db;
mod keys;
mod ledger;
mod manage;
pub mod pg;
pub mod private;
mod queries;
mod raw;
mod rollup;
mod secrets;
mod watch;

pub use admin::{
    ActivityRow, Credit, DailyRow, KeyMeta, KeyUsage, LoggedRequest, RequestFilter, TimeRange,
    Transaction, TransactionFilter, WindowStarts, LIMIT_RESETS,
};
pub use batches::{
    BatchRow, Cursor, Forward, NewBatch, PendingRequest, RequestCounts, RequestResult,
};
pub use keys::{mask_key, KeyPatch};
pub use manage::{Backend, BatchStore, ManageStore};
pub use pg::PgStore;
pub use queries::{GroupBy, UsageRow};
pub use secrets::{KeyringSecrets, KEYCHAIN_SERVICE};

use anyhow::{Context, Result};
use arouter_core::store::{KeyInfo, Store, UsageRecord};
use db::ConnPool;
use keys::KeyCache;
use ledger::Ledger;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watch::KeyWatcher;

/// The database file name inside the data directory.
pub const DB_FILE: &str = "arouter.db";

/// The database path for a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Keys and usage in one SQLite file. Recording never blocks; key lookups are in memory and
/// follow edits made by other processes within about a second.
pub struct SqliteStore {
    path: PathBuf,
    conns: ConnPool,
    keys: Arc<KeyCache>,
    ledger: Ledger,
    watcher: Mutex<Option<KeyWatcher>>,
}

impl SqliteStore {
    /// Opens (creating the directory and file if needed) and migrates the database, then starts
    /// the ledger writer and the key watcher.
    pub fn open(db_path: &Path) -> Result<Arc<SqliteStore>> {
        if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private::create_private_dir(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        private::create_private_file(db_path)
            .with_context(|| format!("cannot create {}", db_path.display()))?;
        let mut setup = db::open_connection(db_path)?;
        db::migrate(&mut setup)?;
        let keys = Arc::new(KeyCache::default());
        let watcher = KeyWatcher::start(db::open_connection(db_path)?, Arc::clone(&keys))
            .context("cannot start the key watcher")?;
        let ledger = Ledger::start(setup).context("cannot start the ledger writer")?;
        tracing::debug!(path = %db_path.display(), "store opened");
        Ok(Arc::new(SqliteStore {
            path: db_path.to_path_buf(),
            conns: ConnPool::new(db_path.to_path_buf()),
            keys,
            ledger,
            watcher: Mutex::new(Some(watcher)),
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Blocks until every record handed to `record` before this call is committed.
    pub fn flush(&self) {
        self.ledger.flush();
    }

    /// Records lost for good: the overflow was full, the ledger was shut down, or SQLite
    /// refused a row (transient write failures are retried, not counted).
    pub fn dropped_records(&self) -> u64 {
        self.ledger.lost()
    }

    /// Re-reads the key table into the cache now.
    fn refresh_keys(&self) -> Result<()> {
        let list = self.conns.with(|c| Ok(keys::load_all(c)?))?;
        self.keys.replace(list);
        Ok(())
    }
}

impl Store for SqliteStore {
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
        self.conns
            .with(|c| Ok(queries::load_generation(c, id)?))
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read a generation");
                None
            })
    }

    fn flush(&self) {
        SqliteStore::flush(self);
    }

    fn delete_content(&self, id: &str) -> bool {
        SqliteStore::flush(self);
        self.conns
            .with(|c| Ok(c.execute("DELETE FROM request_bodies WHERE id = ?1", [id])?))
            .map(|n| n > 0)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot delete stored content");
                false
            })
    }

    fn key_spend_pusd(&self, hash: &str, since_ms: i64) -> std::result::Result<i64, String> {
        SqliteStore::flush(self);
        self.key_usage_pusd(hash, since_ms)
            .map_err(|e| format!("cannot read the key's spend: {e}"))
    }

    fn lost_records(&self) -> u64 {
        self.ledger.lost()
    }

    fn rows_without_bodies(&self) -> u64 {
        self.ledger.bodies_dropped()
    }

    fn ledger_queue_depth(&self) -> u64 {
        self.ledger.queue_depth()
    }

    fn rows_written(&self) -> u64 {
        self.ledger.written()
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        ManageStore::shutdown(self);
    }
}
