//! Properties of the comparison statistics through their public API: known values,
//! coverage on seeded simulations, monotonicity, test–interval agreement, and no panic
//! on any input.

use harness::compare::stats::{
    ALPHA_PRECISION, EXACT_LIMIT, Interval, RunNoise, holm, holm_adjusted, log_sd,
    mann_whitney_p_above, mann_whitney_p_below, newcombe_difference, normal_quantile,
    p_value_above, p_value_below, ratio_from_few_runs, ratio_from_repetitions, wilson,
};
use hdrhistogram::Histogram;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A standard normal variate by the Box–Muller transform (keeps the test free of
/// extra crates).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `count` lognormal latencies in µs: median `median`, log standard deviation `sigma`.
fn lognormal(rng: &mut ChaCha8Rng, count: usize, median: f64, sigma: f64) -> Vec<f64> {
    (0..count)
        .map(|_| median * (sigma * standard_normal(rng)).exp())
        .collect()
}

fn histogram_of(values: &[f64]) -> Histogram<u64> {
    let mut histogram = Histogram::<u64>::new(3).expect("3 significant digits");
    for value in values {
        histogram
            .record(value.round() as u64)
            .expect("auto-resizing histogram");
    }
    histogram
}

#[test]
fn identical_samples_give_ratio_one() {
    let runs = [1012.0, 987.0, 1050.0, 1003.0, 995.0, 1021.0];
    let interval = ratio_from_repetitions(&runs, &runs, 0.95).expect("valid");
    assert!((interval.estimate - 1.0).abs() < 1e-12, "{interval:?}");
    assert!(interval.contains(1.0));
    assert!(interval.reaches(0.95));
}

#[test]
fn a_sample_scaled_by_one_and_a_half_gives_one_and_a_half() {
    let base = [812.0, 845.0, 799.0, 903.0, 830.0, 870.0, 818.0];
    let candidate: Vec<f64> = base.iter().map(|v| v * 1.5).collect();
    let interval = ratio_from_repetitions(&base, &candidate, 0.95).expect("valid");
    assert!((interval.estimate - 1.5).abs() < 1e-9, "{interval:?}");
    assert!(interval.contains(1.5));
}

/// 2 vs 2 has C(4, 2) = 6 orderings: the full range [min, max] of the differences
/// covers with 1 − 2/6, so 95% is out of reach and the interval says so.
#[test]
fn two_by_two_cannot_reach_95_percent_and_says_so() {
    let interval = ratio_from_repetitions(&[100.0, 110.0], &[120.0, 150.0], 0.95).expect("valid");
    assert!(
        (interval.confidence - 2.0 / 3.0).abs() < 1e-12,
        "{interval:?}"
    );
    assert!(!interval.reaches(0.95));
    assert!((interval.low - 120.0 / 110.0).abs() < 1e-12);
    assert!((interval.high - 1.5).abs() < 1e-12);
}

/// The minimum repetitions per side for a 95% interval: 1 − 2/C(m + n, m) ≥ 0.95 needs
/// C(m + n, m) ≥ 40, so 3 vs 3 (20 orderings, 90%) fails and 4 vs 4 (70, 97.1%) passes;
/// 5 vs 5 gives k = 3 and exact coverage 1 − 8/252.
#[test]
fn minimum_repetitions_for_95_percent() {
    let achieved = |m: usize, n: usize| {
        let base: Vec<f64> = (0..m).map(|i| 100.0 + i as f64).collect();
        let candidate: Vec<f64> = (0..n).map(|i| 100.5 + i as f64).collect();
        ratio_from_repetitions(&base, &candidate, 0.95)
            .expect("valid")
            .confidence
    };
    assert!((achieved(3, 3) - 0.9).abs() < 1e-12);
    assert!((achieved(4, 4) - (1.0 - 2.0 / 70.0)).abs() < 1e-12);
    assert!((achieved(5, 5) - (1.0 - 8.0 / 252.0)).abs() < 1e-12);
    assert!(achieved(3, 5) >= 0.95);
}

#[test]
fn repetition_interval_covers_the_true_ratio() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0001);
    for (m, n) in [(5, 5), (8, 6)] {
        let trials = 300;
        let covered = (0..trials)
            .filter(|_| {
                let base = lognormal(&mut rng, m, 1000.0, 0.15);
                let candidate = lognormal(&mut rng, n, 1300.0, 0.15);
                let interval = ratio_from_repetitions(&base, &candidate, 0.95).expect("valid");
                interval.contains(1.3)
            })
            .count();
        assert!(covered >= 270, "{m} vs {n}: covered {covered} of {trials}");
    }
}

