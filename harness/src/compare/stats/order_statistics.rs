//! Single-run fallback: a latency ratio interval from one histogram per side.
//!
//! Method: a distribution-free confidence interval for a quantile from order
//! statistics (Conover, "Practical Nonparametric Statistics", §3.2; David & Nagaraja,
//! "Order Statistics", §7.1). The number of samples below the true q-quantile is
//! Binomial(n, q), so the order statistics at ranks
//! j = ⌊nq − z·√(nq(1 − q))⌋ and k = ⌈nq + z·√(nq(1 − q))⌉ bracket it with the
//! requested confidence (normal approximation of the binomial). The two sides are
//! combined by Bonferroni into a ratio interval, then widened by the between-run noise,
//! which one run cannot see.

use std::f64::consts::SQRT_2;

use hdrhistogram::Histogram;

use super::Interval;
use super::normal::{normal_cdf, two_sided_z};

/// Latency ratio candidate/base at quantile `q` from one run per side.
///
/// Callers label the result "single run": it only counts the sampling error within the
/// two runs plus the assumed between-run noise.
///
/// Each side gets a quantile interval at confidence 1 − (1 − `confidence`)/2
/// (Bonferroni), and the ratio bounds are low_c/high_b and high_c/low_b. The bounds are
/// then multiplied by exp(∓ z·`noise_log_sd`·√2), z the two-sided critical value at
/// `confidence`: `noise_log_sd` is the between-run standard deviation of the log
/// quantile measured on the base path (see [`super::log_sd`]; pass 0 when unknown), and
/// √2 because both runs carry that noise. Adding this margin to the sampling interval,
/// rather than combining them in quadrature, is deliberately conservative.
///
/// Values are read with `value_at_quantile((rank − ½)/n)`, whose ceiling is exactly
/// `rank` whatever the rounding, and the bounds use the lowest and highest value
/// equivalent to the histogram bucket so that quantisation never narrows the interval.
///
/// `confidence` in the result is the requested level, or the lower level the normal
/// approximation credits when a rank had to be clamped to 1 or n (tiny n, extreme q).
///
/// `None` when a histogram is empty, `q` or `confidence` is not strictly between 0 and
/// 1, `noise_log_sd` is negative or not finite, or the base reads 0 µs at a needed rank
/// (the ratio is undefined).
pub fn ratio_from_histograms(
    base: &Histogram<u64>,
    candidate: &Histogram<u64>,
    q: f64,
    confidence: f64,
    noise_log_sd: f64,
) -> Option<Interval> {
    let valid_noise = noise_log_sd.is_finite() && noise_log_sd >= 0.0;
    if !(q > 0.0 && q < 1.0 && super::valid_confidence(confidence) && valid_noise) {
        return None;
    }
    let per_side = 1.0 - (1.0 - confidence) / 2.0;
    let base_side = QuantileBounds::read(base, q, per_side)?;
    let candidate_side = QuantileBounds::read(candidate, q, per_side)?;
    if base_side.low == 0 {
        return None;
    }

    let widen = (two_sided_z(confidence) * noise_log_sd * SQRT_2).exp();
    let achieved = 1.0 - (1.0 - base_side.coverage) - (1.0 - candidate_side.coverage);
    let interval = Interval {
        estimate: candidate_side.estimate as f64 / base_side.estimate as f64,
        low: candidate_side.low as f64 / base_side.high as f64 / widen,
        high: candidate_side.high as f64 / base_side.low as f64 * widen,
        confidence: achieved.clamp(0.0, 1.0).min(confidence),
    };
    let finite =
        interval.estimate.is_finite() && interval.low.is_finite() && interval.high.is_finite();
    finite.then_some(interval)
}

/// One side's quantile estimate and its order-statistic bounds, in µs.
#[derive(Debug)]
struct QuantileBounds {
    estimate: u64,
    low: u64,
    high: u64,
    /// Coverage credited by the normal approximation of the binomial.
    coverage: f64,
}

impl QuantileBounds {
    /// `None` for an empty histogram.
    fn read(histogram: &Histogram<u64>, q: f64, confidence: f64) -> Option<Self> {
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
            estimate: histogram.value_at_quantile(q),
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
    fn identical_histograms_give_ratio_one() {
        let h = histogram(1..=10_000);
        let interval = ratio_from_histograms(&h, &h, 0.95, 0.95, 0.0).expect("valid");
        assert_eq!(interval.estimate, 1.0);
        assert!(interval.low < 1.0 && 1.0 < interval.high);
        // √(10000·0.95·0.05) ≈ 21.8 ranks either side of 9500: a tight interval.
        assert!(interval.high < 1.02, "{interval:?}");
        assert_eq!(interval.confidence, 0.95);
    }

    #[test]
    fn ranks_are_read_exactly() {
        // 100 distinct values 1..=100, q = 0.5, conf 0.95 → per side 0.975, z = 2.2414:
        // j = ⌊50 − 2.2414·5⌋ = 38, k = ⌈50 + 11.207⌉ = 62.
        let h = histogram(1..=100);
        let bounds = QuantileBounds::read(&h, 0.5, 0.975).expect("non-empty");
        assert_eq!((bounds.low, bounds.estimate, bounds.high), (38, 50, 62));
    }

    #[test]
    fn noise_widens_by_the_documented_factor() {
        let base = histogram(1..=10_000);
        let candidate = histogram((1..=10_000).map(|v| v * 2));
        let quiet = ratio_from_histograms(&base, &candidate, 0.5, 0.9, 0.0).expect("valid");
        let noisy = ratio_from_histograms(&base, &candidate, 0.5, 0.9, 0.1).expect("valid");
        let factor = (1.644_853_626_951_471_5 * 0.1 * SQRT_2).exp();
        assert!((noisy.high / quiet.high - factor).abs() < 1e-12);
        assert!((quiet.low / noisy.low - factor).abs() < 1e-12);
        assert_eq!(noisy.estimate, quiet.estimate);
        assert!((quiet.estimate - 2.0).abs() < 0.01);
    }

    #[test]
    fn clamped_ranks_lower_the_confidence() {
        let h = histogram([100, 200, 300]);
        let interval = ratio_from_histograms(&h, &h, 0.99, 0.95, 0.0).expect("valid");
        assert!(interval.confidence < 0.95, "{interval:?}");
        assert!(interval.contains(1.0));
    }

    #[test]
    fn degenerate_inputs_give_none() {
        let empty = histogram([]);
        let h = histogram([5, 6, 7]);
        let zero = histogram([0, 0, 0]);
        assert!(ratio_from_histograms(&empty, &h, 0.5, 0.95, 0.0).is_none());
        assert!(ratio_from_histograms(&h, &empty, 0.5, 0.95, 0.0).is_none());
        assert!(ratio_from_histograms(&zero, &h, 0.5, 0.95, 0.0).is_none());
        assert!(ratio_from_histograms(&h, &h, 0.0, 0.95, 0.0).is_none());
        assert!(ratio_from_histograms(&h, &h, 1.0, 0.95, 0.0).is_none());
        assert!(ratio_from_histograms(&h, &h, 0.5, f64::NAN, 0.0).is_none());
        assert!(ratio_from_histograms(&h, &h, 0.5, 0.95, -1.0).is_none());
        assert!(ratio_from_histograms(&h, &h, 0.5, 0.95, f64::INFINITY).is_none());
        // A zero candidate is a valid (if odd) ratio of 0.
        let interval = ratio_from_histograms(&h, &zero, 0.5, 0.95, 0.0).expect("valid");
        assert_eq!(interval.estimate, 0.0);
    }
}
