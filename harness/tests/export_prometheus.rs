//! Exports into real consumers: a short live `harness compare` on the reference platform
//! pushed into a real Prometheus (remote write) and written as an OpenMetrics file; what
//! Prometheus answers to PromQL, what the official Python client and the project's own
//! parser read from the file, all equal `result.json`. A gate from the saved result
//! pushes its phase decision. A receiver answering 400 is a failure at once, one
//! answering 503 is tried three times; neither changes the exit code unless
//! `--export-required`; no secret reaches what is printed or written.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::prometheus::Prometheus;
use common::python::modules_or_skip;
use common::{ScenarioBuilder, harness, harness_in};
use harness::export::{Export, verdict_code};
use harness::metrics::exposition::Exposition;
use harness::report::ReportDocument;
use http_body_util::Full;
use hyper::Response;
use predicates::prelude::*;

/// Both paths on the reference platform, their own metrics scraped: 2 × 2 runs of 1 s.
const SCENARIO: &str = r#"name = "export-demo"
seed = 3
[paths.legacy]
target = "reference"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false" }
metrics = ["reference"]
[paths.dagger]
target = "reference"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true" }
metrics = ["reference"]
[load]
model = "open"
rate = 100
duration = "1s"
warmup = "200ms"
repetitions = 2
timeout = "1s"
[[flow]]
name = "wf"
steps = [{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202] }]
[reference]
executor_latency = "4ms"
executor_jitter = "0ms"
"#;

const PLAN: &str = r#"
baselines = "baselines"
[[phase]]
number = 1
name = "Foundation"
scenarios = ["scenarios/export-demo.toml"]
rollback_action = "Switch back"
"#;

/// The one value of an instant query's answer that has `labels`.
fn value_of(result: &serde_json::Value, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&serde_json::Value> = result
        .as_array()
        .expect("a vector")
        .iter()
        .filter(|s| labels.iter().all(|(k, v)| s["metric"][k] == *v))
        .collect();
    assert_eq!(found.len(), 1, "{labels:?} in {result}");
    found[0]["value"][1]
        .as_str()
        .expect("a value")
        .parse()
        .expect("a number")
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// A sample as the Python client reads it: name, labels, value.
type PySample = (String, BTreeMap<String, String>, f64);

/// Every sample of the file, read by the official Python client's OpenMetrics parser;
/// `None` when the client is not installed (skipped).
fn python_samples(file: &Path) -> Option<Vec<PySample>> {
    if !modules_or_skip("prometheus_client") {
        return None;
    }
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    assert family.type == "gauge", family
    for s in family.samples:
        assert s.timestamp is None, s
        print(json.dumps([s.name, s.labels, repr(float(s.value))]))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the official parser refused the file: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8(output.stdout)
            .expect("UTF-8")
            .lines()
            .map(|line| {
                let (name, labels, value): (String, BTreeMap<String, String>, String) =
                    serde_json::from_str(line).expect("a sample");
                (name, labels, value.parse().expect("a float"))
            })
            .collect(),
    )
}

