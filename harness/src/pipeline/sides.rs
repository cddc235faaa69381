//! One side of a comparison read from files: run records and stored baselines, each
//! record remembered with the file it came from; the same run given twice is refused.

use std::path::PathBuf;

use crate::baseline::{BASELINE_SCHEMA, Baseline};
use crate::compare::{Noise, Side, same_run};
use crate::record::RunRecord;

use super::PipelineError;

/// One side read from files, with the file each record came from.
#[derive(Debug, Clone)]
pub struct LoadedSide {
    /// The side.
    pub side: Side,
    /// `sources[i]` names `side.records[i]`: a record file, or `baseline.json (r2)`.
    pub sources: Vec<String>,
}

/// Reads run records and baselines into one side; a baseline brings its noise model.
pub fn load_side(files: &[PathBuf]) -> Result<LoadedSide, PipelineError> {
    let mut records = Vec::new();
    let mut sources = Vec::new();
    let mut noise = Noise::default();
    let mut labels = Vec::new();
    for file in files {
        let bytes = crate::input::read(file, crate::input::RESULT)
            .map_err(|e| PipelineError::Input(format!("cannot read {}: {e}", file.display())))?;
        let schema = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string));
        if schema.as_deref() == Some(BASELINE_SCHEMA) {
            let b = Baseline::load(file).map_err(|e| PipelineError::Input(e.to_string()))?;
            noise = Noise::from_model(&b.noise);
            for r in &b.records {
                sources.push(format!("{} (r{})", file.display(), r.repetition));
            }
            records.extend(b.records.iter().cloned());
            labels.push(format!("{} (baseline {})", b.path, file.display()));
        } else {
            let r = RunRecord::from_json(&bytes, file)
                .map_err(|e| PipelineError::Input(e.to_string()))?;
            labels.push(format!("{} r{} ({})", r.path, r.repetition, file.display()));
            sources.push(file.display().to_string());
            records.push(r);
        }
    }
    let label = if labels.len() == 1 {
        labels.remove(0)
    } else {
        format!("{} files", labels.len())
    };
    Ok(LoadedSide {
        side: Side {
            label,
            records,
            noise,
        },
        sources,
    })
}

/// The same run given twice (on one side or both) would count as two repetitions and
/// fake precision: bad input, refused with both places named.
pub fn refuse_duplicates(sides: &[&LoadedSide]) -> Result<(), PipelineError> {
    let all: Vec<(&RunRecord, &String)> = sides
        .iter()
        .flat_map(|s| s.side.records.iter().zip(&s.sources))
        .collect();
    for (j, (b, b_source)) in all.iter().enumerate() {
        if let Some((a, a_source)) = all[..j].iter().find(|(a, _)| same_run(a, b)) {
            return Err(PipelineError::Input(format!(
                "{a_source} and {b_source} are the same run ({} r{}, started {}): each run may be given once; drop one of them",
                a.path, a.repetition, a.started_at
            )));
        }
    }
    Ok(())
}

/// A folder name from a scenario name read from records, which may have been edited:
/// only a name the scenario validator would accept may become part of a path.
pub fn folder_name(scenario: &str) -> &str {
    let safe = !scenario.is_empty()
        && scenario.len() <= 64
        && scenario
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !scenario.starts_with(['-', '_']);
    if safe { scenario } else { "offline" }
}
