//! harness against a service nobody on this project wrote: FastAPI on uvicorn, a
//! dependency called with httpx, a circuit breaker from the pybreaker library
//! (`tests/thirdparty/breaker_service.py`, packages from PyPI, pinned in its
//! `requirements.txt`). Harness's fault proxy sits between the service and its
//! dependency; a compare runs both paths (legacy: no breaker; dagger: pybreaker).
//!
//! With OpenTelemetry instrumentation (the service propagates W3C `traceparent`), what
//! harness measures from outside must agree with the service's own counters: dependency
//! calls (exactly), time to open, half-open probes, injected failures on the legacy
//! path. Without propagation, the breaker expectations must be INCONCLUSIVE, never GO.
//!
//! Needs python3 with the packages; without them the test says "skipped: <why>", and
//! `.ci/run` (which installs them) sets `HARNESS_REQUIRE_PYTHON_SERVICE=1` to make that
//! a failure.

mod common;

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::http_server::{TestServer, serve};
use common::{comparison, harness};
use http_body_util::Full;
use hyper::Response;
use serde_json::Value;

const SERVICE: &str = "tests/thirdparty/breaker_service.py";
const MODULES: &str = "import fastapi, uvicorn, httpx, pybreaker, opentelemetry.sdk, \
                       opentelemetry.instrumentation.fastapi, opentelemetry.instrumentation.httpx";

/// Whether the Python service can run here; when it cannot, why.
fn python_ready() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", MODULES])
        .output()
        .map_err(|e| format!("python3 cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the service's Python packages are missing (pip install -r harness/tests/thirdparty/requirements.txt): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ))
    }
}

/// A port free now (the OS may give it out again; good enough for a test).
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The dependency: answers every request 200, counting them.
fn dependency(hits: &Arc<AtomicU64>) -> TestServer {
    let hits = Arc::clone(hits);
    serve(move |_| {
        hits.fetch_add(1, Ordering::Relaxed);
        Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")))
    })
}

/// The Python service, killed when dropped.
struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    fn start(dependency_proxy_port: u16, propagate: &str) -> Self {
        let port = free_port();
        let child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(SERVICE))
            .args(["--port", &port.to_string()])
            .args([
                "--dependency",
                &format!("http://127.0.0.1:{dependency_proxy_port}"),
            ])
            .args(["--propagate", propagate])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the service starts");
        let service = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while service.get("/healthz").is_none() {
            assert!(Instant::now() < deadline, "the service did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        service
    }

    fn get(&self, path: &str) -> Option<Value> {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())",
            ])
            .arg(format!("{}{path}", self.url))
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }
}

fn scenario(dir: &Path) -> PathBuf {
    let text = r#"
name = "thirdparty-breaker"
seed = 7
[paths.legacy]
base_url = "${SERVICE_URL}"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false" }
[paths.dagger]
base_url = "${SERVICE_URL}"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true" }
[load]
model = "open"
rate = 50
duration = "7s"
warmup = "1s"
repetitions = 1
timeout = "2s"
[[flow]]
name = "wf"
steps = [{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", headers = { "Content-Type" = "application/json" }, expect_status = [200] }]
[[fault]]
name = "dependency-outage"
at = "dependency"
kind = "http_error"
status = 503
probability = 1.0
start = "3s"
duration = "3s"
[dependency]
listen = "127.0.0.1:${DEP_PROXY_PORT}"
upstream = "http://127.0.0.1:${DEP_PORT}"
[expect]
critical = ["circuit_opens_within"]
circuit_opens_within = "1s"
max_amplification = 1.5
"#;
    let file = dir.join("thirdparty-breaker.toml");
    std::fs::write(&file, text).expect("scenario");
    file
}

/// What a compare against the service left.
struct Outcome {
    /// harness's exit code.
    code: i32,
    /// `result.json`'s comparison.
    c: Value,
    /// The legacy and the dagger run records.
    runs: Vec<Value>,
    /// The service's own counters.
    stats: Value,
    /// Requests that reached the real dependency.
    dependency_hits: u64,
}

/// Runs a compare against the service, `None` when it cannot run here.
fn compare(propagate: &str) -> Option<Outcome> {
    if let Err(why) = python_ready() {
        if std::env::var_os("HARNESS_REQUIRE_PYTHON_SERVICE").is_some() {
            panic!("HARNESS_REQUIRE_PYTHON_SERVICE is set, but {why}");
        }
        eprintln!("skipped: {why}");
        return None;
    }
    let hits = Arc::new(AtomicU64::new(0));
    let dependency = dependency(&hits);
    let proxy_port = free_port();
    let service = Service::start(proxy_port, propagate);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(dir.path());
    let out = dir.path().join("out");
    let output = harness()
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .env("SERVICE_URL", &service.url)
        .env("DEP_PROXY_PORT", proxy_port.to_string())
        .env("DEP_PORT", dependency.addr.port().to_string())
        .output()
        .expect("harness runs");
    let code = output.status.code().unwrap_or(-1);
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let stats = service.get("/stats").expect("the service's counters");
    let runs = ["legacy", "dagger"]
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(out.join("runs").join(format!("{p}-r1.json")))
                .expect("run record");
            serde_json::from_str(&text).expect("JSON")
        })
        .collect();
    let dependency_hits = hits.load(Ordering::Relaxed);
    drop(dependency);
    Some(Outcome {
        code,
        c: comparison(&out),
        runs,
        stats,
        dependency_hits,
    })
}

