//! The commands behind the binary: each turns validated arguments into library calls
//! and an [`ExitStatus`]. Printing for people happens here and in `report`, never in
//! the computing modules.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

mod baseline;
mod calibrate;
mod compare;
mod export;
mod gate;
mod github;
pub(crate) mod interrupt;
mod merge;
mod proxy;
mod report;
mod run;

use crate::cli::{Cli, Command, ReferenceCommand};
use crate::exit::{AppError, ExitStatus};
use crate::load::StopSignal;
use crate::pipeline::Controls;
use crate::runner::{RunObserver, RunResult};

/// Runs one command line.
pub fn execute(cli: Cli) -> Result<ExitStatus, AppError> {
    match cli.command {
        Command::Validate(args) => run::validate(&args),
        Command::Merge(args) => merge::merge_command(args),
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

/// The pipeline's controls at the terminal: progress bars on stderr (unless `quiet` or
/// not a terminal), notes on stderr (unless `quiet`), warnings on stderr always, and the
/// process's stop signal (SIGINT, SIGTERM).
pub(crate) fn controls(quiet: bool) -> Controls {
    let show_progress = !quiet && std::io::stderr().is_terminal();
    Controls {
        observer: Arc::new(TerminalObserver::new(show_progress, quiet)),
        stop: interrupt::stop_signal(),
    }
}

/// Controls that only print notes (unless `quiet`) and warnings, for work that a signal
/// ends at once (no run to keep).
pub(crate) fn notes_only(quiet: bool) -> Controls {
    Controls {
        observer: Arc::new(TerminalObserver::new(false, quiet)),
        stop: StopSignal::new(),
    }
}

/// The command as typed, for the report: arguments only (never environment values),
/// the program by its file name so no local directory leaks into a shared report.
pub(crate) fn command_line() -> String {
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

/// Progress on a terminal, on stderr: one bar per drive (when `enabled`), notes (unless
/// `quiet`) and warnings, one line each, `warning: ` first.
pub(crate) struct TerminalObserver {
    enabled: bool,
    quiet: bool,
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl TerminalObserver {
    pub(crate) fn new(enabled: bool, quiet: bool) -> Self {
        Self {
            enabled,
            quiet,
            bar: std::sync::Mutex::new(None),
        }
    }

    /// One line on stderr above the bar, if one is drawn.
    /// One line on stderr, names escaped, above the progress bar when there is one.
    fn say(&self, line: &str) {
        let line = crate::text::printable_lines(line);
        let slot = self.bar.lock();
        match slot.as_ref().ok().and_then(|bar| bar.as_ref()) {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
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

    fn note(&self, line: &str) {
        if !self.quiet {
            self.say(line);
        }
    }

    fn warn(&self, line: &str) {
        self.say(&format!("warning: {line}"));
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
