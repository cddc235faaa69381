//! The baseline store: `harness-baseline/v1` files under `baselines/<scenario>/<path>.json`.
//!
//! A [`Baseline`] keeps the raw run records of one (scenario, path) — compare needs their
//! per-repetition quantiles and histograms — together with their merged summary, the
//! between-run noise model, the policy version, provenance and a content hash. Files are
//! written atomically, never overwritten without `force`, and refused on load when their
//! content hash does not match, so a hand edit or a truncated copy can never pass for a
//! baseline.

mod build;
mod error;
mod hash;
mod noise;
mod store;
mod summary;

pub use build::{Baseline, Provenance};
pub use error::BaselineError;
pub use noise::{NOISE_QUANTILES, NoiseModel, NoiseSource, QuantileNoise, StepNoise};
pub use store::{BaselineEntry, EntryFacts, EntryStatus, baseline_file, list};
pub use summary::StepSummary;

/// The schema name every baseline carries.
pub const BASELINE_SCHEMA: &str = "harness-baseline/v1";
