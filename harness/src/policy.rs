//! Decision thresholds. The defaults encode the migration plan's rules: roll back when
//! the candidate is more than 50% slower or its error rate rises by more than 10%;
//! advance only with equivalent (phase 4: improved) performance.
//!
//! A scenario's `[policy]` table overrides any field; the policy in force is printed
//! with every result and stored in every comparison.

use serde::{Deserialize, Serialize};

use crate::units::{HumanDuration, Probability};

/// Version of the decision rules; stored in baselines and comparisons so a change of
/// rules is visible.
pub const POLICY_VERSION: &str = "harness-policy/2";

/// Most latency quantiles a policy may judge per step (with the tail quantile, a family
/// of at most 9 tests: 0.05/9 still admits the exact 5 v 5 rank test's 1/252).
pub const MAX_QUANTILES: usize = 8;

/// Thresholds and statistical settings of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Latency quantiles always judged (default p50 and p95).
    pub quantiles: Vec<Probability>,
    /// A tail quantile judged only when both sides have enough samples (default p99).
    pub tail_quantile: Probability,
    /// Successful requests each side needs before the tail quantile is judged.
    pub tail_min_samples: u64,
    /// Roll back when the best estimate of the candidate/base latency ratio is at or
    /// above this and the slowdown beyond `go_ratio` is proven.
    pub rollback_ratio: f64,
    /// GO needs the ratio proven at or below this (1.10 = equivalent; 1.00 = improved).
    pub go_ratio: f64,
    /// Latency differences proven smaller than this are negligible: such a row is GO
    /// whatever its ratio, and cannot roll back (a 30 µs step taking 60 µs is timer
    /// noise, not a regression users feel).
    pub latency_floor: HumanDuration,
    /// Error-rate margin relative to the base rate (0.10 = "more than 10% increase").
    pub error_relative_margin: f64,
    /// Floor of the error-rate margin, absolute (0.001 = 0.1 percentage point).
    pub error_absolute_floor: f64,
    /// Candidate errors needed before an error-rate rollback can stand.
    pub min_candidate_errors: u64,
    /// Confidence of every interval shown and of every GO (two-sided).
    pub confidence: Probability,
    /// Family-wise error rate of the rollback tests (Holm–Bonferroni over each step's
    /// latency rows, and over the comparison's error-rate rows).
    pub rollback_alpha: Probability,
    /// Run-to-run noise (sd of ln quantile; 0.20 ≈ runs differing by 20%) assumed when a
    /// side has fewer than five runs and nothing measured it. Deliberately conservative;
    /// a latency row resting on it is never GO.
    pub assumed_run_noise: f64,
    /// Achieved rate below this share of the target makes a run invalid.
    pub min_achieved_rate: Probability,
    /// Requests (ok or failed, dropped arrivals excluded) each side needs per step for a
    /// valid comparison; failures count, so a candidate that fails everything rolls back.
    pub min_samples: u64,
    /// Which rows decide the verdict (default: latency, error rate, the `[expect]` rows
    /// and the `[parity]` rows). The others are still computed and shown. A chaos scenario decides on what
    /// it tests: `["expectations", "error_rate_outside_faults"]`.
    pub decide: Vec<RowKind>,
    /// How long after a fault window ends its effects still count as the fault's (a
    /// breaker still open, retries draining): the error rate outside fault windows leaves
    /// out requests started in `[start, end + fault_settle)` of every window.
    pub fault_settle: HumanDuration,
    /// The `[[metric]]` rules (the scenario's own tables, not a `[policy]` key): rows
    /// judged from the system under test's metrics.
    #[serde(skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<crate::metrics::rule::MetricRule>,
}

/// A kind of row, as `[policy] decide` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// The latency quantile rows of every step.
    Latency,
    /// The error-rate row of every step, over the whole measured window.
    ErrorRate,
    /// The error-rate row of every step over the requests started outside fault windows
    /// (and their settle time); shown only when it decides.
    ErrorRateOutsideFaults,
    /// The `[expect]` rows (resilience and SLO expectations).
    Expectations,
    /// The `[parity]` rows (the candidate's answers against the base's, beyond noise).
    Parity,
    /// The rows from the system under test's own metrics (`[[metric]]`, and the default
    /// CPU per request and peak resident memory of scraped paths).
    Metrics,
}

impl RowKind {
    /// Every kind, in `decide`'s documented order.
    pub const ALL: [RowKind; 6] = [
        RowKind::Latency,
        RowKind::ErrorRate,
        RowKind::ErrorRateOutsideFaults,
        RowKind::Expectations,
        RowKind::Parity,
        RowKind::Metrics,
    ];

