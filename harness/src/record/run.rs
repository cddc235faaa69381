//! Run records `harness-run/v1`: one path, one repetition of a scenario, as JSON.
//!
//! A record holds everything later steps need without re-running: the scenario's name and
//! hash, the environment, the load actually generated, per-step HDR histograms (base64 of
//! the V2 + DEFLATE encoding, see [`super::codec`]) with counts per outcome class and HTTP
//! status, and the timeline. Records are written atomically and refused on read when their
//! schema is not `harness-run/v1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::codec::CORRUPT_PREFIX;
use super::env::Environment;
use super::meta::{LoadModelKind, RunMeta, ScenarioRef};
use super::recorder::{Recording, StepStats};
use super::timeline::TimelinePoint;
use crate::atomic_file::{self, Existing};
use crate::fault::{FaultKind, FaultSite, FaultUnit};
use crate::outcome::OutcomeClass;

/// The schema name every run record carries.
pub const RUN_SCHEMA: &str = "harness-run/v1";

/// The load a run generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// Open or closed model.
    pub model: LoadModelKind,
    /// Arrivals per second asked for (open model).
    pub target_rate: Option<f64>,
    /// Achieved rate in the unit of `target_rate` (arrivals per second) as the driver
    /// measured it; requests sent per second when the driver gave none.
    pub achieved_rate: f64,
    /// Concurrent users (closed model).
    pub users: Option<u32>,
    /// Length of the measured window (warmup excluded), seconds.
    pub duration_s: f64,
    /// Length of the warmup before it, seconds.
    pub warmup_s: f64,
    /// Requests sent in the measured window.
    pub sent: u64,
    /// Outcomes that completed (ok or failed) in the measured window.
    pub completed: u64,
    /// Arrivals that never started because `max_in_flight` requests were running.
    pub dropped: u64,
    /// Most requests in flight at once (open model).
    pub max_in_flight: Option<u64>,
    /// Open model: p99 of how late the generator started requests, µs; a high value means
    /// the generator itself was the bottleneck.
    pub dispatch_lag_p99_us: Option<u64>,
}

/// Below this share of its target rate, an open-model run says "the generator could not
/// keep up" beside its result, on the terminal and in every report. A warning only: the
/// comparison's own floor, `policy.min_achieved_rate`, is what makes it INCONCLUSIVE.
pub const KEEP_UP_SHARE: f64 = 0.98;

impl LoadSummary {
    /// `the generator could not keep up: achieved 19827.0/s of 1000000.0/s (12 dropped)`
    /// when an open-model run achieved less than [`KEEP_UP_SHARE`] of its target rate
    /// (rates with one decimal); `None` otherwise, and for the closed model (no target).
    pub fn shortfall(&self) -> Option<String> {
        let target = self.target_rate.filter(|t| t.is_finite() && *t > 0.0)?;
        (self.achieved_rate < KEEP_UP_SHARE * target).then(|| {
            format!(
                "the generator could not keep up: achieved {:.1}/s of {target:.1}/s ({} dropped)",
                self.achieved_rate, self.dropped
            )
        })
    }
}

/// What one step measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Flow the step belongs to.
    pub flow: String,
    /// Step name.
    pub step: String,
    /// Latencies of successful outcomes, µs.
    #[serde(with = "super::codec")]
    pub ok: Histogram<u64>,
    /// Latencies of failed outcomes (dropped arrivals have none), µs.
    #[serde(with = "super::codec")]
    pub failed: Histogram<u64>,
    /// Outcomes per class; classes without outcomes are left out.
    pub classes: BTreeMap<OutcomeClass, u64>,
    /// Answers per HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Answers whose status was accepted but that failed a check or an extraction
    /// (`check_failed`), per check name (`/status equals "done"`, `extract id from /id`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub check_failures: BTreeMap<String, u64>,
    /// A session step (an MCP path's `initialize`): its count is the number of sessions
    /// opened, often below `min_samples` by design, so its rows are judged only when both
    /// sides have enough, and its few samples never make a comparison invalid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub session: bool,
    /// Per second of intended start since the end of warmup: `[outcomes, failures]`
    /// (dropped arrivals included); what the error rate outside fault windows counts.
    /// Empty in records made before it was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seconds: Vec<[u64; 2]>,
}

