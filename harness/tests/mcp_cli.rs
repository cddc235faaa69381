//! `kind = "mcp"` through the binary, against an MCP server nobody on this project wrote:
//! the official Python SDK's FastMCP over streamable HTTP (`thirdparty/mcp_server.py`),
//! stateful sessions and SSE answers. Its wrapper counts `initialize` requests and
//! session closes and keeps the session ids it handed out, in
//! `<tmp>/harness-mcp-<port>.json`.
//!
//! Needs python3 with the `mcp` package; without it each test says "skipped: <why>",
//! unless `HARNESS_REQUIRE_PYTHON_SERVICE` is set (`.ci/run` sets it), when that is a
//! failure.

mod common;

use std::path::{Path, PathBuf};

use common::harness;
use common::python::PythonService;
use serde_json::Value;

const SERVICE: &str = "mcp_server.py";
const USERS: u32 = 3;

/// A closed-model scenario of `USERS` users on the MCP server at `url`: good calls with
/// an extraction feeding later steps, a tool that fails (`isError`) and a prompt the
/// server does not know (a JSON-RPC error).
fn scenario(dir: &Path, url: &str, session: &str) -> PathBuf {
    let text = format!(
        r#"
name = "mcp-python"
seed = 5
[paths.legacy]
kind = "mcp"
url = "{url}/mcp"
headers = {{ "X-Path" = "legacy" }}
session = "{session}"
[paths.dagger]
kind = "mcp"
url = "{url}/mcp"
headers = {{ "X-Feature-USE_DAGGER_MCP_SERVER" = "true" }}
session = "{session}"
[load]
model = "closed"
users = {USERS}
think_time = "20ms"
duration = "2s"
warmup = "0s"
repetitions = 1
timeout = "5s"
[[flow]]
name = "tools"
weight = 4
steps = [
  {{ name = "list", mcp = "tools/list", check = [{{ pointer = "/tools/0/name", exists = true }}] }},
  {{ name = "run", mcp = "tools/call", tool = "run_workflow", arguments = {{ workflow = "wf", steps = 3 }},
     extract = {{ run_id = "/structuredContent/run_id" }} }},
  {{ name = "read", mcp = "resources/read", uri = "workflow://${{run_id}}",
     check = [{{ pointer = "/contents/0/uri", equals = "workflow://wf-3" }}] }},
  {{ name = "prompt", mcp = "prompts/get", prompt = "summarise", arguments = {{ run = "${{run_id}}" }} }},
  {{ name = "slow", mcp = "tools/call", tool = "slow", check = [{{ pointer = "/content/0/text", equals = "slow done" }}] }},
]
[[flow]]
name = "fails"
steps = [{{ name = "fail", mcp = "tools/call", tool = "fail", arguments = {{ message = "boom" }} }}]
[[flow]]
name = "bad"
steps = [{{ name = "unknown-prompt", mcp = "prompts/get", prompt = "nope" }}]
[policy]
min_samples = 5
"#
    );
    let file = dir.join("mcp.toml");
    std::fs::write(&file, text).expect("write scenario");
    file
}

/// `harness ARGS --out OUT FILE`, its output shown on the test's stderr (read on
/// failure); returns the output and its stdout as text.
fn shown(args: &[&str], out: &Path, file: &Path) -> (std::process::Output, String) {
    let output = harness()
        .args(args)
        .arg("--out")
        .arg(out)
        .arg(file)
        .output()
        .expect("harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    (output, stdout)
}

fn stats(service: &PythonService) -> Value {
    let file = std::env::temp_dir().join(format!("harness-mcp-{}.json", service.port));
    serde_json::from_slice(&std::fs::read(&file).expect("the server wrote its stats"))
        .expect("stats are JSON")
}

/// Every file under `dir`, read as text.
fn written(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read out folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let text =
                    String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
                files.push((path, text));
            }
        }
    }
    files
}

fn step<'a>(record: &'a Value, flow: &str, name: &str) -> &'a Value {
    record["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["flow"] == flow && s["step"] == name)
        .unwrap_or_else(|| panic!("step {flow}/{name} in {record}"))
}

fn count(step: &Value, class: &str) -> u64 {
    step["classes"][class].as_u64().unwrap_or(0)
}

