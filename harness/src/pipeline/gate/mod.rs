//! The gate's orchestration: judge every scenario of a phase (confirming a non-critical
//! ROLLBACK by re-running it), aggregate, write `signal.json`, run the hook on ROLLBACK
//! and write the gate's report files.
//!
//! When the stop signal fires, the scenario running ends with what it measured (its
//! compare INCONCLUSIVE), the scenarios not started are INCONCLUSIVE "not run", no
//! confirming re-run starts (an unconfirmed ROLLBACK does not stand), the decision is
//! never GO, the hook does not run, and the gate's files are written with what exists.
//!
//! How one scenario is judged is behind the [`Judge`] trait: [`LiveJudge`] runs the
//! compare pipeline against the stored baseline, [`SavedResults`] reads saved results;
//! the confirmation rules are tested here with scripted verdicts.
//!
//! - [`live`]: the phase's scenarios loaded and checked before anything runs, and the
//!   live judge.
//! - [`saved`]: verdicts read from saved `result.json` files (`--from DIR`).

pub mod live;
pub mod saved;

pub use live::{LiveJudge, load_scenarios};
pub use saved::SavedResults;

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::PipelineError;
use crate::atomic_file::{self, Existing};
use crate::compare::{Comparison, Verdict};
use crate::gate::PhaseDecision;
use crate::gate::aggregate::{aggregate, critical_rollback, rows_behind};
use crate::gate::hook::{Hook, HookMode, run_hook};
use crate::gate::outcome::{Attempt, ScenarioOutcome};
use crate::gate::plan::{CriticalThresholds, Phase, Plan};
use crate::gate::signal::{Signal, build_signal};
use crate::gate::{GATE_SCHEMA, GateResult, HookReport};
use crate::load::StopSignal;
use crate::report::{GATE_FILES, ReportManager, gate_reporter};
use crate::scenario::Scenario;

/// One compare of one scenario, as a [`Judge`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// The comparison behind it, when a compare was made or read.
    pub comparison: Option<Comparison>,
    /// Its report folder.
    pub report: Option<PathBuf>,
}

impl Judgement {
    /// A verdict reached without a compare (no baseline, no saved result).
    pub fn without_compare(verdict: Verdict, reason: impl Into<String>) -> Self {
        Self {
            verdict,
            reason: reason.into(),
            comparison: None,
            report: None,
        }
    }

    /// The verdict of `comparison`, reported in `report`.
    pub fn of(comparison: Comparison, report: Option<PathBuf>) -> Self {
        Self {
            verdict: comparison.verdict,
            reason: comparison.reason.clone(),
            comparison: Some(comparison),
            report,
        }
    }

    fn attempt(&self) -> Attempt {
        Attempt {
            verdict: self.verdict,
            reason: self.reason.clone(),
            report: self.report.as_ref().map(|p| p.display().to_string()),
        }
    }
}

/// Decides one scenario once.
pub trait Judge {
    /// Decides `scenario`; `attempt` is 0 for the first compare and 1.. for the re-runs
    /// that confirm a ROLLBACK. A runtime error makes the scenario INCONCLUSIVE; any
    /// other error ends the gate.
    fn judge(
        &mut self,
        scenario: &Scenario,
        attempt: u32,
    ) -> impl Future<Output = Result<Judgement, PipelineError>>;

    /// Whether a re-run can confirm a ROLLBACK (a saved result cannot be re-run).
    fn can_rerun(&self) -> bool;
}

/// The reason of a scenario the gate did not start because it was interrupted.
pub const NOT_RUN: &str = "not run: the gate was interrupted";

