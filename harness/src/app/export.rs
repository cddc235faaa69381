//! `--export-openmetrics` and `--export-remote-write`: the targets checked before
//! anything runs, the export done after the reports are written (an interrupted command
//! exports what exists), a failure warned, and the exit code it leaves.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::runtime;
use crate::cli::ExportArgs;
use crate::exit::{AppError, ExitStatus};
use crate::export::remote_write::{self, Authorization, RemoteWriteUrl};
use crate::export::{Export, openmetrics};
use crate::pipeline::Controls;

/// Where a command exports, validated.
#[derive(Debug)]
pub(super) struct Exports {
    openmetrics: Option<PathBuf>,
    remote_write: Option<(RemoteWriteUrl, Option<Authorization>)>,
    required: bool,
}

/// Whether every export asked for went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exported {
    /// Nothing asked for, or everything written and pushed.
    Done,
    /// At least one export failed (and was warned).
    Failed,
}

impl Exports {
    /// Checks the flags: the URL and the authorization must be usable, and the file must
    /// be one a file can be written at (its folder is created now, so a bad path fails
    /// before any load).
    pub(super) fn new(args: &ExportArgs) -> Result<Self, AppError> {
        if let Some(file) = &args.export_openmetrics {
            if file.is_dir() {
                return Err(AppError::Usage(format!(
                    "--export-openmetrics {}: a folder; give a file, e.g. {}/harness.prom",
                    file.display(),
                    file.display()
                )));
            }
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    AppError::Usage(format!(
                        "--export-openmetrics {}: cannot create its folder: {e}",
                        file.display()
                    ))
                })?;
            }
        }
        let remote_write = match &args.export_remote_write {
            Some(text) => {
                let url = RemoteWriteUrl::parse(text).map_err(|e| {
                    AppError::Usage(format!(
                        "--export-remote-write (or HARNESS_REMOTE_WRITE_URL): {e}"
                    ))
                })?;
                let authorization = Authorization::from_env().map_err(AppError::Usage)?;
                Some((url, authorization))
            }
            None => None,
        };
        Ok(Self {
            openmetrics: args.export_openmetrics.clone(),
            remote_write,
            required: args.export_required,
        })
    }

    /// Whether any export was asked for.
    pub(super) fn wanted(&self) -> bool {
        self.openmetrics.is_some() || self.remote_write.is_some()
    }

    /// Exports what `build` makes (given the time to stamp it with): writes the file,
    /// pushes to the endpoint; notes what went out, warns what failed.
    pub(super) fn export(
        &self,
        build: impl FnOnce(i64) -> Export,
        controls: &Controls,
    ) -> Result<Exported, AppError> {
        if !self.wanted() {
            return Ok(Exported::Done);
        }
        let export = build(now_ms());
        let mut outcome = Exported::Done;
        if let Some(file) = &self.openmetrics {
            match openmetrics::write_textfile(file, &export) {
                Ok(()) => controls.note(&format!(
                    "export: {} series written to {}",
                    export.samples.len(),
                    file.display()
                )),
                Err(e) => {
                    controls.warn(&format!(
                        "export: cannot write the OpenMetrics file {}: {e}",
                        file.display()
                    ));
                    outcome = Exported::Failed;
                }
            }
        }
        if let Some((url, authorization)) = &self.remote_write {
            let pushed =
                runtime()?.block_on(remote_write::push(url, &export, authorization.as_ref()));
            match pushed {
                Ok(pushed) => controls.note(&format!(
                    "export: {} series pushed to {} (remote write, {} attempt(s))",
                    pushed.series,
                    url.shown(),
                    pushed.attempts
                )),
                Err(e) => {
                    controls.warn(&format!("export: remote write failed: {e}"));
                    outcome = Exported::Failed;
                }
            }
        }
        Ok(outcome)
    }

    /// The exit status after exporting: a failed export turns success into a runtime
    /// error under `--export-required`; any other status stands.
    pub(super) fn status(&self, status: ExitStatus, exported: Exported) -> ExitStatus {
        match (status, exported) {
            (ExitStatus::Success, Exported::Failed) if self.required => ExitStatus::RuntimeError,
            _ => status,
        }
    }
}

/// Now, in milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_success_becomes_a_runtime_error_and_only_when_required() {
        let mut exports = Exports {
            openmetrics: None,
            remote_write: None,
            required: false,
        };
        assert_eq!(
            exports.status(ExitStatus::Success, Exported::Failed),
            ExitStatus::Success
        );
        exports.required = true;
        assert_eq!(
            exports.status(ExitStatus::Success, Exported::Failed),
            ExitStatus::RuntimeError
        );
        assert_eq!(
            exports.status(ExitStatus::Success, Exported::Done),
            ExitStatus::Success
        );
        for kept in [
            ExitStatus::NoGo,
            ExitStatus::Rollback,
            ExitStatus::Inconclusive,
            ExitStatus::Interrupted(crate::exit::Interrupt::Sigterm),
        ] {
            assert_eq!(exports.status(kept, Exported::Failed), kept);
        }
    }
}
