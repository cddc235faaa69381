//! `harness calibrate`: A/A runs of one path, their noise stored in the baseline, and the
//! false-decision rates the policy would have on that path.

use super::baseline::baseline_error;
use super::compare::{noise_of, run_live};
use super::default_out;
use crate::baseline::{Baseline, NoiseModel, NoiseSource, baseline_file};
use crate::cli::CalibrateArgs;
use crate::compare::{Calibration, FalseRates, calibrate};
use crate::exit::{AppError, ExitStatus};
use crate::policy::POLICY_VERSION;
use crate::runner::{RunPlan, record_file};
use crate::scenario;

pub(super) fn calibrate_command(args: CalibrateArgs) -> Result<ExitStatus, AppError> {
    let scenario = scenario::load(&args.scenario)?;
    let path = args.path.clone().unwrap_or_else(|| scenario.base.clone());
    if scenario.path(&path).is_none() {
        let known: Vec<_> = scenario.paths.iter().map(|p| p.name.as_str()).collect();
        return Err(AppError::Usage(format!(
            "--path {path}: the scenario has no such path; it has: {}",
            known.join(", ")
        )));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&scenario.name));
    let mut plan = RunPlan::for_scenario(&scenario, out);
    plan.paths = vec![path.clone()];
    plan.repetitions = args.repetitions;
    let runs = run_live(&scenario, &plan, args.quiet)?;
    let sources: Vec<String> = runs
        .iter()
        .map(|r| {
            record_file(&plan.out, &r.path, r.repetition)
                .display()
                .to_string()
        })
        .collect();

    let noise = noise_of(&NoiseModel::from_runs(&runs, NoiseSource::Calibration));
    let result = calibrate(&runs, &noise, &scenario.policy);
    let block = serde_json::to_value(&result)
        .map_err(|e| AppError::Runtime(format!("cannot encode the calibration: {e}")))?;

    let file = baseline_file(&args.root, &scenario.name, &path);
    let (mut baseline, replace) = if file.exists() {
        (Baseline::load(&file).map_err(baseline_error)?, true)
    } else {
        // No baseline yet: the calibration runs become it.
        (
            Baseline::from_records(runs.clone(), sources.clone(), POLICY_VERSION)
                .map_err(baseline_error)?,
            false,
        )
    };
    baseline
        .set_noise_from_calibration(&runs, &sources, Some(block))
        .map_err(baseline_error)?;
    let saved = baseline.save(&args.root, replace).map_err(baseline_error)?;

    println!("{}", describe(&result, &path));
    println!("noise model stored in {}", saved.display());
    Ok(ExitStatus::Success)
}

fn describe(c: &Calibration, path: &str) -> String {
    let line = |name: &str, r: &Option<FalseRates>| match r {
        Some(r) => {
            let blocking: Vec<String> = r
                .blocking
                .iter()
                .take(3)
                .map(|(row, k)| format!("{row} ({k}×)"))
                .collect();
            format!(
                "  {name}: {} comparisons of {} vs {} run(s): false NO-GO {:.1}%, false ROLLBACK {:.1}%, inconclusive {:.1}%{}",
                r.comparisons,
                r.runs_per_side,
                r.runs_per_side,
                r.false_no_go * 100.0,
                r.false_rollback * 100.0,
                r.inconclusive * 100.0,
                if blocking.is_empty() {
                    String::new()
                } else {
                    format!("\n      held by: {}", blocking.join(", "))
                }
            )
        }
        None => format!("  {name}: not enough runs"),
    };
    format!(
        "calibration of `{path}` from {} A/A runs (the same path on both sides, so every non-GO is wrong):\n{}\n{}",
        c.runs,
        line("half vs half", &c.split_halves),
        line("run vs run  ", &c.single_run)
    )
}
