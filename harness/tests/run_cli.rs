//! The `harness run` / `validate` command-line contract, through the real binary:
//! exit codes, stderr wording, records on disk, Ctrl-C.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use common::{ScenarioBuilder, harness};
use predicates::prelude::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write scenario");
    file
}

fn read_json(file: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(file).expect("record exists");
    serde_json::from_str(&text).expect("record is JSON")
}

/// Two steps (start a workflow, poll its task) on both paths of the reference platform.
fn small_open() -> String {
    ScenarioBuilder::new("small-open")
        .seed(3)
        .rate(100)
        .repetitions(None)
        .executor("2ms")
        .flow(
            r#"[[flow]]
name = "execute-and-poll"
steps = [
  { name = "execute", method = "POST", path = "/api/workflows/execute", body = '{"workflow":"x"}',
    expect_status = [202], extract = { task_id = "/task_id" } },
  { name = "status", path = "/api/tasks/${task_id}", expect_status = [200] },
]"#,
        )
        .text()
}

#[test]
fn validate_accepts_every_shipped_scenario() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/") {
        let file = entry.expect("entry").path();
        if file.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        harness()
            .arg("validate")
            .arg(&file)
            // The templates read the service's URL, token and dependency from the
            // environment (the phase scenarios fall back to the reference platform
            // without them: validated as the gate test runs them).
            .env("ORCH_URL", "http://127.0.0.1:8080")
            .env("ORCH_TOKEN", "not-a-secret")
            .env("DEP_URL", "http://127.0.0.1:9000")
            .assert()
            .success()
            .stdout(
                predicate::str::contains("valid scenario").and(predicate::str::contains("hash")),
            );
        checked += 1;
    }
    assert!(
        checked >= 7,
        "only {checked} scenarios found in {}",
        dir.display()
    );
}

#[test]
fn an_invalid_scenario_exits_2_naming_file_line_and_column_and_starts_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = small_open().replace("rate = 100", "rate = -5");
    let file = write(dir.path(), "bad.toml", &bad);
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml:").and(predicate::str::contains("rate")));
    assert!(
        !out.exists(),
        "nothing may start before the scenario validated"
    );
}

#[test]
fn a_missing_scenario_file_exits_2() {
    harness()
        .args(["run", "--quiet", "does/not/exist.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does/not/exist.toml"));
}

#[test]
fn an_unknown_path_flag_exits_2_and_lists_the_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "s.toml", &small_open());
    harness()
        .args(["run", "--quiet", "--path", "canary"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("legacy").and(predicate::str::contains("dagger")));
}

#[test]
fn run_writes_one_complete_record_per_path_and_repetition_and_prints_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "s.toml", &small_open());
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--repetitions", "2", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("execute").and(predicate::str::contains("p99")));
    for path in ["legacy", "dagger"] {
        for rep in [1, 2] {
            let record = read_json(&out.join("runs").join(format!("{path}-r{rep}.json")));
            assert_eq!(record["schema"], "harness-run/v1");
            assert_eq!(record["path"], path);
            assert_eq!(record["repetition"], rep);
            assert_eq!(record["complete"], true);
            let steps = record["steps"].as_array().expect("steps");
            assert_eq!(steps.len(), 2);
            let ok: u64 = steps[0]["classes"]["ok"].as_u64().unwrap_or(0);
            // 100/s for 1 s, warmup excluded: about 100 executions, all fine.
            assert!((60..=140).contains(&ok), "ok executions: {ok}");
        }
    }
}

#[test]
fn a_target_that_is_down_gives_a_record_of_connect_errors_and_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let scenario = format!(
        r#"
name = "down"
[paths.legacy]
base_url = "http://127.0.0.1:{port}"
[load]
model = "open"
rate = 50
duration = "500ms"
timeout = "500ms"
[[flow]]
name = "f"
steps = [{{ name = "ping", path = "/healthz" }}]
"#
    );
    let file = write(dir.path(), "down.toml", &scenario);
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success()
        .stderr(predicate::str::contains("failed to connect"));
    let record = read_json(&out.join("runs").join("legacy-r1.json"));
    let connect = record["steps"][0]["classes"]["connect"]
        .as_u64()
        .unwrap_or(0);
    assert!(connect > 10, "connect errors: {connect}");
    assert!(record["steps"][0]["classes"].get("ok").is_none());
}

#[test]
fn the_closed_model_runs_through_goose_and_records_every_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = small_open().replace(
        "model = \"open\"\nrate = 100",
        "model = \"closed\"\nusers = 4\nthink_time = \"20ms\"",
    );
    let file = write(dir.path(), "closed.toml", &scenario);
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--path", "dagger", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let record = read_json(&out.join("runs").join("dagger-r1.json"));
    assert_eq!(record["load"]["model"], "closed");
    assert_eq!(record["complete"], true);
    let execute_ok = record["steps"][0]["classes"]["ok"].as_u64().unwrap_or(0);
    let status_ok = record["steps"][1]["classes"]["ok"].as_u64().unwrap_or(0);
    assert!(execute_ok > 10, "execute ok: {execute_ok}");
    assert!(status_ok > 10, "status ok: {status_ok}");
}

#[test]
fn ctrl_c_keeps_what_was_measured_and_marks_the_record_incomplete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = small_open().replace("duration = \"1s\"", "duration = \"30s\"");
    let file = write(dir.path(), "long.toml", &long);
    let out = dir.path().join("out");
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("harness"))
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn harness");
    // Wait until the run is under way (the first tick of load), then interrupt.
    std::thread::sleep(Duration::from_millis(2500));
    let status = StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = child.wait().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "Ctrl-C must stop the run promptly"
    );
    assert_eq!(exit.code(), Some(130));
    let record = read_json(&out.join("runs").join("legacy-r1.json"));
    assert_eq!(record["complete"], false);
    let ok = record["steps"][0]["classes"]["ok"].as_u64().unwrap_or(0);
    assert!(ok > 0, "what was measured before Ctrl-C is kept");
    assert!(
        !out.join("runs").join("dagger-r1.json").exists(),
        "nothing runs after Ctrl-C"
    );
}

#[test]
fn a_secret_from_the_environment_never_reaches_a_record_or_the_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "s3cr3t-token-4f9a";
    let scenario = small_open().replace(
        "headers = { \"X-Feature-USE_DAGGER_WORKFLOW_ENGINE\" = \"true\" }",
        "headers = { \"X-Feature-USE_DAGGER_WORKFLOW_ENGINE\" = \"true\", \"Authorization\" = \"Bearer ${HARNESS_TEST_TOKEN}\" }",
    );
    assert_ne!(
        scenario,
        small_open(),
        "the secret header must be in the scenario"
    );
    let file = write(dir.path(), "secret.toml", &scenario);
    let out = dir.path().join("out");
    let assert = harness()
        .env("HARNESS_TEST_TOKEN", secret)
        .args(["run", "--path", "dagger", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let output = assert.get_output();
    assert!(!String::from_utf8_lossy(&output.stdout).contains(secret));
    assert!(!String::from_utf8_lossy(&output.stderr).contains(secret));
    let record = std::fs::read_to_string(out.join("runs").join("dagger-r1.json")).expect("record");
    assert!(!record.contains(secret), "the record holds the secret");
    // Without the variable the scenario is refused before anything starts.
    harness()
        .env_remove("HARNESS_TEST_TOKEN")
        .args(["validate"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("HARNESS_TEST_TOKEN"));
}
