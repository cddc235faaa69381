//! Operating characteristics of the decision rules: how often [`compare`] says ROLLBACK,
//! GO or NO-GO when the true effect is known, measured over seeded synthetic runs.
//!
//! The noise model: every run of a path gets one scale factor, log-normal with the
//! case's run-to-run noise (a busy host slows a whole run); every request's latency is
//! log-normal around its step's median (σ = [`SERVICE_SIGMA`]) times that scale times
//! the true effect on the candidate's affected steps. Failures are drawn per request.
//! Records are built as a real run's are (HDR histograms per step, counts per class) and
//! judged by the public [`compare`] with the policy given; with `BaseFrom::Baseline` the
//! base side carries the noise model a saved baseline of those runs would hold, as
//! `harness compare --baseline FILE` reads it.
//!
//! Pure and deterministic: trial `i` of a case draws from its own ChaCha8 stream seeded
//! by (seed, case, i), so the result does not depend on how trials are spread over
//! threads.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::comparison::{Side, compare};
use super::noise::Noise;
use super::stats::{Interval, wilson};
use super::verdict::Verdict;
use crate::baseline::{NoiseModel, NoiseSource};
use crate::outcome::OutcomeClass;
use crate::policy::Policy;
use crate::record::{
    Environment, LoadModelKind, LoadSummary, RUN_SCHEMA, RunRecord, ScenarioRef, StepRecord,
    latency_histogram,
};

/// Log-normal σ of request latencies within a run, unless a case says otherwise.
pub const SERVICE_SIGMA: f64 = 0.5;
/// Requests per run and step unless a case says otherwise.
pub const REQUESTS_PER_RUN: u64 = 2_000;

/// Which steps the true effect applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Affected {
    /// Every step.
    All,
    /// The first step only.
    One,
}

/// How the base side reaches the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseFrom {
    /// Run records (`--baseline run.json`): no noise known beforehand.
    Records,
    /// A saved baseline of those records: its noise model comes along.
    Baseline,
}

/// Failures of one side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failures {
    /// Each request fails with this probability.
    Rate(f64),
    /// Exactly this many failures per step over the side's runs.
    Exactly(u64),
}

/// What a case requires of one verdict's rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Requirement {
    /// The verdict counted.
    pub verdict: Verdict,
    /// Its rate must be at most this ...
    pub at_most: Option<f64>,
    /// ... and at least this.
    pub at_least: Option<f64>,
}

impl Requirement {
    /// `verdict` in at most `rate` of trials.
    pub fn at_most(verdict: Verdict, rate: f64) -> Self {
        Self {
            verdict,
            at_most: Some(rate),
            at_least: None,
        }
    }

    /// `verdict` in at least `rate` of trials.
    pub fn at_least(verdict: Verdict, rate: f64) -> Self {
        Self {
            verdict,
            at_most: None,
            at_least: Some(rate),
        }
    }

    /// `ROLLBACK ≤ 0.5%`.
    pub fn describe(&self) -> String {
        let pct = |r: f64| format!("{}%", trim(r * 100.0));
        match (self.at_most, self.at_least) {
            (Some(0.0), _) => format!("never {}", self.verdict),
            (_, Some(1.0)) => format!("{} = 100%", self.verdict),
            (Some(a), _) => format!("{} ≤ {}", self.verdict, pct(a)),
            (None, Some(b)) => format!("{} ≥ {}", self.verdict, pct(b)),
            (None, None) => "-".into(),
        }
    }

