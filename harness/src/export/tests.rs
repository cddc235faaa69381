//! Tests of the series builders: which series a compare, a gate and a run export, with
//! which labels and values, each series once, every label valid and printable.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use super::*;
use crate::compare::{ExpectationRow, Noise, ParityResult, ParityRow, Side, compare};
use crate::gate::ScenarioOutcome;
use crate::metrics::{EndpointRecord, MetricsRecord};
use crate::outcome::{Outcome, OutcomeClass};
use crate::policy::Policy;
use crate::record::{
    Environment, LoadModelKind, LoadPlan, Recorder, RunMeta, RunRecord, ScenarioRef,
};

/// A run of `path` r`repetition`: 200 requests of `wf/execute`, 2–3 ms, one in 20 failing.
fn run(scenario: &str, path: &str, repetition: u32, slower: u64) -> RunRecord {
    let warmup = Duration::from_millis(100);
    let mut recorder = Recorder::new(1, warmup);
    for i in 0..200u64 {
        let intended = warmup + Duration::from_millis(i * 5);
        let failed = i % 20 == 0;
        recorder.record_sent(intended);
        recorder.record(&Outcome {
            step: 0,
            intended,
            latency: Duration::from_micros(2_000 + slower + (i * 37) % 900),
            class: if failed {
                OutcomeClass::Http5xx
            } else {
                OutcomeClass::Ok
            },
            status: Some(if failed { 503 } else { 202 }),
            request_id: i + 1,
        });
    }
    let meta = RunMeta {
        scenario: ScenarioRef {
            name: scenario.into(),
            hash: "ab".repeat(32),
            file: format!("scenarios/{scenario}.toml"),
        },
        path: path.into(),
        repetition,
        seed: 7,
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000),
        environment: Environment {
            os: "linux".into(),
            arch: "x86_64".into(),
            kernel: "6.1.0".into(),
            cpu_model: "Test CPU".into(),
            logical_cores: 2,
            harness_version: "0.1.0".into(),
        },
        load: LoadPlan {
            model: LoadModelKind::Open,
            target_rate: Some(200.0),
            achieved_rate: Some(199.5),
            users: None,
            duration: Duration::from_secs(1),
            warmup,
            max_in_flight: Some(64),
            dispatch_lag_p99_us: Some(100),
        },
        steps: vec![("wf".into(), "execute".into())],
        complete: true,
        notes: vec![],
    };
    RunRecord::build(recorder.finish(), meta)
}

fn side(label: &str, records: Vec<RunRecord>) -> Side {
    Side {
        label: label.into(),
        records,
        noise: Noise::default(),
    }
}

/// A compare of `legacy` (base) and `dagger`, two runs each, with an expectation and
/// a parity row.
fn document(scenario: &str) -> ReportDocument {
    let base: Vec<RunRecord> = (1..=2).map(|k| run(scenario, "legacy", k, 0)).collect();
    let mut candidate: Vec<RunRecord> = (1..=2).map(|k| run(scenario, "dagger", k, 300)).collect();
    candidate[1].complete = false;
    candidate[0].metrics = Some(MetricsRecord {
        requests: 200,
        endpoints: vec![EndpointRecord {
            endpoint: "https://user:token@svc.example:9100/metrics?key=s3cret".into(),
            scrapes: 3,
            failed: 0,
            first_failure: None,
            window_s: Some((0.0, 1.0)),
            missing_series: vec![],
            series_over_cap: 0,
            counters: vec![],
            gauges: vec![],
            cpu_seconds_per_1000_requests: Some(0.25),
            peak_rss_bytes: Some(52_428_800.0),
            timelines: vec![],
        }],
        measured_s: 1.0,
        labels: Default::default(),
        queries: vec![],
    });
    let comparison = compare(
        &side("legacy, live", base.clone()),
        &side("dagger, live", candidate.clone()),
        &Policy::default(),
        Vec::new(),
    )
    .with_expectations(vec![ExpectationRow {
        path: "dagger".into(),
        expectation: "max_error_rate_during".into(),
        threshold: "10%".into(),
        critical: true,
        observed: "5%".into(),
        other_path: None,
        windows: 2,
        verdict: Verdict::Go,
        reason: "met".into(),
    }])
    .with_parity(ParityResult {
        samples: 20,
        complete: true,
        rows: vec![ParityRow {
            step: "wf/execute".into(),
            field: "/status".into(),
            differing: 20,
            compared: 20,
            interval: crate::compare::stats::Interval {
                estimate: 1.0,
                low: 0.8,
                high: 1.0,
                confidence: 0.95,
            },
            critical: true,
            verdict: Verdict::Rollback,
            reason: "a critical field differs".into(),
            examples: vec![],
        }],
        noise: vec![],
    });
    ReportDocument::new(
        comparison,
        base,
        candidate,
        "harness compare".into(),
        vec![],
    )
}

