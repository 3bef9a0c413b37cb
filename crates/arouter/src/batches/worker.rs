//! The batch worker: runs the requests of batches kept here through the Messages request path
//! (at most [`CONCURRENCY`] at a time), settles canceled and expired ones, ends finished
//! batches, and picks up unfinished batches after a restart.

use super::{blocking, errored};
use arouter_core::app::App;
use arouter_core::auth::Caller;
use arouter_core::error::{ApiError, ErrorKind};
use arouter_core::http::respond::Surface;
use arouter_core::http::Ctx;
use arouter_core::limits::RateDecision;
use arouter_core::record::now_ms;
use arouter_core::surfaces::anthropic;
use arouter_store::batches::{self as state, PendingRequest};
use arouter_store::BatchStore;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Requests run at the same time, over all batches.
pub const CONCURRENCY: usize = 4;
/// How often the worker looks for expired batches when nothing wakes it.
const IDLE_TICK: Duration = Duration::from_secs(5);

/// Wakes the worker (a batch was created or canceled).
#[derive(Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The running worker task.
pub struct BatchWorker {
    waker: Waker,
    /// Set to the grace period once the worker must stop.
    stop: watch::Sender<Option<Duration>>,
    task: tokio::task::JoinHandle<()>,
}

impl BatchWorker {
    /// Starts working off every unfinished batch in the store, including those of a previous
    /// run.
    pub fn start(app: Arc<App>, store: Arc<dyn BatchStore>) -> BatchWorker {
        let waker = Waker::default();
        let (stop, stopped) = watch::channel(None);
        let task = tokio::spawn(run(app, store, waker.clone(), stopped));
        BatchWorker { waker, stop, task }
    }

    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Stops taking requests, lets running ones finish for up to `grace`, then abandons them
    /// (they stay pending and run again after a restart).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        let mut task = self.task;
        if tokio::time::timeout(grace + Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// Requests in flight: task id → (batch id, index).
type Running = HashMap<tokio::task::Id, (String, i64)>;

async fn run(
    app: Arc<App>,
    store: Arc<dyn BatchStore>,
    waker: Waker,
    mut stopped: watch::Receiver<Option<Duration>>,
) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut running = Running::new();
    while stopped.borrow().is_none() {
        if let Err(e) = settle(&store, &running).await {
            tracing::error!("batch worker: settling batches failed: {}", e.message);
        }
        if let Err(e) = fill(&app, &store, &mut tasks, &mut running).await {
            tracing::error!(
                "batch worker: reading pending requests failed: {}",
                e.message
            );
        }
        tokio::select! {
            _ = waker.0.notified() => {}
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => finished(&mut running, done),
            _ = stopped.changed() => {}
            _ = tokio::time::sleep(IDLE_TICK) => {}
        }
    }
    let grace = stopped.borrow().unwrap_or_default();
    drain(tasks, running, grace).await;
}

fn finished(running: &mut Running, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
    let id = match done {
        Ok((id, ())) => id,
        Err(e) => {
            // Its request stays pending and is tried again.
            tracing::error!("batch request task failed: {e}");
            e.id()
        }
    };
    running.remove(&id);
}

/// Waits for running requests up to `grace`; the rest are aborted and stay pending.
async fn drain(mut tasks: JoinSet<()>, mut running: Running, grace: Duration) {
    let waited = tokio::time::timeout(grace, async {
        while let Some(done) = tasks.join_next_with_id().await {
            finished(&mut running, done);
        }
    })
    .await;
    if waited.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "batch requests still running at shutdown; they run again after a restart"
        );
        tasks.abort_all();
    }
}

/// Cancels or expires the waiting requests of canceling / overdue batches, then ends them
/// once nothing of theirs runs.
async fn settle(store: &Arc<dyn BatchStore>, running: &Running) -> Result<(), ApiError> {
    let now = now_ms();
    let due = blocking(store, move |s| s.batches_to_settle(now)).await?;
    for (id, status) in due {
        let busy: Vec<i64> = running
            .values()
            .filter(|(b, _)| *b == id)
            .map(|(_, i)| *i)
            .collect();
        blocking(store, move |s| {
            s.settle_requests(&id, status, &busy)?;
            s.end_batch_if_done(&id, now_ms())
        })
        .await?;
    }
    Ok(())
}

/// Starts pending requests until [`CONCURRENCY`] run.
async fn fill(
    app: &Arc<App>,
    store: &Arc<dyn BatchStore>,
    tasks: &mut JoinSet<()>,
    running: &mut Running,
) -> Result<(), ApiError> {
    let free = CONCURRENCY.saturating_sub(running.len());
    if free == 0 {
        return Ok(());
    }
    let want = free + running.len();
    let pending = blocking(store, move |s| s.pending_requests(want)).await?;
    let busy: Vec<(String, i64)> = running.values().cloned().collect();
    for req in pending
        .into_iter()
        .filter(|r| !busy.iter().any(|(b, i)| *b == r.batch_id && *i == r.idx))
        .take(free)
    {
        let key = (req.batch_id.clone(), req.idx);
        let handle = tasks.spawn(execute(app.clone(), store.clone(), req));
        running.insert(handle.id(), key);
    }
    Ok(())
}

/// Runs one request and stores its result; ends the batch if it was the last.
async fn execute(app: Arc<App>, store: Arc<dyn BatchStore>, req: PendingRequest) {
    let (status, result) = outcome(&app, &req).await;
    let (id, idx) = (req.batch_id.clone(), req.idx);
    let saved = blocking(&store, move |s| {
        s.finish_request(&id, idx, status, &result)?;
        s.end_batch_if_done(&id, now_ms())
    })
    .await;
    if let Err(e) = saved {
        tracing::error!(batch = %req.batch_id, idx, "cannot store a batch result: {}", e.message);
    }
}

async fn outcome(app: &Arc<App>, req: &PendingRequest) -> (&'static str, Value) {
    let ctx = match context(app, req).await {
        Ok(ctx) => ctx,
        Err(e) => return (state::ERRORED, errored(Surface::Anthropic.error_body(&e))),
    };
    match anthropic::run_unary(&ctx, req.params.clone(), "batch").await {
        Ok(message) => (
            state::SUCCEEDED,
            json!({"type": "succeeded", "message": message}),
        ),
        Err(body) => (state::ERRORED, errored(body)),
    }
}

/// The request context of the key that created the batch, with its Anthropic headers.
async fn context(app: &Arc<App>, req: &PendingRequest) -> Result<Ctx, ApiError> {
    let mut key = app.store.find_key(&req.key_hash);
    if key.is_none() {
        let s = app.store.clone();
        let hash = req.key_hash.clone();
        key = tokio::task::spawn_blocking(move || {
            s.reload_keys();
            s.find_key(&hash)
        })
        .await
        .ok()
        .flatten();
    }
    let key = key.filter(|k| !k.disabled).ok_or_else(|| {
        ApiError::new(
            ErrorKind::Unauthorized,
            "The API key that created this batch was deleted or disabled",
        )
    })?;
    let mut headers = HeaderMap::new();
    for (name, value) in req.headers.as_object().into_iter().flatten() {
        let parsed = (
            HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        );
        if let (Ok(n), Some(Ok(v))) = parsed {
            headers.insert(n, v);
        }
    }
    Ok(Ctx {
        app: app.clone(),
        cfg: app.config(),
        caller: Caller {
            key,
            app: req.app.clone(),
            // The create call was rate limited; its requests are not, one by one.
            rate: RateDecision {
                allowed: true,
                limit: None,
                remaining: u32::MAX,
                reset_ms: 0,
            },
        },
        headers: Arc::new(headers),
    })
}