    fn met(&self, rate: f64) -> bool {
        self.at_most.is_none_or(|a| rate <= a + 1e-12)
            && self.at_least.is_none_or(|b| rate + 1e-12 >= b)
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One row of the operating-characteristics table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// The true effect in words: `none (A/A)`, `1.6× at p95`.
    pub effect_label: String,
    /// True candidate/base latency ratio on the affected steps.
    pub effect: f64,
    /// Which steps it applies to.
    pub affected: Affected,
    /// Steps in the scenario.
    pub steps: usize,
    /// Run-to-run noise: σ of the log-normal per-run scale.
    pub noise: f64,
    /// Runs of the base side.
    pub base_runs: usize,
    /// Runs of the candidate side.
    pub candidate_runs: usize,
    /// Requests per run and step.
    pub requests: u64,
    /// Log-normal σ of request latencies within a run (tail weight).
    pub service_sigma: f64,
    /// Failures of the base side.
    pub base_failures: Failures,
    /// Failures of the candidate side.
    pub candidate_failures: Failures,
    /// How the base side is given.
    pub base_from: BaseFrom,
    /// What the rule must achieve, when the case is a target (else informative).
    pub required: Option<Requirement>,
}

impl Case {
    /// A latency case: `effect` on `affected` steps of `steps`, `noise`, `k` v `k` runs.
    pub fn latency(label: &str, effect: f64, affected: Affected, steps: usize, noise: f64) -> Self {
        Self {
            effect_label: label.into(),
            effect,
            affected,
            steps,
            noise,
            base_runs: 5,
            candidate_runs: 5,
            requests: REQUESTS_PER_RUN,
            service_sigma: SERVICE_SIGMA,
            base_failures: Failures::Rate(0.0),
            candidate_failures: Failures::Rate(0.0),
            base_from: BaseFrom::Records,
            required: None,
        }
    }

    /// With `base` v `candidate` runs.
    pub fn runs(self, base: usize, candidate: usize) -> Self {
        Self {
            base_runs: base,
            candidate_runs: candidate,
            ..self
        }
    }

    /// With the base given as a saved baseline.
    pub fn from_baseline(self) -> Self {
        Self {
            base_from: BaseFrom::Baseline,
            ..self
        }
    }

    /// With `requests` per run and step.
    pub fn requests(self, requests: u64) -> Self {
        Self { requests, ..self }
    }

    /// With request latencies of log-normal σ `sigma` (1.0: a heavy tail).
    pub fn service_sigma(self, sigma: f64) -> Self {
        Self {
            service_sigma: sigma,
            ..self
        }
    }

    /// With failures on each side.
    pub fn failures(self, base: Failures, candidate: Failures) -> Self {
        Self {
            base_failures: base,
            candidate_failures: candidate,
            ..self
        }
    }

    /// Required to achieve `requirement`.
    pub fn requires(self, requirement: Requirement) -> Self {
        Self {
            required: Some(requirement),
            ..self
        }
    }

    /// `1 step` or `10 steps, effect on 1`.
    pub fn scenario_label(&self) -> String {
        let steps = if self.steps == 1 {
            "1 step".to_string()
        } else {
            format!("{} steps", self.steps)
        };
        let on = match (self.affected, self.steps, self.effect == 1.0) {
            (Affected::One, s, false) if s > 1 => ", on one",
            _ => "",
        };
        let base = match self.base_from {
            BaseFrom::Records => "",
            BaseFrom::Baseline => ", base from a baseline",
        };
        let tail = if (self.service_sigma - SERVICE_SIGMA).abs() > 1e-12 {
            format!(", service σ {}", self.service_sigma)
        } else {
            String::new()
        };
        format!("{steps}{on}{base}{tail}")
    }
}

/// The measured rates of one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// Trials run.
    pub trials: usize,
    /// Trials per verdict.
    pub counts: BTreeMap<Verdict, usize>,
}

impl CaseResult {
    /// Share of trials that gave `verdict`.
    pub fn rate(&self, verdict: Verdict) -> f64 {
        let k = self.counts.get(&verdict).copied().unwrap_or(0);
        if self.trials == 0 {
            0.0
        } else {
            k as f64 / self.trials as f64
        }
    }

    /// The Wilson 95% interval of that share.
    pub fn interval(&self, verdict: Verdict) -> Interval {
        let k = self.counts.get(&verdict).copied().unwrap_or(0);
        wilson(k as u64, self.trials as u64, 0.95)
    }

    /// Whether the measured rate meets the case's requirement (`None` when it has none).
    pub fn met(&self) -> Option<bool> {
        self.case.required.map(|r| r.met(self.rate(r.verdict)))
    }
}

