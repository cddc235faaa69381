//! A whole comparison: validity, rows, overall verdict and what it was computed from.

use serde::{Deserialize, Serialize};

use super::expectations::ExpectationRow;
use super::explain::{SpanExplanation, explain};
use super::metrics::{CrossCheck, cross_checks};
use super::noise::Noise;
use super::parity::ParityResult;
use super::row::Row;
use super::rows::build_rows;
use super::validity::{Invalidity, check};
use super::verdict::{Verdict, overall};
use crate::policy::{POLICY_VERSION, Policy, RowKind};
use crate::record::{FaultRecord, RunRecord, ScenarioRef};
use crate::resilience::Observation;

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

/// The resilience observations of one side's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathObservations {
    /// The path.
    pub path: String,
    /// Which side it was on: `base` or `candidate`.
    pub side: String,
    /// One per run and fault window.
    pub observations: Vec<Observation>,
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
    /// One row per resilience expectation and judged path.
    #[serde(default)]
    pub expectations: Vec<ExpectationRow>,
    /// The faults of the candidate's first run (both sides face the same ones).
    #[serde(default)]
    pub faults: Vec<FaultRecord>,
    /// What the faults showed, per path and fault window, over all runs (both sides).
    #[serde(default)]
    pub resilience: Vec<PathObservations>,
    /// What a reader must not miss about how the runs were made (a path that did not
    /// verify TLS certificates, a run whose generator could not keep up), from both
    /// sides' records, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The first answers that failed a check or an extraction, per side (which check,
    /// expected, actual; secrets redacted): what the error rows' counts are made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_failures: Vec<String>,
    /// The service's own counts of what harness observed from outside (breaker openings,
    /// retries) over the same fault windows, per path and `[[metric]]` rule that
    /// `observes` one; a disagreement is also a warning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_checks: Vec<CrossCheck>,
    /// Functional parity: the candidate's answers against the base's, beyond noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<ParityResult>,
    /// Where a NO-GO or ROLLBACK latency row's time went, by the engine's spans (both
    /// sides carried Dagger telemetry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<SpanExplanation>,
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
    let verdicts: Vec<Verdict> = rows
        .iter()
        .filter(|r| r.decides)
        .map(|r| r.verdict)
        .collect();
    let verdict = overall(&invalid, &verdicts);
    let reason = summarise(verdict, &invalid, &rows);
    let explanation = explain(&base.records, &candidate.records, &rows);
    let both: Vec<&RunRecord> = base.records.iter().chain(&candidate.records).collect();
    let service_checks = cross_checks(&both, policy);
    let mut warnings = warnings(&base.records, &candidate.records);
    warnings.extend(
        service_checks
            .iter()
            .filter(|c| !c.agree)
            .map(CrossCheck::line),
    );
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
        expectations: Vec::new(),
        faults: candidate
            .records
            .first()
            .map(|r| r.faults.clone())
            .unwrap_or_default(),
        resilience: [("base", base), ("candidate", candidate)]
            .into_iter()
            .filter_map(|(side, s)| {
                let observations: Vec<Observation> = s
                    .records
                    .iter()
                    .flat_map(|r| r.resilience.iter().cloned())
                    .collect();
                (!observations.is_empty()).then(|| PathObservations {
                    path: s
                        .records
                        .first()
                        .map(|r| r.path.clone())
                        .unwrap_or_default(),
                    side: side.to_string(),
                    observations,
                })
            })
            .collect(),
        warnings,
        service_checks,
        check_failures: [("base", base), ("candidate", candidate)]
            .into_iter()
            .flat_map(|(name, side)| check_samples(name, &side.records))
            .collect(),
        explanation,
        parity: None,
        verdict,
        reason,
    }
}

/// Check-failure samples a side's records kept, at most this many per side.
const CHECK_SAMPLES_PER_SIDE: usize = 5;

