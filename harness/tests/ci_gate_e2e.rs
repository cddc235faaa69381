//! `ci/gate.sh` run the way the example CI workflows run it, end to end: in a temporary
//! repository holding a copy of the script and a two-phase plan whose scenarios are
//! templates (`base_url = "${ORCH_URL}"`, the reference platform as the fallback), with
//! ORCH_URL pointing at a system under test the test starts itself
//! (`harness reference serve`), as GitHub Actions would: GITHUB_ACTIONS=true and a fresh
//! GITHUB_OUTPUT and GITHUB_STEP_SUMMARY file per step.
//!
//! `establish` saves the baselines (and refuses a second time), phase 1 is GO, then the
//! system is "deployed" again with a Dagger path that fails a third of its requests, on
//! the same address, and phase 2 is ROLLBACK: exit codes, signal.json, the step outputs
//! the jobs after the gate read, the annotations and the job summary.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::ScenarioBuilder;

const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

/// The two-phase plan: phase 1 a steady scenario, phase 2 one whose Dagger path fails.
const PLAN: &str = r#"
baselines = "baselines"
confirm_rollback = 1
critical = { error_rate = 0.5, latency_ratio = 5.0 }

[flags]
workflow_engine = "USE_DAGGER_WORKFLOW_ENGINE"

[[phase]]
number = 1
name = "Foundation"
scenarios = ["scenarios/steady.toml"]
go_ratio = 1.10
rollback_action = "Revert to the pre-migration state"

[[phase]]
number = 2
name = "Core functionality"
scenarios = ["scenarios/flaky.toml"]
go_ratio = 1.10
rollback_action = "Switch back to the previous orchestration engine using feature flags"
"#;

/// A scenario at `scenarios/<name>.toml` written as the shipped phase scenarios are:
/// both paths at `${ORCH_URL}` with the reference platform as the fallback, and an
/// Authorization header from `${ORCH_AUTHORIZATION:-}`. Its `[reference]` table is what
/// the system under test started from it does. Short steady runs as in gate_cli.rs: the
/// error margin floor at 0.5 point and only p50 judged.
fn scenario(root: &Path, name: &str, rate: u32, repetitions: u32, reference: &str) -> PathBuf {
    let text = ScenarioBuilder::new(name)
        .component("workflow_engine")
        .seed(7)
        .rate(rate)
        .repetitions(Some(repetitions))
        .policy("error_absolute_floor = 0.005\nquantiles = [0.5]")
        .reference(reference)
        .text();
    let templated = text
        .replace(
            "target = \"reference\"",
            "base_url = \"${ORCH_URL}\"\ntarget = \"reference\"",
        )
        .replace(
            "headers = { ",
            "headers = { Authorization = \"${ORCH_AUTHORIZATION:-}\", ",
        );
    assert_eq!(
        templated.matches("${ORCH_URL}").count(),
        2,
        "both paths templated:\n{templated}"
    );
    let file = root.join("scenarios").join(format!("{name}.toml"));
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, templated).expect("write scenario");
    file
}

/// A repository as a team's: ci/gate.sh (copied from this one), ci/phases.toml and the
/// scenarios.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // ~1500 requests a side per run: a zero-error GO is provable.
    scenario(root, "steady", 300, 5, "");
    // A third of the Dagger path's requests fail (on the system deployed for phase 2).
    scenario(root, "flaky", 150, 2, "dagger_error_rate = 0.33");
    std::fs::create_dir_all(root.join("ci")).expect("mkdir");
    std::fs::write(root.join("ci/phases.toml"), PLAN).expect("write plan");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/gate.sh");
    // Copied by a child process (`install -m 755`), never opened for writing here: a
    // descriptor open for writing in this process leaks into whatever another test thread
    // forks at that moment, and running the script then fails with ETXTBSY.
    let status = std::process::Command::new("install")
        .args(["-m", "755"])
        .arg(&script)
        .arg(root.join("ci/gate.sh"))
        .status()
        .expect("run install");
    assert!(status.success(), "install ci/gate.sh");
    dir
}

