//! `harness compare`: live, live against a stored baseline, or offline from files; the
//! decision is printed as a table and written as a report folder (`result.json`,
//! `summary.md`, `junit.xml`, `report.html`) beside the run records.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::{TerminalObserver, default_out, install_interrupt, runtime};
use crate::atomic_file::{self, Existing};
use crate::baseline::Baseline;
use crate::cli::CompareArgs;
use crate::compare::{
    Comparison, Noise, Side, Verdict, check_drift, compare, judge_expectations, same_run,
};
use crate::exit::{AppError, ExitStatus};
use crate::load::StopSignal;
use crate::policy::Policy;
use crate::record::RunRecord;
use crate::report::json::JsonReporter;
use crate::report::{Format, ReportDocument, ReportManager, Reporter};
use crate::runner::{RunObserver, RunPlan, run_scenario};
use crate::scenario::{self, ExpectSpec, Scenario};

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
    let (doc, reports) = decided.into_report();
    let json_on_stdout = args.json.as_deref() == Some(Path::new("-"));
    let reports = if json_on_stdout {
        reports.table_on_stderr()
    } else {
        reports
    };
    for file in &write_report(&doc, &reports)? {
        eprintln!("report: {}", file.display());
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
    Ok(exit_of(verdict))
}

/// A decision and everything the report needs besides it.
pub(crate) struct Decided {
    /// The decision.
    pub(crate) comparison: Comparison,
    base_runs: Vec<RunRecord>,
    candidate_runs: Vec<RunRecord>,
    live_base_runs: Vec<RunRecord>,
    sources: Vec<String>,
    reports: ReportManager,
}

impl Decided {
    /// The report document, stamped now, and the manager of the folder it goes to.
    pub(crate) fn into_report(self) -> (ReportDocument, ReportManager) {
        let Decided {
            comparison,
            base_runs,
            candidate_runs,
            live_base_runs,
            sources,
            reports,
        } = self;
        let mut doc = ReportDocument::new(
            comparison,
            base_runs,
            candidate_runs,
            command_line(),
            sources,
        );
        doc.live_base_runs = live_base_runs;
        (doc, reports)
    }
}

/// Renders `doc` in every format of `reports` and returns the files written.
pub(crate) fn write_report(
    doc: &ReportDocument,
    reports: &ReportManager,
) -> Result<Vec<PathBuf>, AppError> {
    reports
        .write(doc)
        .map_err(|e| AppError::Runtime(e.to_string()))
}

/// The report folder's manager; made before any load so a bad `--out` fails at once.
fn report_manager(dir: &Path, formats: &[Format]) -> Result<ReportManager, AppError> {
    ReportManager::new(dir, formats).map_err(|e| AppError::Usage(e.to_string()))
}

