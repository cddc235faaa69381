//! Errors of scenario files, located and explained.
//!
//! Every problem in a scenario is reported with the file, the 1-based line and column, a
//! message saying what is wrong and a help line saying how to fix it, plus the offending
//! source line with a caret under the exact place, in the style of the Rust compiler.
//! Byte spans (from the TOML parser or from validation) are turned into lines and columns
//! by the shared `toml_diagnostics` module, which this one re-exports for the scenario
//! modules.

pub use crate::toml_diagnostics::{Diagnostic, FileError};
pub(crate) use crate::toml_diagnostics::{Problem, closest, locate};

/// A scenario that could not be read or is not valid: a [`FileError`] about a scenario.
///
/// `Display` is the complete text for a terminal, `error: ` prefix included, like the
/// other errors that reach the user (see `exit::AppError`).
pub type ScenarioError = FileError;

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::{Path, PathBuf};

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
