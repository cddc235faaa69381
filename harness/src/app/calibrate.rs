//! `harness calibrate`: A/A runs of one path, their noise stored in the baseline, and the
//! false-decision rates the policy would have on that path ([`crate::pipeline::calibrate`]).

use std::path::Path;

use super::{controls, notes_only, runtime};
use crate::atomic_file::{self, Existing};
use crate::cli::CalibrateArgs;
use crate::compare::{Calibration, FalseRates};
use crate::exit::{AppError, ExitStatus};
use crate::pipeline::calibrate::{calibrate_path, synthetic as synthetic_cases};
use crate::pipeline::compare::default_out;
use crate::policy::{POLICY_VERSION, Policy};
use crate::report::operating::operating_table;
use crate::scenario;

pub(super) fn calibrate_command(args: CalibrateArgs) -> Result<ExitStatus, AppError> {
    if args.synthetic {
        return synthetic(&args);
    }
    let Some(file) = args.scenario.as_deref() else {
        return Err(AppError::Usage(
            "calibrate needs a SCENARIO, or --synthetic; see `harness calibrate --help`".into(),
        ));
    };
    let scenario = scenario::load(file)?;
    let path = args.path.clone().unwrap_or_else(|| scenario.base.clone());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&scenario.name));
    let controls = controls(args.quiet);
    let calibrated = runtime()?.block_on(calibrate_path(
        &scenario,
        &path,
        args.repetitions,
        &args.root,
        out,
        &controls,
    ))?;
    println!("{}", describe(&calibrated.calibration, &path));
    println!("noise model stored in {}", calibrated.saved.display());
    Ok(ExitStatus::Success)
}

/// `harness calibrate --synthetic`: the operating-characteristics table of the policy
/// (the default, or a scenario's `[policy]`), measured on seeded synthetic runs.
fn synthetic(args: &CalibrateArgs) -> Result<ExitStatus, AppError> {
    let policy = match args.scenario.as_deref() {
        Some(file) => scenario::load(file)?.policy,
        None => Policy::default(),
    };
    let trials = args.trials as usize;
    let results = synthetic_cases(&policy, trials, args.seed, &notes_only(args.quiet));
    let table = format!(
        "Operating characteristics of {POLICY_VERSION} ({} trials a row, seed {}; Wilson 95% intervals):\n\n{}\npolicy {}\n",
        trials,
        args.seed,
        operating_table(&results),
        policy.describe()
    );
    let unmet = results.iter().filter(|r| r.met() == Some(false)).count();
    match args.json.as_deref() {
        Some(target) => {
            let json = serde_json::to_vec_pretty(&serde_json::json!({
                "schema": "harness-operating/v1",
                "policy_version": POLICY_VERSION,
                "policy": policy,
                "trials": trials,
                "seed": args.seed,
                "results": results,
            }))
            .map_err(|e| AppError::Runtime(format!("cannot encode the results: {e}")))?;
            if target == Path::new("-") {
                eprint!("{table}");
                println!("{}", String::from_utf8_lossy(&json));
            } else {
                print!("{table}");
                atomic_file::write(target, &json, Existing::Replace).map_err(|e| {
                    AppError::Runtime(format!("cannot write {}: {e}", target.display()))
                })?;
            }
        }
        None => print!("{table}"),
    }
    if unmet > 0 {
        eprintln!("{unmet} operating target(s) not met under this policy");
        return Ok(ExitStatus::NoGo);
    }
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
            let count = |share: f64| (share * r.comparisons as f64).round() as usize;
            format!(
                "  {name}: {} comparisons of {} vs {} run(s): false NO-GO {}/{} ({:.1}%), false ROLLBACK {}/{} ({:.1}%), inconclusive {:.1}%{}",
                r.comparisons,
                r.runs_per_side,
                r.runs_per_side,
                count(r.false_no_go),
                r.comparisons,
                r.false_no_go * 100.0,
                count(r.false_rollback),
                r.comparisons,
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
        "calibration of `{path}` under {POLICY_VERSION} from {} A/A runs (the same path on both sides, so every non-GO is wrong; \
         the comparisons share runs, so they are not independent trials):\n{}\n{}",
        c.runs,
        line("half vs half", &c.split_halves),
        line("run vs run  ", &c.single_run)
    )
}
