//! One-sided p-values from confidence intervals, by test–interval duality.
//!
//! A two-sided interval at level 1 − 2α whose lower bound lies above a threshold is a
//! one-sided test of H0: value ≤ threshold that rejects at level α (Lehmann & Romano,
//! "Testing Statistical Hypotheses", §3.5). The p-value is the smallest such α, found by
//! bisection over α. It relies on the interval widening as the confidence grows, which
//! holds for every interval in this module.

use super::Interval;

/// Absolute precision of the bisection: the returned p-value is at most this much
/// above the exact one, and never below it.
pub const ALPHA_PRECISION: f64 = 1e-6;

/// Smallest p-value the bisection reports; a smaller true p-value is returned as this.
const ALPHA_FLOOR: f64 = 1e-9;

/// One-sided p-value for H0: value ≤ `threshold`, from intervals `f(confidence)`.
///
/// The smallest α such that the two-sided (1 − 2α) interval lies strictly above
/// `threshold`, to within [`ALPHA_PRECISION`] (rounded up, so the test stays valid).
/// An interval that is `None` or did not reach the confidence asked for (see
/// [`Interval::reaches`]) does not reject. Returns 1.0 when even a confidence of 2e-9
/// does not exclude the threshold, or when `threshold` is NaN.
pub fn p_value_above(threshold: f64, f: impl Fn(f64) -> Option<Interval>) -> f64 {
    smallest_rejecting_alpha(|confidence| {
        f(confidence).is_some_and(|iv| iv.reaches(confidence) && iv.low > threshold)
    })
}

/// One-sided p-value for H0: value ≥ `threshold`, from intervals `f(confidence)`.
///
/// The mirror image of [`p_value_above`]: the interval must lie strictly below
/// `threshold`.
pub fn p_value_below(threshold: f64, f: impl Fn(f64) -> Option<Interval>) -> f64 {
    smallest_rejecting_alpha(|confidence| {
        f(confidence).is_some_and(|iv| iv.reaches(confidence) && iv.high < threshold)
    })
}

/// Bisection for the smallest α in [`ALPHA_FLOOR`], ½) at which `rejects(1 − 2α)`.
fn smallest_rejecting_alpha(rejects: impl Fn(f64) -> bool) -> f64 {
    let at = |alpha: f64| rejects(1.0 - 2.0 * alpha);
    if at(ALPHA_FLOOR) {
        return ALPHA_FLOOR;
    }
    let mut accept = ALPHA_FLOOR;
    let mut reject = 0.5 - ALPHA_FLOOR;
    if !at(reject) {
        return 1.0;
    }
    while reject - accept > ALPHA_PRECISION {
        let mid = accept + (reject - accept) / 2.0;
        if at(mid) {
            reject = mid;
        } else {
            accept = mid;
        }
    }
    reject
}

#[cfg(test)]
mod tests {
    use super::super::normal::normal_quantile;
    use super::*;

    /// A normal-theory interval estimate ± z·se, whose p-value is known in closed form.
    fn normal_interval(estimate: f64, se: f64) -> impl Fn(f64) -> Option<Interval> {
        move |confidence| {
            let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
            Some(Interval {
                estimate,
                low: estimate - z * se,
                high: estimate + z * se,
                confidence,
            })
        }
    }

    #[test]
    fn recovers_the_normal_p_value() {
        // Estimate 2.5 standard errors above the threshold: p = 1 − Φ(2.5) = 0.0062097.
        let p = p_value_above(0.0, normal_interval(2.5, 1.0));
        assert!(
            (p - 0.006_209_665_325_776_132).abs() <= ALPHA_PRECISION,
            "{p}"
        );
        assert!(p >= 0.006_209_665_325_776_132);
        let q = p_value_below(5.0, normal_interval(2.5, 1.0));
        assert!(
            (q - 0.006_209_665_325_776_132).abs() <= ALPHA_PRECISION,
            "{q}"
        );
    }

    #[test]
    fn extremes() {
        assert_eq!(p_value_above(0.0, normal_interval(100.0, 1.0)), ALPHA_FLOOR);
        assert_eq!(p_value_above(0.0, normal_interval(-1.0, 1.0)), 1.0);
        assert_eq!(p_value_above(f64::NAN, normal_interval(3.0, 1.0)), 1.0);
        assert_eq!(p_value_above(0.0, |_| None), 1.0);
    }

    #[test]
    fn intervals_short_of_the_level_do_not_reject() {
        // Always above the threshold, but only ever at 60% confidence.
        let capped = |_| {
            Some(Interval {
                estimate: 5.0,
                low: 4.0,
                high: 6.0,
                confidence: 0.6,
            })
        };
        let p = p_value_above(0.0, capped);
        assert!((p - 0.2).abs() <= ALPHA_PRECISION, "{p}");
    }
}
