//! The decision layer on synthetic run records: validity, latency and error rows, Holm's
//! correction, phase policies, base drift, A/A calibration and the JSON of a comparison.
//!
//! Every record is built the way a real run is (outcomes through `Recorder`, then
//! `RunRecord::build`), from seeded latency distributions, so every number is
//! deterministic and no assertion depends on timing.

mod common;

use std::time::Duration;

use common::records::{meta, quiet_noise};
use harness::compare::stats::{holm, newcombe_difference};
use harness::compare::{
    COMPARISON_SCHEMA, Comparison, Method, Metric, Noise, NoiseFrom, NoisePoint, Row, Side,
    Verdict, calibrate, check_drift, compare,
};
use harness::load::{Outcome, OutcomeClass};
use harness::policy::Policy;
use harness::record::{Recorder, RunMeta, RunRecord};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------
// Synthetic records
// ---------------------------------------------------------------------------------------

/// Default relative half-width of the uniform latency spread around a step's centre.
const SPREAD: f64 = 0.02;
/// The default step's name in rows.
const STEP: &str = "flow/step";

/// What one step of a synthetic run records.
#[derive(Debug, Clone)]
struct StepSpec {
    flow: &'static str,
    step: &'static str,
    /// Successful requests.
    ok: u64,
    /// Centre of the latency distribution, µs.
    latency_us: f64,
    /// Relative half-width of the uniform spread (0 = every request at the centre).
    spread: f64,
    /// Failed requests (5xx).
    failed: u64,
    /// Dropped arrivals.
    dropped: u64,
}

/// `ok` successes of `flow/step` at about `latency_us`.
fn ok(count: u64, latency_us: f64) -> StepSpec {
    StepSpec {
        flow: "flow",
        step: "step",
        ok: count,
        latency_us,
        spread: SPREAD,
        failed: 0,
        dropped: 0,
    }
}

impl StepSpec {
    fn failed(self, failed: u64) -> Self {
        Self { failed, ..self }
    }
    fn dropped(self, dropped: u64) -> Self {
        Self { dropped, ..self }
    }
    fn spread(self, spread: f64) -> Self {
        Self { spread, ..self }
    }
    fn named(self, step: &'static str) -> Self {
        Self { step, ..self }
    }
    fn slower(self, factor: f64) -> Self {
        Self {
            latency_us: self.latency_us * factor,
            ..self
        }
    }
}

/// A run recorded from `steps` under `meta` (its step names are taken from `steps`),
/// latencies drawn from a ChaCha8 stream seeded with `seed`.
fn record(mut meta: RunMeta, steps: &[StepSpec], seed: u64) -> RunRecord {
    meta.steps = steps
        .iter()
        .map(|s| (s.flow.to_string(), s.step.to_string()))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut recorder = Recorder::new(steps.len(), Duration::ZERO);
    let mut id = 0u64;
    for (index, spec) in steps.iter().enumerate() {
        let step = u16::try_from(index).expect("few steps");
        let mut emit = |class: OutcomeClass, status: Option<u16>, rng: &mut ChaCha8Rng| {
            id += 1;
            // 10 000 arrivals a second keeps the per-second timeline short.
            let intended = Duration::from_micros(id * 100);
            let jitter = spec.spread * (2.0 * rng.random::<f64>() - 1.0);
            let latency_ns = (spec.latency_us * (1.0 + jitter) * 1_000.0).round() as u64;
            recorder.record_sent(intended);
            recorder.record(&Outcome {
                step,
                intended,
                latency: Duration::from_nanos(latency_ns),
                class,
                status,
                request_id: id,
            });
        };
        for _ in 0..spec.ok {
            emit(OutcomeClass::Ok, Some(200), &mut rng);
        }
        for _ in 0..spec.failed {
            emit(OutcomeClass::Http5xx, Some(503), &mut rng);
        }
        for _ in 0..spec.dropped {
            emit(OutcomeClass::Dropped, None, &mut rng);
        }
    }
    RunRecord::build(recorder.finish(), meta)
}

/// One complete, valid run of `path`.
fn run(path: &str, repetition: u32, steps: &[StepSpec], seed: u64) -> RunRecord {
    record(meta(path, repetition), steps, seed)
}

/// `k` repetitions of `path`, seeds `seed`, `seed + 1`, …
fn reps(path: &str, k: u32, steps: &[StepSpec], seed: u64) -> Vec<RunRecord> {
    (1..=k)
        .map(|r| run(path, r, steps, seed + u64::from(r)))
        .collect()
}

fn side(label: &str, records: Vec<RunRecord>) -> Side {
    Side {
        label: label.into(),
        records,
        noise: Noise::default(),
    }
}

fn side_with_noise(label: &str, records: Vec<RunRecord>, noise: Noise) -> Side {
    Side {
        noise,
        ..side(label, records)
    }
}

fn compare_with(base: Vec<RunRecord>, candidate: Vec<RunRecord>, policy: &Policy) -> Comparison {
    compare(
        &side("legacy", base),
        &side("dagger", candidate),
        policy,
        Vec::new(),
    )
}

fn compare_default(base: Vec<RunRecord>, candidate: Vec<RunRecord>) -> Comparison {
    compare_with(base, candidate, &Policy::default())
}

/// Like [`compare_with`], with the base's run-to-run noise measured (quiet), so that a
/// single run a side can prove latency within the go margin and tests can isolate
/// other rules.
fn compare_measured_with(
    base: Vec<RunRecord>,
    candidate: Vec<RunRecord>,
    policy: &Policy,
) -> Comparison {
    let noise = quiet_noise(&base);
    compare(
        &side_with_noise("legacy", base, noise),
        &side("dagger", candidate),
        policy,
        Vec::new(),
    )
}

fn compare_measured(base: Vec<RunRecord>, candidate: Vec<RunRecord>) -> Comparison {
    compare_measured_with(base, candidate, &Policy::default())
}