#[test]
fn a_closed_run_opens_one_session_per_user_and_classes_tool_and_rpc_errors() {
    let Some(service) = PythonService::start_or_skip(SERVICE, "mcp, uvicorn") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(dir.path(), &service.url, "user");
    let out = dir.path().join("out");
    let (output, stdout) = shown(&["run", "--path", "dagger"], &out, &file);
    assert_eq!(output.status.code(), Some(0), "harness run succeeds");

    let server = stats(&service);
    assert_eq!(
        server["initialize"],
        u64::from(USERS),
        "one session per user: {server}"
    );
    assert_eq!(
        server["delete"],
        u64::from(USERS),
        "each user's session closed at the end"
    );

    let record_file = out.join("runs/dagger-r1.json");
    let record: Value =
        serde_json::from_slice(&std::fs::read(&record_file).expect("run record")).expect("JSON");
    let init = step(&record, "tools", "initialize");
    let init_total: u64 = ["tools", "fails", "bad"]
        .iter()
        .map(|f| count(step(&record, f, "initialize"), "ok"))
        .sum();
    assert_eq!(
        init_total,
        u64::from(USERS),
        "initialize recorded once per user: {init}"
    );
    for name in ["list", "run", "read", "prompt", "slow"] {
        let s = step(&record, "tools", name);
        assert!(count(s, "ok") > 0, "{name}: {s}");
        assert_eq!(
            s["classes"].as_object().map(|c| c.len()),
            Some(1),
            "{name} only ok: {s}"
        );
    }
    let fail = step(&record, "fails", "fail");
    assert!(
        count(fail, "tool_error") > 0,
        "isError is tool_error: {fail}"
    );
    let bad = step(&record, "bad", "unknown-prompt");
    assert!(
        count(bad, "rpc_error") > 0,
        "a JSON-RPC error is rpc_error: {bad}"
    );
    let notes: Vec<&str> = record["meta"]["notes"]
        .as_array()
        .or_else(|| record["notes"].as_array())
        .expect("notes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("rpc_error 0: Unknown prompt: nope")),
        "the JSON-RPC code and message are in the notes: {notes:?}"
    );
    let slow_calls = count(step(&record, "tools", "slow"), "ok");
    let progress = format!(
        "mcp: {USERS} sessions opened, {} progress notifications received",
        3 * slow_calls
    );
    assert!(
        notes.contains(&progress.as_str()),
        "{progress} in {notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("tool_error: tool `fail`: Error executing tool fail: boom")),
        "{notes:?}"
    );

    let ids: Vec<String> = server["session_ids"]
        .as_array()
        .expect("session ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), USERS as usize);
    for (path, text) in written(&out) {
        for id in &ids {
            assert!(
                !text.contains(id.as_str()),
                "session id {id} leaked into {}",
                path.display()
            );
        }
    }
    assert!(!stdout.contains(ids[0].as_str()));
}

#[test]
fn compare_of_two_mcp_paths_with_a_session_per_iteration_judges_every_row() {
    let Some(service) = PythonService::start_or_skip(SERVICE, "mcp, uvicorn") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // One session per iteration: every iteration records its `initialize`, so those rows
    // have samples enough to be judged (one per user would not: see the README).
    let file = scenario(dir.path(), &service.url, "iteration");
    let out = dir.path().join("out");
    let _ = shown(&["compare"], &out, &file);
    let comparison = common::comparison(&out);
    // One run a side: the noise is assumed, so the best a latency row can be is NO-GO;
    // what matters is that every row was judged (no too_few_samples).
    assert_eq!(comparison["verdict"], "NO-GO", "{comparison}");
    let server = stats(&service);
    let opened = server["initialize"].as_u64().expect("a count");
    assert!(
        opened > 10 * u64::from(USERS),
        "a session per iteration: {server}"
    );
    assert_eq!(
        server["delete"], opened,
        "each closed when its iteration ended: {server}"
    );
}

#[test]
fn a_stdio_server_runs_one_process_per_user_session() {
    if !common::python::modules_or_skip("mcp") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/thirdparty")
        .join(SERVICE);
    let text = format!(
        r#"
name = "mcp-stdio"
seed = 5
[paths.dagger]
kind = "mcp"
command = ["python3", "{}", "--stdio"]
[load]
model = "closed"
users = 2
think_time = "20ms"
duration = "2s"
warmup = "0s"
repetitions = 1
timeout = "10s"
[[flow]]
name = "tools"
steps = [
  {{ name = "run", mcp = "tools/call", tool = "run_workflow", arguments = {{ workflow = "wf" }},
     extract = {{ run_id = "/structuredContent/run_id" }} }},
  {{ name = "read", mcp = "resources/read", uri = "workflow://${{run_id}}" }},
  {{ name = "fail", mcp = "tools/call", tool = "fail", arguments = {{ message = "boom" }} }},
]
"#,
        server.display()
    );
    let file = dir.path().join("stdio.toml");
    std::fs::write(&file, text).expect("write scenario");
    let out = dir.path().join("out");
    let (output, _) = shown(&["run"], &out, &file);
    assert_eq!(output.status.code(), Some(0));
    let record: Value = serde_json::from_slice(
        &std::fs::read(out.join("runs/dagger-r1.json")).expect("run record"),
    )
    .expect("JSON");
    assert_eq!(
        count(step(&record, "tools", "initialize"), "ok"),
        2,
        "one server per user"
    );
    assert!(count(step(&record, "tools", "read"), "ok") > 0, "{record}");
    assert!(
        count(step(&record, "tools", "fail"), "tool_error") > 0,
        "{record}"
    );
    let notes = record["notes"].to_string();
    assert!(notes.contains("mcp: 2 sessions opened"), "{notes}");
}

#[test]
fn compare_with_a_session_per_user_leaves_the_few_initialize_rows_unjudged() {
    let Some(service) = PythonService::start_or_skip(SERVICE, "mcp, uvicorn") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(dir.path(), &service.url, "user");
    let out = dir.path().join("out");
    let _ = shown(&["compare"], &out, &file);
    let comparison = common::comparison(&out);
    // Three sessions a side, fewer than min_samples: not a reason to call the
    // comparison invalid, and not judged on so few samples.
    assert_eq!(comparison["invalid"], serde_json::json!([]), "{comparison}");
    assert_eq!(comparison["verdict"], "NO-GO", "{comparison}");
    let rows = comparison["rows"].as_array().expect("rows");
    assert!(
        rows.iter()
            .all(|r| !r["step"].as_str().unwrap_or("").ends_with("/initialize"))
    );
    assert!(rows.iter().any(|r| r["step"] == "tools/run"));
    let record: Value = serde_json::from_slice(
        &std::fs::read(out.join("runs/dagger-r1.json")).expect("run record"),
    )
    .expect("JSON");
    assert_eq!(step(&record, "tools", "initialize")["session"], true);
    assert!(step(&record, "tools", "run").get("session").is_none());
}

/// The shipped `scenarios/mcp-tools.toml` (MCP paths with `target = "reference"`: the
/// embedded reference platform's `/mcp`), shortened: both paths answer every tool call,
/// one session per user, and the Dagger path's answers come from the Dagger engine.
#[test]
fn the_reference_platforms_mcp_tools_run_on_both_paths() {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/mcp-tools.toml"),
    )
    .expect("the shipped scenario");
    let text = shipped
        .replace("users = 8", "users = 3")
        .replace("duration = \"5s\"", "duration = \"2s\"")
        .replace("repetitions = 2", "repetitions = 1")
        // Per-user sessions open at each user's first iteration: inside a warmup, which
        // is not recorded. Without one, each session's setup is measured.
        .replace("warmup = \"1s\"", "warmup = \"0s\"");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcp-tools.toml");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    for path in ["legacy", "dagger"] {
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("runs/{path}-r1.json"))).expect("record"),
        )
        .expect("JSON");
        let initialize = step(&record, "tools", "initialize");
        assert_eq!(
            count(initialize, "ok"),
            3,
            "one session per user: {initialize}"
        );
        for name in ["list", "run"] {
            let s = step(&record, "tools", name);
            let ok = count(s, "ok");
            assert!(ok > 20, "{path} {name}: {s}");
            let failed: u64 = s["classes"]
                .as_object()
                .expect("classes")
                .iter()
                .filter(|(class, _)| *class != "ok")
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum();
            assert_eq!(failed, 0, "{path} {name}: {s}");
        }
    }
}

