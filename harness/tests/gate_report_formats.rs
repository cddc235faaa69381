//! Every format of a fixed gate result, rendered through the report stack: insta
//! snapshots of the terminal table, `summary.md`, `junit.xml` and `gate.json`; hostile
//! scenario names and reasons rendered inert; the files written by the report manager.
//!
//! The result is built by hand with a pinned clock and version, so every byte of every
//! snapshot is deterministic.

use harness::compare::Verdict;
use harness::gate::{
    Attempt, Cause, CriticalThresholds, GATE_SCHEMA, GateResult, HookReport, ScenarioOutcome,
};
use harness::report::{Format, GATE_FILES, ReportManager, gate_reporter};

/// A phase that rolls back: one GO, one confirmed ROLLBACK, one INCONCLUSIVE with a
/// hostile name and reason, and a dry-run hook.
fn result() -> GateResult {
    let go = ScenarioOutcome {
        scenario: "workflow-execute".into(),
        file: "scenarios/workflow.toml".into(),
        component: Some("workflow_engine".into()),
        verdict: Verdict::Go,
        reason: "every row within the go margin".into(),
        rows: Vec::new(),
        critical: None,
        confirmation: None,
        attempts: vec![Attempt {
            verdict: Verdict::Go,
            reason: "every row within the go margin".into(),
            report: Some("reports/phase-1/workflow-execute".into()),
        }],
        report: Some("reports/phase-1/workflow-execute".into()),
        warnings: vec![
            "dagger r1: the generator could not keep up: achieved 1470.2/s of 1500.0/s (0 dropped)"
                .into(),
        ],
    };
    let rollback = ScenarioOutcome {
        scenario: "task-manager".into(),
        file: "scenarios/tasks.toml".into(),
        component: Some("task_manager".into()),
        verdict: Verdict::Rollback,
        reason: "wf/execute p95 is 1.62× the base (proven above 1.285×)".into(),
        rows: vec!["wf/execute p95: 1.620 [1.51, 1.74] ≥ 1.5".into()],
        critical: None,
        confirmation: Some("ROLLBACK confirmed by 1 re-run(s)".into()),
        attempts: vec![
            Attempt {
                verdict: Verdict::Rollback,
                reason: "first".into(),
                report: Some("reports/phase-1/task-manager".into()),
            },
            Attempt {
                verdict: Verdict::Rollback,
                reason: "confirmed".into(),
                report: Some("reports/phase-1/task-manager/confirm-1".into()),
            },
        ],
        report: Some("reports/phase-1/task-manager/confirm-1".into()),
        warnings: Vec::new(),
    };
    let hostile = ScenarioOutcome::without_compare(
        "mcp|<script>alert(1)</script>",
        "scenarios/mcp.toml",
        None,
        Verdict::Inconclusive,
        "no stored baseline at baselines/x & y; save one with `harness baseline save`",
    );
    GateResult {
        schema: GATE_SCHEMA.into(),
        generated_at: "2026-01-02T03:04:05Z".into(),
        harness_version: "0.0.0-test".into(),
        command: "harness gate --phase 1 --dry-run".into(),
        plan: "ci/phases.toml".into(),
        folder: "reports/phase-1".into(),
        phase: 1,
        phase_name: "Foundation <core>".into(),
        source: "live".into(),
        go_ratio: Some(1.1),
        confirm_rollback: 1,
        critical: CriticalThresholds::default(),
        decision: Verdict::Rollback,
        reason: "task-manager said ROLLBACK".into(),
        causes: vec![Cause {
            scenario: "task-manager".into(),
            verdict: Verdict::Rollback,
            reason: rollback.reason.clone(),
            rows: rollback.rows.clone(),
        }],
        scenarios: vec![go, rollback, hostile],
        flags: vec!["USE_DAGGER_TASK_MANAGER".into()],
        rollback_action: "Revert the task manager flag".into(),
        signal: "reports/phase-1/signal.json".into(),
        hook: Some(HookReport::DryRun {
            command: "scripts/rollback.sh".into(),
            argv: vec!["sh".into(), "-c".into(), "scripts/rollback.sh".into()],
            env: vec![("HARNESS_DECISION".into(), "ROLLBACK".into())],
        }),
        dry_run: true,
    }
}

fn render(format: Format) -> String {
    let bytes = gate_reporter(format, false)
        .render(&result())
        .expect("rendered");
    String::from_utf8(bytes).expect("UTF-8")
}

#[test]
fn table() {
    insta::assert_snapshot!("gate_table", render(Format::Table));
}

#[test]
fn markdown() {
    let text = render(Format::Markdown);
    assert!(!text.contains("<script>"), "raw HTML in summary.md");
    insta::assert_snapshot!("gate_markdown", text);
}

#[test]
fn junit() {
    let text = render(Format::Junit);
    assert!(!text.contains("<script>"), "raw markup in junit.xml");
    assert!(text.contains("&amp; y"), "an ampersand is escaped");
    insta::assert_snapshot!("gate_junit", text);
}

#[test]
fn json_round_trips() {
    let text = render(Format::Json);
    let back: GateResult = serde_json::from_str(&text).expect("gate.json reads back");
    assert_eq!(back, result());
    insta::assert_snapshot!("gate_json", text);
}

#[test]
fn the_manager_writes_every_gate_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reports =
        ReportManager::with_reporters(dir.path(), &GATE_FILES, gate_reporter).expect("prepared");
    let written = reports.write(&result()).expect("written");
    let names: Vec<String> = written
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["gate.json", "summary.md", "junit.xml"]);
    let markdown = std::fs::read_to_string(dir.path().join("summary.md")).expect("read");
    assert_eq!(markdown, render(Format::Markdown));
}

#[test]
fn a_gate_has_no_page_of_its_own() {
    let error = gate_reporter(Format::Html, false)
        .render(&result())
        .expect_err("no gate page");
    assert!(error.to_string().contains("not available"), "{error}");
}
