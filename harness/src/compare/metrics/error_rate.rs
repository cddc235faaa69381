//! The error rate: every non-ok outcome, dropped arrivals included, out of all. One row
//! per step, compared as a difference of proportions candidate − base; Holm over the
//! error rows of the whole comparison.

use super::{
    Counts, DecisionMetric, HolmFamily, Judged, Measured, Metric, RowSpec, StepRuns, Thresholds,
    Unit,
};
use crate::compare::noise::Noise;
use crate::compare::stats::Interval;
use crate::compare::verdict::{RollbackTest, Verdict};
use crate::policy::{Policy, RowKind};

/// The error rate of a step ([`Metric::ErrorRate`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorRate;

impl DecisionMetric for ErrorRate {
    fn identifies(&self, metric: &Metric) -> bool {
        matches!(metric, Metric::ErrorRate)
    }

    fn kind(&self) -> RowKind {
        RowKind::ErrorRate
    }

    fn label(&self, _: &Metric) -> String {
        "errors".to_string()
    }

    fn unit(&self) -> Unit {
        Unit::Share
    }

    /// Error rows have no estimate condition and continuous p-values, so they are
    /// corrected across the whole comparison.
    fn holm_family(&self) -> HolmFamily {
        HolmFamily::Comparison
    }

    fn rows<'a>(
        &self,
        _: &str,
        base: &'a StepRuns<'_>,
        candidate: &'a StepRuns<'_>,
        _: &Noise,
        policy: &Policy,
    ) -> Vec<RowSpec<'a>> {
        let notes: Vec<String> = [candidate.check_note("candidate"), base.check_note("base")]
            .into_iter()
            .flatten()
            .collect();
        vec![error_row(
            Metric::ErrorRate,
            base.failures(),
            candidate.failures(),
            policy,
            (!notes.is_empty()).then(|| notes.join("; ")),
        )]
    }

    fn judge(&self, judged: &Judged<'_>, policy: &Policy) -> (Verdict, String) {
        let candidate_errors = match judged.measured {
            Measured::Proportion { candidate, .. } => candidate.events,
            // Not a proportion: no errors counted, so never a rollback.
            Measured::Ratio { .. } => 0,
        };
        let row = judged.row;
        judge_errors(
            &self.label(&row.metric),
            judged.interval,
            row.go_threshold,
            judged.test,
            candidate_errors,
            policy,
        )
    }
}

/// An error-rate row of `metric`: failures out of requests on each side, the margin
/// from the base's rate (go, rollback and proof alike).
pub(super) fn error_row<'a>(
    metric: Metric,
    base: Counts,
    candidate: Counts,
    policy: &Policy,
    note: Option<String>,
) -> RowSpec<'a> {
    let margin = policy.error_margin(base.rate());
    RowSpec {
        metric,
        measured: Measured::Proportion { base, candidate },
        thresholds: Thresholds {
            go: margin,
            rollback: margin,
            proof: margin,
        },
        note,
        critical: false,
    }
}

/// Judges an error-rate row: `difference` is candidate − base, `margin` the allowed
/// increase. ROLLBACK needs the Holm-adjusted test and the interval both above the
/// margin, and enough candidate errors.
pub fn judge_errors(
    label: &str,
    difference: &Interval,
    margin: f64,
    test: RollbackTest,
    candidate_errors: u64,
    policy: &Policy,
) -> (Verdict, String) {
    // Differences of shares, in percentage points, like the tables.
    let shown = format!(
        "{label} Δ {:+.3}pp [{:+.3}, {:+.3}]pp",
        difference.estimate * 100.0,
        difference.low * 100.0,
        difference.high * 100.0
    );
    let margin_pp = margin * 100.0;
    // Proven by the test and shown by the interval, so the reason agrees with both.
    let proven = test.proven && difference.low > margin;
    if proven && candidate_errors >= policy.min_candidate_errors {
        (
            Verdict::Rollback,
            format!(
                "{shown}: proven above the margin {margin_pp:.3}pp ({candidate_errors} candidate errors; {})",
                test.describe()
            ),
        )
    } else if difference.high <= margin {
        (
            Verdict::Go,
            format!("{shown}: proven ≤ margin {margin_pp:.3}pp"),
        )
    } else if proven {
        (
            Verdict::NoGo,
            format!(
                "{shown}: proven above the margin {margin_pp:.3}pp but only {candidate_errors} candidate errors (< {}) to roll back on",
                policy.min_candidate_errors
            ),
        )
    } else if difference.low > margin && !test.proven {
        (
            Verdict::NoGo,
            format!(
                "{shown}: the interval lies above the margin {margin_pp:.3}pp, but Holm's adjustment holds the rollback back ({}); run more repetitions",
                test.describe()
            ),
        )
    } else {
        (
            Verdict::NoGo,
            format!(
                "{shown}: interval reaches past the margin {margin_pp:.3}pp; not proven either way, run more repetitions"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(estimate: f64, low: f64, high: f64) -> Interval {
        Interval {
            estimate,
            low,
            high,
            confidence: 0.95,
        }
    }

    fn test(proven: bool) -> RollbackTest {
        RollbackTest {
            p: if proven { 0.004 } else { 0.3 },
            p_adjusted: if proven { 0.012 } else { 0.6 },
            alpha: 0.05,
            proven,
        }
    }

    #[test]
    fn error_rollback_needs_enough_candidate_errors() {
        let p = Policy::default();
        let d = iv(0.05, 0.01, 0.09);
        assert_eq!(
            judge_errors("errors", &d, 0.001, test(true), 4, &p).0,
            Verdict::NoGo
        );
        assert_eq!(
            judge_errors("errors", &d, 0.001, test(true), 5, &p).0,
            Verdict::Rollback
        );
        assert_eq!(
            judge_errors(
                "errors",
                &iv(0.0, -0.0005, 0.0008),
                0.001,
                test(false),
                0,
                &p
            )
            .0,
            Verdict::Go
        );
        let (verdict, reason) = judge_errors("errors", &d, 0.001, test(false), 50, &p);
        assert_eq!(verdict, Verdict::NoGo);
        assert!(reason.contains("lies above the margin"), "{reason}");
    }
}
