//! Team mode's ledger writer: the request path pushes rows into an in-memory queue; one task
//! writes them in batches (one multi-row `INSERT … SELECT FROM UNNEST` per table, one
//! transaction per batch). A batch that cannot be written — PostgreSQL restarting, the network
//! gone — is kept and retried with backoff, never dropped; rows are lost only when the queue
//! outgrows its bound or a shutdown cannot write them within [`SHUTDOWN_RETRY`].

use arouter_core::store::{StoredJson, UsageRecord};
use deadpool_postgres::Pool;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Rows per transaction at most.
const MAX_BATCH: usize = 2000;
/// How long the writer gathers rows after the first of a batch.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// Rows queued at most (while the database is away); past it new rows are lost, counted.
const MAX_QUEUED: usize = 200_000;
/// Stored-body bytes queued at most; past it rows are queued without their bodies.
const MAX_QUEUED_BODY_BYTES: usize = 64 << 20;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// After shutdown is asked, how long a failing batch is still retried.
const SHUTDOWN_RETRY: Duration = Duration::from_secs(30);
/// How long `flush` waits for the rows before it to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Queue {
    rows: VecDeque<UsageRecord>,
    body_bytes: usize,
    /// Rows ever queued, and rows written (or given up); `flush` waits for the latter.
    queued: u64,
    done: u64,
    closed: bool,
    writer_gone: bool,
}

pub(crate) struct Shared {
    queue: Mutex<Queue>,
    written: Condvar,
    wake: Notify,
    lost: AtomicU64,
    bodies_dropped: AtomicU64,
}

pub(crate) struct PgLedger {
    shared: Arc<Shared>,
}

fn body_len(rec: &UsageRecord) -> usize {
    rec.request_body.as_ref().map_or(0, |b| b.0.len())
        + rec.response_body.as_ref().map_or(0, |b| b.0.len())
}

impl PgLedger {
    /// Starts the writer task on `rt`.
    pub(crate) fn start(rt: &tokio::runtime::Handle, pool: Pool) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            written: Condvar::new(),
            wake: Notify::new(),
            lost: AtomicU64::new(0),
            bodies_dropped: AtomicU64::new(0),
        });
        rt.spawn(run_writer(pool, Arc::clone(&shared)));
        PgLedger { shared }
    }

    /// Queues a row without blocking on the database.
    pub(crate) fn record(&self, mut rec: UsageRecord) {
        crate::ledger::cap_body(&mut rec.request_body);
        crate::ledger::cap_body(&mut rec.response_body);
        let mut q = self.shared.queue.lock();
        if q.closed || q.rows.len() >= MAX_QUEUED {
            let lost = self.shared.lost.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(id = %rec.id, lost, "usage record lost: the ledger queue is closed or full");
            return;
        }
        let bytes = body_len(&rec);
        if bytes > 0 && q.body_bytes + bytes > MAX_QUEUED_BODY_BYTES {
            rec.request_body = None;
            rec.response_body = None;
            self.shared.bodies_dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            q.body_bytes += bytes;
        }
        q.rows.push_back(rec);
        q.queued += 1;
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Blocks until every row queued before the call is written (at most [`FLUSH_WAIT`]: with
    /// the database away, readers see what is there rather than hang).
    pub(crate) fn flush(&self) {
        let deadline = Instant::now() + FLUSH_WAIT;
        let mut q = self.shared.queue.lock();
        let target = q.queued;
        self.shared.wake.notify_one();
        while q.done < target && !q.writer_gone {
            if self.shared.written.wait_until(&mut q, deadline).timed_out() {
                tracing::warn!("ledger flush timed out: PostgreSQL is not taking rows");
                return;
            }
        }
    }

    /// Closes the queue and waits for the writer to write what it holds (bounded).
    pub(crate) fn shutdown(&self) {
        let mut q = self.shared.queue.lock();
        q.closed = true;
        self.shared.wake.notify_one();
        let deadline = Instant::now() + SHUTDOWN_RETRY + Duration::from_secs(5);
        while !q.writer_gone {
            if self.shared.written.wait_until(&mut q, deadline).timed_out() {
                tracing::error!("the ledger writer did not stop in time");
                return;
            }
        }
    }

    pub(crate) fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    pub(crate) fn bodies_dropped(&self) -> u64 {
        self.shared.bodies_dropped.load(Ordering::Relaxed)
    }
}

async fn run_writer(pool: Pool, shared: Arc<Shared>) {
    let mut batch: Vec<UsageRecord> = Vec::new();
    let mut failures = 0u32;
    let mut closing_since: Option<Instant> = None;
    loop {
        if batch.is_empty() {
            let (empty, closed) = {
                let q = shared.queue.lock();
                (q.rows.is_empty(), q.closed)
            };
            if empty && closed {
                break;
            }
            if empty {
                let _ = tokio::time::timeout(Duration::from_secs(1), shared.wake.notified()).await;
                continue;
            }
            // Give a burst a moment to arrive, then take up to a batch.
            tokio::time::sleep(MAX_WAIT).await;
            let mut q = shared.queue.lock();
            let n = q.rows.len().min(MAX_BATCH);
            batch.extend(q.rows.drain(..n));
        }
        match write_batch(&pool, &batch).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::warn!(
                        failures,
                        "ledger writes to PostgreSQL succeed again; no rows were lost"
                    );
                }
                failures = 0;
                finish(&shared, &mut batch);
            }
            Err(e) if e.permanent => {
                // A row the database refuses for what it holds must not block the rest.
                tracing::warn!(rows = batch.len(), error = %e.message, "ledger batch refused; writing rows one by one");
                for rec in std::mem::take(&mut batch) {
                    let one = vec![rec];
                    match write_batch(&pool, &one).await {
                        Ok(()) => finish(&shared, &mut one.clone()),
                        Err(e) if e.permanent => {
                            let lost = shared.lost.fetch_add(1, Ordering::Relaxed) + 1;
                            tracing::error!(id = %one[0].id, lost, error = %e.message, "usage record lost: PostgreSQL refused it");
                            finish(&shared, &mut one.clone());
                        }
                        Err(_) => batch.extend(one),
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(rows = batch.len(), failures, error = %e.message, "ledger batch write failed; will retry");
                }
                let closed = shared.queue.lock().closed;
                if closed {
                    let since = *closing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= SHUTDOWN_RETRY {
                        let mut q = shared.queue.lock();
                        let rest = batch.len() + q.rows.len();
                        q.rows.clear();
                        drop(q);
                        let lost =
                            shared.lost.fetch_add(rest as u64, Ordering::Relaxed) + rest as u64;
                        tracing::error!(
                            rows = rest,
                            lost,
                            "usage records lost: PostgreSQL could not be written before shutdown"
                        );
                        let mut q = shared.queue.lock();
                        q.done = q.queued;
                        break;
                    }
                }
                let pause = (Duration::from_millis(100) * failures).min(MAX_BACKOFF);
                tokio::time::sleep(pause).await;
            }
        }
    }
    let mut q = shared.queue.lock();
    q.writer_gone = true;
    drop(q);
    shared.written.notify_all();
    tracing::debug!("PostgreSQL ledger writer stopped");
}

