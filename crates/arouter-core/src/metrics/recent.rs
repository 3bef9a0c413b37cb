//! A provider's recent outcomes for the Health view: the last [`SLOTS`] attempts in a ring of
//! atomics (time, success, duration, time to first token), read into error rate and p50/p95
//! over the last [`WINDOW_SECS`]. Writing is two relaxed stores; a reader racing a writer may
//! pair one slot's halves from two attempts, which statistics over hundreds can bear.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

pub const SLOTS: usize = 256;
pub const WINDOW_SECS: u64 = 15 * 60;

pub struct Recent {
    next: AtomicUsize,
    /// `unix secs << 32 | ok << 31 | duration ms`; 0 = empty.
    outcome: [AtomicU64; SLOTS],
    /// Time to first token in ms + 1; 0 = none.
    ttft: [AtomicU32; SLOTS],
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            next: AtomicUsize::new(0),
            outcome: std::array::from_fn(|_| AtomicU64::new(0)),
            ttft: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

/// Quantiles of a set of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Quantiles {
    pub p50: Option<u64>,
    pub p95: Option<u64>,
}

/// What the window holds.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct RecentStats {
    pub window_secs: u64,
    pub attempts: u64,
    pub errors: u64,
    /// `errors / attempts`; `None` without attempts.
    pub error_rate: Option<f64>,
    /// Successful requests, arrival to last byte.
    pub latency_ms: Quantiles,
    /// Successful streams.
    pub ttft_ms: Quantiles,
}

fn quantiles(mut v: Vec<u64>) -> Quantiles {
    if v.is_empty() {
        return Quantiles::default();
    }
    v.sort_unstable();
    // Nearest rank.
    let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Quantiles {
        p50: Some(at(0.5)),
        p95: Some(at(0.95)),
    }
}

impl Recent {
    /// One attempt: `duration_ms` for finished requests (`None` for an attempt that failed
    /// over to another), `ttft_ms` for streams.
    pub fn record(&self, now_secs: u64, ok: bool, duration_ms: Option<u64>, ttft_ms: Option<u64>) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % SLOTS;
        let d = duration_ms.unwrap_or(0).min((1 << 31) - 1);
        let packed = (now_secs.min(u32::MAX as u64) << 32) | (u64::from(ok) << 31) | d;
        self.outcome[i].store(packed, Ordering::Relaxed);
        let t = ttft_ms.map_or(0, |t| t.min(u32::MAX as u64 - 1) as u32 + 1);
        self.ttft[i].store(t, Ordering::Relaxed);
    }

    pub fn stats(&self, now_secs: u64) -> RecentStats {
        let since = now_secs.saturating_sub(WINDOW_SECS);
        let (mut attempts, mut errors) = (0, 0);
        let (mut latency, mut ttft) = (Vec::new(), Vec::new());
        for (o, t) in self.outcome.iter().zip(&self.ttft) {
            let o = o.load(Ordering::Relaxed);
            if o == 0 || (o >> 32) < since {
                continue;
            }
            attempts += 1;
            if o & (1 << 31) == 0 {
                errors += 1;
                continue;
            }
            latency.push(o & ((1 << 31) - 1));
            let t = t.load(Ordering::Relaxed);
            if t > 0 {
                ttft.push(u64::from(t - 1));
            }
        }
        RecentStats {
            window_secs: WINDOW_SECS,
            attempts,
            errors,
            error_rate: (attempts > 0).then(|| errors as f64 / attempts as f64),
            latency_ms: quantiles(latency),
            ttft_ms: quantiles(ttft),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_rates_and_quantiles() {
        let r = Recent::default();
        assert_eq!(r.stats(1000).error_rate, None);
        for ms in 1..=100 {
            r.record(10_000, true, Some(ms), (ms % 2 == 0).then_some(ms / 2));
        }
        r.record(10_000, false, None, None);
        // Outside the window: ignored.
        r.record(10, false, None, None);
        let s = r.stats(10_001);
        assert_eq!((s.attempts, s.errors), (101, 1));
        assert!((s.error_rate.unwrap() - 1.0 / 101.0).abs() < 1e-9);
        assert_eq!(s.latency_ms.p50, Some(50));
        assert_eq!(s.latency_ms.p95, Some(95));
        assert_eq!(s.ttft_ms.p50, Some(25));
        // The ring keeps only the last SLOTS attempts.
        for _ in 0..SLOTS {
            r.record(10_000, false, None, None);
        }
        assert_eq!(r.stats(10_001).errors, SLOTS as u64);
    }
}
