//! The in-process router: the same data dir, config and server as the headless `arouter
//! serve`, started on the desktop app's own tokio runtime, plus a per-launch admin session key
//! so the window opens the dashboard already signed in.

use anyhow::Context;
use arouter::paths;
use arouter::server::{self, ServeOptions};
use arouter_core::app::App;
use arouter_store::{Backend, ManageStore};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Names of the desktop window's admin keys; one per launch, older ones are deleted.
pub const SESSION_KEY_PREFIX: &str = "desktop-session-";

/// Where and how to start, from the same flags' environment variables as `arouter serve`.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub data_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<String>,
}

impl Launch {
    /// `AROUTER_DATA_DIR`, `AROUTER_CONFIG`, `AROUTER_HOST`, `AROUTER_PORT`.
    pub fn from_env() -> Launch {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Launch {
            data_dir: var("AROUTER_DATA_DIR").map(PathBuf::from),
            config: var("AROUTER_CONFIG").map(PathBuf::from),
            host: var("AROUTER_HOST"),
            port: var("AROUTER_PORT"),
        }
    }
}

/// The router as the desktop shell sees it: serving, or why it is not.
pub enum RouterState {
    Running(Running),
    /// A message for the user (port taken, invalid config, …).
    Failed(String),
}

impl RouterState {
    pub fn running(&self) -> Option<&Running> {
        match self {
            RouterState::Running(r) => Some(r),
            RouterState::Failed(_) => None,
        }
    }
}

/// A serving router and what the shell needs to drive it.
pub struct Running {
    pub app: Arc<App>,
    pub store: Arc<dyn Backend>,
    /// `http://127.0.0.1:8402` (no trailing slash).
    pub base_url: String,
    session_key: String,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<anyhow::Result<()>>>>,
}

impl Running {
    /// The web UI, signed in with this launch's admin session key.
    pub fn dashboard_url(&self) -> String {
        format!("{}/ui/#token={}", self.base_url, self.session_key)
    }

    /// Stops accepting requests, drains in-flight ones (bounded by the server's drain
    /// timeout) and flushes the ledger. Safe to call more than once.
    pub fn shutdown(&self, rt: &Runtime) {
        if let Some(stop) = self.stop.lock().take() {
            let _ = stop.send(());
        }
        let Some(task) = self.task.lock().take() else {
            return;
        };
        let limit = server::DRAIN_TIMEOUT + Duration::from_secs(5);
        match rt.block_on(async { tokio::time::timeout(limit, task).await }) {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!("router stopped with an error: {e:#}"),
            Ok(Err(e)) => tracing::error!("router task failed: {e}"),
            Err(_) => tracing::error!("router did not stop within {limit:?}"),
        }
    }
}

/// Starts the router on `rt`; never fails: a failure becomes [`RouterState::Failed`].
pub fn start(rt: &Runtime, launch: Launch) -> RouterState {
    match try_start(rt, launch) {
        Ok(running) => {
            tracing::info!("ARouter listening on {}", running.base_url);
            RouterState::Running(running)
        }
        Err(e) => {
            let message = format!("{e:#}");
            tracing::error!("ARouter is not running: {message}");
            RouterState::Failed(message)
        }
    }
}

fn try_start(rt: &Runtime, launch: Launch) -> anyhow::Result<Running> {
    let data_dir = paths::data_dir(launch.data_dir)?;
    let config_path = paths::config_path(launch.config, &data_dir);
    let mut config = paths::load_or_init(&data_dir, &config_path)?;
    if let Some(host) = launch.host {
        config.server.host = host;
    }
    if let Some(port) = launch.port {
        config.server.port = port
            .parse()
            .with_context(|| format!("AROUTER_PORT: \"{port}\" is not a port number"))?;
    }
    let bound = rt.block_on(server::bind(ServeOptions {
        data_dir,
        config_path,
        config,
    }))?;
    let session_key = rotate_session_key(&*bound.store)?;
    let (app, store, base_url) = (bound.app.clone(), bound.store.clone(), base_url(bound.addr));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = rt.spawn(server::run(bound, async move {
        let _ = stop_rx.await;
    }));
    Ok(Running {
        app,
        store,
        base_url,
        session_key,
        stop: Mutex::new(Some(stop_tx)),
        task: Mutex::new(Some(task)),
    })
}