/// The row of `step` whose metric label is `metric` (`p50`, `p95`, `p99`, `errors`).
fn row<'a>(c: &'a Comparison, step: &str, metric: &str) -> &'a Row {
    c.rows
        .iter()
        .find(|r| r.step == step && r.metric.label() == metric)
        .unwrap_or_else(|| panic!("no row {step} {metric} in {:#?}", labels(c)))
}

fn labels(c: &Comparison) -> Vec<String> {
    c.rows
        .iter()
        .map(|r| {
            format!(
                "{} {}: {} ({})",
                r.step,
                r.metric.label(),
                r.verdict,
                r.reason
            )
        })
        .collect()
}

fn latency_rows(c: &Comparison) -> impl Iterator<Item = &Row> {
    c.rows
        .iter()
        .filter(|r| matches!(r.metric, Metric::Latency { .. }))
}

fn checks(c: &Comparison) -> Vec<&str> {
    c.invalid.iter().map(|i| i.check.as_str()).collect()
}

// ---------------------------------------------------------------------------------------
// 1. Validity
// ---------------------------------------------------------------------------------------

/// Enough requests per side that zero errors is proven within the 0.1-point margin
/// (the Wilson upper bound of 0/n at 95% is 3.84/(n + 3.84) ≤ 0.001 from n = 3838).
const VALID_N: u64 = 4_000;

fn valid_base() -> RunRecord {
    run("legacy", 1, &[ok(VALID_N, 10_000.0)], 1)
}

fn valid_candidate_meta() -> RunMeta {
    meta("dagger", 1)
}

fn valid_candidate(meta: RunMeta) -> RunRecord {
    record(meta, &[ok(VALID_N, 10_000.0)], 2)
}

/// An invalid comparison whose rows would all be GO on their own.
fn assert_inconclusive_with_go_rows(c: &Comparison, check: &str) {
    assert_eq!(c.verdict, Verdict::Inconclusive, "{:#?}", c.invalid);
    assert!(checks(c).contains(&check), "{check} not in {:?}", checks(c));
    assert!(!c.rows.is_empty());
    assert!(
        c.rows.iter().all(|r| r.verdict == Verdict::Go),
        "every row alone is GO: {:#?}",
        labels(c)
    );
    assert!(
        c.reason.starts_with("the comparison is not valid"),
        "{}",
        c.reason
    );
}

#[test]
fn the_valid_reference_pair_is_go() {
    let c = compare_measured(
        vec![valid_base()],
        vec![valid_candidate(valid_candidate_meta())],
    );
    assert!(c.invalid.is_empty(), "{:#?}", c.invalid);
    assert_eq!(c.verdict, Verdict::Go, "{:#?}", labels(&c));
}

#[test]
fn a_different_scenario_hash_is_inconclusive_never_go() {
    let mut m = valid_candidate_meta();
    m.scenario.hash = "cd".repeat(32);
    let c = compare_measured(vec![valid_base()], vec![valid_candidate(m)]);
    assert_inconclusive_with_go_rows(&c, "scenario_hash");
    assert_eq!(checks(&c), vec!["scenario_hash"]);
}

#[test]
fn a_different_environment_is_inconclusive_never_go() {
    let mut m = valid_candidate_meta();
    m.environment.cpu_model = "Other CPU".into();
    let c = compare_measured(vec![valid_base()], vec![valid_candidate(m)]);
    assert_inconclusive_with_go_rows(&c, "environment");
    assert_eq!(checks(&c), vec!["environment"]);
    assert_ne!(c.base.environment, c.candidate.environment);
}

#[test]
fn an_incomplete_record_is_inconclusive_never_go() {
    let mut m = valid_candidate_meta();
    m.complete = false;
    let c = compare_measured(vec![valid_base()], vec![valid_candidate(m)]);
    assert_inconclusive_with_go_rows(&c, "incomplete");
    assert_eq!(checks(&c), vec!["incomplete"]);
}

#[test]
fn an_achieved_rate_below_98_percent_is_inconclusive_and_exactly_98_is_valid() {
    let with_rate = |achieved: f64| {
        let mut m = valid_candidate_meta();
        m.load.target_rate = Some(100.0);
        m.load.achieved_rate = Some(achieved);
        compare_measured(vec![valid_base()], vec![valid_candidate(m)])
    };
    let short = with_rate(97.9);
    assert_inconclusive_with_go_rows(&short, "achieved_rate");
    assert_eq!(checks(&short), vec!["achieved_rate"]);

    let exact = with_rate(98.0);
    assert!(exact.invalid.is_empty(), "{:#?}", exact.invalid);
    assert_eq!(exact.verdict, Verdict::Go);
}

#[test]
fn a_step_with_fewer_than_min_samples_requests_on_one_side_is_inconclusive() {
    // A wide error floor so that even 99 requests make a GO error row: only validity
    // stands between these rows and GO.
    let policy = Policy {
        error_absolute_floor: 0.05,
        ..Policy::default()
    };
    let base = |requests: u64| run("legacy", 1, &[ok(requests, 10_000.0)], 1);
    let candidate = || run("dagger", 1, &[ok(VALID_N, 10_000.0)], 2);

    let c = compare_measured_with(vec![base(99)], vec![candidate()], &policy);
    assert_inconclusive_with_go_rows(&c, "too_few_samples");
    assert_eq!(checks(&c), vec!["too_few_samples"]);
    assert!(
        c.invalid[0].message.contains("base flow/step: 99 requests"),
        "{}",
        c.invalid[0].message
    );

    // 100 requests is enough, and failures are requests too (dropped arrivals are not).
    let c = compare_measured_with(vec![base(100)], vec![candidate()], &policy);
    assert!(c.invalid.is_empty(), "{:#?}", c.invalid);
    let with_failures = run("legacy", 1, &[ok(90, 10_000.0).failed(10)], 1);
    let c = compare_measured_with(vec![with_failures], vec![candidate()], &policy);
    assert!(c.invalid.is_empty(), "{:#?}", c.invalid);
    let with_drops = run("legacy", 1, &[ok(90, 10_000.0).dropped(10)], 1);
    let c = compare_with(vec![with_drops], vec![candidate()], &policy);
    assert_eq!(checks(&c), vec!["too_few_samples"]);
    assert_eq!(c.verdict, Verdict::Inconclusive);
}

