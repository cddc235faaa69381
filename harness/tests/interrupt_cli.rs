//! SIGTERM and SIGINT through the real binary: `run`, `compare`, `gate` and `calibrate`
//! stop cleanly, keep what was measured (the interrupted run `complete: false`), write
//! their reports with what exists (never GO), and exit 143 (SIGTERM) or 130 (SIGINT);
//! a second signal exits at once.
//!
//! Each test waits until the work is under way (a record on disk or a line on stderr)
//! before it signals, and uses runs of about a second.
#![cfg(unix)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ScenarioBuilder, pipeline};

/// The binary running in the background, its stdout and stderr collected as they come;
/// killed when dropped, so a failing test leaves nothing behind.
struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Appends everything `from` says to `into`, on a thread of its own.
fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let into = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&into);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = sink.lock() {
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
    into
}

impl Running {
    /// `harness ARGS` in `dir`.
    fn start(dir: &Path, args: &[&str], paths: &[&Path]) -> Self {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("harness"))
            .current_dir(dir)
            .args(args)
            .args(paths)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn harness");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|t| t.clone()).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        self.stdout.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Waits (at most `limit`) until `ready` holds, failing with `what` and stderr.
    fn wait_for(&mut self, what: &str, limit: Duration, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !ready(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("harness ended ({status}) before {what}\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`TERM`, `INT`) with kill(1).
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Waits (at most `limit`) for the exit code.
    fn exit_code(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader threads take the last output.
                std::thread::sleep(Duration::from_millis(50));
                return status.code().unwrap_or_else(|| {
                    panic!("harness died of a signal ({status})\n{}", self.stderr())
                });
            }
            assert!(
                Instant::now() < deadline,
                "harness did not exit within {limit:?} of the signal\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn json(file: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{} not written: {e}", file.display()));
    serde_json::from_str(&text).expect("JSON")
}

/// Both paths at 100/s, 1 s runs after 200 ms of warmup, ten repetitions each: long
/// enough that every test interrupts it, short enough that a signal lands mid-run.
fn long(name: &str) -> ScenarioBuilder {
    ScenarioBuilder::new(name)
        .component("workflow_engine")
        .seed(3)
        .rate(100)
        .repetitions(Some(10))
        .policy("error_absolute_floor = 0.005\nquantiles = [0.5]")
}

/// Waits until `first` is on disk, then a little more so the next drive is under way.
fn wait_for_record(running: &mut Running, first: &Path) {
    running.wait_for(
        &format!("record {}", first.display()),
        Duration::from_secs(60),
        |_| first.is_file(),
    );
    std::thread::sleep(Duration::from_millis(300));
}

const SECOND: Duration = Duration::from_secs(1);
/// How long a clean stop may take on a busy machine: the drive ends, reports are written.
const CLEAN_STOP: Duration = Duration::from_secs(20);

#[test]
fn sigterm_stops_a_run_keeps_its_records_and_exits_143() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = long("run-term").write(dir.path());
    let out = dir.path().join("out");
    let mut running = Running::start(
        dir.path(),
        &["run", "--quiet", "--out"],
        &[out.as_path(), file.as_path()],
    );
    wait_for_record(&mut running, &out.join("runs/legacy-r1.json"));
    running.signal("TERM");
    assert_eq!(running.exit_code(CLEAN_STOP), 143, "{}", running.stderr());
    let stderr = running.stderr();
    assert!(
        stderr.contains("interrupted (SIGTERM): stopping, keeping what was measured"),
        "{stderr}"
    );
    assert_eq!(json(&out.join("runs/legacy-r1.json"))["complete"], true);
    let cut = json(&out.join("runs/dagger-r1.json"));
    assert_eq!(cut["complete"], false, "the interrupted run is marked");
    assert!(
        !out.join("runs/legacy-r2.json").exists(),
        "nothing runs after the signal"
    );
    // What was measured is printed as usual.
    assert!(running.stdout().contains("legacy"), "{}", running.stdout());
}

#[test]
fn a_second_sigterm_exits_at_once_with_143() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Every legacy request takes 5 s, so a clean stop waits for those in flight.
    let text = long("slow")
        .reference("legacy_overhead = \"5s\"")
        .text()
        .replace("timeout = \"1s\"", "timeout = \"10s\"");
    let file = dir.path().join("slow.toml");
    std::fs::write(&file, text).expect("write scenario");
    let out = dir.path().join("out");
    let mut running = Running::start(
        dir.path(),
        // Not --quiet: the test waits for the "running" note.
        &["run", "--path", "legacy", "--out"],
        &[out.as_path(), file.as_path()],
    );
    running.wait_for("the run starting", Duration::from_secs(30), |r| {
        r.stderr().contains("running `slow`")
    });
    // Requests go out from the end of startup on; give them a moment to be in flight.
    std::thread::sleep(Duration::from_millis(800));
    running.signal("TERM");
    running.wait_for("the first signal's note", Duration::from_secs(5), |r| {
        r.stderr().contains("interrupted (SIGTERM)")
    });
    assert!(
        matches!(running.child.try_wait(), Ok(None)),
        "the clean stop must still be waiting for the requests in flight"
    );
    let again = Instant::now();
    running.signal("TERM");
    assert_eq!(running.exit_code(Duration::from_secs(3)), 143);
    assert!(
        again.elapsed() < SECOND,
        "a second signal exits at once, not after {:?}",
        again.elapsed()
    );
    assert!(
        running
            .stderr()
            .contains("interrupted again (SIGTERM): exiting at once"),
        "{}",
        running.stderr()
    );
}

