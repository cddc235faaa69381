//! The [`Baseline`] type and how one is made from run records: the records are checked to
//! be one complete, homogeneous group (one scenario version, one path, one machine), then
//! summarised, their noise measured and the whole hashed.

use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::BASELINE_SCHEMA;
use super::error::BaselineError;
use super::hash::content_hash;
use super::noise::{NoiseModel, NoiseSource};
use super::summary::{StepSummary, summarize};
use crate::record::{RunRecord, ScenarioRef};

/// Where a baseline came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// When the baseline was created, RFC 3339 UTC to the second.
    pub created_at: String,
    /// Version of the harness that created it.
    pub harness_version: String,
    /// `git rev-parse --short HEAD` of the working directory at creation, when available.
    pub git_revision: Option<String>,
    /// Source file names of the records, in record order.
    pub runs: Vec<String>,
    /// Source file names of the A/A runs the noise model was calibrated from, if any.
    #[serde(default)]
    pub calibration_runs: Vec<String>,
}

/// A `harness-baseline/v1` file: the runs of one (scenario, path) and what compare needs
/// from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`BASELINE_SCHEMA`]; other values are refused on load.
    pub schema: String,
    /// Scenario the runs measured.
    pub scenario: ScenarioRef,
    /// Path the runs measured.
    pub path: String,
    /// The raw runs, complete and homogeneous.
    pub records: Vec<RunRecord>,
    /// Per step, the runs pooled.
    pub summary: Vec<StepSummary>,
    /// Between-run noise per step and quantile.
    pub noise: NoiseModel,
    /// Version of the decision policy the baseline was saved under.
    pub policy_version: String,
    /// When, by what and from which runs it was made.
    pub provenance: Provenance,
    /// Hex SHA-256 of the canonical JSON of every other field; checked on load.
    pub content_hash: String,
}

impl Baseline {
    /// Builds a baseline from complete runs of one scenario version and path on one machine.
    ///
    /// `sources[i]` names `records[i]` in errors and in the provenance; records without a
    /// name are called `run record N`.
    pub fn from_records(
        records: Vec<RunRecord>,
        sources: Vec<String>,
        policy_version: &str,
    ) -> Result<Baseline, BaselineError> {
        let names = names_for(records.len(), sources);
        check_group(&records, &names)?;
        let first = &records[0];
        let noise = NoiseModel::from_runs(&records, NoiseSource::Repetitions);
        let mut baseline = Baseline {
            schema: BASELINE_SCHEMA.to_owned(),
            scenario: first.scenario.clone(),
            path: first.path.clone(),
            summary: summarize(&records),
            noise,
            policy_version: policy_version.to_owned(),
            provenance: Provenance {
                created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                harness_version: env!("CARGO_PKG_VERSION").to_owned(),
                git_revision: git_revision(),
                runs: names,
                calibration_runs: Vec::new(),
            },
            records,
            content_hash: String::new(),
        };
        baseline.content_hash = baseline.compute_hash()?;
        Ok(baseline)
    }

    /// Replaces the noise model with one measured from A/A `runs` of the same scenario
    /// version, path and machine (marked `calibration`), sets the calibration block
    /// (false-decision rates, or `None`) and updates the content hash.
    ///
    /// `sources[i]` names `runs[i]`, as in [`Baseline::from_records`].
    pub fn set_noise_from_calibration(
        &mut self,
        runs: &[RunRecord],
        sources: &[String],
        calibration: Option<serde_json::Value>,
    ) -> Result<(), BaselineError> {
        let names = names_for(runs.len(), sources.to_vec());
        if runs.len() < 2 {
            return Err(BaselineError::TooFewCalibrationRuns {
                baseline: format!("{}/{}", self.scenario.name, self.path),
                runs: runs.len(),
            });
        }
        check_group(runs, &names)?;
        let mismatch = |what, found: &str, expected: &str| BaselineError::CalibrationMismatch {
            run: names[0].clone(),
            baseline: format!("{}/{}", self.scenario.name, self.path),
            what,
            found: found.to_owned(),
            expected: expected.to_owned(),
        };
        // check_group made the runs agree with each other; the first stands for all.
        let run = &runs[0];
        if run.scenario.name != self.scenario.name {
            return Err(mismatch(
                "scenario",
                &run.scenario.name,
                &self.scenario.name,
            ));
        }
        if run.scenario.hash != self.scenario.hash {
            return Err(mismatch(
                "scenario hash",
                &run.scenario.hash,
                &self.scenario.hash,
            ));
        }
        if run.path != self.path {
            return Err(mismatch("path", &run.path, &self.path));
        }
        if let Some(mine) = self.records.first() {
            if run.fingerprint() != mine.fingerprint() {
                let detail = mine.environment.describe_changes(&run.environment);
                return Err(mismatch("environment", &detail, "the baseline's machine"));
            }
            let layout = |r: &RunRecord| step_layout(r);
            if layout(run) != layout(mine) {
                return Err(mismatch("steps", &layout(run), &layout(mine)));
            }
        }
        let mut noise = NoiseModel::from_runs(runs, NoiseSource::Calibration);
        noise.calibration = calibration;
        self.noise = noise;
        self.provenance.calibration_runs = names;
        self.content_hash = self.compute_hash()?;
        Ok(())
    }

