//! The direct scrape of the service's own Prometheus metrics, through the binary: a run
//! on the reference platform with `metrics = ["reference", ...]` records counter deltas
//! that match its requests (warmup cut), CPU per 1 000 requests and peak RSS; an endpoint
//! that refuses connections is counted as failing, with its reason, and the run still
//! succeeds; an endpoint from an environment variable is recorded as written. The
//! per-path handler CPU counter tells a Dagger path with a CPU cost per call from the
//! legacy path, in the run records of one run of both.

mod common;

use std::net::TcpListener;

use common::{ScenarioBuilder, harness};
use harness::metrics::EndpointRecord;
use harness::record::RunRecord;

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

const SCENARIO: &str = r#"name = "metrics-scrape"
seed = 5
[paths.legacy]
target = "reference"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false" }
metrics = ["reference", "${SVC_METRICS_URL}"]
[load]
model = "open"
rate = 100
duration = "3s"
warmup = "1s"
repetitions = 1
timeout = "1s"
[[flow]]
name = "wf"
steps = [{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202] }]
[reference]
executor_latency = "2ms"
executor_jitter = "0ms"
"#;

#[test]
fn a_run_records_the_reference_platforms_own_metrics_and_failed_scrapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("metrics.toml");
    std::fs::write(&file, SCENARIO).expect("write");
    let out = dir.path().join("out");
    let port = closed_port();
    let hidden = format!("http://127.0.0.1:{port}/metrics");
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .env("SVC_METRICS_URL", &hidden)
        .assert()
        .success();
    let path = out.join("runs").join("legacy-r1.json");
    let text = std::fs::read_to_string(&path).expect("record");
    assert!(
        !text.contains(&format!("127.0.0.1:{port}")),
        "the interpolated URL reached the record"
    );
    let record: RunRecord = serde_json::from_str(&text).expect("a run record");
    let metrics = record.metrics.as_ref().expect("metrics recorded");
    let completed = record.load.completed;
    assert!(completed > 200, "{completed} requests");
    assert_eq!(metrics.requests, completed);
    assert_eq!(metrics.endpoints.len(), 2);

    let reference = &metrics.endpoints[0];
    assert_eq!(reference.endpoint, "reference");
    assert_eq!(reference.failed, 0, "{:?}", reference.first_failure);
    // Before, at whole seconds and the warmup's end, and after: at least 5.
    assert!(reference.scrapes >= 5, "{} scrapes", reference.scrapes);
    let (from, to) = reference.window_s.expect("a window");
    assert!(from < 0.5 && to > 2.5, "window {from}..{to}");
    let answered: f64 = reference
        .counters
        .iter()
        .filter(|c| c.name == "harness_reference_requests_total")
        .map(|c| c.delta)
        .sum();
    // The window starts at the warmup's end and stops after the drain: within 10% of
    // the measured requests, far from the 4 s (~400 requests) of warmup included.
    let tolerance = (completed as f64 * 0.1).max(10.0);
    assert!(
        (answered - completed as f64).abs() <= tolerance,
        "the service counted {answered}, the run {completed}"
    );
    let legacy = reference
        .counters
        .iter()
        .find(|c| {
            c.name == "harness_reference_requests_total"
                && c.labels.get("path").map(String::as_str) == Some("legacy")
                && c.labels.get("status").map(String::as_str) == Some("202")
        })
        .expect("the legacy 202 series");
    assert!(
        legacy.rate_per_s.is_some_and(|r| r > 50.0 && r < 150.0),
        "{legacy:?}"
    );
    if cfg!(target_os = "linux") {
        let cpu = reference
            .cpu_seconds_per_1000_requests
            .expect("CPU per 1000 requests");
        assert!(cpu > 0.0 && cpu < 100.0, "{cpu}");
        let rss = reference.peak_rss_bytes.expect("peak RSS");
        assert!(rss > 1_000_000.0, "{rss}");
        assert!(
            reference
                .gauges
                .iter()
                .any(|g| g.name == "process_resident_memory_bytes"
                    && g.min <= g.p50
                    && g.p50 <= g.max)
        );
    }
    assert!(
        reference
            .gauges
            .iter()
            .any(|g| g.name == "harness_reference_breaker_state")
    );

    let refused = &metrics.endpoints[1];
    assert_eq!(refused.endpoint, "${SVC_METRICS_URL}");
    assert!(refused.scrapes >= 5);
    assert_eq!(refused.failed, refused.scrapes, "every scrape failed");
    let why = refused.first_failure.as_deref().expect("a reason");
    assert!(why.contains("refused"), "{why}");
    assert!(refused.counters.is_empty() && refused.gauges.is_empty());
    assert!(refused.window_s.is_none());
    assert!(refused.cpu_seconds_per_1000_requests.is_none());
    assert!(
        record
            .warnings
            .iter()
            .any(|w| w.contains("${SVC_METRICS_URL}") && w.contains("scrapes failed")),
        "{:?}",
        record.warnings
    );
}

