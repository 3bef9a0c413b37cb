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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// Bumped by every [`App::forget_credential`]: a keychain read that started before a
    /// forget does not put its (maybe stale) answer in the cache.
    keychain_epoch: AtomicU64,
    key_files: crate::key_file::KeyFiles,
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
            keychain_epoch: AtomicU64::new(0),
            key_files: crate::key_file::KeyFiles::default(),
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

    /// The provider's credential: `api_key_file` when set (a private file, re-read on change),
    /// else `api_key_env` when set (and present), else the keychain. `Ok(None)` means "no key"
    /// (fine for local servers).
    pub async fn credential(&self, p: &ProviderConfig) -> Result<Option<Arc<str>>, ApiError> {
        let file = self.config().key_files.get(&p.id).map(|f| {
            if f.is_relative() {
                let dir = self
                    .config_path
                    .parent()
                    .unwrap_or(std::path::Path::new("."));
                dir.join(f)
            } else {
                f.clone()
            }
        });
        if let Some(path) = file {
            return self.key_files.read(&path).map(Some).map_err(|e| {
                ApiError::new(
                    ErrorKind::Unavailable,
                    format!("cannot use the key file of provider \"{}\": {e}", p.id),
                )
                .with_status(503)
            });
        }
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
        let epoch = self.keychain_epoch.load(Ordering::SeqCst);
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
        let mut cache = self.keychain_cache.write();
        if self.keychain_epoch.load(Ordering::SeqCst) == epoch {
            cache.insert(p.id.clone(), value.clone());
        }
        Ok(value)
    }

    /// Forget a cached keychain entry (after it changed, or the upstream rejected it), here
    /// and in the secrets store's own cache.
    pub fn forget_credential(&self, provider: &str) {
        self.secrets.forget(provider);
        let mut cache = self.keychain_cache.write();
        self.keychain_epoch.fetch_add(1, Ordering::SeqCst);
        cache.remove(provider);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeyInfo, UsageRecord};
    use parking_lot::Mutex;

    struct NoStore;

    impl Store for NoStore {
        fn find_key(&self, _: &str) -> Option<KeyInfo> {
            None
        }
        fn reload_keys(&self) {}
        fn record(&self, _: UsageRecord) {}
        fn load_generation(&self, _: &str) -> Option<UsageRecord> {
            None
        }
        fn flush(&self) {}
        fn key_spend_pusd(&self, _: &str, _: i64) -> Result<i64, String> {
            Ok(0)
        }
    }

    /// A keychain that fails while `down` is set, and counts its reads.
    #[derive(Default)]
    struct Flaky {
        down: Mutex<bool>,
        value: Mutex<Option<String>>,
        reads: Mutex<usize>,
    }

    impl Secrets for Flaky {
        fn get(&self, _: &str) -> Result<Option<String>, String> {
            *self.reads.lock() += 1;
            if *self.down.lock() {
                return Err("no Secret Service on D-Bus".into());
            }
            Ok(self.value.lock().clone())
        }
        fn set(&self, _: &str, secret: &str) -> Result<(), String> {
            *self.value.lock() = Some(secret.into());
            Ok(())
        }
        fn delete(&self, _: &str) -> Result<(), String> {
            *self.value.lock() = None;
            Ok(())
        }
    }

    fn app(secrets: Arc<Flaky>) -> Arc<App> {
        let cfg = Config::parse(
            "[providers.remote]\nkind=\"openai\"\nbase_url=\"https://api.example.com/v1\"\n\
             [providers.local]\nkind=\"openai\"\nbase_url=\"http://127.0.0.1:11434/v1\"\n",
        )
        .unwrap();
        App::new(cfg, "c".into(), "d".into(), Arc::new(NoStore), secrets).unwrap()
    }

    #[tokio::test]
    async fn a_keychain_error_is_never_cached_as_no_credential() {
        let secrets = Arc::new(Flaky::default());
        let app = app(secrets.clone());
        let cfg = app.config();
        let (remote, local) = (&cfg.providers["remote"], &cfg.providers["local"]);
        *secrets.down.lock() = true;
        let err = app.credential(remote).await.unwrap_err();
        assert_eq!(err.status, 503);
        assert!(err.message.contains("OS keychain"), "{}", err.message);
        assert_eq!(app.credential(local).await.unwrap(), None);
        // The keychain comes back with a key: the next request reads it.
        *secrets.down.lock() = false;
        *secrets.value.lock() = Some("sk-1".into());
        assert_eq!(
            app.credential(remote).await.unwrap().as_deref(),
            Some("sk-1")
        );
        assert_eq!(
            app.credential(local).await.unwrap().as_deref(),
            Some("sk-1")
        );
        // Now cached: no more reads until the key changes and is forgotten.
        let reads = *secrets.reads.lock();
        *secrets.value.lock() = Some("sk-2".into());
        assert_eq!(
            app.credential(remote).await.unwrap().as_deref(),
            Some("sk-1")
        );
        assert_eq!(*secrets.reads.lock(), reads);
        app.forget_credential("remote");
        assert_eq!(
            app.credential(remote).await.unwrap().as_deref(),
            Some("sk-2")
        );
    }
}
