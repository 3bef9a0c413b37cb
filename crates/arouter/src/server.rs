//! Runs the router: opens the ledger and keychain, binds, serves until shutdown, drains
//! in-flight requests (bounded) and flushes the ledger. Also watches `config.toml` for edits and
//! runs the Message Batches worker.

use crate::batches::BatchWorker;
use anyhow::Context;
use arouter_core::app::App;
use arouter_core::config::Config;
use arouter_store::{KeyringSecrets, ManageStore, PgStore, SqliteStore};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long in-flight requests may run after shutdown was asked for.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long running batch requests may finish after shutdown was asked for; the others stay
/// pending and run after the next start.
const BATCH_GRACE: Duration = Duration::from_secs(10);

pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    pub config: Config,
}

/// A bound, not yet serving router.
pub struct Bound {
    pub app: Arc<App>,
    pub store: Arc<SqliteStore>,
    pub listener: tokio::net::TcpListener,
    pub addr: SocketAddr,
}

/// Opens the stores and binds the listening socket.
pub async fn bind(opts: ServeOptions) -> anyhow::Result<Bound> {
    opts.config
        .server
        .check_exposure()
        .map_err(anyhow::Error::msg)?;
    let store = SqliteStore::open(&arouter_store::db_path(&opts.data_dir))?;
    let secrets = Arc::new(KeyringSecrets::new());
    std::thread::spawn(|| {
        if let Err(msg) = KeyringSecrets::probe() {
            tracing::warn!("{msg}");
        }
    });
    let addr = format!("{}:{}", opts.config.server.host, opts.config.server.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is another ARouter running?)"))?;
    let addr = listener.local_addr()?;
    let app = App::new(
        opts.config,
        opts.config_path,
        opts.data_dir,
        store.clone(),
        secrets,
    )?;
    Ok(Bound {
        app,
        store,
        listener,
        addr,
    })
}

/// A bound router in team mode: keys, limits and the ledger in PostgreSQL.
pub struct TeamBound {
    pub app: Arc<App>,
    pub store: Arc<PgStore>,
    pub listener: tokio::net::TcpListener,
    pub addr: SocketAddr,
}

/// What `serve` runs: the embedded SQLite store, or team mode.
pub enum Serving {
    Local(Bound),
    Team(TeamBound),
}

impl Serving {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Serving::Local(b) => b.addr,
            Serving::Team(b) => b.addr,
        }
    }
}

/// Binds with the store the config names: PostgreSQL when `AROUTER_DATABASE_URL` or
/// `[storage] url` is set, else the SQLite file in the data dir.
pub async fn bind_any(opts: ServeOptions) -> anyhow::Result<Serving> {
    opts.config
        .server
        .check_exposure()
        .map_err(anyhow::Error::msg)?;
    // Bad TLS files stop the start here, before anything listens.
    if let (Some(cert), Some(key)) = (&opts.config.server.tls_cert, &opts.config.server.tls_key) {
        arouter_core::http::tls::acceptor(cert, key).map_err(anyhow::Error::msg)?;
    }
    if opts.config.server.public && opts.config.server.allowed_hosts.is_empty() {
        tracing::warn!(
            "public mode with no [server] allowed_hosts: only loopback names and the bind \
             address are accepted in the Host header"
        );
    }
    let Some(url) = opts.config.storage.effective_url() else {
        return Ok(Serving::Local(bind(opts).await?));
    };
    let listen = opts.config.storage.listen;
    let store = tokio::task::spawn_blocking(move || PgStore::open_with(&url, listen)).await??;
    let secrets = Arc::new(KeyringSecrets::new());
    let addr = format!("{}:{}", opts.config.server.host, opts.config.server.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is another ARouter running?)"))?;
    let addr = listener.local_addr()?;
    let app = App::new(
        opts.config,
        opts.config_path,
        opts.data_dir,
        store.clone(),
        secrets,
    )?;
    Ok(Serving::Team(TeamBound {
        app,
        store,
        listener,
        addr,
    }))
}

/// Serves either kind of bound router until `shutdown` resolves.
pub async fn run_any(
    serving: Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match serving {
        Serving::Local(b) => run(b, shutdown).await,
        Serving::Team(b) => run_team(b, shutdown).await,
    }
}

