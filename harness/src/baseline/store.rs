//! Baselines on disk: where they live (`<root>/<scenario>/<path>.json`), atomic saves that
//! never overwrite without `force`, loads that check the schema and the content hash, and a
//! listing that shows damaged files instead of hiding them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::BASELINE_SCHEMA;
use super::build::{Baseline, check_group, is_file_name};
use super::error::BaselineError;
use super::hash::{HASH_FIELD, content_hash};
use crate::atomic_file::{self, Existing};
use crate::record::RUN_SCHEMA;
use crate::record::codec::CORRUPT_PREFIX;

/// The file of the baseline of `path` of `scenario`: `root/<scenario>/<path>.json`.
pub fn baseline_file(root: &Path, scenario: &str, path: &str) -> PathBuf {
    root.join(scenario).join(format!("{path}.json"))
}

impl Baseline {
    /// Writes the baseline to [`baseline_file`] under `root` atomically (temp file in the
    /// same directory, then a rename), creating directories, and returns the file.
    ///
    /// An existing file is replaced only with `force` — even a corrupt one, which is left
    /// untouched without it; with `force` replacing it is the documented way out. The
    /// content hash is recomputed, so a baseline changed in memory is saved consistently.
    pub fn save(&self, root: &Path, force: bool) -> Result<PathBuf, BaselineError> {
        for (what, value) in [
            ("scenario name", &self.scenario.name),
            ("path name", &self.path),
        ] {
            if !is_file_name(value) {
                return Err(BaselineError::InvalidName {
                    run: format!("the baseline of {}/{}", self.scenario.name, self.path),
                    what,
                    value: value.clone(),
                });
            }
        }
        let file = baseline_file(root, &self.scenario.name, &self.path);
        // Checked first so the common mistake fails before anything is written; the
        // no-clobber link below closes the race with a concurrent save.
        if !force && exists(&file) {
            return Err(BaselineError::Exists { path: file });
        }
        let bytes = self.to_json()?;
        write_atomic(&file, &bytes, force)?;
        Ok(file)
    }

    /// The baseline as pretty JSON, with a freshly computed content hash.
    pub fn to_json(&self) -> Result<Vec<u8>, BaselineError> {
        let hash = self.compute_hash()?;
        let bytes = if hash == self.content_hash {
            serde_json::to_vec_pretty(self)
        } else {
            serde_json::to_vec_pretty(&Baseline {
                content_hash: hash,
                ..self.clone()
            })
        };
        let mut bytes = bytes.map_err(|e| self.encode_error(e))?;
        // Baselines are committed; a final newline keeps diffs and editors quiet.
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Reads the baseline at `file`, checking its schema and content hash.
    pub fn load(file: &Path) -> Result<Baseline, BaselineError> {
        let bytes =
            crate::input::read(file, crate::input::RESULT).map_err(|source| {
                match source.kind() {
                    io::ErrorKind::NotFound => BaselineError::NotFound {
                        path: file.to_path_buf(),
                    },
                    _ => BaselineError::Read {
                        path: file.to_path_buf(),
                        source,
                    },
                }
            })?;
        Self::from_json(&bytes, file)
    }

    /// Loads the baseline of `path` of `scenario` under `root`, checking that the file
    /// holds that scenario and path (a file copied to the wrong place is refused).
    pub fn load_for(root: &Path, scenario: &str, path: &str) -> Result<Baseline, BaselineError> {
        let file = baseline_file(root, scenario, path);
        let baseline = Self::load(&file)?;
        check_place(&baseline, &file, scenario, path)?;
        Ok(baseline)
    }

    /// Parses a baseline from JSON; `origin` names the source in errors.
    pub fn from_json(bytes: &[u8], origin: &Path) -> Result<Baseline, BaselineError> {
        let path = || origin.to_path_buf();
        let value: Value = serde_json::from_slice(bytes).map_err(|source| {
            if source.is_eof() {
                BaselineError::Truncated {
                    path: path(),
                    source,
                }
            } else {
                BaselineError::NotJson {
                    path: path(),
                    source,
                }
            }
        })?;
        check_schema(&value, origin)?;
        let stored = match value.get(HASH_FIELD) {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(BaselineError::Invalid {
                    path: path(),
                    detail: format!("it has no `{HASH_FIELD}` string"),
                });
            }
        };
        // The hash covers the file's values as written, unknown fields included, so any
        // edit is caught before the typed parse could drop or reinterpret it.
        let computed = content_hash(&value);
        if computed != stored {
            return Err(BaselineError::HashMismatch {
                path: path(),
                stored,
                computed,
            });
        }
        let baseline: Baseline = serde_json::from_value(value).map_err(|e| {
            let detail = e.to_string();
            let detail = if detail.starts_with(CORRUPT_PREFIX) {
                format!("it holds a {detail}")
            } else {
                detail
            };
            BaselineError::Invalid {
                path: path(),
                detail,
            }
        })?;
        baseline.check_consistent(origin)?;
        Ok(baseline)
    }