#[test]
fn no_runs_on_a_side_is_inconclusive() {
    let c = compare_default(Vec::new(), vec![valid_candidate(valid_candidate_meta())]);
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(checks(&c), vec!["no_runs"]);
    assert!(c.rows.is_empty());
    assert_eq!(c.base.runs, 0);

    let c = compare_default(vec![valid_base()], Vec::new());
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(checks(&c), vec!["no_runs"]);
}

#[test]
fn extra_invalidity_from_the_caller_makes_a_go_inconclusive() {
    let extra = vec![harness::compare::Invalidity::new("base_drift", "drifted")];
    let c = compare(
        &side_with_noise("legacy", vec![valid_base()], quiet_noise(&[valid_base()])),
        &side("dagger", vec![valid_candidate(valid_candidate_meta())]),
        &Policy::default(),
        extra,
    );
    assert_inconclusive_with_go_rows(&c, "base_drift");
}

// Inputs that must never give GO: a step on one side only or missing from a run, the
// same run twice, runs of different paths on one side.

/// Five valid runs of `path` with steps `a` and `b`, seeds from `seed`.
fn two_step_reps(path: &str, seed: u64) -> Vec<RunRecord> {
    reps(
        path,
        5,
        &[
            ok(REP_N, 10_000.0).named("a"),
            ok(REP_N, 10_000.0).named("b"),
        ],
        seed,
    )
}

#[test]
fn a_step_on_one_side_only_is_inconclusive_naming_it() {
    let base = two_step_reps("legacy", 10);
    let candidate = reps("dagger", 5, &[ok(REP_N, 10_000.0).named("a")], 100);
    let c = compare_default(base, candidate);
    assert_eq!(c.verdict, Verdict::Inconclusive, "{:#?}", labels(&c));
    assert_eq!(checks(&c), vec!["step_missing"]);
    let message = &c.invalid[0].message;
    assert!(message.contains("flow/b"), "{message}");
    assert!(
        message.contains("candidate dagger r1") && message.contains("r5"),
        "{message}"
    );
    // The shared step alone is GO: only validity stands between it and a wrong GO.
    assert!(
        c.rows.iter().all(|r| r.verdict == Verdict::Go),
        "{:#?}",
        labels(&c)
    );
}

#[test]
fn a_step_missing_from_one_candidate_run_is_inconclusive_naming_the_run() {
    let base = two_step_reps("legacy", 10);
    let mut candidate = two_step_reps("dagger", 100);
    candidate[2] = run("dagger", 3, &[ok(REP_N, 10_000.0).named("a")], 103);
    let c = compare_default(base, candidate);
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(checks(&c), vec!["step_missing"]);
    let message = &c.invalid[0].message;
    assert!(
        message.contains("flow/b is missing from candidate dagger r3"),
        "{message}"
    );
    assert!(
        !message.contains("r1"),
        "only the run that lacks it: {message}"
    );
}

#[test]
fn the_same_run_twice_is_inconclusive_never_a_repetition() {
    let base = two_step_reps("legacy", 10);
    let one = run(
        "dagger",
        1,
        &[
            ok(REP_N, 10_000.0).named("a"),
            ok(REP_N, 10_000.0).named("b"),
        ],
        100,
    );
    // One run five times would be an interval of zero width: GO, had it counted.
    let c = compare_default(base.clone(), vec![one.clone(); 5]);
    assert_eq!(c.verdict, Verdict::Inconclusive, "{:#?}", labels(&c));
    assert!(
        checks(&c).iter().all(|k| *k == "duplicate_run"),
        "{:?}",
        checks(&c)
    );
    assert!(
        c.invalid[0].message.contains("dagger r1"),
        "{}",
        c.invalid[0].message
    );
    // A copy with its repetition number edited is the same run too.
    let mut edited = one.clone();
    edited.repetition = 2;
    let c = compare_default(base.clone(), vec![one.clone(), edited]);
    assert_eq!(checks(&c), vec!["duplicate_run"]);
    // And the same run on both sides.
    let c = compare_default(vec![one.clone()], vec![one]);
    assert!(checks(&c).contains(&"duplicate_run"), "{:?}", checks(&c));
}

#[test]
fn runs_of_two_paths_on_one_side_are_inconclusive() {
    let base = two_step_reps("legacy", 10);
    let mut candidate = two_step_reps("dagger", 100);
    candidate[4].path = "canary".into();
    let c = compare_default(base, candidate);
    assert_eq!(c.verdict, Verdict::Inconclusive);
    assert_eq!(checks(&c), vec!["mixed_paths"]);
    assert!(
        c.invalid[0].message.contains("canary, dagger"),
        "{}",
        c.invalid[0].message
    );
}

/// A cached answer recorded as 0 µs is a latency: against a 5 ms candidate it is a
/// rollback, and a candidate 100 µs slower than it is under the floor.
#[test]
fn a_zero_microsecond_base_is_a_latency_not_a_missing_one() {
    let zero = ok(REP_N, 0.0).spread(0.0);
    let base = reps("legacy", 5, std::slice::from_ref(&zero), 10);
    let slow = reps("dagger", 5, &[ok(REP_N, 5_000.0)], 100);
    let c = compare_default(base.clone(), slow);
    assert!(c.invalid.is_empty(), "{:#?}", c.invalid);
    assert_eq!(c.verdict, Verdict::Rollback, "{:#?}", labels(&c));
    for r in latency_rows(&c) {
        assert_eq!(r.base, 1.0, "0 µs counts as the 1 µs resolution");
        assert!(r.interval.is_some());
        assert_eq!(r.verdict, Verdict::Rollback, "{}", r.reason);
    }
    let near = reps("dagger", 5, &[ok(REP_N, 100.0)], 100);
    let c = compare_default(base, near);
    for r in latency_rows(&c) {
        assert_eq!(r.verdict, Verdict::Go, "{}", r.reason);
        assert!(r.reason.contains("floor"), "{}", r.reason);
    }
}

