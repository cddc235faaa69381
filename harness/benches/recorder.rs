//! Benchmarks of the recording hot path (target: under 100 ns per outcome), of merging
//! histograms, and of encoding and decoding a run record with 4 steps.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use harness::load::{Outcome, OutcomeClass, StepIndex};
use harness::record::{
    Environment, LoadModelKind, LoadPlan, Recorder, RunMeta, RunRecord, ScenarioRef,
    SharedRecorder, latency_histogram,
};

/// A stream of plausible outcomes: 4 steps, 1 in 20 failing, latencies 0.2–50 ms, in time.
fn outcomes(n: u64) -> Vec<Outcome> {
    (0..n)
        .map(|i| Outcome {
            step: (i % 4) as StepIndex,
            intended: Duration::from_micros(1_000_000 + i * 250),
            latency: Duration::from_micros(200 + (i * 7_919) % 50_000),
            class: if i % 20 == 0 {
                OutcomeClass::Http5xx
            } else {
                OutcomeClass::Ok
            },
            status: Some(if i % 20 == 0 { 503 } else { 200 }),
            request_id: i,
        })
        .collect()
}

fn record_one(c: &mut Criterion) {
    let stream = outcomes(1 << 16);
    let mut group = c.benchmark_group("record_one_outcome");
    group.bench_function("recorder", |b| {
        let mut recorder = Recorder::new(4, Duration::from_secs(1));
        let mut i = 0;
        b.iter(|| {
            recorder.record(black_box(&stream[i & 0xffff]));
            i += 1;
        });
    });
    group.bench_function("shared_recorder", |b| {
        let shared = SharedRecorder::new(4, Duration::from_secs(1), 4);
        let mut i = 0;
        b.iter(|| {
            shared.record(black_box(&stream[i & 0xffff]));
            i += 1;
        });
    });
    group.finish();
}

fn merge(c: &mut Criterion) {
    // A realistic step: 100k latencies spread over 0.2 ms .. 2 s.
    let mut a = latency_histogram();
    let mut b = latency_histogram();
    for i in 0..100_000u64 {
        a.saturating_record(200 + (i * 7_919) % 2_000_000);
        b.saturating_record(150 + (i * 104_729) % 1_500_000);
    }
    c.bench_function("merge_two_histograms_100k", |bench| {
        bench.iter_batched_ref(
            || a.clone(),
            |into| into.add(black_box(&b)),
            BatchSize::SmallInput,
        );
    });
}

fn record_with_four_steps() -> RunRecord {
    let mut recorder = Recorder::new(4, Duration::from_secs(1));
    for o in &outcomes(200_000) {
        recorder.record_sent(o.intended);
        recorder.record(o);
    }
    let meta = RunMeta {
        scenario: ScenarioRef {
            name: "bench".into(),
            hash: "0".repeat(64),
            file: "bench.toml".into(),
        },
        path: "legacy".into(),
        repetition: 1,
        seed: 1,
        started_at: SystemTime::UNIX_EPOCH,
        environment: Environment::detect(),
        load: LoadPlan {
            model: LoadModelKind::Open,
            target_rate: Some(4_000.0),
            achieved_rate: None,
            users: None,
            duration: Duration::from_secs(50),
            warmup: Duration::from_secs(1),
            max_in_flight: Some(1_000),
            dispatch_lag_p99_us: Some(80),
        },
        steps: (0..4)
            .map(|i| ("flow".to_owned(), format!("step-{i}")))
            .collect(),
        complete: true,
        notes: vec![],
    };
    RunRecord::build(recorder.finish(), meta)
}

fn codec(c: &mut Criterion) {
    let record = record_with_four_steps();
    let json = record.to_json().expect("encodes");
    let mut group = c.benchmark_group("run_record_4_steps");
    group.bench_function("encode", |b| b.iter(|| record.to_json().expect("encodes")));
    group.bench_function("decode", |b| {
        b.iter(|| RunRecord::from_json(black_box(&json), Path::new("bench.json")).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, record_one, merge, codec);
criterion_main!(benches);
