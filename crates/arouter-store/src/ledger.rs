//! The usage ledger writer: a bounded channel into one thread that owns the write connection
//! and inserts records in batches, one transaction per batch. The request path never waits:
//! a full channel spills rows to a bounded in-memory overflow, stored bodies are bounded in
//! bytes (over budget, a row is kept without its bodies), and a batch that cannot be written
//! (disk full, database locked) is kept and retried, not dropped.

use crate::raw::{Param, RawStatement};
use crate::rollup::{count, BatchRollup};
use arouter_core::store::{StoredJson, UsageRecord};
use parking_lot::{Mutex, RwLock};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Records the channel holds before `record` spills to the overflow.
const CAPACITY: usize = 65_536;
/// Rows per transaction at most (while writes succeed).
const MAX_BATCH: usize = 2000;
/// How long the writer waits for more rows after the first of a batch. Fewer, larger commits
/// rewrite the hot index pages into the WAL less often.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// How often a collecting writer looks for more rows (and for a flush request).
const POLL: Duration = Duration::from_millis(5);
/// Stored-body bytes queued (channel, overflow and unwritten batch) at most; past it a row is
/// queued without its bodies. Rows themselves are a few hundred bytes.
const MAX_QUEUED_BODY_BYTES: usize = 64 << 20;
/// One stored body at most; a larger one is replaced by a marker saying it was truncated.
pub(crate) const MAX_STORED_BODY: usize = 4 << 20;
/// Rows the overflow holds (bodies stripped, ~0.5 KiB each) before rows are lost.
const MAX_OVERFLOW: usize = 200_000;
/// Rows an unwritable batch may grow to while retrying before the writer stops taking more
/// (the channel and overflow then hold the rest).
const MAX_PENDING: usize = 200_000;
/// Longest pause between retries of a failing batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// After shutdown is asked, how long a failing batch is still retried before its rows are
/// counted lost.
const SHUTDOWN_RETRY: Duration = Duration::from_secs(10);

const INSERT_REQUEST: &str = "INSERT INTO requests (id, created_ms, app, key_hash, \
    surface, endpoint, requested_model, served_model, provider, input_tokens, output_tokens, \
    reasoning_tokens, cache_read_tokens, cache_write_tokens, cost_pusd, priced, latency_ms, \
    ttft_ms, streamed, finish_reason, native_finish_reason, status, error, attempt, estimated) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
    ?20, ?21, ?22, ?23, ?24, ?25)";

/// For an id already in the ledger (rare: a row rewritten with its final state).
const REPLACE_REQUEST: &str = "INSERT OR REPLACE INTO requests (id, created_ms, app, key_hash, \
    surface, endpoint, requested_model, served_model, provider, input_tokens, output_tokens, \
    reasoning_tokens, cache_read_tokens, cache_write_tokens, cost_pusd, priced, latency_ms, \
    ttft_ms, streamed, finish_reason, native_finish_reason, status, error, attempt, estimated) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
    ?20, ?21, ?22, ?23, ?24, ?25)";

/// Migration 5: rows whose tokens are ARouter's estimate (a client left mid-stream before the
/// upstream reported usage).
pub(crate) const ESTIMATED_MIGRATION: &str =
    "ALTER TABLE requests ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;";

const INSERT_BODY: &str =
    "INSERT OR REPLACE INTO request_bodies (id, request, response) VALUES (?1, ?2, ?3)";

enum Msg {
    /// Boxed so the preallocated channel slots stay small.
    Record(Box<UsageRecord>),
    /// Answered once everything received before it is committed.
    Flush(SyncSender<()>),
}

/// What the request path and the writer share.
#[derive(Default)]
struct Shared {
    /// Rows lost for good (overflow full, ledger shut down, or unwritable at shutdown).
    lost: AtomicU64,
    /// Rows kept without their stored bodies (body budget exceeded).
    bodies_dropped: AtomicU64,
    /// Rows accepted and not yet written or lost (channel, overflow, unwritten batch).
    queued: AtomicU64,
    /// Rows written since start.
    written: AtomicU64,
    /// Stored-body bytes queued and not yet written.
    body_bytes: AtomicUsize,
    /// Rows the channel had no room for, waiting for the writer.
    overflow: Mutex<Vec<UsageRecord>>,
}