// ---------------------------------------------------------------------------------------
// 2. A candidate that fails everything
// ---------------------------------------------------------------------------------------

#[test]
fn a_candidate_that_fails_every_request_rolls_back_rather_than_being_inconclusive() {
    let base = run("legacy", 1, &[ok(1_000, 10_000.0)], 1);
    let candidate = run("dagger", 1, &[ok(0, 10_000.0).failed(1_000)], 2);
    let c = compare_default(vec![base], vec![candidate]);
    assert!(c.invalid.is_empty(), "{:#?}", c.invalid);
    assert_eq!(c.verdict, Verdict::Rollback, "{:#?}", labels(&c));
    let errors = row(&c, STEP, "errors");
    assert_eq!(errors.verdict, Verdict::Rollback);
    assert!(errors.rollback_proven);
    assert_eq!(errors.candidate, 1.0);
    // No successful candidate latency: the latency rows have no interval and hold.
    for r in latency_rows(&c) {
        assert!(r.interval.is_none());
        assert_eq!(r.verdict, Verdict::NoGo);
        assert!(!r.rollback_proven);
    }
}

// ---------------------------------------------------------------------------------------
// 3. Latency
// ---------------------------------------------------------------------------------------

const REP_N: u64 = 1_000;

fn five_v_five(factor: f64, latency_us: f64) -> Comparison {
    let base = reps("legacy", 5, &[ok(REP_N, latency_us)], 10);
    let candidate = reps("dagger", 5, &[ok(REP_N, latency_us).slower(factor)], 100);
    compare_default(base, candidate)
}

#[test]
fn equal_latency_over_five_runs_a_side_is_go_by_repetitions() {
    let c = five_v_five(1.0, 10_000.0);
    assert_eq!(c.verdict, Verdict::Go, "{:#?}", labels(&c));
    assert_eq!(latency_rows(&c).count(), 2, "p50 and p95 only");
    for r in latency_rows(&c) {
        assert_eq!(
            r.method,
            Method::Repetitions {
                base: 5,
                candidate: 5
            }
        );
        assert_eq!(r.verdict, Verdict::Go);
        let iv = r.interval.expect("interval");
        assert!(iv.low <= 1.0 && 1.0 <= iv.high, "{iv:?}");
    }
    assert_eq!(row(&c, STEP, "errors").method, Method::Newcombe);
}

#[test]
fn twice_as_slow_on_ten_milliseconds_rolls_back_on_p50_and_p95() {
    let c = five_v_five(2.0, 10_000.0);
    assert_eq!(c.verdict, Verdict::Rollback, "{:#?}", labels(&c));
    for q in ["p50", "p95"] {
        let r = row(&c, STEP, q);
        assert_eq!(r.verdict, Verdict::Rollback, "{}", r.reason);
        assert!(r.rollback_proven);
        // 5 v 5 complete separation: the exact one-sided p-value is 1/C(10,5) = 1/252.
        assert!(r.p_rollback <= 1.0 / 252.0 + 1e-5, "{}", r.p_rollback);
        let iv = r.interval.expect("interval");
        assert!(iv.estimate > 1.9 && iv.estimate < 2.1, "{iv:?}");
    }
    assert_eq!(row(&c, STEP, "errors").verdict, Verdict::Go);
}

#[test]
fn a_quarter_slower_is_no_go_proven_neither_way() {
    let c = five_v_five(1.25, 10_000.0);
    assert_eq!(c.verdict, Verdict::NoGo, "{:#?}", labels(&c));
    for q in ["p50", "p95"] {
        let r = row(&c, STEP, q);
        assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
        assert!(!r.rollback_proven);
        let iv = r.interval.expect("interval");
        assert!(iv.high > r.go_threshold, "not proven within go: {iv:?}");
        assert!(
            iv.low < r.rollback_threshold,
            "not proven beyond rollback: {iv:?}"
        );
    }
}

/// Noise measured on 10 runs of the base path (as a baseline's repetitions).
fn noise(p50: f64, p95: f64) -> Noise {
    let mut n = Noise::default();
    for (q, log_sd) in [(0.5, p50), (0.95, p95)] {
        n.insert(
            STEP,
            NoisePoint {
                q,
                log_sd,
                runs: 10,
                from: NoiseFrom::Baseline,
            },
        );
    }
    n
}

fn few_runs(noise_log_sd: f64, noise_df: Option<f64>, noise_from: NoiseFrom) -> Method {
    Method::FewRuns {
        base: 1,
        candidate: 1,
        noise_log_sd,
        noise_df,
        noise_from,
    }
}

fn one_v_one(base_noise: Noise, candidate_noise: Noise) -> Comparison {
    let base = run("legacy", 1, &[ok(2_000, 10_000.0)], 1);
    let candidate = run("dagger", 1, &[ok(2_000, 10_000.0)], 2);
    compare(
        &side_with_noise("legacy", vec![base], base_noise),
        &side_with_noise("dagger", vec![candidate], candidate_noise),
        &Policy::default(),
        Vec::new(),
    )
}

#[test]
fn one_run_a_side_uses_the_few_runs_method_with_the_base_noise() {
    let c = one_v_one(noise(0.03, 0.05), noise(0.4, 0.4));
    assert_eq!(
        row(&c, STEP, "p50").method,
        few_runs(0.03, Some(9.0), NoiseFrom::Baseline)
    );
    assert_eq!(
        row(&c, STEP, "p95").method,
        few_runs(0.05, Some(9.0), NoiseFrom::Baseline)
    );
    // The candidate's noise is never used; without base noise the policy's assumed
    // noise stands in, and a latency row resting on it is never GO.
    let c = one_v_one(Noise::default(), noise(0.4, 0.4));
    for r in latency_rows(&c) {
        assert_eq!(r.method, few_runs(0.2, None, NoiseFrom::Assumed));
        assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
        assert!(r.reason.contains("not measured"), "{}", r.reason);
    }
}

