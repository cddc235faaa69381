//! Flows fed from recorded traffic: `replay = "traffic/session.har"` (HAR 1.2) or a
//! JSON-lines request log generates the flow's steps; every problem is reported at the
//! `replay` value, naming the traffic file and its entry or line; and a replayed flow
//! runs through the binary against the embedded reference platform.

mod common;

use std::path::{Path, PathBuf};

use common::{ScenarioBuilder, harness};
use harness::scenario::{Diagnostic, Part, Scenario, ScenarioError, parse_str};

/// The environment the tests see: no real variables leak in.
fn env(name: &str) -> Option<String> {
    match name {
        "TASK_ID" => Some("t-9".into()),
        _ => None,
    }
}

/// A recorded browser session: a POST with a JSON body, a GET with a query string (and
/// HTTP/2 pseudo-headers), a request to another host, a health check; volatile headers
/// everywhere.
const SESSION_HAR: &str = r#"{
  "log": {
    "version": "1.2",
    "creator": { "name": "test", "version": "1" },
    "entries": [
      {
        "request": {
          "method": "POST",
          "url": "http://api.test/api/workflows/execute",
          "httpVersion": "HTTP/1.1",
          "headers": [
            { "name": "Host", "value": "api.test" },
            { "name": "Content-Type", "value": "application/json" },
            { "name": "Content-Length", "value": "20" },
            { "name": "Cookie", "value": "session=abc" },
            { "name": "Authorization", "value": "Bearer recorded-token" },
            { "name": "Accept-Encoding", "value": "gzip, br" },
            { "name": "Connection", "value": "keep-alive" },
            { "name": "X-Client", "value": "web" }
          ],
          "postData": { "mimeType": "application/json", "text": "{\"workflow\":\"build\"}" }
        },
        "response": { "status": 202 }
      },
      {
        "request": {
          "method": "GET",
          "url": "http://api.test/api/tasks/t-1?verbose=1&price=$5",
          "httpVersion": "HTTP/2",
          "headers": [
            { "name": ":authority", "value": "api.test" },
            { "name": ":method", "value": "GET" },
            { "name": "accept", "value": "application/json" },
            { "name": "traceparent", "value": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }
          ]
        },
        "response": { "status": 200 }
      },
      {
        "request": {
          "method": "GET",
          "url": "https://cdn.other.test/static/app.js",
          "headers": [{ "name": "Accept", "value": "*/*" }]
        },
        "response": { "status": 200 }
      },
      {
        "request": { "method": "GET", "url": "http://api.test/healthz", "headers": [] },
        "response": { "status": 0 }
      }
    ]
  }
}"#;

/// A request log: a POST whose body is JSON, a GET whose path uses an environment
/// variable and whose header is recorded twice; comments and blank lines between.
const REQUESTS_JSONL: &str = r##"# requests captured by the gateway
{"method":"POST","url":"/api/workflows/execute","headers":{"content-type":"application/json"},"body":{"workflow":"w"},"status":202}

{"url":"/api/tasks/${TASK_ID}","headers":[["Accept","application/json"],["accept","text/plain"]]}
"##;

/// A scenario on the reference platform whose one flow is `flow`.
fn scenario_text(flow: &str) -> String {
    format!(
        "name = \"replay\"\n[paths.legacy]\ntarget = \"reference\"\n[load]\nmodel = \"open\"\nrate = 50\nduration = \"1s\"\n[[flow]]\nname = \"recorded\"\n{flow}\n"
    )
}

/// A folder with `traffic/<name>` holding `content` and the scenario `text` beside it.
fn folder(files: &[(&str, &str)], text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        let file = dir.path().join("traffic").join(name);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, content).expect("write traffic");
    }
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, text).expect("write scenario");
    (dir, scenario)
}

fn parse(file: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(file).expect("read scenario");
    parse_str(&text, file, &env)
}

fn valid(files: &[(&str, &str)], flow: &str) -> Scenario {
    let (_dir, file) = folder(files, &scenario_text(flow));
    match parse(&file) {
        Ok(s) => s,
        Err(e) => panic!("expected a valid scenario, got:\n{e}"),
    }
}

