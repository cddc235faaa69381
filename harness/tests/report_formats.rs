//! Every report format of a fixed comparison: insta snapshots of the table, Markdown,
//! JUnit and JSON; `result.json` checked against the committed JSON Schema; hostile
//! scenario and step names rendered inert; the report folder written by `harness
//! compare`, re-rendered by `harness report`, and a bad `--out` refused before any load.
//!
//! Records are built the way a real run is (outcomes through `Recorder`, then
//! `RunRecord::build`) from seeded latencies, and the document's clock, version and
//! environment are pinned, so every byte of every snapshot is deterministic.

mod common;

use common::harness;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use harness::compare::{
    Comparison, ExpectationRow, Noise, Side, Verdict, compare, judge_expectations,
};
use harness::load::{Outcome, OutcomeClass};
use harness::policy::Policy;
use harness::record::{FaultRecord, Recorder, RunMeta, RunRecord};
use harness::report::markdown::escape as md_escape;
use harness::report::{Format, RESULT_SCHEMA, ReportDocument, ReportManager, reporter};
use harness::resilience::{FaultWindow, Observation, PhaseStats};
use harness::scenario::ExpectSpec;
use harness::units::{HumanDuration, Probability};
use predicates::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------
// A fixed document
// ---------------------------------------------------------------------------------------

/// Enough requests a side that zero errors is proven within the 0.1-point margin.
const N: u64 = 4_000;

/// The shared test run, as repetition 1 of `scenario` (hash `hash`), started at a fixed time.
fn meta(scenario: &str, hash: &str, path: &str) -> RunMeta {
    let mut meta = common::records::meta(path, 1);
    meta.scenario.name = scenario.into();
    meta.scenario.hash = hash.into();
    meta.started_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    meta
}

/// `(flow, step, ok requests, latency µs)` per step; latencies ±2% around the centre.
type Steps<'a> = &'a [(&'a str, &'a str, u64, f64)];

fn record(mut meta: RunMeta, steps: Steps, seed: u64) -> RunRecord {
    meta.steps = steps
        .iter()
        .map(|(f, s, _, _)| (f.to_string(), s.to_string()))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut recorder = Recorder::new(steps.len(), Duration::ZERO);
    let mut id = 0u64;
    for (index, (_, _, count, latency_us)) in steps.iter().enumerate() {
        let step = u16::try_from(index).expect("few steps");
        for _ in 0..*count {
            id += 1;
            let intended = Duration::from_micros(id * 100);
            let jitter = 0.02 * (2.0 * rng.random::<f64>() - 1.0);
            recorder.record_sent(intended);
            recorder.record(&Outcome {
                step,
                intended,
                latency: Duration::from_nanos((latency_us * (1.0 + jitter) * 1_000.0) as u64),
                class: OutcomeClass::Ok,
                status: Some(200),
                request_id: id,
            });
        }
    }
    RunRecord::build(recorder.finish(), meta)
}

fn side(label: &str, records: Vec<RunRecord>) -> Side {
    Side {
        label: label.into(),
        records,
        noise: Noise::default(),
    }
}

/// The base side, with quiet run-to-run noise as a baseline's model would give it.
fn base_side(label: &str, records: Vec<RunRecord>) -> Side {
    Side {
        noise: common::records::quiet_noise(&records),
        ..side(label, records)
    }
}

/// Pins everything that depends on the clock, the build or the machine.
fn pinned(
    comparison: Comparison,
    base: Vec<RunRecord>,
    candidate: Vec<RunRecord>,
) -> ReportDocument {
    let mut doc = ReportDocument::new(
        comparison,
        base,
        candidate,
        "harness compare --baseline base.json --candidate candidate.json".into(),
        vec!["base.json".into(), "candidate.json".into()],
    );
    doc.generated_at = "2025-06-15T12:00:00Z".into();
    doc.harness_version = "0.1.0".into();
    doc.environment = Some(common::records::environment());
    doc
}