#[test]
fn a_larger_base_noise_widens_the_single_run_interval() {
    let quiet = one_v_one(noise(0.01, 0.01), Noise::default());
    let noisy = one_v_one(noise(0.10, 0.10), Noise::default());
    // The documented interval: exp(d ± t₉ · √(σ²·(1/1 + 1/1) + sampling)); the
    // sampling term is the same for both, so it cancels in the difference of squares.
    let t = harness::compare::stats::student_quantile(0.975, Some(9.0));
    for q in ["p50", "p95"] {
        let a = row(&quiet, STEP, q).interval.expect("interval");
        let b = row(&noisy, STEP, q).interval.expect("interval");
        assert_eq!(a.estimate, b.estimate);
        assert!(b.low < a.low && b.high > a.high, "{a:?} vs {b:?}");
        let half =
            |iv: &harness::compare::stats::Interval| (iv.high.ln() - iv.low.ln()) / (2.0 * t);
        let difference = half(&b).powi(2) - half(&a).powi(2);
        assert!(
            (difference - 2.0 * (0.10f64.powi(2) - 0.01f64.powi(2))).abs() < 1e-9,
            "{a:?} vs {b:?}"
        );
    }
    // 0.10 log-sd makes ±32% of run-to-run noise possible: not proven within 1.10.
    for r in latency_rows(&quiet) {
        assert_eq!(r.verdict, Verdict::Go, "{}", r.reason);
    }
    for r in latency_rows(&noisy) {
        assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
    }
}

#[test]
fn a_doubled_forty_microsecond_step_is_go_under_the_floor_never_rollback() {
    // Repetitions.
    let c = five_v_five(2.0, 40.0);
    for r in latency_rows(&c) {
        let iv = r.interval.expect("interval");
        assert!(iv.low > 1.5, "proven twice as slow: {iv:?}");
        // The rollback test asks for more than the floor: 250 µs on 40 µs is 7.25×.
        assert!(!r.rollback_proven, "{}", r.reason);
        assert_eq!(r.verdict, Verdict::Go, "{}", r.reason);
        assert!(r.reason.contains("floor"), "{}", r.reason);
    }
    assert_eq!(c.verdict, Verdict::Go, "{:#?}", labels(&c));

    // Single run, with the base's noise measured: GO under the floor.
    let base = run("legacy", 1, &[ok(VALID_N, 40.0)], 1);
    let candidate = run("dagger", 1, &[ok(VALID_N, 80.0)], 2);
    let c = compare_measured(vec![base.clone()], vec![candidate.clone()]);
    assert!(c.rows.iter().all(|r| r.verdict != Verdict::Rollback));
    assert_eq!(c.verdict, Verdict::Go, "{:#?}", labels(&c));
    // Single run with nothing measured: never GO on latency, and still no rollback.
    let c = compare_default(vec![base], vec![candidate]);
    assert!(c.rows.iter().all(|r| r.verdict != Verdict::Rollback));
    for r in latency_rows(&c) {
        assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
    }
}

#[test]
fn the_p99_row_needs_tail_min_samples_successes_on_both_sides() {
    let policy = Policy::default();
    let n = policy.tail_min_samples;
    let with = |base_n: u64, candidate_n: u64| {
        let base = run("legacy", 1, &[ok(base_n, 10_000.0)], 1);
        // Failures do not count towards the tail: only successes have a latency.
        let candidate = run("dagger", 1, &[ok(candidate_n, 10_000.0).failed(50)], 2);
        compare_default(vec![base], vec![candidate])
    };
    let p99 = |c: &Comparison| {
        c.rows
            .iter()
            .filter(|r| r.metric == Metric::Latency { quantile: 0.99 })
            .count()
    };
    assert_eq!(p99(&with(n, n)), 1);
    assert_eq!(
        row(&with(n, n), STEP, "p99").method,
        few_runs(0.2, None, NoiseFrom::Assumed)
    );
    assert_eq!(p99(&with(n, n - 1)), 0);
    assert_eq!(p99(&with(n - 1, n)), 0);
}

// ---------------------------------------------------------------------------------------
// 4. Errors
// ---------------------------------------------------------------------------------------

fn errors_case(base: StepSpec, candidate: StepSpec) -> Comparison {
    let base = run("legacy", 1, &[base], 1);
    let candidate = run("dagger", 1, &[candidate], 2);
    compare_measured(vec![base], vec![candidate])
}

#[test]
fn zero_errors_in_6000_a_side_is_go() {
    let c = errors_case(ok(6_000, 10_000.0), ok(6_000, 10_000.0));
    let r = row(&c, STEP, "errors");
    assert_eq!(r.verdict, Verdict::Go, "{}", r.reason);
    assert_eq!(r.go_threshold, 0.001);
    assert_eq!(c.verdict, Verdict::Go, "{:#?}", labels(&c));
}

#[test]
fn zero_errors_in_700_a_side_is_no_go_for_lack_of_evidence() {
    let c = errors_case(ok(700, 10_000.0), ok(700, 10_000.0));
    let r = row(&c, STEP, "errors");
    assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
    assert!(!r.rollback_proven);
    // 0/700: Wilson upper bound 3.84/703.84 ≈ 0.0055 > 0.001.
    assert!(r.interval.expect("interval").high > 0.005);
    assert!(latency_rows(&c).all(|r| r.verdict == Verdict::Go));
    assert_eq!(c.verdict, Verdict::NoGo);
}

#[test]
fn four_proven_candidate_errors_hold_and_thirty_roll_back() {
    let base = ok(20_000, 10_000.0);
    let four = errors_case(base.clone(), ok(996, 10_000.0).failed(4));
    let r = row(&four, STEP, "errors");
    assert!(r.rollback_proven, "proven above the margin: {}", r.reason);
    assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
    assert!(r.reason.contains("only 4 candidate errors"), "{}", r.reason);
    assert_eq!(four.verdict, Verdict::NoGo);

    let thirty = errors_case(base, ok(970, 10_000.0).failed(30));
    let r = row(&thirty, STEP, "errors");
    assert!(r.rollback_proven);
    assert_eq!(r.verdict, Verdict::Rollback, "{}", r.reason);
    assert_eq!(thirty.verdict, Verdict::Rollback);
}

