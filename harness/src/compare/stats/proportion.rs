//! Error rates: the Wilson score interval for one proportion and Newcombe's hybrid
//! score interval for the difference of two independent proportions.
//!
//! References: E. B. Wilson (1927), "Probable inference, the law of succession, and
//! statistical inference", JASA 22:209–212; R. G. Newcombe (1998), "Interval estimation
//! for the difference between independent proportions: comparison of eleven methods",
//! Statistics in Medicine 17:873–890 (method 10).

use super::Interval;
use super::normal::two_sided_z;

/// Wilson score interval for the error rate `errors / n`.
///
/// The bounds are the two roots in p of |p̂ − p| = z·√(p(1 − p)/n):
/// (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n).
///
/// Degenerate inputs are answered conservatively instead of failing: `n = 0` gives
/// estimate 0 and [0, 1]; `errors > n` is clamped to `n`; a confidence of 1 or more, or
/// NaN, gives [0, 1] (reported as confidence 1); a confidence of 0 or less gives the
/// point [p̂, p̂] (reported as confidence 0).
pub fn wilson(errors: u64, n: u64, confidence: f64) -> Interval {
    let confidence = if confidence.is_nan() {
        1.0
    } else {
        confidence.clamp(0.0, 1.0)
    };
    if n == 0 {
        return Interval {
            estimate: 0.0,
            low: 0.0,
            high: 1.0,
            confidence,
        };
    }
    let errors = errors.min(n);
    let count = n as f64;
    let p = errors as f64 / count;
    let z = two_sided_z(confidence);
    if z.is_infinite() {
        return Interval {
            estimate: p,
            low: 0.0,
            high: 1.0,
            confidence,
        };
    }
    let z2_n = z * z / count;
    let center = (p + z2_n / 2.0) / (1.0 + z2_n);
    let half = z * (p * (1.0 - p) / count + z2_n / (4.0 * count)).sqrt() / (1.0 + z2_n);
    // At 0 or n errors the bound is exactly 0 or 1; computing it would leave rounding dust.
    let low = if errors == 0 {
        0.0
    } else {
        (center - half).clamp(0.0, p)
    };
    let high = if errors == n {
        1.0
    } else {
        (center + half).clamp(p, 1.0)
    };
    Interval {
        estimate: p,
        low,
        high,
        confidence,
    }
}

/// Newcombe's hybrid score interval (method 10) for p_candidate − p_base.
///
/// With Wilson intervals (l_b, u_b) and (l_c, u_c) at the same confidence and
/// d = p̂_c − p̂_b:
/// low = d − √((p̂_c − l_c)² + (u_b − p̂_b)²), high = d + √((u_c − p̂_c)² + (p̂_b − l_b)²),
/// clamped to [−1, 1]. Degenerate counts follow [`wilson`] (an empty side contributes
/// the full [0, 1] uncertainty).
pub fn newcombe_difference(
    base_errors: u64,
    base_n: u64,
    cand_errors: u64,
    cand_n: u64,
    confidence: f64,
) -> Interval {
    let base = wilson(base_errors, base_n, confidence);
    let candidate = wilson(cand_errors, cand_n, confidence);
    let estimate = candidate.estimate - base.estimate;
    let down = (candidate.estimate - candidate.low).hypot(base.high - base.estimate);
    let up = (candidate.high - candidate.estimate).hypot(base.estimate - base.low);
    Interval {
        estimate,
        low: (estimate - down).max(-1.0),
        high: (estimate + up).min(1.0),
        confidence: base.confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_bounds(interval: Interval, low: f64, high: f64) {
        let ok = (interval.low - low).abs() < 5e-5 && (interval.high - high).abs() < 5e-5;
        assert!(
            ok,
            "got ({:.4}, {:.4}), want ({low:.4}, {high:.4})",
            interval.low, interval.high
        );
    }

    /// Wilson 95% bounds, checked against the closed form by hand:
    /// 0/10 → (0, 0.2775); 5/50 → (0.0435, 0.2136); 50/50 → (0.9287, 1).
    #[test]
    fn wilson_textbook_values() {
        assert_bounds(wilson(0, 10, 0.95), 0.0, 0.2775);
        assert_bounds(wilson(5, 50, 0.95), 0.0435, 0.2136);
        assert_bounds(wilson(50, 50, 0.95), 0.9287, 1.0);
        assert_eq!(wilson(5, 50, 0.95).estimate, 0.1);
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion",
    /// Statistics in Medicine 17:857–872, worked examples for the Wilson score method
    /// without continuity correction; each also recomputed from the closed form.
    #[test]
    fn wilson_matches_newcombe_single_proportion_examples() {
        assert_bounds(wilson(81, 263, 0.95), 0.2553, 0.3662);
        assert_bounds(wilson(15, 148, 0.95), 0.0624, 0.1605);
        assert_bounds(wilson(0, 20, 0.95), 0.0, 0.1611);
        assert_bounds(wilson(1, 29, 0.95), 0.0061, 0.1718);
    }

    /// Newcombe (1998, Statistics in Medicine 17:873–890), worked examples for method 10,
    /// p1 − p2 (here candidate − base); each also recomputed independently from the
    /// closed form above.
    #[test]
    fn newcombe_paper_examples() {
        let cases = [
            ((56, 70), (48, 80), (0.0524, 0.3339)),
            ((9, 10), (3, 10), (0.1705, 0.8090)),
            ((5, 56), (0, 29), (-0.0381, 0.1926)),
            ((0, 10), (0, 20), (-0.1611, 0.2775)),
            ((0, 10), (0, 10), (-0.2775, 0.2775)),
            ((10, 10), (0, 20), (0.6791, 1.0)),
            ((10, 10), (0, 10), (0.6075, 1.0)),
        ];
        for ((ce, cn), (be, bn), (low, high)) in cases {
            assert_bounds(newcombe_difference(be, bn, ce, cn, 0.95), low, high);
        }
    }

    #[test]
    fn degenerate_counts_are_conservative() {
        let empty = wilson(0, 0, 0.95);
        assert_eq!((empty.estimate, empty.low, empty.high), (0.0, 0.0, 1.0));
        assert_eq!(wilson(12, 10, 0.95), wilson(10, 10, 0.95));
        let full = wilson(3, 10, f64::NAN);
        assert_eq!((full.low, full.high, full.confidence), (0.0, 1.0, 1.0));
        let point = wilson(3, 10, -2.0);
        assert_eq!((point.low, point.high), (0.3, 0.3));
        let huge = wilson(u64::MAX / 3, u64::MAX, 0.95);
        assert!(huge.low <= huge.estimate && huge.estimate <= huge.high);
        let both_empty = newcombe_difference(0, 0, 0, 0, 0.95);
        assert_eq!((both_empty.low, both_empty.high), (-1.0, 1.0));
    }

    #[test]
    fn higher_confidence_is_wider() {
        let mut previous = newcombe_difference(20, 1000, 35, 1000, 0.5);
        for confidence in [0.8, 0.9, 0.95, 0.99, 0.999] {
            let next = newcombe_difference(20, 1000, 35, 1000, confidence);
            assert!(next.low < previous.low && next.high > previous.high);
            previous = next;
        }
    }
}
