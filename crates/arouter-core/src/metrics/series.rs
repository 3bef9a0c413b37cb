//! The per-request series: one set of atomics per (key name, model, provider, surface,
//! status), found by a hash of borrowed labels under a read lock, so a request that hits an
//! existing series allocates nothing. Label values are bounded by the caller (key names,
//! configured models and providers, fixed surfaces, HTTP statuses).

use super::histogram::{self, Histogram};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The labels of one request series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Labels<'a> {
    pub key: &'a str,
    pub model: &'a str,
    pub provider: &'a str,
    pub surface: &'static str,
    /// `gen_ai.operation.name`.
    pub operation: &'static str,
    pub status: u16,
}

/// The same labels, owned by a series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OwnedLabels {
    pub key: Box<str>,
    pub model: Box<str>,
    pub provider: Box<str>,
    pub surface: &'static str,
    pub operation: &'static str,
    pub status: u16,
}

impl OwnedLabels {
    fn matches(&self, l: &Labels<'_>) -> bool {
        *self.key == *l.key
            && *self.model == *l.model
            && *self.provider == *l.provider
            && self.surface == l.surface
            && self.operation == l.operation
            && self.status == l.status
    }
}

/// Token kinds in `arouter_tokens_total{type}` order.
pub const TOKEN_TYPES: [&str; 5] = ["input", "output", "reasoning", "cache_read", "cache_write"];

/// Everything counted for one label set.
pub struct Series {
    pub labels: OwnedLabels,
    pub requests: AtomicU64,
    /// By [`TOKEN_TYPES`].
    pub tokens: [AtomicU64; 5],
    pub cost_pusd: AtomicU64,
    /// Whole request, µs.
    pub duration: Histogram,
    /// Streams only, µs.
    pub ttft: Histogram,
    pub input_tokens: Histogram,
    pub output_tokens: Histogram,
    /// The provider's counters (none when no provider was tried), found once per series.
    pub provider: Option<Arc<super::ProviderCounters>>,
}

impl Series {
    fn new(labels: OwnedLabels, provider: Option<Arc<super::ProviderCounters>>) -> Self {
        Series {
            labels,
            requests: AtomicU64::new(0),
            tokens: Default::default(),
            cost_pusd: AtomicU64::new(0),
            duration: Histogram::new(&histogram::DURATION),
            ttft: Histogram::new(&histogram::TTFT),
            input_tokens: Histogram::new(&histogram::TOKENS),
            output_tokens: Histogram::new(&histogram::TOKENS),
            provider,
        }
    }

    pub fn add(&self, counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Every request series, keyed by a hash of its labels.
#[derive(Default)]
pub struct SeriesMap {
    map: RwLock<HashMap<u64, Vec<Arc<Series>>>>,
}

fn hash(l: &Labels<'_>) -> u64 {
    // Fixed keys: labels are bounded and not attacker-chosen, and a stable hash keeps
    // lookups free of per-map state.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    l.hash(&mut h);
    h.finish()
}

impl SeriesMap {
    /// The series for `labels`, created on first use.
    pub fn get(
        &self,
        labels: &Labels<'_>,
        provider: impl FnOnce() -> Option<Arc<super::ProviderCounters>>,
    ) -> Arc<Series> {
        let h = hash(labels);
        if let Some(s) = self
            .map
            .read()
            .get(&h)
            .and_then(|v| v.iter().find(|s| s.labels.matches(labels)))
        {
            return s.clone();
        }
        let mut map = self.map.write();
        let slot = map.entry(h).or_default();
        if let Some(s) = slot.iter().find(|s| s.labels.matches(labels)) {
            return s.clone();
        }
        let s = Arc::new(Series::new(
            OwnedLabels {
                key: labels.key.into(),
                model: labels.model.into(),
                provider: labels.provider.into(),
                surface: labels.surface,
                operation: labels.operation,
                status: labels.status,
            },
            provider(),
        ));
        slot.push(s.clone());
        s
    }

    /// Every series (for rendering), sorted by labels for a stable output.
    pub fn all(&self) -> Vec<Arc<Series>> {
        let mut v: Vec<Arc<Series>> = self.map.read().values().flatten().cloned().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_labels_share_a_series() {
        let m = SeriesMap::default();
        let l = Labels {
            key: "k",
            model: "p/m",
            provider: "p",
            surface: "openai",
            operation: "chat",
            status: 200,
        };
        let a = m.get(&l, || None);
        a.add(&a.requests, 1);
        let b = m.get(&l, || None);
        assert!(Arc::ptr_eq(&a, &b));
        let c = m.get(&Labels { status: 500, ..l }, || None);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(m.all().len(), 2);
        assert_eq!(m.all()[0].requests.load(Ordering::Relaxed), 1);
    }
}
