//! Comparing a candidate with a base: pure statistics, rows, validity, verdicts.
//!
//! Everything here computes; nothing prints or reads files. `compare` takes two sides
//! and a policy and returns a [`Comparison`]; reporters render it.

pub mod calibration;
pub mod comparison;
pub mod drift;
pub mod expectations;
pub mod explain;
pub mod metrics;
pub mod noise;
pub mod parity;
pub use parity::StepNoise;
pub mod row;
pub mod rows;
pub mod stats;
pub mod synthetic;
pub mod validity;
pub mod verdict;

pub use calibration::{Calibration, FalseRates, calibrate};
pub use comparison::{COMPARISON_SCHEMA, Comparison, PathObservations, Side, SideSummary, compare};
pub use drift::{check_drift, drift_summary};
pub use expectations::{ExpectationRow, judge_expectations};
pub use explain::{OperationChange, SpanExplanation};
pub use metrics::{DecisionMetric, METRICS, Metric, Unit};
pub use noise::{Noise, NoiseFrom, NoisePoint};
pub use parity::{ParityResult, ParityRow, judge_parity};
pub use row::{Method, Row};
pub use rows::MIN_REPETITIONS;
pub use validity::{Invalidity, InvalidityCheck, same_run};
pub use verdict::Verdict;
