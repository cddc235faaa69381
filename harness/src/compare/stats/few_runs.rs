//! Latency ratio from fewer runs than a rank interval needs: a difference of mean log
//! quantiles with a standard error built from the run-to-run noise, and Student's t.
//!
//! Method: with m base and n candidate runs, let L be each run's ln(quantile). The log
//! ratio is estimated by d = mean(L_candidate) − mean(L_base), whose variance is
//! σ²·(1/m + 1/n) when runs of a path differ by a between-run noise of sd σ (which
//! already holds the sampling noise of a quantile at the runs' size). σ comes from the
//! best evidence there is (the caller decides which):
//!
//! - the runs themselves, pooled over both sides (m + n − 2 degrees of freedom): the
//!   two-sample t interval (Welch & Student; Lehmann & Romano §5.3);
//! - a noise model measured on other runs of the base path (a baseline's repetitions or
//!   A/A calibration), with its own degrees of freedom, plus the sampling variance of
//!   the two merged quantiles, since the runs compared here may be smaller;
//! - an assumed value, treated as known (the normal), plus the sampling variance.
//!
//! The sampling variance of a merged quantile comes from its distribution-free order
//! statistic interval (see [`super::ratio_from_histograms`]): half its log width over
//! z. It is also a floor: runs cannot agree more closely than their sampling allows, so
//! a few identical quantiles never give a zero-width interval.

use hdrhistogram::Histogram;

use super::Interval;
use super::order_statistics::QuantileBounds;
use super::student::{student_cdf, student_quantile};

/// The z of the 95% order-statistic interval the sampling variance is read from.
const SAMPLING_CONFIDENCE: f64 = 0.95;

/// Run-to-run noise of a log quantile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunNoise {
    /// Standard deviation of ln(quantile) from one run to the next.
    pub log_sd: f64,
    /// Degrees of freedom it was estimated with; `None` when assumed (treated as known).
    pub df: Option<f64>,
    /// Whether `log_sd` was measured on the very runs being compared (then it holds
    /// their sampling noise and no sampling term is added).
    pub from_these_runs: bool,
}

impl RunNoise {
    /// The pooled sd of ln(value) over both sides' runs, each side about its own mean,
    /// with m + n − 2 degrees of freedom. `None` without a degree of freedom or with a
    /// value that is not finite and positive.
    pub fn pooled(base: &[f64], candidate: &[f64]) -> Option<RunNoise> {
        let mut squares = 0.0;
        let mut df = 0usize;
        for side in [base, candidate] {
            if side.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                return None;
            }
            if side.len() < 2 {
                continue;
            }
            let logs: Vec<f64> = side.iter().map(|v| v.ln()).collect();
            let mean = logs.iter().sum::<f64>() / logs.len() as f64;
            squares += logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>();
            df += logs.len() - 1;
        }
        (df > 0).then(|| RunNoise {
            log_sd: (squares / df as f64).sqrt(),
            df: Some(df as f64),
            from_these_runs: true,
        })
    }
}

/// A log ratio with its standard error and degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogShift {
    /// ln(candidate/base).
    pub shift: f64,
    /// Its standard error.
    pub se: f64,
    /// Degrees of freedom of `se`; `None` for the normal.
    pub df: Option<f64>,
}

impl LogShift {
    /// The two-sided ratio interval at `confidence`: exp(shift ± t·se).
    pub fn interval(&self, confidence: f64) -> Option<Interval> {
        if !super::valid_confidence(confidence) {
            return None;
        }
        let t = student_quantile(1.0 - (1.0 - confidence) / 2.0, self.df);
        let interval = Interval {
            estimate: self.shift.exp(),
            low: (self.shift - t * self.se).exp(),
            high: (self.shift + t * self.se).exp(),
            confidence,
        };
        let finite =
            interval.estimate.is_finite() && interval.low.is_finite() && interval.high.is_finite();
        finite.then_some(interval)
    }

