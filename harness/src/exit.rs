//! The exit-code contract and the error type at the command-line edge.

use std::process::ExitCode;

use crate::pipeline::PipelineError;
use crate::scenario::ScenarioError;

/// The signal that interrupted a command; the exit code says which (the shell's
/// convention, 128 + the signal's number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// SIGINT: Ctrl-C at a terminal (exit 130).
    Sigint,
    /// SIGTERM: what CI runners, `docker stop` and Kubernetes send (exit 143).
    Sigterm,
}

impl Interrupt {
    /// The signal's name, `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Sigint => "SIGINT",
            Interrupt::Sigterm => "SIGTERM",
        }
    }

    /// The exit code of a command it interrupted: 130 (SIGINT) or 143 (SIGTERM).
    pub fn code(self) -> u8 {
        match self {
            Interrupt::Sigint => 130,
            Interrupt::Sigterm => 143,
        }
    }
}

impl std::fmt::Display for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
    /// 130 (SIGINT, Ctrl-C) or 143 (SIGTERM): interrupted; what was measured is kept,
    /// marked incomplete.
    Interrupted(Interrupt),
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
            ExitStatus::Interrupted(signal) => signal.code(),
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
    /// A signal ended the command before it could decide (exit 130 or 143, by the signal).
    #[error("{1}")]
    Interrupted(Interrupt, String),
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
            // The pipeline knows only that its stop signal fired; the process knows why.
            PipelineError::Interrupted(m) => {
                AppError::Interrupted(crate::app::interrupt::received(), m)
            }
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
            AppError::Interrupted(signal, _) => ExitStatus::Interrupted(*signal),
            AppError::Skipped(_) => ExitStatus::Inconclusive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_documented_code() {
        let codes: Vec<(ExitStatus, u8)> = vec![
            (ExitStatus::Success, 0),
            (ExitStatus::RuntimeError, 1),
            (ExitStatus::BadInput, 2),
            (ExitStatus::NoGo, 3),
            (ExitStatus::Rollback, 4),
            (ExitStatus::Inconclusive, 5),
            (ExitStatus::Interrupted(Interrupt::Sigint), 130),
            (ExitStatus::Interrupted(Interrupt::Sigterm), 143),
        ];
        for (status, code) in codes {
            assert_eq!(status.code(), code, "{status:?}");
        }
    }

    #[test]
    fn an_interrupt_exits_128_plus_the_signal_number() {
        // SIGINT is 2 and SIGTERM 15 on every Unix the harness runs on.
        assert_eq!(Interrupt::Sigint.code(), 128 + 2);
        assert_eq!(Interrupt::Sigterm.code(), 128 + 15);
        assert_eq!(Interrupt::Sigterm.to_string(), "SIGTERM");
        let e = AppError::Interrupted(Interrupt::Sigterm, "stopped".into());
        assert_eq!(e.exit_status().code(), 143);
        assert_eq!(e.to_string(), "stopped");
    }
}
