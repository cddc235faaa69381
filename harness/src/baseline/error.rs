//! Why a baseline could not be built, saved, loaded or listed. Every message names the file
//! (or the run) at fault and says how to fix the problem.

use std::path::{Path, PathBuf};

/// The command that re-creates a damaged baseline, quoted in messages.
const RECREATE: &str = "re-create it with `harness baseline save RUN... --force`";

/// Why a baseline could not be built, saved, loaded or listed.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// `from_records` was given no records.
    #[error(
        "no run records given; a baseline is made of at least one complete run: `harness baseline save reports/<...>/runs/*.json`"
    )]
    NoRecords,
    /// A record was interrupted.
    #[error(
        "{run} is an interrupted run (repetition {repetition}); an interrupted run is never saved as a baseline: run the scenario again to completion"
    )]
    Incomplete {
        /// The record's source file.
        run: String,
        /// Its repetition number.
        repetition: u32,
    },
    /// Two records disagree on scenario, scenario hash, path or steps.
    #[error(
        "{first} and {other} differ in {what} (`{first_value}` vs `{other_value}`); a baseline holds the runs of one scenario version and one path: save each group separately"
    )]
    Mixed {
        /// What differs: `scenario`, `scenario hash`, `path` or `steps`.
        what: &'static str,
        /// The first record's source.
        first: String,
        /// Its value.
        first_value: String,
        /// The disagreeing record's source.
        other: String,
        /// Its value.
        other_value: String,
    },
    /// Two records were measured in different environments.
    #[error(
        "{first} and {other} were measured in different environments ({detail}); a baseline mixes no machines: save the runs of each machine separately"
    )]
    MixedEnvironment {
        /// The first record's source.
        first: String,
        /// The disagreeing record's source.
        other: String,
        /// Which environment fields differ.
        detail: String,
    },
    /// The same run was given twice.
    #[error(
        "{first} and {other} are the same run given twice, which would understate the noise; pass each run once"
    )]
    Duplicate {
        /// The first copy's source.
        first: String,
        /// The second copy's source.
        other: String,
    },
    /// A scenario or path name cannot be part of a file name.
    #[error(
        "{run} has {what} `{value}`, which cannot name a baseline file (lower-case letters, digits, `-` and `_`, starting with a letter or digit, at most 64 characters); run the scenario again with a valid name"
    )]
    InvalidName {
        /// The record's source (or the baseline).
        run: String,
        /// `scenario name` or `path name`.
        what: &'static str,
        /// The offending name.
        value: String,
    },
    /// Calibration runs do not belong to the baseline.
    #[error(
        "calibration run {run} differs from the baseline of {baseline} in {what} (`{found}` vs `{expected}`); calibrate with A/A runs of the same scenario version and path on the same machine"
    )]
    CalibrationMismatch {
        /// The calibration record's source.
        run: String,
        /// The baseline's `scenario/path`.
        baseline: String,
        /// What differs.
        what: &'static str,
        /// The calibration run's value.
        found: String,
        /// The baseline's value.
        expected: String,
    },
    /// Too few calibration runs to measure noise.
    #[error(
        "calibration of {baseline} needs at least 2 complete A/A runs, got {runs}; run `harness calibrate` with more repetitions"
    )]
    TooFewCalibrationRuns {
        /// The baseline's `scenario/path`.
        baseline: String,
        /// How many runs were given.
        runs: usize,
    },
    /// The target file exists and `force` was not given.
    #[error("{path} exists; pass --force to replace it")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// No file at the path.
    #[error(
        "baseline {path} does not exist; check the path, or create it with `harness baseline save RUN...`"
    )]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read baseline {path}: {source}; check its permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A directory of the store could not be listed.
    #[error("cannot list baselines in {path}: {source}; check that it is a readable directory")]
    List {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error(
        "{path} is not JSON ({source}); a baseline is the JSON file written by `harness baseline save`: {RECREATE}"
    )]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// The file ends in the middle of its JSON (cut short while written or copied).
    #[error("{path} is truncated ({source}); it was cut short while written or copied: {RECREATE}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The file is JSON but not a `harness-baseline/v1` file.
    #[error("{path} has schema {found}, expected \"harness-baseline/v1\"; {hint}")]
    WrongSchema {
        /// The file.
        path: PathBuf,
        /// What the file says its schema is.
        found: String,
        /// How to fix it.
        hint: &'static str,
    },
    /// The content hash does not match the content.
    #[error(
        "{path} does not match its content hash (stored {stored}, computed {computed}): it was edited, truncated or corrupted after it was saved; {RECREATE}"
    )]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The hash the file claims.
        stored: String,
        /// The hash of its content.
        computed: String,
    },
    /// The file claims `harness-baseline/v1` but its fields do not match it.
    #[error("{path} is not a valid harness-baseline/v1 file: {detail}; {RECREATE}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A valid baseline sits where another (scenario, path) belongs.
    #[error(
        "{path} holds the baseline of scenario `{scenario}` path `{found_path}`; move it to {expected} or re-create this one with `harness baseline save RUN... --force`"
    )]
    Misplaced {
        /// The file.
        path: PathBuf,
        /// The scenario it holds.
        scenario: String,
        /// The path it holds.
        found_path: String,
        /// Where it belongs.
        expected: PathBuf,
    },
    /// The baseline could not be encoded (a bug: in-memory encoding does not fail).
    #[error("cannot encode the baseline of {scenario}/{path}: {detail}; this is a bug in harness")]
    Encode {
        /// The baseline's scenario.
        scenario: String,
        /// The baseline's path.
        path: String,
        /// The encoder's error.
        detail: String,
    },
    /// The baseline could not be written.
    #[error(
        "cannot write baseline {path}: {source}; check that the directory is writable and the disk is not full"
    )]
    Write {
        /// The target file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl BaselineError {
    /// True when the input is at fault (exit code 2); false for failures to write or encode
    /// (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            BaselineError::Write { .. } | BaselineError::Encode { .. }
        )
    }

    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            BaselineError::Exists { path }
            | BaselineError::NotFound { path }
            | BaselineError::Read { path, .. }
            | BaselineError::List { path, .. }
            | BaselineError::NotJson { path, .. }
            | BaselineError::Truncated { path, .. }
            | BaselineError::WrongSchema { path, .. }
            | BaselineError::HashMismatch { path, .. }
            | BaselineError::Invalid { path, .. }
            | BaselineError::Misplaced { path, .. }
            | BaselineError::Write { path, .. } => Some(path),
            BaselineError::NoRecords
            | BaselineError::Incomplete { .. }
            | BaselineError::Mixed { .. }
            | BaselineError::MixedEnvironment { .. }
            | BaselineError::Duplicate { .. }
            | BaselineError::InvalidName { .. }
            | BaselineError::CalibrationMismatch { .. }
            | BaselineError::TooFewCalibrationRuns { .. }
            | BaselineError::Encode { .. } => None,
        }
    }
}