/// Team mode's serve loop: no batch worker (see [`crate::team`]); drains
/// in-flight requests, then writes the queued ledger rows to PostgreSQL.
async fn run_team(
    bound: TeamBound,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let TeamBound {
        app,
        store,
        listener,
        ..
    } = bound;
    let watcher = spawn_config_watcher(app.clone());
    let model_facts = spawn_model_facts(app.clone());
    let purger = spawn_team_body_purger(app.clone(), store.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(arouter_core::http::serve(
        app.clone(),
        crate::team::routes(),
        listener,
        async move {
            let _ = stop_rx.await;
        },
    ));
    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(());
    let drained = async {
        server_ended(server).await;
        app.settled().await;
    };
    drain(drained).await;
    for task in [watcher, model_facts, purger] {
        task.abort();
    }
    let s = store.clone();
    let dropped = tokio::task::spawn_blocking(move || {
        s.shutdown();
        s.dropped_records()
    });
    ledger_written(dropped.await?, "ledger written to PostgreSQL; bye");
    Ok(())
}

/// Serves until `shutdown` resolves; then drains for at most [`DRAIN_TIMEOUT`] and flushes
/// the ledger.
pub async fn run(
    bound: Bound,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Bound {
        app,
        store,
        listener,
        ..
    } = bound;
    let watcher = spawn_config_watcher(app.clone());
    let purger = spawn_body_purger(app.clone(), store.clone());
    let model_facts = spawn_model_facts(app.clone());
    let worker = BatchWorker::start(app.clone(), store.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let extra = crate::routes_with_batches(store.clone(), worker.waker());
    let server = tokio::spawn(arouter_core::http::serve(
        app.clone(),
        extra,
        listener,
        async move {
            let _ = stop_rx.await;
        },
    ));
    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(());
    let drained = async {
        tokio::join!(server_ended(server), worker.stop(BATCH_GRACE));
        // Streams whose client left may still be finishing their ledger rows.
        app.settled().await;
    };
    drain(drained).await;
    for task in [watcher, purger, model_facts] {
        task.abort();
    }
    let s = store.clone();
    let dropped = tokio::task::spawn_blocking(move || {
        s.shutdown();
        s.dropped_records()
    });
    ledger_written(dropped.await?, "ledger flushed; bye");
    Ok(())
}

/// Logs how the server task ended.
async fn server_ended(server: tokio::task::JoinHandle<std::io::Result<()>>) {
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("server error: {e}"),
        Err(e) => tracing::error!("server task failed: {e}"),
    }
}

/// Waits for in-flight requests for at most [`DRAIN_TIMEOUT`].
async fn drain(drained: impl Future<Output = ()>) {
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        tracing::warn!("in-flight requests still running after {DRAIN_TIMEOUT:?}; stopping");
    }
}

/// The last word on the ledger after its writer stopped.
fn ledger_written(dropped: u64, bye: &str) {
    if dropped > 0 {
        tracing::error!("{dropped} usage records could not be written");
    }
    tracing::info!("{bye}");
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Deletes stored bodies older than `server.body_retention_days` (0 keeps them), at start and
/// hourly.
fn spawn_body_purger(app: Arc<App>, store: Arc<SqliteStore>) -> tokio::task::JoinHandle<()> {
    spawn_purger(app, move |before| store.purge_bodies(before))
}

/// Team mode's purger: the same retention, applied to PostgreSQL.
fn spawn_team_body_purger(app: Arc<App>, store: Arc<PgStore>) -> tokio::task::JoinHandle<()> {
    spawn_purger(app, move |before| store.purge_bodies(before))
}

fn spawn_purger(
    app: Arc<App>,
    purge: impl Fn(i64) -> anyhow::Result<u64> + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    let purge = Arc::new(purge);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let days = app.config().server.body_retention_days;
            if days == 0 {
                continue;
            }
            let now_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let before = now_ms - (days as i64) * 86_400_000;
            let p = purge.clone();
            match tokio::task::spawn_blocking(move || p(before)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!("purged {n} stored bodies older than {days} days"),
                Ok(Err(e)) => tracing::warn!("cannot purge old stored bodies: {e}"),
                Err(e) => tracing::warn!("body purge failed: {e}"),
            }
        }
    })
}

