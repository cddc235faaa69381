//! Helpers shared by the tests: the binary (for the exit-code and wording contract), the
//! pipeline in process (for decisions), and scenarios on the embedded reference
//! platform. Each test binary uses a subset.
#![allow(dead_code)]

pub mod child;
pub mod http_server;
pub mod pipeline;
pub mod prometheus;
pub mod proxy_process;
pub mod proxy_server;
pub mod python;
pub mod records;
pub mod tls_server;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The binary, off GitHub Actions even when the tests run there: a test's gate must not
/// annotate the job or append to its summary (tests that want Actions set both again).
pub fn harness() -> Command {
    let mut cmd = Command::cargo_bin("harness").expect("the harness binary is built");
    cmd.env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    cmd
}

/// The binary, run in `dir` (a repository root, for the gate).
pub fn harness_in(dir: &Path) -> Command {
    let mut cmd = harness();
    cmd.current_dir(dir);
    cmd
}

/// The one way tests write a scenario on the embedded reference platform: both paths
/// on it (the Dagger path by its feature header), one POST step, a fixed and precise
/// executor time so latency noise stays far below every threshold. Each knob adds to
/// or replaces one part of the text.
#[derive(Debug, Clone)]
pub struct ScenarioBuilder {
    name: String,
    component: Option<String>,
    seed: u64,
    rate: u32,
    duration: String,
    warmup: String,
    repetitions: Option<u32>,
    flow: String,
    faults: String,
    policy: String,
    reference: String,
    extra: String,
}

/// The default flow: one POST that starts a workflow.
const EXECUTE: &str = r#"[[flow]]
name = "wf"
steps = [{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202] }]"#;

impl ScenarioBuilder {
    /// `name` at 150/s for 1 s (200 ms warmup), 5 repetitions, seed 11, executor 8 ms.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            component: None,
            seed: 11,
            rate: 150,
            duration: "1s".into(),
            warmup: "200ms".into(),
            repetitions: Some(5),
            flow: EXECUTE.to_string(),
            faults: String::new(),
            policy: String::new(),
            reference: "executor_latency = \"8ms\"\nexecutor_jitter = \"0ms\"\n".into(),
            extra: String::new(),
        }
    }

    /// The platform component the scenario exercises (for the gate's flags).
    pub fn component(mut self, component: &str) -> Self {
        self.component = Some(component.to_string());
        self
    }

    /// The seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Arrivals per second.
    pub fn rate(mut self, rate: u32) -> Self {
        self.rate = rate;
        self
    }

    /// The measured duration of a run.
    pub fn duration(mut self, duration: &str) -> Self {
        self.duration = duration.to_string();
        self
    }

    /// The warmup of a run.
    pub fn warmup(mut self, warmup: &str) -> Self {
        self.warmup = warmup.to_string();
        self
    }

    /// Repetitions per path; `None` leaves the scenario's default.
    pub fn repetitions(mut self, repetitions: Option<u32>) -> Self {
        self.repetitions = repetitions;
        self
    }

    /// The `[[flow]]` tables, as TOML text, instead of the one POST.
    pub fn flow(mut self, flow: &str) -> Self {
        self.flow = flow.to_string();
        self
    }

    /// `[[fault]]` tables, as TOML text.
    pub fn faults(mut self, faults: &str) -> Self {
        self.faults = faults.to_string();
        self
    }

    /// Keys of `[policy]`, as TOML lines.
    pub fn policy(mut self, policy: &str) -> Self {
        self.policy = policy.to_string();
        self
    }

    /// The executor's time per call.
    pub fn executor(mut self, latency: &str) -> Self {
        self.reference = format!("executor_latency = \"{latency}\"\nexecutor_jitter = \"0ms\"\n");
        self
    }

    /// More keys of `[reference]` (how each path behaves), as TOML lines.
    pub fn reference(mut self, lines: &str) -> Self {
        self.reference.push_str(lines);
        self.reference.push('\n');
        self
    }

    /// Text after everything else (`[expect]`, say).
    pub fn extra(mut self, text: &str) -> Self {
        self.extra = text.to_string();
        self
    }

    /// The scenario's text.
    pub fn text(&self) -> String {
        let component = self
            .component
            .as_ref()
            .map(|c| format!("component = \"{c}\"\n"))
            .unwrap_or_default();
        let repetitions = self
            .repetitions
            .map(|k| format!("repetitions = {k}\n"))
            .unwrap_or_default();
        let policy = if self.policy.is_empty() {
            String::new()
        } else {
            format!("[policy]\n{}\n", self.policy)
        };
        format!(
            r#"
name = "{name}"
{component}seed = {seed}
[paths.legacy]
target = "reference"
headers = {{ "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false" }}
[paths.dagger]
target = "reference"
headers = {{ "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true" }}
[load]
model = "open"
rate = {rate}
duration = "{duration}"
warmup = "{warmup}"
{repetitions}timeout = "1s"
{flow}
{faults}
{policy}[reference]
{reference}
{extra}
"#,
            name = self.name,
            seed = self.seed,
            rate = self.rate,
            duration = self.duration,
            warmup = self.warmup,
            flow = self.flow,
            faults = self.faults,
            reference = self.reference,
            extra = self.extra,
        )
    }

    /// Writes the scenario to `dir/<name>.toml`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("mkdir");
        let file = dir.join(format!("{}.toml", self.name));
        std::fs::write(&file, self.text()).expect("write scenario");
        file
    }
}

/// Both paths on the reference platform; `reference` sets how each behaves.
pub fn scenario(dir: &Path, name: &str, reference: &str) -> PathBuf {
    ScenarioBuilder::new(name).reference(reference).write(dir)
}

/// As [`scenario`], at `rate` for `duration` per run.
pub fn scenario_at(dir: &Path, name: &str, reference: &str, rate: u32, duration: &str) -> PathBuf {
    ScenarioBuilder::new(name)
        .rate(rate)
        .duration(duration)
        .reference(reference)
        .write(dir)
}

pub fn comparison(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("result.json")).expect("result.json written");
    let mut result: serde_json::Value = serde_json::from_str(&text).expect("result is JSON");
    result["comparison"].take()
}
