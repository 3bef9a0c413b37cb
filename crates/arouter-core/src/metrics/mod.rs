//! What the request path counts for `GET /metrics`: pre-registered atomics behind bounded
//! labels (key names, configured models and providers, fixed surfaces, HTTP statuses).
//! Names follow the OpenTelemetry GenAI semantic conventions [`SEMCONV`] where one exists
//! (`gen_ai_client_operation_duration_seconds`, `gen_ai_client_token_usage`…), translated to
//! Prometheus the way the OpenTelemetry Prometheus exporter does; the rest is `arouter_*`.

pub mod endpoint;
pub mod health;
pub mod histogram;
pub mod recent;
pub mod render;
pub mod series;

use crate::config::Config;
use crate::error::{ApiError, ErrorKind};
use crate::model::Usage;
use parking_lot::RwLock;
use series::{Labels, SeriesMap};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The semantic-conventions release the names and labels follow.
pub const SEMCONV: &str = "1.41.0";

/// The label for a model that is neither in the catalog nor configured (a caller could send
/// any name; it must not become a label value).
pub const OTHER_MODEL: &str = "other";
/// The model/provider label of a request no provider was tried for.
pub const NONE: &str = "none";

/// Why a request was refused before reaching a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RateLimit = 0,
    Budget = 1,
}

pub const REFUSAL_REASONS: [&str; 2] = ["rate_limit", "budget"];

/// Every [`ErrorKind`], in the order of [`ProviderCounters::errors`].
pub const ERROR_KINDS: [ErrorKind; 14] = [
    ErrorKind::BadRequest,
    ErrorKind::Unauthorized,
    ErrorKind::PaymentRequired,
    ErrorKind::Forbidden,
    ErrorKind::NotFound,
    ErrorKind::PayloadTooLarge,
    ErrorKind::RateLimited,
    ErrorKind::ContextLength,
    ErrorKind::UpstreamError,
    ErrorKind::Overloaded,
    ErrorKind::Unavailable,
    ErrorKind::Timeout,
    ErrorKind::Internal,
    ErrorKind::NotImplemented,
];

/// Per-provider attempt outcomes.
#[derive(Default)]
pub struct ProviderCounters {
    /// Failed upstream attempts by [`ERROR_KINDS`] index.
    pub errors: [AtomicU64; 14],
    /// Attempts given up for the next candidate.
    pub fallbacks: AtomicU64,
    /// Attempts repeated on the same provider (overload backoff).
    pub retries: AtomicU64,
    /// The last attempts, for the Health view.
    pub recent: recent::Recent,
}

/// One finished request, as the recorder saw it.
pub struct Observation<'a> {
    /// Its series; `model` already bounded by [`model_label`].
    pub labels: Labels<'a>,
    pub usage: &'a Usage,
    pub cost_pusd: i64,
    pub duration_us: u64,
    /// Streams that produced output only.
    pub ttft_us: Option<u64>,
}

/// The registry the app holds.
#[derive(Default)]
pub struct Metrics {
    series: SeriesMap,
    providers: RwLock<HashMap<Box<str>, Arc<ProviderCounters>>>,
    refusals: RwLock<HashMap<Box<str>, Arc<[AtomicU64; 2]>>>,
}

fn entry<V: Default>(map: &RwLock<HashMap<Box<str>, Arc<V>>>, k: &str) -> Arc<V> {
    if let Some(v) = map.read().get(k) {
        return v.clone();
    }
    map.write().entry(k.into()).or_default().clone()
}

impl Metrics {
    pub fn observe(&self, o: &Observation<'_>) {
        let l = &o.labels;
        let s = self.series.get(l, || {
            (l.provider != NONE).then(|| entry(&self.providers, l.provider))
        });
        if let Some(p) = &s.provider {
            p.recent.record(
                now_secs(),
                l.status < 400,
                Some(o.duration_us / 1000),
                o.ttft_us.map(|t| t / 1000),
            );
        }
        s.add(&s.requests, 1);
        let u = o.usage;
        let tokens = [
            u.input_tokens,
            u.output_tokens,
            u.reasoning_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
        ];
        for (c, n) in s.tokens.iter().zip(tokens) {
            s.add(c, n);
        }
        s.add(&s.cost_pusd, o.cost_pusd.max(0) as u64);
        s.duration.record(o.duration_us);
        if let Some(t) = o.ttft_us {
            s.ttft.record(t);
        }
        if u.input_tokens > 0 || u.output_tokens > 0 {
            s.input_tokens.record(u.input_tokens);
            s.output_tokens.record(u.output_tokens);
        }
    }

