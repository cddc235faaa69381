//! Run-to-run noise known about a side before the comparison: from a stored baseline's
//! repetitions or its A/A calibration. Rows with fewer than five runs a side use it when
//! it is better evidence than their own runs (see [`super::rows`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::baseline::{NoiseModel, NoiseSource};

/// Where the run-to-run noise behind a few-runs interval came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseFrom {
    /// The compared runs themselves, pooled over both sides.
    Runs,
    /// The stored baseline's own repetitions.
    Baseline,
    /// A/A calibration runs stored in the baseline (`harness calibrate`).
    Calibration,
    /// No measurement: the policy's stated conservative value (`assumed_run_noise`).
    #[default]
    Assumed,
}

impl NoiseFrom {
    /// One word for tables: `runs`, `baseline`, `calibration`, `assumed`.
    pub fn short(self) -> &'static str {
        match self {
            NoiseFrom::Runs => "runs",
            NoiseFrom::Baseline => "baseline",
            NoiseFrom::Calibration => "calibration",
            NoiseFrom::Assumed => "assumed",
        }
    }
}

/// The measured noise of one step at one quantile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisePoint {
    /// The quantile it was measured at.
    pub q: f64,
    /// Standard deviation of ln(quantile) between runs.
    pub log_sd: f64,
    /// Runs it was measured on (degrees of freedom + 1).
    pub runs: u32,
    /// Where it comes from.
    pub from: NoiseFrom,
}

/// Between-run noise of a side, per step and quantile (sd of ln quantile).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Noise {
    by_step: BTreeMap<String, Vec<NoisePoint>>,
}

impl Noise {
    /// Adds the noise of `step` (`flow/step`).
    pub fn insert(&mut self, step: &str, point: NoisePoint) {
        self.by_step
            .entry(step.to_string())
            .or_default()
            .push(point);
    }

    /// The noise of `step` at the quantile nearest `q`, when known.
    pub fn get(&self, step: &str, q: f64) -> Option<NoisePoint> {
        self.by_step
            .get(step)?
            .iter()
            .min_by(|a, b| (a.q - q).abs().total_cmp(&(b.q - q).abs()))
            .copied()
    }

    /// The noise a baseline stores: from its repetitions, or from A/A calibration.
    pub fn from_model(model: &NoiseModel) -> Self {
        let mut noise = Noise::default();
        for step in &model.steps {
            let from = match step.source {
                NoiseSource::Repetitions => NoiseFrom::Baseline,
                NoiseSource::Calibration => NoiseFrom::Calibration,
            };
            for q in &step.quantiles {
                if let Some(log_sd) = q.log_sd.filter(|sd| sd.is_finite() && *sd >= 0.0) {
                    noise.insert(
                        &format!("{}/{}", step.flow, step.step),
                        NoisePoint {
                            q: q.q,
                            log_sd,
                            runs: step.runs,
                            from,
                        },
                    );
                }
            }
        }
        noise
    }
}
