//! Validity checks: a comparison that fails one is INCONCLUSIVE, never GO.

use serde::{Deserialize, Serialize};

use crate::outcome::OutcomeClass;

use crate::policy::Policy;
use crate::record::RunRecord;

/// Which validity check a problem failed: its short machine name in `result.json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidityCheck {
    /// The runs measured different scenario versions.
    ScenarioHash,
    /// The runs were made on different machines or harness versions.
    Environment,
    /// A run was interrupted.
    Incomplete,
    /// The generator fell short of the target rate.
    AchievedRate,
    /// A step has too few requests on a side.
    TooFewSamples,
    /// The candidate seldom reached a step the base ran often: its earlier steps failed.
    CandidateStarved,
    /// A side has no runs.
    NoRuns,
    /// The live base path drifted outside the stored baseline's noise band.
    BaseDrift,
    /// A side holds runs of more than one path.
    MixedPaths,
    /// The same run is given twice.
    DuplicateRun,
    /// A step some run has and another lacks.
    StepMissing,
    /// The stored baseline measured a running service, and the runs made now measured
    /// the reference platform standing in for it (its environment variables unset).
    StandIn,
    /// The Dagger engine refused some of a run's queries as invalid GraphQL
    /// (`query_invalid`): the harness or the scenario asked for something the engine's
    /// schema lacks, so the path's errors say nothing about the pipeline.
    QueryInvalid,
    /// A check this version does not know, kept verbatim (read from a newer file).
    #[serde(untagged)]
    Other(String),
}

impl InvalidityCheck {
    /// Every check this version makes.
    pub const ALL: [InvalidityCheck; 13] = [
        InvalidityCheck::ScenarioHash,
        InvalidityCheck::Environment,
        InvalidityCheck::Incomplete,
        InvalidityCheck::AchievedRate,
        InvalidityCheck::TooFewSamples,
        InvalidityCheck::CandidateStarved,
        InvalidityCheck::NoRuns,
        InvalidityCheck::BaseDrift,
        InvalidityCheck::MixedPaths,
        InvalidityCheck::DuplicateRun,
        InvalidityCheck::StepMissing,
        InvalidityCheck::StandIn,
        InvalidityCheck::QueryInvalid,
    ];

    /// The short machine name: `scenario_hash`, `step_missing`, ...
    pub fn as_str(&self) -> &str {
        match self {
            InvalidityCheck::ScenarioHash => "scenario_hash",
            InvalidityCheck::Environment => "environment",
            InvalidityCheck::Incomplete => "incomplete",
            InvalidityCheck::AchievedRate => "achieved_rate",
            InvalidityCheck::TooFewSamples => "too_few_samples",
            InvalidityCheck::CandidateStarved => "candidate_starved",
            InvalidityCheck::NoRuns => "no_runs",
            InvalidityCheck::BaseDrift => "base_drift",
            InvalidityCheck::MixedPaths => "mixed_paths",
            InvalidityCheck::DuplicateRun => "duplicate_run",
            InvalidityCheck::StepMissing => "step_missing",
            InvalidityCheck::StandIn => "stand_in",
            InvalidityCheck::QueryInvalid => "query_invalid",
            InvalidityCheck::Other(name) => name,
        }
    }
}

impl From<&str> for InvalidityCheck {
    /// The check of that machine name; an unknown name is kept as [`Self::Other`].
    fn from(name: &str) -> Self {
        InvalidityCheck::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .unwrap_or_else(|| InvalidityCheck::Other(name.to_string()))
    }
}

impl std::fmt::Display for InvalidityCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for InvalidityCheck {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why a comparison is not valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invalidity {
    /// Which check failed.
    pub check: InvalidityCheck,
    /// One line for people, with the numbers.
    pub message: String,
}

impl Invalidity {
    /// Whether the comparison may still roll back despite this problem: a candidate
    /// that fails so early that it seldom reaches a later step has starved that step of
    /// requests, and that must not shield its failures from a rollback (it still
    /// prevents GO and NO-GO: the comparison is then INCONCLUSIVE).
    pub fn allows_rollback(&self) -> bool {
        self.check == InvalidityCheck::CandidateStarved
    }

    /// A problem found by `check`.
    pub fn new(check: impl Into<InvalidityCheck>, message: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            message: message.into(),
        }
    }
}

