//! A memo of [`super::pricing`] per config generation: the catalog lookups behind a price
//! (name normalisation, date-suffix and alias tries over ~1,200 models, live data) run once per
//! provider and model instead of once per request.

use super::Pricing;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bumped whenever live provider facts change, so memoised prices made before are recomputed.
static LIVE_GENERATION: AtomicU64 = AtomicU64::new(0);

pub(super) fn live_changed() {
    LIVE_GENERATION.fetch_add(1, Ordering::Release);
}

/// Model names are caller-chosen (`provider/anything`): the memo stops growing here and
/// further names are priced without it.
const MAX_ENTRIES: usize = 4096;

type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// Lives in a [`crate::config::Config`], so a config reload starts an empty one. It takes no
/// part in the config's equality and is not copied by a clone.
#[derive(Default)]
pub struct PricingMemo {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    len: usize,
    by_provider: Map<Map<Pricing>>,
}

impl PricingMemo {
    pub(super) fn get_or(
        &self,
        provider: &str,
        model: &str,
        compute: impl FnOnce() -> Pricing,
    ) -> Pricing {
        let generation = LIVE_GENERATION.load(Ordering::Acquire);
        {
            let inner = self.inner.read();
            if inner.generation == generation {
                if let Some(p) = inner.by_provider.get(provider).and_then(|m| m.get(model)) {
                    return p.clone();
                }
            }
        }
        let pricing = compute();
        let mut inner = self.inner.write();
        if inner.generation != generation {
            *inner = Inner {
                generation,
                ..Inner::default()
            };
        }
        if inner.len < MAX_ENTRIES {
            let models = inner.by_provider.entry(provider.to_string()).or_default();
            if models.insert(model.to_string(), pricing.clone()).is_none() {
                inner.len += 1;
            }
        }
        pricing
    }
}

impl Clone for PricingMemo {
    fn clone(&self) -> Self {
        PricingMemo::default()
    }
}

impl PartialEq for PricingMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for PricingMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PricingMemo")
    }
}
