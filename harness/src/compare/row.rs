//! One line of the decision table, as `result.json` carries it: the metric, both
//! sides' values, the interval and how it was computed, the rollback test and the verdict.

use serde::{Deserialize, Serialize};

use super::noise::NoiseFrom;
use super::stats::Interval;
use super::verdict::Verdict;

/// How a row's interval was computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// From per-repetition quantiles: Hodges–Lehmann, exact Mann–Whitney interval.
    Repetitions {
        /// Repetitions of the base side.
        base: usize,
        /// Repetitions of the candidate side.
        candidate: usize,
    },
    /// Fewer than [`MIN_REPETITIONS`] runs on a side: the difference of mean log
    /// quantiles with Student's t, its standard error from the run-to-run noise.
    /// (`single_run` is its name in results written under `harness-policy/1`.)
    #[serde(alias = "single_run")]
    FewRuns {
        /// Runs of the base side.
        #[serde(default)]
        base: usize,
        /// Runs of the candidate side.
        #[serde(default)]
        candidate: usize,
        /// The run-to-run noise used (sd of ln quantile).
        noise_log_sd: f64,
        /// Its degrees of freedom; absent when assumed (treated as known).
        #[serde(default)]
        noise_df: Option<f64>,
        /// Where it came from.
        #[serde(default)]
        noise_from: NoiseFrom,
    },
    /// Newcombe's hybrid score interval for a difference of proportions.
    Newcombe,
}

impl Method {
    /// Short label for tables: `5v5 runs`, `1v1 runs, σ 0.200 assumed`.
    pub fn label(&self) -> String {
        match self {
            Method::Repetitions { base, candidate } => format!("{base}v{candidate} runs"),
            Method::FewRuns {
                base,
                candidate,
                noise_log_sd,
                noise_from,
                ..
            } => format!(
                "{base}v{candidate} runs, σ {noise_log_sd:.3} {}",
                noise_from.short()
            ),
            Method::Newcombe => "Newcombe".to_string(),
        }
    }

    /// Whether the row's run-to-run noise was measured (not assumed): a latency row can
    /// only be GO when it was.
    pub fn noise_measured(&self) -> bool {
        !matches!(
            self,
            Method::FewRuns {
                noise_from: NoiseFrom::Assumed,
                ..
            }
        )
    }
}

/// One line of the decision table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `flow/step`.
    pub step: String,
    /// What is compared.
    pub metric: Metric,
    /// Base value (latency µs of the merged runs, or error rate).
    pub base: f64,
    /// Candidate value.
    pub candidate: f64,
    /// Ratio (latency) or difference (errors) with its interval; absent when it cannot be
    /// computed (no successful requests on a side).
    pub interval: Option<Interval>,
    /// How the interval was computed.
    pub method: Method,
    /// GO needs the interval at or below this.
    pub go_threshold: f64,
    /// Latency: a best estimate at or above this rolls back when the slowdown is proven.
    /// Errors: an increase proven above this rolls back.
    pub rollback_threshold: f64,
    /// One-sided p-value of the rollback test before Holm's adjustment. Latency: of
    /// "the ratio is at most √(go × rollback)" (or at most the latency floor's ratio,
    /// when that is higher); errors: of "the increase is at most the margin".
    pub p_rollback: f64,
    /// `p_rollback` after Holm's adjustment within its family: the step's latency rows,
    /// or the comparison's error-rate rows.
    #[serde(default = "one")]
    pub p_adjusted: f64,
    /// Whether the rollback test stands after Holm's adjustment within its family.
    pub rollback_proven: bool,
    /// The row's verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// Whether the row decides the comparison's verdict (`[policy] decide`); a row that
    /// does not is shown with its verdict but counts for nothing.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub decides: bool,
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_true(value: &bool) -> bool {
    *value
}

/// What a row measures: its identity in `result.json` (data only; its meaning is the
/// [`DecisionMetric`](super::metrics::DecisionMetric) that identifies it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    /// Candidate/base ratio of a latency quantile of successful requests.
    Latency {
        /// The quantile, e.g. 0.95.
        quantile: f64,
    },
    /// Candidate − base error rate (every non-ok outcome, dropped arrivals included).
    ErrorRate,
    /// Candidate − base error rate of the requests started outside fault windows and
    /// their settle time.
    ErrorRateOutsideFaults,
    /// Candidate/base ratio of a quantity the system under test reports about itself
    /// (a `[[metric]]` rule, or a default: CPU per request, peak resident memory).
    Service {
        /// The rule's name.
        name: String,
    },
}