/// The shipped `scenarios/chaos-mcp-executor-outage.toml`, shortened to 7 s a side: the
/// Dagger path's tool calls are joined to the executor's attempts by request id (the
/// tool call, not the session's `initialize`, is each iteration's client request), so
/// its breaker, fail-fast and recovery expectations are judged rather than
/// "unattributed".
#[test]
fn an_executor_outage_under_mcp_tool_calls_is_judged_from_the_joined_attempts() {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/chaos-mcp-executor-outage.toml"),
    )
    .expect("the shipped scenario");
    let text = shipped.replace("duration = \"16s\"", "duration = \"7s\"");
    assert_ne!(text, shipped, "the test shortens the scenario");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("chaos-mcp.toml");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    let output = harness()
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs");
    let result: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("result.json")).expect("result.json"),
    )
    .expect("JSON");
    let expectations = result["comparison"]["expectations"]
        .as_array()
        .expect("expectations");
    assert!(!expectations.is_empty(), "{}", result["comparison"]);
    for e in expectations {
        assert_ne!(e["verdict"], "INCONCLUSIVE", "{e}");
    }
    let opens = expectations
        .iter()
        .find(|e| e["path"] == "dagger" && e["expectation"] == "circuit_opens_within")
        .expect("circuit_opens_within");
    assert_eq!(
        opens["verdict"],
        "GO",
        "{opens}\nexit {:?}",
        output.status.code()
    );
}