/// The first check-failure samples of a side's records, labelled with the run.
fn check_samples(side: &str, records: &[RunRecord]) -> Vec<String> {
    records
        .iter()
        .flat_map(|r| {
            r.notes
                .iter()
                .filter_map(|n| n.strip_prefix("check failed: "))
                .map(move |n| format!("{side} {} r{}: {n}", r.path, r.repetition))
        })
        .take(CHECK_SAMPLES_PER_SIDE)
        .collect()
}

/// The warnings of every record, in order, each once.
fn warnings(base: &[RunRecord], candidate: &[RunRecord]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    add_warnings(&mut all, base.iter().chain(candidate));
    all
}

/// Adds what `records` warn about to `all`, each once: each record's own warnings, then
/// whether its generator could not keep up ([`RunRecord::shortfall`]).
fn add_warnings<'a>(all: &mut Vec<String>, records: impl IntoIterator<Item = &'a RunRecord>) {
    for record in records {
        for warning in record.warnings.iter().cloned().chain(record.shortfall()) {
            if !all.contains(&warning) {
                all.push(warning);
            }
        }
    }
}

impl Comparison {
    /// Adds what `records` warn about (runs shown beside the comparison, such as the base
    /// path's live runs that checked a stored baseline for drift), each once.
    pub fn add_warnings(&mut self, records: &[RunRecord]) {
        add_warnings(&mut self.warnings, records);
    }

    /// The verdicts of the deciding rows and (when they decide) expectations.
    fn deciding_verdicts(&self) -> Vec<Verdict> {
        let expectations_decide = self.policy.decides(RowKind::Expectations);
        self.rows
            .iter()
            .filter(|r| r.decides)
            .map(|r| r.verdict)
            .chain(
                self.expectations
                    .iter()
                    .filter(|_| expectations_decide)
                    .map(|e| e.verdict),
            )
            .collect()
    }

    /// Adds judged parity; its rows count in the overall verdict like the others (unless
    /// `[policy] decide` leaves `parity` out). Call after [`Comparison::with_expectations`].
    pub fn with_parity(mut self, parity: ParityResult) -> Self {
        let decides = self.policy.decides(RowKind::Parity);
        let parity_verdicts: Vec<Verdict> = parity.rows.iter().map(|r| r.verdict).collect();
        let first = |v: Verdict| parity.rows.iter().find(|r| r.verdict == v);
        let steps = parity.noise.len();
        let rollback = first(Verdict::Rollback).map(|r| r.reason.clone());
        let hold = first(Verdict::NoGo).map(|r| r.reason.clone());
        self.parity = Some(parity);
        if !decides {
            return self;
        }
        let before = self.verdict;
        let expectations_decide = self.policy.decides(RowKind::Expectations);
        let mut verdicts = self.deciding_verdicts();
        verdicts.extend(parity_verdicts);
        self.verdict = overall(&self.invalid, &verdicts);
        let others_decide = self.rows.iter().any(|r| r.decides)
            || (expectations_decide && !self.expectations.is_empty());
        // Parity alone decides: the reason is parity's.
        let before = if others_decide { before } else { Verdict::Go };
        self.reason = match (self.verdict, before) {
            (Verdict::Go, _) if !others_decide => {
                format!("parity: no difference beyond noise on {steps} step(s)")
            }
            (Verdict::Rollback, b) if b != Verdict::Rollback => format!(
                "critical functionality failure (parity): {}",
                rollback.unwrap_or_default()
            ),
            (Verdict::NoGo, Verdict::Go) => {
                format!("parity not shown: {}", hold.unwrap_or_default())
            }
            (Verdict::Go, _) => format!(
                "{}; parity: no difference beyond noise on {steps} step(s)",
                self.reason
            ),
            _ => match rollback.or(hold) {
                Some(first) if self.verdict != Verdict::Inconclusive => {
                    format!("{}; parity: {first}", self.reason)
                }
                _ => self.reason,
            },
        };
        self
    }