#[test]
fn a_series_filter_keeps_only_the_named_series_and_names_the_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("filtered.toml");
    let text = SCENARIO
        .replace(
            "metrics = [\"reference\", \"${SVC_METRICS_URL}\"]",
            "metrics = [\"reference\"]\nmetrics_series = [\"harness_reference_retries_total\", \"process_resident_memory_bytes\", \"not_exported_total\"]",
        )
        .replace("duration = \"3s\"", "duration = \"1s\"")
        .replace("warmup = \"1s\"", "warmup = \"0s\"");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let record: RunRecord = serde_json::from_str(
        &std::fs::read_to_string(out.join("runs").join("legacy-r1.json")).expect("record"),
    )
    .expect("a run record");
    let endpoint = &record.metrics.as_ref().expect("metrics").endpoints[0];
    let names: Vec<(&str, Option<&str>)> = endpoint
        .counters
        .iter()
        .map(|c| (c.name.as_str(), c.labels.get("path").map(String::as_str)))
        .chain(endpoint.gauges.iter().map(|g| (g.name.as_str(), None)))
        .collect();
    // One retries series per path: the legacy path's exists too, always zero.
    let mut expected = vec![
        ("harness_reference_retries_total", Some("dagger")),
        ("harness_reference_retries_total", Some("legacy")),
    ];
    if cfg!(target_os = "linux") {
        expected.push(("process_resident_memory_bytes", None));
    }
    assert_eq!(names, expected);
    // No retries on the legacy path: a measured zero, not a missing value.
    assert!(endpoint.counters.iter().all(|c| c.delta == 0.0));
    assert!(
        endpoint
            .missing_series
            .contains(&"not_exported_total".to_string())
    );
}