fn observation<'a>(c: &'a Value, side: &str) -> &'a Value {
    c["resilience"]
        .as_array()
        .and_then(|sides| sides.iter().find(|s| s["side"] == side))
        .map(|s| &s["observations"][0])
        .unwrap_or_else(|| panic!("no {side} observation in {c:#}"))
}

fn expectation<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["expectations"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["expectation"] == name))
        .unwrap_or_else(|| panic!("no {name} row"))
}

fn secs(v: &Value) -> f64 {
    v["secs"].as_f64().unwrap_or(0.0) + v["nanos"].as_f64().unwrap_or(0.0) / 1e9
}

#[test]
fn with_traceparent_harness_agrees_with_the_services_own_counters() {
    let Some(Outcome {
        code,
        c,
        runs,
        stats,
        dependency_hits,
    }) = compare("otel")
    else {
        return;
    };
    // Every dependency call went through the proxy: the proxy's attempts are the
    // service's calls, exactly (the service counts at the call, the proxy at arrival),
    // and those the proxy did not fail reached the real dependency.
    let mut forwarded = 0;
    for (run, path) in runs.iter().zip(["legacy", "dagger"]) {
        let attempts = run["faults"][0]["attempts"].as_u64().expect("attempts");
        let injected = run["faults"][0]["injected"].as_u64().expect("injected");
        let calls = stats[path]["dependency_calls"].as_u64().expect("calls");
        eprintln!("cross-check {path}: proxy attempts {attempts}, service calls {calls}");
        assert_eq!(
            attempts, calls,
            "{path}: proxy attempts vs the service's calls"
        );
        forwarded += attempts - injected;
    }
    assert_eq!(
        forwarded, dependency_hits,
        "forwarded attempts vs the dependency's hits"
    );
    let dagger = observation(&c, "candidate");
    assert_eq!(dagger["unattributed_attempts"], 0, "{dagger:#}");
    // Time to open: the service's own (first failed call → pybreaker opens), against
    // harness's from outside (fault start → first 1 s window with ≥ 95% short-circuited,
    // on a 100 ms grid).
    let openings = stats["dagger"]["openings"].as_array().expect("openings");
    let first_failure = stats["dagger"]["first_failure"].as_f64().expect("failed");
    let service_open = openings[0].as_f64().expect("time") - first_failure;
    let harness_open = secs(&dagger["time_to_open"]);
    eprintln!("cross-check time to open: harness {harness_open:.3} s, service {service_open:.3} s");
    assert!(
        (harness_open - service_open).abs() <= 0.3,
        "time to open: harness {harness_open:.3} s, service {service_open:.3} s"
    );
    // Half-open probes: each failed pybreaker trial re-opened the breaker; harness
    // counts the attempts that reached the dependency while it was open.
    let open_for = 3.0 - harness_open;
    let probes = dagger["probe_rate"].as_f64().expect("probe rate") * open_for;
    let trials = openings.len() as f64 - 1.0;
    eprintln!("cross-check probes: harness {probes:.2}, service trials {trials}");
    assert!(
        (probes - trials).abs() <= 1.0,
        "probes: harness {probes:.1}, service trials {trials}"
    );
    // The legacy path has no breaker: every failure during the fault was injected, and
    // harness says so (it used to call them the service's own).
    let legacy = observation(&c, "base");
    assert_eq!(legacy["time_to_open"], Value::Null, "{legacy:#}");
    assert_eq!(legacy["service_failures"], 0, "{legacy:#}");
    assert_eq!(
        legacy["injected_failures"], legacy["during"]["errors"],
        "{legacy:#}"
    );
    assert!(legacy["during"]["errors"].as_u64().unwrap_or(0) > 100);
    assert_eq!(expectation(&c, "circuit_opens_within")["verdict"], "GO");
    assert_eq!(expectation(&c, "max_amplification")["verdict"], "GO");
    assert!(
        [0, 3].contains(&code),
        "GO or NO-GO on latency/errors, never INCONCLUSIVE: {code}"
    );
}

#[test]
fn without_propagation_the_breaker_rows_are_inconclusive_never_go() {
    let Some(Outcome { code, c, stats, .. }) = compare("none") else {
        return;
    };
    assert!(
        stats["dagger"]["openings"]
            .as_array()
            .is_some_and(|o| !o.is_empty()),
        "the breaker did open: {stats:#}"
    );
    let dagger = observation(&c, "candidate");
    assert_eq!(
        dagger["unattributed_attempts"], dagger["attempts_during"],
        "{dagger:#}"
    );
    let row = expectation(&c, "circuit_opens_within");
    assert_eq!(row["verdict"], "INCONCLUSIVE", "{row:#}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("does not propagate"),
        "{row:#}"
    );
    // Amplification is still judged, on the labelled window-level aggregate.
    let amp = expectation(&c, "max_amplification");
    assert_ne!(amp["verdict"], "INCONCLUSIVE", "{amp:#}");
    assert!(
        amp["observed"]
            .as_str()
            .unwrap_or_default()
            .contains("unattributed")
    );
    assert_eq!(c["verdict"], "INCONCLUSIVE", "{:#}", c["reason"]);
    assert_eq!(code, 5);
}