    /// Checks what the hash cannot: that the content was a valid baseline when hashed.
    fn check_consistent(&self, origin: &Path) -> Result<(), BaselineError> {
        let invalid = |detail: String| BaselineError::Invalid {
            path: origin.to_path_buf(),
            detail,
        };
        if let Some(r) = self.records.iter().find(|r| r.schema != RUN_SCHEMA) {
            return Err(invalid(format!(
                "a record has schema {:?}, expected {RUN_SCHEMA:?}",
                r.schema
            )));
        }
        check_group(&self.records, &self.provenance.runs).map_err(|e| invalid(e.to_string()))?;
        let first = &self.records[0];
        if first.scenario != self.scenario || first.path != self.path {
            return Err(invalid(format!(
                "it is labelled {}/{} but its records measured {}/{}",
                self.scenario.name, self.path, first.scenario.name, first.path
            )));
        }
        if self.summary.len() != first.steps.len() || self.noise.steps.len() != first.steps.len() {
            return Err(invalid(format!(
                "its records have {} steps but its summary {} and its noise model {}",
                first.steps.len(),
                self.summary.len(),
                self.noise.steps.len()
            )));
        }
        Ok(())
    }
}

/// Refuses a loaded baseline that does not hold `scenario`/`path`.
fn check_place(
    baseline: &Baseline,
    file: &Path,
    scenario: &str,
    path: &str,
) -> Result<(), BaselineError> {
    if baseline.scenario.name == scenario && baseline.path == path {
        return Ok(());
    }
    Err(BaselineError::Misplaced {
        path: file.to_path_buf(),
        scenario: baseline.scenario.name.clone(),
        found_path: baseline.path.clone(),
        expected: file
            .parent()
            .and_then(Path::parent)
            .map(|root| baseline_file(root, &baseline.scenario.name, &baseline.path))
            .unwrap_or_default(),
    })
}

/// Refuses anything but a JSON object with `"schema": "harness-baseline/v1"`, with a hint
/// for the usual mix-up (a run record given as a baseline).
fn check_schema(value: &Value, origin: &Path) -> Result<(), BaselineError> {
    let found = match value {
        Value::Object(map) => match map.get("schema") {
            Some(Value::String(s)) if s == BASELINE_SCHEMA => return Ok(()),
            Some(Value::String(s)) => format!("{s:?}"),
            Some(other) => other.to_string(),
            None => "none".to_owned(),
        },
        _ => "none (not a JSON object)".to_owned(),
    };
    let hint = if found.starts_with(&format!("{RUN_SCHEMA:?}")) {
        "this is a run record, not a baseline: make a baseline of it with `harness baseline save FILE`, or pass it with --candidate"
    } else if found.starts_with("\"harness-baseline/") {
        "it was written by another harness version: read it with that version or re-create it with `harness baseline save RUN... --force`"
    } else {
        "a baseline is the JSON file written by `harness baseline save`"
    };
    Err(BaselineError::WrongSchema {
        path: origin.to_path_buf(),
        found,
        hint,
    })
}

