//! `harness run`, `harness validate` and `harness reference serve`.

use std::path::{Path, PathBuf};

use super::export::Exports;
use super::{controls, interrupt, runtime};
use crate::cli::{RunArgs, ValidateArgs};
use crate::exit::{AppError, ExitStatus};
use crate::export::Export;
use crate::load::Segment;
use crate::load::barrier::{self, BarrierError};
use crate::pipeline::Controls;
use crate::pipeline::compare::default_out;
use crate::reference::{ReferenceConfig, ReferencePlatform};
use crate::report::run_summary_table;
use crate::runner::{RunPlan, RunResult};
use crate::scenario;

pub(super) fn validate(args: &ValidateArgs) -> Result<ExitStatus, AppError> {
    let scenario = scenario::load(&args.scenario)?;
    println!(
        "{}: valid scenario `{}` ({} path(s), {} flow(s), {} step(s)); hash {}",
        args.scenario.display(),
        scenario.name,
        scenario.paths.len(),
        scenario.flows.len(),
        scenario.step_count(),
        scenario.hash
    );
    Ok(ExitStatus::Success)
}

/// The segment `args` ask for: `--segment I/N`, or `--segment-from-env` (the index from
/// `JOB_COMPLETION_INDEX`, the count from `--segments`); the whole plan otherwise.
fn segment(args: &RunArgs, scenario: &scenario::Scenario) -> Result<Segment, AppError> {
    let segment = if args.segment_from_env {
        let count = args.segments.unwrap_or(1);
        let text = std::env::var(SEGMENT_INDEX_VAR).map_err(|_| {
            AppError::Usage(format!(
                "--segment-from-env: {SEGMENT_INDEX_VAR} is not set; run in a Kubernetes Indexed Job (completionMode: Indexed) or give --segment I/N"
            ))
        })?;
        let index = text.trim().parse::<u32>().map_err(|_| {
            AppError::Usage(format!(
                "--segment-from-env: {SEGMENT_INDEX_VAR} is `{}`, not a whole number",
                crate::text::printable(&text)
            ))
        })?;
        Segment::new(index, count)
            .map_err(|e| AppError::Usage(format!("--segment-from-env: {e}")))?
    } else if let Some(segment) = args.segment {
        segment
    } else {
        if args.segments.is_some() {
            return Err(AppError::Usage(
                "--segments N goes with --segment-from-env; for one segment give --segment I/N"
                    .into(),
            ));
        }
        return Ok(Segment::WHOLE);
    };
    if let crate::scenario::LoadModel::Closed { users, .. } = scenario.load.model
        && users < segment.count
    {
        return Err(AppError::Usage(format!(
            "segment {segment}: the closed model has {users} user(s), fewer than the {} segments, so some segments would have none; use at most {users} segments",
            segment.count
        )));
    }
    Ok(segment)
}

/// Waits at the start barrier in `dir` until every segment is ready; the common start.
fn start_at_barrier(
    dir: &Path,
    segment: Segment,
    timeout: std::time::Duration,
    controls: &Controls,
) -> Result<std::time::SystemTime, AppError> {
    controls.note(&format!(
        "segment {segment}: waiting at the start barrier {} for {} segment(s) (at most {})",
        dir.display(),
        segment.count,
        humantime::format_duration(timeout)
    ));
    let start = barrier::wait(dir, segment, timeout, &|| controls.stop.is_triggered()).map_err(
        |e| match e {
            BarrierError::Interrupted => {
                AppError::Interrupted(interrupt::received(), e.to_string())
            }
            e => AppError::Runtime(e.to_string()),
        },
    )?;
    controls.note(&format!(
        "every segment is ready: starting at {}",
        humantime::format_rfc3339_millis(start)
    ));
    Ok(start)
}

/// Where Kubernetes puts an Indexed Job's completion index.
const SEGMENT_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

