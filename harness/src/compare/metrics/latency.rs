//! Latency quantiles of successful requests: one row per quantile of the policy (p50,
//! p95; p99 with enough successes a side), compared as a ratio candidate/base of per-run
//! quantiles; Holm over the step's latency rows.

use super::{
    DecisionMetric, HolmFamily, Judged, Measured, Metric, RowSpec, StepRuns, Thresholds, Unit,
};
use crate::compare::noise::Noise;
use crate::compare::stats::Interval;
use crate::compare::verdict::{RollbackTest, Verdict};
use crate::policy::{Policy, RowKind};

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

    fn kind(&self) -> RowKind {
        RowKind::Latency
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
                    critical: false,
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

/// Thresholds of a latency row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyRule {
    /// GO needs the ratio proven at or below this.
    pub go_ratio: f64,
    /// A best estimate at or above this rolls back, when the slowdown is proven.
    pub rollback_ratio: f64,
    /// Absolute differences proven below this (µs) are negligible.
    pub floor_us: f64,
}

/// What a latency row measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyEvidence<'a> {
    /// `p95`.
    pub label: &'a str,
    /// The ratio candidate/base with its interval.
    pub interval: &'a Interval,
    /// The base quantile, µs, which turns ratios into added time for the floor.
    pub base_us: f64,
    /// The ratio the slowdown must be proven beyond: midway (geometrically) from the go
    /// margin to the rollback ratio, or the ratio of the latency floor when that is higher.
    pub proof_ratio: f64,
    /// The rollback test of "ratio ≤ `proof_ratio`".
    pub test: RollbackTest,
    /// `Some(method)` when the run-to-run noise was assumed, not measured: then the row
    /// cannot be GO.
    pub noise: Option<String>,
}