/// Judges `scenario`, confirming a non-critical ROLLBACK with up to `confirm` re-runs:
/// it stands only if every re-run says ROLLBACK too; the first re-run that does not
/// replaces it. A critical ROLLBACK (see [`critical_rollback`]) stands at once. Once
/// `stop` fires no re-run starts, and the ROLLBACK they would have confirmed becomes
/// INCONCLUSIVE.
pub async fn judge_scenario(
    scenario: &Scenario,
    judge: &mut impl Judge,
    confirm: u32,
    critical: &CriticalThresholds,
    stop: &StopSignal,
) -> Result<ScenarioOutcome, PipelineError> {
    let mut attempts = vec![judge_once(scenario, judge, 0).await?];
    let mut critical_why = None;
    let mut confirmation = None;
    let mut unconfirmed = false;
    let is_critical = |j: &Judgement| {
        j.comparison
            .as_ref()
            .and_then(|c| critical_rollback(c, critical))
    };
    if attempts[0].verdict == Verdict::Rollback {
        critical_why = is_critical(&attempts[0]);
        if critical_why.is_some() {
            confirmation = Some("critical ROLLBACK: stands at once, not re-run".to_string());
        } else if confirm > 0 && !judge.can_rerun() {
            confirmation = Some(format!(
                "a saved result cannot be re-run: the ROLLBACK stands unconfirmed (live, it would need {confirm} confirming re-run(s))"
            ));
        } else if confirm > 0 {
            for k in 1..=confirm {
                if stop.is_triggered() {
                    unconfirmed = true;
                    confirmation = Some(format!(
                        "ROLLBACK not confirmed: the gate was interrupted before re-run {k} of {confirm}"
                    ));
                    break;
                }
                let next = judge_once(scenario, judge, k).await?;
                let verdict = next.verdict;
                critical_why = is_critical(&next);
                attempts.push(next);
                if verdict != Verdict::Rollback {
                    confirmation = Some(format!(
                        "ROLLBACK not confirmed: re-run {k} of {confirm} said {verdict}, which replaces it"
                    ));
                    break;
                }
                if critical_why.is_some() {
                    confirmation = Some(format!(
                        "ROLLBACK confirmed by re-run {k}, which is critical"
                    ));
                    break;
                }
                if k == confirm {
                    confirmation = Some(format!("ROLLBACK confirmed by {confirm} re-run(s)"));
                }
            }
        }
    }
    let last = attempts.last().cloned().unwrap_or_else(|| {
        Judgement::without_compare(Verdict::Inconclusive, "no compare was made")
    });
    let (verdict, reason) = if unconfirmed {
        (
            Verdict::Inconclusive,
            format!(
                "ROLLBACK not confirmed (the gate was interrupted): {}",
                last.reason
            ),
        )
    } else {
        (last.verdict, last.reason.clone())
    };
    Ok(ScenarioOutcome {
        scenario: scenario.name.clone(),
        file: scenario.source.display().to_string(),
        component: scenario.component.clone(),
        verdict,
        reason,
        rows: last
            .comparison
            .as_ref()
            .map(rows_behind)
            .unwrap_or_default(),
        critical: critical_why,
        confirmation,
        attempts: attempts.iter().map(Judgement::attempt).collect(),
        report: last.report.as_ref().map(|p| p.display().to_string()),
        warnings: last
            .comparison
            .as_ref()
            .map(|c| c.warnings.clone())
            .unwrap_or_default(),
    })
}

/// One judgement; a runtime error becomes an INCONCLUSIVE one, so one scenario that
/// could not run does not hide the others' results.
async fn judge_once(
    scenario: &Scenario,
    judge: &mut impl Judge,
    attempt: u32,
) -> Result<Judgement, PipelineError> {
    match judge.judge(scenario, attempt).await {
        Ok(j) => Ok(j),
        Err(PipelineError::Runtime(message)) => Ok(Judgement::without_compare(
            Verdict::Inconclusive,
            format!("could not be decided: {message}"),
        )),
        Err(PipelineError::Skipped(message)) => {
            Ok(Judgement::without_compare(Verdict::Inconclusive, message))
        }
        Err(e) => Err(e),
    }
}

/// What a gate run is about, besides its outcomes.
#[derive(Debug, Clone)]
pub struct GateRun<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The phase gated.
    pub phase: &'a Phase,
    /// The gate's report folder.
    pub out: &'a Path,
    /// Run the hook, or only say what would run.
    pub hook_mode: HookMode,
    /// `live` or `saved results in DIR`.
    pub source: String,
    /// The command as typed, for the report.
    pub command: String,
    /// Stops the gate: the scenario running ends with what it measured, no other starts.
    pub stop: StopSignal,
}

