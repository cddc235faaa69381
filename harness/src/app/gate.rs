//! `harness gate --phase N`: validates the phase plan and every scenario of the phase
//! before anything runs, judges each scenario ([`crate::pipeline::gate`]) live against
//! its stored baseline or from saved results, and prints the gate's table; the decision
//! maps to the exit code (an interrupted gate exits 130 or 143, its reports written).

use std::path::Path;

use super::compare::exit_of;
use super::export::{Exported, Exports};
use super::report::read_document;
use super::{command_line, controls, github, interrupt, runtime};
use crate::cli::GateArgs;
use crate::exit::{AppError, ExitStatus};
use crate::export::Export;
use crate::gate::hook::HookMode;
use crate::gate::{GateResult, HookReport, PlanError};
use crate::pipeline::Controls;
use crate::pipeline::compare::default_out;
use crate::pipeline::gate::{GateRun, LiveJudge, SavedResults, load_scenarios, run_gate};
use crate::report::github::gate_annotations;
use crate::report::{Format, ReportDocument, gate_reporter};

pub(super) fn gate_command(args: GateArgs) -> Result<ExitStatus, AppError> {
    // Paths in the plan are relative to the folder the gate runs in (the repository root).
    let plan = crate::gate::plan::load(&args.plan, Path::new("")).map_err(plan_error)?;
    let exports = Exports::new(&args.export)?;
    let phase = plan.phase(args.phase).ok_or_else(|| {
        AppError::Usage(format!(
            "{} has no phase {}; its phases are {}",
            plan.file.display(),
            args.phase,
            plan.numbers()
        ))
    })?;
    if let Some(dir) = &args.from
        && !dir.is_dir()
    {
        return Err(AppError::Usage(format!(
            "--from {}: no such folder; give the folder that holds <scenario>/result.json",
            dir.display()
        )));
    }
    let controls = controls(args.quiet);
    let (scenarios, stale) = load_scenarios(&plan, phase, args.from.is_none(), &controls)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&format!("phase-{}", phase.number)));
    std::fs::create_dir_all(&out).map_err(|e| {
        AppError::Usage(format!(
            "cannot create the report folder {}: {e}; choose another --out",
            out.display()
        ))
    })?;
    let run = GateRun {
        plan: &plan,
        phase,
        out: &out,
        hook_mode: if args.dry_run {
            HookMode::DryRun
        } else {
            HookMode::Run
        },
        source: args.from.as_ref().map_or_else(
            || "live".to_string(),
            |d| format!("saved results in {}", d.display()),
        ),
        command: std::iter::once("harness".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        stop: controls.stop.clone(),
    };
    controls.note(&format!(
        "gate: phase {} ({}): {} scenario(s); report in {}",
        phase.number,
        phase.name,
        scenarios.len(),
        out.display()
    ));
    let runtime = runtime()?;
    let result = match &args.from {
        Some(dir) => runtime.block_on(run_gate(
            &run,
            &scenarios,
            &mut SavedResults::new(dir, &out),
        ))?,
        None => {
            let mut judge = LiveJudge {
                baselines: &plan.baselines,
                plan_file: &plan.file,
                out: &out,
                command: command_line(),
                controls: &controls,
                total: scenarios.len(),
                done: 0,
                stale,
            };
            runtime.block_on(run_gate(&run, &scenarios, &mut judge))?
        }
    };
    // A live gate warned as its runs were made; saved results warn now.
    if args.from.is_some() {
        for s in &result.scenarios {
            for warning in &s.warnings {
                controls.warn(&format!("{}: {warning}", s.scenario));
            }
        }
    }
    let table = gate_reporter(Format::Table, false)
        .render(&result)
        .map_err(|e| AppError::Runtime(e.to_string()))?;
    print!("{}", String::from_utf8_lossy(&table));
    if github::on_actions() {
        github::annotate(&gate_annotations(&result));
        github::append_step_summary(&out.join("summary.md"), &controls);
    }
    match &result.hook {
        Some(HookReport::DryRun { argv, env, .. }) => {
            let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            controls.note(&format!(
                "dry run: would run {:?} with {}; nothing was run",
                argv,
                env.join(" ")
            ));
        }
        Some(hook @ HookReport::Ran { success: false, .. })
        | Some(hook @ HookReport::FailedToStart { .. }) => {
            controls.warn(&format!("{} (see gate.json)", hook.describe()));
        }
        _ => {}
    }
    controls.note(&format!("gate report: {}", out.display()));
    let exported = if exports.wanted() {
        let documents = decisive_documents(&result, &controls);
        exports.export(|now| Export::gate(&result, &documents, now), &controls)?
    } else {
        Exported::Done
    };
    if let Some(signal) = interrupt::interrupted() {
        eprintln!(
            "the gate was interrupted ({signal}): the reports above hold what was measured; the hook was not run"
        );
        return Ok(exports.status(ExitStatus::Interrupted(signal), exported));
    }
    Ok(exports.status(exit_of(result.decision), exported))
}

/// The `result.json` of every scenario's decisive compare, for the export; one that
/// cannot be read is warned, and its scenario exported with its verdict alone.
fn decisive_documents(result: &GateResult, controls: &Controls) -> Vec<ReportDocument> {
    let mut documents = Vec::new();
    for scenario in &result.scenarios {
        let Some(folder) = &scenario.report else {
            continue;
        };
        match read_document(&Path::new(folder).join("result.json")) {
            Ok(doc) => documents.push(doc),
            Err(AppError::Usage(why) | AppError::Runtime(why)) => controls.warn(&format!(
                "export: {}: exported with its verdict alone: {why}",
                scenario.scenario
            )),
            Err(e) => controls.warn(&format!(
                "export: {}: exported with its verdict alone: {e}",
                scenario.scenario
            )),
        }
    }
    documents
}

pub(super) fn plan_error(e: PlanError) -> AppError {
    match e {
        PlanError::Io { .. } => AppError::Usage(e.to_string()),
        // The diagnostic renders like a scenario error: `error: file:line:col: ...`.
        PlanError::Invalid(d) => AppError::Usage(d.to_string()),
    }
}