/// Judges a latency-ratio row.
///
/// ROLLBACK when the best estimate is at or beyond the rollback ratio ("more than 50%
/// slower"), the added time at that estimate reaches the floor, and the ratio is proven
/// beyond `proof_ratio` (the geometric midpoint of go margin and rollback ratio, or the
/// floor's ratio when higher): by the one-sided test, Holm-adjusted over the step's
/// latency rows, and by the interval's lower end. GO when
/// the noise was measured and the interval lies within the go margin, or proves the
/// added time under the floor. Otherwise NO-GO, with the reason that holds.
pub fn judge_latency(e: &LatencyEvidence<'_>, rule: LatencyRule) -> (Verdict, String) {
    let LatencyRule {
        go_ratio,
        rollback_ratio,
        floor_us,
    } = rule;
    let iv = e.interval;
    let shown = format!(
        "{} ratio {:.3} [{:.3}, {:.3}]",
        e.label, iv.estimate, iv.low, iv.high
    );
    let added_us = e.base_us * (iv.estimate - 1.0);
    let most_added_us = e.base_us * (iv.high - 1.0);
    let beyond = iv.estimate >= rollback_ratio;
    let slower = (rollback_ratio - 1.0) * 100.0;
    let midpoint = (go_ratio * rollback_ratio).sqrt();
    let proof = if e.proof_ratio > midpoint * (1.0 + 1e-9) {
        format!("{:.3} (the {floor_us:.0} µs floor)", e.proof_ratio)
    } else {
        format!(
            "{:.3} (midway from {go_ratio} to {rollback_ratio})",
            e.proof_ratio
        )
    };
    // Proven by the test and shown by the interval, so the reason agrees with both.
    let proven = e.test.proven && iv.low > e.proof_ratio;
    if beyond && added_us >= floor_us && proven {
        return (
            Verdict::Rollback,
            format!(
                "{shown}: best estimate ≥ {rollback_ratio} (more than {slower:.0}% slower), slower than {proof} proven ({})",
                e.test.describe()
            ),
        );
    }
    if let Some(method) = &e.noise {
        let held = if beyond {
            format!(
                "; best estimate ≥ {rollback_ratio} but not proven beyond {proof} ({})",
                e.test.describe()
            )
        } else {
            String::new()
        };
        return (
            Verdict::NoGo,
            format!(
                "{shown}: run-to-run noise not measured ({method}), so ≤ {go_ratio} cannot be proven{held}; run ≥ 2 repetitions a side or compare with a baseline of ≥ 2 runs"
            ),
        );
    }
    if iv.high <= go_ratio {
        return (Verdict::Go, format!("{shown}: proven ≤ {go_ratio}"));
    }
    // When improvement is required (go_ratio ≤ 1), the floor forgives noise on a tiny
    // step, never a slowdown that is proven.
    if most_added_us <= floor_us && (go_ratio > 1.0 || iv.low <= 1.0) {
        return (
            Verdict::Go,
            format!(
                "{shown}: at most {:.0} µs slower, under the {floor_us:.0} µs floor",
                most_added_us.max(0.0)
            ),
        );
    }
    let reason = if beyond && added_us < floor_us {
        format!(
            "{shown}: best estimate ≥ {rollback_ratio} but only {added_us:.0} µs slower, under the {floor_us:.0} µs floor a rollback needs"
        )
    } else if beyond && iv.low > e.proof_ratio {
        format!(
            "{shown}: best estimate ≥ {rollback_ratio} and the interval lies above {proof}, but Holm's adjustment holds the rollback back ({}); run more repetitions",
            e.test.describe()
        )
    } else if beyond {
        format!(
            "{shown}: best estimate ≥ {rollback_ratio} but the interval reaches down to {:.3}, not above {proof}: not proven; run more repetitions",
            iv.low
        )
    } else if iv.low > go_ratio {
        format!(
            "{shown}: slower than the go margin {go_ratio} (whole interval above it), best estimate under the rollback ratio {rollback_ratio}: hold"
        )
    } else {
        format!(
            "{shown}: interval reaches past {go_ratio}; not proven either way, run more repetitions"
        )
    };
    (Verdict::NoGo, reason)
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

    const RULE: LatencyRule = LatencyRule {
        go_ratio: 1.10,
        rollback_ratio: 1.5,
        floor_us: 250.0,
    };

    fn test(proven: bool) -> RollbackTest {
        RollbackTest {
            p: if proven { 0.004 } else { 0.3 },
            p_adjusted: if proven { 0.012 } else { 0.6 },
            alpha: 0.05,
            proven,
        }
    }

    fn judged(
        interval: Interval,
        proven: bool,
        base_us: f64,
        rule: LatencyRule,
    ) -> (Verdict, String) {
        let evidence = LatencyEvidence {
            label: "p95",
            interval: &interval,
            base_us,
            proof_ratio: (rule.go_ratio * rule.rollback_ratio)
                .sqrt()
                .max(1.0 + rule.floor_us / base_us),
            test: test(proven),
            noise: None,
        };
        judge_latency(&evidence, rule)
    }

    fn latency(interval: Interval, proven: bool, base_us: f64, rule: LatencyRule) -> Verdict {
        judged(interval, proven, base_us, rule).0
    }

    #[test]
    fn latency_rows_follow_the_interval() {
        let base = 10_000.0;
        assert_eq!(
            latency(iv(1.02, 0.98, 1.06), false, base, RULE),
            Verdict::Go
        );
        assert_eq!(
            latency(iv(1.05, 0.9, 1.3), false, base, RULE),
            Verdict::NoGo
        );
        assert_eq!(latency(iv(1.3, 1.2, 1.4), true, base, RULE), Verdict::NoGo);
        assert_eq!(
            latency(iv(1.8, 1.6, 2.0), true, base, RULE),
            Verdict::Rollback
        );
        // Phase 4 asks for improvement: 1.02 is no longer enough.
        let improved = LatencyRule {
            go_ratio: 1.00,
            ..RULE
        };
        assert_eq!(
            latency(iv(1.02, 0.98, 1.06), false, base, improved),
            Verdict::NoGo
        );
    }

    /// The best estimate decides "more than 50% slower"; the test only has to prove the
    /// regression beyond the go margin.
    #[test]
    fn rollback_needs_the_estimate_beyond_and_the_regression_proven() {
        let base = 10_000.0;
        // Interval [1.3, 1.9] straddles 1.5: the estimate decides.
        assert_eq!(
            latency(iv(1.6, 1.3, 1.9), true, base, RULE),
            Verdict::Rollback
        );
        assert_eq!(latency(iv(1.45, 1.3, 1.7), true, base, RULE), Verdict::NoGo);
        // Not proven beyond the midpoint of go margin and rollback ratio: hold.
        let (verdict, reason) = judged(iv(1.6, 1.05, 2.4), false, base, RULE);
        assert_eq!(verdict, Verdict::NoGo);
        assert!(reason.contains("not proven"), "{reason}");
        // The interval lies above √(1.1 × 1.5) ≈ 1.28 and only Holm held it back: the
        // reason says so.
        let (verdict, reason) = judged(iv(1.6, 1.35, 2.0), false, base, RULE);
        assert_eq!(verdict, Verdict::NoGo);
        assert!(
            reason.contains("lies above") && reason.contains("Holm"),
            "{reason}"
        );
        assert!(!reason.contains("within the margin"), "{reason}");
    }

    #[test]
    fn differences_under_the_floor_neither_hold_nor_roll_back() {
        // A 40 µs step measured at up to 1.3x: at most 12 µs slower.
        assert_eq!(latency(iv(1.1, 0.9, 1.3), false, 40.0, RULE), Verdict::Go);
        // Proven 2x slower, but 40 µs slower is not a regression anyone feels.
        assert_eq!(latency(iv(2.0, 1.8, 2.2), true, 40.0, RULE), Verdict::Go);
        // Proven 2x slower on a 10 ms step: roll back.
        assert_eq!(
            latency(iv(2.0, 1.8, 2.2), true, 10_000.0, RULE),
            Verdict::Rollback
        );
    }

    #[test]
    fn assumed_noise_is_never_go() {
        let interval = iv(1.0, 0.99, 1.01);
        let evidence = LatencyEvidence {
            label: "p50",
            interval: &interval,
            base_us: 10_000.0,
            proof_ratio: 1.1,
            test: test(false),
            noise: Some("1v1 runs, σ 0.200 assumed".into()),
        };
        let (verdict, reason) = judge_latency(&evidence, RULE);
        assert_eq!(verdict, Verdict::NoGo);
        assert!(reason.contains("not measured"), "{reason}");
        // A proven, large slowdown still rolls back.
        let interval = iv(3.0, 1.5, 6.0);
        let evidence = LatencyEvidence {
            interval: &interval,
            test: test(true),
            ..evidence
        };
        assert_eq!(judge_latency(&evidence, RULE).0, Verdict::Rollback);
    }
}