    /// A failed upstream attempt.
    pub fn upstream_error(&self, provider: &str, e: &ApiError) {
        let i = ERROR_KINDS.iter().position(|k| *k == e.kind).unwrap_or(0);
        entry(&self.providers, provider).errors[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn fallback(&self, provider: &str) {
        let p = entry(&self.providers, provider);
        p.fallbacks.fetch_add(1, Ordering::Relaxed);
        p.recent.record(now_secs(), false, None, None);
    }

    pub fn retry(&self, provider: &str) {
        let p = entry(&self.providers, provider);
        p.retries.fetch_add(1, Ordering::Relaxed);
        p.recent.record(now_secs(), false, None, None);
    }

    /// A provider's recent attempts.
    pub fn recent(&self, provider: &str) -> recent::RecentStats {
        let now = now_secs();
        self.providers.read().get(provider).map_or_else(
            || recent::Recent::default().stats(now),
            |p| p.recent.stats(now),
        )
    }

    /// A request refused for its key's rate limit or budget.
    pub fn refused(&self, key: &str, why: Refusal) {
        entry(&self.refusals, key)[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn series(&self) -> &SeriesMap {
        &self.series
    }

    pub(crate) fn provider_counters(&self) -> Vec<(String, Arc<ProviderCounters>)> {
        let mut v: Vec<_> = self
            .providers
            .read()
            .iter()
            .map(|(k, c)| (k.to_string(), c.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub(crate) fn refusal_counters(&self) -> Vec<(String, [u64; 2])> {
        let mut v: Vec<_> = self
            .refusals
            .read()
            .iter()
            .map(|(k, c)| {
                (
                    k.to_string(),
                    [c[0].load(Ordering::Relaxed), c[1].load(Ordering::Relaxed)],
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

fn now_secs() -> u64 {
    (crate::clock::now_ms() / 1000).max(0) as u64
}

/// The `gen_ai.operation.name` of an endpoint.
pub fn operation_name(endpoint: &str) -> &'static str {
    match endpoint {
        e if e.contains("embed") => "embeddings",
        "completions" => "text_completion",
        "generateContent" | "streamGenerateContent" => "generate_content",
        e if e.contains("count") => "count_tokens",
        _ => "chat",
    }
}

/// A surface name as a static label value.
pub fn surface_label(surface: &str) -> &'static str {
    match surface {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "gemini" => "gemini",
        "proxy" => "proxy",
        _ => "other",
    }
}

/// The provider label: a configured provider id, else [`NONE`].
pub fn provider_label<'a>(cfg: &Config, provider: &'a str) -> &'a str {
    if cfg.providers.contains_key(provider) {
        provider
    } else {
        NONE
    }
}

/// The model label: the served ARouter id (`provider/model`) when the catalog knows it
/// (`in_catalog`) or the config names it (a provider's `models` list, a `[models]` override),
/// [`OTHER_MODEL`] otherwise, [`NONE`] when no provider was tried.
pub fn model_label<'a>(cfg: &Config, provider: &str, served: &'a str, in_catalog: bool) -> &'a str {
    if served.is_empty() {
        return NONE;
    }
    let configured = || {
        cfg.models.contains_key(served)
            || served
                .strip_prefix(provider)
                .and_then(|m| m.strip_prefix('/'))
                .zip(cfg.providers.get(provider))
                .is_some_and(|(m, p)| p.models.iter().any(|x| x == m))
    };
    if in_catalog || configured() {
        served
    } else {
        OTHER_MODEL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded() {
        let cfg = Config::parse(
            "[providers.local]\nkind=\"openai\"\nbase_url=\"http://127.0.0.1:1/v1\"\nmodels=[\"llama\"]\n",
        )
        .unwrap();
        assert_eq!(
            model_label(&cfg, "local", "local/llama", false),
            "local/llama"
        );
        assert_eq!(
            model_label(&cfg, "local", "local/whatever", false),
            OTHER_MODEL
        );
        assert_eq!(
            model_label(&cfg, "local", "local/whatever", true),
            "local/whatever"
        );
        assert_eq!(model_label(&cfg, "", "", false), NONE);
        assert_eq!(provider_label(&cfg, "local"), "local");
        assert_eq!(provider_label(&cfg, "nope"), NONE);
        assert_eq!(operation_name("embeddings"), "embeddings");
        assert_eq!(operation_name("chat"), "chat");
        assert_eq!(surface_label("x-title-anything"), "other");
    }
}