/// True when something (even a dangling link or a directory) is at `file`.
fn exists(file: &Path) -> bool {
    fs::symlink_metadata(file).is_ok()
}

/// Writes `bytes` to `file` atomically; without `force` an existing file is kept.
fn write_atomic(file: &Path, bytes: &[u8], force: bool) -> Result<(), BaselineError> {
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    atomic_file::write(file, bytes, existing).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists && !force {
            BaselineError::Exists {
                path: file.to_path_buf(),
            }
        } else {
            BaselineError::Write {
                path: file.to_path_buf(),
                source: e,
            }
        }
    })
}

/// What `list` shows of a baseline that loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryFacts {
    /// Number of runs it holds.
    pub runs: usize,
    /// When it was created (RFC 3339 UTC).
    pub created_at: String,
    /// Harness version that created it.
    pub harness_version: String,
    /// Policy version it was saved under.
    pub policy_version: String,
    /// Outcomes over every run and step.
    pub total_requests: u64,
    /// Pooled p50 of the first step, µs.
    pub first_step_p50_us: Option<u64>,
    /// Pooled p95 of the first step, µs.
    pub first_step_p95_us: Option<u64>,
    /// Share of all outcomes that failed.
    pub error_rate: f64,
}

impl EntryFacts {
    /// The facts of a loaded baseline.
    pub fn of(baseline: &Baseline) -> Self {
        let first = baseline.summary.first();
        Self {
            runs: baseline.records.len(),
            created_at: baseline.provenance.created_at.clone(),
            harness_version: baseline.provenance.harness_version.clone(),
            policy_version: baseline.policy_version.clone(),
            total_requests: baseline.total_requests(),
            first_step_p50_us: first.map(|s| s.p50_us),
            first_step_p95_us: first.map(|s| s.p95_us),
            error_rate: baseline.error_rate(),
        }
    }
}

/// Whether a listed baseline is usable.
#[derive(Debug)]
pub enum EntryStatus {
    /// It loaded and sits where its scenario and path say.
    Ok(EntryFacts),
    /// It did not load (corrupt, edited, wrong schema, misplaced, unreadable).
    Unusable(BaselineError),
}

/// One file of the store, as `list` sees it.
#[derive(Debug)]
pub struct BaselineEntry {
    /// Scenario, from the directory name.
    pub scenario: String,
    /// Path, from the file name.
    pub path: String,
    /// The file.
    pub file: PathBuf,
    /// Its facts, or why it cannot be used.
    pub status: EntryStatus,
}

/// Every `<scenario>/<path>.json` under `root`, sorted by scenario and path; other files
/// (a README, temp files) are ignored. A damaged file is listed as unusable, never hidden.
/// A missing `root` is an empty store (nothing saved yet), not an error.
pub fn list(root: &Path) -> Result<Vec<BaselineEntry>, BaselineError> {
    let list_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BaselineError::List { path, source }
    };
    let scenarios = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(list_err(root)(e)),
    };
    let mut found = Vec::new();
    for dir in scenarios {
        let dir = dir.map_err(list_err(root))?.path();
        if !dir.is_dir() {
            continue;
        }
        for file in fs::read_dir(&dir).map_err(list_err(&dir))? {
            let file = file.map_err(list_err(&dir))?.path();
            let is_json = file.extension().is_some_and(|e| e == "json");
            let hidden = file
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if is_json && !hidden && file.is_file() {
                found.push(entry(&dir, file));
            }
        }
    }
    found.sort_by(|a, b| (&a.scenario, &a.path).cmp(&(&b.scenario, &b.path)));
    Ok(found)
}

/// Loads one listed file into an entry.
fn entry(dir: &Path, file: PathBuf) -> BaselineEntry {
    let scenario = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = file
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let status = match Baseline::load(&file)
        .and_then(|b| check_place(&b, &file, &scenario, &path).map(|()| b))
    {
        Ok(b) => EntryStatus::Ok(EntryFacts::of(&b)),
        Err(e) => EntryStatus::Unusable(e),
    };
    BaselineEntry {
        scenario,
        path,
        file,
        status,
    }
}
