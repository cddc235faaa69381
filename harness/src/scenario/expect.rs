//! The `[expect]` section of a scenario: resilience expectations judged on what was
//! observed under faults (the judging is `compare::judge_expectations`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::{HumanDuration, Probability};

/// The `[expect]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Paths judged (default: the candidate path).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Expectations whose failure rolls back (names of the keys below).
    #[serde(default)]
    pub critical: Vec<String>,
    /// The breaker opens (≥ 95% of requests short-circuited) within this after a fault starts.
    pub circuit_opens_within: Option<HumanDuration>,
    /// Short-circuited requests answer within this at p99.
    pub fail_fast_p99_below: Option<HumanDuration>,
    /// Success rate and amplification are back to normal within this after a fault ends.
    pub recovers_within: Option<HumanDuration>,
    /// Upstream attempts per client request during a fault stay at or below this.
    pub max_amplification: Option<f64>,
    /// The client error rate during a fault stays at or below this.
    pub max_error_rate_during: Option<Probability>,
    /// The client p99 during a fault stays below this (errors arrive at the service's
    /// timeout, not at the fault's length).
    pub max_p99_during: Option<HumanDuration>,
}

/// Names of the expectation keys, in table order.
pub const EXPECTATIONS: [&str; 6] = [
    "circuit_opens_within",
    "fail_fast_p99_below",
    "recovers_within",
    "max_amplification",
    "max_error_rate_during",
    "max_p99_during",
];

impl ExpectSpec {
    /// True when no expectation is set.
    pub fn is_empty(&self) -> bool {
        self.set().is_empty()
    }

    /// Checks names in `critical` and the numbers serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        for name in &self.critical {
            if !EXPECTATIONS.contains(&name.as_str()) {
                return Err(format!(
                    "critical names `{name}`, which is not an expectation; use one of {}",
                    EXPECTATIONS.join(", ")
                ));
            }
        }
        if let Some(a) = self.max_amplification
            && !(a.is_finite() && a >= 1.0)
        {
            return Err(format!(
                "max_amplification must be at least 1 (one attempt per request), got {a}"
            ));
        }
        Ok(())
    }

    /// The expectations that are set, with their thresholds, in table order.
    pub fn set(&self) -> Vec<(&'static str, Threshold)> {
        let mut out = Vec::new();
        if let Some(d) = self.circuit_opens_within {
            out.push(("circuit_opens_within", Threshold::Time(d.get())));
        }
        if let Some(d) = self.fail_fast_p99_below {
            out.push(("fail_fast_p99_below", Threshold::Time(d.get())));
        }
        if let Some(d) = self.recovers_within {
            out.push(("recovers_within", Threshold::Time(d.get())));
        }
        if let Some(a) = self.max_amplification {
            out.push(("max_amplification", Threshold::Number(a)));
        }
        if let Some(p) = self.max_error_rate_during {
            out.push(("max_error_rate_during", Threshold::Number(p.get())));
        }
        if let Some(d) = self.max_p99_during {
            out.push(("max_p99_during", Threshold::Time(d.get())));
        }
        out
    }
}

/// The threshold of one expectation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// A time limit.
    Time(Duration),
    /// A number (amplification, error rate).
    Number(f64),
}

impl Threshold {
    /// The threshold as a number: seconds for a time.
    pub fn value(self) -> f64 {
        match self {
            Threshold::Time(d) => d.as_secs_f64(),
            Threshold::Number(x) => x,
        }
    }

    /// `v` (in the unit of [`Self::value`]) for people: `1s 500ms`, `0.050`.
    pub fn show(self, v: f64) -> String {
        match self {
            Threshold::Time(_) => format!(
                "{}",
                humantime::format_duration(Duration::from_micros((v * 1e6) as u64))
            ),
            Threshold::Number(_) => format!("{v:.3}"),
        }
    }
}
