//! `harness run --segment`: N processes, each with its own `JOB_COMPLETION_INDEX` as a
//! Kubernetes Indexed Job would give it, run shares of one plan at once; their records
//! together are the unsegmented plan, request for request.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::harness;
use serde_json::Value;

const SEGMENTS: u32 = 4;

/// The tests of this file run one at a time: each starts five load generators, and
/// timing is what they measure.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, text).expect("write scenario");
    file
}

/// Where the scenarios' path points when the test needs no service of its own.
const REFERENCE: &str = "target = \"reference\"";

/// A scenario of one HTTP path, `legacy`, at `target` (a `target` or `base_url` line),
/// running the flow `exec` (one POST that executes a workflow) with the `load` table's
/// lines (no warmup) and `extra` tables after.
fn scenario(dir: &Path, name: &str, target: &str, load: &str, extra: &str) -> PathBuf {
    write(
        dir,
        &format!(
            r#"name = "{name}"
seed = 5
[paths.legacy]
kind = "http"
{target}
[load]
warmup = "0s"
{load}
[[flow]]
name = "exec"
steps = [{{ name = "run", method = "POST", path = "/api/workflows/execute", body = '{{"workflow":"w"}}' }}]
{extra}
"#
        ),
    )
}

/// `harness merge` of the N segments under `dir` into `dir/merged` (it must succeed).
fn merge_segments(dir: &Path) -> PathBuf {
    let merged = dir.join("merged");
    let mut merge = harness();
    merge.args(["merge", "--out"]).arg(&merged);
    for i in 0..SEGMENTS {
        merge.arg(dir.join(format!("segment-{i}")));
    }
    merge.assert().success();
    merged
}

fn record(out: &Path, path: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(out.join(format!("runs/{path}-r1.json"))).expect("record"),
    )
    .expect("JSON")
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_harness"))
}

/// `harness reference serve` as a separate process (the one service every segment and
/// the whole run load), killed when dropped.
struct Service {
    child: std::process::Child,
    url: String,
}

