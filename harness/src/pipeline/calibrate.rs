//! Calibration: A/A runs of one path whose noise is stored in its baseline, with the
//! false-decision rates the policy would have on that path; and the policy's operating
//! characteristics measured on seeded synthetic runs.

use std::path::{Path, PathBuf};

use crate::baseline::{Baseline, NoiseModel, NoiseSource, baseline_file};
use crate::compare::synthetic::{CaseResult, run_case, standard_cases};
use crate::compare::{Calibration, Noise, calibrate};
use crate::policy::{POLICY_VERSION, Policy};
use crate::runner::{RunPlan, record_files};
use crate::scenario::Scenario;

use super::{Controls, PipelineError, run_records};

/// What a calibration measured and where it was stored.
#[derive(Debug, Clone)]
pub struct Calibrated {
    /// The false-decision rates on the A/A runs.
    pub calibration: Calibration,
    /// The baseline file that now holds the noise model.
    pub saved: PathBuf,
}

/// Runs `path` of `scenario` `repetitions` times (records under `out`), and stores the
/// runs' noise model in the path's baseline under `root` (the runs become the baseline
/// when there is none yet). Interrupted, it saves nothing and keeps the run records.
pub async fn calibrate_path(
    scenario: &Scenario,
    path: &str,
    repetitions: u32,
    root: &Path,
    out: PathBuf,
    controls: &Controls,
) -> Result<Calibrated, PipelineError> {
    if scenario.path(path).is_none() {
        let known: Vec<_> = scenario.paths.iter().map(|p| p.name.as_str()).collect();
        return Err(PipelineError::Input(format!(
            "--path {path}: the scenario has no such path; it has: {}",
            known.join(", ")
        )));
    }
    let mut plan = RunPlan::for_scenario(scenario, out);
    plan.paths = vec![path.to_string()];
    plan.repetitions = repetitions;
    let runs = run_records(scenario, &plan, controls).await?;
    if controls.stop.is_triggered() {
        // Fewer runs than asked, one of them cut short: never a baseline or a noise model.
        return Err(PipelineError::Interrupted(format!(
            "interrupted: the runs so far are in {} (incomplete); no baseline was saved",
            plan.out.join("runs").display()
        )));
    }
    let sources = record_files(&plan.out, &runs);

    let (calibration, block) = measure_noise(&runs, &scenario.policy)?;

    let file = baseline_file(root, &scenario.name, path);
    let (mut baseline, replace) = if file.exists() {
        (Baseline::load(&file)?, true)
    } else {
        // No baseline yet: the calibration runs become it.
        (
            Baseline::from_records(runs.clone(), sources.clone(), POLICY_VERSION)?,
            false,
        )
    };
    baseline.set_noise_from_calibration(&runs, &sources, Some(block))?;
    let saved = baseline.save(root, replace)?;
    Ok(Calibrated { calibration, saved })
}

/// The A/A false-decision rates of `runs` under `policy`, with their own noise, and the
/// same as the JSON block a baseline stores.
pub(super) fn measure_noise(
    runs: &[crate::record::RunRecord],
    policy: &Policy,
) -> Result<(Calibration, serde_json::Value), PipelineError> {
    let noise = Noise::from_model(&NoiseModel::from_runs(runs, NoiseSource::Calibration));
    let calibration = calibrate(runs, &noise, policy);
    let block = serde_json::to_value(&calibration)
        .map_err(|e| PipelineError::Runtime(format!("cannot encode the calibration: {e}")))?;
    Ok((calibration, block))
}

/// The operating characteristics of `policy`: every standard case, `trials` seeded
/// trials each, on all cores; one note per case as it starts.
pub fn synthetic(
    policy: &Policy,
    trials: usize,
    seed: u64,
    controls: &Controls,
) -> Vec<CaseResult> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let cases = standard_cases();
    let mut results = Vec::with_capacity(cases.len());
    for (index, case) in cases.iter().enumerate() {
        controls.note(&format!(
            "[{}/{}] {} · {} · {}v{} runs · {trials} trials",
            index + 1,
            cases.len(),
            case.effect_label,
            case.scenario_label(),
            case.base_runs,
            case.candidate_runs
        ));
        results.push(run_case(case, index as u64, trials, seed, policy, threads));
    }
    results
}
