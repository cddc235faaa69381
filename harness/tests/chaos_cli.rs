//! Chaos through the real binary against the reference platform: faults placed at the
//! dependency and at the client, resilience observed from outside, `[expect]` judged.

mod common;

use std::path::{Path, PathBuf};

use common::{ScenarioBuilder, harness};
use predicates::prelude::*;

/// The executor outage: HTTP 503 from 1.5 s to 2.5 s of the run, at the dependency.
const OUTAGE: &str = r#"
[[fault]]
name = "executor-outage"
at = "dependency"
kind = "http_error"
status = 503
start = "1500ms"
duration = "1s"
"#;

/// An executor outage from 1.5 s to 2.5 s of a 4.5 s run; `extra` adds keys at the end.
fn outage(dir: &Path, extra: &str) -> PathBuf {
    ScenarioBuilder::new("outage")
        .seed(5)
        .duration("4s")
        .warmup("500ms")
        .repetitions(None)
        .faults(OUTAGE)
        .executor("3ms")
        .reference(
            "breaker = { failure_threshold = 5, open_for = \"300ms\", half_open_probes = 1 }\nretry = { max_attempts = 3, base_backoff = \"5ms\", max_backoff = \"50ms\" }",
        )
        .extra(extra)
        .write(dir)
}

fn json(file: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(file).expect("file written")).expect("JSON")
}

#[test]
fn the_dagger_breaker_opens_fails_fast_and_recovers_and_legacy_has_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = outage(
        dir.path(),
        "[expect]\ncritical = [\"circuit_opens_within\"]\ncircuit_opens_within = \"1s\"\nfail_fast_p99_below = \"50ms\"\nrecovers_within = \"1s\"\n",
    );
    let out = dir.path().join("out");
    let assert = harness()
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert();
    let output = assert.get_output().clone();
    let c = json(&out.join("result.json"))["comparison"].take();
    let expectations = c["expectations"].as_array().expect("expectation rows");
    assert_eq!(expectations.len(), 3, "{expectations:#?}");
    for e in expectations {
        assert_eq!(e["path"], "dagger");
        assert_eq!(e["verdict"], "GO", "{e:#}");
    }
    // Side by side: the legacy path never opened a breaker.
    let opens = expectations
        .iter()
        .find(|e| e["expectation"] == "circuit_opens_within")
        .expect("row");
    assert_eq!(opens["other_path"][0], "legacy");
    assert_eq!(opens["other_path"][1], "never");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("breaker opened"), "{stdout}");
    assert!(stdout.contains("breaker never opened"), "{stdout}");

    // The records carry the fault, its window and what it injected.
    let legacy = json(&out.join("runs").join("legacy-r1.json"));
    let fault = &legacy["faults"][0];
    assert_eq!(fault["name"], "executor-outage");
    assert_eq!(fault["at"], "dependency");
    assert_eq!(fault["windows"][0][0], 1.5);
    assert!(fault["injected"].as_u64().unwrap_or(0) >= 100, "{fault}");
    let observed = &legacy["resilience"][0];
    assert!(
        observed["time_to_open"].is_null(),
        "legacy has no breaker: {observed}"
    );
    assert_eq!(
        observed["service_failures"], 0,
        "every legacy failure was injected"
    );
    let dagger = json(&out.join("runs").join("dagger-r1.json"));
    let observed = &dagger["resilience"][0];
    assert!(!observed["time_to_open"].is_null(), "{observed}");
    assert!(
        observed["amplification"].as_f64().unwrap_or(9.0) < 0.5,
        "short-circuits skip the dependency: {observed}"
    );
}

#[test]
fn an_unmet_critical_expectation_rolls_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Judged on the legacy path, which has no breaker: it never opens.
    let file = outage(
        dir.path(),
        "[expect]\npaths = [\"legacy\"]\ncritical = [\"circuit_opens_within\"]\ncircuit_opens_within = \"1s\"\n",
    );
    let out = dir.path().join("out");
    harness()
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .code(4)
        .stdout(predicate::str::contains(
            "critical resilience expectation unmet",
        ));
    let c = json(&out.join("result.json"))["comparison"].take();
    assert_eq!(c["verdict"], "ROLLBACK");
    assert_eq!(c["expectations"][0]["observed"], "never");
}

#[test]
fn a_client_side_fault_reaches_the_client_and_is_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = outage(dir.path(), "");
    let text = std::fs::read_to_string(&file)
        .expect("read")
        .replace("at = \"dependency\"", "at = \"client\"\nprobability = 0.5")
        .replace("start = \"1500ms\"\nduration = \"1s\"\n", "");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--path", "dagger", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let record = json(&out.join("runs").join("dagger-r1.json"));
    let classes = &record["steps"][0]["classes"];
    let (ok, failed) = (
        classes["ok"].as_u64().unwrap_or(0),
        classes["http_5xx"].as_u64().unwrap_or(0),
    );
    // Half of ~600 requests answered 503 by the proxy in front of the service.
    assert!(failed > 120 && ok > 120, "ok {ok}, 5xx {failed}");
    assert_eq!(record["faults"][0]["at"], "client");
    assert_eq!(record["faults"][0]["per"], "request");
    assert!(
        record["faults"][0]["injected"].as_u64().unwrap_or(0) >= failed,
        "{}",
        record["faults"][0]
    );
}