/// The table of the decisions issue (its targets), and near-threshold and GO rows that
/// tell a user what to expect.
pub fn standard_cases() -> Vec<Case> {
    use Affected::{All, One};
    use Verdict::{Go, Rollback};
    let aa = "none (A/A)";
    vec![
        Case::latency(aa, 1.0, All, 1, 0.05).requires(Requirement::at_most(Rollback, 0.005)),
        Case::latency(aa, 1.0, All, 1, 0.10).requires(Requirement::at_most(Rollback, 0.005)),
        Case::latency(aa, 1.0, All, 10, 0.05).requires(Requirement::at_most(Rollback, 0.005)),
        Case::latency(aa, 1.0, All, 10, 0.10).requires(Requirement::at_most(Rollback, 0.005)),
        Case::latency("1.3× at p95", 1.3, All, 1, 0.05)
            .requires(Requirement::at_most(Rollback, 0.01)),
        Case::latency("1.6× at p95", 1.6, All, 1, 0.05)
            .requires(Requirement::at_least(Rollback, 0.95)),
        Case::latency("1.6× at p95", 1.6, One, 10, 0.05)
            .requires(Requirement::at_least(Rollback, 0.90)),
        Case::latency("3×", 3.0, All, 10, 0.05).requires(Requirement::at_least(Rollback, 1.0)),
        Case::latency("1.2×", 1.2, All, 1, 0.10)
            .runs(1, 1)
            .requires(Requirement::at_most(Go, 0.05)),
        Case::latency("1.2×", 1.2, All, 1, 0.10)
            .runs(1, 1)
            .requires(Requirement::at_most(Rollback, 0.01)),
        Case::latency("1.2×", 1.2, All, 1, 0.10)
            .runs(1, 1)
            .from_baseline()
            .requires(Requirement::at_most(Go, 0.05)),
        Case::latency("1.2×", 1.2, All, 1, 0.10)
            .runs(1, 1)
            .from_baseline()
            .requires(Requirement::at_most(Rollback, 0.01)),
        Case::latency(aa, 1.0, All, 1, 0.20)
            .runs(1, 1)
            .requires(Requirement::at_most(Rollback, 0.005)),
        Case::latency("errors 1% → 2%", 1.0, All, 1, 0.05)
            .requests(4_000)
            .failures(Failures::Rate(0.01), Failures::Rate(0.02))
            .requires(Requirement::at_least(Rollback, 0.99)),
        Case::latency("errors 0 → 2 in 4 000", 1.0, All, 1, 0.05)
            .requests(800)
            .failures(Failures::Exactly(0), Failures::Exactly(2))
            .requires(Requirement::at_most(Rollback, 0.0)),
        // What a user should expect beyond the targets.
        Case::latency("1.4× at p95", 1.4, All, 1, 0.05),
        Case::latency("1.3× at p95", 1.3, All, 1, 0.10),
        Case::latency("1.6× at p95", 1.6, All, 1, 0.10),
        Case::latency("1.6× at p95", 1.6, All, 1, 0.05).service_sigma(1.0),
        Case::latency("1.3× at p95", 1.3, All, 1, 0.05).service_sigma(1.0),
        Case::latency("1.5× at p95", 1.5, All, 1, 0.05),
        Case::latency("1.2×", 1.2, All, 1, 0.10)
            .runs(5, 1)
            .from_baseline(),
        Case::latency("1.3×", 1.3, All, 1, 0.10)
            .runs(5, 1)
            .from_baseline(),
        Case::latency("1.3×", 1.3, All, 1, 0.05).runs(2, 2),
        Case::latency("1.3×", 1.3, All, 1, 0.10).runs(3, 3),
        Case::latency("1.6×", 1.6, All, 1, 0.05).runs(3, 3),
        Case::latency(aa, 1.0, All, 1, 0.05).runs(3, 3),
        Case::latency(aa, 1.0, All, 1, 0.05).runs(10, 10),
        Case::latency(aa, 1.0, All, 1, 0.02),
        Case::latency("3×", 3.0, All, 1, 0.05).runs(1, 1),
        Case::latency("2.5×", 2.5, All, 1, 0.05).runs(1, 1),
        Case::latency("errors 1% → 1%", 1.0, All, 10, 0.05)
            .requests(4_000)
            .failures(Failures::Rate(0.01), Failures::Rate(0.01)),
    ]
}

