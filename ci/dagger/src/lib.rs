//! The harness phase gate as a Dagger pipeline.
//!
//! `dagger-gate --phase N` builds the harness inside a `rust:1-bookworm` container on a
//! Dagger engine, runs `harness gate --phase N --plan <plan> --quiet` there, exports the
//! container's `reports/` to the host and exits with the gate's own exit code (see
//! [`exit`]). The crate separates *what to run* ([`pipeline::PipelineSpec`], pure and
//! unit-tested) from *running it through the SDK* ([`runner`]), and never lets the SDK
//! download a Dagger CLI: [`engine::discover`] decides up front whether an engine is
//! reachable and the binary exits 69 when none is.

pub mod cli;
/// Engine discovery is the harness's own (one implementation for both binaries).
pub use harness::kinds::dagger::engine;
pub mod error;
pub mod exit;
pub mod logger;
pub mod pipeline;
pub mod plan;
pub mod probe;
pub mod runner;

pub use error::GateError;
pub use runner::{GateRun, run};
