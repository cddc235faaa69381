//! Synthetic run records' metadata, shared by the tests that build records by hand.

use std::time::{Duration, SystemTime};

use harness::compare::{Noise, NoiseFrom, NoisePoint};
use harness::record::{Environment, LoadModelKind, LoadPlan, RunMeta, RunRecord, ScenarioRef};

/// A fixed test machine.
pub fn environment() -> Environment {
    Environment {
        os: "linux".into(),
        arch: "x86_64".into(),
        kernel: "6.1.0".into(),
        cpu_model: "Test CPU".into(),
        logical_cores: 2,
        harness_version: "0.1.0".into(),
    }
}

/// A complete open-model run of scenario `demo` (100/s for 60 s), `path`, `repetition`,
/// started a minute after the previous repetition; callers adjust what they need.
pub fn meta(path: &str, repetition: u32) -> RunMeta {
    RunMeta {
        scenario: ScenarioRef {
            name: "demo".into(),
            hash: "ab".repeat(32),
            file: "scenarios/demo.toml".into(),
        },
        path: path.into(),
        repetition,
        seed: 42,
        started_at: SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_750_000_000 + u64::from(repetition) * 60),
        environment: environment(),
        load: LoadPlan {
            model: LoadModelKind::Open,
            target_rate: Some(100.0),
            achieved_rate: Some(99.5),
            users: None,
            duration: Duration::from_secs(60),
            warmup: Duration::ZERO,
            max_in_flight: Some(64),
            dispatch_lag_p99_us: Some(120),
        },
        steps: vec![],
        complete: true,
        notes: vec![],
    }
}

/// Quiet run-to-run noise (log-sd 0.01) as if measured on 10 runs of the base path, for
/// every step of `records`: what a baseline's noise model gives a comparison with fewer
/// than five runs a side, so that a single run can prove latency within the go margin.
#[allow(dead_code)]
pub fn quiet_noise(records: &[RunRecord]) -> Noise {
    let mut noise = Noise::default();
    for step in records.iter().flat_map(|r| r.steps.iter()) {
        for q in [0.5, 0.95, 0.99] {
            noise.insert(
                &format!("{}/{}", step.flow, step.step),
                NoisePoint {
                    q,
                    log_sd: 0.01,
                    runs: 10,
                    from: NoiseFrom::Baseline,
                },
            );
        }
    }
    noise
}
