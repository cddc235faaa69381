//! The error rate outside fault windows: what a chaos scenario can hold its candidate to
//! while faults make errors on purpose. Every non-ok outcome (dropped arrivals included)
//! out of all requests *started* outside every fault window and its settle time
//! (`[policy] fault_settle`), compared like the error rate: a difference of proportions
//! candidate − base, Holm over the comparison's rows of this metric. Its rows exist only
//! when `[policy] decide` names it.

use super::error_rate::{error_row, judge_errors};
use super::{
    Counts, DecisionMetric, HolmFamily, Judged, Measured, Metric, RowSpec, StepRuns, Unit,
};
use crate::compare::noise::Noise;
use crate::compare::verdict::Verdict;
use crate::policy::{Policy, RowKind};

/// The error rate of a step outside fault windows ([`Metric::ErrorRateOutsideFaults`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorRateOutsideFaults;

impl DecisionMetric for ErrorRateOutsideFaults {
    fn identifies(&self, metric: &Metric) -> bool {
        matches!(metric, Metric::ErrorRateOutsideFaults)
    }

    fn kind(&self) -> RowKind {
        RowKind::ErrorRateOutsideFaults
    }

    fn label(&self, _: &Metric) -> String {
        "errors outside faults".to_string()
    }

    fn unit(&self) -> Unit {
        Unit::Share
    }

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
        if !policy.decides(RowKind::ErrorRateOutsideFaults) {
            return Vec::new();
        }
        let settle = policy.fault_settle.0.as_secs_f64();
        let (Some(b), Some(c)) = (
            base.failures_outside_faults(settle),
            candidate.failures_outside_faults(settle),
        ) else {
            // Records made before per-second counts were kept: nothing to count, and
            // `judge` says so rather than deciding on zero requests.
            let empty = Counts {
                events: 0,
                trials: 0,
            };
            let note = "the records have no per-second counts; record the runs again";
            return vec![error_row(
                Metric::ErrorRateOutsideFaults,
                empty,
                empty,
                policy,
                Some(note.into()),
            )];
        };
        vec![error_row(
            Metric::ErrorRateOutsideFaults,
            b,
            c,
            policy,
            None,
        )]
    }

    /// No request outside fault windows on a side: nothing was measured, so nothing is
    /// decided.
    fn without_interval(&self, metric: &Metric) -> (Verdict, String) {
        (
            Verdict::Inconclusive,
            format!(
                "{}: no request outside fault windows on a side; lengthen the run or shorten the faults",
                self.label(metric)
            ),
        )
    }

    fn judge(&self, judged: &Judged<'_>, policy: &Policy) -> (Verdict, String) {
        let (base, candidate) = match judged.measured {
            Measured::Proportion { base, candidate } => (*base, *candidate),
            Measured::Ratio { .. } => return (Verdict::Inconclusive, "not a proportion".into()),
        };
        let label = self.label(&judged.row.metric);
        let fewest = base.trials.min(candidate.trials);
        if fewest < policy.min_samples {
            return (
                Verdict::Inconclusive,
                format!(
                    "{label}: only {fewest} request(s) outside fault windows on a side (< {}); lengthen the run or raise the rate",
                    policy.min_samples
                ),
            );
        }
        let (verdict, reason) = judge_errors(
            &label,
            judged.interval,
            judged.row.go_threshold,
            judged.test,
            candidate.events,
            policy,
        );
        (
            verdict,
            format!(
                "{reason}; {} v {} requests outside fault windows",
                base.trials, candidate.trials
            ),
        )
    }
}