/// Every validity problem of comparing `candidate` with `base` under `policy`.
pub fn check(base: &[RunRecord], candidate: &[RunRecord], policy: &Policy) -> Vec<Invalidity> {
    let mut problems = Vec::new();
    if base.is_empty() || candidate.is_empty() {
        problems.push(Invalidity::new(
            InvalidityCheck::NoRuns,
            "one side has no runs to compare",
        ));
        return problems;
    }
    let all = || base.iter().chain(candidate.iter());
    let first = &base[0];
    if let Some(other) = all().find(|r| r.scenario.hash != first.scenario.hash) {
        problems.push(Invalidity::new(
            InvalidityCheck::ScenarioHash,
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
    problems.extend(mixed_paths(base, candidate));
    problems.extend(duplicates(base, candidate));
    problems.extend(missing_steps(base, candidate));
    let fingerprint = first.environment.fingerprint();
    if let Some(other) = all().find(|r| r.environment.fingerprint() != fingerprint) {
        problems.push(Invalidity::new(
            InvalidityCheck::Environment,
            format!(
                "environment differs: {} r{} and {} r{} were measured on different machines ({}); measure both paths on one machine (a live compare decides on the live pair), or save the baseline again here",
                first.path,
                first.repetition,
                other.path,
                other.repetition,
                first.environment.describe_changes(&other.environment)
            ),
        ));
    }
    for r in all() {
        let refused: u64 = r
            .steps
            .iter()
            .filter_map(|s| s.classes.get(&OutcomeClass::QueryInvalid))
            .sum();
        if refused > 0 {
            problems.push(Invalidity::new(
                InvalidityCheck::QueryInvalid,
                format!(
                    "{} r{}: the Dagger engine refused {refused} queries as invalid GraphQL (query_invalid): a field, function or argument its schema lacks — a harness or scenario bug, not a failing pipeline; the run's notes quote the engine",
                    r.path, r.repetition
                ),
            ));
        }
    }
    for r in all().filter(|r| !r.complete) {
        problems.push(Invalidity::new(
            InvalidityCheck::Incomplete,
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
                    InvalidityCheck::AchievedRate,
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
    let requests = step_requests;
    for (side, records, other) in [("base", base, candidate), ("candidate", candidate, base)] {
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
            if is_session_step(base, candidate, &flow, &step) {
                // Judged only when both sides have enough (see `rows`); never invalid.
                continue;
            }
            let mine = requests(records, &flow, &step);
            if mine >= policy.min_samples {
                continue;
            }
            let theirs = requests(other, &flow, &step);
            if side == "candidate" && theirs >= policy.min_samples {
                problems.push(Invalidity::new(
                    InvalidityCheck::CandidateStarved,
                    format!(
                        "candidate {flow}/{step}: {mine} requests (< {}) where the base made {theirs}: the candidate's earlier steps failed, so it seldom got this far: the failures are judged where they happened, this step's rows are not judged",
                        policy.min_samples
                    ),
                ));
            } else {
                problems.push(Invalidity::new(
                    InvalidityCheck::TooFewSamples,
                    format!(
                        "{side} {flow}/{step}: {mine} requests (< {}); run longer or at a higher rate",
                        policy.min_samples
                    ),
                ));
            }
        }
    }
    problems
}

/// True when some run records `flow/step` as a session step (an MCP `initialize`).
pub(crate) fn is_session_step(
    base: &[RunRecord],
    candidate: &[RunRecord],
    flow: &str,
    step: &str,
) -> bool {
    base.iter()
        .chain(candidate)
        .flat_map(|r| &r.steps)
        .any(|s| s.session && s.flow == flow && s.step == step)
}

/// Requests of `flow/step` over `records`, dropped arrivals left out. Requests, not
/// successes: a candidate that fails every request has plenty of evidence, and must roll
/// back rather than be called inconclusive.
pub(crate) fn step_requests(records: &[RunRecord], flow: &str, step: &str) -> u64 {
    records
        .iter()
        .filter_map(|r| r.steps.iter().find(|s| s.flow == flow && s.step == step))
        .map(|s| s.count().saturating_sub(s.dropped_count()))
        .sum()
}

/// One side holding runs of more than one path: its repetitions would not measure one
/// thing.
fn mixed_paths(base: &[RunRecord], candidate: &[RunRecord]) -> Vec<Invalidity> {
    let mut problems = Vec::new();
    for (side, records) in [("base", base), ("candidate", candidate)] {
        let mut paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        if paths.len() > 1 {
            problems.push(Invalidity::new(
                InvalidityCheck::MixedPaths,
                format!(
                    "the {side} side holds runs of {} paths ({}): give each side the runs of one path",
                    paths.len(),
                    paths.join(", ")
                ),
            ));
        }
    }
    problems
}

/// The same run given twice (the same path, repetition and start, or the same content)
/// would count as two repetitions and fake precision.
fn duplicates(base: &[RunRecord], candidate: &[RunRecord]) -> Vec<Invalidity> {
    let all: Vec<(&str, usize, &RunRecord)> = base
        .iter()
        .enumerate()
        .map(|(i, r)| ("base", i, r))
        .chain(
            candidate
                .iter()
                .enumerate()
                .map(|(i, r)| ("candidate", i, r)),
        )
        .collect();
    let mut problems = Vec::new();
    for (j, (side_b, i_b, b)) in all.iter().enumerate() {
        let earlier = all[..j].iter().find(|(_, _, a)| same_run(a, b));
        if let Some((side_a, i_a, a)) = earlier {
            problems.push(Invalidity::new(
                InvalidityCheck::DuplicateRun,
                format!(
                    "{} r{} (started {}) is given twice: {side_a} run {} and {side_b} run {}; each run counts once",
                    a.path,
                    a.repetition,
                    a.started_at,
                    i_a + 1,
                    i_b + 1
                ),
            ));
        }
    }
    problems
}

/// Whether two records are the same run: the same path, repetition, start and scenario,
/// or the same path, start and measurements (a copy with its repetition edited). Equal
/// measurements alone are not enough: a cached endpoint answers in 0 µs run after run.
pub fn same_run(a: &RunRecord, b: &RunRecord) -> bool {
    let same_start = a.path == b.path && a.started_at == b.started_at;
    let identity = same_start && a.repetition == b.repetition && a.scenario.hash == b.scenario.hash;
    identity || (same_start && a.steps == b.steps && a.timeline == b.timeline)
}

/// A step some run has and another lacks: its rows would silently leave the decision.
fn missing_steps(base: &[RunRecord], candidate: &[RunRecord]) -> Vec<Invalidity> {
    let all = || {
        base.iter()
            .map(|r| ("base", r))
            .chain(candidate.iter().map(|r| ("candidate", r)))
    };
    let mut steps: Vec<(&str, &str)> = Vec::new();
    for (_, r) in all() {
        for s in &r.steps {
            if !steps.contains(&(s.flow.as_str(), s.step.as_str())) {
                steps.push((s.flow.as_str(), s.step.as_str()));
            }
        }
    }
    let mut problems = Vec::new();
    for (flow, step) in steps {
        let has = |r: &RunRecord| r.steps.iter().any(|s| s.flow == flow && s.step == step);
        let lacking: Vec<String> = all()
            .filter(|(_, r)| !has(r))
            .map(|(side, r)| format!("{side} {} r{}", r.path, r.repetition))
            .collect();
        if !lacking.is_empty() {
            problems.push(Invalidity::new(
                InvalidityCheck::StepMissing,
                format!(
                    "step {flow}/{step} is missing from {}: compare runs of the same scenario version, whole",
                    lacking.join(", ")
                ),
            ));
        }
    }
    problems
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_serialize_to_their_machine_names() {
        for check in InvalidityCheck::ALL {
            let json = serde_json::to_string(&check).expect("a string");
            assert_eq!(json, format!("\"{}\"", check.as_str()));
            let back: InvalidityCheck = serde_json::from_str(&json).expect("a check");
            assert_eq!(back, check);
            assert_eq!(InvalidityCheck::from(check.as_str()), check);
        }
        assert_eq!(
            serde_json::to_string(&InvalidityCheck::StepMissing).expect("a string"),
            "\"step_missing\""
        );
    }

    #[test]
    fn an_unknown_check_from_a_newer_file_is_kept_verbatim() {
        let check: InvalidityCheck = serde_json::from_str("\"future_check\"").expect("kept");
        assert_eq!(check, InvalidityCheck::Other("future_check".into()));
        assert_eq!(
            serde_json::to_string(&check).expect("a string"),
            "\"future_check\""
        );
    }
}