/// The 1-based line and column where `needle` first starts in `text`, or where its `^`
/// is (the `^` itself not being part of the text).
fn place(text: &str, needle: &str) -> (usize, usize) {
    let (before_mark, _) = needle.split_once('^').unwrap_or(("", needle));
    let plain = needle.replacen('^', "", 1);
    let at = text
        .find(&plain)
        .unwrap_or_else(|| panic!("{plain} in text"))
        + before_mark.len();
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Expects a located error at the first `at` of the scenario text, whose message holds
/// every one of `message` and whose help holds `help`.
#[track_caller]
fn assert_invalid(files: &[(&str, &str)], flow: &str, at: &str, message: &[&str], help: &str) {
    let text = scenario_text(flow);
    let (_dir, file) = folder(files, &text);
    let err = match parse(&file) {
        Ok(_) => panic!("expected an error for:\n{flow}"),
        Err(e) => e,
    };
    let rendered = err.to_string();
    let d: Diagnostic = err
        .diagnostic()
        .unwrap_or_else(|| panic!("expected a located error, got:\n{rendered}"))
        .clone();
    assert_eq!(
        (d.line, d.column),
        place(&text, at),
        "wrong place:\n{rendered}"
    );
    for part in message {
        assert!(
            d.message.contains(part),
            "message lacks {part:?}:\n{rendered}"
        );
    }
    assert!(d.help.contains(help), "help lacks {help:?}:\n{rendered}");
}

fn header_names(s: &Scenario, step: usize) -> Vec<String> {
    let call = s.flows[0].steps[step].http().expect("an HTTP step");
    call.headers.iter().map(|(n, _)| n.to_string()).collect()
}

#[test]
fn a_har_session_becomes_one_step_per_request_to_the_host() {
    let s = valid(
        &[("session.har", SESSION_HAR)],
        "replay = \"traffic/session.har\"\nhost = \"api.test\"",
    );
    let steps = &s.flows[0].steps;
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "001 POST /api/workflows/execute",
            "002 GET /api/tasks/t-1",
            "003 GET /healthz"
        ]
    );
    let execute = steps[0].http().expect("HTTP");
    assert_eq!(execute.method, http::Method::POST);
    assert_eq!(execute.path.source, "/api/workflows/execute");
    assert_eq!(
        execute.body.as_ref().map(|b| b.source.as_str()),
        Some("{\"workflow\":\"build\"}")
    );
    assert_eq!(execute.expect_status, [202]);
    // Host, content length, cookie, authorization, encodings and connection are dropped.
    assert_eq!(header_names(&s, 0), ["content-type", "x-client"]);
    assert!(!steps[0].safe, "a replayed POST must never be sent twice");

    let status = steps[1].http().expect("HTTP");
    assert_eq!(status.method, http::Method::GET);
    // The query is kept, and its `$5` is literal text.
    assert_eq!(status.path.source, "/api/tasks/t-1?verbose=1&price=$5");
    assert_eq!(
        status.path.parts,
        [Part::Literal("/api/tasks/t-1?verbose=1&price=$5".into())]
    );
    assert_eq!(status.body, None);
    assert_eq!(status.expect_status, [200]);
    // Pseudo-headers and the harness's own traceparent are dropped.
    assert_eq!(header_names(&s, 1), ["accept"]);
    assert!(steps[1].safe);

    // `response.status` 0 (no answer) sets no expectation: any 2xx.
    assert!(steps[2].http().expect("HTTP").expect_status.is_empty());
    let indices: Vec<u16> = steps.iter().map(|s| s.index).collect();
    assert_eq!(indices, [0, 1, 2]);
}