impl Service {
    /// Its executor takes 10 ms a call, so that the generators' own cost (four segment
    /// processes share two cores with it) stays a small part of every request.
    fn start(dir: &Path) -> Self {
        use std::io::BufRead;
        let config = dir.join("service.toml");
        std::fs::write(
            &config,
            "name = \"service\"\n[paths.p]\nkind = \"http\"\ntarget = \"reference\"\n[load]\nmodel = \"open\"\nrate = 1\nduration = \"1s\"\n[[flow]]\nname = \"f\"\nsteps = [{ name = \"s\", method = \"GET\", path = \"/healthz\" }]\n[reference]\nexecutor_latency = \"10ms\"\n",
        )
        .expect("write");
        let mut child = Command::new(binary())
            .args(["reference", "serve", "--scenario"])
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn harness reference serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("reference platform: ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the reference platform starts");
        Self { child, url }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `harness run --quiet --out dir/segment-I FILE` for segment `i`, its output captured;
/// the caller says which segment it is and when it starts.
fn segment(dir: &Path, file: &Path, i: u32) -> Command {
    let mut command = Command::new(binary());
    command
        .args(["run", "--quiet", "--out"])
        .arg(dir.join(format!("segment-{i}")))
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// Waits for every segment, each of which must succeed.
fn finish(children: Vec<std::process::Child>) {
    for (i, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().expect("segment runs");
        assert!(
            output.status.success(),
            "segment {i}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Runs the N segments at once (each told its index by `JOB_COMPLETION_INDEX`, all given
/// one start a moment ahead) and the whole plan; returns the segments' and the whole
/// run's records.
fn segments_and_whole(dir: &Path, file: &Path, path: &str) -> (Vec<Value>, Value) {
    run_segments_and_whole(dir, file);
    let segments = (0..SEGMENTS)
        .map(|i| record(&dir.join(format!("segment-{i}")), path))
        .collect();
    (segments, record(&dir.join("whole"), path))
}

/// Runs the N segments at once and then the whole plan, records under
/// `dir/segment-I` and `dir/whole`.
fn run_segments_and_whole(dir: &Path, file: &Path) {
    let start = SystemTime::now() + Duration::from_secs(2);
    let start = humantime::format_rfc3339_seconds(start + Duration::from_secs(1)).to_string();
    let children: Vec<_> = (0..SEGMENTS)
        .map(|i| {
            let mut command = segment(dir, file, i);
            command
                .args(["--segment-from-env", "--segments"])
                .arg(SEGMENTS.to_string())
                .args(["--start-at", &start])
                .env("JOB_COMPLETION_INDEX", i.to_string());
            command.spawn().expect("segment starts")
        })
        .collect();
    finish(children);
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(dir.join("whole"))
        .arg(file)
        .assert()
        .success();
}

fn class_total(record: &Value, class: &str) -> u64 {
    record["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["classes"][class].as_u64().unwrap_or(0))
        .sum()
}

fn sent_per_second(record: &Value) -> Vec<u64> {
    record["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|p| p["sent"].as_u64().expect("sent"))
        .collect()
}

/// Open model, Poisson arrivals, a 503 fault on 30% of requests at the client: the
/// segments' arrivals per second add up to the whole run's exactly, and so do the
/// requests the fault hit (its decision is keyed on the request id, which is the same in
/// a segment as unsegmented).
#[test]
fn four_open_model_segments_are_the_whole_schedule_and_get_the_same_fault_decisions() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(
        dir.path(),
        "segments-open",
        REFERENCE,
        "model = \"open\"\nrate = 200\nspacing = \"poisson\"\nduration = \"3s\"\nrepetitions = 1",
        "[[fault]]\nat = \"client\"\nkind = \"http_error\"\nstatus = 503\nprobability = 0.3\n[reference]\nexecutor_latency = \"1ms\"",
    );
    let (segments, whole) = segments_and_whole(dir.path(), &file, "legacy");
    let sum = |f: &dyn Fn(&Value) -> u64| segments.iter().map(f).sum::<u64>();
    let sent = |r: &Value| r["load"]["sent"].as_u64().expect("sent");
    assert_eq!(sum(&sent), sent(&whole), "requests");
    assert!(sent(&whole) > 400, "{}", whole["load"]);
    let mut per_second = vec![0; sent_per_second(&whole).len()];
    for s in &segments {
        for (total, n) in per_second.iter_mut().zip(sent_per_second(s)) {
            *total += n;
        }
    }
    assert_eq!(per_second, sent_per_second(&whole), "arrivals per second");
    let hit = |r: &Value| class_total(r, "http_5xx");
    assert!(hit(&whole) > 50, "the fault fired: {}", hit(&whole));
    assert_eq!(sum(&hit), hit(&whole), "requests the fault hit");
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s["segment"]["index"], i as u64, "{}", s["segment"]);
        assert_eq!(s["segment"]["count"], u64::from(SEGMENTS));
        let late = s["segment"]["late_ms"].as_f64().expect("lateness");
        assert!((0.0..2000.0).contains(&late), "{}", s["segment"]);
    }
    assert!(whole.get("segment").is_none(), "a whole run is no segment");
}

/// Closed model: 5 users over 4 segments are 2, 1, 1, 1, the remainder to the first.
#[test]
fn closed_model_users_split_with_the_remainder_to_the_first_segments() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(
        dir.path(),
        "segments-closed",
        REFERENCE,
        "model = \"closed\"\nusers = 5\nthink_time = \"10ms\"\nduration = \"1s\"\nrepetitions = 1",
        "[reference]\nexecutor_latency = \"1ms\"",
    );
    let (segments, whole) = segments_and_whole(dir.path(), &file, "legacy");
    let users: Vec<u64> = segments
        .iter()
        .map(|s| s["load"]["users"].as_u64().expect("users"))
        .collect();
    assert_eq!(users, [2, 1, 1, 1]);
    assert_eq!(whole["load"]["users"], 5);
}

#[test]
fn segment_arguments_that_cannot_be_met_are_usage_errors() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        r#"name = "segments-bad"
[paths.legacy]
kind = "http"
target = "reference"
[load]
model = "closed"
users = 2
duration = "1s"
[[flow]]
name = "f"
steps = [{ name = "s", method = "GET", path = "/healthz" }]
"#,
    );
    let cases: [(&[&str], Option<&str>, &str); 5] = [
        (&["--segment", "4/4"], None, "numbered 0 to 3"),
        (&["--segment", "1/x"], None, "write I/N"),
        (
            &["--segment-from-env", "--segments", "2"],
            None,
            "JOB_COMPLETION_INDEX is not set",
        ),
        (
            &["--segment-from-env", "--segments", "2"],
            Some("7"),
            "segment 7 of 2 does not exist",
        ),
        (&["--segment", "0/3"], None, "fewer than the 3 segments"),
    ];
    for (args, index, message) in cases {
        let mut command = harness();
        command
            .arg("run")
            .args(args)
            .arg(&file)
            .env_remove("JOB_COMPLETION_INDEX");
        if let Some(index) = index {
            command.env("JOB_COMPLETION_INDEX", index);
        }
        let output = command.output().expect("harness runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// Segments of 7 repetitions at 500/s against one service, merged: one record per repetition,
/// each with the whole schedule's requests, and a compare of the merged runs against
/// an unsegmented run of the same scenario is GO (exit 0). Seven runs a side, because with
/// five a single run slowed by the machine sets the interval's end (the 3rd largest of 25
/// ratios); with seven the end is the 9th largest of 49, past one slow run's seven.
#[test]
fn merged_segments_compare_go_against_an_unsegmented_run() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service::start(dir.path());
    let file = scenario(
        dir.path(),
        "segments-merge",
        &format!("base_url = \"{}\"", service.url),
        "model = \"open\"\nrate = 500\nduration = \"1600ms\"\ntimeout = \"1s\"\nrepetitions = 7",
        "",
    );
    run_segments_and_whole(dir.path(), &file);
    let merged = merge_segments(dir.path());
    let files = |folder: &Path| -> Vec<PathBuf> {
        (1..=7)
            .map(|r| folder.join(format!("runs/legacy-r{r}.json")))
            .collect()
    };
    for (m, w) in files(&merged).iter().zip(files(&dir.path().join("whole"))) {
        let m: Value =
            serde_json::from_str(&std::fs::read_to_string(m).expect("merged")).expect("JSON");
        let w: Value =
            serde_json::from_str(&std::fs::read_to_string(w).expect("whole")).expect("JSON");
        assert_eq!(
            m["load"]["sent"], w["load"]["sent"],
            "requests of {}",
            m["repetition"]
        );
        assert_eq!(m["merged"]["segments"], u64::from(SEGMENTS));
        // The merged timeline's full second is the target rate (uniform arrivals).
        let first = m["timeline"][0]["sent"].as_u64().expect("sent");
        assert!((495..=505).contains(&first), "{}", m["timeline"]);
        assert!(m.get("segment").is_none());
    }
    let out = dir.path().join("compare");
    let mut compare = harness();
    compare.args(["compare", "--quiet", "--out"]).arg(&out);
    for f in files(&dir.path().join("whole")) {
        compare.arg("--baseline").arg(f);
    }
    for f in files(&merged) {
        compare.arg("--candidate").arg(f);
    }
    let output = compare.output().expect("compare runs");
    let comparison = common::comparison(&out);
    // How far apart the segments started, per repetition: what a shortfall comes from.
    let lateness: Vec<String> = files(&merged)
        .iter()
        .map(|f| {
            let m: Value =
                serde_json::from_str(&std::fs::read_to_string(f).expect("merged")).expect("JSON");
            format!("r{}: {} ms", m["repetition"], m["merged"]["late_ms_max"])
        })
        .collect();
    assert_eq!(
        comparison["verdict"],
        "GO",
        "{}\nlatest segment start per repetition: {lateness:?}\n{comparison}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(output.status.code(), Some(0));
    // A segment missing: refused, nothing written.
    let refused = dir.path().join("refused");
    let output = harness()
        .args(["merge", "--out"])
        .arg(&refused)
        .arg(dir.path().join("segment-0"))
        .arg(dir.path().join("segment-2"))
        .output()
        .expect("merge runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("segment(s) 1, 3 of 4 are missing"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!refused.exists(), "a refused merge writes nothing");
}

/// `--start-barrier`: four segments started 1.5 s apart each leave their file in the
/// shared folder, and all of them start at one instant, 5 s after the last was ready,
/// late by milliseconds; a segment whose peers never come gives up after
/// `--barrier-timeout` (exit 1, naming them); a barrier and a fixed start are one too many.
#[test]
fn segments_at_a_start_barrier_start_together_however_late_they_arrive() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(
        dir.path(),
        "segments-barrier",
        REFERENCE,
        "model = \"open\"\nrate = 40\nduration = \"1s\"\nrepetitions = 1",
        "[reference]\nexecutor_latency = \"1ms\"",
    );
    let barrier = dir.path().join("barrier");
    let mut children = Vec::new();
    for i in 0..SEGMENTS {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1500));
        }
        let mut command = segment(dir.path(), &file, i);
        command
            .args(["--segment", &format!("{i}/{SEGMENTS}"), "--start-barrier"])
            .arg(&barrier);
        children.push(command.spawn().expect("segment starts"));
    }
    finish(children);
    let segments: Vec<Value> = (0..SEGMENTS)
        .map(|i| record(&dir.path().join(format!("segment-{i}")), "legacy"))
        .collect();
    let last_ready = humantime::parse_rfc3339(
        std::fs::read_to_string(barrier.join(format!("segment-{}.ready", SEGMENTS - 1)))
            .expect("the last segment's file")
            .trim(),
    )
    .expect("an instant");
    let expected =
        humantime::format_rfc3339_millis(last_ready + Duration::from_secs(5)).to_string();
    for s in &segments {
        assert_eq!(
            s["segment"]["scheduled_start"],
            expected.as_str(),
            "{}",
            s["segment"]
        );
        let late = s["segment"]["late_ms"].as_f64().expect("lateness");
        assert!((0.0..1000.0).contains(&late), "{}", s["segment"]);
    }
    // Their records merge: the whole plan's 40 requests.
    let merged = merge_segments(dir.path());
    assert_eq!(record(&merged, "legacy")["load"]["sent"], 40);

    // Alone at a barrier for two: it gives up, and says who never came.
    let output = harness()
        .args([
            "run",
            "--quiet",
            "--segment",
            "0/2",
            "--barrier-timeout",
            "300ms",
        ])
        .arg("--start-barrier")
        .arg(dir.path().join("lonely"))
        .arg("--out")
        .arg(dir.path().join("lonely-out"))
        .arg(&file)
        .output()
        .expect("harness runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("segment(s) 1 of 2 not ready after 300ms"),
        "{stderr}"
    );
    assert!(!dir.path().join("lonely-out/runs").exists(), "nothing run");

    let output = harness()
        .args([
            "run",
            "--segment",
            "0/2",
            "--start-at",
            "2026-12-03T10:00:00Z",
        ])
        .arg("--start-barrier")
        .arg(&barrier)
        .arg(&file)
        .output()
        .expect("harness runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