/// ROLLBACK: `wf/execute` equal on both sides, `wf/status` 2.5× slower on the
/// candidate, one fault, one met and one unmet resilience expectation.
fn rollback_doc() -> ReportDocument {
    let hash = "ab".repeat(32);
    let base = vec![record(
        meta("demo", &hash, "legacy"),
        &[("wf", "execute", N, 10_000.0), ("wf", "status", N, 2_000.0)],
        1,
    )];
    let mut cand = record(
        meta("demo", &hash, "dagger"),
        &[("wf", "execute", N, 10_000.0), ("wf", "status", N, 5_000.0)],
        2,
    );
    cand.faults.push(FaultRecord {
        name: "executor-outage".into(),
        kind: "http_error".into(),
        at: "dependency".into(),
        probability: 1.0,
        per: "request".into(),
        windows: vec![(1.5, 2.5)],
        attempts: 300,
        injected: 150,
    });
    cand.resilience.push(observation());
    let candidate = vec![cand];
    let comparison = compare(
        &base_side("legacy (base.json)", base.clone()),
        &side("dagger (candidate.json)", candidate.clone()),
        &Policy::default(),
        Vec::new(),
    )
    .with_expectations(vec![
        ExpectationRow {
            path: "dagger".into(),
            expectation: "circuit_opens_within".into(),
            threshold: "1s".into(),
            critical: true,
            observed: "420ms".into(),
            other_path: Some(("legacy".into(), "never".into())),
            windows: 1,
            verdict: Verdict::Go,
            reason: "circuit_opens_within: opened after 420ms ≤ 1s".into(),
        },
        ExpectationRow {
            path: "dagger".into(),
            expectation: "max_error_rate_during".into(),
            threshold: "5.000%".into(),
            critical: false,
            observed: "12.500%".into(),
            other_path: Some(("legacy".into(), "50.000%".into())),
            windows: 1,
            verdict: Verdict::NoGo,
            reason: "max_error_rate_during: 12.500% > 5.000%".into(),
        },
    ]);
    pinned(comparison, base, candidate)
}

/// What the candidate's breaker did during the outage.
fn observation() -> Observation {
    let phase = |requests: u64, errors: u64, p50_ms: u64| PhaseStats {
        requests,
        errors,
        error_rate: errors as f64 / requests as f64,
        p50: Some(Duration::from_millis(p50_ms)),
        p99: Some(Duration::from_millis(p50_ms * 3)),
    };
    Observation {
        window: FaultWindow {
            name: "executor-outage".into(),
            start: Duration::from_millis(1_500),
            end: Duration::from_millis(2_500),
        },
        before: phase(150, 0, 10),
        during: phase(150, 150, 2),
        after: phase(150, 0, 10),
        amplification: Some(0.4),
        amplification_before: Some(1.0),
        time_to_open: Some(Duration::from_millis(420)),
        fail_fast_p50: Some(Duration::from_micros(800)),
        fail_fast_p99: Some(Duration::from_millis(2)),
        probe_rate: Some(3.0),
        time_to_recover: None,
        injected_failures: 60,
        service_failures: 90,
        unattributed_attempts: 0,
        attempts_during: 60,
        amplification_unattributed: Some(0.4),
        breaker_openings: 1,
        retries_during: None,
    }
}

/// Expectations judged on runs whose fault window could not be attributed (the service
/// forwards no request id): the join-based ones are INCONCLUSIVE, the others judged.
fn unattributed_doc() -> ReportDocument {
    let hash = "ab".repeat(32);
    let steps: Steps = &[("wf", "execute", N, 10_000.0)];
    let base = vec![record(meta("demo", &hash, "legacy"), steps, 1)];
    let mut cand = record(meta("demo", &hash, "dagger"), steps, 2);
    cand.resilience.push(Observation {
        unattributed_attempts: 150,
        attempts_during: 150,
        amplification_unattributed: Some(1.0),
        ..observation()
    });
    let candidate = vec![cand];
    let spec = ExpectSpec {
        critical: vec!["circuit_opens_within".into()],
        circuit_opens_within: Some(HumanDuration(Duration::from_secs(1))),
        max_amplification: Some(1.5),
        max_error_rate_during: Some(Probability::new(0.5).expect("valid")),
        ..ExpectSpec::default()
    };
    let records: Vec<RunRecord> = base.iter().chain(&candidate).cloned().collect();
    let rows = judge_expectations(&spec, &records, &["dagger".to_string()], Some("legacy"));
    let comparison = compare(
        &base_side("legacy", base.clone()),
        &side("dagger", candidate.clone()),
        &Policy::default(),
        Vec::new(),
    )
    .with_expectations(rows);
    pinned(comparison, base, candidate)
}

