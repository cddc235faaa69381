//! Property: outcomes -> recorder -> run record -> JSON -> run record keeps every count and
//! every percentile, and the counts and percentiles are those of the outcomes themselves.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use harness::load::{Outcome, OutcomeClass, StepIndex};
use harness::record::{
    Environment, LoadModelKind, LoadPlan, Recorder, RunMeta, RunRecord, ScenarioRef, SharedRecorder,
};
use proptest::prelude::*;

const QUANTILES: [f64; 8] = [0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0];

fn meta(steps: usize, warmup: Duration) -> RunMeta {
    RunMeta {
        scenario: ScenarioRef {
            name: "prop".into(),
            hash: "0".repeat(64),
            file: "scenarios/prop.toml".into(),
        },
        path: "dagger".into(),
        repetition: 2,
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
            model: LoadModelKind::Closed,
            target_rate: None,
            achieved_rate: None,
            users: Some(4),
            duration: Duration::from_secs(10),
            warmup,
            max_in_flight: None,
            dispatch_lag_p99_us: None,
        },
        steps: (0..steps)
            .map(|i| ("flow".to_owned(), format!("step-{i}")))
            .collect(),
        complete: true,
        notes: vec!["generated".into()],
    }
}

fn outcome_strategy(steps: usize) -> impl Strategy<Value = Outcome> {
    (
        0..steps as StepIndex,
        0u64..12_000,
        // Latencies from 0 µs to 20 s, biased to small values like real ones.
        prop_oneof![0u64..2_000, 0u64..200_000, 0u64..20_000_000],
        0..OutcomeClass::ALL.len(),
        proptest::option::of(prop_oneof![Just(200u16), Just(404), Just(503), 100u16..600]),
        any::<u64>(),
    )
        .prop_map(
            |(step, intended_ms, latency_us, class, status, request_id)| Outcome {
                step,
                intended: Duration::from_millis(intended_ms),
                latency: Duration::from_micros(latency_us),
                class: OutcomeClass::ALL[class],
                status,
                request_id,
            },
        )
}

fn case_strategy() -> impl Strategy<Value = (usize, u64, Vec<Outcome>)> {
    (1usize..5, 0u64..3_000).prop_flat_map(|(steps, warmup_ms)| {
        (
            Just(steps),
            Just(warmup_ms),
            proptest::collection::vec(outcome_strategy(steps), 0..400),
        )
    })
}

