//! `harness compare`: live, live against a stored baseline, or offline from files; the
//! decision ([`crate::pipeline::compare`]) is printed as a table and written as a report
//! folder (`result.json`, `summary.md`, `junit.xml`, `report.html`) beside the run
//! records. An interrupted live compare decides with what exists (INCONCLUSIVE), writes
//! all of that and exits 130 or 143.

use std::path::{Path, PathBuf};

use super::export::Exports;
use super::{command_line, controls, github, interrupt, notes_only, runtime};
use crate::atomic_file::{self, Existing};
use crate::cli::CompareArgs;
use crate::compare::Verdict;
use crate::exit::{AppError, ExitStatus};
use crate::export::Export;
use crate::pipeline::compare::{
    Decided, LiveOptions, OfflineInputs, candidate_of, decide_live, decide_offline, default_out,
};
use crate::report::github::compare_annotations;
use crate::report::json::JsonReporter;
use crate::report::{Format, Reporter};
use crate::scenario;

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
    let exports = Exports::new(&args.export)?;
    let decided = match (
        &args.scenario,
        args.baseline.is_empty(),
        args.candidate.is_empty(),
    ) {
        (None, false, false) => offline(&args)?,
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
            live(file, &args)?
        }
    };
    let verdict = decided.comparison.verdict;
    let (doc, reports) = decided.into_report(command_line());
    let json_on_stdout = args.json.as_deref() == Some(Path::new("-"));
    let reports = if json_on_stdout {
        reports.table_on_stderr()
    } else {
        reports
    };
    let written = reports
        .write(&doc)
        .map_err(|e| AppError::Runtime(e.to_string()))?;
    let notes = notes_only(args.quiet);
    for file in &written {
        notes.note(&format!("report: {}", file.display()));
    }
    if github::on_actions() {
        if !json_on_stdout {
            github::annotate(&compare_annotations(&doc.comparison));
        }
        if let Some(summary) = written
            .iter()
            .find(|f| f.file_name().is_some_and(|n| n == "summary.md"))
        {
            github::append_step_summary(summary, &notes);
        }
    }
    if let Some(target) = args.json.as_deref() {
        let json = JsonReporter
            .render(&doc)
            .map_err(|e| AppError::Runtime(e.to_string()))?;
        if target == Path::new("-") {
            print!("{}", String::from_utf8_lossy(&json));
        } else {
            atomic_file::write(target, &json, Existing::Replace).map_err(|e| {
                AppError::Runtime(format!("cannot write {}: {e}", target.display()))
            })?;
        }
    }
    let exported = exports.export(|now| Export::compare(&doc, now), &notes)?;
    if let Some(signal) = interrupt::interrupted() {
        eprintln!(
            "the compare was interrupted ({signal}): the report holds what was measured, the interrupted runs marked incomplete"
        );
        return Ok(exports.status(ExitStatus::Interrupted(signal), exported));
    }
    Ok(exports.status(exit_of(verdict), exported))
}

fn offline(args: &CompareArgs) -> Result<Decided, AppError> {
    let policy = match &args.policy {
        Some(file) => Some((scenario::load(file)?, file.as_path())),
        None => None,
    };
    Ok(decide_offline(
        OfflineInputs {
            policy: policy.as_ref().map(|(s, f)| (s, *f)),
            baseline: &args.baseline,
            candidate: &args.candidate,
            out: args.out.as_deref(),
        },
        &notes_only(args.quiet),
    )?)
}

fn live(file: &Path, args: &CompareArgs) -> Result<Decided, AppError> {
    let scenario = scenario::load(file)?;
    candidate_of(&scenario)?;
    if args.baseline.len() > 1 {
        return Err(AppError::Usage(
            "a live compare takes one --baseline FILE".into(),
        ));
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&scenario.name));
    let options = LiveOptions {
        repetitions: args.repetitions,
        seed: args.seed,
        formats: &Format::ALL,
    };
    let controls = controls(args.quiet);
    let baseline = args.baseline.first().map(PathBuf::as_path);
    Ok(runtime()?.block_on(decide_live(&scenario, baseline, &out, &options, &controls))?)
}
