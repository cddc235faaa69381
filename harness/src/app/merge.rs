//! `harness merge --out DIR INPUT...`: the records of `harness run --segment I/N`, from
//! every segment's folder (or record files), joined into one record per path and
//! repetition under `DIR/runs/`, which `compare`, `baseline` and `gate --from` read like
//! any run's. Refusals (records of different runs, a segment missing or given twice, a
//! file that is no run record) exit 2 and write nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::MergeArgs;
use crate::exit::{AppError, ExitStatus};
use crate::record::RunRecord;
use crate::record::merge::merge;
use crate::runner::record_file;
use crate::text::printable;

pub(super) fn merge_command(args: MergeArgs) -> Result<ExitStatus, AppError> {
    let mut groups: BTreeMap<(String, u32), Vec<(String, RunRecord)>> = BTreeMap::new();
    for file in record_files(&args.inputs)? {
        let record = RunRecord::read(&file).map_err(|e| AppError::Usage(e.to_string()))?;
        groups
            .entry((record.path.clone(), record.repetition))
            .or_default()
            .push((file.display().to_string(), record));
    }
    if groups.is_empty() {
        return Err(AppError::Usage(
            "no run records in the inputs: give the segments' --out folders (or their runs/*.json)"
                .into(),
        ));
    }
    // Every group is merged before anything is written: a refusal leaves no partial output.
    let mut merged = Vec::new();
    for ((path, repetition), records) in groups {
        let record = merge(records).map_err(|e| {
            AppError::Usage(format!(
                "path `{}`, repetition {repetition}: {e}",
                printable(&path)
            ))
        })?;
        merged.push(record);
    }
    for record in &merged {
        let file = record_file(&args.out, &record.path, record.repetition);
        record
            .write_atomic(&file)
            .map_err(|e| AppError::Runtime(e.to_string()))?;
        let from = record.merged.as_ref().map_or(0, |m| m.segments);
        println!(
            "{}: path {} r{} from {from} segments: {} requests, {} dropped{}",
            file.display(),
            printable(&record.path),
            record.repetition,
            record.load.sent,
            record.load.dropped,
            if record.complete { "" } else { " (incomplete)" }
        );
    }
    Ok(ExitStatus::Success)
}

/// The record files among `inputs`: a file as given; a folder's `runs/*.json`, or its own
/// `*.json` when it has no `runs/`.
fn record_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, AppError> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_file() {
            files.push(input.clone());
            continue;
        }
        if !input.is_dir() {
            return Err(AppError::Usage(format!(
                "{}: no such file or folder",
                input.display()
            )));
        }
        let runs = input.join("runs");
        let folder: &Path = if runs.is_dir() { &runs } else { input };
        let mut found: Vec<PathBuf> = std::fs::read_dir(folder)
            .map_err(|e| AppError::Usage(format!("{}: {e}", folder.display())))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        found.sort();
        files.extend(found);
    }
    Ok(files)
}