/// The fault proxy between harness and an MCP server (`at = "client"`), on the reference
/// platform with SSE answers: each fault kind a team would try gets its class, and a
/// session outlives a failed call (the next call on it succeeds; only a failed
/// `initialize` opens another).
#[test]
fn faults_in_front_of_an_mcp_server_are_classed_and_sessions_outlive_them() {
    let cases = [
        ("latency", "latency = \"30ms\"", None),
        ("http_error", "status = 503", Some("http_5xx")),
        ("abort", "", Some("reset")),
        // Cut inside the SSE answer: after its head and the first bytes of its events.
        ("truncate", "bytes = 40", Some("reset")),
    ];
    for (kind, keys, class) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("fault.toml");
        std::fs::write(
            &file,
            format!(
                r#"name = "mcp-fault-{kind}"
seed = 3
[paths.dagger]
kind = "mcp"
target = "reference"
headers = {{ "X-Feature-USE_DAGGER_MCP_SERVER" = "true" }}
[load]
model = "closed"
users = 2
duration = "1500ms"
warmup = "0s"
repetitions = 1
timeout = "2s"
[[flow]]
name = "tools"
steps = [
  {{ name = "list", mcp = "tools/list" }},
  {{ name = "run", mcp = "tools/call", tool = "run_workflow", arguments = {{ workflow = "build" }} }},
]
[reference]
mcp_sse = true
executor_latency = "2ms"
[[fault]]
at = "client"
kind = "{kind}"
{keys}
probability = 0.3
"#
            ),
        )
        .expect("write");
        let out = dir.path().join("out");
        harness()
            .args(["run", "--quiet", "--out"])
            .arg(&out)
            .arg(&file)
            .assert()
            .success();
        let file = out.join("runs/dagger-r1.json");
        let record: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("record")).expect("JSON");
        let typed = harness::record::RunRecord::read(&file).expect("a run record");
        let initialize = step(&record, "tools", "initialize");
        let failed_sessions = total(initialize) - count(initialize, "ok");
        assert_eq!(
            count(initialize, "ok"),
            2,
            "{kind}: one session per user, reopened only after a failed initialize: {initialize}"
        );
        assert!(failed_sessions < 10, "{kind}: {initialize}");
        for name in ["list", "run"] {
            let s = step(&record, "tools", name);
            let total = total(s);
            let ok = count(s, "ok");
            match class {
                None => {
                    assert_eq!(ok, total, "{kind} {name}: a delay is no error: {s}");
                    let histogram = &typed
                        .steps
                        .iter()
                        .find(|s| s.step == name)
                        .expect("the step")
                        .ok;
                    let p99_ms = histogram.value_at_quantile(0.99) as f64 / 1000.0;
                    assert!(p99_ms >= 30.0, "{kind} {name}: p99 {p99_ms} ms: {s}");
                }
                Some(class) => {
                    let hit = count(s, class);
                    assert!(hit > 0, "{kind} {name}: no `{class}` in {s}");
                    assert_eq!(
                        ok + hit,
                        total,
                        "{kind} {name}: every call is ok or `{class}`: {s}"
                    );
                    assert!(
                        ok * 10 > total * 5,
                        "{kind} {name}: calls on a session after a failed one succeed: {s}"
                    );
                }
            }
        }
    }
}

/// Every outcome of a step, whatever its class.
fn total(step: &Value) -> u64 {
    step["classes"]
        .as_object()
        .expect("classes")
        .values()
        .map(|n| n.as_u64().unwrap_or(0))
        .sum()
}

/// A parity pass on MCP paths opens a session per side and sample (A and B on the base,
/// C on the candidate), as a load iteration would, closes each when its sample ends, and
/// never compares the `initialize` answers (the servers' names and versions differ by
/// design).
#[test]
fn a_parity_pass_opens_a_session_per_side_and_sample_and_closes_them() {
    let Some(service) = PythonService::start_or_skip(SERVICE, "mcp, uvicorn") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(dir.path(), &service.url, "user");
    let mut text = std::fs::read_to_string(&file).expect("read");
    text.push_str("[parity]\nsamples = 12\nrate = 50\nmin_samples = 3\n");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    let _ = shown(&["compare"], &out, &file);
    let parity: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("parity.json")).expect("parity"))
            .expect("JSON");
    let steps = parity["steps"].as_array().expect("steps");
    assert!(
        steps.iter().all(|s| s["step"] != "tools/initialize"),
        "initialize is not a parity row: {parity}"
    );
    let list = steps
        .iter()
        .find(|s| s["step"] == "tools/list")
        .expect("tools/list");
    assert!(list["compared"].as_u64().unwrap_or(0) > 0, "{parity}");
    let server = stats(&service);
    let opened = server["initialize"].as_u64().expect("a count");
    // The measured runs: one session per user and path. The pass: three per sample.
    let runs = 2 * u64::from(USERS);
    assert_eq!(opened, runs + 3 * 12, "{server}");
    assert_eq!(server["delete"], opened, "every session closed: {server}");
}