    /// The name in `[policy] decide`.
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Latency => "latency",
            RowKind::ErrorRate => "error_rate",
            RowKind::ErrorRateOutsideFaults => "error_rate_outside_faults",
            RowKind::Expectations => "expectations",
            RowKind::Parity => "parity",
            RowKind::Metrics => "metrics",
        }
    }
}

fn p(v: f64) -> Probability {
    Probability::new(v).unwrap_or_else(|_| unreachable!("constant probabilities are valid"))
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            quantiles: vec![p(0.50), p(0.95)],
            tail_quantile: p(0.99),
            tail_min_samples: 10_000,
            rollback_ratio: 1.5,
            go_ratio: 1.10,
            latency_floor: HumanDuration(std::time::Duration::from_micros(250)),
            error_relative_margin: 0.10,
            error_absolute_floor: 0.001,
            min_candidate_errors: 5,
            confidence: p(0.95),
            rollback_alpha: p(0.05),
            assumed_run_noise: 0.20,
            min_achieved_rate: p(0.98),
            min_samples: 100,
            decide: vec![
                RowKind::Latency,
                RowKind::ErrorRate,
                RowKind::Expectations,
                RowKind::Parity,
                RowKind::Metrics,
            ],
            fault_settle: HumanDuration(std::time::Duration::from_secs(1)),
            metrics: Vec::new(),
        }
    }
}

impl Policy {
    /// The ratio a latency rollback must prove the slowdown beyond: the geometric
    /// midpoint of the go margin and the rollback ratio (√(1.1 × 1.5) ≈ 1.28), so that a
    /// rollback means "proven nearer the rollback ratio than the go margin".
    pub fn rollback_proof_ratio(&self) -> f64 {
        (self.go_ratio * self.rollback_ratio).sqrt()
    }

    /// Whether rows of `kind` decide the verdict.
    pub fn decides(&self, kind: RowKind) -> bool {
        self.decide.contains(&kind)
    }

    /// The error-rate margin for a base error rate: max(relative × base, floor).
    pub fn error_margin(&self, base_rate: f64) -> f64 {
        (self.error_relative_margin * base_rate).max(self.error_absolute_floor)
    }

