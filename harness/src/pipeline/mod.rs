//! The pipelines behind the commands, as async library functions: run a scenario,
//! compare live or offline (expectations judged inside), calibrate a path, gate a
//! phase. Each takes its [`Controls`] (where progress goes, what stops it) as an
//! argument and returns its own [`PipelineError`]; the binary's `app` layer only parses
//! arguments, owns the terminal and the async runtime, and maps outcomes to exit codes.
//!
//! - [`run`]: the runs of a scenario's paths, interleaved, records written.
//! - [`sides`]: run records and baselines read from files into a side.
//! - [`compare`]: a decision, live (against a stored baseline or both paths live) or offline.
//! - [`calibrate`]: A/A runs of one path into its baseline's noise model; the synthetic
//!   operating characteristics.
//! - [`gate`]: a phase gate: how each scenario is judged (live or from saved results),
//!   confirmations, the phase decision, the signal and the hook.

pub mod calibrate;
pub mod compare;
pub mod establish;
pub mod gate;
pub mod run;
pub mod sides;

use std::sync::Arc;

use crate::load::StopSignal;
use crate::runner::{RunError, RunObserver, Silent};
use crate::scenario::ScenarioError;

pub use compare::{Decided, LiveOptions, decide_live, decide_offline};
pub use run::run_records;
pub use sides::{LoadedSide, load_side};

/// What a pipeline is given besides its inputs: where progress goes and what stops it.
#[derive(Clone)]
pub struct Controls {
    /// Progress of each drive, one-line notes and warnings for people.
    pub observer: Arc<dyn RunObserver>,
    /// Stops the running drive cleanly; what was measured is kept.
    pub stop: StopSignal,
}

impl Controls {
    /// Controls that report nothing and stop only when `stop` is triggered.
    pub fn silent(stop: StopSignal) -> Self {
        Self {
            observer: Arc::new(Silent),
            stop,
        }
    }

    /// Says one line of progress to whoever watches (the terminal, in the binary);
    /// `--quiet` drops it.
    pub fn note(&self, line: &str) {
        self.observer.note(line);
    }

    /// Says one warning (without its `warning: ` prefix): a fact that bears on how far
    /// the result can be trusted; said even under `--quiet`.
    pub fn warn(&self, line: &str) {
        self.observer.warn(line);
    }
}

impl std::fmt::Debug for Controls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controls")
            .field("stopped", &self.stop.is_triggered())
            .finish_non_exhaustive()
    }
}

/// Why a pipeline could not decide. Each kind implies one exit code at the command line.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The scenario file is unreadable or invalid.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// An input does not fit: a file, a flag, a folder (bad input).
    #[error("{0}")]
    Input(String),
    /// Something failed while running.
    #[error("{0}")]
    Runtime(String),
    /// The stop signal ended the pipeline before it could decide.
    #[error("{0}")]
    Interrupted(String),
    /// A dependency of the run is missing (a Dagger engine): nothing was decided, and
    /// that is never a pass.
    #[error("{0}")]
    Skipped(String),
}

impl From<RunError> for PipelineError {
    fn from(error: RunError) -> Self {
        match error {
            e @ RunError::NoEngine { .. } => PipelineError::Skipped(e.to_string()),
            e => PipelineError::Runtime(e.to_string()),
        }
    }
}

impl From<crate::baseline::BaselineError> for PipelineError {
    fn from(e: crate::baseline::BaselineError) -> Self {
        if e.is_bad_input() {
            PipelineError::Input(e.to_string())
        } else {
            PipelineError::Runtime(e.to_string())
        }
    }
}
