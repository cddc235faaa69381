//! `harness baseline establish | save | list | show`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::notes_only;
use crate::baseline::{Baseline, BaselineError, baseline_file, list};
use crate::cli::BaselineCommand;
use crate::exit::{AppError, ExitStatus};
use crate::gate::Phase;
use crate::pipeline::compare::default_out;
use crate::pipeline::establish::EstablishOptions;
use crate::policy::POLICY_VERSION;
use crate::record::RunRecord;
use crate::report::{baseline_list_table, baseline_show};
use crate::text::printable;

/// A baseline error at the command line: bad input (2) or a failed write (1).
pub(crate) fn baseline_error(e: BaselineError) -> AppError {
    if e.is_bad_input() {
        AppError::Usage(e.to_string())
    } else {
        AppError::Runtime(e.to_string())
    }
}

pub(super) fn baseline_command(command: BaselineCommand) -> Result<ExitStatus, AppError> {
    match command {
        BaselineCommand::Save { runs, force, root } => save(&runs, force, &root),
        BaselineCommand::Establish {
            plan,
            phase,
            repetitions,
            force,
            out,
            quiet,
        } => establish(&plan, phase, repetitions, force, out, quiet),
        BaselineCommand::List { root } => {
            let entries = list(&root).map_err(baseline_error)?;
            println!("{}", baseline_list_table(&entries));
            Ok(ExitStatus::Success)
        }
        BaselineCommand::Show {
            scenario,
            path,
            root,
        } => show(&scenario, path.as_deref(), &root),
    }
}

fn save(files: &[PathBuf], force: bool, root: &Path) -> Result<ExitStatus, AppError> {
    // Read everything first: one bad file saves nothing.
    let mut groups: BTreeMap<(String, String), (Vec<RunRecord>, Vec<String>)> = BTreeMap::new();
    for file in files {
        let record = RunRecord::read(file).map_err(|e| AppError::Usage(e.to_string()))?;
        // Saved all the same (the operator chose these runs), but never silently: every
        // comparison against this baseline will say it again.
        if let Some(shortfall) = record.shortfall() {
            notes_only(false).warn(&format!("{}: {shortfall}", file.display()));
        }
        let group = groups
            .entry((record.scenario.name.clone(), record.path.clone()))
            .or_default();
        group.0.push(record);
        group.1.push(file.display().to_string());
    }
    let mut baselines = Vec::new();
    for ((_, _), (records, sources)) in groups {
        baselines.push(
            Baseline::from_records(records, sources, POLICY_VERSION).map_err(baseline_error)?,
        );
    }
    for b in &baselines {
        let file = b.save(root, force).map_err(baseline_error)?;
        println!(
            "saved {} / {} ({} run(s)) to {}",
            b.scenario.name,
            b.path,
            b.records.len(),
            file.display()
        );
    }
    Ok(ExitStatus::Success)
}

fn establish(
    plan_file: &Path,
    phase: Option<u8>,
    repetitions: u32,
    force: bool,
    out: Option<PathBuf>,
    quiet: bool,
) -> Result<ExitStatus, AppError> {
    let plan =
        crate::gate::plan::load(plan_file, Path::new("")).map_err(super::gate::plan_error)?;
    let phases: Vec<&Phase> = match phase {
        Some(n) => vec![plan.phase(n).ok_or_else(|| {
            AppError::Usage(format!(
                "{} has no phase {n}; its phases are {}",
                plan.file.display(),
                plan.numbers()
            ))
        })?],
        None => plan.phases.iter().collect(),
    };
    let options = EstablishOptions {
        repetitions,
        force,
        out: out.unwrap_or_else(|| default_out("establish")),
    };
    let controls = super::controls(quiet);
    let done = super::runtime()?.block_on(crate::pipeline::establish::establish(
        &plan, &phases, &options, &controls,
    ))?;
    for e in &done {
        let held = e
            .calibration
            .single_run
            .as_ref()
            .map_or_else(String::new, |r| {
                format!(
                    "; A/A run vs run: false NO-GO {:.1}%, false ROLLBACK {:.1}% of {} comparisons",
                    r.false_no_go * 100.0,
                    r.false_rollback * 100.0,
                    r.comparisons
                )
            });
        println!(
            "established {} / {} ({} run(s) of {}) in {}{held}",
            printable(&e.scenario),
            printable(&e.path),
            e.runs,
            printable(&e.target),
            e.file.display()
        );
    }
    println!(
        "{} baseline(s) in {}; run records in {}",
        done.len(),
        plan.baselines.display(),
        options.out.display()
    );
    Ok(ExitStatus::Success)
}

fn show(scenario: &str, path: Option<&str>, root: &Path) -> Result<ExitStatus, AppError> {
    let entries = list(root).map_err(baseline_error)?;
    let chosen: Vec<_> = entries
        .iter()
        .filter(|e| e.scenario == scenario && path.is_none_or(|p| e.path == p))
        .collect();
    if chosen.is_empty() {
        let wanted = path
            .map(|p| baseline_file(root, scenario, p))
            .unwrap_or_else(|| root.join(scenario));
        return Err(AppError::Usage(format!(
            "no baseline at {}; `harness baseline list --root {}` shows what is stored",
            wanted.display(),
            root.display()
        )));
    }
    for entry in chosen {
        let b = Baseline::load(&entry.file).map_err(baseline_error)?;
        println!("{}\n{}\n", entry.file.display(), baseline_show(&b));
    }
    Ok(ExitStatus::Success)
}
