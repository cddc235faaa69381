//! Verdicts: one small pure function per kind of row, and one for the whole comparison.
//!
//! A latency row is ROLLBACK when its best estimate is beyond the rollback ratio and the
//! ratio is proven beyond the midpoint of go margin and rollback ratio (Holm over the
//! step's latency rows); an error
//! row when the increase is proven beyond the margin (Holm over the comparison's error
//! rows). A row is GO only when its whole interval lies
//! within the go margin; otherwise NO-GO (hold: neither proven safe nor proven harmful).

use serde::{Deserialize, Serialize};

use super::stats::Interval;
use super::validity::Invalidity;
use crate::policy::Policy;

/// The decision of a row or of a whole comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// Proven within the go margins.
    #[serde(rename = "GO")]
    Go,
    /// Not proven safe, not proven harmful: hold, run more repetitions.
    #[serde(rename = "NO-GO")]
    NoGo,
    /// Proven beyond a rollback threshold.
    #[serde(rename = "ROLLBACK")]
    Rollback,
    /// The comparison is not valid.
    #[serde(rename = "INCONCLUSIVE")]
    Inconclusive,
}

impl Verdict {
    /// `GO`, `NO-GO`, `ROLLBACK` or `INCONCLUSIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Go => "GO",
            Verdict::NoGo => "NO-GO",
            Verdict::Rollback => "ROLLBACK",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

/// A row's rollback test: its one-sided p-value, Holm-adjusted within its family (the
/// step's latency rows, or the comparison's error-rate rows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollbackTest {
    /// The p-value before adjustment.
    pub p: f64,
    /// After Holm's adjustment within its family.
    pub p_adjusted: f64,
    /// The family-wise level.
    pub alpha: f64,
    /// Whether Holm's procedure rejects it.
    pub proven: bool,
}

impl RollbackTest {
    /// `p 0.0040, Holm-adjusted 0.0079 ≤ α 0.05`.
    fn describe(&self) -> String {
        let relation = if self.proven { "≤" } else { ">" };
        format!(
            "p {}, Holm-adjusted {} {relation} α {}",
            p_text(self.p),
            p_text(self.p_adjusted),
            self.alpha
        )
    }
}

fn p_text(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
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
    let shown = format!(
        "{label} Δ {:+.4} [{:+.4}, {:+.4}]",
        difference.estimate, difference.low, difference.high
    );
    // Proven by the test and shown by the interval, so the reason agrees with both.
    let proven = test.proven && difference.low > margin;
    if proven && candidate_errors >= policy.min_candidate_errors {
        (
            Verdict::Rollback,
            format!(
                "{shown}: proven above the margin {margin:.4} ({candidate_errors} candidate errors; {})",
                test.describe()
            ),
        )
    } else if difference.high <= margin {
        (Verdict::Go, format!("{shown}: proven ≤ margin {margin:.4}"))
    } else if proven {
        (
            Verdict::NoGo,
            format!(
                "{shown}: proven above the margin {margin:.4} but only {candidate_errors} candidate errors (< {}) to roll back on",
                policy.min_candidate_errors
            ),
        )
    } else if difference.low > margin && !test.proven {
        (
            Verdict::NoGo,
            format!(
                "{shown}: the interval lies above the margin {margin:.4}, but Holm's adjustment holds the rollback back ({}); run more repetitions",
                test.describe()
            ),
        )
    } else {
        (
            Verdict::NoGo,
            format!(
                "{shown}: interval reaches past the margin {margin:.4}; not proven either way, run more repetitions"
            ),
        )
    }
}

/// The overall verdict: invalid → INCONCLUSIVE (unless every problem allows a
/// rollback, see [`Invalidity::allows_rollback`], and a row rolls back); any ROLLBACK →
/// ROLLBACK; any row that could not be judged (an expectation without attribution) →
/// INCONCLUSIVE; all GO → GO; else NO-GO. No rows at all is never GO.
pub fn overall(invalid: &[Invalidity], rows: &[Verdict]) -> Verdict {
    if invalid.iter().any(|i| !i.allows_rollback()) {
        Verdict::Inconclusive
    } else if rows.contains(&Verdict::Rollback) {
        Verdict::Rollback
    } else if !invalid.is_empty() || rows.contains(&Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else if !rows.is_empty() && rows.iter().all(|v| *v == Verdict::Go) {
        Verdict::Go
    } else {
        Verdict::NoGo
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

    #[test]
    fn the_whole_is_never_go_when_invalid_or_empty() {
        let invalid = [Invalidity::new("scenario_hash", "differs")];
        let starved = [Invalidity::new("candidate_starved", "few")];
        assert_eq!(overall(&invalid, &[Verdict::Go]), Verdict::Inconclusive);
        assert_eq!(
            overall(&invalid, &[Verdict::Rollback]),
            Verdict::Inconclusive
        );
        assert_eq!(overall(&starved, &[Verdict::Rollback]), Verdict::Rollback);
        assert_eq!(overall(&starved, &[Verdict::Go]), Verdict::Inconclusive);
        assert_eq!(overall(&[], &[]), Verdict::NoGo);
        assert_eq!(overall(&[], &[Verdict::Go, Verdict::Go]), Verdict::Go);
        assert_eq!(overall(&[], &[Verdict::Go, Verdict::NoGo]), Verdict::NoGo);
        assert_eq!(
            overall(&[], &[Verdict::NoGo, Verdict::Rollback]),
            Verdict::Rollback
        );
    }
}