#[test]
fn a_ten_percent_base_gets_a_one_point_relative_margin() {
    const N: u64 = 20_000;
    let base = ok(N - 2_000, 10_000.0).failed(2_000);
    let candidate = |errors: u64| ok(N - errors, 10_000.0).failed(errors);

    // 10% → 10.5%: Δ = 0.005, se = √((0.1·0.9 + 0.105·0.895)/20 000) ≈ 0.00303, so the
    // 95% interval reaches ≈ 0.005 + 1.96·0.00303 ≈ 0.0109 > 0.01: not proven within the
    // margin, and its lower end (≈ −0.0009) is far from proven above it: NO-GO.
    let c = errors_case(base.clone(), candidate(2_100));
    let r = row(&c, STEP, "errors");
    assert!((r.go_threshold - 0.01).abs() < 1e-12, "margin 10% of 0.1");
    let iv = r.interval.expect("interval");
    let expected = newcombe_difference(2_000, N, 2_100, N, 0.95);
    assert_eq!(iv, expected);
    assert!(iv.high > 0.0105 && iv.high < 0.0115, "{iv:?}");
    assert!(iv.low < 0.0, "{iv:?}");
    assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
    assert!(!r.rollback_proven);
    assert_eq!(c.verdict, Verdict::NoGo);

    // 10% → 10.2%: the interval reaches ≈ 0.002 + 0.0059 ≈ 0.0079 ≤ 0.01: GO, although
    // it lies far above the 0.1-point floor an absolute rule would have used.
    let c = errors_case(base.clone(), candidate(2_040));
    let r = row(&c, STEP, "errors");
    assert!(r.interval.expect("interval").high < 0.0085);
    assert!(r.interval.expect("interval").high > 0.001);
    assert_eq!(r.verdict, Verdict::Go, "{}", r.reason);
    assert_eq!(c.verdict, Verdict::Go, "{:#?}", labels(&c));

    // 10% → 12%: Δ = 0.02 is (0.02 − 0.01)/0.0031 ≈ 3.2 se above the margin: ROLLBACK.
    let c = errors_case(base, candidate(2_400));
    let r = row(&c, STEP, "errors");
    assert!(r.rollback_proven);
    assert!(r.p_rollback < 0.002, "{}", r.p_rollback);
    assert_eq!(r.verdict, Verdict::Rollback, "{}", r.reason);
}

// ---------------------------------------------------------------------------------------
// 5. Holm
// ---------------------------------------------------------------------------------------

#[test]
fn holm_keeps_fewer_rollbacks_than_uncorrected_tests() {
    // Six steps, each with an error increase over a base of 0/4000 that one test alone
    // would call proven above the 0.1-point margin (p ≤ 0.05). Two are clear (8/1000,
    // p ≈ 4e-5; 6/1000, p ≈ 6e-4), four borderline (6/2000, p ≈ 0.019). The six error
    // rows are one Holm family: thresholds 0.05/6, 0.05/5, 0.05/4, …: the two clear ones
    // pass, then 0.019 > 0.05/4 stops the step-down.
    const STEPS: [(&str, u64, u64); 6] = [
        ("s1", 8, 1_000),
        ("s2", 6, 1_000),
        ("s3", 6, 2_000),
        ("s4", 6, 2_000),
        ("s5", 6, 2_000),
        ("s6", 6, 2_000),
    ];
    let base: Vec<StepSpec> = STEPS
        .iter()
        .map(|(s, _, _)| ok(4_000, 10_000.0).named(s))
        .collect();
    let candidate: Vec<StepSpec> = STEPS
        .iter()
        .map(|(s, errors, n)| ok(n - errors, 10_000.0).failed(*errors).named(s))
        .collect();
    let c = compare_measured(
        vec![run("legacy", 1, &base, 1)],
        vec![run("dagger", 1, &candidate, 2)],
    );
    assert!(c.invalid.is_empty(), "{:#?}", c.invalid);
    assert_eq!(c.rows.len(), 3 * STEPS.len());
    let alpha = Policy::default().rollback_alpha.get();
    let error_rows: Vec<&Row> = c
        .rows
        .iter()
        .filter(|r| r.metric == Metric::ErrorRate)
        .collect();
    let m = error_rows.len() as f64;
    let errors = |step: &str| row(&c, &format!("flow/{step}"), "errors");

    let uncorrected = error_rows.iter().filter(|r| r.p_rollback <= alpha).count();
    let proven = c.rows.iter().filter(|r| r.rollback_proven).count();
    assert_eq!(
        uncorrected,
        STEPS.len(),
        "each error row alone would roll back"
    );
    assert_eq!(proven, 2, "Holm keeps only the two clear ones");
    assert!(errors("s1").p_rollback <= alpha / m);
    assert!(errors("s2").p_rollback <= alpha / (m - 1.0));
    for step in ["s3", "s4", "s5", "s6"] {
        let r = errors(step);
        assert!(
            r.p_rollback > alpha / (m - 2.0) && r.p_rollback <= alpha,
            "borderline: {}",
            r.p_rollback
        );
        assert!(!r.rollback_proven);
        assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
        assert!(r.p_adjusted > alpha, "{}", r.p_adjusted);
        assert!(r.reason.contains("Holm"), "{}", r.reason);
    }
    for step in ["s1", "s2"] {
        assert!(errors(step).rollback_proven);
        assert_eq!(errors(step).verdict, Verdict::Rollback);
    }
    // Exactly Holm's step-down over the comparison's error rows.
    let p: Vec<f64> = error_rows.iter().map(|r| r.p_rollback).collect();
    let got: Vec<bool> = error_rows.iter().map(|r| r.rollback_proven).collect();
    assert_eq!(got, holm(&p, alpha));

    // A borderline step alone (a family of one) does roll back.
    let c = compare_measured(
        vec![run("legacy", 1, &base[2..3], 1)],
        vec![run("dagger", 1, &candidate[2..3], 2)],
    );
    assert_eq!(c.verdict, Verdict::Rollback, "{:#?}", labels(&c));
}