pub(super) fn run(args: RunArgs) -> Result<ExitStatus, AppError> {
    let scenario = scenario::load(&args.scenario)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&scenario.name));
    let mut plan = RunPlan::for_scenario(&scenario, out);
    if !args.paths.is_empty() {
        for p in &args.paths {
            if scenario.path(p).is_none() {
                let known: Vec<_> = scenario.paths.iter().map(|p| p.name.as_str()).collect();
                return Err(AppError::Usage(format!(
                    "--path {p}: the scenario has no such path; it has: {}",
                    known.join(", ")
                )));
            }
        }
        plan.paths = args.paths.clone();
    }
    if let Some(k) = args.repetitions {
        plan.repetitions = k;
    }
    if let Some(seed) = args.seed {
        plan.seed = seed;
    }
    plan.segment = segment(&args, &scenario)?;
    let exports = Exports::new(&args.export)?;
    let controls = controls(args.quiet);
    plan.start_at = match &args.start_barrier {
        Some(dir) => Some(start_at_barrier(
            dir,
            plan.segment,
            args.barrier_timeout,
            &controls,
        )?),
        None => args.start_at,
    };
    controls.note(&format!(
        "running `{}`{}: path(s) {} × {} repetition(s), {} + {} warmup each; records in {}",
        scenario.name,
        if plan.segment.is_whole() {
            String::new()
        } else {
            format!(" segment {}", plan.segment)
        },
        plan.paths.join(", "),
        plan.repetitions,
        humantime::format_duration(scenario.load.duration),
        humantime::format_duration(scenario.load.warmup),
        plan.out.display()
    ));
    let results = runtime()?.block_on(crate::pipeline::run::run(&scenario, &plan, &controls))?;

    let records: Vec<_> = results.iter().map(|r| &r.record).collect();
    println!("{}", run_summary_table(&records));
    warn_about_unreachable_targets(&results, &controls);
    controls.note(&format!("run records: {}", plan.out.join("runs").display()));
    let records: Vec<_> = results.into_iter().map(|r| r.record).collect();
    let exported = exports.export(|now| Export::runs(&records, now), &controls)?;
    if controls.stop.is_triggered() || records.iter().any(|r| !r.complete) {
        let signal = interrupt::received();
        eprintln!("the run was interrupted ({signal}): the records above are marked incomplete");
        return Ok(exports.status(ExitStatus::Interrupted(signal), exported));
    }
    // A run decides nothing, so a run whose generator could not keep up still exits 0:
    // the pipeline warned about it on stderr and the summary above says it too; the
    // comparison that uses the records judges whether they are good enough.
    Ok(exports.status(ExitStatus::Success, exported))
}

fn warn_about_unreachable_targets(results: &[RunResult], controls: &Controls) {
    for r in results {
        let (connect, total) = r.record.connect_failures();
        if total > 0 && connect == total {
            controls.warn(&format!(
                "path `{}` (repetition {}): every request failed to connect; is the service running at the path's base_url?",
                r.record.path, r.record.repetition
            ));
        }
    }
}

pub(super) fn serve_reference(
    bind: std::net::SocketAddr,
    scenario_file: Option<PathBuf>,
) -> Result<ExitStatus, AppError> {
    let (config, seed) = match scenario_file {
        Some(file) => {
            let s = scenario::load(&file)?;
            (s.reference.clone(), s.seed)
        }
        None => (ReferenceConfig::default(), 1),
    };
    let stop = interrupt::stop_signal();
    runtime()?.block_on(async move {
        let platform = ReferencePlatform::start_with(config, seed, bind, None)
            .await
            .map_err(|e| {
                AppError::Runtime(format!(
                    "cannot start the reference platform on {bind}: {e}"
                ))
            })?;
        println!("reference platform: {}", platform.url());
        println!("  POST {}/api/workflows/execute", platform.url());
        println!("  GET  {}/api/tasks/{{id}}", platform.url());
        println!("  GET  {}/healthz", platform.url());
        println!("  GET  {}/metrics", platform.url());
        println!(
            "  POST {}/mcp  (MCP: tools run_workflow, fail; X-Feature-USE_DAGGER_MCP_SERVER: true for the Dagger path)",
            platform.url()
        );
        println!("executor dependency: {}", platform.executor_url());
        println!("Dagger path: send `X-Feature-USE_DAGGER_WORKFLOW_ENGINE: true`; Ctrl-C stops.");
        stop.triggered().await;
        platform.shutdown().await;
        Ok::<_, AppError>(())
    })?;
    Ok(ExitStatus::Success)
}
