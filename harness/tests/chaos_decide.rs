//! `[policy] decide`: a chaos scenario decides on what it tests. The error rate outside
//! fault windows is counted from each step's per-second counts (by intended start), rows
//! that do not decide are shown and count for nothing, and a comparison with no deciding
//! row is never GO. Records are built the way a real run is (outcomes through
//! `Recorder`), so nothing depends on timing.

mod common;

use std::time::Duration;

use common::records::meta;
use harness::compare::{Comparison, Metric, Noise, Side, Verdict, compare};
use harness::load::{Outcome, OutcomeClass};
use harness::policy::{Policy, RowKind};
use harness::record::{FaultRecord, Recorder, RunRecord};

/// Arrivals per second of the synthetic runs.
const RATE: u64 = 1_000;
/// Seconds measured.
const SECONDS: u64 = 12;
/// The fault window, seconds since the run started: [4, 6).
const FAULT: (f64, f64) = (4.0, 6.0);

/// One run of `path`: `RATE`/s for `SECONDS` s at 5 ms; every request started in the
/// fault window fails with probability `during` (every k-th), and `outside` requests
/// fail at evenly spread times outside it (after the settle second).
fn run(path: &str, during_every: u64, outside: u64) -> RunRecord {
    let mut m = meta(path, 1);
    m.steps = vec![("flow".into(), "step".into())];
    let mut recorder = Recorder::new(1, Duration::ZERO);
    let total = RATE * SECONDS;
    let outside_every = total.checked_div(outside).unwrap_or(0);
    for id in 0..total {
        let intended = Duration::from_micros(id * 1_000_000 / RATE);
        let t = intended.as_secs_f64();
        let in_fault = t >= FAULT.0 && t < FAULT.1;
        let in_settle = t >= FAULT.1 && t < FAULT.1 + 1.0;
        let failed = if in_fault {
            during_every > 0 && id % during_every == 0
        } else {
            !in_settle && outside_every > 0 && id % outside_every == 0
        };
        recorder.record_sent(intended);
        recorder.record(&Outcome {
            step: 0,
            intended,
            latency: Duration::from_millis(5),
            class: if failed {
                OutcomeClass::Http5xx
            } else {
                OutcomeClass::Ok
            },
            status: Some(if failed { 503 } else { 200 }),
            request_id: id,
        });
    }
    let mut record = RunRecord::build(recorder.finish(), m);
    record.faults = vec![fault()];
    record
}

fn fault() -> FaultRecord {
    serde_json::from_str(&format!(
        r#"{{"name":"outage","kind":"http_error","at":"dependency","probability":1.0,"per":"request","windows":[[{},{}]],"attempts":0,"injected":0}}"#,
        FAULT.0, FAULT.1
    ))
    .expect("a fault record")
}

fn side(label: &str, record: RunRecord) -> Side {
    Side {
        label: label.into(),
        records: vec![record],
        noise: Noise::default(),
    }
}

fn chaos_policy() -> Policy {
    Policy {
        decide: vec![RowKind::Expectations, RowKind::ErrorRateOutsideFaults],
        ..Policy::default()
    }
}

fn decide(base: RunRecord, candidate: RunRecord, policy: &Policy) -> Comparison {
    compare(
        &side("legacy", base),
        &side("dagger", candidate),
        policy,
        Vec::new(),
    )
}

fn outside_row(c: &Comparison) -> &harness::compare::Row {
    c.rows
        .iter()
        .find(|r| r.metric == Metric::ErrorRateOutsideFaults)
        .expect("an error row outside faults")
}