/// A latency rollback is tested within its step only: ten steps each 3× slower over
/// 5 v 5 runs all roll back, although the exact rank test cannot give p below 1/252
/// and a family of 20 latency rows would need p ≤ 0.0025 for the first.
#[test]
fn many_slow_steps_all_roll_back() {
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    let steps: Vec<StepSpec> = names.iter().map(|n| ok(REP_N, 10_000.0).named(n)).collect();
    let slow: Vec<StepSpec> = steps.iter().map(|s| s.clone().slower(3.0)).collect();
    let c = compare_default(reps("legacy", 5, &steps, 10), reps("dagger", 5, &slow, 100));
    assert_eq!(c.verdict, Verdict::Rollback, "{:#?}", labels(&c));
    for r in latency_rows(&c) {
        assert_eq!(r.verdict, Verdict::Rollback, "{}", r.reason);
        assert!(r.p_rollback <= 1.0 / 252.0 + 1e-9, "{}", r.p_rollback);
    }
}

// ---------------------------------------------------------------------------------------
// 6. Phase-4 policy
// ---------------------------------------------------------------------------------------

#[test]
fn two_percent_slower_is_go_when_equivalent_suffices_and_no_go_when_improvement_is_needed() {
    // 20 ms so that 2% (400 µs) is above the 250 µs floor.
    let base = reps("legacy", 5, &[ok(REP_N, 20_000.0)], 10);
    let candidate = reps("dagger", 5, &[ok(REP_N, 20_000.0).slower(1.02)], 100);
    let phase3 = compare_default(base.clone(), candidate.clone());
    assert_eq!(phase3.verdict, Verdict::Go, "{:#?}", labels(&phase3));

    let phase4 = Policy {
        go_ratio: 1.0,
        ..Policy::default()
    };
    assert!(phase4.validate().is_ok());
    let c = compare_with(base, candidate, &phase4);
    assert_eq!(c.verdict, Verdict::NoGo, "{:#?}", labels(&c));
    for r in latency_rows(&c) {
        assert_eq!(r.go_threshold, 1.0);
        assert_eq!(r.verdict, Verdict::NoGo, "{}", r.reason);
        assert!(!r.rollback_proven);
    }
    assert_eq!(c.policy.go_ratio, 1.0);
}

#[test]
fn a_proven_slower_candidate_is_not_go_when_improvement_is_needed() {
    // 2% slower on a 10 ms step: proven (interval ≈ [1.018, 1.020]), 200 µs a request,
    // under the 250 µs floor. Phase 4 asks for improvement, so the floor must not
    // forgive a slowdown that is proven (it once did: regression test).
    let base = reps("legacy", 5, &[ok(REP_N, 10_000.0)], 10);
    let candidate = reps("dagger", 5, &[ok(REP_N, 10_000.0).slower(1.02)], 100);
    let phase4 = Policy {
        go_ratio: 1.0,
        ..Policy::default()
    };
    let c = compare_with(base, candidate, &phase4);
    for r in latency_rows(&c) {
        assert!(r.interval.expect("interval").low > 1.0, "proven slower");
    }
    assert_ne!(c.verdict, Verdict::Go, "{:#?}", labels(&c));
}

// ---------------------------------------------------------------------------------------
// 7. Drift
// ---------------------------------------------------------------------------------------

const QS: [f64; 2] = [0.5, 0.95];

fn drift_runs(path: &str, latency_us: f64, seed: u64) -> Vec<RunRecord> {
    reps(path, 5, &[ok(500, latency_us).spread(0.0)], seed)
}

#[test]
fn a_live_base_equal_to_the_stored_one_has_no_drift() {
    let stored = reps("legacy", 5, &[ok(REP_N, 10_000.0)], 10);
    let live = reps("legacy", 5, &[ok(REP_N, 10_000.0)], 50);
    assert!(check_drift(&live, &stored, &noise(0.01, 0.01), &QS, Duration::ZERO).is_empty());
}

#[test]
fn a_live_base_half_again_as_slow_drifts_naming_step_and_quantile() {
    let stored = drift_runs("legacy", 10_000.0, 10);
    let live = drift_runs("legacy", 15_000.0, 50);
    let problems = check_drift(&live, &stored, &noise(0.01, 0.01), &QS, Duration::ZERO);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems.iter().all(|p| p.check == "base_drift"));
    assert!(
        problems[0].message.contains("flow/step p50 "),
        "{}",
        problems[0].message
    );
    assert!(
        problems[1].message.contains("flow/step p95 "),
        "{}",
        problems[1].message
    );
    assert!(
        problems[0].message.contains("1.500×"),
        "{}",
        problems[0].message
    );
}

#[test]
fn the_drift_band_is_never_narrower_than_ten_percent() {
    // drift.rs: MIN_BAND = 0.10 since b809857 (the brief and the first version said 5%).
    let stored = drift_runs("legacy", 10_000.0, 10);
    for quiet in [Noise::default(), noise(0.0, 0.0), noise(0.001, 0.001)] {
        for inside in [9_100.0, 9_600.0, 10_400.0, 10_900.0] {
            let found = check_drift(
                &drift_runs("legacy", inside, 50),
                &stored,
                &quiet,
                &QS,
                Duration::ZERO,
            );
            assert!(found.is_empty(), "{inside} is within ±10%: {found:#?}");
        }
        for outside in [8_900.0, 11_100.0] {
            let found = check_drift(
                &drift_runs("legacy", outside, 50),
                &stored,
                &quiet,
                &QS,
                Duration::ZERO,
            );
            assert_eq!(found.len(), 2, "{outside} is outside ±10%");
        }
    }
    // A noisy baseline widens the band beyond 10%: 4 · 0.1 · √(2/5) ≈ 0.25 in log, ×1.29.
    let noisy = noise(0.1, 0.1);
    let found = check_drift(
        &drift_runs("legacy", 12_000.0, 50),
        &stored,
        &noisy,
        &QS,
        Duration::ZERO,
    );
    assert!(found.is_empty(), "{found:#?}");
    let found = check_drift(
        &drift_runs("legacy", 13_500.0, 50),
        &stored,
        &noisy,
        &QS,
        Duration::ZERO,
    );
    assert_eq!(found.len(), 2, "{found:#?}");
}

