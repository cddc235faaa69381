//! HTTPS through the binary: `harness compare` and `harness run` against a TLS server on
//! 127.0.0.1 (certificates made here with rcgen), the `insecure_skip_verify` warning in
//! every report format and on stderr, TLS failure reasons in the run's notes, and
//! scenario errors about `tls` files with their file, line and column.

mod common;

use std::path::Path;

use common::harness;
use common::tls_server::{AfterAnswer, Ca, TlsServer, write};

/// A scenario whose paths are `paths` (TOML of `[paths.*]` tables), at a small rate.
fn scenario(dir: &Path, paths: &str) -> std::path::PathBuf {
    let text = format!(
        r#"name = "tls-e2e"
seed = 3
{paths}
[load]
model = "open"
rate = 100
duration = "1s"
warmup = "200ms"
repetitions = 1
timeout = "2s"
[[flow]]
name = "f"
steps = [{{ name = "get", path = "/hello", expect_status = [200] }}]
"#
    );
    write(dir, "s.toml", &text)
}

/// Runs the binary with `args` (in a blocking task: the server lives on this runtime).
async fn run(args: Vec<String>, env: Vec<(&'static str, String)>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = harness();
        cmd.args(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("the binary runs")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_compare_runs_end_to_end_and_every_format_warns_about_insecure_skip_verify() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    let server = TlsServer::start(&ca.leaf(&["127.0.0.1"]), None, AfterAnswer::Nothing).await;
    let url = server.url("127.0.0.1");
    let file = scenario(
        dir.path(),
        &format!(
            "[paths.legacy]\nbase_url = \"{url}\"\ntls = {{ ca_file = \"ca.pem\" }}\n\
             [paths.dagger]\nbase_url = \"{url}\"\ntls = {{ insecure_skip_verify = true }}\n"
        ),
    );
    let out = dir.path().join("out");
    let args = vec![
        "compare".into(),
        file.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    let output = run(args, vec![]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(0 | 3 | 5)),
        "a decision, not a crash: {stdout}\n{stderr}"
    );
    let warning = "path `dagger`: insecure_skip_verify = true";
    assert!(
        stderr.contains(&format!("warning: {warning}")),
        "stderr: {stderr}"
    );
    assert!(
        stdout.contains(&format!("warning: {warning}")),
        "table: {stdout}"
    );
    let markdown = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(
        markdown.contains("**Warning:** path \\`dagger\\`: insecure\\_skip\\_verify"),
        "{markdown}"
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("<property name=\"warning\" value=\"path `dagger`: insecure_skip_verify"),
        "{junit}"
    );
    assert!(
        junit.contains("<system-err>warning: path `dagger`"),
        "{junit}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(
        html.contains("<strong>Warning:</strong> path `dagger`: insecure_skip_verify"),
        "html"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).expect("json"))
            .expect("valid JSON");
    assert_eq!(
        result["comparison"]["warnings"].as_array().map(Vec::len),
        Some(1)
    );
    // Both paths really went over TLS and succeeded.
    for side in ["base_runs", "candidate_runs"] {
        let classes = &result[side][0]["steps"][0]["classes"];
        assert!(
            classes["ok"].as_u64().unwrap_or(0) >= 90,
            "{side}: {classes}"
        );
        assert!(classes.get("tls").is_none(), "{side}: {classes}");
    }
    let (_, handshakes, _) = server.stats.get();
    let requests = server
        .stats
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        handshakes * 5 < requests,
        "connections are reused: {handshakes} handshakes for {requests} requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_are_their_own_class_and_the_run_says_which_certificate_problem() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    // The system store, as far as this run knows it, holds an unrelated CA only.
    let store = write(dir.path(), "store.pem", &Ca::new("unrelated").pem);
    let server = TlsServer::start(&ca.leaf(&["localhost"]), None, AfterAnswer::Nothing).await;
    let file = scenario(
        dir.path(),
        &format!(
            "[paths.legacy]\nbase_url = \"{}\"\ntls = {{ ca_file = \"ca.pem\" }}\n\
             [paths.dagger]\nbase_url = \"{}\"\n",
            server.url("127.0.0.1"),
            server.url("localhost"),
        ),
    );
    let out = dir.path().join("out");
    let args = vec![
        "run".into(),
        file.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
    ];
    let output = run(args, vec![("SSL_CERT_FILE", store.display().to_string())]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (path, reason) in [
        ("legacy", "certificate not valid for name 127.0.0.1"),
        ("dagger", "unknown issuer"),
    ] {
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("runs/{path}-r1.json"))).expect("record"),
        )
        .expect("json");
        let classes = &record["steps"][0]["classes"];
        assert!(
            classes["tls"].as_u64().unwrap_or(0) >= 90,
            "{path}: {classes}"
        );
        assert!(
            classes.get("ok").is_none() && classes.get("connect").is_none(),
            "{path}: {classes}"
        );
        let notes = record["notes"].to_string();
        assert!(
            notes.contains(&format!("failure: tls: {reason}")),
            "{path}: {notes}"
        );
        assert!(
            stdout.contains(&format!("failure: tls: {reason}")),
            "{stdout}"
        );
    }
}

#[test]
fn a_missing_ca_file_is_refused_with_its_place_and_exit_2() {
    let dir = tempfile::tempdir().expect("dir");
    let file = scenario(
        dir.path(),
        "[paths.legacy]\nbase_url = \"https://127.0.0.1:1\"\ntls = { ca_file = \"certs/missing.pem\" }\n",
    );
    let output = harness()
        .args(["validate", &file.display().to_string()])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("s.toml:5:19: cannot read `paths.legacy.tls.ca_file` `certs/missing.pem`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: a relative path is relative to the file's folder"),
        "{stderr}"
    );
}
