//! The gate's result, `gate.json` (`harness-gate/v1`): the phase decision with every
//! scenario's outcome, the flags, the action and what happened to the hook.

use serde::{Deserialize, Serialize};

use super::aggregate::Cause;
use super::hook::HookReport;
use super::outcome::ScenarioOutcome;
use super::plan::CriticalThresholds;
use crate::compare::Verdict;

/// Schema name of `gate.json`.
pub const GATE_SCHEMA: &str = "harness-gate/v1";

/// The gate's result: `gate.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// Always [`GATE_SCHEMA`].
    pub schema: String,
    /// RFC 3339 UTC time the gate decided.
    pub generated_at: String,
    /// Version of the harness.
    pub harness_version: String,
    /// The command as typed.
    pub command: String,
    /// The plan file.
    pub plan: String,
    /// The gate's report folder (scenario report paths start with it).
    pub folder: String,
    /// The phase number.
    pub phase: u8,
    /// The phase name.
    pub phase_name: String,
    /// Where the verdicts came from: `live` or `saved results in DIR`.
    pub source: String,
    /// The go ratio the phase imposed on every scenario (`None`: each scenario's own).
    pub go_ratio: Option<f64>,
    /// Re-runs needed to confirm a non-critical ROLLBACK.
    pub confirm_rollback: u32,
    /// What made a ROLLBACK critical.
    pub critical: CriticalThresholds,
    /// The phase decision.
    pub decision: Verdict,
    /// One line saying why.
    pub reason: String,
    /// The scenarios that decided it.
    pub causes: Vec<Cause>,
    /// Every scenario's outcome, in plan order.
    pub scenarios: Vec<ScenarioOutcome>,
    /// Feature flags to switch back (as in `signal.json`).
    pub flags: Vec<String>,
    /// The plan's rollback action for this phase.
    pub rollback_action: String,
    /// The signal file.
    pub signal: String,
    /// What happened to the hook; `None` when the phase has none.
    pub hook: Option<HookReport>,
    /// Whether `--dry-run` was given (the hook was not run).
    pub dry_run: bool,
}
