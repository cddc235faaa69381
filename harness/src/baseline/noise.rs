//! The between-run noise model of a baseline: per step and quantile, how much ln(quantile)
//! varies from one run to the next.
//!
//! Noise is measured on the log scale because latency decisions are ratios: a standard
//! deviation `s` of ln(Q) means a run's quantile typically lies within a factor `e^s` of
//! another's. It comes from the baseline's own repetitions, or from dedicated A/A runs
//! (`harness calibrate`), which replace it and are marked `calibration`.

use serde::{Deserialize, Serialize};

use crate::record::RunRecord;

/// The quantiles whose noise is modelled.
pub const NOISE_QUANTILES: [f64; 3] = [0.50, 0.95, 0.99];

/// Where a noise model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseSource {
    /// The baseline's own repetitions.
    Repetitions,
    /// A/A calibration runs of the same path.
    Calibration,
}

/// The noise of one quantile of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileNoise {
    /// The quantile, `0..=1`.
    pub q: f64,
    /// Mean over runs of ln(quantile in µs): the centre of the noise band.
    pub log_mean: Option<f64>,
    /// Sample standard deviation (n − 1) over runs of ln(quantile in µs); `None` with fewer
    /// than two runs that have successful outcomes.
    pub log_sd: Option<f64>,
}

/// The noise of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepNoise {
    /// Flow the step belongs to.
    pub flow: String,
    /// Step name.
    pub step: String,
    /// Runs that had successful outcomes in this step (the others have no quantile).
    pub runs: u32,
    /// Where the numbers come from.
    pub source: NoiseSource,
    /// One entry per quantile of [`NOISE_QUANTILES`].
    pub quantiles: Vec<QuantileNoise>,
}

impl StepNoise {
    /// The log-scale standard deviation at quantile `q`, when modelled and measurable.
    pub fn log_sd(&self, q: f64) -> Option<f64> {
        self.quantiles
            .iter()
            .find(|n| (n.q - q).abs() < 1e-9)
            .and_then(|n| n.log_sd)
    }
}

/// The between-run noise of every step of a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseModel {
    /// One entry per step, in step order.
    pub steps: Vec<StepNoise>,
    /// False-decision rates measured by A/A calibration, filled by `harness calibrate`.
    #[serde(default)]
    pub calibration: Option<serde_json::Value>,
}

impl NoiseModel {
    /// Measures the noise of `runs`, which must share one step layout (checked by the
    /// caller).
    pub fn from_runs(runs: &[RunRecord], source: NoiseSource) -> Self {
        let Some(first) = runs.first() else {
            return Self {
                steps: Vec::new(),
                calibration: None,
            };
        };
        let steps = first
            .steps
            .iter()
            .enumerate()
            .map(|(i, named)| {
                let steps: Vec<_> = runs.iter().filter_map(|r| r.steps.get(i)).collect();
                // A run without successes has no quantile: ln(0) would poison the model.
                let measured: Vec<_> = steps.iter().filter(|s| !s.ok.is_empty()).collect();
                let quantiles = NOISE_QUANTILES
                    .iter()
                    .map(|&q| {
                        let logs: Vec<f64> = measured
                            .iter()
                            .map(|s| (s.percentile_us(q).max(1) as f64).ln())
                            .collect();
                        let (log_mean, log_sd) = mean_and_sd(&logs);
                        QuantileNoise {
                            q,
                            log_mean,
                            log_sd,
                        }
                    })
                    .collect();
                StepNoise {
                    flow: named.flow.clone(),
                    step: named.step.clone(),
                    runs: u32::try_from(measured.len()).unwrap_or(u32::MAX),
                    source,
                    quantiles,
                }
            })
            .collect();
        Self {
            steps,
            calibration: None,
        }
    }
}

/// Mean and sample standard deviation (n − 1); the sd needs two values, the mean one.
fn mean_and_sd(values: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = values.len();
    if n == 0 {
        return (None, None);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (Some(mean), None);
    }
    let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (Some(mean), Some((squares / (n - 1) as f64).sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sd_of_small_samples() {
        assert_eq!(mean_and_sd(&[]), (None, None));
        assert_eq!(mean_and_sd(&[2.0]), (Some(2.0), None));
        let (mean, sd) = mean_and_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(mean, Some(2.5));
        // Sum of squares 5, n - 1 = 3.
        assert!((sd.expect("sd") - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_and_sd(&[7.0, 7.0, 7.0]), (Some(7.0), Some(0.0)));
    }
}
