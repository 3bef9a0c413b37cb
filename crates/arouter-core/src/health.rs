//! Per-provider health as the request path saw it: consecutive failures, the last error and
//! when the provider last answered, for the management API's provider view.

use parking_lot::Mutex;
use std::collections::HashMap;

/// A provider's state at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// Failures since the last success.
    pub recent_failures: u32,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub last_error_at: Option<i64>,
    /// Unix milliseconds.
    pub last_success_at: Option<i64>,
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
        h.last_success_at = Some(crate::record::now_ms());
    }

    pub fn record_failure(&self, provider: &str, message: &str) {
        let mut map = self.map.lock();
        let h = map.entry(provider.to_string()).or_default();
        h.recent_failures = h.recent_failures.saturating_add(1);
        h.last_error = Some(message.to_string());
        h.last_error_at = Some(crate::record::now_ms());
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
        h.forget("a");
        assert_eq!(h.snapshot("a").status(), "unknown");
    }
}