#[test]
fn include_and_exclude_headers_narrow_what_is_replayed() {
    let s = valid(
        &[("session.har", SESSION_HAR)],
        "replay = \"traffic/session.har\"\ninclude = [\"/api/\"]\nexclude_headers = [\"X-Client\", \"content-type\"]",
    );
    let names: Vec<&str> = s.flows[0].steps.iter().map(|s| s.name.as_str()).collect();
    // Without `host`, the other host's request stays; `include` keeps the /api/ paths.
    assert_eq!(
        names,
        ["001 POST /api/workflows/execute", "002 GET /api/tasks/t-1"]
    );
    // An explicit list replaces the default one: cookie and authorization now go along,
    // while host, content-length and connection are never replayed.
    assert_eq!(
        header_names(&s, 0),
        ["cookie", "authorization", "accept-encoding"]
    );
}

#[test]
fn a_json_lines_log_becomes_steps_with_templates_resolved_like_written_ones() {
    let s = valid(
        &[("requests.jsonl", REQUESTS_JSONL)],
        "replay = \"traffic/requests.jsonl\"",
    );
    let steps = &s.flows[0].steps;
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].name, "001 POST /api/workflows/execute");
    let execute = steps[0].http().expect("HTTP");
    assert_eq!(
        execute.body.as_ref().map(|b| b.source.as_str()),
        Some("{\"workflow\":\"w\"}")
    );
    assert_eq!(execute.expect_status, [202]);
    assert!(!steps[0].safe);
    assert_eq!(steps[1].name, "002 GET /api/tasks/${TASK_ID}");
    let status = steps[1].http().expect("HTTP");
    assert_eq!(status.method, http::Method::GET);
    assert_eq!(status.path.source, "/api/tasks/${TASK_ID}");
    assert_eq!(status.path.parts, [Part::Literal("/api/tasks/t-9".into())]);
    assert!(status.expect_status.is_empty());
    let (name, value) = &status.headers[0];
    assert_eq!(name.as_str(), "accept");
    assert_eq!(value.source, "application/json, text/plain");
    assert!(steps[1].safe);
}

#[test]
fn the_hash_follows_the_traffic_files_content() {
    let flow = "replay = \"traffic/session.har\"\nhost = \"api.test\"";
    let first = valid(&[("session.har", SESSION_HAR)], flow);
    let again = valid(&[("session.har", SESSION_HAR)], flow);
    assert_eq!(first.hash, again.hash);
    let edited = SESSION_HAR.replace("{\\\"workflow\\\":\\\"build\\\"}", "{}");
    assert_ne!(edited, SESSION_HAR);
    let changed = valid(&[("session.har", &edited)], flow);
    assert_ne!(first.hash, changed.hash);
}

#[test]
fn unreadable_or_malformed_traffic_is_located_at_the_replay_value() {
    let replay = "replay = \"traffic/session.har\"";
    let at = "\"traffic/session.har\"";
    assert_invalid(
        &[],
        replay,
        at,
        &["cannot read the recorded traffic `traffic/session.har`"],
        "relative to the scenario file's folder",
    );
    assert_invalid(
        &[("session.har", "{\"log\": [")],
        replay,
        at,
        &["traffic/session.har: is not JSON", "at line 1 column"],
        "HAR 1.2",
    );
    assert_invalid(
        &[("session.har", "{\"log\": {\"version\": \"1.2\"}}")],
        replay,
        at,
        &["traffic/session.har: is not a HAR file", "`log.entries`"],
        ".jsonl",
    );
    assert_invalid(
        &[(
            "session.har",
            "{\"log\":{\"entries\":[{\"request\":{\"method\":\"GET\",\"url\":\"/\"}},{\"request\":{\"method\":\"GET\"}}]}}",
        )],
        replay,
        at,
        &["traffic/session.har, entry 2 (log.entries[1]): `request.url` is missing"],
        "HAR 1.2 entry",
    );
    let lines = "{\"url\":\"/a\"}\n# fine\n\"just a string\"\n";
    assert_invalid(
        &[("requests.jsonl", lines)],
        "replay = \"traffic/requests.jsonl\"",
        "\"traffic/requests.jsonl\"",
        &["traffic/requests.jsonl, line 3: is not a JSON object"],
        "each line is one request",
    );
    assert_invalid(
        &[("requests.jsonl", "{\"url\":\"/a\"}\n{\"url\":\"/b\",}\n")],
        "replay = \"traffic/requests.jsonl\"",
        "\"traffic/requests.jsonl\"",
        &[
            "traffic/requests.jsonl, line 2: is not JSON",
            "at column 13",
        ],
        "each line is one request",
    );
    assert_invalid(
        &[("requests.jsonl", "{\"url\":\"api/x\"}\n")],
        "replay = \"traffic/requests.jsonl\"",
        "\"traffic/requests.jsonl\"",
        &["line 1: `api/x` is neither an absolute URL nor a path"],
        "starting with `/`",
    );
    assert_invalid(
        &[("session.txt", "")],
        "replay = \"traffic/session.txt\"",
        "\"traffic/session.txt\"",
        &["cannot tell the format"],
        "`.jsonl`",
    );
}

