//! The commands behind the binary: each turns validated arguments into library calls
//! and an [`ExitStatus`]. Printing for people happens here and in `report`, never in
//! the computing modules.

use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

mod baseline;
mod calibrate;
mod compare;
mod gate;
mod proxy;
mod report;
mod run;

use crate::cli::{Cli, Command, ReferenceCommand};
use crate::exit::{AppError, ExitStatus};
use crate::load::StopSignal;
use crate::runner::{RunObserver, RunResult};

/// Runs one command line.
pub fn execute(cli: Cli) -> Result<ExitStatus, AppError> {
    match cli.command {
        Command::Validate(args) => run::validate(&args),
        Command::Compare(args) => compare::compare_command(args),
        Command::Gate(args) => gate::gate_command(args),
        Command::Report(args) => report::report_command(args),
        Command::Baseline { command } => baseline::baseline_command(command),
        Command::Calibrate(args) => calibrate::calibrate_command(args),
        Command::Proxy(args) => proxy::proxy_command(args),
        Command::Run(args) => run::run(args),
        Command::Reference {
            command: ReferenceCommand::Serve { bind, scenario },
        } => run::serve_reference(bind, scenario),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))
}

/// Ctrl-C once: stop cleanly and keep what was measured. Twice: exit at once.
pub(crate) fn install_interrupt(stop: &StopSignal) {
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

pub(crate) fn default_out(scenario: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    PathBuf::from("reports").join(scenario).join(stamp)
}

/// Progress on a terminal: one bar per drive, on stderr.
pub(crate) struct TerminalObserver {
    enabled: bool,
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl TerminalObserver {
    pub(crate) fn new(enabled: bool) -> Self {
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