impl StepRecord {
    /// Builds the record of one step from its recorded statistics.
    pub fn from_stats(flow: impl Into<String>, step: impl Into<String>, stats: StepStats) -> Self {
        let StepStats {
            ok,
            failed,
            classes: class_counts,
            statuses: status_counts,
            seconds,
        } = stats;
        let classes = OutcomeClass::ALL
            .iter()
            .zip(class_counts)
            .filter(|(_, n)| *n > 0)
            .map(|(class, n)| (*class, n))
            .collect();
        let mut statuses = BTreeMap::new();
        for (status, n) in status_counts.entries {
            *statuses.entry(status).or_insert(0) += n;
        }
        Self {
            flow: flow.into(),
            step: step.into(),
            ok,
            failed,
            classes,
            statuses,
            check_failures: BTreeMap::new(),
            session: false,
            seconds,
        }
    }

    /// Every outcome, dropped arrivals included.
    pub fn count(&self) -> u64 {
        // Saturating: an edited file must not be able to overflow the sum.
        self.classes
            .values()
            .fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// Successful outcomes.
    pub fn ok_count(&self) -> u64 {
        self.class_count(OutcomeClass::Ok)
    }

    /// Outcomes that did not succeed, dropped arrivals included.
    pub fn failed_count(&self) -> u64 {
        self.count().saturating_sub(self.ok_count())
    }

    /// Arrivals dropped because too many requests were in flight.
    pub fn dropped_count(&self) -> u64 {
        self.class_count(OutcomeClass::Dropped)
    }

    /// Outcomes of `class`.
    pub fn class_count(&self, class: OutcomeClass) -> u64 {
        self.classes.get(&class).copied().unwrap_or(0)
    }

    /// Share of outcomes that did not succeed, in `0..=1` (0 without outcomes).
    ///
    /// Dropped arrivals count as failures: a service so slow that the generator had to
    /// drop arrivals must not look healthier for it.
    pub fn error_rate(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.failed_count() as f64 / n as f64,
        }
    }

    /// Latency at quantile `q` (`0..=1`, clamped) of the successful outcomes, µs; 0 without.
    ///
    /// Only successes count: failures are often fast (refused, short-circuited) or pinned at
    /// the timeout, and mixing them in would make a failing path look fast or slow for
    /// reasons the error-rate rule already judges.
    pub fn percentile_us(&self, q: f64) -> u64 {
        if self.ok.is_empty() {
            return 0;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        self.ok.value_at_quantile(q)
    }
}

/// The failed checks of a step, most failed first, as people read them:
/// "12 of 201 failed `/artifacts/0/name exists`" (`requests` = the step's requests).
pub fn check_summary(failures: &BTreeMap<String, u64>, requests: u64) -> Vec<String> {
    let mut sorted: Vec<(&String, &u64)> = failures.iter().filter(|(_, n)| **n > 0).collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    sorted
        .into_iter()
        .map(|(name, n)| format!("{n} of {requests} failed `{name}`"))
        .collect()
}

/// One run of one path of a scenario: the `harness-run/v1` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always [`RUN_SCHEMA`]; other values are refused on read.
    pub schema: String,
    /// Scenario measured.
    pub scenario: ScenarioRef,
    /// Path measured (`legacy`, `dagger`, ...).
    pub path: String,
    /// Repetition number, 1-based.
    pub repetition: u32,
    /// Seed every random choice derived from.
    pub seed: u64,
    /// Start time, RFC 3339 UTC to the second.
    pub started_at: String,
    /// Stable facts about the machine and the harness.
    pub environment: Environment,
    /// The load generated.
    pub load: LoadSummary,
    /// Per-step statistics, in the scenario's flattened step order.
    pub steps: Vec<StepRecord>,
    /// One point per second of the measured window.
    pub timeline: Vec<TimelinePoint>,
    /// False when the run was interrupted.
    pub complete: bool,
    /// Remarks for readers, e.g. "interrupted by Ctrl-C after 3.2 s".
    pub notes: Vec<String>,
    /// What a reader must not miss about how the run was made (a path that did not
    /// verify TLS certificates); every report format shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the path measured (`reference`, `command`, `dagger`, or the base URL as
    /// written with a digest of the resolved one); empty in records made before it was
    /// kept. A stored baseline of another target does not judge a run of this one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// Faults injected during the run: what, where, when and how often.
    #[serde(default)]
    pub faults: Vec<FaultRecord>,
    /// What the faults showed of the service's resilience, one entry per fault window.
    #[serde(default)]
    pub resilience: Vec<crate::resilience::Observation>,
    /// The Dagger engine's spans during the run (per-operation latency, cache hits), when
    /// the path asked for telemetry and the harness opened the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<crate::otlp::TelemetrySummary>,
    /// The service's own Prometheus metrics over the measured window, when the path
    /// names endpoints (`metrics` in the scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<crate::metrics::MetricsRecord>,
    /// The share of the plan this record holds, when the run was one segment of several
    /// (`harness run --segment I/N`); absent for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentRecord>,
    /// The segments this record was merged from (`harness merge`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<super::merge::MergedFrom>,
}

