//! The usage ledger writer: a bounded channel into one thread that owns the write connection
//! and inserts records in batches, one transaction per batch.

use crate::raw::{Param, RawStatement};
use crate::rollup::{count, BatchRollup};
use arouter_core::store::{StoredJson, UsageRecord};
use parking_lot::{Mutex, RwLock};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Records the channel holds before `record` starts dropping them.
const CAPACITY: usize = 65_536;
/// Rows per transaction at most.
const MAX_BATCH: usize = 2000;
/// How long the writer waits for more rows after the first of a batch. Fewer, larger commits
/// rewrite the hot index pages into the WAL less often.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// How often a collecting writer looks for more rows (and for a flush request).
const POLL: Duration = Duration::from_millis(5);
/// Tries per batch before its rows are given up (e.g. another process holds the lock too long).
const WRITE_ATTEMPTS: u32 = 3;

const INSERT_REQUEST: &str = "INSERT INTO requests (id, created_ms, app, key_hash, \
    surface, endpoint, requested_model, served_model, provider, input_tokens, output_tokens, \
    reasoning_tokens, cache_read_tokens, cache_write_tokens, cost_pusd, priced, latency_ms, \
    ttft_ms, streamed, finish_reason, native_finish_reason, status, error, attempt) VALUES \
    (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
    ?21, ?22, ?23, ?24)";

/// For an id already in the ledger (rare: a row rewritten with its final state).
const REPLACE_REQUEST: &str = "INSERT OR REPLACE INTO requests (id, created_ms, app, key_hash, \
    surface, endpoint, requested_model, served_model, provider, input_tokens, output_tokens, \
    reasoning_tokens, cache_read_tokens, cache_write_tokens, cost_pusd, priced, latency_ms, \
    ttft_ms, streamed, finish_reason, native_finish_reason, status, error, attempt) VALUES \
    (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
    ?21, ?22, ?23, ?24)";

const INSERT_BODY: &str =
    "INSERT OR REPLACE INTO request_bodies (id, request, response) VALUES (?1, ?2, ?3)";

enum Msg {
    /// Boxed so the preallocated channel slots stay small.
    Record(Box<UsageRecord>),
    /// Answered once everything received before it is committed.
    Flush(SyncSender<()>),
}

/// The handle the store keeps: the sending side and the writer thread.
pub(crate) struct Ledger {
    tx: RwLock<Option<SyncSender<Msg>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    lost: Arc<AtomicU64>,
}

impl Ledger {
    /// Starts the writer thread, which takes ownership of `conn`.
    pub(crate) fn start(conn: Connection) -> anyhow::Result<Self> {
        tune_writer(&conn)?;
        let (tx, rx) = sync_channel(CAPACITY);
        let lost = Arc::new(AtomicU64::new(0));
        let writer_lost = Arc::clone(&lost);
        let writer = std::thread::Builder::new()
            .name("arouter-ledger".into())
            .spawn(move || run_writer(conn, rx, &writer_lost))?;
        Ok(Self {
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            lost,
        })
    }

    /// Queues a record without blocking; counts it as lost if the queue is full or closed.
    pub(crate) fn record(&self, rec: UsageRecord) {
        let guard = self.tx.read();
        let Some(tx) = guard.as_ref() else {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(id = %rec.id, "usage record dropped: the ledger is shut down");
            return;
        };
        match tx.try_send(Msg::Record(Box::new(rec))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let lost = self.lost.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(lost, "usage record dropped: the ledger queue is full");
            }
            Err(TrySendError::Disconnected(_)) => {
                let lost = self.lost.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(lost, "usage record dropped: the ledger writer has stopped");
            }
        }
    }

    /// Blocks until every record queued before this call is committed (or given up).
    pub(crate) fn flush(&self) {
        let Some(tx) = self.tx.read().clone() else {
            return; // Shut down: the writer already drained everything.
        };
        let (ack_tx, ack_rx) = sync_channel(1);
        if tx.send(Msg::Flush(ack_tx)).is_ok() {
            // An error here means the writer died; nothing more can be committed.
            let _ = ack_rx.recv();
        }
    }

    /// Closes the queue and waits for the writer to commit what it holds. Idempotent.
    pub(crate) fn shutdown(&self) {
        drop(self.tx.write().take());
        let writer = self.writer.lock().take();
        if let Some(writer) = writer {
            if writer.join().is_err() {
                tracing::error!("the ledger writer thread panicked");
            }
        }
    }

    /// Records dropped (queue full, closed, or unwritable) since start.
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

/// Settings of the writer's own connection.
///
/// Foreign keys off: the bundled SQLite enforces them by default, and the one in the schema
/// (`request_bodies.id` references `requests.id`) made every body insert look its request up
/// again and keep a statement journal (a copy of each page it touched) — about a tenth of the
/// writer's work. The writer inserts a body only together with its request, in the same
/// transaction, and nothing deletes requests, so the key holds without being checked.
fn tune_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "foreign_keys", false)
}

fn run_writer(conn: Connection, rx: Receiver<Msg>, lost: &AtomicU64) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut acks = Vec::new();
    // Declared after `conn`, so dropped (finalized) before it closes.
    let mut inserts = None;
    batch_scheduling();
    while let Ok(first) = rx.recv() {
        let open = collect_batch(&rx, first, &mut batch, &mut acks);
        write_batch(&conn, &mut inserts, &mut batch, lost);
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if !open {
            break;
        }
    }
    tracing::debug!("ledger writer stopped");
}

