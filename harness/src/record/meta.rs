//! What a run record says about a run besides its measurements: which scenario and path,
//! when, where, and what load the driver generated. [`RunMeta::new`] gathers it from the
//! validated scenario and the driver's report.
//!
//! The run record ([`super::run`]) is built on top of this; nothing here imports it.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::env::Environment;
use crate::outcome::DriverReport;
use crate::scenario::{LoadModel, Scenario};

/// Which scenario a run measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRef {
    /// Scenario name.
    pub name: String,
    /// SHA-256 of the canonical scenario; runs compare only when it agrees.
    pub hash: String,
    /// Scenario file the run was started from.
    pub file: String,
}

/// Workload model of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModelKind {
    /// Arrivals at a rate (open model).
    Open,
    /// Users looping over flows (closed model).
    Closed,
}

/// What the driver knows about the load it generated; the recording supplies the counts.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    /// Open or closed model.
    pub model: LoadModelKind,
    /// Arrivals per second asked for (open model).
    pub target_rate: Option<f64>,
    /// Achieved rate in the unit of `target_rate`, as the driver measured it; when absent
    /// the record uses requests sent per second of the measured window.
    pub achieved_rate: Option<f64>,
    /// Concurrent users (closed model).
    pub users: Option<u32>,
    /// Length of the measured window (warmup excluded; shorter when interrupted).
    pub duration: Duration,
    /// Length of the warmup.
    pub warmup: Duration,
    /// Most requests in flight at once (open model).
    pub max_in_flight: Option<u64>,
    /// p99 of how late the generator started requests, µs (open model).
    pub dispatch_lag_p99_us: Option<u64>,
}

/// Everything about a run that does not come from the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMeta {
    /// Scenario measured.
    pub scenario: ScenarioRef,
    /// Path measured (`legacy`, `dagger`, ...).
    pub path: String,
    /// Repetition number, 1-based.
    pub repetition: u32,
    /// Seed every random choice derived from.
    pub seed: u64,
    /// When the run started.
    pub started_at: SystemTime,
    /// Where it ran.
    pub environment: Environment,
    /// The load generated.
    pub load: LoadPlan,
    /// (flow, step) names in step-index order.
    pub steps: Vec<(String, String)>,
    /// False when the run was interrupted.
    pub complete: bool,
    /// Remarks for readers (e.g. how the run was interrupted).
    pub notes: Vec<String>,
}

impl RunMeta {
    /// Gathers the metadata of one drive of `path` from the scenario and the driver's report
    /// (detects the environment; the run is complete unless the report says interrupted).
    pub fn new(
        scenario: &Scenario,
        path: &str,
        repetition: u32,
        seed: u64,
        started_at: SystemTime,
        report: &DriverReport,
        notes: Vec<String>,
    ) -> Self {
        let load = &scenario.load;
        let (model, users, max_in_flight) = match &load.model {
            LoadModel::Open { .. } => (LoadModelKind::Open, None, Some(load.max_in_flight as u64)),
            LoadModel::Closed { users, .. } => (LoadModelKind::Closed, Some(*users), None),
        };
        // An interrupted run measured only what elapsed after warmup.
        let measured = report
            .elapsed
            .saturating_sub(load.warmup)
            .min(load.duration);
        Self {
            scenario: ScenarioRef {
                name: scenario.name.clone(),
                hash: scenario.hash.clone(),
                file: scenario.source.display().to_string(),
            },
            path: path.to_owned(),
            repetition,
            seed,
            started_at,
            environment: Environment::detect(),
            load: LoadPlan {
                model,
                target_rate: report.target_rate,
                achieved_rate: Some(report.achieved_rate),
                users,
                duration: if report.interrupted {
                    measured
                } else {
                    load.duration
                },
                warmup: load.warmup,
                max_in_flight,
                dispatch_lag_p99_us: report.dispatch_lag_p99_us,
            },
            steps: scenario
                .steps()
                .map(|(flow, step)| (flow.name.clone(), step.name.clone()))
                .collect(),
            complete: !report.interrupted,
            notes,
        }
    }
}