/// The system under test: `harness reference serve` configured by a scenario's
/// `[reference]` table, killed when dropped.
struct Sut {
    child: Child,
    url: String,
}

impl Sut {
    /// Starts it on `bind` and reads its address from its first line.
    fn start(root: &Path, scenario: &str, bind: &str) -> Self {
        let mut child = Command::new(HARNESS)
            .current_dir(root)
            .args(["reference", "serve", "--bind", bind, "--scenario"])
            .arg(format!("scenarios/{scenario}.toml"))
            .env_remove("ORCH_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn harness reference serve");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        // Read every line, so that the server never writes to a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("reference platform: ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => Self { child, url },
            Err(_) => {
                let status = child.try_wait();
                let _ = child.kill();
                panic!("the system under test did not start on {bind}: {status:?}");
            }
        }
    }

    /// `127.0.0.1:PORT`, to start the next deployment on the same address.
    fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sut {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One CI step: `ci/gate.sh ARGS` from the repository root with the environment the
/// workflow gives it, and the files the runner would read afterwards.
struct Step {
    output: Output,
    stdout: String,
    outputs: BTreeMap<String, String>,
    step_summary: String,
}

impl Step {
    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- outputs {:?}",
            self.code(),
            self.stdout,
            String::from_utf8_lossy(&self.output.stderr),
            self.outputs
        )
    }
}

/// Runs `ci/gate.sh` as a workflow step does: GITHUB_ACTIONS=true, a fresh
/// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY (the runner gives each step its own), HARNESS_BIN
/// set (the workflow builds it; here cargo did), ORCH_URL the system under test or unset,
/// and the rest of the scenarios' variables unset as on a fresh fork.
fn gate_sh(root: &Path, step: &str, orch_url: Option<&str>, args: &[&str]) -> Step {
    let files = root.join("runner").join(step);
    std::fs::create_dir_all(&files).expect("mkdir");
    let github_output = files.join("github_output");
    let step_summary = files.join("step_summary");
    let mut cmd = Command::new(root.join("ci/gate.sh"));
    cmd.current_dir(root)
        .args(args)
        .env("HARNESS_BIN", HARNESS)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &github_output)
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .env_remove("ORCH_AUTHORIZATION")
        .env_remove("DEP_URL")
        .env_remove("DEP_PROXY_ADDR")
        .env_remove("GATE_DOTENV")
        .stdin(Stdio::null());
    match orch_url {
        Some(url) => cmd.env("ORCH_URL", url),
        None => cmd.env_remove("ORCH_URL"),
    };
    let output = cmd.output().expect("run ci/gate.sh");
    Step {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        outputs: key_values(&github_output),
        step_summary: std::fs::read_to_string(&step_summary).unwrap_or_default(),
        output,
    }
}

