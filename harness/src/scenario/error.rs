//! Errors of scenario files, located and explained.
//!
//! Every problem in a scenario is reported with the file, the 1-based line and column, a
//! message saying what is wrong and a help line saying how to fix it, plus the offending
//! source line with a caret under the exact place, in the style of the Rust compiler.
//! Byte spans (from the TOML parser or from validation) are turned into lines and columns
//! by the shared `toml_diagnostics` module, which this one re-exports for the scenario
//! modules.

use std::io;
use std::path::{Path, PathBuf};

pub use crate::toml_diagnostics::Diagnostic;
use crate::toml_diagnostics::io_reason;
pub(crate) use crate::toml_diagnostics::{Problem, closest, locate};

/// A scenario that could not be read or is not valid.
///
/// `Display` is the complete text for a terminal, `error: ` prefix included, like the
/// other errors that reach the user (see `exit::AppError`).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("error: cannot read {}: {}", file.display(), io_reason(error))]
    Io {
        /// The file, as given.
        file: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
    /// The file was read but is not a valid scenario.
    #[error("error: {0}")]
    Invalid(Box<Diagnostic>),
}

impl ScenarioError {
    /// The scenario file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            Self::Io { file, .. } => file,
            Self::Invalid(d) => &d.file,
        }
    }

    /// The located problem, when the file was read but did not validate.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            Self::Io { .. } => None,
            Self::Invalid(d) => Some(d),
        }
    }

    /// Builds the located error for `problem` found in `text`, the contents of `file`.
    pub(crate) fn invalid(file: &Path, text: &str, problem: Problem) -> Self {
        Self::Invalid(Box::new(Diagnostic::locate(file, text, problem)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_matches_the_documented_form() {
        let text = "name = \"demo\"\nrate = -5\n";
        let err = ScenarioError::invalid(
            Path::new("scenarios/demo.toml"),
            text,
            Problem::new(
                21..23,
                "rate must be greater than 0",
                "set a positive number, e.g. `rate = 200`",
            ),
        );
        let expected = "scenarios/demo.toml:2:8: rate must be greater than 0\n  |\n2 | rate = -5\n  |        ^^\n  = help: set a positive number, e.g. `rate = 200`";
        assert_eq!(err.to_string(), format!("error: {expected}"));
    }

    #[test]
    fn io_errors_name_the_file_without_os_noise() {
        let err = ScenarioError::Io {
            file: PathBuf::from("scenarios/x.toml"),
            error: io::Error::from_raw_os_error(2),
        };
        assert!(
            err.to_string()
                .starts_with("error: cannot read scenarios/x.toml: ")
        );
        assert!(!err.to_string().contains("os error"));
    }
}
