//! A decision: the candidate path against the base path, live (both run now, or the
//! candidate now against a stored baseline, the live base run checking drift) or
//! offline (run records and baselines read from files). `[expect]` is judged here, on
//! both sides' runs, so every caller gets the same comparison.

use std::path::{Path, PathBuf};

use crate::compare::judge_parity;
use crate::compare::{
    Comparison, Invalidity, InvalidityCheck, Noise, Side, check_drift, compare, drift_summary,
    judge_expectations,
};
use crate::parity::{ParityRecord, run_parity};
use crate::policy::Policy;
use crate::record::RunRecord;
use crate::report::{Format, ReportDocument, ReportManager};
use crate::runner::RunPlan;
use crate::scenario::{ExpectSpec, ParitySpec, Scenario};

use super::sides::{folder_name, load_side, refuse_duplicates};
use super::{Controls, PipelineError, run_records};

/// A decision and everything its report needs besides it.
#[derive(Debug)]
pub struct Decided {
    /// The decision.
    pub comparison: Comparison,
    /// The runs of the base side (stored, or live when there is no baseline).
    pub base_runs: Vec<RunRecord>,
    /// The candidate's runs.
    pub candidate_runs: Vec<RunRecord>,
    /// The base path's live runs beside a stored baseline (drift only).
    pub live_base_runs: Vec<RunRecord>,
    /// The files the decision read.
    pub sources: Vec<String>,
    /// The report folder, prepared before any load.
    pub reports: ReportManager,
}

impl Decided {
    /// The report document, stamped now, for `command` (the command line as typed), and
    /// the manager of the folder it goes to.
    pub fn into_report(self, command: String) -> (ReportDocument, ReportManager) {
        let Decided {
            comparison,
            base_runs,
            candidate_runs,
            live_base_runs,
            sources,
            reports,
        } = self;
        let mut doc = ReportDocument::new(comparison, base_runs, candidate_runs, command, sources);
        doc.live_base_runs = live_base_runs;
        (doc, reports)
    }
}

/// The report folder's manager; made before any load so a bad `--out` fails at once.
fn report_manager(dir: &Path, formats: &[Format]) -> Result<ReportManager, PipelineError> {
    ReportManager::new(dir, formats).map_err(|e| PipelineError::Input(e.to_string()))
}

/// The default report folder of a scenario: `reports/<scenario>/<UTC time>`.
pub fn default_out(scenario: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    PathBuf::from("reports").join(scenario).join(stamp)
}

/// Judges `[expect]` on both sides' runs: the named paths, or the candidate's.
fn with_expectations(
    comparison: Comparison,
    expect: &ExpectSpec,
    base: &Side,
    candidate: &Side,
) -> Comparison {
    if expect.is_empty() {
        return comparison;
    }
    let judged = if expect.paths.is_empty() {
        vec![comparison.candidate.path.clone()]
    } else {
        expect.paths.clone()
    };
    let records: Vec<RunRecord> = base
        .records
        .iter()
        .chain(candidate.records.iter())
        .cloned()
        .collect();
    let other = comparison.base.path.clone();
    let rows = judge_expectations(expect, &records, &judged, Some(&other));
    comparison.with_expectations(rows)
}

/// The inputs of an offline decision.
#[derive(Debug, Clone, Copy)]
pub struct OfflineInputs<'a> {
    /// The scenario whose `[policy]` and `[expect]` apply (default policy, no
    /// expectations, when `None`), and its file.
    pub policy: Option<(&'a Scenario, &'a Path)>,
    /// Run records and baselines of the base side.
    pub baseline: &'a [PathBuf],
    /// Run records of the candidate side.
    pub candidate: &'a [PathBuf],
    /// The report folder (default: `reports/<scenario>/<time>`).
    pub out: Option<&'a Path>,
}

/// Decides from files: each run may be given once. Warns, through `controls`, about
/// each run whose generator could not keep up.
pub fn decide_offline(
    inputs: OfflineInputs<'_>,
    controls: &Controls,
) -> Result<Decided, PipelineError> {
    let default_expect = ExpectSpec::default();
    let (policy, expect) = match inputs.policy {
        Some((s, _)) => (s.policy.clone(), &s.expect),
        None => (Policy::default(), &default_expect),
    };
    let base = load_side(inputs.baseline)?;
    let candidate = load_side(inputs.candidate)?;
    refuse_duplicates(&[&base, &candidate])?;
    let (base, candidate) = (base.side, candidate.side);
    warn_shortfalls(&base.records, controls);
    warn_shortfalls(&candidate.records, controls);
    let name = candidate
        .records
        .first()
        .or(base.records.first())
        .map_or("offline", |r| folder_name(&r.scenario.name));
    let out = inputs
        .out
        .map_or_else(|| default_out(name), Path::to_path_buf);
    let reports = report_manager(&out, &Format::ALL)?;
    let comparison = compare(&base, &candidate, &policy, Vec::new());
    let comparison = with_expectations(comparison, expect, &base, &candidate);
    let sources = inputs
        .policy
        .map(|(_, file)| file.to_path_buf())
        .iter()
        .chain(inputs.baseline)
        .chain(inputs.candidate)
        .map(|f| f.display().to_string())
        .collect();
    Ok(Decided {
        comparison,
        base_runs: base.records,
        candidate_runs: candidate.records,
        live_base_runs: Vec::new(),
        sources,
        reports,
    })
}