#[test]
fn a_compare_pushed_into_prometheus_and_written_as_openmetrics_reads_back_as_its_result() {
    let Some(prometheus) = Prometheus::start_or_skip("", "1s") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("scenarios")).expect("mkdir");
    let scenario = root.join("scenarios/export-demo.toml");
    std::fs::write(&scenario, SCENARIO).expect("write");
    let out = root.join("saved").join("export-demo");
    let file = root.join("textfile").join("harness.prom");
    let assert = harness()
        .args(["compare", "--out"])
        .arg(&out)
        .arg(&scenario)
        .arg("--export-remote-write")
        .arg(prometheus.write_url())
        .arg("--export-openmetrics")
        .arg(&file)
        .assert();
    let code = assert.get_output().status.code();
    assert!(matches!(code, Some(0 | 3 | 5)), "{:?}", assert.get_output());
    let assert = assert.stderr(predicate::str::contains("warning: export").not().and(
        predicate::str::contains("series pushed to http://127.0.0.1"),
    ));
    drop(assert);
    let text = std::fs::read_to_string(out.join("result.json")).expect("result.json");
    let doc: ReportDocument = serde_json::from_str(&text).expect("a result");
    let c = &doc.comparison;

    // Prometheus: the verdict, every row, a run, the service's memory.
    let verdict = prometheus.query("harness_verdict_code{scenario=\"export-demo\"}");
    assert_eq!(
        value_of(&verdict, &[("base", "legacy"), ("candidate", "dagger")]),
        verdict_code(c.verdict)
    );
    let chosen = prometheus.query(&format!(
        "harness_verdict{{scenario=\"export-demo\", verdict=\"{}\"}}",
        c.verdict
    ));
    assert_eq!(value_of(&chosen, &[]), 1.0);
    let rows = prometheus.query("harness_row_estimate{scenario=\"export-demo\"}");
    for row in &c.rows {
        let metric = row.metric.label();
        let labels = [
            ("step", row.step.as_str()),
            ("metric", metric.as_str()),
            ("unit", row.metric.unit().comparison()),
        ];
        if let Some(interval) = &row.interval {
            assert!(
                same(value_of(&rows, &labels), interval.estimate),
                "{labels:?}"
            );
        }
    }
    let p95 = prometheus.query(
        "harness_row_candidate{scenario=\"export-demo\", step=\"wf/execute\", metric=\"p95\"}",
    );
    let row = c
        .rows
        .iter()
        .find(|r| r.metric.label() == "p95")
        .expect("a p95 row");
    assert!(same(value_of(&p95, &[]), row.candidate));
    let sent = prometheus.query("harness_run_requests{path=\"dagger\", repetition=\"2\"}");
    let record = doc
        .candidate_runs
        .iter()
        .find(|r| r.repetition == 2)
        .expect("dagger r2");
    assert_eq!(value_of(&sent, &[]), record.load.sent as f64);
    if cfg!(target_os = "linux") {
        let rss = prometheus.query("harness_service_peak_rss_bytes{path=\"legacy\"}");
        assert_eq!(rss.as_array().expect("a vector").len(), 2, "{rss}");
        let first = doc.base_runs[0].metrics.as_ref().expect("scraped");
        assert_eq!(
            value_of(&rss, &[("repetition", "1"), ("endpoint", "reference")]),
            first.endpoints[0].peak_rss_bytes.expect("peak RSS")
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let range = prometheus.query_range(
        "harness_verdict_code{scenario=\"export-demo\"}",
        now - 120.0,
        now + 1.0,
        1.0,
    );
    let points = range[0]["values"].as_array().expect("points");
    assert!(!points.is_empty());
    assert!(points.iter().all(
        |p| p[1].as_str().and_then(|v| v.parse::<f64>().ok()) == Some(verdict_code(c.verdict))
    ));

    // The file: the same series as an export of result.json, read by both parsers.
    let expected = Export::compare(&doc, 0).samples;
    let text = std::fs::read_to_string(&file).expect("the OpenMetrics file");
    assert!(text.ends_with("# EOF\n"));
    let ours = Exposition::parse(&text).expect("the project's parser reads it");
    assert_eq!(ours.samples.len(), expected.len());
    for sample in &expected {
        let read = ours
            .samples
            .iter()
            .find(|r| r.name == sample.name && r.labels == sample.labels)
            .unwrap_or_else(|| panic!("{sample:?} is not in the file"));
        assert!(same(read.value, sample.value), "{read:?}");
    }
    if let Some(python) = python_samples(&file) {
        assert_eq!(python.len(), expected.len());
        for (name, labels, value) in &python {
            let sample = expected
                .iter()
                .find(|s| {
                    &s.name == name
                        && s.labels.iter().cloned().collect::<BTreeMap<_, _>>() == *labels
                })
                .unwrap_or_else(|| panic!("{name}{labels:?} is not in the export"));
            assert!(same(*value, sample.value), "{name}{labels:?}: {value}");
        }
        let code = python
            .iter()
            .find(|(n, _, _)| n == "harness_verdict_code")
            .expect("the verdict");
        assert_eq!(code.2, verdict_code(c.verdict));
    }

    // A gate from the saved result pushes the phase's decision, labelled.
    std::fs::create_dir_all(root.join("ci")).expect("mkdir");
    std::fs::write(root.join("ci/phases.toml"), PLAN).expect("plan");
    let gate = harness_in(root)
        .args(["gate", "--phase", "1", "--quiet", "--from"])
        .arg(root.join("saved"))
        .arg("--out")
        .arg(root.join("gate"))
        .env("HARNESS_REMOTE_WRITE_URL", prometheus.write_url())
        .assert();
    let gate_code = gate.get_output().status.code();
    let gate_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("gate/gate.json")).expect("gate.json"),
    )
    .expect("JSON");
    let decision: harness::compare::Verdict =
        serde_json::from_value(gate_json["decision"].clone()).expect("a verdict");
    assert!(matches!(gate_code, Some(0 | 3 | 4 | 5)));
    let phase = prometheus.query("harness_gate_verdict_code{phase=\"1\"}");
    assert_eq!(value_of(&phase, &[]), verdict_code(decision));
    let rows = prometheus.query("harness_row_verdict_code{phase=\"1\", scenario=\"export-demo\"}");
    assert_eq!(rows.as_array().expect("a vector").len(), c.rows.len());
}