/// Runs of a path whose whole-run scale jitters log-normally by `noise`: one quantile
/// per run and the merged histogram of all of them.
fn noisy_runs(
    rng: &mut ChaCha8Rng,
    runs: usize,
    median: f64,
    noise: f64,
    q: f64,
) -> (Vec<f64>, Histogram<u64>) {
    let mut merged = Histogram::<u64>::new(3).expect("3 significant digits");
    let quantiles = (0..runs)
        .map(|_| {
            let scale = (noise * standard_normal(rng)).exp();
            let run = histogram_of(&lognormal(rng, 2000, median * scale, 0.5));
            merged.add(&run).expect("same layout");
            run.value_at_quantile(q) as f64
        })
        .collect();
    (quantiles, merged)
}

/// The few-runs interval covers the true ratio at its level, whether the noise is known
/// (a baseline's, or assumed) or estimated from 3 runs a side (Student's t).
#[test]
fn few_runs_interval_covers_the_true_ratio() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0002);
    let trials = 300;
    for (runs, known) in [(1, true), (2, true), (3, false)] {
        let covered = (0..trials)
            .filter(|_| {
                let (b, bh) = noisy_runs(&mut rng, runs, 10_000.0, 0.10, 0.95);
                let (c, ch) = noisy_runs(&mut rng, runs, 12_000.0, 0.10, 0.95);
                let noise = if known {
                    RunNoise {
                        log_sd: 0.10,
                        df: None,
                        from_these_runs: false,
                    }
                } else {
                    RunNoise::pooled(&b, &c).expect("4 degrees of freedom")
                };
                let shift = ratio_from_few_runs(&b, &c, &bh, &ch, 0.95, noise).expect("valid");
                shift.interval(0.95).expect("valid").contains(1.2)
            })
            .count();
        assert!(
            covered >= 276,
            "{runs} a side: covered {covered} of {trials}"
        );
    }
}

/// Estimating the noise from two runs a side with the normal instead of Student's t
/// would cover far less: the t interval is what keeps few runs honest.
#[test]
fn few_runs_with_estimated_noise_are_wide() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0005);
    let (b, bh) = noisy_runs(&mut rng, 2, 10_000.0, 0.05, 0.5);
    let (c, ch) = noisy_runs(&mut rng, 2, 10_000.0, 0.05, 0.5);
    let pooled = RunNoise::pooled(&b, &c).expect("2 degrees of freedom");
    let t = ratio_from_few_runs(&b, &c, &bh, &ch, 0.5, pooled).expect("valid");
    let z =
        ratio_from_few_runs(&b, &c, &bh, &ch, 0.5, RunNoise { df: None, ..pooled }).expect("valid");
    let (ti, zi) = (t.interval(0.95).expect("t"), z.interval(0.95).expect("z"));
    // t₂(0.975) = 4.303 against z = 1.960.
    let ratio = (ti.high / ti.low).ln() / (zi.high / zi.low).ln();
    assert!(
        (ratio - 4.302_652_73 / 1.959_963_98).abs() < 1e-6,
        "{ratio}"
    );
}

