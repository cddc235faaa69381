//! Synthetic run records' metadata, shared by the tests that build records by hand.

use std::time::{Duration, SystemTime};

use harness::record::{Environment, LoadModelKind, LoadPlan, RunMeta, ScenarioRef};

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