/// The command as typed, for the report: arguments only (never environment values),
/// the program by its file name so no local directory leaks into a shared report.
fn command_line() -> String {
    std::env::args_os()
        .enumerate()
        .map(|(index, arg)| {
            let arg = if index == 0 {
                Path::new(&arg).file_name().map_or_else(
                    || arg.to_string_lossy().into_owned(),
                    |name| name.to_string_lossy().into_owned(),
                )
            } else {
                arg.to_string_lossy().into_owned()
            };
            quote(arg)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Single-quotes an argument that a shell would split or expand, so the line can be
/// pasted back.
fn quote(arg: String) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain {
        arg
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A folder name from a scenario name read from records, which may have been edited:
/// only a name the scenario validator would accept may become part of a path.
fn folder_name(scenario: &str) -> &str {
    let safe = !scenario.is_empty()
        && scenario.len() <= 64
        && scenario
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !scenario.starts_with(['-', '_']);
    if safe { scenario } else { "offline" }
}

/// One side read from files, with the file each record came from.
pub(crate) struct LoadedSide {
    /// The side.
    pub(crate) side: Side,
    /// `sources[i]` names `side.records[i]`: a record file, or `baseline.json (r2)`.
    pub(crate) sources: Vec<String>,
}

/// Reads run records and baselines into one side.
pub(crate) fn load_side(files: &[PathBuf]) -> Result<LoadedSide, AppError> {
    let mut records = Vec::new();
    let mut sources = Vec::new();
    let mut noise = Noise::default();
    let mut labels = Vec::new();
    for file in files {
        let bytes = std::fs::read(file)
            .map_err(|e| AppError::Usage(format!("cannot read {}: {e}", file.display())))?;
        let schema = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string));
        if schema.as_deref() == Some(crate::baseline::BASELINE_SCHEMA) {
            let b = Baseline::load(file).map_err(|e| AppError::Usage(e.to_string()))?;
            noise = Noise::from_model(&b.noise);
            for r in &b.records {
                sources.push(format!("{} (r{})", file.display(), r.repetition));
            }
            records.extend(b.records.iter().cloned());
            labels.push(format!("{} (baseline {})", b.path, file.display()));
        } else {
            let r =
                RunRecord::from_json(&bytes, file).map_err(|e| AppError::Usage(e.to_string()))?;
            labels.push(format!("{} r{} ({})", r.path, r.repetition, file.display()));
            sources.push(file.display().to_string());
            records.push(r);
        }
    }
    let label = if labels.len() == 1 {
        labels.remove(0)
    } else {
        format!("{} files", labels.len())
    };
    Ok(LoadedSide {
        side: Side {
            label,
            records,
            noise,
        },
        sources,
    })
}

/// The same run given twice (on one side or both) would count as two repetitions and
/// fake precision: bad input, refused with both places named.
fn refuse_duplicates(sides: &[&LoadedSide]) -> Result<(), AppError> {
    let all: Vec<(&RunRecord, &String)> = sides
        .iter()
        .flat_map(|s| s.side.records.iter().zip(&s.sources))
        .collect();
    for (j, (b, b_source)) in all.iter().enumerate() {
        if let Some((a, a_source)) = all[..j].iter().find(|(a, _)| same_run(a, b)) {
            return Err(AppError::Usage(format!(
                "{a_source} and {b_source} are the same run ({} r{}, started {}): each run may be given once; drop one of them",
                a.path, a.repetition, a.started_at
            )));
        }
    }
    Ok(())
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

fn offline(args: &CompareArgs) -> Result<Decided, AppError> {
    let (policy, expect) = match &args.policy {
        Some(file) => {
            let s = scenario::load(file)?;
            (s.policy, s.expect)
        }
        None => (Policy::default(), ExpectSpec::default()),
    };
    let base = load_side(&args.baseline)?;
    let candidate = load_side(&args.candidate)?;
    refuse_duplicates(&[&base, &candidate])?;
    let (base, candidate) = (base.side, candidate.side);
    let name = candidate
        .records
        .first()
        .or(base.records.first())
        .map_or("offline", |r| folder_name(&r.scenario.name));
    let out = args.out.clone().unwrap_or_else(|| default_out(name));
    let reports = report_manager(&out, &Format::ALL)?;
    let comparison = compare(&base, &candidate, &policy, Vec::new());
    let comparison = with_expectations(comparison, &expect, &base, &candidate);
    let sources = args
        .policy
        .iter()
        .chain(&args.baseline)
        .chain(&args.candidate)
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
        quiet: args.quiet,
        formats: &Format::ALL,
    };
    decide_live(
        &scenario,
        args.baseline.first().map(PathBuf::as_path),
        &out,
        &options,
    )
}

/// The candidate path of a live compare, or how to add one.
fn candidate_of(scenario: &Scenario) -> Result<String, AppError> {
    scenario.candidate.clone().ok_or_else(|| {
        AppError::Usage(format!(
            "{}: the scenario has no candidate path; add [paths.dagger] or set `candidate = \"...\"`",
            scenario.source.display()
        ))
    })
}

/// How a live decision runs and what it writes.
pub(crate) struct LiveOptions<'a> {
    /// Repetitions per path (default: the scenario's).
    pub(crate) repetitions: Option<u32>,
    /// Seed (default: the scenario's).
    pub(crate) seed: Option<u64>,
    /// No progress bar.
    pub(crate) quiet: bool,
    /// The formats of the report folder (the table is printed, the rest written).
    pub(crate) formats: &'a [Format],
}

/// Decides one scenario live: the base and candidate paths run interleaved; with a
/// stored `baseline` the candidate is judged against it and the live base runs only
/// check for drift. Run records go to `out/runs`; the report folder `out` is prepared
/// before any load starts, and written by [`write_report`].
pub(crate) fn decide_live(
    scenario: &Scenario,
    baseline: Option<&Path>,
    out: &Path,
    options: &LiveOptions<'_>,
) -> Result<Decided, AppError> {
    let candidate_path = candidate_of(scenario)?;
    let stored = match baseline {
        Some(b) => Some(load_side(&[b.to_path_buf()])?.side),
        None => None,
    };
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
    let records = run_live(scenario, &plan, options.quiet)?;
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
            let c = compare(&base, &candidate, &scenario.policy, Vec::new());
            (
                with_expectations(c, &scenario.expect, &base, &candidate),
                base,
                Vec::new(),
            )
        }
        Some(stored_side) => {
            let quantiles: Vec<f64> = scenario.policy.quantiles.iter().map(|q| q.get()).collect();
            let drift = check_drift(
                &base_runs,
                &stored_side.records,
                &stored_side.noise,
                &quantiles,
            );
            let c = compare(&stored_side, &candidate, &scenario.policy, drift);
            (
                with_expectations(c, &scenario.expect, &stored_side, &candidate),
                stored_side,
                base_runs,
            )
        }
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

pub(crate) fn run_live(
    scenario: &Scenario,
    plan: &RunPlan,
    quiet: bool,
) -> Result<Vec<RunRecord>, AppError> {
    let show_progress = !quiet && std::io::stderr().is_terminal();
    let observer: Arc<dyn RunObserver> = Arc::new(TerminalObserver::new(show_progress));
    let stop = interrupt_signal();
    eprintln!(
        "running `{}`: {} × {} repetition(s), interleaved; records in {}",
        scenario.name,
        plan.paths.join(", "),
        plan.repetitions,
        plan.out.join("runs").display()
    );
    for path in &plan.paths {
        for warning in scenario.warnings(path) {
            eprintln!("warning: {warning}");
        }
    }
    let results = runtime()?.block_on(run_scenario(scenario, plan, &stop, observer))?;
    if stop.is_triggered() {
        return Err(AppError::Interrupted(format!(
            "interrupted: the runs so far are in {} (incomplete); no decision was made",
            plan.out.join("runs").display()
        )));
    }
    Ok(results.into_iter().map(|r| r.record).collect())
}

/// The process's interrupt signal. A Ctrl-C handler can be installed only once per
/// process and a gate makes many live compares, so they all share one signal: Ctrl-C
/// stops the compare running and every one after it.
fn interrupt_signal() -> StopSignal {
    static STOP: OnceLock<StopSignal> = OnceLock::new();
    STOP.get_or_init(|| {
        let stop = StopSignal::new();
        install_interrupt(&stop);
        stop
    })
    .clone()
}
