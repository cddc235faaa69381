//! Establishing the baselines of a phase plan before the migration starts: every
//! scenario's base path run K times, its noise calibrated on those runs, and the baseline
//! saved where the gate looks for it. Nothing is overwritten without `force`, and that is
//! checked for every scenario before anything runs.

use std::path::{Path, PathBuf};

use crate::baseline::{Baseline, baseline_file};
use crate::compare::Calibration;
use crate::gate::{Phase, Plan};
use crate::policy::POLICY_VERSION;
use crate::runner::{RunPlan, record_files};
use crate::scenario::{self, Scenario};

use super::calibrate::measure_noise;
use super::{Controls, PipelineError, run_records};

/// Runs per base path when the command line does not say: five, the fewest from which
/// the rank tests use the runs' own noise and calibration can measure split halves.
pub const DEFAULT_REPETITIONS: u32 = 5;

/// What to establish and how.
#[derive(Debug, Clone)]
pub struct EstablishOptions {
    /// Runs per base path.
    pub repetitions: u32,
    /// Replace baselines that exist.
    pub force: bool,
    /// Where the run records go (`<out>/<scenario>/runs/`).
    pub out: PathBuf,
}

/// One baseline established.
#[derive(Debug, Clone)]
pub struct Established {
    /// The scenario.
    pub scenario: String,
    /// Its base path.
    pub path: String,
    /// What the base path measured (`reference`, or the base URL as written + digest).
    pub target: String,
    /// The file written.
    pub file: PathBuf,
    /// Runs in it.
    pub runs: usize,
    /// The A/A false-decision rates on those runs.
    pub calibration: Calibration,
}

/// The scenarios of `phases`, each once (a scenario in several phases is one baseline),
/// in plan order, loaded and checked.
pub fn plan_scenarios(phases: &[&Phase]) -> Result<Vec<(PathBuf, Scenario)>, PipelineError> {
    let mut out: Vec<(PathBuf, Scenario)> = Vec::new();
    for phase in phases {
        for file in &phase.scenarios {
            if out.iter().any(|(f, _)| f == file) {
                continue;
            }
            let s = scenario::load(file)?;
            if let Some((other, _)) = out.iter().find(|(_, o)| o.name == s.name) {
                return Err(PipelineError::Input(format!(
                    "{} and {} are both named `{}`; their baselines would collide, rename one",
                    other.display(),
                    file.display(),
                    s.name
                )));
            }
            out.push((file.clone(), s));
        }
    }
    Ok(out)
}

/// Establishes the baselines of every scenario of `phases` under the plan's baselines
/// folder. Refuses at once, running nothing, when one exists and `force` is not set.
pub async fn establish(
    plan: &Plan,
    phases: &[&Phase],
    options: &EstablishOptions,
    controls: &Controls,
) -> Result<Vec<Established>, PipelineError> {
    let scenarios = plan_scenarios(phases)?;
    if !options.force {
        let existing: Vec<String> = scenarios
            .iter()
            .map(|(_, s)| baseline_file(&plan.baselines, &s.name, &s.base))
            .filter(|f| f.exists())
            .map(|f| f.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(PipelineError::Input(format!(
                "{} baseline(s) exist already: {}; nothing was run. Pass --force to measure and replace them",
                existing.len(),
                existing.join(", ")
            )));
        }
    }
    let total = scenarios.len();
    let mut done = Vec::with_capacity(total);
    for (index, (file, s)) in scenarios.iter().enumerate() {
        controls.note(&format!(
            "establish: [{}/{total}] {} ({}): path `{}` × {} run(s)",
            index + 1,
            s.name,
            file.display(),
            s.base,
            options.repetitions
        ));
        match establish_one(s, &plan.baselines, options, controls).await? {
            Some(e) => done.push(e),
            None => {
                let saved: Vec<String> =
                    done.iter().map(|e| e.file.display().to_string()).collect();
                return Err(PipelineError::Interrupted(format!(
                    "interrupted while establishing `{}`: its runs so far are in {} (incomplete) and no baseline was saved for it or the scenarios after it; {} saved before: {}",
                    s.name,
                    options.out.join(&s.name).join("runs").display(),
                    saved.len(),
                    if saved.is_empty() {
                        "none".to_string()
                    } else {
                        saved.join(", ")
                    }
                )));
            }
        }
    }
    Ok(done)
}

/// The baseline of one scenario, or `None` when the stop signal came first or cut its
/// runs short (nothing is saved from incomplete runs).
async fn establish_one(
    s: &Scenario,
    root: &Path,
    options: &EstablishOptions,
    controls: &Controls,
) -> Result<Option<Established>, PipelineError> {
    if controls.stop.is_triggered() {
        return Ok(None);
    }
    let mut plan = RunPlan::for_scenario(s, options.out.join(&s.name));
    plan.paths = vec![s.base.clone()];
    plan.repetitions = options.repetitions;
    let runs = run_records(s, &plan, controls).await?;
    if controls.stop.is_triggered() {
        return Ok(None);
    }
    let sources = record_files(&plan.out, &runs);
    let (calibration, block) = measure_noise(&runs, &s.policy)?;
    let target = runs.first().map(|r| r.target.clone()).unwrap_or_default();
    let count = runs.len();
    let mut baseline = Baseline::from_records(runs.clone(), sources.clone(), POLICY_VERSION)?;
    baseline.set_noise_from_calibration(&runs, &sources, Some(block))?;
    let file = baseline.save(root, options.force)?;
    Ok(Some(Established {
        scenario: s.name.clone(),
        path: s.base.clone(),
        target,
        file,
        runs: count,
        calibration,
    }))
}
