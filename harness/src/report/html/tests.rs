//! Tests of the HTML report: escaping of every hostile string, self-containment, and charts
//! that survive empty and degenerate inputs.

use std::time::{Duration, SystemTime};

use super::spectrum::{Curve, percentile_label, spectrum_points, spectrum_svg};
use super::timeline::{Shade, fault_shades, span, timeline_svg};
use super::{escape, render_html};
use crate::compare::{ExpectationRow, Invalidity, Noise, Side, Verdict, compare};
use crate::outcome::{Outcome, OutcomeClass};
use crate::policy::Policy;
use crate::record::{
    Environment, FaultRecord, LoadModelKind, LoadPlan, Recorder, RunMeta, RunRecord, ScenarioRef,
    TimelinePoint, latency_histogram,
};
use crate::report::ReportDocument;
use crate::resilience::{FaultWindow, Observation, PhaseStats};

/// Everything a hostile scenario, record or command line could put in a string.
const EVIL: &str = "<script>alert(1)</script> \"quotes\" 'single' & more";

fn environment() -> Environment {
    Environment {
        os: "linux".into(),
        arch: "x86_64".into(),
        kernel: "6.1.0".into(),
        cpu_model: "Test CPU".into(),
        logical_cores: 2,
        harness_version: "0.1.0".into(),
    }
}

