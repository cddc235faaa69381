//! `harness gate` through the real binary, against the embedded reference platform: a
//! small phase plan and fast scenarios in a temporary repository, baselines saved first
//! (through the pipeline in process),
//! then a phase that passes, a phase that rolls back (the hook runs once and reads the
//! signal), a dry run and a gate from saved results.

mod common;

use std::path::{Path, PathBuf};

use common::{ScenarioBuilder, harness_in, pipeline};
use predicates::prelude::*;

/// A scenario at `scenarios/<name>.toml`: both paths on the reference platform, a fixed
/// executor time so latency noise stays far below every threshold, `reference` making
/// the Dagger path behave as the test needs. Two policy changes keep the test short and
/// steady on a busy machine (the statistics have their own tests): the error margin
/// floor is 0.5 point, so that a zero-error GO is provable from ~1500 requests a side
/// (0.1 point would need ~5000), and only p50 is judged, because the p95 of a 1 s run
/// swings with a single scheduling stall of a shared CI box.
fn scenario(root: &Path, name: &str, rate: u32, repetitions: u32, reference: &str) -> PathBuf {
    ScenarioBuilder::new(name)
        .component("workflow_engine")
        .seed(7)
        .rate(rate)
        .repetitions(Some(repetitions))
        .policy("error_absolute_floor = 0.005\nquantiles = [0.5]")
        .reference(reference)
        .write(&root.join("scenarios"))
}

/// The hook appends the signal path it was given to `hook-ran.txt` in the repository.
const PLAN: &str = r#"
baselines = "baselines"
confirm_rollback = 1
critical = { error_rate = 0.5, latency_ratio = 5.0 }

[flags]
workflow_engine = "USE_DAGGER_WORKFLOW_ENGINE"
task_manager = "USE_DAGGER_TASK_MANAGER"

[[phase]]
number = 1
name = "Foundation"
scenarios = ["scenarios/steady.toml"]
go_ratio = 1.10
rollback_action = "Revert to the pre-migration state"
hook = 'echo "$HARNESS_SIGNAL" >> hook-ran.txt'

[[phase]]
number = 2
name = "Core functionality"
scenarios = ["scenarios/flaky.toml"]
go_ratio = 1.10
rollback_action = "Switch back to the previous orchestration engine using feature flags"
hook = 'echo "$HARNESS_SIGNAL" >> hook-ran.txt'

[[phase]]
number = 3
name = "User-facing components"
scenarios = ["scenarios/unsaved.toml"]
rollback_action = "Switch back to the previous UI components"

[[phase]]
number = 4
name = "Complete"
scenarios = []
go_ratio = 1.00
rollback_action = "Reactivate legacy"
"#;

/// A repository with the plan and its scenarios.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    scenario(root, "steady", 300, 5, "");
    // A third of the Dagger path's requests fail: ROLLBACK, but not a critical one.
    scenario(root, "flaky", 150, 2, "dagger_error_rate = 0.33");
    scenario(root, "unsaved", 100, 1, "");
    std::fs::create_dir_all(root.join("ci")).expect("mkdir");
    std::fs::write(root.join("ci/phases.toml"), PLAN).expect("write plan");
    dir
}

/// Runs the legacy path of `name` (in process) and saves its runs as the stored baseline.
fn save_baseline(root: &Path, name: &str, repetitions: u32) {
    let file = root.join("scenarios").join(format!("{name}.toml"));
    pipeline::save_baseline(&file, "legacy", repetitions, &root.join("baselines"));
}

fn json(file: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{} not written: {e}", file.display()));
    serde_json::from_str(&text).expect("JSON")
}

/// The signal paths the hook was given, one per run of the hook.
fn hook_runs(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("hook-ran.txt"))
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

