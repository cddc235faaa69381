//! The Dagger path against the engine's real behaviours, through the binary: the
//! contract double (`dagger_double/`) replies as the engine's source says it does
//! (each behaviour names its engine file there), and these tests prove what harness makes
//! of it: outcome classes for an engine that is going away, a query the engine refuses,
//! an image it cannot pull, trimmed exec output; telemetry that survives once-per-session
//! span emission, batched export and lazy `withExec`; and a ROLLBACK explained by spans.

mod common;
mod dagger_double;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::harness;
use dagger_double::{Behaviour, EngineDouble, TOKEN};
use serde_json::Value;

/// One Dagger step `step` on a `dagger` path (and a command path `legacy` beside it).
fn scenario(dir: &Path, name: &str, dagger_step: &str, extra_path_keys: &str) -> PathBuf {
    let text = format!(
        r#"
name = "{name}"
seed = 9
[paths.legacy]
kind = "command"
[paths.dagger]
kind = "dagger"
connect_timeout = "5s"
{extra_path_keys}
[load]
model = "open"
rate = 10
duration = "1s"
warmup = "0s"
repetitions = 2
timeout = "3s"
[[flow]]
name = "pipeline"
steps = [
  {{ name = "step", command = ["sh", "-c", "echo ok"], dagger = {dagger_step} }},
]
[policy]
min_samples = 5
"#
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).expect("write scenario");
    file
}

fn with_session(port: u16) -> Command {
    let mut cmd = harness();
    cmd.env("DAGGER_SESSION_PORT", port.to_string())
        .env("DAGGER_SESSION_TOKEN", TOKEN)
        .env_remove("_EXPERIMENTAL_DAGGER_CLI_BIN");
    cmd
}

fn read_json(file: &Path) -> Value {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn record(out: &Path, run: &str) -> Value {
    read_json(&out.join("runs").join(format!("{run}.json")))
}

fn classes(record: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(record["steps"][0]["classes"].clone()).expect("classes")
}

/// `harness run --path dagger` once against the double behaving as `behaviour`.
fn run_dagger(dir: &Path, name: &str, step: &str, behaviour: Behaviour) -> Value {
    let file = scenario(dir, name, step, "");
    let out = dir.join(format!("out-{name}"));
    let double = EngineDouble::start_in_background(TOKEN, behaviour);
    with_session(double.port)
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
    record(&out, "dagger-r1")
}

const ECHO: &str = r#"{ from = "alpine:3.20", exec = ["sh", "-c", "echo ok"] }"#;

#[test]
fn an_engine_going_away_is_engine_unavailable_never_exec_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, behaviour, said) in [
        (
            "shutting-down",
            Behaviour::ShuttingDown,
            "engine is shutting down",
        ),
        ("closing", Behaviour::SessionClosing, "session is closing"),
        (
            "modules",
            Behaviour::ModulesFailed("go build failed".into()),
            "loading modules: go build failed",
        ),
    ] {
        let record = run_dagger(dir.path(), name, ECHO, behaviour);
        let classes = classes(&record);
        assert_eq!(
            classes.keys().collect::<Vec<_>>(),
            ["engine_unavailable"],
            "{name}: {classes:?}"
        );
        let notes = record["notes"].to_string();
        assert!(notes.contains(said), "{name}: the engine's words: {notes}");
    }
    // When the engine dies behind a live session port, the port answers 502 with text.
    let record = run_dagger(
        dir.path(),
        "died",
        ECHO,
        Behaviour::BadGateway("engine connection lost".into()),
    );
    assert_eq!(
        classes(&record).keys().collect::<Vec<_>>(),
        ["transport"],
        "{record:#}"
    );
}

#[test]
fn a_query_the_engine_refuses_is_query_invalid_and_the_compare_inconclusive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(
        dir.path(),
        "invalid",
        r#"{ call = "greeter.nosuch", args = { name = "x" } }"#,
        "",
    );
    let out = dir.path().join("out");
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::Engine);
    let assert = with_session(double.port)
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .code(5);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let record = record(&out, "dagger-r1");
    assert_eq!(
        classes(&record).keys().collect::<Vec<_>>(),
        ["query_invalid"],
        "{record:#}"
    );
    assert!(
        record["notes"].to_string().contains("HTTP 422"),
        "{:#}",
        record["notes"]
    );
    let comparison = common::comparison(&out);
    assert_eq!(comparison["verdict"], "INCONCLUSIVE");
    let checks: Vec<&Value> = comparison["invalid"]
        .as_array()
        .expect("invalid")
        .iter()
        .map(|p| &p["check"])
        .collect();
    assert!(checks.iter().any(|c| *c == "query_invalid"), "{checks:?}");
    assert!(stdout.contains("harness or scenario bug"), "{stdout}");
}

