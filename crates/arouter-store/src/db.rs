//! Opening SQLite connections with ARouter's pragmas, the numbered schema migrations, and a
//! small pool of connections for reads and key edits (never the ledger writer's).

use anyhow::{bail, Context, Result};
use parking_lot::Mutex;
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connection waits for another one's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Idle connections kept by [`ConnPool`]; more are opened on demand and closed after use.
const MAX_IDLE: usize = 4;

/// Migration N (1-based) is `MIGRATIONS[N - 1]`; `PRAGMA user_version` holds how many have run.
/// Never edit a shipped migration: append a new one.
const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    crate::rollup::MIGRATION,
    crate::keys::PROXY_MIGRATION,
    crate::ledger::ESTIMATED_MIGRATION,
];

const MIGRATION_1: &str = "
CREATE TABLE keys (
    hash        TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    admin       INTEGER NOT NULL DEFAULT 0,
    disabled    INTEGER NOT NULL DEFAULT 0,
    rpm         INTEGER NULL,
    limit_pusd  INTEGER NULL,
    limit_reset TEXT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE requests (
    id                   TEXT PRIMARY KEY,
    created_ms           INTEGER NOT NULL,
    app                  TEXT NOT NULL DEFAULT '',
    key_hash             TEXT NOT NULL DEFAULT '',
    surface              TEXT NOT NULL DEFAULT '',
    endpoint             TEXT NOT NULL DEFAULT '',
    requested_model      TEXT NOT NULL DEFAULT '',
    served_model         TEXT NOT NULL DEFAULT '',
    provider             TEXT NOT NULL DEFAULT '',
    input_tokens         INTEGER NOT NULL DEFAULT 0,
    output_tokens        INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens     INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens    INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_pusd            INTEGER NOT NULL DEFAULT 0,
    priced               INTEGER NOT NULL DEFAULT 0,
    latency_ms           INTEGER NOT NULL DEFAULT 0,
    ttft_ms              INTEGER NULL,
    streamed             INTEGER NOT NULL DEFAULT 0,
    finish_reason        TEXT NULL,
    native_finish_reason TEXT NULL,
    status               INTEGER NOT NULL DEFAULT 0,
    error                TEXT NULL,
    attempt              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requests_created ON requests(created_ms);
CREATE INDEX requests_key_created ON requests(key_hash, created_ms);
CREATE INDEX requests_app_created ON requests(app, created_ms);

CREATE TABLE request_bodies (
    id       TEXT PRIMARY KEY REFERENCES requests(id),
    request  TEXT NULL,
    response TEXT NULL
);

CREATE TABLE credits (
    id          INTEGER PRIMARY KEY,
    created_ms  INTEGER NOT NULL,
    amount_pusd INTEGER NOT NULL,
    note        TEXT NOT NULL DEFAULT ''
);
";

/// Message Batches: one row per batch (run here, or forwarded to an anthropic-kind provider)
/// and, for batches run here, one row per request with its result.
const MIGRATION_2: &str = "
CREATE TABLE batches (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    key_hash         TEXT NOT NULL,
    app              TEXT NOT NULL DEFAULT '',
    headers          TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL,
    created_ms       INTEGER NOT NULL,
    expires_ms       INTEGER NOT NULL,
    ended_ms         INTEGER NULL,
    cancel_ms        INTEGER NULL,
    archived_ms      INTEGER NULL,
    provider         TEXT NULL,
    upstream_id      TEXT NULL,
    snapshot         TEXT NULL,
    results_recorded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX batches_key ON batches(key_hash, seq);
CREATE INDEX batches_status ON batches(status);

CREATE TABLE batch_requests (
    batch_id  TEXT NOT NULL,
    idx       INTEGER NOT NULL,
    custom_id TEXT NOT NULL,
    params    TEXT NOT NULL,
    status    TEXT NOT NULL,
    result    TEXT NULL,
    PRIMARY KEY (batch_id, idx)
);
CREATE INDEX batch_requests_status ON batch_requests(status, batch_id);
";

/// Opens (creating if needed) the database file with WAL, a busy timeout and
/// `synchronous=NORMAL` (durable across crashes of the process, not of the OS, in WAL mode).
pub(crate) fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("cannot open database {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // 8 KiB pages for new files (a no-op once a file has its schema): the ledger's indexes
    // split half as often and are a level shallower (writer ~4% fewer instructions per row).
    conn.pragma_update(None, "page_size", 8192)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "SQLite refused WAL mode; concurrent readers may block the writer");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Runs every migration the database has not seen yet, in one immediate transaction so two
/// processes opening the same fresh file cannot both apply them.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let latest = MIGRATIONS.len();
    let applied = usize::try_from(current).unwrap_or(usize::MAX);
    if applied > latest {
        bail!(
            "database schema version {current} is newer than this arouter understands ({latest}); \
             upgrade arouter"
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = index + 1;
        tx.execute_batch(sql)
            .with_context(|| format!("schema migration {version} failed"))?;
        tx.pragma_update(None, "user_version", version as i64)?;
        tracing::info!(version, "applied database migration");
    }
    tx.commit()?;
    Ok(())
}

/// The schema version the database is at.
#[cfg(test)]
pub(crate) fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// A few reusable connections for short blocking reads and key edits.
pub(crate) struct ConnPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ConnPool {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on an idle connection (or a fresh one) and returns the connection to the pool.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let pooled = self.idle.lock().pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path)?,
        };
        let out = f(&mut conn);
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE && conn.is_autocommit() {
            idle.push(conn);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_idempotent() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("t.db");
        let mut conn = open_connection(&path)?;
        migrate(&mut conn)?;
        migrate(&mut conn)?;
        drop(conn);
        let mut conn = open_connection(&path)?;
        migrate(&mut conn)?;
        assert_eq!(schema_version(&conn)?, MIGRATIONS.len() as i64);
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        assert_eq!(mode.to_lowercase(), "wal");
        Ok(())
    }

    #[test]
    fn refuses_a_newer_schema() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("t.db");
        let mut conn = open_connection(&path)?;
        migrate(&mut conn)?;
        conn.pragma_update(None, "user_version", 99)?;
        let err = migrate(&mut conn).expect_err("a newer schema must be refused");
        assert!(err.to_string().contains("newer"), "{err}");
        Ok(())
    }
}