#[test]
fn a_drift_smaller_than_the_latency_floor_is_timer_noise() {
    // A 15 µs step at 25 µs is ×1.67, but 10 µs moved: under a 250 µs floor, no drift.
    let stored = drift_runs("legacy", 15.0, 10);
    let live = drift_runs("legacy", 25.0, 50);
    let floor = Duration::from_micros(250);
    assert!(check_drift(&live, &stored, &noise(0.01, 0.01), &QS, floor).is_empty());
    // Without the floor it is drift, and a slow step moved by more than the floor is too.
    assert_eq!(
        check_drift(&live, &stored, &noise(0.01, 0.01), &QS, Duration::ZERO).len(),
        2
    );
    let slow = drift_runs("legacy", 10_000.0, 10);
    let slower = drift_runs("legacy", 15_000.0, 50);
    assert_eq!(
        check_drift(&slower, &slow, &noise(0.01, 0.01), &QS, floor).len(),
        2
    );
}

// ---------------------------------------------------------------------------------------
// 8. Calibration
// ---------------------------------------------------------------------------------------

#[test]
fn calibration_of_identical_runs_never_rolls_back_and_reports_what_blocked() {
    // Step `a`: 700 requests a run, never enough to prove zero errors within 0.1 point.
    // Step `b`: 700 a run except the sixth run with 4 000; only a candidate side that
    // holds the sixth run has the evidence (the margin depends on the candidate's n).
    let runs: Vec<RunRecord> = (0..6u32)
        .map(|i| {
            let b_n = if i == 5 { 4_000 } else { 700 };
            run(
                "legacy",
                i + 1,
                &[ok(700, 10_000.0).named("a"), ok(b_n, 10_000.0).named("b")],
                1_000 + u64::from(i),
            )
        })
        .collect();
    let mut noise = Noise::default();
    for step in ["flow/a", "flow/b"] {
        for q in [0.5, 0.95] {
            noise.insert(
                step,
                NoisePoint {
                    q,
                    log_sd: 0.01,
                    runs: 10,
                    from: NoiseFrom::Baseline,
                },
            );
        }
    }
    let cal = calibrate(&runs, &noise, &Policy::default());
    assert_eq!(cal.runs, 6);

    let halves = cal.split_halves.expect("split halves");
    // C(6,3)/2 = 10 unordered splits of 3 against 3.
    assert_eq!(halves.comparisons, 10);
    assert_eq!(halves.runs_per_side, 3);
    assert_eq!(halves.false_rollback, 0.0);
    assert_eq!(halves.inconclusive, 0.0);
    // Run 0 is always on the base side; the sixth run is a candidate in C(4,2) = 6 of
    // the 10 splits, so `b errors` blocks the other 4.
    assert_eq!(
        halves.blocking,
        vec![
            ("flow/a errors".to_string(), 10),
            ("flow/b errors".to_string(), 4)
        ]
    );
    assert_eq!(halves.false_no_go, 1.0);

    let single = cal.single_run.expect("single run");
    // C(6,2) = 15 pairs, one run a side; the sixth run is a candidate in 5 of them.
    assert_eq!(single.comparisons, 15);
    assert_eq!(single.runs_per_side, 1);
    assert_eq!(single.false_rollback, 0.0);
    assert_eq!(
        single.blocking,
        vec![
            ("flow/a errors".to_string(), 15),
            ("flow/b errors".to_string(), 10)
        ]
    );
    for rates in [&halves, &single] {
        assert!(rates.blocking.windows(2).all(|w| w[0].1 >= w[1].1));
    }
}

#[test]
fn calibration_of_identical_runs_with_enough_requests_is_all_go() {
    let runs = reps("legacy", 6, &[ok(VALID_N, 10_000.0)], 2_000);
    let cal = calibrate(&runs, &noise(0.01, 0.01), &Policy::default());
    for rates in [
        cal.split_halves.expect("halves"),
        cal.single_run.expect("single"),
    ] {
        assert_eq!(rates.false_rollback, 0.0);
        assert_eq!(rates.false_no_go, 0.0, "{:?}", rates.blocking);
        assert!(rates.blocking.is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// 9. JSON
// ---------------------------------------------------------------------------------------

#[test]
fn a_comparison_serialises_with_its_schema_and_verdict_strings_and_round_trips() {
    let mut m = valid_candidate_meta();
    m.scenario.hash = "cd".repeat(32);
    let cases = [
        (five_v_five(1.0, 10_000.0), "GO"),
        (five_v_five(1.25, 10_000.0), "NO-GO"),
        (five_v_five(2.0, 10_000.0), "ROLLBACK"),
        (
            compare_measured(vec![valid_base()], vec![valid_candidate(m)]),
            "INCONCLUSIVE",
        ),
    ];
    for (c, verdict) in cases {
        assert_eq!(c.verdict.as_str(), verdict);
        let value = serde_json::to_value(&c).expect("serialises");
        assert_eq!(value["schema"], COMPARISON_SCHEMA);
        assert_eq!(value["schema"], "harness-comparison/v1");
        assert_eq!(value["verdict"], verdict);
        for (json_row, r) in value["rows"].as_array().expect("rows").iter().zip(&c.rows) {
            assert_eq!(json_row["verdict"], r.verdict.as_str());
        }
        let text = serde_json::to_string_pretty(&c).expect("serialises");
        let back: Comparison = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, c);
    }
}
