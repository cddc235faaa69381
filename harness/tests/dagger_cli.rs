//! Dagger paths through the real binary: a command path against a Dagger path, with no
//! engine (skipped, exit 5, never GO), against the contract double of the engine's
//! session endpoint (end to end, to a decision), with a wrong token, and with faults
//! between the SDK and the engine (the harness's own fault proxy, and the engine going
//! away mid-run).

mod common;
mod dagger_double;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::harness;
use dagger_double::{Behaviour, EngineDouble, TOKEN};
use serde_json::Value;

/// A `kind = "command"` path against a `kind = "dagger"` path, one step that prints a JSON
/// status on both (and extracts from it); `extra` is appended (faults, ...).
fn pipeline_scenario(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let text = r#"
name = "NAME"
seed = 5
[paths.legacy]
kind = "command"
[paths.dagger]
kind = "dagger"
connect_timeout = "2s"
[load]
model = "open"
rate = 20
duration = "1s"
warmup = "200ms"
repetitions = 2
timeout = "2s"
[[flow]]
name = "pipeline"
steps = [
  { name = "test",
    command = ["sh", "-c", "echo '{\"status\":\"passed\"}'"],
    dagger = { from = "alpine:3.20", exec = ["sh", "-c", "echo '{\"status\":\"passed\"}'"] },
    extract = { status = "/status" } },
]
[policy]
min_samples = 20
EXTRA
"#
    .replace("NAME", name)
    .replace("EXTRA", extra);
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).expect("write scenario");
    file
}

/// The binary with no way to an engine: no session, no CLI named, no `dagger` on PATH
/// (which holds only `sh`, for the command path), an empty HOME (no cached CLI).
fn without_engine(dir: &Path) -> Command {
    let bin = dir.join("bin");
    let home = dir.join("home");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    std::fs::create_dir_all(&home).expect("mkdir home");
    let sh = bin.join("sh");
    if !sh.exists() {
        std::os::unix::fs::symlink("/bin/sh", &sh).expect("link sh");
    }
    let mut cmd = harness();
    cmd.env_remove("DAGGER_SESSION_PORT")
        .env_remove("DAGGER_SESSION_TOKEN")
        .env_remove("_EXPERIMENTAL_DAGGER_CLI_BIN")
        .env_remove("XDG_CACHE_HOME")
        .env("PATH", &bin)
        .env("HOME", &home);
    cmd
}

/// The binary pointed at a session on `port` with `token`.
fn with_session(port: u16, token: &str) -> Command {
    let mut cmd = harness();
    cmd.env("DAGGER_SESSION_PORT", port.to_string())
        .env("DAGGER_SESSION_TOKEN", token)
        .env_remove("_EXPERIMENTAL_DAGGER_CLI_BIN");
    cmd
}

fn read_json(file: &Path) -> Value {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    serde_json::from_str(&text).expect("JSON")
}

/// The outcome classes of the run record's only step: `{"ok": n, "transport": m, ...}`.
fn classes(out: &Path, run: &str) -> BTreeMap<String, u64> {
    let record = read_json(&out.join("runs").join(format!("{run}.json")));
    let steps = record["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "{steps:?}");
    serde_json::from_value(steps[0]["classes"].clone()).expect("classes are counts by name")
}

fn count(classes: &BTreeMap<String, u64>, class: &str) -> u64 {
    classes.get(class).copied().unwrap_or(0)
}

/// A fault that hits about half the steps: some `transport`, some `ok`, nothing else.
#[track_caller]
fn assert_only_ok_and_transport(c: &BTreeMap<String, u64>) {
    assert!(count(c, "transport") >= 3, "{c:?}");
    assert!(count(c, "ok") >= 3, "{c:?}");
    assert_eq!(
        count(c, "transport") + count(c, "ok"),
        c.values().sum::<u64>(),
        "{c:?}"
    );
}

/// The words of `text`, to look for a verdict without matching inside other words.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .collect()
}

#[test]
fn without_an_engine_compare_is_skipped_with_exit_5_and_the_command_path_still_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = pipeline_scenario(dir.path(), "no-engine", "");
    let out = dir.path().join("out");
    let assert = without_engine(dir.path())
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .code(5);
    let output = assert.get_output();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("skipped: no Dagger engine"), "{stderr}");
    // What was looked at, and how to provide an engine.
    assert!(
        stderr.contains("DAGGER_SESSION_PORT is not set"),
        "{stderr}"
    );
    assert!(stderr.contains("dagger run"), "{stderr}");
    assert!(stderr.contains("_EXPERIMENTAL_DAGGER_CLI_BIN"), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(!words(text).contains(&"GO"), "a GO slipped out:\n{text}");
    }
    let result = out.join("result.json");
    if result.exists() {
        let verdict = &read_json(&result)["comparison"]["verdict"];
        assert_ne!(verdict, "GO", "a missing engine is never a pass");
    }

    // The command path needs no engine.
    without_engine(dir.path())
        .args([
            "run",
            "--quiet",
            "--path",
            "legacy",
            "--repetitions",
            "1",
            "--out",
        ])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let legacy = classes(&out, "legacy-r1");
    assert!(count(&legacy, "ok") >= 15, "{legacy:?}");
    assert_eq!(legacy.len(), 1, "only ok: {legacy:?}");
}