#[test]
fn recorded_requests_are_checked_like_written_steps_and_named_by_entry() {
    // `${task}` is a template: nothing extracts it and no such variable is exported.
    let lines = "{\"url\":\"/a\"}\n{\"url\":\"/api/tasks/${task}\"}\n";
    assert_invalid(
        &[("requests.jsonl", lines)],
        "replay = \"traffic/requests.jsonl\"",
        "\"traffic/requests.jsonl\"",
        &[
            "traffic/requests.jsonl, line 2: undefined variable `task`",
            "flow `recorded`",
        ],
        "export it, give it a default (`${NAME:-value}`), or write `$${`",
    );
    assert_invalid(
        &[("requests.jsonl", "{\"method\":\"post\",\"url\":\"/a\"}\n")],
        "replay = \"traffic/requests.jsonl\"",
        "\"traffic/requests.jsonl\"",
        &["line 1: `post` is not an HTTP method"],
        "upper case",
    );
    assert_invalid(
        &[(
            "requests.jsonl",
            "{\"url\":\"/a\",\"headers\":{\"x-name\":\"a\\nb\"}}\n",
        )],
        "replay = \"traffic/requests.jsonl\"",
        "\"traffic/requests.jsonl\"",
        &["line 1: the value of header `x-name` is not a valid header value"],
        "visible ASCII",
    );
    // A `${` that is not a template stays literal text.
    let s = valid(
        &[(
            "requests.jsonl",
            "{\"method\":\"PUT\",\"url\":\"/a\",\"body\":\"{\\\"k\\\":\\\"${\\\"}\"}\n",
        )],
        "replay = \"traffic/requests.jsonl\"",
    );
    let call = s.flows[0].steps[0].http().expect("HTTP");
    let body = call.body.as_ref().expect("a body");
    assert_eq!(body.parts, [Part::Literal("{\"k\":\"${\"}".into())]);
    assert!(!s.flows[0].steps[0].safe);
}

#[test]
fn replay_keys_are_checked_where_they_are_written() {
    let har = [("session.har", SESSION_HAR)];
    assert_invalid(
        &har,
        "replay = \"traffic/session.har\"\nsteps = [{ name = \"s\", path = \"/\" }]",
        "\"traffic/session.har\"",
        &["flow `recorded` has both `steps` and `replay`"],
        "remove `steps` or `replay`",
    );
    assert_invalid(
        &har,
        "steps = [{ name = \"s\", path = \"/\" }]\nhost = \"api.test\"",
        "host",
        &["`host` filters recorded traffic, but flow `recorded` has no `replay`"],
        "replay = ",
    );
    assert_invalid(
        &har,
        "weight = 2",
        "[[flow]]",
        &["flow `recorded` has no `steps`"],
        "replay = ",
    );
    assert_invalid(
        &har,
        "replay = \"traffic/session.har\"\nmax_steps = 2",
        "\"traffic/session.har\"",
        &["has 4 requests to replay, more than max_steps = 2"],
        "include = [\"/api/\"]",
    );
    assert_invalid(
        &har,
        "replay = \"traffic/session.har\"\nmax_steps = 0",
        "max_steps = ^0",
        &["max_steps must be at least 1"],
        "max_steps = 500",
    );
    assert_invalid(
        &har,
        "replay = \"traffic/session.har\"\ninclude = [\"api\"]",
        "\"api\"",
        &["include prefix `api` must start with `/`"],
        "include = [\"/api/\"]",
    );
    assert_invalid(
        &har,
        "replay = \"traffic/session.har\"\nhost = \"nowhere.test\"",
        "\"traffic/session.har\"",
        &["no request of `traffic/session.har` is left to replay (4 recorded"],
        "`host` and `include`",
    );
    assert_invalid(
        &har,
        "replay = \"traffic/session.har\"\nhost = \"https://api.test\"",
        "\"https://api.test\"",
        &["is not a host name"],
        "host = \"api.example.com\"",
    );
}

