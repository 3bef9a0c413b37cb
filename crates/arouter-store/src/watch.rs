//! The key-watch thread: notices commits by other connections or processes (the CLI) through
//! `PRAGMA data_version` and reloads the key cache, so key edits apply without a restart.

use crate::keys::{self, KeyCache};
use anyhow::Result;
use rusqlite::Connection;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const POLL_EVERY: Duration = Duration::from_millis(300);

/// A running watcher; [`KeyWatcher::stop`] ends it.
pub(crate) struct KeyWatcher {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl KeyWatcher {
    /// Loads the keys into `cache` now, then watches for changes on `conn`.
    pub(crate) fn start(conn: Connection, cache: Arc<KeyCache>) -> Result<Self> {
        // Read the version before loading, so a commit in between is seen as a change.
        let version = data_version(&conn)?;
        cache.replace(keys::load_all(&conn)?);
        let (stop, stopped) = channel();
        let thread = std::thread::Builder::new()
            .name("arouter-keywatch".into())
            .spawn(move || run(&conn, &cache, &stopped, version))?;
        Ok(Self { stop, thread })
    }

    /// Wakes the thread and waits for it to end.
    pub(crate) fn stop(self) {
        drop(self.stop);
        if self.thread.join().is_err() {
            tracing::error!("the key-watch thread panicked");
        }
    }
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
}

fn run(conn: &Connection, cache: &KeyCache, stopped: &Receiver<()>, mut seen: i64) {
    // The stop channel doubles as the sleep: dropping the sender wakes us at once.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL_EVERY) {
        let version = match data_version(conn) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot poll the database for key changes");
                continue;
            }
        };
        // Ledger commits bump the version too; the keys table is small, so reloading on any
        // change is cheaper than tracking which table changed.
        if version == seen {
            continue;
        }
        match keys::load_all(conn) {
            Ok(list) => {
                cache.replace(list);
                seen = version;
            }
            Err(e) => tracing::warn!(error = %e, "cannot reload keys"),
        }
    }
}
