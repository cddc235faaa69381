//! What a person and a CI log see, through the real binary: `--quiet` leaves only the
//! result on stdout and warnings (and errors) on stderr; a run whose generator could not
//! keep up says so on stderr, in the run summary and in every compare report; on GitHub
//! Actions the gate appends its summary to the job summary and annotates its verdicts.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ScenarioBuilder, harness, harness_in};
use harness::load::{Outcome, OutcomeClass};
use harness::record::{Recorder, RunRecord};

const KEEP_UP: &str = "the generator could not keep up: achieved ";

/// Both paths asked for 100/s, but one request in flight at a time and 20 ms each: at
/// most ~50 start per second, the rest are dropped, whatever the machine's speed.
fn starved(name: &str, policy: &str) -> String {
    ScenarioBuilder::new(name)
        .rate(100)
        .duration("500ms")
        .warmup("100ms")
        .repetitions(Some(1))
        .executor("20ms")
        .policy(policy)
        .text()
        .replace(
            "model = \"open\"\n",
            "model = \"open\"\nmax_in_flight = 1\n",
        )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write");
    file
}

/// The lines of `stderr`, each of which must be a warning.
fn only_warnings(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).into_owned();
    for line in text.lines() {
        assert!(
            line.starts_with("warning: "),
            "not a warning on stderr under --quiet: {line:?}\n{text}"
        );
    }
    text
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[test]
fn quiet_commands_print_the_result_and_warnings_only_and_a_starved_run_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let scenario = write(root, "starved.toml", &starved("starved", ""));
    let lenient = write(
        root,
        "lenient.toml",
        &starved("starved", "min_achieved_rate = 0.01"),
    );

    // run: the summary on stdout, and only the warning on stderr; a run decides
    // nothing, so it exits 0.
    let runs = root.join("run");
    let out = harness()
        .arg("run")
        .arg(&scenario)
        .arg("--quiet")
        .arg("--out")
        .arg(&runs)
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = only_warnings(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for path in ["legacy", "dagger"] {
        assert!(
            stderr.contains(&format!("warning: {path} r1: {KEEP_UP}")),
            "{stderr}"
        );
    }
    assert!(
        stdout.contains(&format!("  warning: {KEEP_UP}")),
        "{stdout}"
    );
    assert!(stdout.contains(" dropped, generator lag p99 "), "{stdout}");

    // Without --quiet the notes are there too.
    let out = harness()
        .arg("run")
        .arg(&scenario)
        .args(["--path", "legacy", "--out"])
        .arg(root.join("run-loud"))
        .output()
        .expect("ran");
    let loud = String::from_utf8_lossy(&out.stderr);
    assert!(
        loud.contains("running `starved`") && loud.contains("run records: "),
        "{loud}"
    );
    assert!(
        loud.contains(&format!("warning: legacy r1: {KEEP_UP}")),
        "{loud}"
    );

    // A live compare: INCONCLUSIVE (the policy's achieved-rate floor), the warning on
    // stderr and in every report.
    let live = root.join("live");
    let out = harness()
        .arg("compare")
        .arg(&scenario)
        .arg("--quiet")
        .arg("--out")
        .arg(&live)
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(only_warnings(&out.stderr).contains(KEEP_UP));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("warning: dagger r1: {KEEP_UP}"))
    );
    for file in ["result.json", "summary.md", "junit.xml", "report.html"] {
        assert!(read(&live.join(file)).contains(KEEP_UP), "{file}");
    }

    // Offline, under a policy whose floor the runs pass: the comparison is valid as far
    // as the rate goes, and still says the generator could not keep up.
    let offline = root.join("offline");
    let out = harness()
        .arg("compare")
        .arg("--baseline")
        .arg(runs.join("runs/legacy-r1.json"))
        .arg("--candidate")
        .arg(runs.join("runs/dagger-r1.json"))
        .arg("--policy")
        .arg(&lenient)
        .arg("--quiet")
        .arg("--out")
        .arg(&offline)
        .output()
        .expect("ran");
    assert!(only_warnings(&out.stderr).contains(KEEP_UP), "{out:?}");
    let result: serde_json::Value =
        serde_json::from_str(&read(&offline.join("result.json"))).expect("JSON");
    let c = &result["comparison"];
    assert!(
        c["invalid"]
            .as_array()
            .is_none_or(|i| i.iter().all(|p| p["check"] != "achieved_rate")),
        "{c:#}"
    );
    let warnings = c["warnings"].as_array().expect("warnings");
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.as_str().is_some_and(|w| w.contains(KEEP_UP)))
            .count(),
        2,
        "{warnings:?}"
    );

    // baseline save has no progress to hide; it warns all the same.
    let out = harness()
        .arg("baseline")
        .arg("save")
        .arg(runs.join("runs/legacy-r1.json"))
        .arg("--root")
        .arg(root.join("baselines"))
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(only_warnings(&out.stderr).contains(&format!("legacy r1: {KEEP_UP}")));

    // calibrate: A/A runs, quiet.
    let out = harness()
        .arg("calibrate")
        .arg(&lenient)
        .args(["--repetitions", "4", "--quiet", "--root"])
        .arg(root.join("calibrated"))
        .arg("--out")
        .arg(root.join("calibrate"))
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(only_warnings(&out.stderr).contains(KEEP_UP));
}