/// `key=value` lines (GITHUB_OUTPUT, a dotenv file); the last one of a key wins.
fn key_values(file: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn json(file: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{} not written: {e}", file.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn no_flags(signal: &serde_json::Value) -> bool {
    signal
        .get("flags")
        .is_none_or(|f| f.as_array().is_some_and(Vec::is_empty))
}

#[test]
fn establish_then_a_go_phase_and_a_rollback_phase_as_the_workflow_runs_them() {
    let started = Instant::now();
    let repo = repository();
    let root = repo.path();

    // The pre-migration system, and the `baselines` job's step.
    let sut = Sut::start(root, "steady", "127.0.0.1:0");
    let url = sut.url.clone();
    let establish = gate_sh(root, "establish", Some(&url), &["establish", "--quiet"]);
    assert_eq!(establish.code(), Some(0), "{}", establish.describe());
    assert_eq!(
        establish.outputs.get("baselines").map(String::as_str),
        Some("baselines"),
        "{}",
        establish.describe()
    );
    assert_eq!(
        establish.outputs.get("exit_code").map(String::as_str),
        Some("0")
    );
    assert!(
        establish
            .stdout
            .contains("baselines: established (exit 0); baselines folder: baselines"),
        "{}",
        establish.describe()
    );
    assert!(
        !establish.stdout.contains("::error"),
        "{}",
        establish.describe()
    );
    let stored = root.join("baselines/steady/legacy.json");
    let baseline = json(&stored);
    assert_eq!(baseline["records"].as_array().map(Vec::len), Some(5));
    // Measured on the system the test started, not on the stand-in.
    let target = baseline["records"][0]["target"]
        .as_str()
        .unwrap_or_default();
    assert!(target.starts_with("${ORCH_URL}"), "{target}");
    assert!(root.join("baselines/flaky/legacy.json").is_file());
    let before = std::fs::read(&stored).expect("stored");

    // Again without --force: refused (exit 2) before anything runs, annotated as a
    // failure of harness, the baselines untouched.
    let again = gate_sh(
        root,
        "establish-again",
        Some(&url),
        &["establish", "--quiet"],
    );
    assert_eq!(again.code(), Some(2), "{}", again.describe());
    assert!(
        again.stdout.contains("::error title=harness failed::"),
        "{}",
        again.describe()
    );
    assert_eq!(
        again.outputs.get("exit_code").map(String::as_str),
        Some("2")
    );
    assert_eq!(std::fs::read(&stored).expect("stored"), before);

    // Phase 1 on the same system: GO, advance, no flags, no error annotation.
    let go = gate_sh(root, "gate-1", Some(&url), &["1", "--quiet"]);
    assert_eq!(go.code(), Some(0), "{}", go.describe());
    assert_eq!(go.outputs.get("decision").map(String::as_str), Some("GO"));
    assert_eq!(
        go.outputs.get("action").map(String::as_str),
        Some("advance")
    );
    assert_eq!(go.outputs.get("exit_code").map(String::as_str), Some("0"));
    let report1 = root.join(go.outputs.get("report").expect("report output"));
    assert!(
        report1.starts_with(root.join("reports/phase-1")),
        "{}",
        report1.display()
    );
    let signal = json(&report1.join("signal.json"));
    assert_eq!(signal["decision"], "GO", "{signal:#}");
    assert_eq!(signal["action"], "advance");
    assert!(no_flags(&signal), "{signal:#}");
    assert!(!go.stdout.contains("::error"), "{}", go.describe());
    assert!(
        go.stdout
            .contains("phase 1 gate: GO (exit 0); action: advance"),
        "{}",
        go.describe()
    );

    // Phase 2: the system is deployed again, on the same address (the same ORCH_URL, so
    // the baselines are of this target), with a Dagger path failing a third of its
    // requests: ROLLBACK (confirmed by a re-run), rollback, the flag to switch back.
    let addr = sut.addr().to_string();
    sut.stop();
    let sut = Sut::start(root, "flaky", &addr);
    assert_eq!(sut.url, url);
    let rollback = gate_sh(root, "gate-2", Some(&url), &["2", "--quiet"]);
    assert_eq!(rollback.code(), Some(4), "{}", rollback.describe());
    assert_eq!(
        rollback.outputs.get("decision").map(String::as_str),
        Some("ROLLBACK")
    );
    assert_eq!(
        rollback.outputs.get("action").map(String::as_str),
        Some("rollback")
    );
    assert_eq!(
        rollback.outputs.get("exit_code").map(String::as_str),
        Some("4")
    );
    let report2 = root.join(rollback.outputs.get("report").expect("report output"));
    let signal = json(&report2.join("signal.json"));
    assert_eq!(signal["decision"], "ROLLBACK", "{signal:#}");
    assert_eq!(signal["action"], "rollback");
    assert_eq!(
        signal["flags"],
        serde_json::json!(["USE_DAGGER_WORKFLOW_ENGINE"])
    );
    assert_eq!(signal["reasons"][0]["scenario"], "flaky");
    // A decision is not a crash: gate.sh does not say harness failed.
    assert!(
        !rollback.stdout.contains("harness failed"),
        "{}",
        rollback.describe()
    );
    drop(sut);

    // The same decision from the saved results, as the GitLab job runs it: a fixed
    // report folder and the outputs as a dotenv report.
    let dotenv = root.join("gate.env");
    let from = report2.to_string_lossy().into_owned();
    let gitlab = Command::new(root.join("ci/gate.sh"))
        .current_dir(root)
        .args(["2", "--quiet", "--out", "gate-report", "--from", &from])
        .env("HARNESS_BIN", HARNESS)
        .env("GATE_DOTENV", &dotenv)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("run ci/gate.sh");
    assert_eq!(gitlab.status.code(), Some(4), "{gitlab:?}");
    let env = key_values(&dotenv);
    assert_eq!(env.get("DECISION").map(String::as_str), Some("ROLLBACK"));
    assert_eq!(env.get("ACTION").map(String::as_str), Some("rollback"));
    assert_eq!(env.get("REPORT").map(String::as_str), Some("gate-report"));
    assert_eq!(env.get("EXIT_CODE").map(String::as_str), Some("4"));
    assert!(root.join("gate-report/junit.xml").is_file());

    // What harness itself does on GitHub Actions: it annotates the ROLLBACK (an
    // `::error` per ROLLBACK scenario) and appends its summary.md to the step's job
    // summary, once; gate.sh adds neither, so nothing is said twice.
    assert!(
        rollback.stdout.contains("::error"),
        "no ::error annotation for the ROLLBACK\n{}",
        rollback.describe()
    );
    for (step, report) in [(&go, &report1), (&rollback, &report2)] {
        let summary = std::fs::read_to_string(report.join("summary.md")).expect("summary.md");
        assert_eq!(
            step.step_summary.matches(summary.trim()).count(),
            1,
            "the job summary holds {}'s summary.md once:\n{}\n--- summary.md\n{summary}",
            report.display(),
            step.step_summary
        );
    }

    let elapsed = started.elapsed();
    eprintln!("ci/gate.sh end to end: {:.1} s", elapsed.as_secs_f64());
}

#[test]
fn usage_errors_and_bad_input_exit_2_and_say_harness_failed() {
    let repo = repository();
    let root = repo.path();
    // Usage errors: nothing runs, no outputs.
    for args in [&[][..], &["--quiet"][..], &["one"][..], &["2x"][..]] {
        let step = gate_sh(root, "usage", None, args);
        assert_eq!(step.code(), Some(2), "{args:?}: {}", step.describe());
        assert!(
            String::from_utf8_lossy(&step.output.stderr).contains("usage: ci/gate.sh PHASE"),
            "{args:?}: {}",
            step.describe()
        );
        assert!(step.outputs.is_empty(), "{args:?}: {}", step.describe());
    }
    assert!(!root.join("reports").exists(), "nothing ran");
    // Help is not an error.
    let help = gate_sh(root, "help", None, &["--help"]);
    assert_eq!(help.code(), Some(0), "{}", help.describe());
    assert!(help.stdout.contains("ci/gate.sh establish"));

    // A phase the plan does not have: harness exits 2; no decision, said as a failure of
    // harness (an annotation and a line in the job summary), not as a NO-GO.
    let bad = gate_sh(root, "bad-phase", None, &["3", "--quiet"]);
    assert_eq!(bad.code(), Some(2), "{}", bad.describe());
    assert_eq!(
        bad.outputs.get("decision").map(String::as_str),
        Some("error")
    );
    assert_eq!(bad.outputs.get("action").map(String::as_str), Some("none"));
    assert_eq!(bad.outputs.get("exit_code").map(String::as_str), Some("2"));
    assert!(
        bad.stdout
            .contains("::error title=harness failed::phase 3 gate: bad input (exit 2)"),
        "{}",
        bad.describe()
    );
    assert!(
        bad.step_summary
            .contains("phase 3 gate: bad input (exit 2)"),
        "{}",
        bad.step_summary
    );
    // And an unknown option of `establish`, the same.
    let bad = gate_sh(
        root,
        "bad-establish",
        None,
        &["establish", "--no-such-flag"],
    );
    assert_eq!(bad.code(), Some(2), "{}", bad.describe());
    assert!(bad.stdout.contains("::error title=harness failed::"));
    assert!(!root.join("baselines").exists(), "nothing established");
}
