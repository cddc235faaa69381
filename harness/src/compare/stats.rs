//! Pure statistics for judging a candidate path against a base path.
//!
//! Everything here is a pure function of its arguments: no I/O, no clock, no global
//! random number generator, and no panics. Degenerate input (empty slices, NaN, zeros,
//! counts beyond what a method can handle) gives `None` or a documented degenerate
//! result instead. Latencies are in microseconds.
//!
//! - [`ratio_from_repetitions`]: latency ratio from K repetitions per side
//!   (Hodges–Lehmann estimate with the exact Mann–Whitney interval on log quantiles).
//! - [`ratio_from_few_runs`]: latency ratio from fewer runs (a difference of mean log
//!   quantiles, its standard error from the run-to-run noise, Student's t);
//!   [`shift_from_few_runs`] the same for any per-run values.
//! - [`wilson`] and [`newcombe_difference`]: error rates and their difference.
//! - [`p_value_above`] and [`p_value_below`]: one-sided p-values by inverting any of the
//!   intervals above, so that [`holm`] can correct a family of tests.
//! - [`log_sd`]: between-run noise of a quantile.
//! - [`student_cdf`] and [`student_quantile`]: Student's t distribution.

mod few_runs;
mod holm;
mod inversion;
mod mann_whitney;
mod noise;
mod normal;
mod order_statistics;
mod proportion;
mod student;

use serde::{Deserialize, Serialize};

pub use few_runs::{LogShift, RunNoise, ratio_from_few_runs, shift_from_few_runs};
pub use holm::{holm, holm_adjusted};
pub use inversion::{ALPHA_PRECISION, p_value_above, p_value_below};
pub use mann_whitney::{
    EXACT_LIMIT, mann_whitney_p_above, mann_whitney_p_below, ratio_from_repetitions,
};
pub use noise::log_sd;
pub use normal::{normal_cdf, normal_quantile};
pub use proportion::{newcombe_difference, wilson};
pub use student::{student_cdf, student_quantile};

/// A point estimate with a two-sided confidence interval around it.
///
/// `confidence` is the level the method actually achieved. For the discrete methods
/// (the exact Mann–Whitney interval) it is the exact coverage of the chosen order
/// statistics, which is at least the requested level when the data can reach it and
/// below it when they cannot; see [`Interval::reaches`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The point estimate.
    pub estimate: f64,
    /// The lower bound.
    pub low: f64,
    /// The upper bound.
    pub high: f64,
    /// The confidence level achieved, in `[0, 1]`.
    pub confidence: f64,
}

impl Interval {
    /// Whether the interval achieved at least `requested` confidence.
    ///
    /// A tolerance of 1e-12 absorbs rounding in `1 - 2·α/2`; it is far below any level
    /// a caller would ask for.
    pub fn reaches(&self, requested: f64) -> bool {
        self.confidence + 1e-12 >= requested
    }

    /// Whether `value` lies within the closed interval `[low, high]`.
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

/// Whether `confidence` is a usable two-sided level: strictly between 0 and 1.
fn valid_confidence(confidence: f64) -> bool {
    confidence > 0.0 && confidence < 1.0
}