/// Runs `trials` seeded trials of `case` under `policy`, on up to `threads` threads.
pub fn run_case(
    case: &Case,
    case_index: u64,
    trials: usize,
    seed: u64,
    policy: &Policy,
    threads: usize,
) -> CaseResult {
    let threads = threads.clamp(1, trials.max(1));
    let verdicts: Vec<Verdict> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..trials)
                        .step_by(threads)
                        .map(|i| trial(case, trial_seed(seed, case_index, i), policy))
                        .collect::<Vec<Verdict>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut counts = BTreeMap::new();
    for v in &verdicts {
        *counts.entry(*v).or_insert(0) += 1;
    }
    CaseResult {
        case: case.clone(),
        trials: verdicts.len(),
        counts,
    }
}

/// One comparison of freshly drawn runs: its overall verdict.
pub fn trial(case: &Case, seed: u64, policy: &Policy) -> Verdict {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let base = side_runs(
        case,
        "legacy",
        1.0,
        case.base_runs,
        case.base_failures,
        &mut rng,
    );
    let candidate = side_runs(
        case,
        "dagger",
        case.effect,
        case.candidate_runs,
        case.candidate_failures,
        &mut rng,
    );
    let noise = match case.base_from {
        BaseFrom::Records => Noise::default(),
        BaseFrom::Baseline => {
            Noise::from_model(&NoiseModel::from_runs(&base, NoiseSource::Repetitions))
        }
    };
    let base = Side {
        label: "legacy".into(),
        records: base,
        noise,
    };
    let candidate = Side {
        label: "dagger".into(),
        records: candidate,
        noise: Noise::default(),
    };
    compare(&base, &candidate, policy, Vec::new()).verdict
}