    /// One-sided p-value of H0: ratio ≤ `threshold` (continuous, never stuck at a floor).
    /// 1 for a threshold that is not finite and positive, or degrees of freedom that are
    /// not positive.
    pub fn p_above(&self, threshold: f64) -> f64 {
        if !(threshold.is_finite() && threshold > 0.0) {
            return 1.0;
        }
        let t = (self.shift - threshold.ln()) / self.se;
        let p = 1.0 - student_cdf(t, self.df);
        if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) }
    }
}

/// The log ratio candidate/base at quantile `q` from a few runs a side.
///
/// `base` and `candidate` hold one quantile per run (µs, positive); `base_merged` and
/// `candidate_merged` are the runs' merged histograms of successful latencies, which
/// give the sampling variance. `None` when a side is empty, a value is not finite and
/// positive, a histogram is empty or the noise is not a finite, non-negative number.
pub fn ratio_from_few_runs(
    base: &[f64],
    candidate: &[f64],
    base_merged: &Histogram<u64>,
    candidate_merged: &Histogram<u64>,
    q: f64,
    noise: RunNoise,
) -> Option<LogShift> {
    let sampling = sampling_variance(base_merged, q)? + sampling_variance(candidate_merged, q)?;
    shift_from_few_runs(base, candidate, sampling, noise)
}

/// The log ratio candidate/base of per-run values from a few runs a side, given the
/// sampling variance of the two sides' ln values beyond the run-to-run noise (0 for a
/// value that is not a quantile of a recorded distribution, e.g. a counter).
///
/// `None` when a side is empty, a value is not finite and positive, or the noise or the
/// sampling variance is not a finite, non-negative number.
pub fn shift_from_few_runs(
    base: &[f64],
    candidate: &[f64],
    sampling: f64,
    noise: RunNoise,
) -> Option<LogShift> {
    if base.is_empty() || candidate.is_empty() {
        return None;
    }
    if !(noise.log_sd.is_finite() && noise.log_sd >= 0.0) {
        return None;
    }
    if !(sampling.is_finite() && sampling >= 0.0) {
        return None;
    }
    let mean_log = |values: &[f64]| -> Option<f64> {
        values
            .iter()
            .all(|v| v.is_finite() && *v > 0.0)
            .then(|| values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64)
    };
    let shift = mean_log(candidate)? - mean_log(base)?;
    let between = noise.log_sd.powi(2) * (1.0 / base.len() as f64 + 1.0 / candidate.len() as f64);
    let variance = if noise.from_these_runs {
        between.max(sampling)
    } else {
        between + sampling
    };
    let se = variance.sqrt();
    (shift.is_finite() && se.is_finite() && se > 0.0).then_some(LogShift {
        shift,
        se,
        df: noise.df,
    })
}

