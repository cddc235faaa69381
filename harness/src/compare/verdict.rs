//! Verdicts: the decision of a row or of a whole comparison, a row's rollback test, and
//! the overall verdict of a comparison.
//!
//! Each decision metric judges its own rows (see [`super::metrics`]): a row is GO only
//! when its whole interval lies within the go margin, ROLLBACK when proven beyond its
//! rollback threshold (Holm within its family), otherwise NO-GO (hold: neither proven
//! safe nor proven harmful).

use serde::{Deserialize, Serialize};

use super::validity::Invalidity;

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
    pub(crate) fn describe(&self) -> String {
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