#[test]
fn a_function_of_another_module_takes_its_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let step = r#"{ call = "greeter.greet", args = { name = "harness" } }, check = [{ body_contains = "Hello, harness!" }]"#;
    let file = scenario(dir.path(), "module", step, "");
    let out = dir.path().join("out");
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::Engine);
    with_session(double.port)
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
    let record = record(&out, "dagger-r1");
    assert_eq!(
        classes(&record).keys().collect::<Vec<_>>(),
        ["ok"],
        "{record:#}"
    );
    let queries = double.queries();
    assert!(
        queries
            .iter()
            .any(|q| q.contains("greeter") && q.contains("greet(name:\"harness\")")),
        "{queries:#?}"
    );
}

#[test]
fn an_image_the_engine_cannot_pull_is_exec_error_naming_the_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = run_dagger(
        dir.path(),
        "image",
        r#"{ from = "registry.example.com/team/nosuch-image:1", exec = ["sh", "-c", "echo ok"] }"#,
        Behaviour::Engine,
    );
    assert_eq!(
        classes(&record).keys().collect::<Vec<_>>(),
        ["exec_error"],
        "{record:#}"
    );
    let notes = record["notes"].to_string();
    assert!(
        notes.contains("registry.example.com/team/nosuch-image:1"),
        "{notes}"
    );
}

#[test]
fn trimmed_exec_output_is_read_as_the_engine_sends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 40 000 lines (228 894 bytes) and exit 3, accepted: the answer is the stdout the
    // engine kept, its last 100 KiB with the omission written over its start.
    let step = r#"{ from = "alpine:3.20", exec = ["sh", "-c", "seq 40000; exit 3"] }, expect_exit = [3], check = [{ body_contains = "[omitting 126494 bytes]..." }, { body_contains = "39999\n40000" }]"#;
    let record = run_dagger(dir.path(), "trimmed", step, Behaviour::Engine);
    assert_eq!(
        classes(&record).keys().collect::<Vec<_>>(),
        ["ok"],
        "{record:#}"
    );
}

/// The binary with no session of its own and the stand-in `dagger` CLI on PATH, so the
/// harness starts `dagger session` (and its telemetry); the user's shell holds OTEL_*
/// variables that would send the spans elsewhere or late if the harness did not set them.
fn with_stand_in_cli(dir: &Path, double: &EngineDouble) -> Command {
    let bin_dir = dagger_double::stand_in_cli(dir, double.port, TOKEN);
    let mut cmd = harness();
    cmd.env_remove("DAGGER_SESSION_PORT")
        .env_remove("DAGGER_SESSION_TOKEN")
        .env_remove("_EXPERIMENTAL_DAGGER_CLI_BIN")
        .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
        .env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
        .env("OTEL_BSP_SCHEDULE_DELAY", "30000");
    cmd
}

fn group<'a>(telemetry: &'a Value, name: &str) -> &'a Value {
    telemetry["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` group in {telemetry:#}"))
}

