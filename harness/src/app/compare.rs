//! `harness compare`: live, live against a stored baseline, or offline from files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{TerminalObserver, default_out, install_interrupt, runtime};
use crate::baseline::{Baseline, NoiseModel};
use crate::cli::CompareArgs;
use crate::compare::{
    Comparison, ExpectSpec, Noise, Side, Verdict, check_drift, compare, judge_expectations,
};
use crate::exit::{AppError, ExitStatus};
use crate::load::StopSignal;
use crate::policy::Policy;
use crate::record::RunRecord;
use crate::report::comparison_table;
use crate::runner::{RunObserver, RunPlan, run_scenario};
use crate::scenario::{self, Scenario};

/// The exit status of a verdict.
pub(crate) fn exit_of(verdict: Verdict) -> ExitStatus {
    match verdict {
        Verdict::Go => ExitStatus::Success,
        Verdict::NoGo => ExitStatus::NoGo,
        Verdict::Rollback => ExitStatus::Rollback,
        Verdict::Inconclusive => ExitStatus::Inconclusive,
    }
}

pub(super) fn compare_command(args: CompareArgs) -> Result<ExitStatus, AppError> {
    let (comparison, out) = match (
        &args.scenario,
        args.baseline.is_empty(),
        args.candidate.is_empty(),
    ) {
        (None, false, false) => (offline(&args)?, None),
        (None, _, _) => {
            return Err(AppError::Usage(
                "compare needs a SCENARIO (live), or --baseline FILE and --candidate FILE (offline); see `harness compare --help`"
                    .into(),
            ));
        }
        (Some(_), _, false) => {
            return Err(AppError::Usage(
                "--candidate is for offline mode: drop SCENARIO, or drop --candidate to run the candidate live".into(),
            ));
        }
        (Some(file), _, true) => {
            if args.policy.is_some() {
                return Err(AppError::Usage(
                    "--policy is for offline mode; a live compare uses the scenario's [policy]"
                        .into(),
                ));
            }
            let (comparison, out) = live(file, &args)?;
            (comparison, Some(out))
        }
    };
    println!("{}", comparison_table(&comparison));
    let json = serde_json::to_vec_pretty(&comparison)
        .map_err(|e| AppError::Runtime(format!("cannot encode the comparison: {e}")))?;
    if let Some(dir) = &out {
        let file = dir.join("comparison.json");
        write_file(&file, &json)?;
        eprintln!("comparison: {}", file.display());
    }
    match args.json.as_deref() {
        Some(p) if p == Path::new("-") => println!("{}", String::from_utf8_lossy(&json)),
        Some(p) => write_file(p, &json)?,
        None => {}
    }
    Ok(exit_of(comparison.verdict))
}

fn write_file(file: &Path, bytes: &[u8]) -> Result<(), AppError> {
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| AppError::Runtime(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(file, bytes)
        .map_err(|e| AppError::Runtime(format!("cannot write {}: {e}", file.display())))
}

/// The between-run noise of a baseline, as compare wants it.
pub(crate) fn noise_of(model: &NoiseModel) -> Noise {
    let mut noise = Noise::default();
    for step in &model.steps {
        for q in &step.quantiles {
            if let Some(sd) = q.log_sd {
                noise.insert(&format!("{}/{}", step.flow, step.step), q.q, sd);
            }
        }
    }
    noise
}

/// Reads run records and baselines into one side.
pub(crate) fn load_side(files: &[PathBuf]) -> Result<(Side, Option<Baseline>), AppError> {
    let mut records = Vec::new();
    let mut noise = Noise::default();
    let mut baseline = None;
    let mut labels = Vec::new();
    for file in files {
        let bytes = std::fs::read(file)
            .map_err(|e| AppError::Usage(format!("cannot read {}: {e}", file.display())))?;
        let schema = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string));
        if schema.as_deref() == Some(crate::baseline::BASELINE_SCHEMA) {
            let b = Baseline::load(file).map_err(|e| AppError::Usage(e.to_string()))?;
            noise = noise_of(&b.noise);
            records.extend(b.records.iter().cloned());
            labels.push(format!("{} (baseline {})", b.path, file.display()));
            baseline = Some(b);
        } else {
            let r =
                RunRecord::from_json(&bytes, file).map_err(|e| AppError::Usage(e.to_string()))?;
            labels.push(format!("{} r{} ({})", r.path, r.repetition, file.display()));
            records.push(r);
        }
    }
    let label = if labels.len() == 1 {
        labels.remove(0)
    } else {
        format!("{} files", labels.len())
    };
    Ok((
        Side {
            label,
            records,
            noise,
        },
        baseline,
    ))
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