fn find<'a>(export: &'a Export, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    export
        .samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .collect()
}

fn one(export: &Export, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(export, name, labels);
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    found[0].value
}

/// What every export must hold to: each series once, known names, valid label names,
/// printable non-empty values, labels sorted.
fn well_formed(export: &Export) {
    let mut seen = HashSet::new();
    for s in &export.samples {
        assert!(help(&s.name).is_some(), "{} is not in SERIES", s.name);
        assert!(
            seen.insert((s.name.clone(), s.labels.clone())),
            "twice: {s:?}"
        );
        assert!(s.labels.windows(2).all(|w| w[0].0 < w[1].0), "{s:?}");
        for (k, v) in &s.labels {
            assert_eq!(&label_name(k), k);
            assert!(k != "__name__");
            assert!(!v.is_empty() && !v.chars().any(text::is_hidden), "{s:?}");
        }
    }
}

#[test]
fn a_compare_exports_its_verdict_rows_expectations_parity_and_runs() {
    let doc = document("demo");
    let c = &doc.comparison;
    let export = Export::compare(&doc, 1_700_000_000_000);
    well_formed(&export);
    assert_eq!(export.timestamp_ms, 1_700_000_000_000);
    let who = [
        ("scenario", "demo"),
        ("base", "legacy"),
        ("candidate", "dagger"),
    ];
    assert_eq!(
        one(&export, "harness_verdict_code", &who),
        verdict_code(c.verdict)
    );
    for v in VERDICTS {
        let mut labels = who.to_vec();
        labels.push(("verdict", v.as_str()));
        let expected = if v == c.verdict { 1.0 } else { 0.0 };
        assert_eq!(one(&export, "harness_verdict", &labels), expected, "{v}");
    }
    assert!(!c.rows.is_empty());
    for row in &c.rows {
        let metric = row.metric.label();
        let mut labels = who.to_vec();
        labels.extend([("step", row.step.as_str()), ("metric", metric.as_str())]);
        labels.push(("unit", row.metric.unit().comparison()));
        assert_eq!(one(&export, "harness_row_base", &labels), row.base);
        assert_eq!(
            one(&export, "harness_row_candidate", &labels),
            row.candidate
        );
        assert_eq!(
            one(&export, "harness_row_verdict_code", &labels),
            verdict_code(row.verdict)
        );
        let interval = row.interval.as_ref().expect("an interval");
        assert_eq!(
            one(&export, "harness_row_estimate", &labels),
            interval.estimate
        );
        assert_eq!(one(&export, "harness_row_low", &labels), interval.low);
        assert_eq!(one(&export, "harness_row_high", &labels), interval.high);
    }
    assert!(
        !find(
            &export,
            "harness_row_estimate",
            &[("unit", "ratio"), ("metric", "p95")]
        )
        .is_empty()
    );
    assert!(
        !find(
            &export,
            "harness_row_estimate",
            &[("unit", "difference"), ("metric", "errors")]
        )
        .is_empty()
    );
    assert_eq!(
        one(
            &export,
            "harness_expectation_verdict_code",
            &[("path", "dagger"), ("expectation", "max_error_rate_during")]
        ),
        0.0
    );
    assert_eq!(
        one(
            &export,
            "harness_parity_verdict_code",
            &[("step", "wf/execute"), ("field", "/status")]
        ),
        3.0
    );
    // Runs: both paths, each repetition, latency in seconds.
    let r1 = [("path", "dagger"), ("repetition", "1")];
    assert_eq!(one(&export, "harness_run_requests", &r1), 200.0);
    assert_eq!(one(&export, "harness_run_errors", &r1), 10.0);
    assert_eq!(one(&export, "harness_run_complete", &r1), 1.0);
    assert_eq!(
        one(
            &export,
            "harness_run_complete",
            &[("path", "dagger"), ("repetition", "2")]
        ),
        0.0
    );
    let p50 = one(
        &export,
        "harness_run_latency_seconds",
        &[("path", "legacy"), ("repetition", "1"), ("quantile", "0.5")],
    );
    assert!(p50 > 0.002 && p50 < 0.003, "{p50}");
    assert_eq!(find(&export, "harness_run_latency_seconds", &[]).len(), 12);
    // Service metrics: the endpoint without its userinfo and query.
    let service = [
        ("path", "dagger"),
        ("repetition", "1"),
        ("endpoint", "https://svc.example:9100/metrics"),
    ];
    assert_eq!(
        one(
            &export,
            "harness_service_cpu_seconds_per_1000_requests",
            &service
        ),
        0.25
    );
    assert_eq!(
        one(&export, "harness_service_peak_rss_bytes", &service),
        52_428_800.0
    );
    assert!(!format!("{export:?}").contains("s3cret") && !format!("{export:?}").contains("token"));
    assert!(find(&export, "harness_gate_verdict_code", &[]).is_empty());
    assert!(export.samples.iter().all(|s| s.label("phase").is_none()));
}

