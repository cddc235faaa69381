//! Validity checks: a comparison that fails one is INCONCLUSIVE, never GO.

use serde::{Deserialize, Serialize};

use crate::policy::Policy;
use crate::record::RunRecord;

/// Why a comparison is not valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invalidity {
    /// Short machine name: `scenario_hash`, `environment`, `incomplete`, `achieved_rate`,
    /// `too_few_samples`, `no_runs`, `base_drift`.
    pub check: String,
    /// One line for people, with the numbers.
    pub message: String,
}

impl Invalidity {
    /// A problem found by `check`.
    pub fn new(check: &str, message: impl Into<String>) -> Self {
        Self {
            check: check.to_string(),
            message: message.into(),
        }
    }
}

/// Every validity problem of comparing `candidate` with `base` under `policy`.
pub fn check(base: &[RunRecord], candidate: &[RunRecord], policy: &Policy) -> Vec<Invalidity> {
    let mut problems = Vec::new();
    if base.is_empty() || candidate.is_empty() {
        problems.push(Invalidity::new(
            "no_runs",
            "one side has no runs to compare",
        ));
        return problems;
    }
    let all = || base.iter().chain(candidate.iter());
    let first = &base[0];
    if let Some(other) = all().find(|r| r.scenario.hash != first.scenario.hash) {
        problems.push(Invalidity::new(
            "scenario_hash",
            format!(
                "scenario hash differs: {} ({} r{}) vs {} ({} r{}); the runs measured different load, flows or settings",
                short(&first.scenario.hash),
                first.path,
                first.repetition,
                short(&other.scenario.hash),
                other.path,
                other.repetition
            ),
        ));
    }
    let fingerprint = first.environment.fingerprint();
    if let Some(other) = all().find(|r| r.environment.fingerprint() != fingerprint) {
        problems.push(Invalidity::new(
            "environment",
            format!(
                "environment differs: {} r{} ran on {} ({} cores, harness {}), {} r{} on {} ({} cores, harness {})",
                first.path,
                first.repetition,
                first.environment.cpu_model,
                first.environment.logical_cores,
                first.environment.harness_version,
                other.path,
                other.repetition,
                other.environment.cpu_model,
                other.environment.logical_cores,
                other.environment.harness_version
            ),
        ));
    }
    for r in all().filter(|r| !r.complete) {
        problems.push(Invalidity::new(
            "incomplete",
            format!(
                "{} r{} was interrupted (complete: false)",
                r.path, r.repetition
            ),
        ));
    }
    let floor = policy.min_achieved_rate.get();
    for r in all() {
        if let Some(target) = r.load.target_rate.filter(|t| *t > 0.0) {
            let share = r.load.achieved_rate / target;
            if share < floor {
                problems.push(Invalidity::new(
                    "achieved_rate",
                    format!(
                        "{} r{} achieved {:.1}/s of a {:.1}/s target ({:.1}% < {:.0}%): the generator or the client side was the bottleneck",
                        r.path,
                        r.repetition,
                        r.load.achieved_rate,
                        target,
                        share * 100.0,
                        floor * 100.0
                    ),
                ));
            }
        }
    }
    for (side, records) in [("base", base), ("candidate", candidate)] {
        let mut steps: Vec<(String, String)> = Vec::new();
        for r in records {
            for s in &r.steps {
                let key = (s.flow.clone(), s.step.clone());
                if !steps.contains(&key) {
                    steps.push(key);
                }
            }
        }
        for (flow, step) in steps {
            // Requests, not successes: a candidate that fails every request has plenty
            // of evidence, and must roll back rather than be called inconclusive.
            let requests: u64 = records
                .iter()
                .filter_map(|r| r.steps.iter().find(|s| s.flow == flow && s.step == step))
                .map(|s| s.count().saturating_sub(s.dropped_count()))
                .sum();
            if requests < policy.min_samples {
                problems.push(Invalidity::new(
                    "too_few_samples",
                    format!(
                        "{side} {flow}/{step}: {requests} requests (< {}); run longer or at a higher rate",
                        policy.min_samples
                    ),
                ));
            }
        }
    }
    problems
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
