//! Per-provider health as the request path saw it: consecutive failures, the last error and
//! when the provider last answered, for the management API's provider view.

use parking_lot::Mutex;
use std::collections::HashMap;

/// A provider's state at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthSnapshot {
    /// Failures since the last success.
    pub recent_failures: u32,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub last_error_at: Option<i64>,
    /// Unix milliseconds.
    pub last_success_at: Option<i64>,
    /// Moving average of time to first token, milliseconds (successful requests).
    pub ttft_ms: Option<f64>,
    /// Moving average of output tokens per second after the first token.
    pub tokens_per_sec: Option<f64>,
}

/// Failures in a row after which a provider cools down (is tried after healthy ones).
pub const COOLDOWN_AFTER: u32 = 3;

impl HealthSnapshot {
    /// Cooling down: failed repeatedly and recently. Cooldown grows with the failures
    /// (15 s, 30 s, 60 s… capped at 5 min); once it passes the provider is probed again.
    pub fn cooling_down(&self, now_ms: i64) -> bool {
        if self.recent_failures < COOLDOWN_AFTER {
            return false;
        }
        let steps = (self.recent_failures - COOLDOWN_AFTER).min(5);
        let window = (15_000i64 << steps).min(300_000);
        self.last_error_at.is_some_and(|t| now_ms - t < window)
    }
}

impl HealthSnapshot {
    /// `"unknown"` before any request, `"failing"` while the latest outcome is a failure,
    /// else `"ok"`.
    pub fn status(&self) -> &'static str {
        match (self.last_success_at, self.last_error_at) {
            (None, None) => "unknown",
            _ if self.recent_failures > 0 => "failing",
            _ => "ok",
        }
    }
}

/// Health of every provider that has seen traffic, keyed by provider id.
#[derive(Default)]
pub struct ProviderHealth {
    map: Mutex<HashMap<String, HealthSnapshot>>,
}

impl ProviderHealth {
    pub fn record_success(&self, provider: &str) {
        let mut map = self.map.lock();
        let h = map.entry(provider.to_string()).or_default();
        h.recent_failures = 0;
        h.last_success_at = Some(crate::clock::now_ms());
    }

    pub fn record_failure(&self, provider: &str, message: &str) {
        let mut map = self.map.lock();
        let h = map.entry(provider.to_string()).or_default();
        h.recent_failures = h.recent_failures.saturating_add(1);
        h.last_error = Some(message.to_string());
        h.last_error_at = Some(crate::clock::now_ms());
    }

    /// Folds one successful request's timings into the moving averages.
    /// `ttft_ms` is known for streams only; `gen_ms` is the time spent generating.
    pub fn record_timing(
        &self,
        provider: &str,
        ttft_ms: Option<i64>,
        output_tokens: u64,
        gen_ms: i64,
    ) {
        const ALPHA: f64 = 0.2;
        let ewma = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| o + ALPHA * (new - o)));
        let mut map = self.map.lock();
        let h = map.entry(provider.to_string()).or_default();
        if let Some(t) = ttft_ms {
            h.ttft_ms = ewma(h.ttft_ms, t.max(0) as f64);
        }
        let gen_ms = gen_ms.max(1) as f64;
        if output_tokens > 0 {
            h.tokens_per_sec = ewma(h.tokens_per_sec, output_tokens as f64 * 1000.0 / gen_ms);
        }
    }

    /// The provider's state; the default (status `unknown`) if it has seen no traffic.
    pub fn snapshot(&self, provider: &str) -> HealthSnapshot {
        self.map.lock().get(provider).cloned().unwrap_or_default()
    }

    /// Drops a provider's history (after it was removed or reconfigured).
    pub fn forget(&self, provider: &str) {
        self.map.lock().remove(provider);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_until_a_success() {
        let h = ProviderHealth::default();
        assert_eq!(h.snapshot("a").status(), "unknown");
        h.record_failure("a", "boom");
        h.record_failure("a", "boom again");
        let s = h.snapshot("a");
        assert_eq!(s.status(), "failing");
        assert_eq!(s.recent_failures, 2);
        assert_eq!(s.last_error.as_deref(), Some("boom again"));
        h.record_success("a");
        let s = h.snapshot("a");
        assert_eq!(s.status(), "ok");
        assert_eq!(s.recent_failures, 0);
        assert!(s.last_error_at.is_some() && s.last_success_at.is_some());
        for _ in 0..COOLDOWN_AFTER {
            h.record_failure("a", "down");
        }
        let now = crate::clock::now_ms();
        assert!(h.snapshot("a").cooling_down(now));
        assert!(!h.snapshot("a").cooling_down(now + 16_000));
        h.record_timing("a", Some(100), 50, 1000);
        assert_eq!(h.snapshot("a").ttft_ms, Some(100.0));
        assert_eq!(h.snapshot("a").tokens_per_sec, Some(50.0));
        h.forget("a");
        assert_eq!(h.snapshot("a").status(), "unknown");
    }
}
