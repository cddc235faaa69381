//! The exit-code contract and the error type at the command-line edge.

use std::process::ExitCode;

use crate::pipeline::PipelineError;
use crate::scenario::ScenarioError;

/// How a command ended; each maps to one documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done (or GO).
    Success,
    /// 1: something failed at run time.
    RuntimeError,
    /// 2: bad input or usage.
    BadInput,
    /// 3: NO-GO.
    NoGo,
    /// 4: ROLLBACK.
    Rollback,
    /// 5: INCONCLUSIVE.
    Inconclusive,
    /// 130: interrupted by Ctrl-C.
    Interrupted,
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::RuntimeError => 1,
            ExitStatus::BadInput => 2,
            ExitStatus::NoGo => 3,
            ExitStatus::Rollback => 4,
            ExitStatus::Inconclusive => 5,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// An error that reaches the user, with the exit code it implies.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The scenario file is unreadable or invalid (exit 2).
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A flag or argument does not fit (exit 2).
    #[error("error: {0}")]
    Usage(String),
    /// Something failed while running (exit 1).
    #[error("error: {0}")]
    Runtime(String),
    /// Ctrl-C ended the command before it could decide (exit 130).
    #[error("{0}")]
    Interrupted(String),
    /// A dependency of the run is missing (a Dagger engine): nothing was decided (exit 5,
    /// INCONCLUSIVE), never a pass.
    #[error("{0}")]
    Skipped(String),
}

impl From<crate::runner::RunError> for AppError {
    fn from(error: crate::runner::RunError) -> Self {
        PipelineError::from(error).into()
    }
}

impl From<PipelineError> for AppError {
    fn from(error: PipelineError) -> Self {
        match error {
            PipelineError::Scenario(e) => AppError::Scenario(e),
            PipelineError::Input(m) => AppError::Usage(m),
            PipelineError::Runtime(m) => AppError::Runtime(m),
            PipelineError::Interrupted(m) => AppError::Interrupted(m),
            PipelineError::Skipped(m) => AppError::Skipped(m),
        }
    }
}

impl AppError {
    /// The exit status for this error.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            AppError::Scenario(_) | AppError::Usage(_) => ExitStatus::BadInput,
            AppError::Runtime(_) => ExitStatus::RuntimeError,
            AppError::Interrupted(_) => ExitStatus::Interrupted,
            AppError::Skipped(_) => ExitStatus::Inconclusive,
        }
    }
}