fn mtime(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Re-reads `config.toml` when it changes on disk; an invalid file is refused with a
/// field-named error and the running config stays. Host and port changes need a restart.
/// Also drops cached keychain credentials when the CLI signals a `providers set-key`.
fn spawn_config_watcher(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let path = app.config_path.clone();
        let mut last = mtime(&path);
        let signal = app.data_dir.join(crate::paths::CREDENTIALS_CHANGED);
        // The stamp inside as well as the mtime: two set-keys within a coarse mtime tick
        // (1 s on some file systems) still differ.
        let stamp = |p: &std::path::Path| (mtime(p), std::fs::read(p).ok());
        let mut last_signal = stamp(&signal);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let signalled = stamp(&signal);
            if signalled != last_signal {
                last_signal = signalled;
                for id in app.config().providers.keys() {
                    app.forget_credential(id);
                }
                tracing::info!("provider credentials changed: cached keychain entries dropped");
            }
            let now = mtime(&path);
            if now == last {
                continue;
            }
            last = now;
            let p = path.clone();
            let loaded = tokio::task::spawn_blocking(move || Config::load(&p)).await;
            match loaded {
                Ok(Ok(mut cfg)) => {
                    let running = app.config();
                    warn_restart_needed(&running.server, &cfg.server);
                    cfg.server.host = running.server.host.clone();
                    cfg.server.port = running.server.port;
                    app.replace_config(cfg);
                    tracing::info!("config reloaded from {}", path.display());
                }
                Ok(Err(e)) => tracing::error!("config not reloaded, keeping the running one: {e}"),
                Err(e) => tracing::error!("config reload failed: {e}"),
            }
        }
    })
}

/// Connection settings are read once at start: says so when an edit changes one (host and
/// port too, but the watcher keeps the running ones and says nothing).
fn warn_restart_needed(
    running: &arouter_core::config::ServerConfig,
    new: &arouter_core::config::ServerConfig,
) {
    // Host and port are left out: the command line may override them.
    let changed: Vec<&str> = [
        (
            "header_timeout_secs",
            running.header_timeout_secs != new.header_timeout_secs,
        ),
        (
            "idle_timeout_secs",
            running.idle_timeout_secs != new.idle_timeout_secs,
        ),
        (
            "body_timeout_secs",
            running.body_timeout_secs != new.body_timeout_secs,
        ),
        (
            "max_connections",
            running.max_connections != new.max_connections,
        ),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect();
    if !changed.is_empty() {
        tracing::warn!(
            "server.{} changed in the config: read at start only, restart arouter to apply",
            changed.join(", server.")
        );
    }
}

/// Live model facts, off the request path: installs the cached provider lists, refreshes
/// the remote providers' lists once (bounded per provider; local servers are free and are
/// refreshed on demand only), then re-installs the cache when `arouter models refresh` or
/// a config reload changes what applies.
fn spawn_model_facts(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    use arouter_core::catalog::{is_local, live, refresh, Catalog};
    tokio::spawn(async move {
        // Parse the bundled catalog now, on a blocking thread, so the first request does not.
        let _ = tokio::task::spawn_blocking(|| Catalog::bundled().entries().len()).await;
        let a = app.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || refresh::load_cached(&a)).await {
            tracing::warn!("model cache not used: {e}");
        }
        let cfg = app.config();
        if cfg.providers.values().any(|p| !is_local(p)) {
            let report = refresh::refresh_remote(&app).await;
            for p in report.providers.iter().filter(|p| !p.ok) {
                tracing::info!(provider = %p.provider, "model list not refreshed: {}", p.error.as_deref().unwrap_or(""));
            }
        }
        let path = live::cache_path(&app.data_dir);
        let mut last = (mtime(&path), app.config());
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            let now = (mtime(&path), app.config());
            if now.0 == last.0 && Arc::ptr_eq(&now.1, &last.1) {
                continue;
            }
            last = now;
            let a = app.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || refresh::load_cached(&a)).await
            {
                tracing::warn!("model cache not reloaded: {e}");
            }
        }
    })
}