#[test]
fn a_service_instrumented_with_the_official_python_client_is_read() {
    let Some(service) =
        common::python::PythonService::start_or_skip("metrics_service.py", "prometheus_client")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("python.toml");
    std::fs::write(
        &file,
        r#"name = "python-client"
seed = 3
[paths.service]
base_url = "${DEMO_URL}"
metrics = ["${DEMO_URL}/metrics"]
[load]
model = "open"
rate = 50
duration = "2s"
warmup = "500ms"
repetitions = 1
timeout = "2s"
[[flow]]
name = "f"
steps = [{ name = "work", path = "/work", expect_status = [200] }]
"#,
    )
    .expect("write");
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .env("DEMO_URL", format!("http://127.0.0.1:{}", service.port))
        .assert()
        .success();
    let record: RunRecord = serde_json::from_str(
        &std::fs::read_to_string(out.join("runs").join("service-r1.json")).expect("record"),
    )
    .expect("a run record");
    let metrics = record.metrics.as_ref().expect("metrics");
    let endpoint = &metrics.endpoints[0];
    assert_eq!(endpoint.endpoint, "${DEMO_URL}/metrics");
    assert_eq!(endpoint.failed, 0, "{:?}", endpoint.first_failure);
    let completed = record.load.completed as f64;
    let tolerance = (completed * 0.1).max(5.0);
    let counter = |name: &str| {
        endpoint
            .counters
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", endpoint.counters))
    };
    let answered = counter("demo_requests_total");
    assert_eq!(
        answered.labels.get("route").map(String::as_str),
        Some("work \"quoted\" \\ path"),
        "the escaped label value is read back"
    );
    assert!(
        (answered.delta - completed).abs() <= tolerance,
        "{} vs {completed}",
        answered.delta
    );
    assert!((counter("demo_latency_seconds_count").delta - completed).abs() <= tolerance);
    assert!(
        endpoint
            .counters
            .iter()
            .any(|c| c.name == "demo_latency_seconds_bucket"
                && c.labels.get("le").map(String::as_str) == Some("+Inf"))
    );
    assert!(
        !endpoint
            .counters
            .iter()
            .any(|c| c.name.ends_with("_created"))
            && !endpoint.gauges.iter().any(|g| g.name.ends_with("_created")),
        "creation times are not measurements: {:?} {:?}",
        endpoint
            .counters
            .iter()
            .map(|c| &c.name)
            .collect::<Vec<_>>(),
        endpoint.gauges.iter().map(|g| &g.name).collect::<Vec<_>>()
    );
    assert!(endpoint.gauges.iter().any(|g| g.name == "demo_in_flight"));
    if cfg!(target_os = "linux") {
        assert!(endpoint.cpu_seconds_per_1000_requests.is_some());
        assert!(endpoint.peak_rss_bytes.is_some_and(|b| b > 1_000_000.0));
    }
}

/// The increase of `name{path=<path>}` summed over its other labels, in one run's window.
fn per_path(endpoint: &EndpointRecord, name: &str, path: &str) -> f64 {
    endpoint
        .counters
        .iter()
        .filter(|c| c.name == name && c.labels.get("path").map(String::as_str) == Some(path))
        .map(|c| c.delta)
        .sum()
}

#[test]
fn the_handler_cpu_counter_tells_a_costly_dagger_path_from_the_legacy_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = ScenarioBuilder::new("handler-cpu")
        .rate(100)
        .duration("2s")
        .warmup("500ms")
        .repetitions(Some(1))
        .executor("2ms")
        .reference("dagger_cpu_per_call = \"1ms\"")
        .write(dir.path());
    let text = std::fs::read_to_string(&file).expect("scenario").replace(
        "target = \"reference\"\n",
        "target = \"reference\"\nmetrics = [\"reference\"]\n",
    );
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let per_request = |path: &str| {
        let record: RunRecord = serde_json::from_str(
            &std::fs::read_to_string(out.join("runs").join(format!("{path}-r1.json")))
                .expect("record"),
        )
        .expect("a run record");
        let endpoint = &record.metrics.as_ref().expect("metrics").endpoints[0];
        assert_eq!(endpoint.failed, 0, "{:?}", endpoint.first_failure);
        let requests = per_path(endpoint, "harness_reference_requests_total", path);
        let cpu = per_path(
            endpoint,
            "harness_reference_handler_cpu_seconds_total",
            path,
        );
        assert!(
            requests >= 50.0,
            "{path}: {requests} requests in the window"
        );
        (cpu, requests)
    };
    let (dagger_cpu, dagger_requests) = per_request("dagger");
    let (legacy_cpu, legacy_requests) = per_request("legacy");
    // Every Dagger execute request spins 1 ms of its thread's CPU, whatever the load on
    // the machine: thread CPU time does not grow while a thread waits for a core.
    assert!(
        dagger_cpu >= 0.8 * dagger_requests * 0.001,
        "dagger: {dagger_cpu} s for {dagger_requests} requests"
    );
    assert!(
        legacy_cpu < 0.3 * legacy_requests * 0.001,
        "legacy: {legacy_cpu} s for {legacy_requests} requests"
    );
}