#[test]
fn a_row_without_an_interval_has_no_estimate_or_bounds() {
    let mut doc = document("demo");
    doc.comparison.rows[0].interval = None;
    let export = Export::compare(&doc, 0);
    let row = &doc.comparison.rows[0];
    let metric = row.metric.label();
    let labels = [("step", row.step.as_str()), ("metric", metric.as_str())];
    for name in [
        "harness_row_estimate",
        "harness_row_low",
        "harness_row_high",
    ] {
        assert!(find(&export, name, &labels).is_empty(), "{name}");
    }
    assert_eq!(one(&export, "harness_row_base", &labels), row.base);
}

#[test]
fn hostile_and_empty_names_stay_printable_and_series_stay_unique() {
    let mut doc = document("red\u{1b}[31m\n\"x\"");
    // A base side from the same path as the candidate: its runs are the same series.
    doc.base_runs = doc.candidate_runs.clone();
    doc.comparison.base.path = String::new();
    let export = Export::compare(&doc, 0);
    well_formed(&export);
    let verdict = find(&export, "harness_verdict_code", &[]);
    assert_eq!(verdict[0].label("scenario"), Some("red\\u{1b}[31m\\n\"x\""));
    assert_eq!(verdict[0].label("base"), None, "an empty value is left out");
}

#[test]
fn a_stored_baselines_runs_give_way_to_the_live_base_runs() {
    let mut doc = document("demo");
    let mut live = doc.base_runs.clone();
    live[0].load.sent = 123;
    doc.live_base_runs = live;
    let export = Export::compare(&doc, 0);
    assert_eq!(
        one(
            &export,
            "harness_run_requests",
            &[("path", "legacy"), ("repetition", "1")]
        ),
        123.0
    );
}

