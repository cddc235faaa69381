//! `signal.json` (schema `harness-signal/v1`): what a CI job or a rollback hook needs to
//! act on a phase decision, and nothing else: the decision, one reason per scenario that
//! is not GO, the feature flags to switch back and the plan's rollback action.
//!
//! `action` says what to do: `advance` (GO), `hold` (NO-GO or INCONCLUSIVE: stay in the
//! phase, fix or re-measure, switch nothing) or `rollback`. The flags to switch back are
//! listed only on ROLLBACK, from each ROLLBACK scenario's `component` through the plan's
//! `[flags]` (with the phase's overrides), deduplicated in scenario order; otherwise the
//! list is empty, so a consumer that switches every listed flag off never acts on a
//! pass, a hold or a measurement it could not make.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::aggregate::PhaseDecision;
use super::outcome::ScenarioOutcome;
use super::plan::Phase;
use crate::compare::Verdict;

/// Schema name of `signal.json`.
pub const SIGNAL_SCHEMA: &str = "harness-signal/v1";

/// One scenario that is not GO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReason {
    /// Scenario name.
    pub scenario: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// The component it exercises, when the scenario names one.
    pub component: Option<String>,
    /// The flag of that component, when the plan maps it.
    pub flag: Option<String>,
}

/// What a phase decision asks of the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalAction {
    /// GO: the phase may advance.
    Advance,
    /// NO-GO or INCONCLUSIVE: stay where you are; the reasons say what to fix or re-measure.
    Hold,
    /// ROLLBACK: switch the listed flags back and follow the rollback action.
    Rollback,
}

impl SignalAction {
    /// The action a phase verdict asks for.
    pub fn of(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Go => SignalAction::Advance,
            Verdict::Rollback => SignalAction::Rollback,
            Verdict::NoGo | Verdict::Inconclusive => SignalAction::Hold,
        }
    }
}

/// The rollback signal of a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Always [`SIGNAL_SCHEMA`].
    pub schema: String,
    /// The phase number.
    pub phase: u8,
    /// The phase name.
    pub phase_name: String,
    /// The phase decision.
    pub decision: Verdict,
    /// What it asks for: `advance`, `hold` or `rollback`.
    pub action: SignalAction,
    /// One line saying why.
    pub reason: String,
    /// One per scenario that is not GO.
    pub reasons: Vec<SignalReason>,
    /// Feature flags to switch back, deduplicated; empty unless the action is `rollback`.
    pub flags: Vec<String>,
    /// What the plan says to do on ROLLBACK.
    pub rollback_action: String,
    /// RFC 3339 UTC time the signal was made.
    pub generated_at: String,
    /// Version of the harness that made it.
    pub harness_version: String,
}

