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

/// Judges a latency-ratio row. `rollback_proven` is the Holm-adjusted test result.
pub fn judge_latency(
    label: &str,
    interval: &Interval,
    rollback_proven: bool,
    go_ratio: f64,
    rollback_ratio: f64,
) -> (Verdict, String) {
    let shown = format!(
        "{label} ratio {:.3} [{:.3}, {:.3}]",
        interval.estimate, interval.low, interval.high
    );
    if rollback_proven {
        (
            Verdict::Rollback,
            format!(
                "{shown}: proven ≥ {rollback_ratio} (more than {:.0}% slower)",
                (rollback_ratio - 1.0) * 100.0
            ),
        )
    } else if interval.high <= go_ratio {
        (Verdict::Go, format!("{shown}: proven ≤ {go_ratio}"))
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

    #[test]
    fn latency_rows_follow_the_interval() {
        assert_eq!(
            judge_latency("p95", &iv(1.02, 0.98, 1.06), false, 1.10, 1.5).0,
            Verdict::Go
        );
        assert_eq!(
            judge_latency("p95", &iv(1.05, 0.9, 1.3), false, 1.10, 1.5).0,
            Verdict::NoGo
        );
        assert_eq!(
            judge_latency("p95", &iv(1.3, 1.2, 1.4), false, 1.10, 1.5).0,
            Verdict::NoGo
        );
        assert_eq!(
            judge_latency("p95", &iv(1.8, 1.6, 2.0), true, 1.10, 1.5).0,
            Verdict::Rollback
        );
        // Phase 4 asks for improvement: 1.02 is no longer enough.
        assert_eq!(
            judge_latency("p95", &iv(1.02, 0.98, 1.06), false, 1.00, 1.5).0,
            Verdict::NoGo
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