fn offline(args: &CompareArgs) -> Result<Comparison, AppError> {
    let (policy, expect) = match &args.policy {
        Some(file) => {
            let s = scenario::load(file)?;
            (s.policy, s.expect)
        }
        None => (Policy::default(), ExpectSpec::default()),
    };
    let (base, _) = load_side(&args.baseline)?;
    let (candidate, _) = load_side(&args.candidate)?;
    let comparison = compare(&base, &candidate, &policy, Vec::new());
    Ok(with_expectations(comparison, &expect, &base, &candidate))
}

fn live(file: &Path, args: &CompareArgs) -> Result<(Comparison, PathBuf), AppError> {
    let scenario = scenario::load(file)?;
    let candidate_path = scenario.candidate.clone().ok_or_else(|| {
        AppError::Usage(format!(
            "{}: the scenario has no candidate path; add [paths.dagger] or set `candidate = \"...\"`",
            file.display()
        ))
    })?;
    if args.baseline.len() > 1 {
        return Err(AppError::Usage(
            "a live compare takes one --baseline FILE".into(),
        ));
    }
    let stored = match args.baseline.first() {
        Some(b) => Some(load_side(std::slice::from_ref(b))?),
        None => None,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&scenario.name));
    let mut plan = RunPlan::for_scenario(&scenario, out.clone());
    plan.paths = vec![scenario.base.clone(), candidate_path.clone()];
    if let Some(k) = args.repetitions {
        plan.repetitions = k;
    }
    if let Some(seed) = args.seed {
        plan.seed = seed;
    }
    let records = run_live(&scenario, &plan, args.quiet)?;
    let (base_runs, candidate_runs): (Vec<RunRecord>, Vec<RunRecord>) =
        records.into_iter().partition(|r| r.path == scenario.base);
    let candidate = Side {
        label: format!("{candidate_path} (live)"),
        records: candidate_runs,
        noise: Noise::default(),
    };
    let comparison = match stored {
        None => {
            let base = Side {
                label: format!("{} (live)", scenario.base),
                records: base_runs,
                noise: Noise::default(),
            };
            let c = compare(&base, &candidate, &scenario.policy, Vec::new());
            with_expectations(c, &scenario.expect, &base, &candidate)
        }
        Some((stored_side, _)) => {
            let quantiles: Vec<f64> = scenario.policy.quantiles.iter().map(|q| q.get()).collect();
            let drift = check_drift(
                &base_runs,
                &stored_side.records,
                &stored_side.noise,
                &quantiles,
            );
            let c = compare(&stored_side, &candidate, &scenario.policy, drift);
            with_expectations(c, &scenario.expect, &stored_side, &candidate)
        }
    };
    Ok((comparison, out))
}

pub(crate) fn run_live(
    scenario: &Scenario,
    plan: &RunPlan,
    quiet: bool,
) -> Result<Vec<RunRecord>, AppError> {
    let show_progress = !quiet && std::io::stderr().is_terminal();
    let observer: Arc<dyn RunObserver> = Arc::new(TerminalObserver::new(show_progress));
    let stop = StopSignal::new();
    install_interrupt(&stop);
    eprintln!(
        "running `{}`: {} × {} repetition(s), interleaved; records in {}",
        scenario.name,
        plan.paths.join(", "),
        plan.repetitions,
        plan.out.join("runs").display()
    );
    let results = runtime()?
        .block_on(run_scenario(scenario, plan, &stop, observer))
        .map_err(|e| AppError::Runtime(e.to_string()))?;
    if stop.is_triggered() {
        return Err(AppError::Interrupted(format!(
            "interrupted: the runs so far are in {} (incomplete); no decision was made",
            plan.out.join("runs").display()
        )));
    }
    Ok(results.into_iter().map(|r| r.record).collect())
}
