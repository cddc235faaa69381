//! A whole comparison: validity, rows, overall verdict and what it was computed from.

use serde::{Deserialize, Serialize};

use super::rows::{Noise, Row, build_rows};
use super::validity::{Invalidity, check};
use super::verdict::{Verdict, overall};
use crate::policy::{POLICY_VERSION, Policy};
use crate::record::{RunRecord, ScenarioRef};

/// Schema name of a comparison in JSON.
pub const COMPARISON_SCHEMA: &str = "harness-comparison/v1";

/// One side of a comparison, as the caller supplies it.
#[derive(Debug, Clone)]
pub struct Side {
    /// What this side is, for people ("legacy, live", "baselines/demo/legacy.json").
    pub label: String,
    /// Its runs.
    pub records: Vec<RunRecord>,
    /// Between-run noise known for this side (from a baseline), used by single-run rows.
    pub noise: Noise,
}

/// What a side was, in the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideSummary {
    /// What this side is, for people.
    pub label: String,
    /// Path name of its runs.
    pub path: String,
    /// Number of runs.
    pub runs: usize,
    /// Scenario hash of its first run.
    pub scenario_hash: String,
    /// Environment fingerprint of its first run.
    pub environment: String,
}

/// The result of comparing a candidate with a base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Always [`COMPARISON_SCHEMA`].
    pub schema: String,
    /// The scenario compared.
    pub scenario: ScenarioRef,
    /// The base side.
    pub base: SideSummary,
    /// The candidate side.
    pub candidate: SideSummary,
    /// Version of the decision rules.
    pub policy_version: String,
    /// The thresholds in force.
    pub policy: Policy,
    /// Why the comparison is not valid (empty when it is).
    pub invalid: Vec<Invalidity>,
    /// One row per step and metric.
    pub rows: Vec<Row>,
    /// The overall decision.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
}

/// Compares `candidate` with `base` under `policy`. Pure: no I/O, no clock.
pub fn compare(
    base: &Side,
    candidate: &Side,
    policy: &Policy,
    extra_invalid: Vec<Invalidity>,
) -> Comparison {
    let mut invalid = check(&base.records, &candidate.records, policy);
    invalid.extend(extra_invalid);
    let rows = build_rows(&base.records, &candidate.records, &base.noise, policy);
    let verdicts: Vec<Verdict> = rows.iter().map(|r| r.verdict).collect();
    let verdict = overall(invalid.is_empty(), &verdicts);
    let reason = summarise(verdict, &invalid, &rows);
    let scenario = candidate
        .records
        .first()
        .or(base.records.first())
        .map(|r| r.scenario.clone())
        .unwrap_or(ScenarioRef {
            name: String::new(),
            hash: String::new(),
            file: String::new(),
        });
    Comparison {
        schema: COMPARISON_SCHEMA.to_string(),
        scenario,
        base: summary(base),
        candidate: summary(candidate),
        policy_version: POLICY_VERSION.to_string(),
        policy: policy.clone(),
        invalid,
        rows,
        verdict,
        reason,
    }
}

fn summary(side: &Side) -> SideSummary {
    let first = side.records.first();
    SideSummary {
        label: side.label.clone(),
        path: first.map(|r| r.path.clone()).unwrap_or_default(),
        runs: side.records.len(),
        scenario_hash: first.map(|r| r.scenario.hash.clone()).unwrap_or_default(),
        environment: first
            .map(|r| r.environment.fingerprint())
            .unwrap_or_default(),
    }
}

fn summarise(verdict: Verdict, invalid: &[Invalidity], rows: &[Row]) -> String {
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    match verdict {
        Verdict::Inconclusive => format!(
            "the comparison is not valid: {}",
            invalid
                .iter()
                .map(|i| i.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Verdict::Rollback => {
            let first = rows.iter().find(|r| r.verdict == Verdict::Rollback);
            format!(
                "{} row(s) proven beyond a rollback threshold{}",
                count(Verdict::Rollback),
                first
                    .map(|r| format!(", e.g. {}: {}", r.step, r.reason))
                    .unwrap_or_default()
            )
        }
        Verdict::Go => format!("all {} rows proven within their go margins", rows.len()),
        Verdict::NoGo => format!(
            "{} of {} rows not proven within their go margins (none proven beyond rollback): hold, or run more repetitions",
            rows.len() - count(Verdict::Go),
            rows.len()
        ),
    }
}