#[test]
fn only_http_paths_can_replay() {
    let text = scenario_text("replay = \"traffic/session.har\"").replace(
        "[paths.legacy]\ntarget = \"reference\"",
        "[paths.legacy]\ntarget = \"reference\"\n[paths.script]\nkind = \"command\"",
    );
    let (_dir, file) = folder(&[("session.har", SESSION_HAR)], &text);
    let err = parse(&file).expect_err("a command path cannot replay");
    let d = err.diagnostic().expect("located");
    assert_eq!((d.line, d.column), place(&text, "\"traffic/session.har\""));
    assert!(
        d.message.contains(
            "flow `recorded` replays recorded HTTP requests, but the scenario has a command path"
        ),
        "{err}"
    );
    assert!(d.help.contains("paths are all HTTP"), "{err}");
}

/// A recording of the reference platform's API: start a workflow, ask for a task the
/// platform does not know (404, as recorded), a health check with a query string.
const REFERENCE_HAR: &str = r#"{"log": {"version": "1.2", "entries": [
  {"request": {"method": "POST", "url": "https://orchestrator.example/api/workflows/execute",
               "headers": [{"name": "content-type", "value": "application/json"},
                           {"name": "authorization", "value": "Bearer recorded"}],
               "postData": {"mimeType": "application/json", "text": "{\"workflow\":\"build-and-test\"}"}},
   "response": {"status": 202}},
  {"request": {"method": "GET", "url": "https://orchestrator.example/api/tasks/t-recorded?verbose=1",
               "headers": [{"name": "accept", "value": "application/json"}]},
   "response": {"status": 404}},
  {"request": {"method": "GET", "url": "https://orchestrator.example/healthz?probe=replay",
               "headers": []},
   "response": {"status": 200}},
  {"request": {"method": "GET", "url": "https://fonts.example/font.woff2", "headers": []},
   "response": {"status": 200}}
]}}"#;

#[test]
fn a_replayed_flow_runs_against_the_reference_platform() {
    let dir = tempfile::tempdir().expect("tempdir");
    let traffic = dir.path().join("traffic");
    std::fs::create_dir_all(&traffic).expect("mkdir");
    std::fs::write(traffic.join("session.har"), REFERENCE_HAR).expect("write HAR");
    let file = ScenarioBuilder::new("replay-run")
        .rate(60)
        .duration("1s")
        .warmup("100ms")
        .repetitions(None)
        .executor("1ms")
        .flow(
            "[[flow]]\nname = \"recorded\"\nreplay = \"traffic/session.har\"\nhost = \"orchestrator.example\"",
        )
        .write(dir.path());
    let out = dir.path().join("out");
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    for path in ["legacy", "dagger"] {
        let text = std::fs::read_to_string(out.join("runs").join(format!("{path}-r1.json")))
            .expect("record written");
        let record: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let steps = record["steps"].as_array().expect("steps");
        let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
        assert_eq!(
            names,
            [
                "001 POST /api/workflows/execute",
                "002 GET /api/tasks/t-recorded",
                "003 GET /healthz"
            ],
            "{path}"
        );
        for step in steps {
            let classes = step["classes"].as_object().expect("classes");
            let ok = classes
                .get("ok")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            assert!(
                ok > 0,
                "{path} {}: no ok outcome: {classes:?}",
                step["step"]
            );
            assert_eq!(
                classes.len(),
                1,
                "{path} {}: only ok outcomes expected: {classes:?}",
                step["step"]
            );
        }
    }
}
