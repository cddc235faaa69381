//! Decision metrics: what a row compares between the two sides, and how it is judged.
//!
//! A metric is one [`DecisionMetric`] in a file of its own, and [`METRICS`] is the one
//! list of them. For every step both sides ran, a metric says which rows it has (each
//! named by a [`Metric`], the row's identity in `result.json`), what each side measured
//! in the form its test family needs ([`Measured`]: per-run values compared as a ratio,
//! or events out of trials compared as a difference of proportions), its thresholds from
//! the policy and its Holm family. The core ([`super::rows`]) computes every interval and
//! rollback test from that, whatever the metric; the metric then judges its row, and
//! tells reports its label and [`Unit`].

mod error_rate;
mod error_rate_outside_faults;
mod latency;
mod service;
mod step;

use hdrhistogram::Histogram;

use super::noise::{Noise, NoisePoint};
pub use super::row::Metric;
use super::row::Row;
use super::stats::Interval;
use super::verdict::{RollbackTest, Verdict};
use crate::policy::{Policy, RowKind};
use crate::record::RunRecord;

pub use error_rate::ErrorRate;
pub use error_rate_outside_faults::ErrorRateOutsideFaults;
pub use latency::LatencyQuantiles;
pub use service::{CrossCheck, SERVICE_STEP, ServiceMetrics, cross_checks};
pub use step::StepRuns;

/// Every decision metric, in the order a step's rows appear.
pub const METRICS: &[&dyn DecisionMetric] = &[
    &LatencyQuantiles,
    &ErrorRate,
    &ErrorRateOutsideFaults,
    &ServiceMetrics,
];

impl Metric {
    /// The decision metric this row belongs to.
    pub fn decision_metric(&self) -> &'static dyn DecisionMetric {
        METRICS
            .iter()
            .copied()
            .find(|m| m.identifies(self))
            .expect("every Metric is registered in METRICS")
    }

    /// `p95`, `errors`.
    pub fn label(&self) -> String {
        self.decision_metric().label(self)
    }

    /// The unit of the row's values, which also says how the sides are compared.
    pub fn unit(&self) -> Unit {
        self.decision_metric().unit()
    }
}

/// A quantity compared between the base and the candidate, row by row.
///
/// An implementation produces the values of a step's rows from its runs on each side,
/// and judges a row once the core has computed its interval and rollback test.
pub trait DecisionMetric: Sync {
    /// Whether `metric` names a row of this metric.
    fn identifies(&self, metric: &Metric) -> bool;

    /// The kind `[policy] decide` names this metric's rows by.
    fn kind(&self) -> RowKind;

    /// The row's name in tables: `p95`, `errors`.
    fn label(&self, metric: &Metric) -> String;

    /// The unit of the row's base and candidate values.
    fn unit(&self) -> Unit;

    /// Which rows' rollback tests Holm's procedure corrects together.
    fn holm_family(&self) -> HolmFamily;

    /// The rows of this metric for step `step` (`flow/step`), which both sides ran:
    /// what each side measured, and the thresholds from the policy. `noise` is the run-to-
    /// run noise known about the base side beforehand.
    fn rows<'a>(
        &self,
        step: &str,
        base: &'a StepRuns<'_>,
        candidate: &'a StepRuns<'_>,
        noise: &Noise,
        policy: &Policy,
    ) -> Vec<RowSpec<'a>>;

    /// The rows of this metric that belong to the whole comparison rather than to one
    /// step (the system under test's own metrics), each with what its step column shows.
    fn comparison_rows<'a>(
        &self,
        _base: &'a [RunRecord],
        _candidate: &'a [RunRecord],
        _policy: &Policy,
    ) -> Vec<(String, RowSpec<'a>)> {
        Vec::new()
    }

    /// The verdict of a row that has an interval, with one line saying why.
    fn judge(&self, row: &Judged<'_>, policy: &Policy) -> (Verdict, String);

    /// The verdict of a row without an interval (nothing to compare on a side).
    fn without_interval(&self, metric: &Metric) -> (Verdict, String) {
        (
            Verdict::NoGo,
            format!(
                "{}: no interval (no successful requests on a side)",
                self.label(metric)
            ),
        )
    }
}

/// How a metric's values read, and so how its rows are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds; the sides are compared as a ratio candidate/base.
    Microseconds,
    /// A share of requests (0–1); the sides are compared as a difference candidate −
    /// base, shown in percentage points.
    Share,
    /// A quantity the system under test reports (CPU seconds, bytes, a count), in the
    /// rule's own unit; the sides are compared as a ratio candidate/base.
    Value,
}