/// Which segment a record holds and how well it kept the common start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRecord {
    /// This segment, 0-based.
    pub index: u32,
    /// How many segments the plan was split into.
    pub count: u32,
    /// When this run was scheduled to start (`--start-at`, plus the runs before it in
    /// the plan), RFC 3339 UTC to the millisecond; absent without `--start-at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_start: Option<String>,
    /// How late it started, in milliseconds (0 when on time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_ms: Option<f64>,
    /// The requests, attempts and fault windows its resilience observations came from,
    /// for `harness merge` to recompute them over every segment (runs with faults only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<crate::resilience::Evidence>,
}

/// One fault of a run, as the report states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// The fault's label.
    pub name: String,
    /// Its kind (`http_error`, `latency`, `down`, ...).
    pub kind: Recorded<FaultKind>,
    /// Where the proxy sat: `client` or `dependency`.
    pub at: Recorded<FaultSite>,
    /// Chance per request (HTTP) or per connection (TCP) that an eligible one was hit.
    pub probability: f64,
    /// `request` or `connection`: what the probability applies to.
    pub per: Recorded<FaultUnit>,
    /// Active windows, seconds since the run started (warmup included): `[start, end)`.
    pub windows: Vec<(f64, f64)>,
    /// Requests (or connections) that reached this fault's proxy during the run.
    pub attempts: u64,
    /// Of them, hit by this fault.
    pub injected: u64,
}

/// A value of a closed set as a record states it: one this build knows, or a name that
/// another build wrote, kept as written so that such a record still reads, reports and
/// rewrites unchanged. Serialised as the plain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded<T> {
    /// A value this build knows.
    Known(T),
    /// A name this build does not know.
    Other(String),
}

/// A closed set whose values have a name in records.
pub trait RecordName: Copy + 'static {
    /// Every value.
    const VALUES: &'static [Self];

    /// The value's name in records.
    fn record_name(self) -> &'static str;
}

impl RecordName for FaultKind {
    const VALUES: &'static [Self] = &FaultKind::ALL;

    fn record_name(self) -> &'static str {
        self.as_str()
    }
}

impl RecordName for FaultSite {
    const VALUES: &'static [Self] = &[FaultSite::Client, FaultSite::Dependency];

    fn record_name(self) -> &'static str {
        match self {
            FaultSite::Client => "client",
            FaultSite::Dependency => "dependency",
        }
    }
}