#[test]
fn a_passing_phase_and_a_rolling_back_phase_end_to_end() {
    let repo = repository();
    let root = repo.path();
    save_baseline(root, "steady", 5);
    save_baseline(root, "flaky", 2);

    // Phase 1: the Dagger path is as fast as the baseline: GO, no flags, no hook.
    let out1 = root.join("gate-1");
    harness_in(root)
        .args(["gate", "--phase", "1", "--quiet", "--out"])
        .arg(&out1)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("steady").and(predicate::str::contains("GO")));
    let signal = json(&out1.join("signal.json"));
    assert_eq!(signal["schema"], "harness-signal/v1");
    assert_eq!(signal["decision"], "GO", "{signal:#}");
    assert_eq!(signal["flags"], serde_json::json!([]));
    assert_eq!(signal["action"], "advance");
    assert_eq!(signal["phase"], 1);
    assert!(hook_runs(root).is_empty(), "the hook ran on GO");
    let gate = json(&out1.join("gate.json"));
    assert_eq!(gate["schema"], "harness-gate/v1");
    assert_eq!(gate["hook"]["status"], "skipped");
    assert_eq!(gate["scenarios"][0]["verdict"], "GO");
    // The scenario's full compare report, judged at the phase's go ratio against the
    // stored baseline.
    let result = json(&out1.join("steady").join("result.json"));
    assert_eq!(result["comparison"]["policy"]["go_ratio"], 1.1);
    assert!(
        result["comparison"]["base"]["label"]
            .as_str()
            .is_some_and(|l| l.contains("baseline")),
        "{}",
        result["comparison"]["base"]
    );
    for file in ["summary.md", "junit.xml", "report.html"] {
        assert!(out1.join("steady").join(file).is_file(), "{file}");
    }
    let summary = std::fs::read_to_string(out1.join("summary.md")).expect("summary.md");
    assert!(summary.contains("phase 1 (Foundation): GO"), "{summary}");
    let junit = std::fs::read_to_string(out1.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("name=\"steady\"/>"), "{junit}");

    // Phase 2: a third of the Dagger path's requests fail: ROLLBACK, confirmed by one
    // re-run, naming the workflow engine's flag; the hook runs once and sees the signal.
    let out2 = root.join("gate-2");
    harness_in(root)
        .args(["gate", "--phase", "2", "--quiet", "--out"])
        .arg(&out2)
        .assert()
        .code(4)
        .stdout(
            predicate::str::contains("ROLLBACK")
                .and(predicate::str::contains("USE_DAGGER_WORKFLOW_ENGINE")),
        );
    let signal = json(&out2.join("signal.json"));
    assert_eq!(signal["decision"], "ROLLBACK", "{signal:#}");
    assert_eq!(signal["action"], "rollback");
    assert_eq!(
        signal["flags"],
        serde_json::json!(["USE_DAGGER_WORKFLOW_ENGINE"])
    );
    assert_eq!(signal["reasons"][0]["scenario"], "flaky");
    assert!(
        signal["rollback_action"]
            .as_str()
            .is_some_and(|a| a.contains("feature flags"))
    );
    let runs = hook_runs(root);
    assert_eq!(runs.len(), 1, "the hook ran exactly once: {runs:?}");
    let seen = Path::new(&runs[0]);
    assert!(
        seen.is_absolute() && seen.ends_with("gate-2/signal.json"),
        "{runs:?}"
    );
    let gate = json(&out2.join("gate.json"));
    assert_eq!(gate["hook"]["status"], "ran");
    assert_eq!(gate["hook"]["exit_code"], 0);
    let flaky = &gate["scenarios"][0];
    assert_eq!(
        flaky["attempts"].as_array().map(Vec::len),
        Some(2),
        "{flaky:#}"
    );
    assert!(
        flaky["confirmation"]
            .as_str()
            .is_some_and(|c| c.contains("confirmed by 1 re-run")),
        "{flaky:#}"
    );
    assert!(
        out2.join("flaky")
            .join("confirm-1")
            .join("result.json")
            .is_file()
    );

    // The same decision from the saved results, as a dry run: exit 4, the hook not run.
    let out3 = root.join("gate-2-dry");
    harness_in(root)
        .args(["gate", "--phase", "2", "--dry-run", "--from"])
        .arg(&out2)
        .arg("--out")
        .arg(&out3)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("dry run"));
    assert_eq!(hook_runs(root).len(), 1, "a dry run ran the hook");
    let gate = json(&out3.join("gate.json"));
    assert_eq!(gate["dry_run"], true);
    assert_eq!(gate["hook"]["status"], "dry_run");
    assert_eq!(
        gate["source"],
        format!("saved results in {}", out2.display())
    );
    assert!(out3.join("flaky").join("result.json").is_file(), "copied");

    // Phase 1 from its saved results: GO again, without running anything.
    harness_in(root)
        .args(["gate", "--phase", "1", "--from"])
        .arg(&out1)
        .arg("--out")
        .arg(root.join("gate-1-saved"))
        .assert()
        .code(0);
    assert!(hook_runs(root).len() == 1);
}