#[test]
fn higher_confidence_is_never_narrower() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0003);
    let base = lognormal(&mut rng, 9, 1000.0, 0.1);
    let candidate = lognormal(&mut rng, 9, 1100.0, 0.1);
    let base_histogram = histogram_of(&lognormal(&mut rng, 5000, 1000.0, 0.4));
    let candidate_histogram = histogram_of(&lognormal(&mut rng, 5000, 1100.0, 0.4));
    let noise = RunNoise {
        log_sd: 0.02,
        df: Some(3.0),
        from_these_runs: false,
    };
    let shift = ratio_from_few_runs(
        &base[..2],
        &candidate[..2],
        &base_histogram,
        &candidate_histogram,
        0.95,
        noise,
    )
    .expect("valid");
    let levels = [0.5, 0.8, 0.9, 0.95, 0.99, 0.999];
    let check = |f: &dyn Fn(f64) -> Interval| {
        for pair in levels.windows(2) {
            let (narrow, wide) = (f(pair[0]), f(pair[1]));
            assert!(
                wide.low <= narrow.low && narrow.high <= wide.high,
                "{narrow:?} {wide:?}"
            );
        }
    };
    check(&|c| ratio_from_repetitions(&base, &candidate, c).expect("valid"));
    check(&|c| shift.interval(c).expect("valid"));
    check(&|c| wilson(7, 300, c));
    check(&|c| newcombe_difference(7, 300, 15, 310, c));
}

/// The p-value found by bisection over interval levels equals the exact Mann–Whitney
/// p-value of the shifted sample, both in the exact region and under the normal
/// approximation.
#[test]
fn interval_inversion_matches_the_exact_mann_whitney_p_value() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0004);
    for (m, n) in [
        (5, 5),
        (6, 9),
        (12, 10),
        (EXACT_LIMIT + 10, EXACT_LIMIT + 5),
    ] {
        for _ in 0..5 {
            let base = lognormal(&mut rng, m, 1000.0, 0.1);
            let candidate = lognormal(&mut rng, n, 1150.0, 0.1);
            let f = |c| ratio_from_repetitions(&base, &candidate, c);
            for threshold in [0.9, 1.0, 1.1, 1.15, 1.3] {
                let exact = mann_whitney_p_above(&base, &candidate, threshold).expect("valid");
                assert_agrees(p_value_above(threshold, f), exact);
                let exact = mann_whitney_p_below(&base, &candidate, threshold).expect("valid");
                assert_agrees(p_value_below(threshold, f), exact);
            }
        }
    }
}

fn assert_agrees(inverted: f64, exact: f64) {
    if exact < 0.5 - 1e-9 {
        let close = inverted >= exact - 1e-12 && inverted - exact <= 2.0 * ALPHA_PRECISION;
        assert!(close, "inverted {inverted} vs exact {exact}");
    } else {
        assert_eq!(inverted, 1.0, "exact {exact}");
    }
}

#[test]
fn rollback_p_values_feed_holm() {
    let p = [0.001, 0.2, 0.012, f64::NAN];
    assert_eq!(holm(&p, 0.05), vec![true, false, true, false]);
    let adjusted = holm_adjusted(&p);
    assert!((adjusted[0] - 0.004).abs() < 1e-12 && (adjusted[2] - 0.036).abs() < 1e-12);
}

#[test]
fn interval_round_trips_through_json() {
    let interval = wilson(5, 50, 0.95);
    let text = serde_json::to_string(&interval).expect("serialise");
    let back: Interval = serde_json::from_str(&text).expect("deserialise");
    assert_eq!(back, interval);
}

#[test]
fn normal_quantile_is_public_and_accurate() {
    assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-14);
}

/// Any f64, with extra weight on the values that break naive code.
fn awkward_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::ANY,
        Just(0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        1e-300f64..1e300,
        1.0f64..1e7,
    ]
}

fn well_formed(interval: &Interval) -> bool {
    interval.low <= interval.estimate
        && interval.estimate <= interval.high
        && (0.0..=1.0).contains(&interval.confidence)
}