/// Marks the writer thread `SCHED_BATCH` (Linux): same share of the CPU as any thread, so it
/// cannot be starved and fall behind, but its wake-ups do not preempt the request path, so its
/// commit bursts stay out of request tail latency on a busy 2-core laptop.
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid, zeroed param only
    // changes its scheduling policy; no privilege is needed for SCHED_BATCH.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) != 0 {
            tracing::debug!("could not make the ledger writer SCHED_BATCH");
        }
    }
}

/// Gathers up to `MAX_BATCH` records for at most `MAX_WAIT`, stopping early at a flush request.
/// Returns `false` once the channel is closed and empty.
///
/// Between drains the writer sleeps for `POLL` instead of blocking on the channel: a blocked
/// receiver costs every request path a futex wake-up (one per record), a sleeping one costs
/// nothing and the rows still land within `MAX_WAIT`.
fn collect_batch(
    rx: &Receiver<Msg>,
    first: Msg,
    batch: &mut Vec<UsageRecord>,
    acks: &mut Vec<SyncSender<()>>,
) -> bool {
    let deadline = Instant::now() + MAX_WAIT;
    let mut msg = first;
    loop {
        match msg {
            Msg::Record(rec) => batch.push(*rec),
            Msg::Flush(ack) => {
                acks.push(ack);
                return true;
            }
        }
        if batch.len() >= MAX_BATCH {
            return true;
        }
        msg = loop {
            match rx.try_recv() {
                Ok(next) => break next,
                Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep(POLL.min(deadline - now));
        };
    }
}

/// The writer's per-row statements, prepared once.
struct Inserts<'c> {
    request: RawStatement<'c>,
    body: RawStatement<'c>,
}

impl<'c> Inserts<'c> {
    fn prepare(conn: &'c Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            request: RawStatement::prepare(conn, INSERT_REQUEST)?,
            body: RawStatement::prepare(conn, INSERT_BODY)?,
        })
    }
}

fn write_batch<'c>(
    conn: &'c Connection,
    inserts: &mut Option<Inserts<'c>>,
    batch: &mut Vec<UsageRecord>,
    lost: &AtomicU64,
) {
    if batch.is_empty() {
        return;
    }
    for attempt in 1..=WRITE_ATTEMPTS {
        let written = match inserts {
            Some(inserts) => insert_batch(conn, inserts, batch),
            None => Inserts::prepare(conn)
                .and_then(|prepared| insert_batch(conn, inserts.insert(prepared), batch)),
        };
        match written {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, rows = batch.len(), error = %e, "ledger batch write failed");
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
            }
        }
    }
    let total = lost.fetch_add(batch.len() as u64, Ordering::Relaxed) + batch.len() as u64;
    tracing::error!(
        rows = batch.len(),
        lost = total,
        "usage records dropped after repeated write failures"
    );
    batch.clear();
}

fn insert_batch(
    conn: &Connection,
    inserts: &mut Inserts,
    batch: &[UsageRecord],
) -> rusqlite::Result<()> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let mut rollup = BatchRollup::default();
    for rec in batch {
        let params = request_params(rec);
        match inserts.request.execute(&params) {
            Err(e) if is_duplicate_id(&e) => {
                // A replaced id must not count twice in the daily rollup.
                rollup.subtract_existing(&tx, &rec.id)?;
                RawStatement::prepare(conn, REPLACE_REQUEST)?.execute(&params)?;
            }
            other => other?,
        }
        rollup.add(rec);
        if rec.request_body.is_some() || rec.response_body.is_some() {
            inserts.body.execute(&[
                Param::from(rec.id.as_str()),
                body_text(rec.request_body.as_ref()),
                body_text(rec.response_body.as_ref()),
            ])?;
        }
    }
    rollup.write(&tx)?;
    tx.commit()
}

/// A body bound as TEXT as is: no UTF-8 check or copy on the way in (SQLite checks none
/// either); readers convert lossily.
fn body_text(body: Option<&StoredJson>) -> Param<'_> {
    body.map_or(Param::Null, |b| Param::Text(&b.0))
}

fn is_duplicate_id(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// `INSERT_REQUEST`'s (and `REPLACE_REQUEST`'s) parameters for a record.
fn request_params(rec: &UsageRecord) -> [Param<'_>; 24] {
    [
        rec.id.as_str().into(),
        rec.created_ms.into(),
        rec.app.as_str().into(),
        rec.key_hash.as_str().into(),
        rec.surface.as_str().into(),
        rec.endpoint.as_str().into(),
        rec.requested_model.as_str().into(),
        rec.served_model.as_str().into(),
        rec.provider.as_str().into(),
        count(rec.usage.input_tokens).into(),
        count(rec.usage.output_tokens).into(),
        count(rec.usage.reasoning_tokens).into(),
        count(rec.usage.cache_read_tokens).into(),
        count(rec.usage.cache_write_tokens).into(),
        rec.cost_pusd.into(),
        rec.priced.into(),
        rec.latency_ms.into(),
        rec.ttft_ms.into(),
        rec.streamed.into(),
        rec.finish_reason.as_deref().into(),
        rec.native_finish_reason.as_deref().into(),
        i64::from(rec.status).into(),
        rec.error.as_deref().into(),
        i64::from(rec.attempt).into(),
    ]
}