/// Marks a batch done: releases its body bytes and wakes flushers.
fn finish(shared: &Shared, batch: &mut Vec<UsageRecord>) {
    let bytes: usize = batch.iter().map(body_len).sum();
    let mut q = shared.queue.lock();
    q.body_bytes = q.body_bytes.saturating_sub(bytes);
    q.done += batch.len() as u64;
    drop(q);
    batch.clear();
    shared.written.notify_all();
}

pub(crate) struct WriteError {
    permanent: bool,
    pub(crate) message: String,
}

/// Whether an error is about this data (retrying cannot help) rather than the connection or
/// the server's state.
fn classify(e: &tokio_postgres::Error) -> WriteError {
    let permanent = e.as_db_error().is_some_and(|db| {
        let class = &db.code().code()[..2];
        // 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 operator
        // intervention (shutdown), 58 system error: transient.
        !matches!(class, "08" | "40" | "53" | "57" | "58")
    });
    WriteError {
        permanent,
        message: e.to_string(),
    }
}

/// PostgreSQL text cannot hold NUL.
fn text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s.to_string()
    }
}

fn body_text(b: &Option<StoredJson>) -> Option<String> {
    b.as_ref().map(|b| text(&b.text()))
}

const INSERT_REQUESTS: &str = "INSERT INTO requests (id, created_ms, app, key_hash, surface, \
    endpoint, requested_model, served_model, provider, input_tokens, output_tokens, \
    reasoning_tokens, cache_read_tokens, cache_write_tokens, cost_pusd, priced, latency_ms, \
    ttft_ms, streamed, finish_reason, native_finish_reason, status, error, attempt, estimated) \
    SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], \
    $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::int8[], \
    $13::int8[], $14::int8[], $15::int8[], $16::bool[], $17::int8[], $18::int8[], $19::bool[], \
    $20::text[], $21::text[], $22::int4[], $23::text[], $24::int4[], $25::bool[]) \
    ON CONFLICT (id) DO UPDATE SET created_ms = EXCLUDED.created_ms, app = EXCLUDED.app, \
    key_hash = EXCLUDED.key_hash, surface = EXCLUDED.surface, endpoint = EXCLUDED.endpoint, \
    requested_model = EXCLUDED.requested_model, served_model = EXCLUDED.served_model, \
    provider = EXCLUDED.provider, input_tokens = EXCLUDED.input_tokens, \
    output_tokens = EXCLUDED.output_tokens, reasoning_tokens = EXCLUDED.reasoning_tokens, \
    cache_read_tokens = EXCLUDED.cache_read_tokens, \
    cache_write_tokens = EXCLUDED.cache_write_tokens, cost_pusd = EXCLUDED.cost_pusd, \
    priced = EXCLUDED.priced, latency_ms = EXCLUDED.latency_ms, ttft_ms = EXCLUDED.ttft_ms, \
    streamed = EXCLUDED.streamed, finish_reason = EXCLUDED.finish_reason, \
    native_finish_reason = EXCLUDED.native_finish_reason, status = EXCLUDED.status, \
    error = EXCLUDED.error, attempt = EXCLUDED.attempt, estimated = EXCLUDED.estimated";