/// Runs the parity pass (after the measured runs) and writes `out/parity.json`.
async fn parity_pass(
    scenario: &Scenario,
    spec: &ParitySpec,
    candidate: &str,
    seed: u64,
    out: &Path,
    controls: &Controls,
) -> Result<ParityRecord, PipelineError> {
    controls.note(&format!(
        "parity: {} sampled iteration(s) at {}/s, each step on {} twice and {candidate} once",
        spec.samples, spec.rate, scenario.base
    ));
    let record = run_parity(
        scenario,
        spec,
        &scenario.base,
        candidate,
        seed,
        &controls.stop,
    )
    .await
    .map_err(|e| PipelineError::Runtime(e.to_string()))?;
    let file = out.join("parity.json");
    let text = serde_json::to_vec_pretty(&record)
        .map_err(|e| PipelineError::Runtime(format!("parity record: {e}")))?;
    crate::atomic_file::write(&file, &text, crate::atomic_file::Existing::Replace)
        .map_err(|e| PipelineError::Runtime(format!("cannot write {}: {e}", file.display())))?;
    let skipped: u64 = record.steps.iter().map(|s| s.skipped).sum();
    if skipped > 0 {
        controls.warn(&format!(
            "parity: {skipped} step sample(s) not compared because a side failed (see {})",
            file.display()
        ));
    }
    Ok(record)
}

/// The invalidity of runs made on the reference platform standing in for a service the
/// stored baseline measured.
fn stood_in_for(stored: &Side, live_base: &[RunRecord]) -> Option<Invalidity> {
    let then = stored.records.first()?;
    let now = live_base.first()?;
    let real_then = !then.target.is_empty() && then.target != "reference";
    (real_then && now.target == "reference").then(|| {
        Invalidity::new(
            InvalidityCheck::StandIn,
            format!(
                "the stored baseline measured `{}`, but this run measured the embedded reference platform standing in for it (the path's base_url variables are unset or empty): set them, or establish baselines for the reference platform",
                then.target
            ),
        )
    })
}

/// Why the stored baseline cannot judge the runs made now although a live base pair
/// exists to decide on instead: it was measured on another machine (the fields that
/// changed) or of another system (the base path's target changed, e.g. the reference
/// platform then, a staging service now).
fn baseline_elsewhere(stored: &Side, live_base: &[RunRecord], candidate: &Side) -> Option<String> {
    let then = stored.records.first()?;
    let now = candidate.records.first()?;
    let live = live_base.first()?;
    let mut why = Vec::new();
    if then.environment != now.environment {
        why.push(format!(
            "on another machine ({})",
            then.environment.describe_changes(&now.environment)
        ));
    }
    if !then.target.is_empty() && !live.target.is_empty() && then.target != live.target {
        why.push(format!(
            "of another system (its {} measured `{}`, this run `{}`)",
            then.path, then.target, live.target
        ));
    }
    (!why.is_empty()).then(|| why.join(" and "))
}

/// Warns about each of `records` (read from files) whose generator could not keep up;
/// live runs are warned about as they are made.
fn warn_shortfalls(records: &[RunRecord], controls: &Controls) {
    for shortfall in records.iter().filter_map(RunRecord::shortfall) {
        controls.warn(&shortfall);
    }
}

/// The candidate path of a live compare, or how to add one.
pub fn candidate_of(scenario: &Scenario) -> Result<String, PipelineError> {
    scenario.candidate.clone().ok_or_else(|| {
        PipelineError::Input(format!(
            "{}: the scenario has no candidate path; add [paths.dagger] or set `candidate = \"...\"`",
            scenario.source.display()
        ))
    })
}

/// Why a compare the stop signal ended early decides nothing: how far its runs got.
fn interruption(plan: &RunPlan, records: &[RunRecord]) -> Invalidity {
    let planned = plan.paths.len() * plan.repetitions as usize;
    let complete = records.iter().filter(|r| r.complete).count();
    Invalidity::new(
        InvalidityCheck::Incomplete,
        format!(
            "the compare was interrupted: {complete} of {planned} planned run(s) complete; what was measured is kept, but a partial compare decides nothing"
        ),
    )
}

/// How a live decision runs and what it writes.
#[derive(Debug, Clone, Copy)]
pub struct LiveOptions<'a> {
    /// Repetitions per path (default: the scenario's).
    pub repetitions: Option<u32>,
    /// Seed (default: the scenario's).
    pub seed: Option<u64>,
    /// The formats of the report folder.
    pub formats: &'a [Format],
}