    /// The content hash of the baseline as it is now (not the stored `content_hash`).
    pub fn compute_hash(&self) -> Result<String, BaselineError> {
        let value = serde_json::to_value(self).map_err(|e| self.encode_error(e))?;
        Ok(content_hash(&value))
    }

    /// Successful plus failed outcomes over every run and step.
    pub fn total_requests(&self) -> u64 {
        self.summary
            .iter()
            .fold(0u64, |sum, s| sum.saturating_add(s.count))
    }

    /// Share of all outcomes over every run and step that did not succeed (0 without any).
    pub fn error_rate(&self) -> f64 {
        let total = self.total_requests();
        let ok: u64 = self.summary.iter().fold(0u64, |sum, s| {
            let ok = s
                .classes
                .get(&crate::outcome::OutcomeClass::Ok)
                .copied()
                .unwrap_or(0);
            sum.saturating_add(ok)
        });
        match total {
            0 => 0.0,
            n => n.saturating_sub(ok) as f64 / n as f64,
        }
    }

    pub(super) fn encode_error(&self, e: impl std::fmt::Display) -> BaselineError {
        BaselineError::Encode {
            scenario: self.scenario.name.clone(),
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }
}

/// One name per record: the given source, or `run record N`.
fn names_for(count: usize, sources: Vec<String>) -> Vec<String> {
    let mut names = sources;
    names.truncate(count);
    for i in names.len()..count {
        names.push(format!("run record {}", i + 1));
    }
    names
}

/// Checks that `records` are one non-empty, complete, homogeneous group with usable names.
pub(super) fn check_group(records: &[RunRecord], names: &[String]) -> Result<(), BaselineError> {
    let Some(first) = records.first() else {
        return Err(BaselineError::NoRecords);
    };
    let name = |i: usize| {
        names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("run record {}", i + 1))
    };
    for (i, r) in records.iter().enumerate() {
        if !r.complete {
            return Err(BaselineError::Incomplete {
                run: name(i),
                repetition: r.repetition,
            });
        }
    }
    for (what, value) in [
        ("scenario name", &first.scenario.name),
        ("path name", &first.path),
    ] {
        if !is_file_name(value) {
            return Err(BaselineError::InvalidName {
                run: name(0),
                what,
                value: value.clone(),
            });
        }
    }
    let first_layout = step_layout(first);
    for (i, r) in records.iter().enumerate().skip(1) {
        let mixed = |what, a: &str, b: &str| BaselineError::Mixed {
            what,
            first: name(0),
            first_value: a.to_owned(),
            other: name(i),
            other_value: b.to_owned(),
        };
        if r.scenario.name != first.scenario.name {
            return Err(mixed("scenario", &first.scenario.name, &r.scenario.name));
        }
        if r.scenario.hash != first.scenario.hash {
            return Err(mixed(
                "scenario hash",
                &first.scenario.hash,
                &r.scenario.hash,
            ));
        }
        if r.path != first.path {
            return Err(mixed("path", &first.path, &r.path));
        }
        if r.fingerprint() != first.fingerprint() {
            return Err(BaselineError::MixedEnvironment {
                first: name(0),
                other: name(i),
                detail: first.environment.describe_changes(&r.environment),
            });
        }
        // Same scenario hash implies the same steps; a hand-made record may still differ.
        let layout = step_layout(r);
        if layout != first_layout {
            return Err(mixed("steps", &first_layout, &layout));
        }
    }
    for (i, a) in records.iter().enumerate() {
        if let Some(j) = records.iter().skip(i + 1).position(|b| b == a) {
            return Err(BaselineError::Duplicate {
                first: name(i),
                other: name(i + 1 + j),
            });
        }
    }
    Ok(())
}

/// The record's steps as `flow/step, ...`.
fn step_layout(r: &RunRecord) -> String {
    r.steps
        .iter()
        .map(|s| format!("{}/{}", s.flow, s.step))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The scenario validator's rule for names that become file names.
pub(super) fn is_file_name(value: &str) -> bool {
    let mut chars = value.chars();
    value.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The short git revision of the working directory; `None` when git or a repository is
/// missing (provenance is best effort, never a reason to fail a save).
fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_scenario_rule() {
        for ok in ["demo", "a", "0-x_y", &"a".repeat(64)] {
            assert!(is_file_name(ok), "{ok}");
        }
        for bad in ["", "Demo", "-x", "_x", "a/b", "..", "a.b", &"a".repeat(65)] {
            assert!(!is_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn missing_names_are_numbered_and_extra_ones_dropped() {
        assert_eq!(
            names_for(3, vec!["a.json".into()]),
            vec!["a.json", "run record 2", "run record 3"]
        );
        assert_eq!(names_for(1, vec!["a".into(), "b".into()]), vec!["a"]);
        assert!(names_for(0, vec!["a".into()]).is_empty());
    }
}