/// The `q` quantile as HdrHistogram defines it: the ceil(q·n)-th smallest value.
fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn record_json_record_keeps_every_count_and_percentile((steps, warmup_ms, outcomes) in case_strategy()) {
        let warmup = Duration::from_millis(warmup_ms);
        let mut recorder = Recorder::new(steps, warmup);
        for o in &outcomes {
            recorder.record_sent(o.intended);
            recorder.record(o);
        }
        let record = RunRecord::build(recorder.finish(), meta(steps, warmup));
        let json = record.to_json().expect("encodes");
        let back = RunRecord::from_json(&json, Path::new("prop.json")).expect("decodes");
        // Compared as a whole, reported by part (a histogram's Debug is thousands of lines).
        prop_assert!(back == record, "round trip changed: load {} steps {} timeline {}",
            back.load != record.load, back.steps != record.steps, back.timeline != record.timeline);

        // What the outcomes themselves say, warmup excluded.
        let measured: Vec<&Outcome> = outcomes.iter().filter(|o| o.intended >= warmup).collect();
        prop_assert_eq!(back.load.sent, measured.len() as u64);
        let dropped = measured.iter().filter(|o| o.class == OutcomeClass::Dropped).count() as u64;
        prop_assert_eq!(back.load.dropped, dropped);
        prop_assert_eq!(back.load.completed, measured.len() as u64 - dropped);
        let timeline_total: u64 = back.timeline.iter().map(|p| p.ok + p.failed).sum();
        prop_assert_eq!(timeline_total, measured.len() as u64);

        for (index, step) in back.steps.iter().enumerate() {
            let mine: Vec<&&Outcome> = measured.iter().filter(|o| usize::from(o.step) == index).collect();
            prop_assert_eq!(step.count(), mine.len() as u64);
            for class in OutcomeClass::ALL {
                let expected = mine.iter().filter(|o| o.class == class).count() as u64;
                prop_assert_eq!(step.class_count(class), expected);
            }
            let mut statuses = BTreeMap::new();
            for status in mine.iter().filter_map(|o| o.status) {
                *statuses.entry(status).or_insert(0u64) += 1;
            }
            prop_assert_eq!(&step.statuses, &statuses);

            let mut ok: Vec<u64> = mine
                .iter()
                .filter(|o| o.class == OutcomeClass::Ok)
                .map(|o| o.latency.as_micros() as u64)
                .collect();
            ok.sort_unstable();
            prop_assert_eq!(step.ok_count(), ok.len() as u64);
            for q in QUANTILES {
                let p = step.percentile_us(q);
                prop_assert_eq!(p, record.steps[index].percentile_us(q));
                if ok.is_empty() {
                    prop_assert_eq!(p, 0);
                } else {
                    // 3 significant digits: within 0.1% of the exact value, above it (below
                    // it for q = 0, where HdrHistogram reports the bucket's lowest value).
                    let exact = exact_quantile(&ok, q);
                    let (low, high) = if q == 0.0 { (exact.saturating_sub(exact / 1000 + 1), exact) } else { (exact, exact + exact / 1000 + 1) };
                    prop_assert!(p >= low && p <= high, "q {} exact {} hdr {}", q, exact, p);
                }
            }
        }
    }

    #[test]
    fn shared_recorder_agrees_with_one_recorder((steps, warmup_ms, mut outcomes) in case_strategy()) {
        // Drivers record in completion order; so does this test.
        outcomes.sort_by_key(|o| o.intended + o.latency);
        let warmup = Duration::from_millis(warmup_ms);
        let shared = SharedRecorder::new(steps, warmup, 3);
        let mut single = Recorder::new(steps, warmup);
        for o in &outcomes {
            shared.record(o);
            single.record(o);
        }
        let (a, b) = (shared.finish(), single.finish());
        prop_assert_eq!(a.totals, b.totals);
        let sum = |t: &[harness::record::TimelinePoint]| t.iter().map(|p| p.ok + p.failed).sum::<u64>();
        prop_assert_eq!(sum(&a.timeline), sum(&b.timeline));
        for (x, y) in a.steps.iter().zip(&b.steps) {
            prop_assert_eq!(x.ok_histogram(), y.ok_histogram());
            prop_assert_eq!(x.failed_histogram(), y.failed_histogram());
            prop_assert_eq!(x.classes(), y.classes());
        }
    }
}

#[test]
fn a_record_survives_the_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let warmup = Duration::from_secs(1);
    let mut recorder = Recorder::new(2, warmup);
    for i in 0..1_000u64 {
        let intended = Duration::from_millis(1_000 + i * 5);
        recorder.record_sent(intended);
        recorder.record(&Outcome {
            step: (i % 2) as StepIndex,
            intended,
            latency: Duration::from_micros(200 + i * 37 % 9_000),
            class: if i % 50 == 0 {
                OutcomeClass::Reset
            } else {
                OutcomeClass::Ok
            },
            status: (i % 50 != 0).then_some(200),
            request_id: i,
        });
    }
    let record = RunRecord::build(recorder.finish(), meta(2, warmup));
    let file = dir.path().join("runs").join("dagger-r2.json");
    record.write_atomic(&file).expect("writes");
    let back = RunRecord::read(&file).expect("reads");
    assert_eq!(back, record);
    assert_eq!(back.timeline.len(), 5);
    assert_eq!(back.fingerprint(), record.environment.fingerprint());
}