#[test]
fn every_run_gets_all_its_steps_spans_from_a_session_that_emits_once_and_batches() {
    if !Path::new("/bin/bash").exists() {
        eprintln!("skipped: /bin/bash not found (the stand-in CLI is a bash script)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let step = r#"{ from = "alpine:3.20", exec = ["sh", "-c", "sleep 0.05; echo ok"] }"#;
    let file = scenario(dir.path(), "telemetry", step, "telemetry = true");
    let out = dir.path().join("out");
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::Engine);
    with_stand_in_cli(dir.path(), &double)
        .args(["run", "--quiet", "--path", "dagger", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let otel = std::fs::read_to_string(dir.path().join("cli-otel")).expect("otel env");
    assert!(
        otel.contains("/v1/traces http/protobuf every 1000ms"),
        "{otel}"
    );
    let mut stdout_spans = 0;
    for run in ["dagger-r1", "dagger-r2"] {
        let record = record(&out, run);
        let telemetry = &record["telemetry"];
        let ok = classes(&record)["ok"];
        assert!(ok >= 8, "{run}: {:?}", classes(&record));
        // Every step the engine ran left its trace in this run's summary, although the
        // engine emits a call's span once per session unless asked to repeat (the
        // harness sends `repeat-telemetry`), and although the session batches.
        assert_eq!(telemetry["traced_steps"], ok, "{run}: {telemetry:#}");
        assert_eq!(telemetry["traces"], ok, "{run}: {telemetry:#}");
        assert_eq!(telemetry["by_time"], 0, "{run}: {telemetry:#}");
        assert_eq!(
            telemetry["late_from_earlier_runs"],
            Value::Null,
            "{telemetry:#}"
        );
        let warnings = record["warnings"].to_string();
        assert!(!warnings.contains("telemetry"), "{run}: {warnings}");
        // withExec is lazy: its first call of the session returns pending (counted, no
        // latency) and stdout runs the exec; later calls are hits on the evaluated result.
        let exec = group(telemetry, "Container.withExec");
        assert_eq!(exec["count"], ok, "{exec:#}");
        let pending = if run == "dagger-r1" { 1 } else { 0 };
        assert_eq!(exec["pending"], pending, "{exec:#}");
        assert!(
            exec["max_us"].as_u64().unwrap_or(u64::MAX) < 50_000,
            "{exec:#}"
        );
        let stdout = group(telemetry, "Container.stdout");
        if run == "dagger-r1" {
            assert!(
                stdout["max_us"].as_u64().unwrap_or(0) >= 50_000,
                "{stdout:#}"
            );
        }
        assert_eq!(stdout["count"], ok, "{stdout:#}");
        stdout_spans += stdout["count"].as_u64().unwrap_or(0);
        assert_eq!(
            telemetry["cache_attribute"], "dagger.io/cache.outcome",
            "{telemetry:#}"
        );
        if run == "dagger-r2" {
            // The same exec again: every one a hit, and hits take no exec time.
            assert_eq!(stdout["cached"], ok, "{stdout:#}");
            assert!(
                stdout["max_us"].as_u64().unwrap_or(u64::MAX) < 50_000,
                "{stdout:#}"
            );
        }
    }
    assert!(stdout_spans >= 16, "{stdout_spans}");
}

#[test]
fn a_rollback_of_a_cache_that_stopped_hitting_is_explained_by_the_spans() {
    if !Path::new("/bin/bash").exists() {
        eprintln!("skipped: /bin/bash not found (the stand-in CLI is a bash script)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Both paths run the same pipeline on the engine; the candidate busts the cache, so
    // every exec runs (0.2 s) where the base's are answered from the cache.
    let text = r#"
name = "cache-regression"
seed = 3
[paths.legacy]
kind = "dagger"
connect_timeout = "5s"
telemetry = true
[paths.dagger]
kind = "dagger"
cache = "bust"
telemetry = true
[load]
model = "open"
rate = 8
duration = "1s"
warmup = "0s"
repetitions = 3
timeout = "3s"
[[flow]]
name = "pipeline"
steps = [
  { name = "test", dagger = { from = "alpine:3.20", exec = ["sh", "-c", "sleep 0.2; echo ok"] } },
]
[policy]
min_samples = 5
"#;
    let file = dir.path().join("cache.toml");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    let double = EngineDouble::start_in_background(TOKEN, Behaviour::Engine);
    let assert = with_stand_in_cli(dir.path(), &double)
        .args(["compare", "--out"])
        .arg(&out)
        .arg(&file)
        .assert();
    let output = assert.get_output();
    let code = output.status.code();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("exit {code:?}:\n{stdout}");
    assert!(matches!(code, Some(3 | 4)), "exit {code:?}:\n{stdout}");
    let comparison = common::comparison(&out);
    let explanation = &comparison["explanation"];
    let first = &explanation["operations"][0];
    assert_eq!(first["name"], "Container.stdout", "{explanation:#}");
    assert_eq!(first["candidate_cache_hits"], 0.0, "{explanation:#}");
    assert!(
        first["base_cache_hits"].as_f64().unwrap_or(0.0) > 0.8,
        "{explanation:#}"
    );
    let line = "why it is slower, by the engine's spans";
    assert!(stdout.contains(line), "{stdout}");
    assert!(stdout.contains("Container.stdout: p50 "), "{stdout}");
    assert!(stdout.contains("→ 0%"), "{stdout}");
    // The candidate's withExec calls all returned pending: their time is stdout's.
    assert!(stdout.contains("→ lazy"), "{stdout}");
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(
        summary.contains("### Why it is slower: the engine's spans"),
        "{summary}"
    );
    assert!(summary.contains("Container.stdout: p50 "), "{summary}");
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("<section id=\"spans\">"), "no span section");
    assert!(
        html.contains("<code>Container.stdout</code>"),
        "no stdout row"
    );
}