impl Shared {
    /// `n` queued rows left the queue: written, or lost.
    fn done(&self, n: u64, written: bool) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
        if written {
            self.written.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The handle the store keeps: the sending side and the writer thread.
pub(crate) struct Ledger {
    tx: RwLock<Option<SyncSender<Msg>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

fn body_len(rec: &UsageRecord) -> usize {
    rec.request_body.as_ref().map_or(0, |b| b.0.len())
        + rec.response_body.as_ref().map_or(0, |b| b.0.len())
}

/// A body over [`MAX_STORED_BODY`] becomes a small JSON marker (still valid JSON for readers).
pub(crate) fn cap_body(body: &mut Option<StoredJson>) {
    if let Some(b) = body {
        if b.0.len() > MAX_STORED_BODY {
            *b = StoredJson::truncated(b.0.len());
        }
    }
}

impl Ledger {
    /// Starts the writer thread, which takes ownership of `conn`.
    pub(crate) fn start(conn: Connection) -> anyhow::Result<Self> {
        tune_writer(&conn)?;
        let (tx, rx) = sync_channel(CAPACITY);
        let shared = Arc::new(Shared::default());
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("arouter-ledger".into())
            .spawn(move || run_writer(conn, rx, &writer_shared))?;
        Ok(Self {
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            shared,
        })
    }

    /// Queues a record without blocking or touching the disk. Bodies past the byte budget are
    /// left out (the row is kept); a full channel spills to the overflow; only a full overflow
    /// or a shut-down ledger loses the row (counted and logged).
    pub(crate) fn record(&self, mut rec: UsageRecord) {
        cap_body(&mut rec.request_body);
        cap_body(&mut rec.response_body);
        let mut bytes = body_len(&rec);
        if bytes > 0
            && self.shared.body_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes
                > MAX_QUEUED_BODY_BYTES
        {
            self.shared.body_bytes.fetch_sub(bytes, Ordering::AcqRel);
            strip_bodies(&mut rec);
            bytes = 0;
            let n = self.shared.bodies_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    rows = n,
                    "ledger body budget full: rows kept without their stored bodies"
                );
            }
        }
        let guard = self.tx.read();
        let Some(tx) = guard.as_ref() else {
            self.shared.body_bytes.fetch_sub(bytes, Ordering::AcqRel);
            let lost = self.shared.lost.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(id = %rec.id, lost, "usage record lost: the ledger is shut down");
            return;
        };
        // Counted before the writer can see the row, so the depth never goes below zero.
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(Msg::Record(Box::new(rec))) {
            Ok(()) => {}
            Err(TrySendError::Full(Msg::Record(mut rec)))
            | Err(TrySendError::Disconnected(Msg::Record(mut rec))) => {
                self.shared.body_bytes.fetch_sub(bytes, Ordering::AcqRel);
                strip_bodies(&mut rec);
                let mut overflow = self.shared.overflow.lock();
                if overflow.len() < MAX_OVERFLOW {
                    overflow.push(*rec);
                    if overflow.len().is_power_of_two() {
                        tracing::warn!(rows = overflow.len(), "ledger queue full: rows spilled");
                    }
                } else {
                    drop(overflow);
                    self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                    let lost = self.shared.lost.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::error!(lost, "usage record lost: the ledger overflow is full");
                }
            }
            Err(_) => {}
        }
    }

    /// Blocks until every record queued before this call is committed (or its write failed
    /// once; it stays queued and is retried).
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

    /// Records lost for good since start.
    pub(crate) fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Rows kept without their stored bodies since start.
    pub(crate) fn bodies_dropped(&self) -> u64 {
        self.shared.bodies_dropped.load(Ordering::Relaxed)
    }

    /// Rows accepted and not yet written or lost.
    pub(crate) fn queue_depth(&self) -> u64 {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Rows written since start.
    pub(crate) fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }
}

fn strip_bodies(rec: &mut UsageRecord) {
    rec.request_body = None;
    rec.response_body = None;
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

fn run_writer(conn: Connection, rx: Receiver<Msg>, shared: &Shared) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut acks = Vec::new();
    // Declared after `conn`, so dropped (finalized) before it closes.
    let mut inserts = None;
    let mut failures = 0u32;
    let mut open = true;
    batch_scheduling();
    while open {
        if batch.is_empty() {
            let spilled = std::mem::take(&mut *shared.overflow.lock());
            if spilled.is_empty() {
                match rx.recv() {
                    Ok(first) => open = collect_batch(&rx, first, &mut batch, &mut acks),
                    Err(_) => break,
                }
            } else {
                batch.extend(spilled);
            }
        } else if batch.len() < MAX_PENDING {
            // Retrying: keep the channel drained so the request path does not spill.
            loop {
                match rx.try_recv() {
                    Ok(Msg::Record(rec)) => batch.push(*rec),
                    Ok(Msg::Flush(ack)) => acks.push(ack),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
                if batch.len() >= MAX_PENDING {
                    break;
                }
            }
            batch.append(&mut shared.overflow.lock());
        }
        if write_batch(&conn, &mut inserts, &mut batch, shared) {
            if failures > 0 {
                tracing::warn!(failures, "ledger writes succeed again; no rows were lost");
            }
            failures = 0;
        } else {
            failures += 1;
            let pause = (Duration::from_millis(100) * failures).min(MAX_BACKOFF);
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
            std::thread::sleep(pause);
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    // Closed: write what is left, retrying for a while, then count the rest as lost.
    batch.append(&mut shared.overflow.lock());
    let deadline = Instant::now() + SHUTDOWN_RETRY;
    while !batch.is_empty() && !write_batch(&conn, &mut inserts, &mut batch, shared) {
        if Instant::now() >= deadline {
            shared
                .queued
                .fetch_sub(batch.len() as u64, Ordering::Relaxed);
            let total =
                shared.lost.fetch_add(batch.len() as u64, Ordering::Relaxed) + batch.len() as u64;
            tracing::error!(
                rows = batch.len(),
                lost = total,
                "usage records lost: the ledger could not be written before shutdown"
            );
            batch.clear();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
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

/// Writes `batch` in one transaction; on success empties it and releases its body bytes. On
/// failure the rows stay in `batch` for the next try.
fn write_batch<'c>(
    conn: &'c Connection,
    inserts: &mut Option<Inserts<'c>>,
    batch: &mut Vec<UsageRecord>,
    shared: &Shared,
) -> bool {
    if batch.is_empty() {
        return true;
    }
    let written = match inserts {
        Some(inserts) => insert_batch(conn, inserts, batch),
        None => Inserts::prepare(conn)
            .and_then(|prepared| insert_batch(conn, inserts.insert(prepared), batch)),
    };
    match written {
        Ok(()) => {
            let bytes: usize = batch.iter().map(body_len).sum();
            shared.body_bytes.fetch_sub(bytes, Ordering::AcqRel);
            shared.done(batch.len() as u64, true);
            batch.clear();
            true
        }
        Err(e) if is_transient(&e) => {
            tracing::warn!(rows = batch.len(), error = %e, "ledger batch write failed; will retry");
            false
        }
        Err(e) => {
            // A row SQLite refuses for what it holds would block every later row: write the
            // rows one by one and give up only on those refused for good.
            tracing::warn!(rows = batch.len(), error = %e, "ledger batch refused; writing rows one by one");
            let Some(inserts) = inserts.as_mut() else {
                return false;
            };
            let mut kept = Vec::new();
            for rec in batch.drain(..) {
                let r = insert_batch(conn, inserts, std::slice::from_ref(&rec));
                match r {
                    Ok(()) => {
                        shared.done(1, true);
                        shared
                            .body_bytes
                            .fetch_sub(body_len(&rec), Ordering::AcqRel)
                    }
                    Err(e) if is_transient(&e) => {
                        kept.push(rec);
                        continue;
                    }
                    Err(e) => {
                        shared
                            .body_bytes
                            .fetch_sub(body_len(&rec), Ordering::AcqRel);
                        shared.done(1, false);
                        let lost = shared.lost.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::error!(id = %rec.id, lost, error = %e, "usage record lost: SQLite refused it");
                        continue;
                    }
                };
            }
            *batch = kept;
            batch.is_empty()
        }
    }
}

/// Errors that pass: a full disk, a lock held by another process, I/O trouble.
fn is_transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            DatabaseBusy
                | DatabaseLocked
                | DiskFull
                | SystemIoFailure
                | ReadOnly
                | CannotOpen
                | OutOfMemory
                | FileLockingProtocolFailed
                | DatabaseCorrupt
        ),
        _ => false,
    }
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
fn request_params(rec: &UsageRecord) -> [Param<'_>; 25] {
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
        rec.estimated.into(),
    ]
}
