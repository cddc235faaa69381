//! Verdicts: one small pure function per kind of row, and one for the whole comparison.
//!
//! A row is ROLLBACK only when its rollback test is significant after Holm–Bonferroni
//! across every row; GO only when its whole interval lies within the go margin;
//! otherwise NO-GO (hold: neither proven safe nor proven harmful).

use serde::{Deserialize, Serialize};

use super::stats::Interval;
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
    /// A ratio proven at or above this rolls back.
    pub rollback_ratio: f64,
    /// Absolute differences proven below this (µs) are negligible.
    pub floor_us: f64,
}

/// Judges a latency-ratio row. `rollback_proven` is the Holm-adjusted test result;
/// `base_us` turns the ratio interval into an absolute difference for the floor.
pub fn judge_latency(
    label: &str,
    interval: &Interval,
    rollback_proven: bool,
    base_us: f64,
    rule: LatencyRule,
) -> (Verdict, String) {
    let LatencyRule {
        go_ratio,
        rollback_ratio,
        floor_us,
    } = rule;
    let shown = format!(
        "{label} ratio {:.3} [{:.3}, {:.3}]",
        interval.estimate, interval.low, interval.high
    );
    let most_added_us = base_us * (interval.high - 1.0);
    let least_added_us = base_us * (interval.low - 1.0);
    if rollback_proven && least_added_us >= floor_us {
        (
            Verdict::Rollback,
            format!(
                "{shown}: proven ≥ {rollback_ratio} (more than {:.0}% slower)",
                (rollback_ratio - 1.0) * 100.0
            ),
        )
    } else if interval.high <= go_ratio {
        (Verdict::Go, format!("{shown}: proven ≤ {go_ratio}"))
    } else if most_added_us <= floor_us && (go_ratio > 1.0 || interval.low <= 1.0) {
        // When improvement is required (go_ratio ≤ 1), the floor forgives noise on a tiny
        // step, never a slowdown that is proven.
        (
            Verdict::Go,
            format!(
                "{shown}: at most {:.0} µs slower, under the {:.0} µs floor",
                most_added_us.max(0.0),
                floor_us
            ),
        )
    } else if rollback_proven {
        (
            Verdict::NoGo,
            format!(
                "{shown}: proven ≥ {rollback_ratio} but by less than the {:.0} µs floor",
                floor_us
            ),
        )
    } else if interval.low > go_ratio {
        (
            Verdict::NoGo,
            format!("{shown}: slower than the go margin {go_ratio}, not proven ≥ {rollback_ratio}"),
        )
    } else {
        (
            Verdict::NoGo,
            format!(
                "{shown}: interval reaches past {go_ratio}; not proven either way, run more repetitions"
            ),
        )
    }
}

/// Judges an error-rate row: `difference` is candidate − base, `margin` the allowed increase.
pub fn judge_errors(
    label: &str,
    difference: &Interval,
    margin: f64,
    rollback_proven: bool,
    candidate_errors: u64,
    policy: &Policy,
) -> (Verdict, String) {
    let shown = format!(
        "{label} Δ {:+.4} [{:+.4}, {:+.4}]",
        difference.estimate, difference.low, difference.high
    );
    if rollback_proven && candidate_errors >= policy.min_candidate_errors {
        (
            Verdict::Rollback,
            format!(
                "{shown}: proven above the margin {margin:.4} ({candidate_errors} candidate errors)"
            ),
        )
    } else if difference.high <= margin {
        (Verdict::Go, format!("{shown}: proven ≤ margin {margin:.4}"))
    } else if rollback_proven {
        (
            Verdict::NoGo,
            format!(
                "{shown}: above the margin {margin:.4} but only {candidate_errors} candidate errors (< {}) to roll back on",
                policy.min_candidate_errors
            ),
        )
    } else {
        (
            Verdict::NoGo,
            format!("{shown}: not proven within the margin {margin:.4}; run more repetitions"),
        )
    }
}

/// The overall verdict: invalid → INCONCLUSIVE; any ROLLBACK → ROLLBACK; all GO → GO;
/// else NO-GO. No rows at all is never GO.
pub fn overall(valid: bool, rows: &[Verdict]) -> Verdict {
    if !valid {
        Verdict::Inconclusive
    } else if rows.contains(&Verdict::Rollback) {
        Verdict::Rollback
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

    fn latency(interval: Interval, proven: bool, base_us: f64, rule: LatencyRule) -> Verdict {
        judge_latency("p95", &interval, proven, base_us, rule).0
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
        assert_eq!(latency(iv(1.3, 1.2, 1.4), false, base, RULE), Verdict::NoGo);
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
    fn error_rollback_needs_enough_candidate_errors() {
        let p = Policy::default();
        let d = iv(0.05, 0.01, 0.09);
        assert_eq!(
            judge_errors("errors", &d, 0.001, true, 4, &p).0,
            Verdict::NoGo
        );
        assert_eq!(
            judge_errors("errors", &d, 0.001, true, 5, &p).0,
            Verdict::Rollback
        );
        assert_eq!(
            judge_errors("errors", &iv(0.0, -0.0005, 0.0008), 0.001, false, 0, &p).0,
            Verdict::Go
        );
    }

    #[test]
    fn the_whole_is_never_go_when_invalid_or_empty() {
        assert_eq!(overall(false, &[Verdict::Go]), Verdict::Inconclusive);
        assert_eq!(overall(true, &[]), Verdict::NoGo);
        assert_eq!(overall(true, &[Verdict::Go, Verdict::Go]), Verdict::Go);
        assert_eq!(overall(true, &[Verdict::Go, Verdict::NoGo]), Verdict::NoGo);
        assert_eq!(
            overall(true, &[Verdict::NoGo, Verdict::Rollback]),
            Verdict::Rollback
        );
    }
}
