//! The phase gate: `harness gate --phase N` judges every scenario of a migration phase
//! against its stored baseline (or reads saved results), turns the verdicts into one
//! phase decision, writes a rollback signal for CI, and runs the plan's hook on ROLLBACK.
//!
//! - [`plan`]: the phase plan file (`ci/phases.toml`), parsed and validated.
//! - [`aggregate`]: pure decisions: scenario verdicts → phase verdict; critical rollbacks.
//! - [`signal`]: `signal.json`, what a CI job acts on.
//! - [`hook`]: the rollback hook, run only on ROLLBACK.
//! - [`saved`]: verdicts read from saved `result.json` files (`--from DIR`).
//! - [`run`]: the orchestration, with how a scenario is judged behind a trait.
//! - [`report`]: the gate's table, `summary.md` and `junit.xml`.

pub mod aggregate;
pub mod hook;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod run;
pub mod saved;
pub mod signal;

pub use aggregate::{Cause, PhaseDecision, aggregate, critical_rollback, rows_behind};
pub use hook::{HookMode, HookReport};
pub use outcome::{Attempt, ScenarioOutcome};
pub use plan::{CriticalThresholds, Phase, Plan, PlanError};
pub use run::{GATE_SCHEMA, GateResult, GateRun, Judge, Judgement, run_gate};
pub use saved::SavedResults;
pub use signal::{SIGNAL_SCHEMA, Signal, SignalReason, build_signal};