fn trial_seed(seed: u64, case: u64, trial: usize) -> u64 {
    // SplitMix64's finaliser spreads neighbouring inputs over the whole seed space.
    let mut z = seed
        ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (trial as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Median latency of step `i`, µs: 2 ms, 2.7 ms, 3.6 ms, ... so steps differ in scale.
fn step_median_us(i: usize) -> f64 {
    2_000.0 * 1.35f64.powi(i as i32)
}

fn side_runs(
    case: &Case,
    path: &str,
    effect: f64,
    runs: usize,
    failures: Failures,
    rng: &mut ChaCha8Rng,
) -> Vec<RunRecord> {
    // Exact failure counts are spread over the side's runs, the remainder on the first.
    let per_run_exact = |step_failures: u64, run: usize| -> u64 {
        let runs = runs.max(1) as u64;
        step_failures / runs + u64::from((run as u64) < step_failures % runs)
    };
    (0..runs)
        .map(|run| {
            let scale = (case.noise * standard_normal(rng)).exp();
            let steps = (0..case.steps)
                .map(|i| {
                    let affected = case.affected == Affected::All || i == 0;
                    let median = step_median_us(i) * scale * if affected { effect } else { 1.0 };
                    let failed = match failures {
                        Failures::Exactly(k) => Some(per_run_exact(k, run)),
                        Failures::Rate(_) => None,
                    };
                    let rate = match failures {
                        Failures::Rate(p) => p,
                        Failures::Exactly(_) => 0.0,
                    };
                    let draw = Draw {
                        requests: case.requests,
                        median_us: median,
                        sigma: case.service_sigma,
                        failure_rate: rate,
                        exact_failures: failed,
                    };
                    step_record(i, &draw, rng)
                })
                .collect();
            record(path, run, steps)
        })
        .collect()
}

/// What one step of one run draws.
struct Draw {
    requests: u64,
    median_us: f64,
    sigma: f64,
    failure_rate: f64,
    exact_failures: Option<u64>,
}

fn step_record(index: usize, draw: &Draw, rng: &mut ChaCha8Rng) -> StepRecord {
    let mut ok = latency_histogram();
    let mut failed = latency_histogram();
    let mut failures = 0u64;
    let requests = draw.requests;
    for n in 0..requests {
        let latency = (draw.median_us * (draw.sigma * standard_normal(rng)).exp()).round() as u64;
        let fails = match draw.exact_failures {
            Some(k) => n < k,
            None => rng.random::<f64>() < draw.failure_rate,
        };
        let histogram = if fails { &mut failed } else { &mut ok };
        histogram.saturating_record(latency);
        failures += u64::from(fails);
    }
    let mut classes = BTreeMap::new();
    if requests > failures {
        classes.insert(OutcomeClass::Ok, requests - failures);
    }
    if failures > 0 {
        classes.insert(OutcomeClass::Http5xx, failures);
    }
    let mut statuses = BTreeMap::new();
    if requests > failures {
        statuses.insert(200, requests - failures);
    }
    if failures > 0 {
        statuses.insert(503, failures);
    }
    StepRecord {
        flow: "flow".into(),
        step: format!("step-{}", index + 1),
        ok,
        failed,
        classes,
        statuses,
        check_failures: BTreeMap::new(),
        session: false,
        seconds: Vec::new(),
    }
}

pub(crate) fn record(path: &str, run: usize, steps: Vec<StepRecord>) -> RunRecord {
    let repetition = u32::try_from(run + 1).unwrap_or(u32::MAX);
    let started = UNIX_EPOCH + Duration::from_secs(1_750_000_000 + u64::from(repetition) * 60);
    let sent: u64 = steps.iter().map(|s| s.count()).sum();
    RunRecord {
        schema: RUN_SCHEMA.into(),
        scenario: ScenarioRef {
            name: "synthetic".into(),
            hash: "5e".repeat(32),
            file: "synthetic".into(),
        },
        path: path.into(),
        repetition,
        seed: 0,
        started_at: humantime::format_rfc3339_seconds(started).to_string(),
        environment: Environment {
            os: "synthetic".into(),
            arch: "synthetic".into(),
            kernel: "synthetic".into(),
            cpu_model: "synthetic".into(),
            logical_cores: 1,
            harness_version: env!("CARGO_PKG_VERSION").into(),
        },
        load: LoadSummary {
            model: LoadModelKind::Closed,
            target_rate: None,
            achieved_rate: sent as f64,
            users: Some(1),
            duration_s: 1.0,
            warmup_s: 0.0,
            sent,
            completed: sent,
            dropped: 0,
            max_in_flight: None,
            dispatch_lag_p99_us: None,
        },
        steps,
        timeline: Vec::new(),
        complete: true,
        notes: Vec::new(),
        warnings: Vec::new(),
        target: String::new(),
        faults: Vec::new(),
        resilience: Vec::new(),
        telemetry: None,
        metrics: None,
        segment: None,
        merged: None,
    }
}

/// A standard normal draw (Marsaglia's polar method; the second value is discarded to
/// keep the generator stateless).
pub(crate) fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    loop {
        let u = 2.0 * rng.random::<f64>() - 1.0;
        let v = 2.0 * rng.random::<f64>() - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * s.ln() / s).sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_standard_normal() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let draws: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }

    #[test]
    fn a_trial_is_deterministic_and_builds_valid_runs() {
        let case = Case::latency("x", 1.0, Affected::All, 3, 0.05);
        let policy = Policy::default();
        let a = trial(&case, 7, &policy);
        assert_eq!(a, trial(&case, 7, &policy));
        assert_ne!(a, Verdict::Inconclusive, "synthetic runs must be valid");
    }

    #[test]
    fn exact_failures_are_spread_over_the_runs() {
        let case = Case::latency("x", 1.0, Affected::All, 1, 0.0)
            .requests(100)
            .failures(Failures::Exactly(0), Failures::Exactly(7));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let runs = side_runs(&case, "dagger", 1.0, 5, Failures::Exactly(7), &mut rng);
        let failed: u64 = runs.iter().map(|r| r.steps[0].failed_count()).sum();
        assert_eq!(failed, 7);
    }

    #[test]
    fn requirements_read_as_targets() {
        let r = Requirement::at_most(Verdict::Rollback, 0.005);
        assert_eq!(r.describe(), "ROLLBACK ≤ 0.5%");
        assert!(r.met(0.005) && !r.met(0.0051));
        assert_eq!(
            Requirement::at_least(Verdict::Rollback, 1.0).describe(),
            "ROLLBACK = 100%"
        );
        assert_eq!(
            Requirement::at_most(Verdict::Rollback, 0.0).describe(),
            "never ROLLBACK"
        );
    }
}