/// Judges every scenario of the phase in order and concludes; once the stop signal
/// fires, the scenarios not started are INCONCLUSIVE, [`NOT_RUN`].
pub async fn run_gate(
    run: &GateRun<'_>,
    scenarios: &[Scenario],
    judge: &mut impl Judge,
) -> Result<GateResult, PipelineError> {
    let mut outcomes = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        if run.stop.is_triggered() {
            outcomes.push(ScenarioOutcome::without_compare(
                &scenario.name,
                &scenario.source.display().to_string(),
                scenario.component.as_deref(),
                Verdict::Inconclusive,
                NOT_RUN,
            ));
            continue;
        }
        outcomes.push(
            judge_scenario(
                scenario,
                judge,
                run.plan.confirm_rollback,
                &run.plan.critical,
                &run.stop,
            )
            .await?,
        );
    }
    conclude(run, outcomes)
}

/// The decision of a gate the stop signal interrupted: never GO (a GO of every scenario
/// judged before the signal becomes INCONCLUSIVE), and the reason says so.
fn interrupted(decision: PhaseDecision, outcomes: &[ScenarioOutcome]) -> PhaseDecision {
    let not_run = outcomes.iter().filter(|o| o.reason == NOT_RUN).count();
    let what = format!(
        "the gate was interrupted ({not_run} of {} scenario(s) not run)",
        outcomes.len()
    );
    if decision.verdict == Verdict::Go {
        return PhaseDecision {
            verdict: Verdict::Inconclusive,
            reason: format!("{what}: an interrupted gate never passes"),
            causes: Vec::new(),
        };
    }
    PhaseDecision {
        reason: format!("{what}: {}", decision.reason),
        ..decision
    }
}

/// Aggregates `outcomes`, writes `signal.json`, runs the hook (only on ROLLBACK, never
/// once the stop signal fired), and writes `gate.json`, `summary.md` and `junit.xml`
/// into the report folder.
pub fn conclude(
    run: &GateRun<'_>,
    outcomes: Vec<ScenarioOutcome>,
) -> Result<GateResult, PipelineError> {
    let stopped = run.stop.is_triggered();
    let mut decision = aggregate(&outcomes);
    if stopped {
        decision = interrupted(decision, &outcomes);
    }
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let flags = run.plan.flags_for(run.phase);
    let signal = build_signal(run.phase, &flags, &decision, &outcomes, now.clone());
    let signal_file = run.out.join("signal.json");
    write_json(&signal_file, &signal)?;
    // The hook may run in another folder; it gets an absolute path.
    let signal_abs = std::path::absolute(&signal_file).unwrap_or_else(|_| signal_file.clone());
    let report_abs = std::path::absolute(run.out).unwrap_or_else(|_| run.out.to_path_buf());
    let hook = run.phase.hook.as_deref().map(|command| {
        if stopped {
            return HookReport::Skipped {
                command: command.to_string(),
                reason: "the gate was interrupted; the hook never runs on an interrupted gate"
                    .into(),
            };
        }
        let hook = Hook {
            command,
            timeout: run.plan.hook_timeout,
            signal: &signal_abs,
            report: &report_abs,
            phase: run.phase.number,
        };
        run_hook(&hook, decision.verdict, run.hook_mode)
    });
    let Signal {
        flags,
        rollback_action,
        ..
    } = signal;
    let result = GateResult {
        schema: GATE_SCHEMA.to_string(),
        generated_at: now,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        command: run.command.clone(),
        plan: run.plan.file.display().to_string(),
        folder: run.out.display().to_string(),
        phase: run.phase.number,
        phase_name: run.phase.name.clone(),
        source: run.source.clone(),
        go_ratio: run.phase.go_ratio,
        confirm_rollback: run.plan.confirm_rollback,
        critical: run.plan.critical,
        decision: decision.verdict,
        reason: decision.reason,
        causes: decision.causes,
        scenarios: outcomes,
        flags,
        rollback_action,
        signal: signal_file.display().to_string(),
        hook,
        dry_run: run.hook_mode == HookMode::DryRun,
    };
    ReportManager::with_reporters(run.out, &GATE_FILES, gate_reporter)
        .and_then(|reports| reports.write(&result))
        .map_err(|e| PipelineError::Runtime(e.to_string()))?;
    Ok(result)
}