    /// Checks the fields that serde cannot: ratios ordered and positive.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.go_ratio.is_finite() && self.go_ratio > 0.0) {
            return Err(format!(
                "go_ratio must be a positive number, got {}",
                self.go_ratio
            ));
        }
        if !(self.rollback_ratio.is_finite() && self.rollback_ratio > self.go_ratio) {
            return Err(format!(
                "rollback_ratio ({}) must be greater than go_ratio ({})",
                self.rollback_ratio, self.go_ratio
            ));
        }
        if !(self.error_relative_margin.is_finite() && self.error_relative_margin >= 0.0) {
            return Err("error_relative_margin must be 0 or more".into());
        }
        if !(self.error_absolute_floor.is_finite()
            && (0.0..1.0).contains(&self.error_absolute_floor))
        {
            return Err("error_absolute_floor must lie in 0..1".into());
        }
        if self.quantiles.is_empty() {
            return Err("quantiles must name at least one quantile, e.g. [0.5, 0.95]".into());
        }
        if self.quantiles.len() > MAX_QUANTILES {
            return Err(format!(
                "quantiles names {} quantiles; at most {MAX_QUANTILES}: a step's latency rows are one Holm family, and with more a 5 v 5 rank test (p ≥ 1/252) could never prove a rollback",
                self.quantiles.len()
            ));
        }
        let conf = self.confidence.get();
        if !(0.5..1.0).contains(&conf) {
            return Err(format!("confidence must lie in 0.5..1, got {conf}"));
        }
        let alpha = self.rollback_alpha.get();
        if !(alpha > 0.0 && alpha < 0.5) {
            return Err(format!("rollback_alpha must lie in 0..0.5, got {alpha}"));
        }
        if !(self.assumed_run_noise.is_finite()
            && self.assumed_run_noise > 0.0
            && self.assumed_run_noise <= 2.0)
        {
            return Err(format!(
                "assumed_run_noise must lie in (0, 2] (a log standard deviation; 0.20 ≈ 20% between runs), got {}",
                self.assumed_run_noise
            ));
        }
        if self.decide.is_empty() {
            return Err(
                "decide must name at least one kind of row, e.g. [\"expectations\", \"error_rate_outside_faults\"]"
                    .into(),
            );
        }
        if let Some(kind) = RowKind::ALL
            .iter()
            .find(|k| self.decide.iter().filter(|d| d == k).count() > 1)
        {
            return Err(format!("decide names `{}` twice", kind.name()));
        }
        Ok(())
    }

    /// One line for people: the rules in force.
    pub fn describe(&self) -> String {
        let qs: Vec<String> = self
            .quantiles
            .iter()
            .map(|q| format!("p{}", q.get() * 100.0))
            .collect();
        format!(
            "{POLICY_VERSION}: latency {quantiles} (p{tail} with ≥{tail_n} samples/side) as candidate/base ratios: \
             ROLLBACK when the best estimate is ≥ {rollback} and the ratio is proven > {proof:.3} (midway from {go} to {rollback}; \
             one-sided, Holm over each step's latency rows at α={alpha}); GO when the {conf}% interval is ≤ {go} \
             or proves under {floor} added; differences under {floor} never roll back; \
             intervals from ≥5 runs a side by Hodges–Lehmann/Mann–Whitney, else Student t on per-run quantiles \
             with noise from the runs or the baseline, or {assumed} assumed (then never GO); \
             errors: margin max({rel}×base, {abs:.3}pp), ROLLBACK when proven above it (Holm over all error rows) with ≥{min_errors} candidate errors",
            quantiles = qs.join("/"),
            tail = self.tail_quantile.get() * 100.0,
            tail_n = self.tail_min_samples,
            rollback = self.rollback_ratio,
            go = self.go_ratio,
            alpha = self.rollback_alpha.get(),
            proof = self.rollback_proof_ratio(),
            conf = self.confidence.get() * 100.0,
            floor = self.latency_floor,
            assumed = self.assumed_run_noise,
            rel = self.error_relative_margin,
            abs = self.error_absolute_floor * 100.0,
            min_errors = self.min_candidate_errors,
        ) + &self.describe_metrics()
            + &self.describe_decide()
    }

    /// `; service metrics cpu_per_request, ...: per-run ratios ...` when `[[metric]]` rules
    /// are set; empty otherwise (the default CPU/RSS rows explain themselves in their
    /// reasons).
    fn describe_metrics(&self) -> String {
        if self.metrics.is_empty() {
            return String::new();
        }
        let names: Vec<&str> = self.metrics.iter().map(|m| m.name.as_str()).collect();
        format!(
            "; service metrics {}: per-run values as ratios like latency, NO-GO when proven beyond their rollback ratio (ROLLBACK when critical)",
            names.join(", ")
        )
    }

    /// `; deciding on: expectations, error_rate_outside_faults (settle 1s)` when the
    /// rows deciding are not the default ones; empty otherwise.
    fn describe_decide(&self) -> String {
        if self.decide == Policy::default().decide {
            return String::new();
        }
        let names: Vec<&str> = self.decide.iter().map(|k| k.name()).collect();
        let settle = if self.decides(RowKind::ErrorRateOutsideFaults) {
            format!(" (fault windows + {} left out)", self.fault_settle)
        } else {
            String::new()
        };
        format!(
            "; deciding on: {}{settle}; other rows are shown only",
            names.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_encode_the_migration_plan() {
        let policy = Policy::default();
        assert_eq!(policy.rollback_ratio, 1.5);
        assert_eq!(policy.go_ratio, 1.10);
        assert!(policy.validate().is_ok());
        // "more than 10% increase", relative, with a 0.1 point floor.
        assert!((policy.error_margin(0.2) - 0.02).abs() < 1e-12);
        assert!((policy.error_margin(0.0) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn inconsistent_thresholds_are_refused() {
        let policy = Policy {
            rollback_ratio: 1.05,
            ..Policy::default()
        };
        assert!(policy.validate().is_err());
        let policy = Policy {
            quantiles: vec![],
            ..Policy::default()
        };
        assert!(policy.validate().is_err());
        let policy = Policy {
            quantiles: (1..=9).map(|i| p(f64::from(i) / 10.0)).collect(),
            ..Policy::default()
        };
        assert!(policy.validate().is_err(), "nine quantiles");
        for noise in [0.0, -0.1, f64::NAN, 3.0] {
            let policy = Policy {
                assumed_run_noise: noise,
                ..Policy::default()
            };
            assert!(policy.validate().is_err(), "{noise}");
        }
    }

    #[test]
    fn the_rollback_proof_ratio_is_midway() {
        let policy = Policy::default();
        assert!((policy.rollback_proof_ratio() - (1.1f64 * 1.5).sqrt()).abs() < 1e-12);
        assert!(policy.describe().contains("1.285"), "{}", policy.describe());
    }
}
