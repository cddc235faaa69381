//! The commands behind the binary: each turns validated arguments into library calls
//! and an [`ExitStatus`]. Printing for people happens here and in `report`, never in
//! the computing modules.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Cli, Command, ReferenceCommand, RunArgs, ValidateArgs};
use crate::exit::{AppError, ExitStatus};
use crate::load::StopSignal;
use crate::reference::{ReferenceConfig, ReferencePlatform};
use crate::report::run_summary_table;
use crate::runner::{RunObserver, RunPlan, RunResult, run_scenario};
use crate::scenario;

/// Runs one command line.
pub fn execute(cli: Cli) -> Result<ExitStatus, AppError> {
    match cli.command {
        Command::Validate(args) => validate(&args),
        Command::Run(args) => run(args),
        Command::Reference {
            command: ReferenceCommand::Serve { bind, scenario },
        } => serve_reference(bind, scenario),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))
}

/// Ctrl-C once: stop cleanly and keep what was measured. Twice: exit at once.
fn install_interrupt(stop: &StopSignal) {
    let stop = stop.clone();
    let result = ctrlc::set_handler(move || {
        if stop.is_triggered() {
            eprintln!("interrupted again: exiting without waiting");
            std::process::exit(i32::from(ExitStatus::Interrupted.code()));
        }
        eprintln!(
            "interrupted: stopping, keeping what was measured (Ctrl-C again to exit at once)"
        );
        stop.trigger();
        // The closed model runs inside goose, which stops on its own killswitch.
        goose::trigger_killswitch("interrupted by Ctrl-C");
    });
    if let Err(e) = result {
        eprintln!("warning: Ctrl-C will not stop cleanly: {e}");
    }
}

fn validate(args: &ValidateArgs) -> Result<ExitStatus, AppError> {
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

fn run(args: RunArgs) -> Result<ExitStatus, AppError> {
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
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let observer: Arc<dyn RunObserver> = Arc::new(TerminalObserver::new(show_progress));
    let stop = StopSignal::new();
    install_interrupt(&stop);

    eprintln!(
        "running `{}`: path(s) {} × {} repetition(s), {} + {} warmup each; records in {}",
        scenario.name,
        plan.paths.join(", "),
        plan.repetitions,
        humantime::format_duration(scenario.load.duration),
        humantime::format_duration(scenario.load.warmup),
        plan.out.display()
    );
    let results = runtime()?
        .block_on(run_scenario(&scenario, &plan, &stop, observer))
        .map_err(|e| AppError::Runtime(e.to_string()))?;

    let records: Vec<_> = results.iter().map(|r| &r.record).collect();
    println!("{}", run_summary_table(&records));
    warn_about_unreachable_targets(&results);
    eprintln!("run records: {}", plan.out.join("runs").display());
    if stop.is_triggered() || results.iter().any(|r| !r.record.complete) {
        eprintln!("the run was interrupted: the records above are marked incomplete");
        return Ok(ExitStatus::Interrupted);
    }
    Ok(ExitStatus::Success)
}

fn warn_about_unreachable_targets(results: &[RunResult]) {
    for r in results {
        let (connect, total) = r.record.connect_failures();
        if total > 0 && connect == total {
            eprintln!(
                "warning: path `{}` (repetition {}): every request failed to connect; is the service running at the path's base_url?",
                r.record.path, r.record.repetition
            );
        }
    }
}

fn default_out(scenario: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    PathBuf::from("reports").join(scenario).join(stamp)
}

fn serve_reference(
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
    let stop = StopSignal::new();
    install_interrupt(&stop);
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
        println!("executor dependency: {}", platform.executor_url());
        println!("Dagger path: send `X-Feature-USE_DAGGER_WORKFLOW_ENGINE: true`; Ctrl-C stops.");
        stop.triggered().await;
        platform.shutdown().await;
        Ok::<_, AppError>(())
    })?;
    Ok(ExitStatus::Success)
}

/// Progress on a terminal: one bar per drive, on stderr.
struct TerminalObserver {
    enabled: bool,
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl TerminalObserver {
    fn new(enabled: bool) -> Self {
        Self {
            enabled,
            bar: std::sync::Mutex::new(None),
        }
    }
}

impl RunObserver for TerminalObserver {
    fn starting(&self, path: &str, repetition: u32, total: Duration) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(total.as_secs().max(1));
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} s  {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("{path} r{repetition}"));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn tick(&self, elapsed: Duration, sent: u64, failed: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.set_position(elapsed.as_secs());
            bar.set_message(format!("{sent} sent, {failed} failed"));
        }
    }

    fn finished(&self, result: &RunResult) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
        }
        if self.enabled {
            eprintln!(
                "{} r{}: {}",
                result.record.path,
                result.record.repetition,
                result.file.display()
            );
        }
    }
}