/// A run of `path` with `requests` requests of `flow/step`, one every 10 ms after a 1 s
/// warmup, one in 20 failing.
fn run(scenario: &str, path: &str, flow: &str, step: &str, requests: u64) -> RunRecord {
    let warmup = Duration::from_secs(1);
    let mut recorder = Recorder::new(1, warmup);
    for i in 0..requests {
        let intended = warmup + Duration::from_millis(i * 10);
        let failed = i % 20 == 0;
        recorder.record_sent(intended);
        recorder.record(&Outcome {
            step: 0,
            intended,
            latency: Duration::from_micros(2_000 + (i * 37) % 900),
            class: if failed {
                OutcomeClass::Http5xx
            } else {
                OutcomeClass::Ok
            },
            status: Some(if failed { 503 } else { 200 }),
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
        repetition: 1,
        seed: 7,
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000),
        environment: environment(),
        load: LoadPlan {
            model: LoadModelKind::Open,
            target_rate: Some(100.0),
            achieved_rate: Some(100.0),
            users: None,
            duration: Duration::from_millis(requests * 10),
            warmup,
            max_in_flight: Some(64),
            dispatch_lag_p99_us: Some(100),
        },
        steps: vec![(flow.into(), step.into())],
        complete: true,
        notes: vec![],
    };
    RunRecord::build(recorder.finish(), meta)
}

fn observation(name: &str) -> Observation {
    let phase = PhaseStats {
        requests: 100,
        errors: 5,
        error_rate: 0.05,
        p50: Some(Duration::from_millis(3)),
        p99: Some(Duration::from_millis(12)),
    };
    Observation {
        window: FaultWindow {
            name: name.into(),
            start: Duration::from_secs(3),
            end: Duration::from_secs(5),
        },
        before: phase.clone(),
        during: phase.clone(),
        after: phase,
        amplification: Some(1.5),
        amplification_before: Some(1.0),
        time_to_open: Some(Duration::from_millis(420)),
        fail_fast_p50: Some(Duration::from_micros(300)),
        fail_fast_p99: Some(Duration::from_micros(900)),
        probe_rate: Some(0.5),
        time_to_recover: Some(Duration::from_secs(1)),
        injected_failures: 3,
        service_failures: 2,
        unattributed_attempts: 0,
        attempts_during: 120,
        amplification_unattributed: Some(1.0),
        breaker_openings: 1,
        retries_during: None,
    }
}

fn fault(name: &str, windows: Vec<(f64, f64)>) -> FaultRecord {
    FaultRecord {
        name: name.into(),
        kind: "http_error".into(),
        at: "dependency".into(),
        probability: 0.5,
        per: "request".into(),
        windows,
        attempts: 200,
        injected: 97,
    }
}

fn side(label: &str, records: Vec<RunRecord>) -> Side {
    Side {
        label: label.into(),
        records,
        noise: Noise::default(),
    }
}

/// A document in which every string a user or a record controls is [`EVIL`].
fn hostile_document() -> ReportDocument {
    let mut records = Vec::new();
    for path in ["legacy", "dagger"] {
        let mut r = run(EVIL, &format!("{EVIL} {path}"), EVIL, EVIL, 600);
        r.faults = vec![fault(EVIL, vec![(3.0, 5.0)])];
        r.resilience = vec![observation(EVIL)];
        r.notes = vec![EVIL.into()];
        records.push(r);
    }
    let candidate = records.pop().expect("two records");
    let base = records.pop().expect("two records");
    let comparison = compare(
        &side(&format!("{EVIL} base"), vec![base.clone()]),
        &side(&format!("{EVIL} candidate"), vec![candidate.clone()]),
        &Policy::default(),
        vec![Invalidity::new("environment", EVIL)],
    )
    .with_expectations(vec![ExpectationRow {
        path: EVIL.into(),
        expectation: "circuit_opens_within".into(),
        threshold: "1s".into(),
        critical: true,
        observed: EVIL.into(),
        other_path: Some((EVIL.into(), EVIL.into())),
        windows: 1,
        verdict: Verdict::Rollback,
        reason: EVIL.into(),
    }]);
    let mut doc = ReportDocument::new(
        comparison,
        vec![base],
        vec![candidate],
        format!("harness compare {EVIL}"),
        vec![EVIL.into()],
    );
    doc.generated_at = "2025-06-15T16:00:00Z".into();
    doc
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Balanced and present: every chart opened is closed.
fn assert_svgs_balanced(html: &str) {
    let open = count(html, "<svg");
    assert!(open > 0, "no chart at all");
    assert_eq!(open, count(html, "</svg>"), "unbalanced <svg> tags");
}

#[test]
fn escape_replaces_the_five_special_characters() {
    assert_eq!(
        escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
    );
    assert_eq!(escape("plain µs — text"), "plain µs — text");
    assert_eq!(escape(""), "");
}

#[test]
fn hostile_strings_are_escaped_everywhere() {
    let html = render_html(&hostile_document());
    assert!(
        !html.to_lowercase().contains("<script"),
        "a <script> got through"
    );
    for escaped in [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&quot;quotes&quot;",
        "&#39;single&#39;",
        "&amp; more",
    ] {
        assert!(html.contains(escaped), "{escaped} missing");
    }
    for raw in ["\"quotes\"", "'single'", "& more"] {
        assert!(!html.contains(raw), "raw {raw} in the page");
    }
    // Inside SVG too: the charts' titles carry the step and path names.
    assert!(html.contains("<title>Latency percentiles of &lt;script&gt;"));
    assert!(html.contains("<title>Timeline of base: &lt;script&gt;"));
    assert_eq!(count(&html, "<html"), 1);
    assert_svgs_balanced(&html);
    // Both timelines and the one step's spectrum were drawn, not replaced by placeholders.
    assert_eq!(count(&html, "<svg"), 3);
    assert!(html.contains("<polyline"), "no data line drawn");
}

#[test]
fn the_page_loads_nothing_from_anywhere() {
    let html = render_html(&hostile_document());
    for banned in [
        "<link", "<img", "<iframe", "@import", "url(", " src=", "<object",
    ] {
        assert!(!html.contains(banned), "{banned} in a self-contained page");
    }
    // The only URL is the SVG namespace, which is a name, not a fetch.
    let urls = count(&html, "http://") + count(&html, "https://");
    assert_eq!(urls, count(&html, "xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn the_banner_is_coloured_by_the_verdict() {
    let mut doc = hostile_document();
    for (verdict, class) in [
        (Verdict::Go, "banner v-go"),
        (Verdict::NoGo, "banner v-nogo"),
        (Verdict::Rollback, "banner v-rollback"),
        (Verdict::Inconclusive, "banner v-inconclusive"),
    ] {
        doc.comparison.verdict = verdict;
        let html = render_html(&doc);
        assert!(html.contains(class), "{verdict}: no {class}");
        assert!(html.contains(&format!("<span class=\"verdict-word\">{verdict}</span>")));
    }
}

#[test]
fn every_section_is_there_in_order() {
    let html = render_html(&hostile_document());
    let mut last = 0;
    for marker in [
        "id=\"verdict\"",
        "id=\"decision-table\"",
        "<h3>Resilience expectations</h3>",
        "<ul class=\"invalid\">",
        "id=\"latency\"",
        "id=\"timeline\"",
        "id=\"resilience\"",
        "breaker opened 0.42 s after the fault started",
        "0.50 per request",
        "id=\"policy\"",
        "policy_version",
        "id=\"provenance\"",
        "2025-06-15T16:00:00Z",
        "id=\"sign-off\"",
        "Project Manager",
        "Technical Lead",
        "Operations Lead",
        "Security Officer",
    ] {
        let at = html[last..]
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} missing or out of order"));
        last += at;
    }
}

#[test]
fn a_document_without_runs_renders() {
    let comparison = compare(
        &side("legacy", vec![]),
        &side("dagger", vec![]),
        &Policy::default(),
        vec![],
    );
    let doc = ReportDocument::new(comparison, vec![], vec![], String::new(), vec![]);
    let html = render_html(&doc);
    assert!(html.contains("INCONCLUSIVE"));
    assert!(html.contains("no runs on this side"));
    assert_eq!(count(&html, "<html"), 1);
    assert_svgs_balanced(&html);
}

#[test]
fn runs_with_zero_requests_render() {
    let base = run("demo", "legacy", "flow", "step", 0);
    let candidate = run("demo", "dagger", "flow", "step", 0);
    let comparison = compare(
        &side("baselines/demo/legacy.json", vec![base.clone()]),
        &side("dagger", vec![candidate.clone()]),
        &Policy::default(),
        vec![],
    );
    let doc = ReportDocument::new(comparison, vec![base], vec![candidate], "x".into(), vec![]);
    let html = render_html(&doc);
    assert!(html.contains("no successful requests to plot"));
    assert!(html.contains("stored baseline: baselines/demo/legacy.json"));
    assert_svgs_balanced(&html);
}

#[test]
fn the_spectrum_survives_degenerate_input() {
    let svg = spectrum_svg("nothing", &[]);
    assert!(svg.contains("no successful requests to plot") && svg.ends_with("</svg>"));
    let empty = Curve {
        colour: super::chart::BASE,
        points: spectrum_points(&latency_histogram()),
    };
    assert!(empty.points.is_empty());
    assert!(spectrum_svg("empty", std::slice::from_ref(&empty)).contains("no successful requests"));

    let mut one = latency_histogram();
    one.record(1_500).expect("in range");
    let points = spectrum_points(&one);
    assert_eq!(points.len(), 201);
    assert!(
        points.iter().all(|p| (p.1 - 1.5).abs() < 0.01),
        "{points:?}"
    );
    for curves in [
        vec![Curve {
            colour: super::chart::CANDIDATE,
            points: points.clone(),
        }],
        vec![Curve {
            colour: super::chart::CANDIDATE,
            points: vec![(0.0, 0.0)],
        }],
        vec![
            empty,
            Curve {
                colour: super::chart::CANDIDATE,
                points: vec![(0.0, f64::NAN), (1.0, 0.0)],
            },
        ],
    ] {
        let svg = spectrum_svg("degenerate", &curves);
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert_eq!(count(&svg, "<svg"), count(&svg, "</svg>"));
        assert!(svg.contains("<title>degenerate</title>"));
    }
}

#[test]
fn percentile_ticks_name_the_decades() {
    let labels: Vec<String> = (0..=4).map(|x| percentile_label(f64::from(x))).collect();
    assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
}

fn point(second: u32, sent: u64, ok: u64, failed: u64, p99_us: u64) -> TimelinePoint {
    TimelinePoint {
        second,
        sent,
        ok,
        failed,
        p50_us: p99_us / 2,
        p99_us,
    }
}

#[test]
fn the_timeline_survives_degenerate_input() {
    let shade = Shade {
        name: "f".into(),
        start: 0.0,
        end: 1.0,
    };
    let svg = timeline_svg("none", &[], &[]);
    assert!(svg.contains("no timeline") && svg.ends_with("</svg>"));
    for (points, shades) in [
        (vec![point(0, 10, 10, 0, 2_000)], vec![]),
        (vec![point(0, 0, 0, 0, 0)], vec![shade.clone()]),
        (
            vec![point(0, 5, 0, 5, 0), point(1, 5, 0, 5, 0)],
            vec![shade.clone()],
        ),
        (
            vec![
                point(0, 10, 10, 0, 2_000),
                point(1, 10, 0, 10, 0),
                point(2, 10, 10, 0, 3_000),
                point(3, 10, 10, 0, 3_100),
            ],
            vec![shade],
        ),
    ] {
        let svg = timeline_svg("degenerate", &points, &shades);
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert_eq!(count(&svg, "<svg"), count(&svg, "</svg>"));
    }
}

#[test]
fn fault_windows_map_to_timeline_seconds() {
    let faults = [
        fault("burst", vec![(12.0, 22.0), (0.5, 1.5), (1.0, 4.0)]),
        fault("late", vec![(25.0, 40.0), (50.0, 70.0), (f64::NAN, 3.0)]),
    ];
    let shades = fault_shades(&faults, 2.0, 30.0);
    let got: Vec<(&str, f64, f64)> = shades
        .iter()
        .map(|s| (s.name.as_str(), s.start, s.end))
        .collect();
    assert_eq!(
        got,
        [
            // Shifted by the 2 s warmup.
            ("burst", 10.0, 20.0),
            // (0.5, 1.5) lies wholly in warmup and is left out; this one starts in it.
            ("burst", 0.0, 2.0),
            // Clipped to the end of the timeline; (50, 70) lies after it.
            ("late", 23.0, 30.0),
        ]
    );
    // A nonsense warmup counts as none.
    let unshifted = fault_shades(&faults[..1], f64::NAN, 30.0);
    assert_eq!((unshifted[0].start, unshifted[0].end), (12.0, 22.0));
    assert_eq!(span(&[]), 1.0);
    assert_eq!(span(&[point(0, 1, 1, 0, 1), point(29, 1, 1, 0, 1)]), 30.0);
}