proptest! {
    #[test]
    fn repetitions_never_panic(
        base in prop::collection::vec(awkward_f64(), 0..60),
        candidate in prop::collection::vec(awkward_f64(), 0..60),
        confidence in awkward_f64(),
        threshold in awkward_f64(),
    ) {
        if let Some(interval) = ratio_from_repetitions(&base, &candidate, confidence) {
            prop_assert!(well_formed(&interval), "{:?}", interval);
        }
        for p in [
            mann_whitney_p_above(&base, &candidate, threshold),
            mann_whitney_p_below(&base, &candidate, threshold),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!((0.0..=1.0).contains(&p));
        }
        let p = p_value_above(threshold, |c| ratio_from_repetitions(&base, &candidate, c));
        prop_assert!((0.0..=1.0).contains(&p));
    }

    #[test]
    fn plausible_repetitions_always_give_an_interval(
        base in prop::collection::vec(1.0f64..1e7, 1..60),
        candidate in prop::collection::vec(1.0f64..1e7, 1..60),
        confidence in 0.01f64..0.999,
    ) {
        let interval = ratio_from_repetitions(&base, &candidate, confidence);
        prop_assert!(interval.is_some_and(|i| well_formed(&i)), "{:?}", interval);
    }

    #[test]
    fn few_runs_never_panic(
        base in prop::collection::vec(awkward_f64(), 0..6),
        candidate in prop::collection::vec(awkward_f64(), 0..6),
        base_h in prop::collection::vec(prop_oneof![Just(0u64), 0u64..10_000_000], 0..200),
        candidate_h in prop::collection::vec(prop_oneof![Just(0u64), 0u64..10_000_000], 0..200),
        q in awkward_f64(),
        confidence in awkward_f64(),
        noise in awkward_f64(),
        df in prop_oneof![Just(None), (0.0f64..100.0).prop_map(Some)],
        threshold in awkward_f64(),
    ) {
        let to_histogram = |values: &[u64]| {
            let mut histogram = Histogram::<u64>::new(3).expect("3 significant digits");
            for value in values {
                histogram.record(*value).expect("auto-resizing histogram");
            }
            histogram
        };
        let (bh, ch) = (to_histogram(&base_h), to_histogram(&candidate_h));
        let noise = RunNoise { log_sd: noise, df, from_these_runs: false };
        if let Some(shift) = ratio_from_few_runs(&base, &candidate, &bh, &ch, q, noise) {
            if let Some(interval) = shift.interval(confidence) {
                prop_assert!(well_formed(&interval), "{:?}", interval);
            }
            let p = shift.p_above(threshold);
            prop_assert!((0.0..=1.0).contains(&p), "{}", p);
        }
        if let Some(pooled) = RunNoise::pooled(&base, &candidate) {
            prop_assert!(pooled.log_sd >= 0.0 || pooled.log_sd.is_nan());
        }
    }

    #[test]
    fn proportions_never_panic(
        base_errors in any::<u64>(),
        base_n in prop_oneof![Just(0u64), any::<u64>(), 0u64..1000],
        cand_errors in any::<u64>(),
        cand_n in prop_oneof![Just(0u64), any::<u64>(), 0u64..1000],
        confidence in awkward_f64(),
    ) {
        let single = wilson(cand_errors, cand_n, confidence);
        prop_assert!(well_formed(&single) && single.low >= 0.0 && single.high <= 1.0, "{:?}", single);
        let difference = newcombe_difference(base_errors, base_n, cand_errors, cand_n, confidence);
        prop_assert!(well_formed(&difference), "{:?}", difference);
        prop_assert!(difference.low >= -1.0 && difference.high <= 1.0);
        let p = p_value_above(0.001, |c| {
            Some(newcombe_difference(base_errors, base_n, cand_errors, cand_n, c))
        });
        prop_assert!((0.0..=1.0).contains(&p));
    }

    #[test]
    fn holm_and_log_sd_never_panic(
        p_values in prop::collection::vec(awkward_f64(), 0..30),
        alpha in awkward_f64(),
    ) {
        let rejected = holm(&p_values, alpha);
        prop_assert_eq!(rejected.len(), p_values.len());
        for (p, r) in p_values.iter().zip(&rejected) {
            prop_assert!(!(*r && p.is_nan()));
        }
        prop_assert_eq!(holm_adjusted(&p_values).len(), p_values.len());
        if let Some(sd) = log_sd(&p_values) {
            prop_assert!(sd >= 0.0);
        }
    }

    /// Rejections agree with the adjusted p-values away from rounding at the boundary.
    #[test]
    fn holm_agrees_with_adjusted_p_values(
        p_values in prop::collection::vec(0.0f64..0.2, 1..12),
    ) {
        let rejected = holm(&p_values, 0.05);
        for (adjusted, r) in holm_adjusted(&p_values).iter().zip(rejected) {
            if (adjusted - 0.05).abs() > 1e-12 {
                prop_assert_eq!(*adjusted <= 0.05, r);
            }
        }
    }
}