/// The URL clients use: a wildcard bind address is reached through loopback.
pub fn base_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        addr.set_ip(loopback);
    }
    format!("http://{addr}")
}

/// Deletes the admin keys earlier launches made for their window and creates this launch's.
/// The raw key lives only in this process's memory.
pub fn rotate_session_key(store: &dyn ManageStore) -> anyhow::Result<String> {
    for key in store.list_keys()? {
        if key.name.starts_with(SESSION_KEY_PREFIX) {
            store.delete_key(&key.hash)?;
        }
    }
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (raw, _) = store.create_key(&format!("{SESSION_KEY_PREFIX}{secs}"), true, None, None)?;
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn launch(dir: &std::path::Path, port: &str) -> Launch {
        Launch {
            data_dir: Some(dir.to_path_buf()),
            config: None,
            host: Some("127.0.0.1".into()),
            port: Some(port.into()),
        }
    }

    #[test]
    fn wildcard_binds_are_reached_through_loopback() {
        assert_eq!(
            base_url("0.0.0.0:8402".parse().unwrap()),
            "http://127.0.0.1:8402"
        );
        assert_eq!(base_url("[::]:9".parse().unwrap()), "http://[::1]:9");
        assert_eq!(
            base_url("127.0.0.1:8402".parse().unwrap()),
            "http://127.0.0.1:8402"
        );
    }

    #[test]
    fn serves_pauses_and_rotates_the_session_key() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        let RouterState::Running(first) = start(&rt, launch(dir.path(), "0")) else {
            panic!("router did not start");
        };
        let first_key = first
            .dashboard_url()
            .split("#token=")
            .nth(1)
            .unwrap()
            .to_string();
        let http = reqwest::Client::new();
        let chat = |key: String, base: String| {
            let http = http.clone();
            async move {
                http.post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(key)
                    .json(&serde_json::json!({"model": "nope/x", "messages": []}))
                    .send()
                    .await
                    .unwrap()
            }
        };
        let health = rt
            .block_on(http.get(format!("{}/healthz", first.base_url)).send())
            .unwrap();
        assert_eq!(health.status(), 200);

        first
            .app
            .paused
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let paused = rt.block_on(chat(first_key.clone(), first.base_url.clone()));
        assert_eq!(paused.status(), 503);
        let body = rt.block_on(paused.text()).unwrap();
        assert!(body.contains("routing is paused"), "{body}");
        first
            .app
            .paused
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let resumed = rt.block_on(chat(first_key.clone(), first.base_url.clone()));
        assert_ne!(resumed.status(), 503);

        first.shutdown(&rt);
        assert!(arouter_store::db_path(dir.path()).exists());
        assert!(dir.path().join("config.toml").exists());

        let RouterState::Running(second) = start(&rt, launch(dir.path(), "0")) else {
            panic!("router did not restart");
        };
        let sessions: Vec<_> = second
            .store
            .list_keys()
            .unwrap()
            .into_iter()
            .filter(|k| k.name.starts_with(SESSION_KEY_PREFIX))
            .collect();
        assert_eq!(sessions.len(), 1, "the previous launch's key is deleted");
        assert!(sessions[0].admin);
        let stale = rt.block_on(chat(first_key, second.base_url.clone()));
        assert_eq!(stale.status(), 401);
        second.shutdown(&rt);
    }

    #[test]
    fn a_taken_port_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let rt = runtime();
        match start(&rt, launch(dir.path(), &port)) {
            RouterState::Failed(msg) => assert!(msg.contains("cannot listen"), "{msg}"),
            RouterState::Running(_) => panic!("bound a taken port"),
        }
        match start(&rt, launch(dir.path(), "eighty")) {
            RouterState::Failed(msg) => assert!(msg.contains("AROUTER_PORT"), "{msg}"),
            RouterState::Running(_) => panic!("accepted a bad port"),
        }
    }
}