/// The signal of `decision` for `phase`; `flags` is the component → flag map in force.
/// Pure: the time is given.
pub fn build_signal(
    phase: &Phase,
    flags: &BTreeMap<String, String>,
    decision: &PhaseDecision,
    outcomes: &[ScenarioOutcome],
    generated_at: String,
) -> Signal {
    let reasons: Vec<SignalReason> = outcomes
        .iter()
        .filter(|o| o.verdict != Verdict::Go)
        .map(|o| SignalReason {
            scenario: o.scenario.clone(),
            verdict: o.verdict,
            reason: o.reason.clone(),
            component: o.component.clone(),
            flag: o.component.as_ref().and_then(|c| flags.get(c)).cloned(),
        })
        .collect();
    let action = SignalAction::of(decision.verdict);
    let mut switch_back: Vec<String> = Vec::new();
    if action == SignalAction::Rollback {
        let rolled_back = reasons.iter().filter(|r| r.verdict == Verdict::Rollback);
        for flag in rolled_back.filter_map(|r| r.flag.as_ref()) {
            if !switch_back.contains(flag) {
                switch_back.push(flag.clone());
            }
        }
    }
    Signal {
        schema: SIGNAL_SCHEMA.to_string(),
        phase: phase.number,
        phase_name: phase.name.clone(),
        decision: decision.verdict,
        action,
        reason: decision.reason.clone(),
        reasons,
        flags: switch_back,
        rollback_action: phase.rollback_action.clone(),
        generated_at,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::aggregate::aggregate;
    use crate::gate::aggregate::tests::outcome;

    fn phase() -> Phase {
        Phase {
            number: 2,
            name: "Core functionality".into(),
            scenarios: Vec::new(),
            go_ratio: Some(1.1),
            rollback_action: "Switch back to the previous orchestration engine".into(),
            hook: None,
            flags: BTreeMap::new(),
        }
    }

    fn flags() -> BTreeMap<String, String> {
        [
            ("workflow_engine", "USE_DAGGER_WORKFLOW_ENGINE"),
            ("task_manager", "USE_DAGGER_TASK_MANAGER"),
            ("mcp_server", "USE_DAGGER_MCP_SERVER"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn with_component(name: &str, verdict: Verdict, component: Option<&str>) -> ScenarioOutcome {
        let mut o = outcome(name, verdict);
        o.component = component.map(str::to_string);
        o
    }

    fn signal_of(outcomes: &[ScenarioOutcome], flags: &BTreeMap<String, String>) -> Signal {
        build_signal(
            &phase(),
            flags,
            &aggregate(outcomes),
            outcomes,
            "2025-01-01T00:00:00Z".into(),
        )
    }

    #[test]
    fn go_has_no_flags_and_no_reasons() {
        let s = signal_of(
            &[outcome("a", Verdict::Go), outcome("b", Verdict::Go)],
            &flags(),
        );
        assert_eq!(s.schema, "harness-signal/v1");
        assert_eq!(s.decision, Verdict::Go);
        assert_eq!(s.action, SignalAction::Advance);
        assert!(s.flags.is_empty());
        assert!(s.reasons.is_empty());
        assert_eq!(s.phase, 2);
        assert!(s.rollback_action.contains("previous orchestration engine"));
    }

    #[test]
    fn flags_come_from_the_components_of_rollback_scenarios_deduplicated() {
        let outcomes = [
            with_component("a", Verdict::Rollback, Some("workflow_engine")),
            with_component("b", Verdict::NoGo, Some("task_manager")),
            with_component("c", Verdict::Rollback, Some("workflow_engine")),
            with_component("d", Verdict::Go, Some("mcp_server")),
            with_component("e", Verdict::NoGo, None),
        ];
        let s = signal_of(&outcomes, &flags());
        assert_eq!(s.decision, Verdict::Rollback);
        assert_eq!(s.action, SignalAction::Rollback);
        assert_eq!(
            s.flags,
            vec!["USE_DAGGER_WORKFLOW_ENGINE"],
            "a NO-GO scenario's component is held, not switched back"
        );
        let named: Vec<&str> = s.reasons.iter().map(|r| r.scenario.as_str()).collect();
        assert_eq!(
            named,
            vec!["a", "b", "c", "e"],
            "one reason per non-GO scenario"
        );
        assert_eq!(s.reasons[3].flag, None);
        assert_eq!(
            s.reasons[0].flag.as_deref(),
            Some("USE_DAGGER_WORKFLOW_ENGINE")
        );
    }

    #[test]
    fn a_phase_override_replaces_the_plan_wide_flag() {
        use crate::gate::plan::Plan;
        let mut p = phase();
        p.flags
            .insert("workflow_engine".into(), "USE_DAGGER_ORCHESTRATION".into());
        let plan = Plan {
            file: "ci/phases.toml".into(),
            baselines: "baselines".into(),
            confirm_rollback: 1,
            critical: Default::default(),
            hook_timeout: crate::gate::plan::DEFAULT_HOOK_TIMEOUT,
            flags: flags(),
            phases: vec![p.clone()],
        };
        let outcomes = [with_component(
            "a",
            Verdict::Rollback,
            Some("workflow_engine"),
        )];
        let s = build_signal(
            &p,
            &plan.flags_for(&p),
            &aggregate(&outcomes),
            &outcomes,
            String::new(),
        );
        assert_eq!(s.flags, vec!["USE_DAGGER_ORCHESTRATION"]);
    }

    #[test]
    fn inconclusive_and_no_go_hold_and_switch_nothing_back() {
        for verdict in [Verdict::Inconclusive, Verdict::NoGo] {
            let s = signal_of(
                &[
                    outcome("a", Verdict::Go),
                    with_component("b", verdict, Some("mcp_server")),
                ],
                &flags(),
            );
            assert_eq!(s.decision, verdict);
            assert_eq!(s.action, SignalAction::Hold);
            assert!(s.flags.is_empty(), "{verdict:?}: {:?}", s.flags);
            assert_eq!(s.reasons.len(), 1, "the reason is kept");
            assert_eq!(s.reasons[0].flag.as_deref(), Some("USE_DAGGER_MCP_SERVER"));
        }
    }
}
