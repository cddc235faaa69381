//! The service's own metrics in the decision, through the binary on the embedded
//! reference platform (its `/metrics` scraped directly, no Prometheus): the default CPU
//! and memory rows appear for scraped paths, a `[[metric]]` row is judged beside the
//! latency rows, and the service's retry count is checked against the retries harness
//! saw from outside in the same fault window — agreeing when the rule reads the retries,
//! flagged when it reads something else.

mod common;

use common::harness;

/// 30% of the executor's calls fail for 3 s; the Dagger path retries (up to 3
/// attempts), the legacy path does not.
fn scenario(retries_series: &str) -> String {
    format!(
        r#"name = "service-metrics"
seed = 13
[paths.legacy]
target = "reference"
headers = {{ "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false" }}
metrics = ["reference"]
[paths.dagger]
target = "reference"
headers = {{ "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true" }}
metrics = ["reference"]
[load]
model = "open"
rate = 200
duration = "7s"
warmup = "1s"
repetitions = 2
timeout = "2s"
[[flow]]
name = "execute"
steps = [{{ name = "execute", method = "POST", path = "/api/workflows/execute", body = '{{"workflow":"build"}}', expect_status = [202] }}]
[[fault]]
name = "executor-errors"
at = "dependency"
kind = "http_error"
status = 503
probability = 0.3
start = "3s"
duration = "3s"
[policy]
decide = ["metrics"]
fault_settle = "1s"
[reference]
executor_latency = "3ms"
executor_jitter = "1ms"
breaker = {{ failure_threshold = 1000, open_for = "500ms", half_open_probes = 1 }}
retry = {{ max_attempts = 3, base_backoff = "2ms", max_backoff = "10ms" }}

[[metric]]
name = "service_retries"
series = '{retries_series}'
observes = "retries"
tolerance = 0.25

[[metric]]
name = "answered"
series = 'harness_reference_requests_total'
per = "request"
"#
    )
}

fn compare(text: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("service.toml");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    let output = harness()
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs");
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 3 | 4 | 5)),
        "exit {code:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.join("result.json")).expect("result.json");
    serde_json::from_str(&text).expect("JSON")
}

fn row<'a>(result: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    result["comparison"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["metric"]["kind"] == "service" && r["metric"]["name"] == name)
        .unwrap_or_else(|| panic!("no {name} row in {}", result["comparison"]["rows"]))
}

#[test]
fn service_rows_and_the_retry_cross_check_on_the_reference_platform() {
    let result = compare(&scenario("harness_reference_retries_total"));
    let c = &result["comparison"];
    // The defaults for scraped paths, beside the scenario's rules.
    for name in ["cpu_per_request", "peak_rss", "answered", "service_retries"] {
        let r = row(&result, name);
        assert_eq!(r["step"], "service", "{r}");
        assert!(r["base"].as_f64().is_some_and(|v| v >= 0.0), "{r}");
    }
    // Every request answered once on both sides: 1 000 per 1 000 requests, equal; the
    // interval (two runs a side that agree exactly: the counting noise alone) holds 1.
    let answered = row(&result, "answered");
    let (b, cand) = (answered["base"].as_f64(), answered["candidate"].as_f64());
    assert!(b.is_some_and(|v| (v - 1000.0).abs() < 15.0), "{answered}");
    assert!(
        cand.is_some_and(|v| (v - 1000.0).abs() < 15.0),
        "{answered}"
    );
    let iv = &answered["interval"];
    assert!(
        iv["low"].as_f64().is_some_and(|l| l <= 1.0)
            && iv["high"].as_f64().is_some_and(|h| h >= 1.0),
        "{answered}"
    );
    assert_ne!(answered["verdict"], "ROLLBACK", "{answered}");
    // The Dagger path retried in the fault window; legacy did not. The service's counts
    // agree with what harness saw from outside.
    let checks = c["service_checks"].as_array().expect("service checks");
    let dagger = checks
        .iter()
        .find(|x| x["path"] == "dagger")
        .expect("dagger check");
    let legacy = checks
        .iter()
        .find(|x| x["path"] == "legacy")
        .expect("legacy check");
    let (service, seen) = (
        dagger["service"].as_f64().unwrap_or(0.0),
        dagger["harness"].as_f64().unwrap_or(0.0),
    );
    assert!(seen > 50.0, "harness saw {seen} retries: {dagger}");
    assert!(service > 50.0, "the service counted {service}: {dagger}");
    assert_eq!(dagger["agree"], true, "{dagger}");
    assert_eq!(legacy["service"], 0.0, "{legacy}");
    assert_eq!(legacy["agree"], true, "{legacy}");
    let retries = row(&result, "service_retries");
    assert_ne!(
        retries["verdict"], "GO",
        "more retries on the Dagger path: {retries}"
    );
}

#[test]
fn a_service_count_that_is_not_the_retries_is_flagged() {
    // Every dependency attempt, not the retries: far more than harness's retries.
    let result = compare(&scenario("harness_reference_dependency_attempts_total"));
    let c = &result["comparison"];
    let checks = c["service_checks"].as_array().expect("service checks");
    let dagger = checks
        .iter()
        .find(|x| x["path"] == "dagger")
        .expect("dagger check");
    assert_eq!(dagger["agree"], false, "{dagger}");
    let warnings = c["warnings"].to_string();
    assert!(warnings.contains("DISAGREE"), "{warnings}");
}

#[test]
fn the_resource_cost_scenario_is_held_back_by_its_cpu_rows_not_its_latency() {
    // The shipped scenario, shortened: 3 runs a side of 2 s.
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/resource-cost.toml"),
    )
    .expect("the shipped scenario");
    let text = shipped
        .replace("duration = \"5s\"", "duration = \"2s\"")
        .replace("repetitions = 5", "repetitions = 3");
    assert_ne!(text, shipped, "the test shortens the scenario");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("resource-cost.toml");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    let output = harness()
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(3),
        "NO-GO\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("result.json")).expect("result.json"),
    )
    .expect("JSON");
    let p50 = result["comparison"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["metric"]["kind"] == "latency" && r["metric"]["quantile"] == 0.5)
        .expect("p50 row")
        .clone();
    assert_eq!(p50["verdict"], "GO", "latency-equivalent: {p50}");
    for name in ["handler_cpu_per_request", "cpu_per_request"] {
        let r = row(&result, name);
        assert_eq!(r["verdict"], "NO-GO", "{r}");
        let reason = r["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("not critical"),
            "proven, held back: {reason}"
        );
        assert!(
            r["interval"]["low"].as_f64().is_some_and(|l| l > 1.5),
            "{r}"
        );
    }
}