    /// Adds judged resilience expectations; they count in the overall verdict like rows
    /// (unless `[policy] decide` leaves them out).
    pub fn with_expectations(mut self, expectations: Vec<ExpectationRow>) -> Self {
        self.expectations.extend(expectations);
        let expectations_decide = self.policy.decides(RowKind::Expectations);
        self.verdict = overall(&self.invalid, &self.deciding_verdicts());
        let unmet: Vec<&ExpectationRow> = self
            .expectations
            .iter()
            .filter(|e| expectations_decide && e.verdict != Verdict::Go)
            .collect();
        let row_rollback = self
            .rows
            .iter()
            .any(|r| r.decides && r.verdict == Verdict::Rollback);
        self.reason = match (self.verdict, unmet.first()) {
            (Verdict::Rollback, Some(first)) if !row_rollback => {
                let critical = unmet
                    .iter()
                    .find(|e| e.verdict == Verdict::Rollback)
                    .unwrap_or(first);
                format!("critical resilience expectation unmet: {}", critical.reason)
            }
            (Verdict::Go, _) => format!(
                "all {} deciding rows and {} resilience expectation(s) proven within their margins",
                self.rows.iter().filter(|r| r.decides).count(),
                if expectations_decide {
                    self.expectations.len()
                } else {
                    0
                }
            ),
            (Verdict::Inconclusive, Some(_)) if self.invalid.is_empty() => {
                let unjudged: Vec<&&ExpectationRow> = unmet
                    .iter()
                    .filter(|e| e.verdict == Verdict::Inconclusive)
                    .collect();
                format!(
                    "{} resilience expectation(s) could not be judged, e.g. {}",
                    unjudged.len(),
                    unjudged.first().map_or("", |e| e.reason.as_str())
                )
            }
            (Verdict::Inconclusive, _) | (_, None) => {
                summarise(self.verdict, &self.invalid, &self.rows)
            }
            (_, Some(first)) => format!(
                "{}; {} resilience expectation(s) unmet, e.g. {}",
                summarise(self.verdict, &self.invalid, &self.rows),
                unmet.len(),
                first.reason
            ),
        };
        self
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

/// The reason line of a verdict, over the rows that decide.
fn summarise(verdict: Verdict, invalid: &[Invalidity], all_rows: &[Row]) -> String {
    let rows: Vec<&Row> = all_rows.iter().filter(|r| r.decides).collect();
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
            let also: Vec<&str> = invalid.iter().map(|i| i.message.as_str()).collect();
            format!(
                "{} row(s) proven beyond a rollback threshold{}{}",
                count(Verdict::Rollback),
                first
                    .map(|r| format!(", e.g. {}: {}", r.step, r.reason))
                    .unwrap_or_default(),
                if also.is_empty() {
                    String::new()
                } else {
                    format!("; also {}", also.join("; "))
                }
            )
        }
        Verdict::Go => format!("all {} rows proven within their go margins", rows.len()),
        Verdict::NoGo => {
            // Rows proven beyond their rollback threshold that hold rather than roll back
            // (a metric row that is not critical).
            let held: Vec<String> = rows
                .iter()
                .filter(|r| r.verdict == Verdict::NoGo && r.rollback_proven)
                .filter(|r| matches!(r.metric, super::row::Metric::Service { .. }))
                .map(|r| r.metric.label())
                .collect();
            if held.is_empty() {
                format!(
                    "{} of {} rows not proven within their go margins (none proven beyond rollback): hold, or run more repetitions",
                    rows.len() - count(Verdict::Go),
                    rows.len()
                )
            } else {
                format!(
                    "{} of {} rows not proven within their go margins; {} proven worse beyond the rollback ratio but not critical: hold (resource utilization concerns)",
                    rows.len() - count(Verdict::Go),
                    rows.len(),
                    held.join(", ")
                )
            }
        }
    }
}
