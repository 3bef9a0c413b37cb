//! The shared state of a running router: hot-swappable config, stores, the upstream HTTP
//! client and the credential cache.

use crate::budget::Budgets;
use crate::config::{Config, ProviderConfig};
use crate::error::{ApiError, ErrorKind};
use crate::health::ProviderHealth;
use crate::limits::RateLimiter;
use crate::store::{Secrets, Store};
use arc_swap::ArcSwap;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

pub struct App {
    config: ArcSwap<Config>,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn Secrets>,
    /// Upstream clients, one per serving thread.
    http: crate::upstream::Clients,
    pub limiter: RateLimiter,
    /// Per-key USD budgets: reservations of requests in flight and spend per window.
    pub budgets: Budgets,
    /// What the request path saw of each provider lately.
    pub health: ProviderHealth,
    /// What `GET /metrics` exports.
    pub metrics: crate::metrics::Metrics,
    /// OTLP trace export (`[telemetry] otlp_endpoint`).
    pub tracer: crate::telemetry::Tracer,
    /// While set, the inbound API surfaces answer 503 "routing is paused" (the desktop tray's
    /// pause switch); the management API keeps working.
    pub paused: AtomicBool,
    /// Serializes `config.toml` edits (see `config_edit`).
    pub config_edit: parking_lot::Mutex<()>,
    /// Keychain lookups per provider id (`None` = no entry), so the request path does not
    /// touch D-Bus after the first request.
    keychain_cache: RwLock<HashMap<String, Option<Arc<str>>>>,
    /// Requests whose ledger row is not written yet (streams can outlive their connection).
    inflight: AtomicUsize,
    settled: Notify,
}

impl App {
    pub fn new(
        config: Config,
        config_path: PathBuf,
        data_dir: PathBuf,
        store: Arc<dyn Store>,
        secrets: Arc<dyn Secrets>,
    ) -> anyhow::Result<Arc<App>> {
        let http = crate::upstream::Clients::new(crate::upstream::serving_threads());
        let tracer = crate::telemetry::Tracer::default();
        tracer.configure(&config.telemetry);
        Ok(Arc::new(App {
            config: ArcSwap::from_pointee(config),
            config_path,
            data_dir,
            store,
            secrets,
            http,
            limiter: RateLimiter::default(),
            budgets: Budgets::default(),
            health: ProviderHealth::default(),
            metrics: crate::metrics::Metrics::default(),
            tracer,
            paused: AtomicBool::new(false),
            config_edit: parking_lot::Mutex::new(()),
            keychain_cache: RwLock::new(HashMap::new()),
            inflight: AtomicUsize::new(0),
            settled: Notify::new(),
        }))
    }

    /// The upstream client of the calling thread: a serving thread's own (its pooled
    /// connections are driven on that thread), else the shared one.
    pub fn http(&self) -> &crate::upstream::Client {
        self.http.get()
    }

    /// A consistent snapshot of the config for the whole of one request.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn replace_config(&self, cfg: Config) {
        self.tracer.configure(&cfg.telemetry);
        self.config.store(Arc::new(cfg));
    }

    /// The provider's credential: `api_key_env` when set (and present), else the keychain.
    /// `Ok(None)` means "no key" (fine for local servers).
    pub async fn credential(&self, p: &ProviderConfig) -> Result<Option<Arc<str>>, ApiError> {
        if let Some(var) = &p.api_key_env {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return Ok(Some(Arc::from(v)));
                }
            }
        }
        if let Some(hit) = self.keychain_cache.read().get(&p.id) {
            return Ok(hit.clone());
        }
        let secrets = self.secrets.clone();
        let id = p.id.clone();
        let got = tokio::task::spawn_blocking(move || secrets.get(&id))
            .await
            .map_err(|e| ApiError::internal(format!("keychain lookup failed: {e}")))?;
        // An error is not "no credential": it is never cached (the keychain may come back), and
        // a remote provider gets no request without its key.
        let value = match got {
            Ok(v) => v.map(Arc::from),
            // A server on this machine (Ollama…) usually needs no key: go on without one.
            Err(e) if crate::catalog::is_local(p) => {
                tracing::warn!(provider = %p.id, "keychain unavailable (local provider, going on without a key): {e}");
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(provider = %p.id, "keychain unavailable: {e}");
                return Err(ApiError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "cannot read the key for provider \"{}\" from the OS keychain: {e}",
                        p.id
                    ),
                )
                .with_status(503));
            }
        };
        self.keychain_cache
            .write()
            .insert(p.id.clone(), value.clone());
        Ok(value)
    }

    /// Forget a cached keychain entry (after it changed, or the upstream rejected it).
    pub fn forget_credential(&self, provider: &str) {
        self.keychain_cache.write().remove(provider);
    }

    pub(crate) fn request_started(&self) {
        self.inflight.fetch_add(1, Ordering::SeqCst);
    }

    /// Requests whose ledger row is not written yet.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    pub(crate) fn request_recorded(&self) {
        if self.inflight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.settled.notify_waiters();
        }
    }

    /// Waits until every started request has handed its ledger row over (for shutdown).
    pub async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            if self.inflight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Looks a provider up in a config snapshot.
    pub fn provider<'a>(cfg: &'a Config, id: &str) -> Result<&'a ProviderConfig, ApiError> {
        cfg.providers
            .get(id)
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("no provider \"{id}\"")))
    }
}