#[test]
fn one_repetition_of_a_chaos_run_reaches_go_on_what_it_tests() {
    // Legacy fails every request during the outage, Dagger (a breaker) fails them too:
    // the whole-run error rows cannot be proven within 0.1 point, the latency rows rest
    // on assumed noise with one run a side. Neither decides.
    let c = decide(run("legacy", 1, 0), run("dagger", 1, 0), &chaos_policy());
    assert_eq!(c.verdict, Verdict::Go, "{}", c.reason);
    let row = outside_row(&c);
    assert!(row.decides);
    assert_eq!(row.verdict, Verdict::Go, "{}", row.reason);
    // 12 s minus the 2 s window and its 1 s settle, at 1000/s.
    assert!(
        row.reason
            .contains("9000 v 9000 requests outside fault windows"),
        "{}",
        row.reason
    );
    for other in c
        .rows
        .iter()
        .filter(|r| r.metric != Metric::ErrorRateOutsideFaults)
    {
        assert!(!other.decides, "{other:?}");
        assert!(other.reason.starts_with("shown only"), "{}", other.reason);
    }
    let json = serde_json::to_value(&c).expect("JSON");
    assert_eq!(json["policy"]["decide"][1], "error_rate_outside_faults");
    // The same runs under the default policy: the error row of the whole run decides
    // and cannot be proven, so the scenario is not GO.
    let default = decide(run("legacy", 1, 0), run("dagger", 1, 0), &Policy::default());
    assert_ne!(default.verdict, Verdict::Go, "{}", default.reason);
    assert!(
        default
            .rows
            .iter()
            .all(|r| r.metric != Metric::ErrorRateOutsideFaults),
        "the row exists only when it decides"
    );
}

#[test]
fn errors_outside_the_fault_windows_roll_back() {
    // 1% of the requests outside the window fail on the candidate only.
    let c = decide(run("legacy", 1, 0), run("dagger", 1, 120), &chaos_policy());
    let row = outside_row(&c);
    assert_eq!(row.verdict, Verdict::Rollback, "{}", row.reason);
    assert_eq!(c.verdict, Verdict::Rollback, "{}", c.reason);
}

#[test]
fn errors_inside_the_settle_time_are_the_faults() {
    // Every request in the window and nothing outside it fails; widening the settle to
    // 0 s moves nothing because the settle second had no failures either.
    let policy = Policy {
        fault_settle: harness::units::HumanDuration(Duration::ZERO),
        ..chaos_policy()
    };
    let c = decide(run("legacy", 1, 0), run("dagger", 1, 0), &policy);
    let row = outside_row(&c);
    assert!(row.reason.contains("10000 v 10000"), "{}", row.reason);
    assert_eq!(row.verdict, Verdict::Go, "{}", row.reason);
}

#[test]
fn too_few_requests_outside_the_windows_is_inconclusive_never_go() {
    // A window that covers the whole run leaves nothing outside it.
    let mut base = run("legacy", 0, 0);
    let mut candidate = run("dagger", 0, 0);
    for r in [&mut base, &mut candidate] {
        r.faults[0].windows = vec![(0.0, SECONDS as f64)];
    }
    let c = decide(base, candidate, &chaos_policy());
    let row = outside_row(&c);
    assert_eq!(row.verdict, Verdict::Inconclusive, "{}", row.reason);
    assert!(
        row.reason.contains("no request outside fault windows"),
        "{}",
        row.reason
    );
    assert_eq!(c.verdict, Verdict::Inconclusive, "{}", c.reason);
}

#[test]
fn records_without_per_second_counts_cannot_decide_outside_faults() {
    let mut base = run("legacy", 0, 0);
    let mut candidate = run("dagger", 0, 0);
    for r in [&mut base, &mut candidate] {
        r.steps[0].seconds.clear();
    }
    let c = decide(base, candidate, &chaos_policy());
    let row = outside_row(&c);
    assert_eq!(row.verdict, Verdict::Inconclusive, "{}", row.reason);
    assert!(
        row.reason.contains("no per-second counts"),
        "{}",
        row.reason
    );
    assert_ne!(c.verdict, Verdict::Go);
}

#[test]
fn with_no_deciding_row_a_comparison_is_never_go() {
    // Expectations only, and no [expect]: nothing decides.
    let policy = Policy {
        decide: vec![RowKind::Expectations],
        ..Policy::default()
    };
    let c = decide(run("legacy", 0, 0), run("dagger", 0, 0), &policy);
    assert_eq!(c.verdict, Verdict::NoGo, "{}", c.reason);
    assert!(c.rows.iter().all(|r| !r.decides));
}

#[test]
fn decide_is_validated() {
    let empty = Policy {
        decide: Vec::new(),
        ..Policy::default()
    };
    assert!(empty.validate().is_err());
    let twice = Policy {
        decide: vec![RowKind::Latency, RowKind::Latency],
        ..Policy::default()
    };
    let message = twice.validate().expect_err("a duplicate");
    assert!(message.contains("`latency` twice"), "{message}");
}