#[test]
fn a_gate_exports_the_phase_and_each_scenarios_verdict_with_its_compare() {
    let doc = document("checkout");
    let mut decided = ScenarioOutcome::without_compare(
        "checkout",
        "scenarios/checkout.toml",
        None,
        Verdict::NoGo,
        "a ROLLBACK not confirmed",
    );
    decided.report = Some("reports/phase-2/x/checkout".into());
    let missing = ScenarioOutcome::without_compare(
        "search",
        "scenarios/search.toml",
        None,
        Verdict::Inconclusive,
        "no stored baseline",
    );
    let result = GateResult {
        schema: crate::gate::GATE_SCHEMA.into(),
        generated_at: "2025-01-01T00:00:00Z".into(),
        harness_version: "0.1.0".into(),
        command: "harness gate --phase 2".into(),
        plan: "ci/phases.toml".into(),
        folder: "reports/phase-2/x".into(),
        phase: 2,
        phase_name: "canary".into(),
        source: "live".into(),
        go_ratio: None,
        confirm_rollback: 1,
        critical: Default::default(),
        decision: Verdict::Inconclusive,
        reason: "one scenario could not be judged".into(),
        causes: vec![],
        scenarios: vec![decided, missing],
        flags: vec![],
        rollback_action: String::new(),
        signal: "signal.json".into(),
        hook: None,
        dry_run: false,
    };
    let export = Export::gate(&result, std::slice::from_ref(&doc), 5);
    well_formed(&export);
    assert_eq!(
        one(&export, "harness_gate_verdict_code", &[("phase", "2")]),
        1.0
    );
    // The gate's verdict for the scenario, not its compare's.
    assert_eq!(
        one(
            &export,
            "harness_verdict_code",
            &[
                ("scenario", "checkout"),
                ("phase", "2"),
                ("candidate", "dagger")
            ]
        ),
        2.0
    );
    assert_eq!(
        one(
            &export,
            "harness_verdict_code",
            &[("scenario", "search"), ("phase", "2")]
        ),
        1.0
    );
    let rows = find(
        &export,
        "harness_row_verdict_code",
        &[("scenario", "checkout")],
    );
    assert_eq!(rows.len(), doc.comparison.rows.len());
    assert!(rows.iter().all(|s| s.label("phase") == Some("2")));
    assert!(find(&export, "harness_row_base", &[("scenario", "search")]).is_empty());
    assert!(
        find(&export, "harness_run_requests", &[("scenario", "checkout")])
            .iter()
            .all(|s| s.label("phase") == Some("2"))
    );
}

#[test]
fn a_run_exports_each_record() {
    let records = vec![run("demo", "legacy", 1, 0), run("demo", "legacy", 2, 0)];
    let export = Export::runs(&records, 9);
    well_formed(&export);
    assert_eq!(
        find(&export, "harness_run_requests", &[("scenario", "demo")]).len(),
        2
    );
    assert_eq!(
        one(
            &export,
            "harness_run_achieved_rate",
            &[("path", "legacy"), ("repetition", "2")]
        ),
        records[1].load.achieved_rate
    );
    assert!(find(&export, "harness_verdict_code", &[]).is_empty());
    assert!(find(&export, "harness_service_peak_rss_bytes", &[]).is_empty());
}

#[test]
fn names_are_sanitised_to_the_prometheus_rules() {
    assert_eq!(label_name("scenario"), "scenario");
    assert_eq!(label_name("a-b.c d"), "a_b_c_d");
    assert_eq!(label_name("9lives"), "_9lives");
    assert_eq!(label_name(""), "_");
    assert_eq!(label_name("é:x"), "__x");
    assert_eq!(series_name("ns:harness_x"), "ns:harness_x");
    assert_eq!(series_name("1-x"), "_1_x");
    let valid = regex::Regex::new("^[a-zA-Z_][a-zA-Z0-9_]*$").expect("regex");
    for name in ["ü", "a b", "0", "__name__", "x\u{202e}y"] {
        assert!(valid.is_match(&label_name(name)), "{name}");
    }
    for (name, _) in SERIES {
        assert_eq!(series_name(name), *name);
        assert!(name.starts_with("harness_"));
    }
}

#[test]
fn verdict_codes_order_by_severity() {
    let codes: Vec<f64> = VERDICTS.iter().map(|v| verdict_code(*v)).collect();
    assert_eq!(codes, vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(verdict_code(Verdict::NoGo), 2.0);
}