impl RecordName for FaultUnit {
    const VALUES: &'static [Self] = &[FaultUnit::Request, FaultUnit::Connection];

    fn record_name(self) -> &'static str {
        self.as_str()
    }
}

impl<T: RecordName> Recorded<T> {
    /// The value named `name`, known or not.
    pub fn from_name(name: &str) -> Self {
        T::VALUES
            .iter()
            .find(|v| v.record_name() == name)
            .map_or_else(|| Self::Other(name.to_owned()), |v| Self::Known(*v))
    }

    /// The name as written in the record.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(value) => value.record_name(),
            Self::Other(name) => name,
        }
    }

    /// The value, when this build knows it.
    pub fn known(&self) -> Option<T> {
        match self {
            Self::Known(value) => Some(*value),
            Self::Other(_) => None,
        }
    }
}

impl<T: RecordName> From<T> for Recorded<T> {
    fn from(value: T) -> Self {
        Self::Known(value)
    }
}

impl<T: RecordName> From<&str> for Recorded<T> {
    fn from(name: &str) -> Self {
        Self::from_name(name)
    }
}

impl<T: RecordName> std::fmt::Display for Recorded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: RecordName> Serialize for Recorded<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de, T: RecordName> Deserialize<'de> for Recorded<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|name| Self::from_name(&name))
    }
}

/// Why a run record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No file at the path.
    #[error("run record {path} does not exist; check the path, or produce one with `harness run`")]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read run record {path}: {source}; check its permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error(
        "{path} is not JSON ({source}); a run record is the JSON file written by `harness run`"
    )]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// The file is JSON but not a `harness-run/v1` record.
    #[error("{path} has schema {found}, expected \"harness-run/v1\"; {hint}")]
    WrongSchema {
        /// The file.
        path: PathBuf,
        /// What the file says its schema is.
        found: String,
        /// How to fix it.
        hint: &'static str,
    },
    /// A histogram in the file cannot be decoded.
    #[error(
        "{path} holds a corrupt histogram ({detail}); the file was damaged or edited: run the scenario again"
    )]
    CorruptHistogram {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        detail: String,
    },
    /// The file claims `harness-run/v1` but its fields do not match it.
    #[error(
        "{path} is not a valid harness-run/v1 record: {detail}; the file was damaged or edited: run the scenario again"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The record could not be written.
    #[error("cannot write run record {path}: {source}; check that the directory is writable")]
    Write {
        /// The target file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl RecordError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            RecordError::NotFound { path }
            | RecordError::Read { path, .. }
            | RecordError::NotJson { path, .. }
            | RecordError::WrongSchema { path, .. }
            | RecordError::CorruptHistogram { path, .. }
            | RecordError::Invalid { path, .. }
            | RecordError::Write { path, .. } => path,
        }
    }
}

impl RunRecord {
    /// Builds the record of a finished recording. Steps beyond `meta.steps` are called
    /// `step-N` in flow `?`; named steps without outcomes get empty statistics.
    pub fn build(recording: Recording, meta: RunMeta) -> Self {
        let totals = recording.totals;
        let step_count = meta.steps.len().max(recording.steps.len());
        let mut stats = recording.steps.into_iter();
        let mut names = meta.steps.into_iter();
        let steps = (0..step_count)
            .map(|i| {
                let (flow, step) = names
                    .next()
                    .unwrap_or_else(|| ("?".to_owned(), format!("step-{i}")));
                StepRecord::from_stats(flow, step, stats.next().unwrap_or_default())
            })
            .collect();
        let plan = meta.load;
        let duration_s = plan.duration.as_secs_f64();
        let sent_rate = if duration_s > 0.0 {
            totals.sent as f64 / duration_s
        } else {
            0.0
        };
        let load = LoadSummary {
            model: plan.model,
            target_rate: plan.target_rate,
            achieved_rate: plan.achieved_rate.unwrap_or(sent_rate),
            users: plan.users,
            duration_s,
            warmup_s: plan.warmup.as_secs_f64(),
            sent: totals.sent,
            completed: totals.completed(),
            dropped: totals.dropped,
            max_in_flight: plan.max_in_flight,
            dispatch_lag_p99_us: plan.dispatch_lag_p99_us,
        };
        Self {
            schema: RUN_SCHEMA.to_owned(),
            scenario: meta.scenario,
            path: meta.path,
            repetition: meta.repetition,
            seed: meta.seed,
            started_at: humantime::format_rfc3339_seconds(meta.started_at).to_string(),
            environment: meta.environment,
            load,
            steps,
            timeline: recording.timeline,
            complete: meta.complete,
            notes: meta.notes,
            warnings: Vec::new(),
            target: String::new(),
            faults: Vec::new(),
            resilience: Vec::new(),
            telemetry: None,
            metrics: None,
            segment: None,
            merged: None,
        }
    }