impl Unit {
    /// How the sides are compared, as exports name it: `ratio` (candidate/base) or
    /// `difference` (candidate − base).
    pub fn comparison(self) -> &'static str {
        match self {
            Unit::Microseconds | Unit::Value => "ratio",
            Unit::Share => "difference",
        }
    }
}

/// The rows whose rollback tests are corrected together (Holm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HolmFamily {
    /// The metric's rows of one step.
    Step,
    /// The metric's rows of every step of the comparison.
    Comparison,
}

/// A row's thresholds, in the unit of its effect (a ratio or a difference).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// GO needs the interval at or below this.
    pub go: f64,
    /// The rollback threshold shown in the row.
    pub rollback: f64,
    /// What the rollback test must prove the effect beyond.
    pub proof: f64,
}

/// One positive value per run of a side, e.g. a latency quantile in µs.
#[derive(Debug, Clone)]
pub struct RunValues<'a> {
    /// One value per run that has one.
    pub per_run: Vec<f64>,
    /// The value of the merged runs: what the row shows.
    pub merged: f64,
    /// The merged distribution the values are a quantile of, whose order statistics
    /// give their sampling variance with fewer than five runs a side; `None` for values
    /// that are not a quantile of a recorded distribution (a counter), whose only noise
    /// is then the run-to-run noise.
    pub quantile_of: Option<QuantileOf<'a>>,
    /// The log-variance of the side's mean value from counting alone (1/N for N events
    /// counted over the side's runs), a floor under the run-to-run noise when few runs
    /// agree exactly; 0 when the values are not counts.
    pub count_variance: f64,
}

/// A quantile of a recorded distribution.
#[derive(Debug, Clone, Copy)]
pub struct QuantileOf<'a> {
    /// The merged distribution of the side's runs.
    pub distribution: &'a Histogram<u64>,
    /// The quantile read.
    pub quantile: f64,
}

/// Events out of trials on a side, e.g. failed requests out of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Events counted.
    pub events: u64,
    /// Out of this many.
    pub trials: u64,
}

impl Counts {
    /// `events / trials`, 0 without trials.
    pub fn rate(&self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            self.events as f64 / self.trials as f64
        }
    }
}

/// What a row measured on both sides, in the form its test family needs.
#[derive(Debug, Clone)]
pub enum Measured<'a> {
    /// Per-run values compared as a ratio candidate/base: Hodges–Lehmann with the exact
    /// Mann–Whitney interval from [`super::MIN_REPETITIONS`] runs a side, else the
    /// difference of mean logs with Student's t.
    Ratio {
        /// The base side.
        base: RunValues<'a>,
        /// The candidate side.
        candidate: RunValues<'a>,
        /// The base's run-to-run noise measured beforehand (a stored baseline).
        stored_noise: Option<NoisePoint>,
    },
    /// Proportions compared as a difference candidate − base: Newcombe's interval.
    Proportion {
        /// The base side.
        base: Counts,
        /// The candidate side.
        candidate: Counts,
    },
}

/// A row as a metric drafts it, before the core tests it.
#[derive(Debug, Clone)]
pub struct RowSpec<'a> {
    /// The row's identity.
    pub metric: Metric,
    /// What both sides measured.
    pub measured: Measured<'a>,
    /// Its thresholds from the policy.
    pub thresholds: Thresholds,
    /// A note appended to the row's reason in parentheses.
    pub note: Option<String>,
    /// Whether a proven regression of this row is a rollback (else a hold), for metrics
    /// whose rows say so themselves.
    pub critical: bool,
}

/// A tested row, for its metric to judge.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    /// The row: values, interval, method, thresholds and p-values.
    pub row: &'a Row,
    /// Its interval.
    pub interval: &'a Interval,
    /// What both sides measured.
    pub measured: &'a Measured<'a>,
    /// What the rollback test had to prove the effect beyond.
    pub proof: f64,
    /// The rollback test after Holm's adjustment within the row's family.
    pub test: RollbackTest,
    /// The row's [`RowSpec::critical`].
    pub critical: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_one_decision_metric() {
        for metric in [Metric::Latency { quantile: 0.95 }, Metric::ErrorRate] {
            let owners = METRICS.iter().filter(|m| m.identifies(&metric)).count();
            assert_eq!(owners, 1, "{metric:?}");
        }
    }
}