/// A receiver answering every request with `status`, counting them and keeping each
/// request's `authorization` header.
fn receiver(
    status: u16,
) -> (
    common::http_server::TestServer,
    Arc<AtomicUsize>,
    Arc<Mutex<Vec<String>>>,
) {
    let count = Arc::new(AtomicUsize::new(0));
    let auth = Arc::new(Mutex::new(Vec::new()));
    let (c, a) = (Arc::clone(&count), Arc::clone(&auth));
    let server = common::http_server::serve(move |req| {
        c.fetch_add(1, Ordering::SeqCst);
        if let Some(v) = req.headers().get("authorization") {
            a.lock()
                .expect("lock")
                .push(v.to_str().unwrap_or("").to_string());
        }
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(
                b"out of bounds: sample too old",
            )))
            .expect("response")
    });
    (server, count, auth)
}

/// Every file under `dir`, as text.
fn everything_written(dir: &Path) -> String {
    let mut all = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("list").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                all.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    all
}

#[test]
fn a_refusing_receiver_is_a_warning_or_with_export_required_a_failure_and_no_secret_leaks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = ScenarioBuilder::new("export-fail")
        .rate(50)
        .duration("500ms")
        .warmup("100ms")
        .repetitions(Some(1))
        .write(dir.path());
    let secret = "Bearer very-secret-token";

    // 400: refused at once, a warning naming the status and the body; exit 0.
    let (server, count, auth) = receiver(400);
    let url = format!(
        "http://writer:hunter2@{}/api/v1/write?tenant=t0p-s3cret",
        server.addr
    );
    let out = dir.path().join("out-400");
    let assert = harness()
        .args(["run", "--path", "legacy", "--out"])
        .arg(&out)
        .arg(&scenario)
        .env("HARNESS_REMOTE_WRITE_URL", &url)
        .env("HARNESS_REMOTE_WRITE_AUTHORIZATION", secret)
        .assert()
        .code(0)
        .stderr(predicate::str::contains(format!(
            "warning: export: remote write failed: http://{}/api/v1/write answered HTTP 400 Bad Request (not retried: the receiver refused the data) after 1 attempt(s): out of bounds: sample too old",
            server.addr
        )));
    assert_eq!(count.load(Ordering::SeqCst), 1, "a 4xx is never retried");
    assert_eq!(auth.lock().expect("lock").as_slice(), [secret]);
    let output = assert.get_output();
    let printed = format!(
        "{}{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        everything_written(&out)
    );
    for hidden in ["very-secret-token", "hunter2", "t0p-s3cret"] {
        assert!(!printed.contains(hidden), "{hidden} was printed or written");
    }

    // 503: tried three times; with --export-required the run exits 1.
    let (server, count, _) = receiver(503);
    harness()
        .args([
            "run",
            "--quiet",
            "--path",
            "legacy",
            "--export-required",
            "--out",
        ])
        .arg(dir.path().join("out-503"))
        .arg(&scenario)
        .arg("--export-remote-write")
        .arg(format!("http://{}/api/v1/write", server.addr))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "HTTP 503 Service Unavailable after 3 attempt(s)",
        ));
    assert_eq!(count.load(Ordering::SeqCst), 3, "two retries");
}

#[test]
fn a_bad_export_target_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = ScenarioBuilder::new("export-bad").write(dir.path());
    harness_in(dir.path())
        .args(["run", "--export-remote-write", "ftp://user:pw@host/write"])
        .arg(&scenario)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("--export-remote-write")
                .and(predicate::str::contains("http:// or https://"))
                .and(predicate::str::contains("pw").not()),
        );
    harness_in(dir.path())
        .args(["run", "--export-openmetrics"])
        .arg(dir.path())
        .arg(&scenario)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a folder; give a file"));
    assert!(!dir.path().join("reports").exists());
}