fn write_json(file: &Path, value: &impl Serialize) -> Result<(), PipelineError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| PipelineError::Runtime(format!("cannot encode {}: {e}", file.display())))?;
    bytes.push(b'\n');
    atomic_file::write(file, &bytes, Existing::Replace).map_err(|e| {
        PipelineError::Runtime(format!(
            "cannot write {}: {e}; choose another --out",
            file.display()
        ))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compare::Metric;
    use crate::gate::HookReport;
    use crate::gate::aggregate::tests::{rollback, row};

    /// Says the scripted verdicts in order, counting calls.
    struct Scripted {
        verdicts: Vec<Comparison>,
        calls: u32,
        rerun: bool,
    }

    impl Judge for Scripted {
        async fn judge(&mut self, _: &Scenario, attempt: u32) -> Result<Judgement, PipelineError> {
            assert_eq!(attempt, self.calls, "attempts are numbered in order");
            self.calls += 1;
            let c = self.verdicts.remove(0);
            Ok(Judgement::of(
                c,
                Some(PathBuf::from(format!("out/a{attempt}"))),
            ))
        }

        fn can_rerun(&self) -> bool {
            self.rerun
        }
    }

    /// A comparison with `verdict`; `critical` makes a ROLLBACK critical (60% errors).
    fn says(verdict: Verdict, critical: bool) -> Comparison {
        let rate = if critical { 0.6 } else { 0.2 };
        let mut c = rollback(vec![row(Metric::ErrorRate, rate, 0.1, verdict)], vec![]);
        c.verdict = verdict;
        c.reason = format!("says {verdict}");
        c
    }

    /// Runs a future to its end on a one-thread runtime.
    pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    /// A small valid scenario.
    pub(crate) fn scenario() -> Scenario {
        let text = r#"
name = "s"
component = "workflow_engine"
[paths.legacy]
target = "reference"
[paths.dagger]
target = "reference"
[load]
model = "open"
rate = 10
duration = "1s"
[[flow]]
name = "f"
steps = [{ name = "h", path = "/healthz" }]
"#;
        crate::scenario::parse_str(text, Path::new("s.toml"), &|_| None).expect("valid")
    }

    fn judged(verdicts: Vec<Comparison>, confirm: u32, rerun: bool) -> (ScenarioOutcome, u32) {
        judged_until(verdicts, confirm, rerun, &StopSignal::new())
    }

    fn judged_until(
        verdicts: Vec<Comparison>,
        confirm: u32,
        rerun: bool,
        stop: &StopSignal,
    ) -> (ScenarioOutcome, u32) {
        let mut judge = Scripted {
            verdicts,
            calls: 0,
            rerun,
        };
        let o = block_on(judge_scenario(
            &scenario(),
            &mut judge,
            confirm,
            &CriticalThresholds::default(),
            stop,
        ))
        .expect("judged");
        (o, judge.calls)
    }

    #[test]
    fn go_is_judged_once() {
        let (o, calls) = judged(vec![says(Verdict::Go, false)], 1, true);
        assert_eq!((o.verdict, calls), (Verdict::Go, 1));
        assert_eq!(o.confirmation, None);
        assert_eq!(o.component.as_deref(), Some("workflow_engine"));
    }

    #[test]
    fn a_rollback_the_rerun_does_not_confirm_is_replaced() {
        let (o, calls) = judged(
            vec![says(Verdict::Rollback, false), says(Verdict::NoGo, false)],
            1,
            true,
        );
        assert_eq!((o.verdict, calls), (Verdict::NoGo, 2));
        assert_eq!(o.attempts.len(), 2);
        assert_eq!(o.attempts[0].verdict, Verdict::Rollback);
        assert_eq!(o.report.as_deref(), Some("out/a1"), "the decisive report");
        let note = o.confirmation.expect("said");
        assert!(
            note.contains("not confirmed") && note.contains("NO-GO"),
            "{note}"
        );
    }

    #[test]
    fn a_confirmed_rollback_stands() {
        let (o, calls) = judged(
            vec![
                says(Verdict::Rollback, false),
                says(Verdict::Rollback, false),
                says(Verdict::Rollback, false),
            ],
            2,
            true,
        );
        assert_eq!((o.verdict, calls), (Verdict::Rollback, 3));
        assert_eq!(o.critical, None);
        assert_eq!(
            o.confirmation.as_deref(),
            Some("ROLLBACK confirmed by 2 re-run(s)")
        );
        assert_eq!(o.rows.len(), 1);
    }

    #[test]
    fn a_critical_rollback_stands_at_once() {
        let (o, calls) = judged(vec![says(Verdict::Rollback, true)], 1, true);
        assert_eq!((o.verdict, calls), (Verdict::Rollback, 1));
        assert!(o.critical.expect("critical").contains("60.0%"));
    }

    #[test]
    fn without_reruns_a_rollback_stands_unconfirmed() {
        let (o, calls) = judged(vec![says(Verdict::Rollback, false)], 1, false);
        assert_eq!((o.verdict, calls), (Verdict::Rollback, 1));
        assert!(o.confirmation.expect("said").contains("cannot be re-run"));
        let (o, calls) = judged(vec![says(Verdict::Rollback, false)], 0, true);
        assert_eq!(
            (o.verdict, calls, o.confirmation),
            (Verdict::Rollback, 1, None)
        );
    }

    struct Failing;

    impl Judge for Failing {
        async fn judge(&mut self, _: &Scenario, _: u32) -> Result<Judgement, PipelineError> {
            Err(PipelineError::Runtime(
                "the reference platform did not start".into(),
            ))
        }

        fn can_rerun(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_runtime_error_is_inconclusive_for_that_scenario() {
        let o = block_on(judge_scenario(
            &scenario(),
            &mut Failing,
            1,
            &CriticalThresholds::default(),
            &StopSignal::new(),
        ))
        .expect("judged");
        assert_eq!(o.verdict, Verdict::Inconclusive);
        assert!(o.reason.contains("did not start"), "{}", o.reason);
    }

    fn plan(dir: &Path, hook: &str) -> Plan {
        Plan {
            file: "ci/phases.toml".into(),
            baselines: dir.join("baselines"),
            confirm_rollback: 1,
            critical: CriticalThresholds::default(),
            hook_timeout: std::time::Duration::from_secs(10),
            flags: [(
                "workflow_engine".to_string(),
                "USE_DAGGER_WORKFLOW_ENGINE".to_string(),
            )]
            .into_iter()
            .collect(),
            phases: vec![Phase {
                number: 1,
                name: "Foundation".into(),
                scenarios: Vec::new(),
                go_ratio: Some(1.1),
                rollback_action: "Revert".into(),
                hook: Some(hook.into()),
                flags: Default::default(),
            }],
        }
    }

    fn conclude_with(verdict: Verdict, mode: HookMode) -> (GateResult, bool, tempfile::TempDir) {
        conclude_stopped(verdict, mode, &StopSignal::new())
    }

    fn conclude_stopped(
        verdict: Verdict,
        mode: HookMode,
        stop: &StopSignal,
    ) -> (GateResult, bool, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("hook-ran");
        let plan = plan(
            dir.path(),
            &format!("cp \"$HARNESS_SIGNAL\" '{}'", marker.display()),
        );
        let run = GateRun {
            plan: &plan,
            phase: &plan.phases[0],
            out: dir.path(),
            hook_mode: mode,
            source: "live".into(),
            command: "harness gate --phase 1".into(),
            stop: stop.clone(),
        };
        let (o, _) = judged(vec![says(verdict, verdict == Verdict::Rollback)], 1, true);
        let result = conclude(&run, vec![o]).expect("concluded");
        let ran = marker.exists();
        (result, ran, dir)
    }

    #[test]
    fn the_hook_runs_on_rollback_only_and_sees_the_signal() {
        for verdict in [Verdict::Go, Verdict::NoGo, Verdict::Inconclusive] {
            let (result, ran, _dir) = conclude_with(verdict, HookMode::Run);
            assert_eq!(result.decision, verdict);
            assert!(!ran, "the hook ran on {verdict}");
            assert!(matches!(result.hook, Some(HookReport::Skipped { .. })));
        }
        let (result, ran, dir) = conclude_with(Verdict::Rollback, HookMode::Run);
        assert!(ran);
        assert!(result.hook.as_ref().is_some_and(HookReport::ran));
        let copied = std::fs::read_to_string(dir.path().join("hook-ran")).expect("copied");
        let signal: serde_json::Value = serde_json::from_str(&copied).expect("JSON");
        assert_eq!(signal["decision"], "ROLLBACK");
        assert_eq!(signal["flags"][0], "USE_DAGGER_WORKFLOW_ENGINE");
        for file in ["gate.json", "summary.md", "junit.xml", "signal.json"] {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
    }

    #[test]
    fn a_dry_run_decides_but_runs_no_hook() {
        let (result, ran, _dir) = conclude_with(Verdict::Rollback, HookMode::DryRun);
        assert_eq!(result.decision, Verdict::Rollback);
        assert!(!ran, "a dry run ran the hook");
        assert!(result.dry_run);
        assert!(matches!(result.hook, Some(HookReport::DryRun { .. })));
    }

    #[test]
    fn no_confirming_rerun_starts_once_stopped_and_the_rollback_does_not_stand() {
        let stop = StopSignal::new();
        stop.trigger();
        let (o, calls) = judged_until(
            vec![
                says(Verdict::Rollback, false),
                says(Verdict::Rollback, false),
            ],
            1,
            true,
            &stop,
        );
        assert_eq!((o.verdict, calls), (Verdict::Inconclusive, 1));
        assert_eq!(o.attempts.len(), 1);
        assert_eq!(o.attempts[0].verdict, Verdict::Rollback);
        assert!(o.reason.contains("interrupted"), "{}", o.reason);
        let note = o.confirmation.expect("said");
        assert!(note.contains("before re-run 1 of 1"), "{note}");
        // A critical ROLLBACK needs no re-run: it stands.
        let (o, calls) = judged_until(vec![says(Verdict::Rollback, true)], 1, true, &stop);
        assert_eq!((o.verdict, calls), (Verdict::Rollback, 1));
    }

    #[test]
    fn an_interrupted_gate_never_passes_and_never_runs_the_hook() {
        let stop = StopSignal::new();
        stop.trigger();
        let (result, ran, dir) = conclude_stopped(Verdict::Go, HookMode::Run, &stop);
        assert_eq!(result.decision, Verdict::Inconclusive);
        assert!(result.reason.contains("interrupted"), "{}", result.reason);
        assert!(!ran);
        let signal = std::fs::read_to_string(dir.path().join("signal.json")).expect("signal");
        assert!(signal.contains("\"INCONCLUSIVE\""), "{signal}");
        let (result, ran, _dir) = conclude_stopped(Verdict::Rollback, HookMode::Run, &stop);
        assert_eq!(
            result.decision,
            Verdict::Rollback,
            "a proven ROLLBACK stays"
        );
        assert!(!ran, "the hook ran on an interrupted gate");
        let Some(HookReport::Skipped { reason, .. }) = &result.hook else {
            panic!("{:?}", result.hook)
        };
        assert!(reason.contains("interrupted"), "{reason}");
    }

    #[test]
    fn scenarios_not_started_before_the_stop_are_not_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = plan(dir.path(), "true");
        let stop = StopSignal::new();
        stop.trigger();
        let run = GateRun {
            plan: &plan,
            phase: &plan.phases[0],
            out: dir.path(),
            hook_mode: HookMode::Run,
            source: "live".into(),
            command: "harness gate --phase 1".into(),
            stop,
        };
        let mut judge = Scripted {
            verdicts: vec![says(Verdict::Go, false)],
            calls: 0,
            rerun: true,
        };
        let result =
            block_on(run_gate(&run, &[scenario(), scenario()], &mut judge)).expect("concluded");
        assert_eq!(judge.calls, 0, "nothing starts once stopped");
        assert_eq!(result.decision, Verdict::Inconclusive);
        assert!(
            result.scenarios.iter().all(|o| o.reason == NOT_RUN),
            "{:?}",
            result.scenarios
        );
        assert!(
            result.reason.contains("2 of 2 scenario(s) not run"),
            "{}",
            result.reason
        );
    }
}
