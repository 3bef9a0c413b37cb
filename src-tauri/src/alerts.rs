//! When to tell the user a provider is failing: after several failures in a row, at most once
//! per provider per quiet period, so a broken provider does not flood the desktop.

use arouter_core::health::HealthSnapshot;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failures in a row before a provider counts as failing repeatedly.
pub const FAILURE_THRESHOLD: u32 = 3;
/// At most one notification per provider in this period.
pub const QUIET_PERIOD: Duration = Duration::from_secs(10 * 60);

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub provider: String,
    pub title: String,
    pub body: String,
}

/// Remembers when each provider was last reported.
#[derive(Debug, Default)]
pub struct Alerts {
    last_sent: HashMap<String, Instant>,
}

impl Alerts {
    /// The alerts due now for these providers' health; marks them as sent.
    pub fn due<'a>(
        &mut self,
        health: impl IntoIterator<Item = (&'a str, HealthSnapshot)>,
        now: Instant,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        for (provider, snap) in health {
            if snap.recent_failures < FAILURE_THRESHOLD {
                continue;
            }
            let quiet = self
                .last_sent
                .get(provider)
                .is_some_and(|at| now.saturating_duration_since(*at) < QUIET_PERIOD);
            if quiet {
                continue;
            }
            self.last_sent.insert(provider.to_string(), now);
            out.push(alert(provider, &snap));
        }
        out
    }
}

fn alert(provider: &str, snap: &HealthSnapshot) -> Alert {
    let reason = snap.last_error.as_deref().unwrap_or("no error message");
    let reason: String = reason.chars().take(160).collect();
    Alert {
        provider: provider.to_string(),
        title: format!("ARouter: provider \"{provider}\" is failing"),
        body: format!(
            "{} failed requests in a row. Last error: {reason}",
            snap.recent_failures
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(n: u32) -> HealthSnapshot {
        HealthSnapshot {
            recent_failures: n,
            last_error: Some("upstream 500: boom".into()),
            last_error_at: Some(1),
            ..HealthSnapshot::default()
        }
    }

    #[test]
    fn alerts_once_per_provider_per_quiet_period() {
        let mut alerts = Alerts::default();
        let t0 = Instant::now();
        assert!(
            alerts.due([("a", failing(2))], t0).is_empty(),
            "below threshold"
        );
        let first = alerts.due([("a", failing(3)), ("b", failing(0))], t0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].provider, "a");
        assert!(
            first[0].body.contains("3 failed requests"),
            "{:?}",
            first[0]
        );
        assert!(first[0].body.contains("boom"));
        let soon = t0 + Duration::from_secs(60);
        assert!(
            alerts.due([("a", failing(9))], soon).is_empty(),
            "rate-limited"
        );
        let other = alerts.due([("b", failing(4))], soon);
        assert_eq!(other.len(), 1, "each provider has its own limit");
        let later = t0 + QUIET_PERIOD;
        assert_eq!(alerts.due([("a", failing(12))], later).len(), 1);
    }
}