#[test]
fn compare_of_a_command_path_against_a_dagger_path_runs_end_to_end_on_the_double() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = pipeline_scenario(dir.path(), "end-to-end", "");
    let out = dir.path().join("out");
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::Engine);
    let assert = with_session(double.port, TOKEN)
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert();
    let output = assert.get_output();
    let code = output.status.code().expect("an exit code");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!([0, 3, 4].contains(&code), "exit {code}: {stderr}");
    eprintln!("exit {code}:\n{}", String::from_utf8_lossy(&output.stdout));
    let comparison = common::comparison(&out);
    let expected = match code {
        0 => "GO",
        3 => "NO-GO",
        _ => "ROLLBACK",
    };
    assert_eq!(comparison["verdict"], expected, "{comparison:#}");
    let rows = comparison["rows"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r["step"] == "pipeline/test"),
        "{rows:#?}"
    );
    for run in ["legacy-r1", "legacy-r2", "dagger-r1", "dagger-r2"] {
        let c = classes(&out, run);
        assert_eq!(c.keys().collect::<Vec<_>>(), ["ok"], "{run}: {c:?}");
    }
    // Every step reached the double as one query with its own request id and the token.
    let calls = double.calls();
    assert!(calls.len() >= 40, "{} queries", calls.len());
    assert!(calls.iter().all(|c| c.authorized && c.request_id.is_some()));
    assert!(calls.iter().all(|c| c.names().last() == Some(&"stdout")));
}

#[test]
fn a_wrong_session_token_is_auth_on_every_dagger_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = pipeline_scenario(dir.path(), "wrong-token", "");
    let out = dir.path().join("out");
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::Engine);
    let wrong = "not-the-session-token-81c2";
    with_session(double.port, wrong)
        .args([
            "run",
            "--quiet",
            "--path",
            "dagger",
            "--repetitions",
            "1",
            "--out",
        ])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let dagger = classes(&out, "dagger-r1");
    assert_eq!(dagger.keys().collect::<Vec<_>>(), ["auth"], "{dagger:?}");
    assert!(count(&dagger, "auth") >= 15, "{dagger:?}");
    assert!(double.calls().iter().all(|c| !c.authorized));
    let record = std::fs::read_to_string(out.join("runs/dagger-r1.json")).expect("record");
    assert!(
        !record.contains(wrong),
        "the session token reached the record"
    );
    assert!(record.contains("HTTP 401"), "a failure sample says why");
}

/// Runs the Dagger path once against `double` with `faults` in the scenario; the classes.
fn faulted_run(
    dir: &Path,
    name: &str,
    double: &EngineDouble,
    faults: &str,
) -> BTreeMap<String, u64> {
    let file = pipeline_scenario(dir, name, faults);
    let out = dir.join(format!("{name}-out"));
    with_session(double.port, TOKEN)
        .args([
            "run",
            "--quiet",
            "--path",
            "dagger",
            "--repetitions",
            "1",
            "--out",
        ])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let record = read_json(&out.join("runs/dagger-r1.json"));
    if !faults.is_empty() {
        let injected = record["faults"][0]["injected"].as_u64().expect("injected");
        assert!(
            injected > 0,
            "the proxy injected nothing: {:#}",
            record["faults"]
        );
    }
    let c = classes(&out, "dagger-r1");
    eprintln!("{name}: {c:?}; faults: {}", record["faults"]);
    c
}

#[test]
fn a_502_with_a_text_body_between_the_sdk_and_the_engine_is_transport() {
    let dir = tempfile::tempdir().expect("tempdir");
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::Engine);
    let c = faulted_run(
        dir.path(),
        "chaos-502",
        &double,
        r#"
[[fault]]
at = "client"
kind = "http_error"
status = 502
body = "upstream engine unavailable"
probability = 0.5
"#,
    );
    assert_only_ok_and_transport(&c);
}

#[test]
fn an_aborted_connection_between_the_sdk_and_the_engine_is_transport() {
    let dir = tempfile::tempdir().expect("tempdir");
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::Engine);
    let c = faulted_run(
        dir.path(),
        "chaos-abort",
        &double,
        r#"
[[fault]]
at = "client"
kind = "abort"
probability = 0.5
"#,
    );
    assert_only_ok_and_transport(&c);
}

#[test]
fn an_engine_that_goes_away_mid_run_is_connect_failed_from_then_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 20/s for 1.2 s: ~24 steps; the engine answers 12 queries (4 of them in the warmup),
    // drops the 13th and stops listening.
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::GoneAfter(12));
    let c = faulted_run(dir.path(), "engine-gone", &double, "");
    assert!(double.is_gone());
    // 12 answered, the 13th dropped, and nothing reached the engine after it went away.
    assert_eq!(double.calls().len(), 13, "{:?}", double.queries());
    assert!(count(&c, "ok") >= 5, "{c:?}");
    assert!(count(&c, "connect_failed") >= 5, "{c:?}");
    // The steps in flight when it went lost their connection (transport); every later
    // one found nothing listening.
    assert!(count(&c, "transport") <= 3, "{c:?}");
    assert_eq!(
        count(&c, "ok") + count(&c, "connect_failed") + count(&c, "transport"),
        c.values().sum::<u64>(),
        "{c:?}"
    );
}