/// A window the proxy could not attribute never gives GO: the breaker expectations say
/// INCONCLUSIVE with the reason in every format (the old reports said GO everywhere),
/// amplification is judged on the labelled aggregate, the error rate as always.
#[test]
fn an_unattributed_fault_window_is_inconclusive_in_every_format() {
    let doc = unattributed_doc();
    let c = &doc.comparison;
    let row = |name: &str| {
        c.expectations
            .iter()
            .find(|e| e.expectation == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(row("circuit_opens_within").verdict, Verdict::Inconclusive);
    assert!(
        row("circuit_opens_within")
            .reason
            .contains("150 of 150 dependency attempts")
    );
    assert_eq!(row("max_amplification").verdict, Verdict::Go);
    assert!(row("max_amplification").observed.contains("unattributed"));
    assert_eq!(row("max_error_rate_during").verdict, Verdict::NoGo);
    assert!(c.invalid.is_empty());
    assert_eq!(c.verdict, Verdict::Inconclusive, "{}", c.reason);
    assert!(c.reason.contains("could not be judged"), "{}", c.reason);
    for format in [Format::Table, Format::Markdown, Format::Junit, Format::Html] {
        let text = render(format, &doc);
        assert!(text.contains("INCONCLUSIVE"), "{format:?}");
        assert!(
            text.contains("does not propagate `traceparent`")
                || text.contains("does not propagate <code>traceparent</code>")
                || text.contains("does not propagate \\`traceparent\\`")
                || text.contains("does not propagate &#96;traceparent&#96;")
                || text.contains("does not propagate &#x60;traceparent&#x60;"),
            "{format:?} does not say why:\n{text}"
        );
    }
    let junit = render(Format::Junit, &doc);
    assert!(junit.contains("type=\"INCONCLUSIVE\""), "{junit}");
}

/// INCONCLUSIVE: the candidate measured another version of the scenario.
fn inconclusive_doc() -> ReportDocument {
    let steps: Steps = &[("wf", "execute", 200, 10_000.0)];
    let base = vec![record(meta("demo", &"ab".repeat(32), "legacy"), steps, 1)];
    let candidate = vec![record(meta("demo", &"cd".repeat(32), "dagger"), steps, 2)];
    let comparison = compare(
        &base_side("legacy", base.clone()),
        &side("dagger", candidate.clone()),
        &Policy::default(),
        Vec::new(),
    );
    pinned(comparison, base, candidate)
}

/// Names that would inject markup if a reporter forgot to escape them.
const HOSTILE_SCENARIO: &str = "<script>alert(1)</script> \"quotes\" & | pipe\nnewline";
const HOSTILE_STEP: &str = "<script>alert(1)</script>|\"quotes\"&\nnext`tick`";

fn hostile_doc() -> ReportDocument {
    let hash = "ab".repeat(32);
    let steps: Steps = &[("wf", HOSTILE_STEP, 300, 10_000.0)];
    let base = vec![record(meta(HOSTILE_SCENARIO, &hash, "legacy"), steps, 1)];
    let candidate = vec![record(meta(HOSTILE_SCENARIO, &hash, "dagger"), steps, 2)];
    let comparison = compare(
        &base_side("legacy <b>", base.clone()),
        &side("dagger & co", candidate.clone()),
        &Policy::default(),
        Vec::new(),
    );
    pinned(comparison, base, candidate)
}

/// The rollback document with a parity result (a dropped field whose example values are
/// hostile) and a span explanation: every optional section of a comparison.
fn parity_doc() -> ReportDocument {
    use harness::compare::{OperationChange, SpanExplanation, judge_parity};
    use harness::parity::{
        DiffKind, Example, FieldCount, FieldDiff, PARITY_SCHEMA, ParityRecord, StepParity,
    };
    let example = |id: u64| Example {
        request_id: id,
        at: "/artifacts".into(),
        kind: DiffKind::Missing,
        base: Some(format!("[\"{HOSTILE_STEP}\"]")),
        candidate: None,
    };
    let record = ParityRecord {
        schema: PARITY_SCHEMA.into(),
        base: "legacy".into(),
        candidate: "dagger".into(),
        samples: 40,
        complete: true,
        steps: vec![
            StepParity {
                step: "wf/execute".into(),
                safe: false,
                compared: 40,
                noise_pairs: 39,
                skipped: 0,
                noise: vec![FieldCount {
                    field: "/created_at".into(),
                    count: 39,
                    missing: 0,
                }],
                fields: vec![FieldDiff {
                    field: "/artifacts".into(),
                    count: 40,
                    missing: 40,
                    examples: vec![example(1), example(5)],
                }],
                untracked: 0,
            },
            StepParity {
                step: "wf/status".into(),
                safe: true,
                compared: 40,
                noise_pairs: 40,
                skipped: 0,
                noise: Vec::new(),
                fields: Vec::new(),
                untracked: 0,
            },
        ],
    };
    let mut doc = rollback_doc();
    doc.comparison = doc.comparison.with_parity(judge_parity(
        &record,
        &harness::scenario::ParitySpec::default(),
    ));
    doc.comparison.explanation = Some(SpanExplanation {
        rows: vec!["wf/execute p50 ROLLBACK".into()],
        operations: vec![OperationChange {
            name: "Container.stdout".into(),
            base_p50_us: Some(1_200),
            candidate_p50_us: Some(3_900_000),
            base_per_run: 20.0,
            candidate_per_run: 20.0,
            base_cache_hits: Some(0.95),
            candidate_cache_hits: Some(0.0),
            time_change_us: 7.8e7,
            base_lazy: false,
            candidate_lazy: false,
        }],
        caveats: vec!["candidate: the spans of 1 of 20 engine steps did not arrive".into()],
    });
    doc
}

#[test]
fn parity_and_span_sections_render_in_every_format() {
    let doc = parity_doc();
    assert_eq!(doc.comparison.verdict, Verdict::Rollback);
    let table = render(Format::Table, &doc);
    assert!(
        table.contains("parity (40 sampled iteration(s))"),
        "{table}"
    );
    assert!(table.contains("/artifacts (critical)"), "{table}");
    assert!(
        table.contains("request 5, /artifacts missing: base"),
        "{table}"
    );
    assert!(
        table.contains("noise (base vs base, not counted): wf/execute: /created_at (39 of 39)"),
        "{table}"
    );
    assert!(
        table.contains("Container.stdout: p50 1.2 ms → 3.9 s, cache hits 95% → 0%"),
        "{table}"
    );
    let md = render(Format::Markdown, &doc);
    assert!(md.contains("### Functional parity"), "{md}");
    assert!(md.contains("| 5 | `/artifacts` |"), "{md}");
    assert!(
        md.contains("### Why it is slower: the engine's spans"),
        "{md}"
    );
    let junit = render(Format::Junit, &doc);
    let parsed = parse_xml(&junit).expect("junit parses");
    assert!(!parsed.is_empty());
    assert!(
        junit.contains("classname=\"demo/parity/wf/execute\" name=\"/artifacts\""),
        "{junit}"
    );
    assert!(
        junit.contains("classname=\"demo/parity/wf/status\" name=\"(every field)\"/>"),
        "{junit}"
    );
    let html = render(Format::Html, &doc);
    assert!(html.contains("<section id=\"parity\">"));
    assert!(html.contains("<section id=\"spans\">"));
    assert!(
        !html.to_lowercase().contains("<script"),
        "raw <script in report.html"
    );
}

fn render(format: Format, doc: &ReportDocument) -> String {
    let bytes = reporter(format, false).render(doc).expect("renders");
    String::from_utf8(bytes).expect("UTF-8")
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

#[test]
fn the_fixed_document_is_a_rollback_with_every_kind_of_row() {
    let doc = rollback_doc();
    assert_eq!(
        doc.comparison.verdict,
        Verdict::Rollback,
        "{}",
        doc.comparison.reason
    );
    let verdicts: Vec<Verdict> = doc.comparison.rows.iter().map(|r| r.verdict).collect();
    assert!(verdicts.contains(&Verdict::Go), "{verdicts:?}");
    assert!(verdicts.contains(&Verdict::Rollback), "{verdicts:?}");
    assert_eq!(inconclusive_doc().comparison.verdict, Verdict::Inconclusive);
}

#[test]
fn table_snapshot() {
    insta::assert_snapshot!("table", render(Format::Table, &rollback_doc()));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("markdown", render(Format::Markdown, &rollback_doc()));
}

#[test]
fn markdown_inconclusive_snapshot() {
    insta::assert_snapshot!(
        "markdown_inconclusive",
        render(Format::Markdown, &inconclusive_doc())
    );
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!("junit", render(Format::Junit, &rollback_doc()));
}

#[test]
fn junit_inconclusive_snapshot() {
    insta::assert_snapshot!(
        "junit_inconclusive",
        render(Format::Junit, &inconclusive_doc())
    );
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!("json", render(Format::Json, &rollback_doc()));
}

// ---------------------------------------------------------------------------------------
// The table's colour
// ---------------------------------------------------------------------------------------

#[test]
fn the_table_colours_verdict_words_only_when_asked() {
    let doc = rollback_doc();
    let plain = render(Format::Table, &doc);
    assert!(!plain.contains('\x1b'), "no colour without a terminal");
    let coloured = String::from_utf8(reporter(Format::Table, true).render(&doc).expect("renders"))
        .expect("UTF-8");
    assert!(coloured.contains("\x1b[1;31mROLLBACK\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[32mGO\x1b[0m"), "{coloured}");
    // Colour is the only difference: stripping it gives the plain table back.
    let stripped = strip_ansi(&coloured);
    assert_eq!(stripped, plain);
    // The policy line names verdicts too, but it is not a verdict: it stays plain.
    let policy = coloured.lines().last().expect("policy line");
    assert!(!policy.contains('\x1b'), "{policy}");
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Escaping
// ---------------------------------------------------------------------------------------

/// A step name with terminal controls: an escape sequence (clear the screen), a carriage
/// return and a right-to-left override, as a hand-edited record could carry.
const TERMINAL_STEP: &str = "exec\u{1b}[2J\rute\u{202e}gnp.exe";

/// Whether `text` holds a character that would act on a terminal (line breaks aside).
fn acts_on_a_terminal(text: &str) -> bool {
    text.chars()
        .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[test]
fn terminal_controls_in_names_reach_the_terminal_escaped() {
    let hash = "ab".repeat(32);
    let steps: Steps = &[("wf", TERMINAL_STEP, 300, 10_000.0)];
    let scenario = "demo\u{1b}]0;title\u{7}";
    let base = vec![record(meta(scenario, &hash, "legacy"), steps, 1)];
    let candidate = vec![record(meta(scenario, &hash, "dagger"), steps, 2)];
    let comparison = compare(
        &base_side("legacy", base.clone()),
        &side("dagger", candidate.clone()),
        &Policy::default(),
        Vec::new(),
    );
    let doc = pinned(comparison, base, candidate);
    let plain = render(Format::Table, &doc);
    assert!(!acts_on_a_terminal(&plain), "{plain:?}");
    assert!(
        plain.contains("wf/exec\\u{1b}[2J\\rute\\u{202e}gnp.exe"),
        "{plain}"
    );
    // With colour, the verdict colours are the only escape sequences.
    let coloured = String::from_utf8(reporter(Format::Table, true).render(&doc).expect("renders"))
        .expect("UTF-8");
    assert_eq!(strip_ansi(&coloured), plain);
    let runs = harness::report::run_summary_table(&doc.base_runs.iter().collect::<Vec<_>>());
    assert!(!acts_on_a_terminal(&runs), "{runs:?}");
    assert!(runs.contains("\\u{1b}[2J"), "{runs}");
    let md = render(Format::Markdown, &doc);
    assert!(!acts_on_a_terminal(&md), "{md:?}");
}

#[test]
fn hostile_names_render_inert_in_markdown() {
    let md = render(Format::Markdown, &hostile_doc());
    assert!(!md.to_lowercase().contains("<script"), "{md}");
    assert!(!md.contains("<b>"), "{md}");
    assert!(md.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{md}");
    assert!(md.contains("dagger &amp; co"), "{md}");
    // Every table line keeps its columns: no name adds a cell or ends a row early.
    let table: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| step |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(table.len(), 2 + hostile_doc().comparison.rows.len(), "{md}");
    for line in &table {
        assert_eq!(unescaped_pipes(line), 11, "{line}");
    }
    // The step shows in full: the newline became <br>, the backticks stayed text.
    assert!(
        table[2].starts_with(&format!("| {} |", md_escape(&format!("wf/{HOSTILE_STEP}")))),
        "{}",
        table[2]
    );
    assert!(table[2].contains("<br>next\\`tick\\`"), "{}", table[2]);
}

#[test]
fn hostile_names_render_inert_in_html() {
    let html = render(Format::Html, &hostile_doc());
    assert!(
        !html.to_lowercase().contains("<script"),
        "raw <script in report.html"
    );
    assert!(!html.contains("<b>"), "raw <b> in report.html");
}

/// Pipes that end a cell: those not escaped by a backslash.
fn unescaped_pipes(line: &str) -> usize {
    let mut count = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => count += 1,
            _ => {}
        }
    }
    count
}

#[test]
fn hostile_names_render_inert_in_junit_and_parse_back() {
    let doc = hostile_doc();
    let xml = render(Format::Junit, &doc);
    assert!(!xml.to_lowercase().contains("<script"), "{xml}");
    let elements = parse_xml(&xml).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{xml}"));
    let cases: Vec<&Element> = elements.iter().filter(|e| e.name == "testcase").collect();
    // Decision rows, plus the validity case.
    assert_eq!(cases.len(), doc.comparison.rows.len() + 1);
    // The attribute values decode back to the names exactly.
    let classname = format!("{HOSTILE_SCENARIO}/wf/{HOSTILE_STEP}");
    assert!(
        cases
            .iter()
            .any(|c| c.attr("classname") == Some(classname.as_str())),
        "{xml}"
    );
    let suite = elements
        .iter()
        .find(|e| e.name == "testsuite")
        .expect("a testsuite");
    assert_eq!(suite.attr("tests"), Some(cases.len().to_string().as_str()));
}

#[test]
fn junit_counts_failures_and_fails_validity_when_inconclusive() {
    let xml = render(Format::Junit, &rollback_doc());
    let elements = parse_xml(&xml).expect("well-formed");
    let suite = elements
        .iter()
        .find(|e| e.name == "testsuite")
        .expect("suite");
    let failures = elements.iter().filter(|e| e.name == "failure").count();
    assert_eq!(suite.attr("failures"), Some(failures.to_string().as_str()));
    assert!(
        elements
            .iter()
            .any(|e| e.name == "failure" && e.attr("type") == Some("ROLLBACK"))
    );
    assert!(
        elements
            .iter()
            .any(|e| e.name == "failure" && e.attr("type") == Some("NO-GO"))
    );

    let xml = render(Format::Junit, &inconclusive_doc());
    let elements = parse_xml(&xml).expect("well-formed");
    let validity = elements
        .iter()
        .position(|e| e.name == "testcase" && e.attr("name") == Some("validity"))
        .expect("a validity test case");
    let failure = &elements[validity + 1];
    assert_eq!(failure.name, "failure", "{xml}");
    assert_eq!(failure.attr("type"), Some("INCONCLUSIVE"));
    assert!(
        failure
            .attr("message")
            .is_some_and(|m| m.contains("scenario hash")),
        "{xml}"
    );
}

/// An element of the tiny XML reader: its name and decoded attributes.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Checks what the JUnit writer relies on: one root, balanced tags, quoted attributes
/// without `<`, and only known entities. Returns the elements in document order.
fn parse_xml(xml: &str) -> Result<Vec<Element>, String> {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .ok_or("no XML declaration")?;
    let mut elements = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        decode(&rest[..open])?;
        if stack.is_empty() && !rest[..open].trim().is_empty() {
            return Err(format!("text outside the root: {:?}", &rest[..open]));
        }
        let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(top) if top == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("bad element name {name:?}"));
        }
        let mut attrs = Vec::new();
        let mut a = tag[name_end..].trim_start();
        while !a.is_empty() {
            let eq = a
                .find("=\"")
                .ok_or(format!("unquoted attribute in {tag:?}"))?;
            let key = &a[..eq];
            let value_end = a[eq + 2..].find('"').ok_or("unterminated value")? + eq + 2;
            attrs.push((key.to_string(), decode(&a[eq + 2..value_end])?));
            a = a[value_end + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        elements.push(Element {
            name: name.to_string(),
            attrs,
        });
        if !empty {
            stack.push(name.to_string());
        }
    }
    if !stack.is_empty() || roots != 1 || !rest.trim().is_empty() {
        return Err(format!("unbalanced: open {stack:?}, {roots} root(s)"));
    }
    Ok(elements)
}

/// Decodes entities and character references; a raw `<` or an unknown entity is an error.
fn decode(text: &str) -> Result<String, String> {
    if text.contains('<') {
        return Err(format!("raw < in {text:?}"));
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').ok_or("unterminated entity")? + amp;
        let entity = &rest[amp + 1..semi];
        let decoded = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => entity
                .strip_prefix('#')
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(char::from_u32)
                .ok_or(format!("unknown entity &{entity};"))?,
        };
        out.push(decoded);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// JSON Schema
// ---------------------------------------------------------------------------------------

fn schema() -> serde_json::Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/result.schema.json");
    serde_json::from_str(&std::fs::read_to_string(&file).expect("schema committed"))
        .expect("schema is JSON")
}

fn validation_errors(instance: &serde_json::Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid 2020-12 schema");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn result_json_of_every_fixed_document_matches_the_schema() {
    for doc in [
        rollback_doc(),
        inconclusive_doc(),
        hostile_doc(),
        parity_doc(),
    ] {
        let value: serde_json::Value =
            serde_json::from_str(&render(Format::Json, &doc)).expect("JSON");
        let errors = validation_errors(&value);
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

#[test]
fn a_wrong_verdict_or_schema_name_fails_validation() {
    let mut value: serde_json::Value =
        serde_json::from_str(&render(Format::Json, &rollback_doc())).expect("JSON");
    value["comparison"]["verdict"] = "MAYBE".into();
    assert!(!validation_errors(&value).is_empty());

    let mut value: serde_json::Value =
        serde_json::from_str(&render(Format::Json, &rollback_doc())).expect("JSON");
    value["comparison"]["rows"][0]["verdict"] = "go".into();
    assert!(!validation_errors(&value).is_empty());

    let mut value: serde_json::Value =
        serde_json::from_str(&render(Format::Json, &rollback_doc())).expect("JSON");
    value["schema"] = "harness-result/v2".into();
    assert!(!validation_errors(&value).is_empty());
}

// ---------------------------------------------------------------------------------------
// The report manager
// ---------------------------------------------------------------------------------------

#[test]
fn the_manager_creates_targets_up_front_and_writes_every_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("reports").join("demo");
    let formats = [Format::Json, Format::Markdown, Format::Junit];
    let manager = ReportManager::new(&out, &formats).expect("creates");
    // Before anything ran, the files exist, so a bad path would already have failed.
    for name in ["result.json", "summary.md", "junit.xml"] {
        assert!(out.join(name).is_file(), "{name} created up front");
    }
    let written = manager.write(&rollback_doc()).expect("writes");
    assert_eq!(
        written,
        vec![
            out.join("result.json"),
            out.join("summary.md"),
            out.join("junit.xml")
        ]
    );
    let md = std::fs::read_to_string(out.join("summary.md")).expect("written");
    assert_eq!(md, render(Format::Markdown, &rollback_doc()));
}

#[test]
fn the_manager_refuses_a_folder_under_a_file_and_removes_unused_placeholders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a folder").expect("write");
    let error = ReportManager::new(&blocker.join("out"), &[Format::Json]).expect_err("refused");
    assert!(
        error.to_string().contains("choose another --out"),
        "{error}"
    );

    // Dropped before writing (the command failed): no empty result.json is left behind.
    let out = dir.path().join("out");
    drop(ReportManager::new(&out, &[Format::Json, Format::Junit]).expect("creates"));
    assert!(!out.join("result.json").exists());
    assert!(!out.join("junit.xml").exists());
}

// ---------------------------------------------------------------------------------------
// Through the binary
// ---------------------------------------------------------------------------------------

/// Writes the fixed document's runs as run records; returns (base, candidate) files.
fn record_files(dir: &Path) -> (PathBuf, PathBuf) {
    let doc = rollback_doc();
    let base = dir.join("legacy-r1.json");
    let candidate = dir.join("dagger-r1.json");
    doc.base_runs[0].write_atomic(&base).expect("write base");
    doc.candidate_runs[0]
        .write_atomic(&candidate)
        .expect("write candidate");
    (base, candidate)
}

#[test]
fn compare_writes_the_report_folder_and_report_re_renders_it_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, candidate) = record_files(dir.path());
    let out = dir.path().join("out");
    harness()
        .args(["compare", "--baseline"])
        .arg(&base)
        .arg("--candidate")
        .arg(&candidate)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(4)
        .stdout(predicate::str::contains("ROLLBACK").and(predicate::str::contains("\x1b").not()))
        .stderr(predicate::str::contains("result.json"));
    assert!(
        !out.join("comparison.json").exists(),
        "replaced by result.json"
    );

    // A real result.json, made by the command, matches the schema.
    let result = out.join("result.json");
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).expect("written")).expect("JSON");
    let errors = validation_errors(&value);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(value["schema"], RESULT_SCHEMA);
    assert_eq!(value["comparison"]["verdict"], "ROLLBACK");
    let command = value["command"].as_str().unwrap_or_default();
    assert!(
        command.starts_with("harness compare --baseline "),
        "{command}"
    );

    // `harness report` renders the same bytes from result.json alone.
    for (format, file) in [
        ("markdown", "summary.md"),
        ("junit", "junit.xml"),
        ("json", "result.json"),
        ("html", "report.html"),
    ] {
        let output = harness()
            .args(["report", "--format", format])
            .arg(&result)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let expected = std::fs::read(out.join(file)).expect("written");
        assert_eq!(output.stdout, expected, "{format}");
    }
    let copy = dir.path().join("elsewhere").join("summary.md");
    harness()
        .args(["report", "--format", "markdown", "--out"])
        .arg(&copy)
        .arg(&result)
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read(&copy).expect("written"),
        std::fs::read(out.join("summary.md")).expect("written")
    );
    harness()
        .args(["report", "--format", "table"])
        .arg(&result)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("harness-policy/2"));
}