    /// Outcomes that failed to connect, and all outcomes, over every step (a path whose
    /// every request failed to connect points at a service that is not running).
    pub fn connect_failures(&self) -> (u64, u64) {
        self.steps.iter().fold((0, 0), |(connect, total), s| {
            (
                connect + s.class_count(OutcomeClass::Connect),
                total + s.count(),
            )
        })
    }

    /// [`LoadSummary::shortfall`] naming the run: `legacy r2: the generator could not
    /// keep up: ...`.
    pub fn shortfall(&self) -> Option<String> {
        self.load
            .shortfall()
            .map(|s| format!("{} r{}: {s}", self.path, self.repetition))
    }

    /// The environment fingerprint (see [`Environment::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        self.environment.fingerprint()
    }

    /// The record as pretty JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec_pretty(self)
    }

    /// Parses a record from JSON; `origin` names the source in errors.
    pub fn from_json(bytes: &[u8], origin: &Path) -> Result<Self, RecordError> {
        let path = || origin.to_path_buf();
        check_schema(bytes, origin)?;
        let record: RunRecord = serde_json::from_slice(bytes).map_err(|e| {
            let detail = e.to_string();
            if detail.starts_with(CORRUPT_PREFIX) {
                RecordError::CorruptHistogram {
                    path: path(),
                    detail,
                }
            } else {
                RecordError::Invalid {
                    path: path(),
                    detail,
                }
            }
        })?;
        record
            .check_counts()
            .map_err(|detail| RecordError::Invalid {
                path: path(),
                detail,
            })?;
        Ok(record)
    }

    /// Reads and checks the record at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, RecordError> {
        let path = path.as_ref();
        let bytes =
            crate::input::read(path, crate::input::RESULT).map_err(|source| {
                match source.kind() {
                    std::io::ErrorKind::NotFound => RecordError::NotFound {
                        path: path.to_path_buf(),
                    },
                    _ => RecordError::Read {
                        path: path.to_path_buf(),
                        source,
                    },
                }
            })?;
        Self::from_json(&bytes, path)
    }

    /// Writes the record to `path` atomically (a temp file in the same directory, then a
    /// rename), creating the parent directory; readers never see a half-written record.
    pub fn write_atomic(&self, path: impl AsRef<Path>) -> Result<(), RecordError> {
        let path = path.as_ref();
        let write_err = |source| RecordError::Write {
            path: path.to_path_buf(),
            source,
        };
        let bytes = self
            .to_json()
            .map_err(|e| write_err(std::io::Error::other(e)))?;
        atomic_file::write(path, &bytes, Existing::Replace).map_err(write_err)?;
        Ok(())
    }

    /// Checks that histogram counts agree with class counts (catches edited files).
    fn check_counts(&self) -> Result<(), String> {
        for s in &self.steps {
            let completed_failures = s.failed_count().saturating_sub(s.dropped_count());
            if s.ok.len() != s.ok_count() || s.failed.len() != completed_failures {
                return Err(format!(
                    "step `{}/{}` has {} ok and {} failed latencies but its classes count {} ok and {} failed",
                    s.flow,
                    s.step,
                    s.ok.len(),
                    s.failed.len(),
                    s.ok_count(),
                    completed_failures
                ));
            }
        }
        Ok(())
    }
}

