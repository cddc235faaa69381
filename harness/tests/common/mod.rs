//! Helpers shared by the CLI tests: the binary, and scenarios on the embedded reference
//! platform. Each test binary uses a subset.
#![allow(dead_code)]

pub mod http_server;
pub mod records;
pub mod tls_server;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub fn harness() -> Command {
    Command::cargo_bin("harness").expect("the harness binary is built")
}

/// Both paths on the reference platform; `reference` sets how each behaves. A fixed,
/// precise executor time keeps the latency noise far below every threshold.
pub fn scenario(dir: &Path, name: &str, reference: &str) -> PathBuf {
    scenario_at(dir, name, reference, 150, "1s")
}

/// As [`scenario`], at `rate` for `duration` per run.
pub fn scenario_at(dir: &Path, name: &str, reference: &str, rate: u32, duration: &str) -> PathBuf {
    let text = format!(
        r#"
name = "{name}"
seed = 11
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
warmup = "200ms"
repetitions = 5
timeout = "1s"
[[flow]]
name = "wf"
steps = [{{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{{}}", expect_status = [202] }}]
[reference]
executor_latency = "8ms"
executor_jitter = "0ms"
{reference}
"#
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).expect("write scenario");
    file
}

pub fn comparison(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("result.json")).expect("result.json written");
    let mut result: serde_json::Value = serde_json::from_str(&text).expect("result is JSON");
    result["comparison"].take()
}
