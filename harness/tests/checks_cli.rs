//! Answer checks and header extraction through the binary, against a small HTTP service
//! started here whose Dagger path lost a field and echoes its caller's token:
//! - the legacy path's session id travels from an answer header to the next request;
//! - every Dagger answer fails `/status equals "done"`, and the decision, in every
//!   report format, says which check failed how often ("N of N failed ..."), with the
//!   first failures (expected, actual) and the token redacted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use common::harness;
use common::http_server::serve;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};

const TOKEN: &str = "s3cr3t-token-42";

/// The service: `POST /start` opens a session (its id in `Mcp-Session-Id`), `GET /use`
/// needs it in `x-session`. The Dagger path's `/start` answers without `artifacts` and
/// with a status that echoes the `Authorization` header.
fn answer(req: &Request<hyper::body::Incoming>, sessions: &AtomicU64) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let dagger = header("x-feature-use_dagger_workflow_engine") == "true";
    let json = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("response")
    };
    match req.uri().path() {
        "/start" => {
            let id = sessions.fetch_add(1, Ordering::Relaxed);
            let body = if dagger {
                format!(r#"{{"status":"failed for {}"}}"#, header("authorization"))
            } else {
                r#"{"status":"done","artifacts":[{"name":"build.log"}]}"#.to_string()
            };
            let mut response = json(StatusCode::OK, body);
            response.headers_mut().insert(
                "mcp-session-id",
                format!("sess-{id}").parse().expect("value"),
            );
            response
        }
        "/use" if header("x-session").starts_with("sess-") => {
            json(StatusCode::OK, r#"{"ok":true}"#.into())
        }
        "/use" => json(StatusCode::BAD_REQUEST, r#"{"error":"no session"}"#.into()),
        _ => json(StatusCode::NOT_FOUND, "{}".into()),
    }
}

const SCENARIO: &str = r#"
name = "checks"
seed = 3
[paths.legacy]
base_url = "${SERVICE_URL}"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false" }
[paths.dagger]
base_url = "${SERVICE_URL}"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true", "Authorization" = "Bearer ${API_TOKEN}" }
[load]
model = "open"
rate = 80
duration = "2s"
warmup = "200ms"
repetitions = 1
timeout = "2s"
[[flow]]
name = "wf"
steps = [
  { name = "start", method = "POST", path = "/start", expect_status = [200],
    extract = { session = { header = "Mcp-Session-Id" } },
    check = [
      { pointer = "/status", equals = "done" },
      { pointer = "/artifacts/0/name", exists = true },
      { header = "content-type", matches = "json" },
    ] },
  { name = "use", path = "/use", headers = { "x-session" = "${session}" },
    expect_status = [200], check = [{ pointer = "/ok", equals = true }] },
]
"#;

#[test]
fn failed_checks_are_counted_by_name_in_every_format_and_headers_flow_between_steps() {
    let sessions = Arc::new(AtomicU64::new(0));
    let server = serve(move |req| answer(req, &sessions));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("checks.toml");
    std::fs::write(&file, SCENARIO).expect("scenario");
    let out = dir.path().join("out");
    let output = harness()
        .args(["compare", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .env("SERVICE_URL", server.url())
        .env("API_TOKEN", TOKEN)
        .output()
        .expect("harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(4), "{stdout}");

    // The legacy path: the session id went from the answer header to the next request.
    let legacy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("runs").join("legacy-r1.json")).expect("record"),
    )
    .expect("json");
    let steps = legacy["steps"].as_array().expect("steps");
    let ok = |i: usize| steps[i]["classes"]["ok"].as_u64().unwrap_or(0);
    assert!(ok(0) >= 150 && ok(1) == ok(0), "{steps:#?}");
    assert!(steps[1]["classes"].get("check_failed").is_none());

    // The Dagger path: every answer failed the first check, counted by its name.
    let dagger: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("runs").join("dagger-r1.json")).expect("record"),
    )
    .expect("json");
    let start = &dagger["steps"][0];
    let failed = start["classes"]["check_failed"].as_u64().expect("failures");
    assert_eq!(
        start["check_failures"]["/status equals \"done\""].as_u64(),
        Some(failed)
    );
    let expected = format!("{failed} of {failed} failed `/status equals \"done\"`");
    let record_text = serde_json::to_string(&dagger).expect("json");
    assert!(!record_text.contains(TOKEN), "the token reached the record");
    assert!(
        record_text.contains("expected equals \\\"done\\\""),
        "{record_text}"
    );

    for (name, text) in [
        ("table", stdout.clone()),
        ("summary.md", read(&out, "summary.md")),
        ("junit.xml", read(&out, "junit.xml")),
        ("report.html", read(&out, "report.html")),
        ("result.json", read(&out, "result.json")),
    ] {
        let text = text
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("\\\"", "\"")
            .replace("\\`", "`")
            .replace("\\*", "*");
        assert!(
            text.contains(&expected),
            "{name} lacks {expected:?}:\n{text}"
        );
        assert!(text.contains("got \"failed for ***\""), "{name}: sample");
        assert!(!text.contains(TOKEN), "{name} shows the token");
    }
}

fn read(out: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(out.join(file)).expect(file)
}