/// The comparison of a report folder, and the checks of its validity problems.
fn verdict_and_checks(out: &Path) -> (serde_json::Value, Vec<String>) {
    let c = common::comparison(out);
    let checks = c["invalid"]
        .as_array()
        .expect("invalid")
        .iter()
        .map(|i| i["check"].as_str().unwrap_or_default().to_string())
        .collect();
    (c, checks)
}

#[test]
fn sigterm_during_a_live_compare_writes_an_inconclusive_report_and_exits_143() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = long("compare-term").write(dir.path());
    let out = dir.path().join("out");
    let mut running = Running::start(
        dir.path(),
        &["compare", "--quiet", "--out"],
        &[out.as_path(), file.as_path()],
    );
    wait_for_record(&mut running, &out.join("runs/legacy-r1.json"));
    running.signal("TERM");
    assert_eq!(running.exit_code(CLEAN_STOP), 143, "{}", running.stderr());
    let (c, checks) = verdict_and_checks(&out);
    assert_eq!(c["verdict"], "INCONCLUSIVE", "{c:#}");
    assert!(checks.iter().any(|c| c == "incomplete"), "{checks:?}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("interrupted"),
        "{}",
        c["reason"]
    );
    for report in ["summary.md", "junit.xml", "report.html"] {
        assert!(out.join(report).is_file(), "{report} written");
    }
    assert_eq!(json(&out.join("runs/dagger-r1.json"))["complete"], false);
    // The result is printed as usual.
    assert!(
        running.stdout().contains("INCONCLUSIVE"),
        "{}",
        running.stdout()
    );
}

#[test]
fn sigint_during_a_compare_with_expectations_is_never_go_and_exits_130() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A dependency outage early in every run, and an expectation any run meets: the
    // partial runs must still not decide.
    let file = long("compare-int")
        .faults(
            "[[fault]]\nname = \"blip\"\nat = \"dependency\"\nkind = \"http_error\"\nstatus = 503\nstart = \"300ms\"\nduration = \"300ms\"\n",
        )
        .extra("[expect]\nmax_error_rate_during = 1.0\n")
        .write(dir.path());
    let out = dir.path().join("out");
    let mut running = Running::start(
        dir.path(),
        &["compare", "--quiet", "--out"],
        &[out.as_path(), file.as_path()],
    );
    wait_for_record(&mut running, &out.join("runs/legacy-r1.json"));
    // Past the candidate's fault window.
    std::thread::sleep(Duration::from_millis(500));
    running.signal("INT");
    assert_eq!(running.exit_code(CLEAN_STOP), 130, "{}", running.stderr());
    assert!(running.stderr().contains("interrupted (SIGINT)"));
    let (c, checks) = verdict_and_checks(&out);
    assert_eq!(c["verdict"], "INCONCLUSIVE", "{c:#}");
    assert!(checks.iter().any(|c| c == "incomplete"), "{checks:?}");
    let expectations = c["expectations"].as_array().expect("expectations");
    assert!(!expectations.is_empty(), "[expect] is judged: {c:#}");
}