/// Refuses anything but a JSON object with `"schema": "harness-run/v1"`, before the full
/// parse, so the error says "wrong kind of file" rather than "missing field".
fn check_schema(bytes: &[u8], origin: &Path) -> Result<(), RecordError> {
    #[derive(Deserialize)]
    struct Head {
        schema: Option<serde_json::Value>,
    }
    let path = origin.to_path_buf();
    let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !is_object {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(source) => RecordError::NotJson { path, source },
                Ok(_) => RecordError::WrongSchema {
                    path,
                    found: "none (not a JSON object)".to_owned(),
                    hint: "a run record is the JSON file written by `harness run`",
                },
            },
        );
    }
    let head: Head = match serde_json::from_slice(bytes) {
        Ok(head) => head,
        Err(source) if source.is_data() => {
            return Err(RecordError::WrongSchema {
                path,
                found: "none (no schema string)".to_owned(),
                hint: "a run record is the JSON file written by `harness run`",
            });
        }
        Err(source) => return Err(RecordError::NotJson { path, source }),
    };
    let found = match head.schema {
        Some(serde_json::Value::String(s)) if s == RUN_SCHEMA => return Ok(()),
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => "none".to_owned(),
    };
    let hint = if found.starts_with("harness-baseline/") {
        "this is a baseline: pass it with --baseline"
    } else if found.starts_with("harness-run/") {
        "it was written by another harness version: read it with that version or run the scenario again"
    } else {
        "a run record is the JSON file written by `harness run`"
    };
    Err(RecordError::WrongSchema {
        path,
        found: format!("{found:?}"),
        hint,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::outcome::{Outcome, StepIndex};

    #[test]
    fn fault_names_read_as_known_values_and_unknown_ones_round_trip() {
        let json = r#"{"name":"x","kind":"latency","at":"client","probability":1.0,"per":"request","windows":[],"attempts":0,"injected":0}"#;
        let record: FaultRecord = serde_json::from_str(json).expect("reads");
        assert_eq!(record.kind, Recorded::Known(FaultKind::Latency));
        assert_eq!(record.at.known(), Some(FaultSite::Client));
        assert_eq!(record.per, Recorded::Known(FaultUnit::Request));
        assert_eq!(serde_json::to_string(&record).expect("writes"), json);
        let newer = json.replace("\"latency\"", "\"gremlin\"");
        let record: FaultRecord = serde_json::from_str(&newer).expect("reads");
        assert_eq!(record.kind, Recorded::Other("gremlin".into()));
        assert_eq!(record.kind.to_string(), "gremlin");
        assert_eq!(serde_json::to_string(&record).expect("writes"), newer);
    }
    use crate::record::meta::LoadPlan;
    use crate::record::recorder::Recorder;
    use std::time::{Duration, SystemTime};

    fn recording() -> Recording {
        let mut r = Recorder::new(2, Duration::from_secs(1));
        for i in 0..300u64 {
            let class = match i % 10 {
                0 => OutcomeClass::Http5xx,
                1 => OutcomeClass::Dropped,
                2 => OutcomeClass::Timeout,
                _ => OutcomeClass::Ok,
            };
            let intended = Duration::from_millis(1_000 + i * 10);
            r.record_sent(intended);
            r.record(&Outcome {
                step: (i % 2) as StepIndex,
                intended,
                latency: Duration::from_micros(300 + i * 11),
                class,
                status: match class {
                    OutcomeClass::Ok => Some(200),
                    OutcomeClass::Http5xx => Some(503),
                    _ => None,
                },
                request_id: i,
            });
        }
        r.finish()
    }

    fn meta() -> RunMeta {
        RunMeta {
            scenario: ScenarioRef {
                name: "demo".into(),
                hash: "ab".repeat(32),
                file: "scenarios/demo.toml".into(),
            },
            path: "legacy".into(),
            repetition: 1,
            seed: 42,
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            environment: Environment::detect(),
            load: LoadPlan {
                model: LoadModelKind::Open,
                target_rate: Some(100.0),
                achieved_rate: None,
                users: None,
                duration: Duration::from_secs(3),
                warmup: Duration::from_secs(1),
                max_in_flight: Some(64),
                dispatch_lag_p99_us: Some(120),
            },
            complete: true,
            notes: vec![],
            steps: vec![
                ("flow".into(), "execute".into()),
                ("flow".into(), "status".into()),
            ],
        }
    }

    /// `demo`/`legacy` r1, open model at 100/s for 3 s: 300 arrivals, 30 dropped.
    pub(crate) fn record() -> RunRecord {
        RunRecord::build(recording(), meta())
    }

    #[test]
    fn a_run_below_98_percent_of_its_target_says_the_generator_could_not_keep_up() {
        let mut r = record();
        // 100/s asked for, 100/s achieved: nothing to say.
        assert_eq!(r.shortfall(), None);
        r.load.achieved_rate = 98.0;
        assert_eq!(r.shortfall(), None, "98% exactly keeps up");
        r.load.target_rate = Some(1_000_000.0);
        r.load.achieved_rate = 19_827.04;
        r.load.dropped = 12;
        assert_eq!(
            r.shortfall().as_deref(),
            Some(
                "legacy r1: the generator could not keep up: achieved 19827.0/s of 1000000.0/s (12 dropped)"
            )
        );
        // The closed model has no target rate, so nothing to fall short of.
        r.load.target_rate = None;
        assert_eq!(r.shortfall(), None);
    }

    #[test]
    fn from_recording_fills_load_and_steps() {
        let r = record();
        assert_eq!(r.schema, RUN_SCHEMA);
        assert_eq!(r.started_at, "2023-11-14T22:13:20Z");
        assert_eq!(r.load.sent, 300);
        assert_eq!(r.load.dropped, 30);
        assert_eq!(r.load.completed, 270);
        assert!((r.load.achieved_rate - 100.0).abs() < 1e-9);
        assert_eq!(r.load.dispatch_lag_p99_us, Some(120));
        assert_eq!(r.steps.len(), 2);
        assert_eq!(r.steps[0].step, "execute");
        let total: u64 = r.steps.iter().map(StepRecord::count).sum();
        assert_eq!(total, 300);
        assert_eq!(r.connect_failures(), (0, 300));
        let s = &r.steps[0];
        assert_eq!(s.ok_count() + s.failed_count(), s.count());
        // Step 0 has every 5xx and timeout (2 in 5), step 1 every dropped arrival (1 in 5).
        assert!((s.error_rate() - 0.4).abs() < 1e-9, "{}", s.error_rate());
        assert!(
            (r.steps[1].error_rate() - 0.2).abs() < 1e-9,
            "{}",
            r.steps[1].error_rate()
        );
        assert!(
            !s.classes.contains_key(&OutcomeClass::Reset),
            "zero classes are left out"
        );
        assert!(s.percentile_us(0.5) > 0 && s.percentile_us(0.5) <= s.percentile_us(0.99));
        assert_eq!(s.percentile_us(f64::NAN), s.percentile_us(0.0));
    }

    #[test]
    fn missing_step_names_get_placeholders() {
        let mut one = meta();
        one.steps.truncate(1);
        let r = RunRecord::build(recording(), one);
        assert_eq!(
            (r.steps[1].flow.as_str(), r.steps[1].step.as_str()),
            ("?", "step-1")
        );
        let mut three = meta();
        three.steps.push(("flow".into(), "idle".into()));
        let r = RunRecord::build(recording(), three);
        assert_eq!(r.steps[2].count(), 0);
        assert_eq!(r.steps[2].percentile_us(0.99), 0);
        assert_eq!(r.steps[2].error_rate(), 0.0);
    }

    #[test]
    fn write_then_read_is_identity() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("runs/nested/legacy-1.json");
        let r = record();
        r.write_atomic(&path).expect("writes");
        assert_eq!(RunRecord::read(&path).expect("reads"), r);
        // Overwriting works and leaves no temp files behind.
        r.write_atomic(&path).expect("overwrites");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("lists")
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn fractional_seconds_survive_a_round_trip() {
        // serde_json parses floats inexactly unless `float_roundtrip` is on: 1.118 came back
        // as 1.1179999999999999, so a re-read record differed from the one written.
        let mut m = meta();
        m.load.warmup = Duration::from_millis(1_118);
        m.load.duration = Duration::from_millis(2_999);
        let r = RunRecord::build(recording(), m);
        let back = RunRecord::from_json(&r.to_json().expect("encodes"), Path::new("r.json"))
            .expect("decodes");
        assert_eq!(back.load, r.load);
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let err = RunRecord::read("/nonexistent/run.json").expect_err("must fail");
        assert!(matches!(err, RecordError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/run.json"));
    }

    #[test]
    fn a_wrong_schema_is_refused() {
        let mut value = serde_json::to_value(record()).expect("to value");
        value["schema"] = "harness-baseline/v1".into();
        let bytes = serde_json::to_vec(&value).expect("bytes");
        let err = RunRecord::from_json(&bytes, Path::new("b.json")).expect_err("must fail");
        assert!(matches!(err, RecordError::WrongSchema { .. }), "{err}");
        assert!(
            err.to_string().contains("b.json") && err.to_string().contains("--baseline"),
            "{err}"
        );
        value["schema"] = "harness-run/v2".into();
        let bytes = serde_json::to_vec(&value).expect("bytes");
        assert!(matches!(
            RunRecord::from_json(&bytes, Path::new("x")),
            Err(RecordError::WrongSchema { .. })
        ));
        for not_a_record in [
            &b"[1, 2]"[..],
            b"{\"steps\": []}",
            b"{\"schema\": 1}",
            b" 3 ",
        ] {
            let err = RunRecord::from_json(not_a_record, Path::new("x")).expect_err("must fail");
            assert!(matches!(err, RecordError::WrongSchema { .. }), "{err}");
        }
    }

    #[test]
    fn text_that_is_not_json_is_refused() {
        let err = RunRecord::from_json(b"{ nope", Path::new("r.json")).expect_err("must fail");
        assert!(matches!(err, RecordError::NotJson { .. }), "{err}");
    }

    #[test]
    fn a_corrupt_histogram_is_refused() {
        let mut value = serde_json::to_value(record()).expect("to value");
        value["steps"][0]["ok"] = "!!! not base64 !!!".into();
        let bytes = serde_json::to_vec(&value).expect("bytes");
        let err = RunRecord::from_json(&bytes, Path::new("r.json")).expect_err("must fail");
        assert!(matches!(err, RecordError::CorruptHistogram { .. }), "{err}");
        // Valid base64 of garbage too.
        value["steps"][0]["ok"] = "AAECAwQFBgcICQ==".into();
        let bytes = serde_json::to_vec(&value).expect("bytes");
        let err = RunRecord::from_json(&bytes, Path::new("r.json")).expect_err("must fail");
        assert!(matches!(err, RecordError::CorruptHistogram { .. }), "{err}");
    }

    #[test]
    fn counts_that_disagree_with_histograms_are_refused() {
        let mut value = serde_json::to_value(record()).expect("to value");
        value["steps"][0]["classes"]["ok"] = 1.into();
        let bytes = serde_json::to_vec(&value).expect("bytes");
        let err = RunRecord::from_json(&bytes, Path::new("r.json")).expect_err("must fail");
        assert!(matches!(err, RecordError::Invalid { .. }), "{err}");
    }
}
