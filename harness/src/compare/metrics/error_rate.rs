//! The error rate: every non-ok outcome, dropped arrivals included, out of all. One row
//! per step, compared as a difference of proportions candidate − base; Holm over the
//! error rows of the whole comparison.

use super::{
    DecisionMetric, HolmFamily, Judged, Measured, Metric, RowSpec, StepRuns, Thresholds, Unit,
};
use crate::compare::noise::Noise;
use crate::compare::verdict::{Verdict, judge_errors};
use crate::policy::Policy;

/// The error rate of a step ([`Metric::ErrorRate`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorRate;

impl DecisionMetric for ErrorRate {
    fn identifies(&self, metric: &Metric) -> bool {
        matches!(metric, Metric::ErrorRate)
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
        let (b, c) = (base.failures(), candidate.failures());
        let margin = policy.error_margin(b.rate());
        let notes: Vec<String> = [candidate.check_note("candidate"), base.check_note("base")]
            .into_iter()
            .flatten()
            .collect();
        vec![RowSpec {
            metric: Metric::ErrorRate,
            measured: Measured::Proportion {
                base: b,
                candidate: c,
            },
            thresholds: Thresholds {
                go: margin,
                rollback: margin,
                proof: margin,
            },
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        }]
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
