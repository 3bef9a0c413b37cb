//! A fixed-bucket histogram of atomics: recording is a bucket search and two relaxed adds, no
//! lock and no allocation.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket upper bounds in the recorded unit, and how to print them.
pub struct Buckets {
    /// Upper bounds, ascending, in the recorded integer unit (µs for seconds, tokens).
    pub bounds: &'static [u64],
    /// Recorded units per exported unit (1e6 for µs → seconds, 1 for tokens).
    pub scale: f64,
}

/// OpenTelemetry GenAI `gen_ai.client.operation.duration` advice, in µs (seconds exported).
pub const DURATION: Buckets = Buckets {
    bounds: &[
        10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_280_000, 2_560_000, 5_120_000,
        10_240_000, 20_480_000, 40_960_000, 81_920_000,
    ],
    scale: 1e6,
};

/// `gen_ai.client.operation.time_to_first_chunk` advice, in µs (seconds exported).
pub const TTFT: Buckets = Buckets {
    bounds: &[
        1_000, 5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000, 250_000, 500_000, 750_000,
        1_000_000, 2_500_000, 5_000_000, 7_500_000, 10_000_000,
    ],
    scale: 1e6,
};

/// `gen_ai.client.token.usage` advice, in tokens.
pub const TOKENS: Buckets = Buckets {
    bounds: &[
        1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304, 16_777_216,
        67_108_864,
    ],
    scale: 1.0,
};

pub struct Histogram {
    buckets: &'static Buckets,
    /// Per-bucket counts (not cumulative); the last slot is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// A point-in-time copy, cumulative like Prometheus wants it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts per bound; the last is the total count.
    pub cumulative: Vec<u64>,
    /// Sum in the recorded unit.
    pub sum: u64,
}

impl Histogram {
    pub fn new(buckets: &'static Buckets) -> Self {
        Histogram {
            buckets,
            counts: (0..=buckets.bounds.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum: AtomicU64::new(0),
        }
    }

    pub fn record(&self, v: u64) {
        let i = self.buckets.bounds.partition_point(|&b| b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    pub fn buckets(&self) -> &'static Buckets {
        self.buckets
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Ordering::Relaxed);
                total
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// Adds another snapshot of the same buckets (aggregating series at render time).
    pub fn add(&mut self, other: &HistogramSnapshot) {
        if self.cumulative.is_empty() {
            self.cumulative = vec![0; other.cumulative.len()];
        }
        for (a, b) in self.cumulative.iter_mut().zip(&other.cumulative) {
            *a += b;
        }
        self.sum += other.sum;
    }

    /// The value under which a fraction `q` of recordings fall, interpolated inside its
    /// bucket (as PromQL's `histogram_quantile` does); `None` when empty.
    pub fn quantile(&self, buckets: &Buckets, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let i = self.cumulative.iter().position(|&c| c as f64 >= rank)?;
        let Some(&upper) = buckets.bounds.get(i) else {
            // +Inf bucket: the highest finite bound is the best answer.
            return buckets.bounds.last().map(|&b| b as f64 / buckets.scale);
        };
        let lower = if i == 0 { 0 } else { buckets.bounds[i - 1] };
        let below = if i == 0 { 0 } else { self.cumulative[i - 1] };
        let in_bucket = (self.cumulative[i] - below).max(1) as f64;
        let v = lower as f64 + (upper - lower) as f64 * ((rank - below as f64) / in_bucket);
        Some(v / buckets.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_into_the_right_bucket_and_estimates_quantiles() {
        let h = Histogram::new(&TOKENS);
        for v in [1, 3, 4, 5, 100_000_000] {
            h.record(v);
        }
        let s = h.snapshot();
        // le=1: {1}; le=4: {1,3,4}; le=16: +5; +Inf: +1e8.
        assert_eq!(&s.cumulative[..3], &[1, 3, 4]);
        assert_eq!(s.count(), 5);
        assert_eq!(s.sum, 100_000_013);
        let mut agg = HistogramSnapshot::default();
        agg.add(&s);
        agg.add(&s);
        assert_eq!(agg.count(), 10);
        let d = Histogram::new(&DURATION);
        for _ in 0..10 {
            d.record(15_000);
        }
        let p50 = d.snapshot().quantile(&DURATION, 0.5).unwrap();
        assert!((0.01..=0.02).contains(&p50), "{p50}");
        assert_eq!(Histogram::new(&TTFT).snapshot().quantile(&TTFT, 0.5), None);
    }
}
