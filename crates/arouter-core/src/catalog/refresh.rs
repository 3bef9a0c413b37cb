//! Refreshing live model facts: asks each configured provider's model-list endpoint, with
//! bounded timeouts, and keeps what answered. A provider that fails keeps its previous list
//! (cache or bundle) and the report says why.

use super::live::{self, LiveCache, ProviderList};
use crate::app::App;
use crate::config::ProviderConfig;
use crate::providers;
use crate::upstream::{self, Body};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Method;
use serde::Serialize;
use std::time::Duration;

/// The most one provider's list may take, connect to last byte.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest list accepted (OpenRouter's is about 1 MB).
const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;

/// What a refresh did for one provider.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProviderOutcome {
    pub provider: String,
    pub ok: bool,
    /// Models listed (on success).
    pub models: usize,
    /// Of which the list gave prices for.
    pub priced: usize,
    /// Why it failed, or why nothing was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub providers: Vec<ProviderOutcome>,
    /// Where the cache was written, or why it was not.
    pub cache: String,
}

impl Report {
    pub fn all_failed(&self) -> bool {
        !self.providers.is_empty() && self.providers.iter().all(|p| !p.ok)
    }
}

/// Fetches one provider's model list.
pub async fn fetch(app: &App, p: &ProviderConfig) -> Result<Vec<live::LiveModel>, String> {
    let key = app.credential(p).await.map_err(|e| e.message)?;
    if key.is_none() && !super::is_local(p) {
        return Err("no credential (set one with `arouter providers set-key`)".into());
    }
    let list = providers::list_models_request(p, key.as_deref());
    let (uri, hdrs) = (upstream::parse_uri(&list.url)?, list.headers);
    let mut headers = HeaderMap::new();
    let configured = p.headers.iter().map(|(n, v)| (n.as_str(), v.clone()));
    for (n, v) in hdrs.into_iter().chain(configured) {
        if let Ok(v) = HeaderValue::from_str(&v) {
            if let Ok(n) = HeaderName::from_bytes(n.as_bytes()) {
                headers.insert(n, v);
            }
        }
    }
    let work = async {
        let resp = app
            .http()
            .send(Method::GET, uri, headers, Body::full(Default::default()))
            .await
            .map_err(|e| upstream::transport_error(p, &e).message)?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        while let Some(chunk) = upstream::next_chunk(&mut body).await {
            let chunk = chunk.map_err(|e| upstream::transport_error(p, &e).message)?;
            if buf.len() + chunk.len() > MAX_LIST_BYTES {
                return Err(format!("model list larger than {MAX_LIST_BYTES} bytes"));
            }
            buf.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            let excerpt: String = String::from_utf8_lossy(&buf).chars().take(200).collect();
            return Err(format!("HTTP {status}: {excerpt}"));
        }
        live::parse_model_list(&buf)
    };
    match tokio::time::timeout(PROVIDER_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no complete answer within {}s",
            PROVIDER_TIMEOUT.as_secs()
        )),
    }
}

/// Refreshes every configured provider at once, writes the cache and installs the result.
/// Providers that fail keep their previous cached list; nothing is written when all fail.
pub async fn refresh_all(app: &App) -> Report {
    refresh_where(app, |_| true).await
}

/// Refreshes the providers that are not on this machine (what start-up does).
pub async fn refresh_remote(app: &App) -> Report {
    refresh_where(app, |p| !super::is_local(p)).await
}

async fn refresh_where(app: &App, wanted: impl Fn(&ProviderConfig) -> bool) -> Report {
    let cfg = app.config();
    let fetches = cfg
        .providers
        .values()
        .filter(|p| wanted(p))
        .map(|p| async move {
            let r = fetch(app, p).await;
            (p.id.clone(), r)
        });
    let results = futures_util::future::join_all(fetches).await;
    let mut cache = {
        let dir = app.data_dir.clone();
        tokio::task::spawn_blocking(move || live::load_cache(&dir))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut outcomes = Vec::new();
    let mut changed = false;
    for (id, r) in results {
        outcomes.push(match r {
            Ok(models) => {
                let priced = models.iter().filter(|m| m.is_priced()).count();
                let n = models.len();
                cache.providers.insert(
                    id.clone(),
                    ProviderList {
                        fetched_ms: now,
                        models,
                    },
                );
                changed = true;
                ProviderOutcome {
                    provider: id,
                    ok: true,
                    models: n,
                    priced,
                    error: None,
                }
            }
            Err(e) => {
                tracing::warn!(provider = %id, "model list refresh failed: {e}");
                ProviderOutcome {
                    provider: id,
                    ok: false,
                    models: 0,
                    priced: 0,
                    error: Some(e),
                }
            }
        });
    }
    let cache_note = if changed {
        let dir = app.data_dir.clone();
        let to_save = cache.clone();
        match tokio::task::spawn_blocking(move || live::save_cache(&dir, &to_save)).await {
            Ok(Ok(())) => {
                live::install(&cfg.providers, &cache);
                live::cache_path(&app.data_dir).display().to_string()
            }
            Ok(Err(e)) => format!("not written: {e}"),
            Err(e) => format!("not written: {e}"),
        }
    } else {
        "unchanged: no provider answered".to_string()
    };
    Report {
        providers: outcomes,
        cache: cache_note,
    }
}

/// Installs the cached lists (offline start); an unreadable cache leaves the bundle in use.
pub fn load_cached(app: &App) -> Result<usize, String> {
    let cache: LiveCache = live::load_cache(&app.data_dir)?;
    live::install(&app.config().providers, &cache);
    Ok(cache.providers.len())
}