/// Decides one scenario live: the base and candidate paths run interleaved; with a
/// stored `baseline` the candidate is judged against it and the live base runs only
/// check for drift — unless the baseline was measured on another machine (any
/// environment field differs) or of another target, when the decision is made on the
/// live pair and the baseline is reported as context. Run records go to `out/runs`; the report folder `out` is prepared
/// before any load starts (the caller writes it from [`Decided::into_report`]).
///
/// When the stop signal ends the runs early, the decision is made with what exists and
/// is INCONCLUSIVE: an `incomplete` validity problem says how far the runs got, so
/// neither the rows nor `[expect]` can make a partial compare GO (or NO-GO).
pub async fn decide_live(
    scenario: &Scenario,
    baseline: Option<&Path>,
    out: &Path,
    options: &LiveOptions<'_>,
    controls: &Controls,
) -> Result<Decided, PipelineError> {
    let candidate_path = candidate_of(scenario)?;
    let stored = match baseline {
        Some(b) => Some(load_side(&[b.to_path_buf()])?.side),
        None => None,
    };
    if let Some(stored) = &stored {
        warn_shortfalls(&stored.records, controls);
    }
    // Before any load: a bad --out must not cost a whole run to discover.
    let reports = report_manager(out, options.formats)?;
    let mut plan = RunPlan::for_scenario(scenario, out.to_path_buf());
    plan.paths = vec![scenario.base.clone(), candidate_path.clone()];
    if let Some(k) = options.repetitions {
        plan.repetitions = k;
    }
    if let Some(seed) = options.seed {
        plan.seed = seed;
    }
    let records = run_records(scenario, &plan, controls).await?;
    let interrupted: Vec<Invalidity> = controls
        .stop
        .is_triggered()
        .then(|| interruption(&plan, &records))
        .into_iter()
        .collect();
    let (base_runs, candidate_runs): (Vec<RunRecord>, Vec<RunRecord>) =
        records.into_iter().partition(|r| r.path == scenario.base);
    let candidate = Side {
        label: format!("{candidate_path} (live)"),
        records: candidate_runs,
        noise: Noise::default(),
    };
    let mut sources = vec![scenario.source.display().to_string()];
    sources.extend(baseline.iter().map(|b| b.display().to_string()));
    let (comparison, base, live_base_runs) = match stored {
        None => {
            let base = Side {
                label: format!("{} (live)", scenario.base),
                records: base_runs,
                noise: Noise::default(),
            };
            let c = compare(&base, &candidate, &scenario.policy, interrupted);
            (
                with_expectations(c, &scenario.expect, &base, &candidate),
                base,
                Vec::new(),
            )
        }
        Some(stored_side) => match baseline_elsewhere(&stored_side, &base_runs, &candidate) {
            // The baseline is of the team's service, the runs of the stand-in: a GO would
            // be about the demo platform (an unset or misspelt variable), so nothing is.
            _ if stood_in_for(&stored_side, &base_runs).is_some() => {
                let mut extra = interrupted;
                extra.extend(stood_in_for(&stored_side, &base_runs));
                let c = compare(&stored_side, &candidate, &scenario.policy, extra);
                (
                    with_expectations(c, &scenario.expect, &stored_side, &candidate),
                    stored_side,
                    base_runs,
                )
            }
            Some(changes) => {
                // A baseline from another machine or system cannot judge a run made
                // here; the live interleaved pair can, and the baseline stays as context.
                let quantile = scenario.policy.quantiles.first().map_or(0.5, |q| q.get());
                let context = format!(
                    "the stored baseline {} was measured {changes}, so the decision is made on the live interleaved pair measured now; the baseline is context only: the live base is {} of it",
                    stored_side.label,
                    drift_summary(&base_runs, &stored_side.records, quantile)
                );
                controls.warn(&context);
                let base = Side {
                    label: format!("{} (live)", scenario.base),
                    records: base_runs,
                    noise: Noise::default(),
                };
                let c = compare(&base, &candidate, &scenario.policy, interrupted);
                let mut c = with_expectations(c, &scenario.expect, &base, &candidate);
                c.warnings.push(context);
                (c, base, Vec::new())
            }
            None => {
                let quantiles: Vec<f64> =
                    scenario.policy.quantiles.iter().map(|q| q.get()).collect();
                let mut extra = check_drift(
                    &base_runs,
                    &stored_side.records,
                    &stored_side.noise,
                    &quantiles,
                    scenario.policy.latency_floor.0,
                );
                extra.extend(interrupted);
                let mut c = compare(&stored_side, &candidate, &scenario.policy, extra);
                c.add_warnings(&base_runs);
                (
                    with_expectations(c, &scenario.expect, &stored_side, &candidate),
                    stored_side,
                    base_runs,
                )
            }
        },
    };
    let comparison = match &scenario.parity {
        Some(spec) if !controls.stop.is_triggered() => {
            let record =
                parity_pass(scenario, spec, &candidate_path, plan.seed, out, controls).await?;
            comparison.with_parity(judge_parity(&record, spec))
        }
        _ => comparison,
    };
    Ok(Decided {
        comparison,
        base_runs: base.records,
        candidate_runs: candidate.records,
        live_base_runs,
        sources,
        reports,
    })
}