/// One run of `path` of scenario `name` (hash `hash`), one step `wf/execute`: 2000
/// requests, `errors` of them 5xx; `starved`: asked for 1 000 000/s, achieved 19 827/s
/// (else 99.5/s of 100/s).
fn record(name: &str, hash: &str, path: &str, errors: u64, starved: bool) -> RunRecord {
    let mut meta = common::records::meta(path, 1);
    meta.scenario.name = name.into();
    meta.scenario.hash = hash.into();
    if starved {
        meta.load.target_rate = Some(1_000_000.0);
        meta.load.achieved_rate = Some(19_827.0);
    }
    meta.steps = vec![("wf".into(), "execute".into())];
    let mut recorder = Recorder::new(1, Duration::ZERO);
    for id in 0..2_000u64 {
        let intended = Duration::from_millis(id);
        let failed = id < errors;
        recorder.record_sent(intended);
        recorder.record(&Outcome {
            step: 0,
            intended,
            latency: Duration::from_micros(1_000 + id % 7),
            class: if failed {
                OutcomeClass::Http5xx
            } else {
                OutcomeClass::Ok
            },
            status: Some(if failed { 503 } else { 202 }),
            request_id: id,
        });
    }
    RunRecord::build(recorder.finish(), meta)
}

const PLAN: &str = r#"
baselines = "baselines"
confirm_rollback = 0

[flags]
workflow_engine = "USE_DAGGER_WORKFLOW_ENGINE"

[[phase]]
number = 1
name = "Foundation"
scenarios = ["scenarios/flaky.toml", "scenarios/unsaved.toml"]
rollback_action = "Revert to the pre-migration state"
"#;

#[test]
fn on_github_actions_the_gate_appends_its_summary_and_annotates_its_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let flaky = ScenarioBuilder::new("flaky")
        .component("workflow_engine")
        .policy("min_achieved_rate = 0.01")
        .write(&root.join("scenarios"));
    ScenarioBuilder::new("unsaved")
        .component("workflow_engine")
        .write(&root.join("scenarios"));
    write(&root.join("ci"), "phases.toml", PLAN);

    // A saved result of `flaky`, made offline from records of the current scenario: a
    // third of the candidate's requests fail (ROLLBACK), and its generator fell behind.
    let hash = harness::scenario::load(&flaky).expect("valid").hash;
    let base = root.join("base.json");
    let candidate = root.join("candidate.json");
    record("flaky", &hash, "legacy", 0, false)
        .write_atomic(&base)
        .expect("written");
    record("flaky", &hash, "dagger", 660, true)
        .write_atomic(&candidate)
        .expect("written");
    harness_in(root)
        .arg("compare")
        .arg("--baseline")
        .arg(&base)
        .arg("--candidate")
        .arg(&candidate)
        .arg("--policy")
        .arg(&flaky)
        .args(["--quiet", "--out", "saved/flaky"])
        .assert()
        .code(4);

    // The job summary already holds an earlier step's text: the gate appends to it.
    let summary = root.join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").expect("write");
    let out = harness_in(root)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args([
            "gate", "--phase", "1", "--quiet", "--from", "saved", "--out", "gate",
        ])
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = only_warnings(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: flaky: dagger r1: {KEEP_UP}19827.0/s of 1000000.0/s (0 dropped)"
        )),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert!(
        commands
            .iter()
            .any(|l| l.starts_with("::error title=flaky%3A ROLLBACK::") && l.contains("errors")),
        "{stdout}"
    );
    assert!(
        commands.contains(
            &"::warning title=flaky%3A warning::dagger r1: the generator could not keep up: achieved 19827.0/s of 1000000.0/s (0 dropped)"
        ),
        "{stdout}"
    );
    assert!(
        commands
            .iter()
            .any(|l| l.starts_with("::warning title=unsaved%3A INCONCLUSIVE::no saved result")),
        "{stdout}"
    );
    assert_eq!(commands.len(), 3, "{stdout}");
    let job = read(&summary);
    let gate_summary = read(&root.join("gate/summary.md"));
    assert_eq!(job, format!("earlier step\n{gate_summary}"));
    assert!(
        job.contains("## harness gate: phase 1 (Foundation): ROLLBACK"),
        "{job}"
    );
    assert!(job.contains(KEEP_UP), "{job}");

    // A job summary that cannot be written is a warning; the decision stands.
    let out = harness_in(root)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", root.join("ci"))
        .args([
            "gate", "--phase", "1", "--quiet", "--from", "saved", "--out", "gate-2",
        ])
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        only_warnings(&out.stderr).contains("warning: cannot append "),
        "{out:?}"
    );

    // Off Actions: no workflow commands, the job summary untouched.
    let out = harness_in(root)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["gate", "--phase", "1", "--from", "saved", "--out", "gate-3"])
        .output()
        .expect("ran");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("::"),
        "{out:?}"
    );
    assert_eq!(read(&summary), job);
}
