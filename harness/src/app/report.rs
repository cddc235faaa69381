//! `harness report`: re-renders a saved `result.json` in any format, from that file
//! alone, so a reviewer can turn a CI artefact into Markdown, JUnit or HTML later.

use std::io::Write;
use std::path::Path;

use crate::atomic_file::{self, Existing};
use crate::cli::ReportArgs;
use crate::exit::{AppError, ExitStatus};
use crate::report::manager::stdout_wants_color;
use crate::report::{RESULT_SCHEMA, ReportDocument, ReportError, reporter};

pub(super) fn report_command(args: ReportArgs) -> Result<ExitStatus, AppError> {
    let doc = read_document(&args.file)?;
    let to_stdout = args.out.as_deref().is_none_or(|p| p == Path::new("-"));
    let bytes = reporter(args.format, to_stdout && stdout_wants_color())
        .render(&doc)
        .map_err(|e| match e {
            ReportError::Unavailable(_) => AppError::Usage(e.to_string()),
            other => AppError::Runtime(other.to_string()),
        })?;
    match args.out {
        Some(file) if !to_stdout => {
            atomic_file::write(&file, &bytes, Existing::Replace).map_err(|e| {
                AppError::Usage(format!(
                    "cannot write {}: {e}; choose another --out",
                    file.display()
                ))
            })?;
            eprintln!("{}: {}", args.format, file.display());
        }
        _ => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
                // `harness report ... | head` closing the pipe early is not a failure.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(AppError::Runtime(format!(
                        "cannot write to standard output: {e}"
                    )));
                }
                _ => {}
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// Reads a `harness-result/v1` document; anything else is refused with what it is.
pub(super) fn read_document(file: &Path) -> Result<ReportDocument, AppError> {
    let bytes = crate::input::read(file, crate::input::RESULT).map_err(|e| {
        AppError::Usage(format!(
            "cannot read {}: {e}; pass the result.json written by `harness compare`",
            file.display()
        ))
    })?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        AppError::Usage(format!(
            "{} is not JSON ({e}); pass the result.json written by `harness compare`",
            file.display()
        ))
    })?;
    let schema = value.get("schema").and_then(|s| s.as_str());
    if schema != Some(RESULT_SCHEMA) {
        return Err(AppError::Usage(format!(
            "{} has schema {}, expected \"{RESULT_SCHEMA}\"; `harness report` re-renders the result.json written by `harness compare`",
            file.display(),
            schema.map_or_else(|| "(none)".to_string(), |s| format!("\"{s}\""))
        )));
    }
    serde_json::from_value(value).map_err(|e| {
        AppError::Usage(format!(
            "{} is not a valid {RESULT_SCHEMA} document: {e}; the file was damaged or edited: run `harness compare` again",
            file.display()
        ))
    })
}
