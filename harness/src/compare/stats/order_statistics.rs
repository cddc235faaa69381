//! A distribution-free confidence interval for one quantile of a histogram, from order
//! statistics (Conover, "Practical Nonparametric Statistics", §3.2; David & Nagaraja,
//! "Order Statistics", §7.1). The number of samples below the true q-quantile is
//! Binomial(n, q), so the order statistics at ranks
//! j = ⌊nq − z·√(nq(1 − q))⌋ and k = ⌈nq + z·√(nq(1 − q))⌉ bracket it with the
//! requested confidence (normal approximation of the binomial). The few-runs method
//! reads the sampling variance of a merged quantile from it.
//!
//! Values are read with `value_at_quantile((rank − ½)/n)`, whose ceiling is exactly
//! `rank` whatever the rounding, and the bounds use the lowest and highest value
//! equivalent to the histogram bucket so that quantisation never narrows the interval.

use hdrhistogram::Histogram;

use super::normal::{normal_cdf, two_sided_z};

/// Order-statistic bounds of one quantile, in µs, and the coverage they achieve.
#[derive(Debug)]
pub(super) struct QuantileBounds {
    /// Lower bound.
    pub(super) low: u64,
    /// Upper bound.
    pub(super) high: u64,
    /// Coverage credited by the normal approximation of the binomial.
    pub(super) coverage: f64,
}

impl QuantileBounds {
    /// `None` for an empty histogram.
    pub(super) fn read(histogram: &Histogram<u64>, q: f64, confidence: f64) -> Option<Self> {
        let n = histogram.len();
        if n == 0 {
            return None;
        }
        let count = n as f64;
        let center = count * q;
        let spread = (center * (1.0 - q)).sqrt();
        let z = two_sided_z(confidence);
        // Float-to-int casts saturate, so ±∞ and huge ranks cannot wrap.
        let j = ((center - z * spread).floor() as u64).clamp(1, n);
        let k = ((center + z * spread).ceil() as u64).clamp(1, n);
        let at_rank = |rank: u64| histogram.value_at_quantile((rank as f64 - 0.5) / count);

        let coverage =
            normal_cdf((k as f64 - center) / spread) - normal_cdf((j as f64 - center) / spread);
        Some(Self {
            low: histogram.lowest_equivalent(at_rank(j)),
            high: histogram.highest_equivalent(at_rank(k)),
            coverage: coverage.max(0.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut histogram = Histogram::<u64>::new(3).expect("3 significant digits");
        for value in values {
            histogram.record(value).expect("in range");
        }
        histogram
    }

    #[test]
    fn ranks_are_read_exactly() {
        // 100 distinct values 1..=100, q = 0.5, conf 0.975, z = 2.2414:
        // j = ⌊50 − 2.2414·5⌋ = 38, k = ⌈50 + 11.207⌉ = 62.
        let h = histogram(1..=100);
        let bounds = QuantileBounds::read(&h, 0.5, 0.975).expect("non-empty");
        assert_eq!((bounds.low, bounds.high), (38, 62));
        assert!(
            (bounds.coverage - 0.975).abs() < 0.01,
            "{}",
            bounds.coverage
        );
    }

    #[test]
    fn a_large_sample_gives_a_tight_interval() {
        // √(10000·0.95·0.05) ≈ 21.8 ranks either side of 9500.
        let h = histogram(1..=10_000);
        let bounds = QuantileBounds::read(&h, 0.95, 0.95).expect("non-empty");
        assert!(bounds.low < 9_500 && 9_500 < bounds.high);
        assert!(bounds.high - bounds.low < 100, "{bounds:?}");
    }

    #[test]
    fn clamped_ranks_lower_the_coverage() {
        let h = histogram([100, 200, 300]);
        let bounds = QuantileBounds::read(&h, 0.99, 0.95).expect("non-empty");
        assert!(bounds.coverage < 0.95, "{bounds:?}");
        assert!(QuantileBounds::read(&histogram([]), 0.5, 0.95).is_none());
    }
}
