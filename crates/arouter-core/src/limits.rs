//! Per-key requests-per-minute limits: a sliding 60-second window per key (a log of the times
//! of the requests it let through), checked and counted under one lock, so no 60-second span
//! ever holds more than the limit — a fixed per-minute window let twice the limit through
//! across a minute boundary.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

/// The window every `rpm` limit is counted over.
pub const WINDOW_MS: u64 = 60_000;

#[derive(Default)]
pub struct RateLimiter {
    /// Per key: when each request admitted in the last minute arrived (unix ms, oldest first).
    /// Never longer than the key's limit.
    logs: Mutex<HashMap<String, VecDeque<u64>>>,
}

/// The outcome of one check, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// `None` for keys without a limit.
    pub limit: Option<u32>,
    pub remaining: u32,
    /// Unix milliseconds when the next slot frees up (the oldest counted request leaves the
    /// window).
    pub reset_ms: u64,
}

impl RateDecision {
    /// Seconds until the window resets (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        let now = now_ms();
        self.reset_ms.saturating_sub(now).div_ceil(1000).max(1)
    }

    /// The decision for a key without a limit.
    pub fn unlimited(now_ms: u64) -> Self {
        RateDecision {
            allowed: true,
            limit: None,
            remaining: u32::MAX,
            reset_ms: now_ms + WINDOW_MS,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Keys tracked before idle logs are swept (an idle key's log is empty after a minute).
const SWEEP_AT: usize = 4096;

impl RateLimiter {
    /// Counts one request for `key` against `rpm` and says whether it may proceed.
    pub fn check(&self, key: &str, rpm: Option<u32>) -> RateDecision {
        self.check_at(key, rpm, now_ms())
    }

    /// [`RateLimiter::check`] at a given time (unix ms).
    pub fn check_at(&self, key: &str, rpm: Option<u32>, now: u64) -> RateDecision {
        let Some(limit) = rpm else {
            return RateDecision::unlimited(now);
        };
        let mut logs = self.logs.lock();
        if logs.len() >= SWEEP_AT && !logs.contains_key(key) {
            logs.retain(|_, log| log.back().is_some_and(|&t| t + WINDOW_MS > now));
        }
        let log = logs.entry(key.to_string()).or_default();
        while log.front().is_some_and(|&t| t + WINDOW_MS <= now) {
            log.pop_front();
        }
        // A limit lowered since counts the whole log: no slot frees until it is under the limit.
        let cap = limit as usize;
        let allowed = log.len() < cap;
        if allowed {
            log.push_back(now);
        }
        let used = log.len().min(cap) as u32;
        let reset_ms = if log.len() >= cap {
            log.get(log.len() - cap).map_or(now, |&t| t + WINDOW_MS)
        } else {
            now + WINDOW_MS
        };
        RateDecision {
            allowed,
            limit: Some(limit),
            remaining: limit - used,
            reset_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_checks_never_overshoot() {
        let rl = Arc::new(RateLimiter::default());
        let now = now_ms();
        let allowed: u32 = (0..8)
            .map(|_| {
                let rl = rl.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| rl.check_at("k", Some(30), now).allowed)
                        .count() as u32
                })
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(allowed, 30);
    }

    #[test]
    fn a_minute_boundary_lets_no_second_batch_through() {
        let rl = RateLimiter::default();
        // 10 requests in the last second of a minute, 10 more in the first second of the next:
        // a fixed window allowed all 20; the sliding window allows 10 in any 60 s.
        let edge = 120_000u64 * 1000;
        let first = (0..10)
            .filter(|i| rl.check_at("k", Some(10), edge - 900 + i).allowed)
            .count();
        let second = (0..10)
            .filter(|i| rl.check_at("k", Some(10), edge + 100 + i).allowed)
            .count();
        assert_eq!((first, second), (10, 0));
        let refused = rl.check_at("k", Some(10), edge + 200);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_ms, edge - 900 + WINDOW_MS);
        // One slot frees exactly 60 s after the oldest counted request.
        assert!(!rl.check_at("k", Some(10), edge - 901 + WINDOW_MS).allowed);
        let d = rl.check_at("k", Some(10), edge - 900 + WINDOW_MS);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn remaining_counts_down_and_unlimited_keys_pass() {
        let rl = RateLimiter::default();
        let d = rl.check_at("k", Some(3), 1_000);
        assert_eq!((d.allowed, d.remaining, d.reset_ms), (true, 2, 61_000));
        assert!(rl.check_at("u", None, 1_000).allowed);
        assert_eq!(rl.check_at("u", None, 1_000).limit, None);
    }

    #[test]
    fn a_lowered_limit_applies_at_once() {
        let rl = RateLimiter::default();
        for t in 0..5 {
            assert!(rl.check_at("k", Some(5), 1_000 + t).allowed);
        }
        let d = rl.check_at("k", Some(2), 2_000);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        // A slot frees when 4 of the 5 have left the window: when the 4th (at 1_003) does.
        assert_eq!(d.reset_ms, 1_003 + WINDOW_MS);
    }
}