#[test]
fn missing_baselines_and_results_are_inconclusive_never_go() {
    let repo = repository();
    let root = repo.path();
    // No baseline for `unsaved`: nothing runs, INCONCLUSIVE, and the report goes to the
    // default folder reports/phase-3/<timestamp>/.
    harness_in(root)
        .args(["gate", "--phase", "3"])
        .assert()
        .code(5)
        .stdout(predicate::str::contains("harness baseline save"));
    let folders: Vec<PathBuf> = std::fs::read_dir(root.join("reports/phase-3"))
        .expect("default report folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(folders.len(), 1);
    let signal = json(&folders[0].join("signal.json"));
    assert_eq!(signal["decision"], "INCONCLUSIVE");
    assert_eq!(signal["action"], "hold");
    assert_eq!(
        signal["flags"],
        serde_json::json!([]),
        "nothing is switched back on a measurement that could not be made"
    );
    assert_eq!(
        signal["reasons"][0]["flag"], "USE_DAGGER_WORKFLOW_ENGINE",
        "the reason still names the component's flag"
    );
    // A baseline saved before the scenario changed does not fit it: INCONCLUSIVE at
    // once, without running the scenario.
    save_baseline(root, "unsaved", 1);
    let file = root.join("scenarios/unsaved.toml");
    let edited = std::fs::read_to_string(&file)
        .expect("read")
        .replace("seed = 7", "seed = 8");
    std::fs::write(&file, edited).expect("write");
    let stale = root.join("out-stale");
    harness_in(root)
        .args(["gate", "--phase", "3", "--out"])
        .arg(&stale)
        .assert()
        .code(5)
        .stdout(predicate::str::contains("another version"));
    assert!(!stale.join("unsaved").exists(), "nothing ran");
    // No saved result under --from: INCONCLUSIVE too.
    let empty = root.join("nothing-saved");
    std::fs::create_dir_all(&empty).expect("mkdir");
    harness_in(root)
        .args(["gate", "--phase", "1", "--from"])
        .arg(&empty)
        .arg("--out")
        .arg(root.join("out-from"))
        .assert()
        .code(5)
        .stdout(predicate::str::contains("no saved result"));
    // A phase without scenarios never passes.
    harness_in(root)
        .args(["gate", "--phase", "4", "--out"])
        .arg(root.join("out-4"))
        .assert()
        .code(5)
        .stdout(predicate::str::contains("never passes on nothing"));
    assert!(hook_runs(root).is_empty());
}

#[test]
fn a_bad_plan_is_located_and_exits_2() {
    let repo = repository();
    let root = repo.path();
    let plan = PLAN.replace("go_ratio = 1.00", "go_ratoi = 1.00");
    std::fs::write(root.join("ci/phases.toml"), plan).expect("write");
    harness_in(root)
        .args(["gate", "--phase", "1"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("ci/phases.toml:36:1: unknown key `go_ratoi`")
                .and(predicate::str::contains("help:")),
        );
    harness_in(root)
        .args(["gate", "--phase", "1", "--plan", "ci/missing.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read the phase plan ci/missing.toml",
        ));
    harness_in(root)
        .args(["gate", "--phase", "5"])
        .assert()
        .code(2);
    assert!(
        !root.join("reports").exists(),
        "nothing is written for bad input"
    );
}

#[test]
fn baselines_are_established_in_one_command_and_never_overwritten_silently() {
    let repo = repository();
    let root = repo.path();
    // Phase 1 and 2: two scenarios, each base path run twice and calibrated.
    let out = root.join("establish-runs");
    harness_in(root)
        .args([
            "baseline",
            "establish",
            "--repetitions",
            "2",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .args(["--phase", "1"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("established steady / legacy (2 run(s) of reference)")
                .and(predicate::str::contains("1 baseline(s) in baselines")),
        );
    let stored = root.join("baselines/steady/legacy.json");
    let baseline = json(&stored);
    assert_eq!(baseline["records"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        baseline["noise"]["steps"][0]["source"], "calibration",
        "{}",
        baseline["noise"]
    );
    assert_eq!(baseline["noise"]["calibration"]["runs"], 2);
    assert_eq!(baseline["records"][0]["target"], "reference");
    let before = std::fs::read(&stored).expect("stored");

    // Again without --force: refused before anything runs, the baseline untouched.
    let again = root.join("establish-again");
    harness_in(root)
        .args([
            "baseline",
            "establish",
            "--phase",
            "1",
            "--repetitions",
            "2",
            "--out",
        ])
        .arg(&again)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("exist already")
                .and(predicate::str::contains("--force"))
                .and(predicate::str::contains("nothing was run")),
        );
    assert!(!again.exists(), "nothing ran");
    assert_eq!(std::fs::read(&stored).expect("stored"), before);

    // With --force it is measured again and replaced; the gate then finds it.
    harness_in(root)
        .args([
            "baseline",
            "establish",
            "--phase",
            "1",
            "--repetitions",
            "2",
            "--force",
            "--quiet",
            "--out",
        ])
        .arg(&again)
        .assert()
        .code(0);
    assert_ne!(std::fs::read(&stored).expect("stored"), before);
    harness_in(root)
        .args(["gate", "--phase", "1", "--dry-run", "--quiet", "--out"])
        .arg(root.join("gate-after-establish"))
        .assert()
        .code(predicate::in_iter([0, 3]));
    let signal = json(&root.join("gate-after-establish/signal.json"));
    assert_ne!(signal["decision"], "INCONCLUSIVE", "{signal:#}");

    // A phase that does not exist is bad input.
    harness_in(root)
        .args(["baseline", "establish", "--phase", "9"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no phase 9"));
}