/// With `--json -` standard output carries the JSON and nothing else; the table goes to
/// standard error.
#[test]
fn compare_json_to_stdout_is_only_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, candidate) = record_files(dir.path());
    let output = harness()
        .args(["compare", "--json", "-", "--baseline"])
        .arg(&base)
        .arg("--candidate")
        .arg(&candidate)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    let value: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("standard output is one JSON document");
    assert_eq!(value["schema"], RESULT_SCHEMA);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("╭") && stderr.contains("ROLLBACK"),
        "{stderr}"
    );
}

/// The same run given twice would count as two repetitions: refused as bad input, with
/// both places named, and nothing decided.
#[test]
fn compare_refuses_the_same_run_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, candidate) = record_files(dir.path());
    let copy = dir.path().join("copy-of-dagger-r1.json");
    std::fs::copy(&candidate, &copy).expect("copy");
    for (baseline, candidates) in [
        (vec![&base], vec![&candidate, &copy]),
        (vec![&base, &base], vec![&candidate]),
        (vec![&candidate], vec![&candidate]),
    ] {
        let mut command = harness();
        command
            .arg("compare")
            .arg("--out")
            .arg(dir.path().join("out"));
        for b in &baseline {
            command.arg("--baseline").arg(b);
        }
        for c in &candidates {
            command.arg("--candidate").arg(c);
        }
        command
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(
                predicate::str::contains("are the same run")
                    .and(predicate::str::contains("drop one")),
            );
    }
}

#[test]
fn report_refuses_a_file_that_is_not_a_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, _) = record_files(dir.path());
    harness()
        .args(["report", "--format", "markdown"])
        .arg(&base)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("harness-run/v1")
                .and(predicate::str::contains("expected \"harness-result/v1\"")),
        );
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").expect("write");
    harness()
        .arg("report")
        .arg(&text)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not JSON"));
    harness()
        .arg("report")
        .arg(dir.path().join("missing.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read"));
}

#[test]
fn a_bad_out_fails_before_any_load_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = common::ScenarioBuilder::new("early")
        .seed(1)
        .rate(50)
        .duration("30s")
        .write(dir.path());
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a folder").expect("write");
    let started = std::time::Instant::now();
    harness()
        .args(["compare", "--quiet", "--out"])
        .arg(blocker.join("out"))
        .arg(&scenario)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("choose another --out")
                .and(predicate::str::contains("running").not()),
        );
    // 5 × 2 runs of 30 s would take minutes; refusing takes well under one.
    assert!(started.elapsed() < Duration::from_secs(20));
}
