//! Latency quantiles of successful requests: one row per quantile of the policy (p50,
//! p95; p99 with enough successes a side), compared as a ratio candidate/base of per-run
//! quantiles; Holm over the step's latency rows.

use super::{
    DecisionMetric, HolmFamily, Judged, Measured, Metric, RowSpec, StepRuns, Thresholds, Unit,
};
use crate::compare::noise::Noise;
use crate::compare::verdict::{LatencyEvidence, LatencyRule, Verdict, judge_latency};
use crate::policy::Policy;

/// Latency quantiles of successful requests ([`Metric::Latency`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct LatencyQuantiles;

impl LatencyQuantiles {
    /// The quantile a latency row compares (NaN for another metric's row).
    fn quantile(metric: &Metric) -> f64 {
        match metric {
            Metric::Latency { quantile } => *quantile,
            _ => f64::NAN,
        }
    }
}

fn floor_us(policy: &Policy) -> f64 {
    policy.latency_floor.get().as_secs_f64() * 1e6
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl DecisionMetric for LatencyQuantiles {
    fn identifies(&self, metric: &Metric) -> bool {
        matches!(metric, Metric::Latency { .. })
    }

    fn label(&self, metric: &Metric) -> String {
        format!("p{}", trim(Self::quantile(metric) * 100.0))
    }

    fn unit(&self) -> Unit {
        Unit::Microseconds
    }

    /// A step's latency rows are one family: a latency rollback also needs its best
    /// estimate beyond the rollback ratio, which is what keeps many steps from adding up
    /// false alarms, and a rank test on 5 v 5 runs cannot give p below 1/252, so a
    /// family spanning every step could never roll back.
    fn holm_family(&self) -> HolmFamily {
        HolmFamily::Step
    }

    fn rows<'a>(
        &self,
        step: &str,
        base: &'a StepRuns<'_>,
        candidate: &'a StepRuns<'_>,
        noise: &Noise,
        policy: &Policy,
    ) -> Vec<RowSpec<'a>> {
        let mut quantiles: Vec<f64> = policy.quantiles.iter().map(|q| q.get()).collect();
        if base.ok_count().min(candidate.ok_count()) >= policy.tail_min_samples {
            quantiles.push(policy.tail_quantile.get());
        }
        quantiles
            .into_iter()
            .map(|q| {
                let b = base.latency_quantile(q);
                let proof = if b.merged > 0.0 {
                    policy
                        .rollback_proof_ratio()
                        .max(1.0 + floor_us(policy) / b.merged)
                } else {
                    f64::INFINITY
                };
                RowSpec {
                    metric: Metric::Latency { quantile: q },
                    measured: Measured::Ratio {
                        base: b,
                        candidate: candidate.latency_quantile(q),
                        stored_noise: noise.get(step, q),
                    },
                    thresholds: Thresholds {
                        go: policy.go_ratio,
                        rollback: policy.rollback_ratio,
                        proof,
                    },
                    note: None,
                }
            })
            .collect()
    }

    fn judge(&self, judged: &Judged<'_>, policy: &Policy) -> (Verdict, String) {
        let row = judged.row;
        let label = self.label(&row.metric);
        let rule = LatencyRule {
            go_ratio: row.go_threshold,
            rollback_ratio: row.rollback_threshold,
            floor_us: floor_us(policy),
        };
        let evidence = LatencyEvidence {
            label: &label,
            interval: judged.interval,
            base_us: row.base,
            proof_ratio: judged.proof,
            test: judged.test,
            noise: (!row.method.noise_measured()).then(|| row.method.label()),
        };
        judge_latency(&evidence, rule)
    }
}
