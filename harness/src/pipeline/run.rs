//! Runs a scenario's paths (interleaved repetitions) and returns their records; the
//! records are written under the plan's `runs/` folder as each drive ends.

use crate::record::RunRecord;
use crate::runner::{RunPlan, RunResult, run_scenario};
use crate::scenario::Scenario;

use super::{Controls, PipelineError};

/// Runs `plan`; warns the scenario's warnings for each path first, and after the runs,
/// each run whose generator could not keep up. An interrupted run returns what it
/// measured, its records marked incomplete.
pub async fn run(
    scenario: &Scenario,
    plan: &RunPlan,
    controls: &Controls,
) -> Result<Vec<RunResult>, PipelineError> {
    for path in &plan.paths {
        for warning in scenario.warnings(path) {
            controls.warn(&warning);
        }
    }
    let results = run_scenario(scenario, plan, &controls.stop, controls.observer.clone()).await?;
    for shortfall in results.iter().filter_map(|r| r.record.shortfall()) {
        controls.warn(&shortfall);
    }
    Ok(results)
}

/// Runs `plan` for a decision and returns the records. When the stop signal ended the
/// runs early they are what was measured, the interrupted one marked incomplete: the
/// caller decides what they are worth (a compare is INCONCLUSIVE, nothing is saved).
pub async fn run_records(
    scenario: &Scenario,
    plan: &RunPlan,
    controls: &Controls,
) -> Result<Vec<RunRecord>, PipelineError> {
    controls.note(&format!(
        "running `{}`: {} × {} repetition(s), interleaved; records in {}",
        scenario.name,
        plan.paths.join(", "),
        plan.repetitions,
        plan.out.join("runs").display()
    ));
    let results = run(scenario, plan, controls).await?;
    Ok(results.into_iter().map(|r| r.record).collect())
}