/// A phase of two scenarios; the hook would write `hook-ran.txt`.
const PLAN: &str = r#"
baselines = "baselines"
confirm_rollback = 1

[flags]
workflow_engine = "USE_DAGGER_WORKFLOW_ENGINE"

[[phase]]
number = 1
name = "Foundation"
scenarios = ["scenarios/first.toml", "scenarios/second.toml"]
go_ratio = 1.10
rollback_action = "Revert"
hook = 'echo "$HARNESS_SIGNAL" >> hook-ran.txt'
"#;

#[test]
fn sigterm_during_a_gate_writes_its_reports_never_go_runs_no_hook_and_exits_143() {
    let repo = tempfile::tempdir().expect("tempdir");
    let root = repo.path();
    let scenarios = root.join("scenarios");
    let first: PathBuf = long("first").write(&scenarios);
    long("second").write(&scenarios);
    std::fs::create_dir_all(root.join("ci")).expect("mkdir");
    std::fs::write(root.join("ci/phases.toml"), PLAN).expect("write plan");
    // One run makes the stored baseline (repetitions are not part of the scenario hash).
    pipeline::save_baseline(&first, "legacy", 1, &root.join("baselines"));

    let out = root.join("gate");
    let mut running = Running::start(
        root,
        &["gate", "--phase", "1", "--quiet", "--out"],
        &[out.as_path()],
    );
    wait_for_record(&mut running, &out.join("first/runs/legacy-r1.json"));
    running.signal("TERM");
    assert_eq!(running.exit_code(CLEAN_STOP), 143, "{}", running.stderr());

    let gate = json(&out.join("gate.json"));
    assert_ne!(gate["decision"], "GO", "{gate:#}");
    assert_eq!(gate["decision"], "INCONCLUSIVE", "{gate:#}");
    assert!(
        gate["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("interrupted"),
        "{}",
        gate["reason"]
    );
    assert_eq!(gate["scenarios"][0]["verdict"], "INCONCLUSIVE");
    assert_eq!(gate["scenarios"][1]["verdict"], "INCONCLUSIVE");
    assert_eq!(
        gate["scenarios"][1]["reason"],
        "not run: the gate was interrupted"
    );
    assert_eq!(gate["hook"]["status"], "skipped", "{}", gate["hook"]);
    assert!(!root.join("hook-ran.txt").exists(), "the hook ran");
    let signal = json(&out.join("signal.json"));
    assert_ne!(signal["decision"], "GO", "{signal:#}");
    for file in ["summary.md", "junit.xml"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    // The scenario that was running wrote its compare report with what it measured.
    let (c, checks) = verdict_and_checks(&out.join("first"));
    assert_eq!(c["verdict"], "INCONCLUSIVE", "{c:#}");
    assert!(checks.iter().any(|c| c == "incomplete"), "{checks:?}");
    assert_eq!(
        json(&out.join("first/runs/dagger-r1.json"))["complete"],
        false
    );
    assert!(
        !out.join("second").exists(),
        "the second scenario never ran"
    );
}

#[test]
fn sigterm_during_calibrate_saves_no_baseline_and_exits_143() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = long("calibrate-term").write(dir.path());
    let out = dir.path().join("out");
    let root = dir.path().join("baselines");
    let mut running = Running::start(
        dir.path(),
        &["calibrate", "--quiet", "--repetitions", "10", "--out"],
        &[
            out.as_path(),
            Path::new("--root"),
            root.as_path(),
            file.as_path(),
        ],
    );
    wait_for_record(&mut running, &out.join("runs/legacy-r1.json"));
    running.signal("TERM");
    assert_eq!(running.exit_code(CLEAN_STOP), 143, "{}", running.stderr());
    assert!(
        running.stderr().contains("no baseline was saved"),
        "{}",
        running.stderr()
    );
    assert!(!root.exists(), "a baseline was saved from interrupted runs");
    assert_eq!(json(&out.join("runs/legacy-r2.json"))["complete"], false);
}