/// The sampling variance of ln(quantile q) of `histogram`, from the log width of its
/// 95% order-statistic interval. Values below 1 µs count as 1 µs (the resolution).
fn sampling_variance(histogram: &Histogram<u64>, q: f64) -> Option<f64> {
    if !(q > 0.0 && q < 1.0) {
        return None;
    }
    let bounds = QuantileBounds::read(histogram, q, SAMPLING_CONFIDENCE)?;
    // Ranks clamped at the ends of a tiny sample cover less; credit only what they do.
    let z = super::normal::two_sided_z(bounds.coverage.clamp(0.5, SAMPLING_CONFIDENCE));
    let low = (bounds.low.max(1) as f64).ln();
    let high = (bounds.high.max(1) as f64).ln();
    Some(((high - low) / (2.0 * z)).powi(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).expect("3 significant digits");
        for v in values {
            h.record(v).expect("in range");
        }
        h
    }

    #[test]
    fn values_without_a_distribution_use_the_run_noise_alone() {
        let noise = RunNoise {
            log_sd: 0.1,
            df: Some(4.0),
            from_these_runs: false,
        };
        let shift = shift_from_few_runs(&[100.0], &[200.0], 0.0, noise).expect("a shift");
        assert!((shift.shift - 2f64.ln()).abs() < 1e-12);
        assert!((shift.se - 0.02f64.sqrt()).abs() < 1e-12);
        assert!(shift_from_few_runs(&[100.0], &[200.0], f64::NAN, noise).is_none());
    }

    #[test]
    fn pooled_noise_is_the_two_sample_estimate() {
        let e = std::f64::consts::E;
        // logs 0, 2 about 1 and logs 1, 3 about 2: squares 2 + 2, df 2, sd √2.
        let noise = RunNoise::pooled(&[1.0, e * e], &[e, e * e * e]).expect("df 2");
        assert!((noise.log_sd - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(noise.df, Some(2.0));
        // One run a side has no degree of freedom; 2 v 1 has one.
        assert_eq!(RunNoise::pooled(&[5.0], &[6.0]), None);
        assert_eq!(
            RunNoise::pooled(&[5.0, 6.0], &[6.0]).and_then(|n| n.df),
            Some(1.0)
        );
        assert_eq!(RunNoise::pooled(&[5.0, 0.0], &[6.0]), None);
    }

    #[test]
    fn the_interval_is_the_t_interval() {
        let shift = LogShift {
            shift: 0.2,
            se: 0.1,
            df: Some(4.0),
        };
        let iv = shift.interval(0.95).expect("valid");
        let t = 2.776_445_105_197_793;
        assert!((iv.low - (0.2f64 - t * 0.1).exp()).abs() < 1e-9);
        assert!((iv.high - (0.2f64 + t * 0.1).exp()).abs() < 1e-9);
        // The p-value agrees with the interval: the 95% bound is the 2.5% one-sided test.
        let p = shift.p_above(iv.low);
        assert!((p - 0.025).abs() < 1e-9, "{p}");
        assert_eq!(shift.p_above(f64::NAN), 1.0);
        assert!(shift.p_above(0.5) < 1e-3);
    }

    #[test]
    fn assumed_noise_adds_sampling_and_measured_noise_is_floored_by_it() {
        let base = histogram(1_000..=3_000);
        let candidate = histogram(1_000..=3_000);
        let quiet = RunNoise {
            log_sd: 0.0,
            df: Some(8.0),
            from_these_runs: true,
        };
        let floor = ratio_from_few_runs(&[2000.0; 5], &[2000.0; 5], &base, &candidate, 0.5, quiet)
            .expect("valid");
        assert!(floor.se > 0.0, "identical runs still have sampling noise");
        let assumed = RunNoise {
            log_sd: 0.25,
            df: None,
            from_these_runs: false,
        };
        let wide = ratio_from_few_runs(&[2000.0], &[2000.0], &base, &candidate, 0.5, assumed)
            .expect("valid");
        let expected = (0.25f64.powi(2) * 2.0 + floor.se.powi(2)).sqrt();
        assert!((wide.se - expected).abs() < 1e-12);
        assert_eq!(wide.df, None);
        assert_eq!(wide.shift, 0.0);
    }

    #[test]
    fn degenerate_inputs_give_none() {
        let h = histogram([5, 6, 7]);
        let empty = histogram([]);
        let noise = RunNoise {
            log_sd: 0.1,
            df: None,
            from_these_runs: false,
        };
        assert!(ratio_from_few_runs(&[], &[5.0], &h, &h, 0.5, noise).is_none());
        assert!(ratio_from_few_runs(&[5.0], &[0.0], &h, &h, 0.5, noise).is_none());
        assert!(ratio_from_few_runs(&[5.0], &[5.0], &empty, &h, 0.5, noise).is_none());
        assert!(ratio_from_few_runs(&[5.0], &[5.0], &h, &h, 1.0, noise).is_none());
        let nan = RunNoise {
            log_sd: f64::NAN,
            ..noise
        };
        assert!(ratio_from_few_runs(&[5.0], &[5.0], &h, &h, 0.5, nan).is_none());
    }
}
