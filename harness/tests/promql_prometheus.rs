//! `[[metric]]` queries against a real Prometheus (2.42 from the OS packages) that
//! scrapes a running reference platform (`harness reference serve`) every second: a
//! compare queries it with PromQL templated per path, judges the answers as metric rows,
//! records what it asked (never the server's URL) and what failed (several series, a
//! query Prometheus refuses) and remote-writes its results back into the same
//! Prometheus, where a PromQL query reads them back equal to `result.json`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::harness;
use common::prometheus::Prometheus;
use harness::record::RunRecord;

/// `harness reference serve`, killed when dropped.
struct Reference {
    child: Child,
    /// `127.0.0.1:PORT`.
    address: String,
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Reference {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["reference", "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn harness reference serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("reference platform: ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the reference platform printed its URL");
        let address = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Self { child, address }
    }
}

fn scenario(reference: &str, prometheus: &str) -> String {
    format!(
        r#"name = "promql"
seed = 21
prometheus = {{ url = "{prometheus}", delay = "2500ms", step = "1s" }}
[paths.legacy]
base_url = "http://{reference}"
headers = {{ "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false" }}
metric_labels = {{ job = "reference" }}
[paths.dagger]
base_url = "http://{reference}"
headers = {{ "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true" }}
metric_labels = {{ job = "reference" }}
[load]
model = "open"
rate = 100
duration = "5s"
warmup = "1s"
repetitions = 2
timeout = "2s"
[[flow]]
name = "execute"
steps = [{{ name = "execute", method = "POST", path = "/api/workflows/execute", body = '{{"workflow":"build"}}', expect_status = [202] }}]

[[metric]]
name = "answered_per_request"
query = 'sum(increase(harness_reference_requests_total{{job="{{{{job}}}}", path="{{{{path}}}}"}}[{{{{window}}}}]))'
per = "request"

[[metric]]
name = "cpu_per_request"
query = 'sum(increase(process_cpu_seconds_total{{job="{{{{job}}}}"}}[{{{{window}}}}]))'
per = "request"

[[metric]]
name = "peak_rss"
query = 'sum(process_resident_memory_bytes{{job="{{{{job}}}}"}})'
range = true
stat = "max"

[[metric]]
name = "several_series"
query = 'harness_reference_requests_total'

[[metric]]
name = "refused"
query = 'sum(rate(harness_reference_requests_total[{{{{window}}}}])'
"#
    )
}

#[test]
fn a_compare_queries_a_real_prometheus_and_writes_its_results_back() {
    let reference = Reference::start();
    let scrape = format!(
        "  - job_name: reference\n    static_configs:\n      - targets: ['{}']\n",
        reference.address
    );
    let Some(prometheus) = Prometheus::start_or_skip(&scrape, "1s") else {
        return;
    };
    // As in production, the service is being scraped before the compare starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let up = prometheus.query(r#"up{job="reference"}"#);
        if up[0]["value"][1] == "1" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus never scraped the reference platform: {up}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("promql.toml");
    std::fs::write(&file, scenario(&reference.address, &prometheus.url)).expect("write");
    let out = dir.path().join("out");
    let output = harness()
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .arg("--export-remote-write")
        .arg(prometheus.write_url())
        .arg("--export-required")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The failing rules make the rows NO-GO; nothing about the run is invalid.
    assert_eq!(output.status.code(), Some(3), "{stderr}");

    // What each run asked and got.
    let record: RunRecord = serde_json::from_str(
        &std::fs::read_to_string(out.join("runs/dagger-r1.json")).expect("record"),
    )
    .expect("a run record");
    let text = std::fs::read_to_string(out.join("runs/dagger-r1.json")).expect("record");
    assert!(
        !text.contains(&prometheus.url),
        "the server's URL reached the record"
    );
    let metrics = record.metrics.as_ref().expect("metrics");
    let query = |name: &str| {
        metrics
            .queries
            .iter()
            .find(|q| q.name == name)
            .unwrap_or_else(|| panic!("no query {name}: {:?}", metrics.queries))
    };
    let answered = query("answered_per_request");
    assert!(
        answered.promql.contains(r#"path="dagger""#)
            && answered.promql.contains(r#"job="reference""#),
        "templated: {}",
        answered.promql
    );
    assert!(
        answered.promql.contains("[5s]")
            || answered.promql.contains("[4s]")
            || answered.promql.contains("[6s]"),
        "{}",
        answered.promql
    );
    // Prometheus extrapolates `increase` over the window from 1 s scrapes: near the
    // requests harness sent.
    let sent = metrics.requests as f64;
    let counted = answered.value.expect("a value");
    assert!(
        (counted / sent - 1.0).abs() < 0.35,
        "Prometheus counted {counted} answers of {sent} requests"
    );
    let rss = query("peak_rss");
    assert!(rss.value.is_some_and(|v| v > 1e6), "{rss:?}");
    assert!(rss.points >= 3, "a range query over the window: {rss:?}");
    let several = query("several_series");
    assert!(
        several
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("series") && f.contains("sum(")),
        "{several:?}"
    );
    let refused = query("refused");
    assert!(
        refused
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("bad_data")),
        "{refused:?}"
    );
    assert!(
        record.warnings.iter().any(|w| w.contains("several_series")),
        "{:?}",
        record.warnings
    );

    // The rows as result.json has them.
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("result.json")).expect("result.json"),
    )
    .expect("JSON");
    let rows = result["comparison"]["rows"]
        .as_array()
        .expect("rows")
        .clone();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["metric"]["kind"] == "service" && r["metric"]["name"] == name)
            .unwrap_or_else(|| panic!("no {name} row"))
            .clone()
    };
    let answered_row = row("answered_per_request");
    assert!(answered_row["interval"].is_object(), "{answered_row}");
    for name in ["several_series", "refused"] {
        let r = row(name);
        assert_eq!(r["verdict"], "NO-GO", "{r}");
        assert!(r["interval"].is_null(), "{r}");
    }

    // Pushed back into the same Prometheus: the row's estimate reads back equal.
    let estimate = answered_row["interval"]["estimate"]
        .as_f64()
        .expect("estimate");
    let answer = prometheus
        .query(r#"harness_row_estimate{scenario="promql", metric="answered_per_request"}"#);
    let series = answer.as_array().expect("result");
    assert_eq!(series.len(), 1, "{answer}");
    let read: f64 = series[0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a value");
    assert!(
        (read - estimate).abs() <= 1e-9 * estimate.abs().max(1.0),
        "{read} vs {estimate}"
    );
    let verdict = prometheus.query(r#"harness_verdict_code{scenario="promql"}"#);
    assert_eq!(verdict[0]["value"][1], "2", "NO-GO is 2: {verdict}");
}
