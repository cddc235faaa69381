//! The phase gate's domain: `harness gate --phase N` judges every scenario of a migration
//! phase against its stored baseline (or reads saved results), turns the verdicts into
//! one phase decision, writes a rollback signal for CI, and runs the plan's hook on
//! ROLLBACK. The orchestration is [`crate::pipeline::gate`]; the rendering is
//! [`crate::report::gate`].
//!
//! - [`plan`]: the phase plan file (`ci/phases.toml`), parsed and validated.
//! - [`aggregate`]: pure decisions: scenario verdicts → phase verdict; critical rollbacks.
//! - [`signal`]: `signal.json`, what a CI job acts on.
//! - [`hook`]: the rollback hook, run only on ROLLBACK.
//! - [`outcome`]: one scenario's outcome in the gate.
//! - [`result`]: `gate.json`, the gate's result.

pub mod aggregate;
pub mod hook;
pub mod outcome;
pub mod plan;
pub mod result;
pub mod signal;

pub use aggregate::{Cause, PhaseDecision, aggregate, critical_rollback, rows_behind};
pub use hook::{HookMode, HookReport};
pub use outcome::{Attempt, ScenarioOutcome};
pub use plan::{CriticalThresholds, Phase, Plan, PlanError};
pub use result::{GATE_SCHEMA, GateResult};
pub use signal::{SIGNAL_SCHEMA, Signal, SignalAction, SignalReason, build_signal};