const INSERT_BODIES: &str = "INSERT INTO request_bodies (id, request, response) \
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) \
    ON CONFLICT (id) DO UPDATE SET request = EXCLUDED.request, response = EXCLUDED.response";

fn i64s(batch: &[&UsageRecord], f: impl Fn(&UsageRecord) -> i64) -> Vec<i64> {
    batch.iter().map(|r| f(r)).collect()
}

fn texts(batch: &[&UsageRecord], f: impl Fn(&UsageRecord) -> &str) -> Vec<String> {
    batch.iter().map(|r| text(f(r))).collect()
}

fn opt_texts(
    batch: &[&UsageRecord],
    f: impl Fn(&UsageRecord) -> Option<&str>,
) -> Vec<Option<String>> {
    batch.iter().map(|r| f(r).map(text)).collect()
}

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Writes a batch in one transaction. A row id twice in one batch (a row rewritten with its
/// final state) keeps its last version: one statement cannot upsert a row twice.
pub(crate) async fn write_batch(pool: &Pool, batch: &[UsageRecord]) -> Result<(), WriteError> {
    let mut seen = std::collections::HashSet::new();
    let mut rows: Vec<&UsageRecord> = batch
        .iter()
        .rev()
        .filter(|r| seen.insert(r.id.as_str()))
        .collect();
    rows.reverse();
    let mut client = pool.get().await.map_err(|e| WriteError {
        permanent: false,
        message: e.to_string(),
    })?;
    let tx = client.transaction().await.map_err(|e| classify(&e))?;
    let ids = texts(&rows, |r| &r.id);
    tx.execute(
        INSERT_REQUESTS,
        &[
            &ids,
            &i64s(&rows, |r| r.created_ms),
            &texts(&rows, |r| &r.app),
            &texts(&rows, |r| &r.key_hash),
            &texts(&rows, |r| &r.surface),
            &texts(&rows, |r| &r.endpoint),
            &texts(&rows, |r| &r.requested_model),
            &texts(&rows, |r| &r.served_model),
            &texts(&rows, |r| &r.provider),
            &i64s(&rows, |r| tokens(r.usage.input_tokens)),
            &i64s(&rows, |r| tokens(r.usage.output_tokens)),
            &i64s(&rows, |r| tokens(r.usage.reasoning_tokens)),
            &i64s(&rows, |r| tokens(r.usage.cache_read_tokens)),
            &i64s(&rows, |r| tokens(r.usage.cache_write_tokens)),
            &i64s(&rows, |r| r.cost_pusd),
            &rows.iter().map(|r| r.priced).collect::<Vec<bool>>(),
            &i64s(&rows, |r| r.latency_ms),
            &rows.iter().map(|r| r.ttft_ms).collect::<Vec<Option<i64>>>(),
            &rows.iter().map(|r| r.streamed).collect::<Vec<bool>>(),
            &opt_texts(&rows, |r| r.finish_reason.as_deref()),
            &opt_texts(&rows, |r| r.native_finish_reason.as_deref()),
            &rows
                .iter()
                .map(|r| i32::from(r.status))
                .collect::<Vec<i32>>(),
            &opt_texts(&rows, |r| r.error.as_deref()),
            &rows.iter().map(|r| r.attempt as i32).collect::<Vec<i32>>(),
            &rows.iter().map(|r| r.estimated).collect::<Vec<bool>>(),
        ],
    )
    .await
    .map_err(|e| classify(&e))?;
    let with_bodies: Vec<&UsageRecord> = rows
        .iter()
        .copied()
        .filter(|r| r.request_body.is_some() || r.response_body.is_some())
        .collect();
    if !with_bodies.is_empty() {
        tx.execute(
            INSERT_BODIES,
            &[
                &texts(&with_bodies, |r| &r.id),
                &with_bodies
                    .iter()
                    .map(|r| body_text(&r.request_body))
                    .collect::<Vec<_>>(),
                &with_bodies
                    .iter()
                    .map(|r| body_text(&r.response_body))
                    .collect::<Vec<_>>(),
            ],
        )
        .await
        .map_err(|e| classify(&e))?;
    }
    tx.commit().await.map_err(|e| classify(&e))
}
