//! The control API's refusals, through the real binary and raw HTTP (every header byte
//! chosen by the test): a browser, a foreign `Host` (DNS rebinding), a foreign `Origin`
//! (cross-site forgery), a change without JSON, a missing or wrong bearer token, a body
//! over the cap (50 MB, answered 413 rather than a broken pipe), and a control API beyond
//! loopback without a token (exit 2). A refused request learns no upstream.

mod common;

use common::proxy_server;

use assert_cmd::Command;
use proxy_server::{ProxyServer, exchange};

const SECRET_UPSTREAM: &str = "127.0.0.1:9";
const JSON: &str = "Content-Type: application/json";

/// A Toxiproxy-mode server on a free port with one proxy, `db`, whose upstream a
/// refused request must not learn.
fn server(args: &[&str], env: &[(&str, &str)], token: Option<&str>) -> ProxyServer {
    let mut all = vec!["--toxiproxy", "--control", "127.0.0.1:0", "--quiet"];
    all.extend_from_slice(args);
    let server = ProxyServer::start(&all, env);
    let body = format!(r#"{{"name":"db","listen":"127.0.0.1:0","upstream":"{SECRET_UPSTREAM}"}}"#);
    let auth = token
        .map(|t| format!("\r\nAuthorization: Bearer {t}"))
        .unwrap_or_default();
    let created = exchange(
        &server.control,
        &format!(
            "POST /proxies HTTP/1.1\r\nHost: {}\r\n{JSON}\r\nContent-Length: {}{auth}",
            server.control,
            body.len()
        ),
        body.as_bytes(),
    )
    .expect("create");
    assert_eq!(created.status, 201, "{created:?}");
    server
}

fn get(server: &ProxyServer, path: &str, headers: &str) -> proxy_server::Answer {
    exchange(
        &server.control,
        &format!("GET {path} HTTP/1.1\r\n{headers}"),
        b"",
    )
    .expect("answered")
}

fn assert_refused(answer: &proxy_server::Answer, status: u16, says: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    let body: serde_json::Value = serde_json::from_str(&answer.body).expect("a JSON error");
    assert_eq!(body["status"], status);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains(says)),
        "{body}"
    );
    assert!(
        body["help"].as_str().is_some_and(|h| !h.is_empty()),
        "{body}"
    );
    assert!(!answer.body.contains(SECRET_UPSTREAM), "{}", answer.body);
}

#[test]
fn a_foreign_host_is_refused_and_learns_no_upstream() {
    let server = server(&[], &[], None);
    let port = server.port();
    let ok = get(&server, "/proxies", &format!("Host: 127.0.0.1:{port}"));
    assert_eq!(ok.status, 200);
    assert!(
        ok.body.contains(SECRET_UPSTREAM),
        "the allowed call sees it"
    );
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_owned(),
        format!("127.0.0.1.attacker.example:{port}"),
    ] {
        let refused = get(&server, "/proxies", &format!("Host: {host}"));
        assert_refused(&refused, 403, "Host");
    }
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        assert_eq!(
            get(&server, "/proxies", &format!("Host: {host}")).status,
            200,
            "{host}"
        );
    }
    // HTTP/1.0 may leave Host out; the API does not answer without one.
    let bare = exchange(&server.control, "GET /proxies HTTP/1.0", b"").expect("answered");
    assert_refused(&bare, 403, "Host");
}

#[test]
fn an_allowed_host_name_is_answered() {
    let server = server(&["--allow-host", "toxiproxy"], &[], None);
    let answer = get(&server, "/proxies", "Host: toxiproxy:8474");
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[test]
fn a_foreign_origin_is_refused_even_for_a_bodyless_reset() {
    let server = server(&[], &[], None);
    let port = server.port();
    let reset = |origin: &str| {
        exchange(
            &server.control,
            &format!(
                "POST /reset HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\nContent-Length: 0"
            ),
            b"",
        )
        .expect("answered")
    };
    assert_refused(&reset("http://attacker.example"), 403, "origin");
    assert_refused(&reset("null"), 403, "origin");
    assert_eq!(reset(&format!("http://127.0.0.1:{port}")).status, 204);
    let listed = get(
        &server,
        "/proxies",
        &format!("Host: 127.0.0.1:{port}\r\nOrigin: http://attacker.example"),
    );
    assert_refused(&listed, 403, "origin");
}

#[test]
fn a_browser_is_refused_as_toxiproxy_refuses_it() {
    let server = server(&[], &[], None);
    let answer = get(
        &server,
        "/proxies",
        &format!(
            "Host: {}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)",
            server.control
        ),
    );
    assert_refused(&answer, 403, "browsers");
}

#[test]
fn changes_need_json_unless_they_have_no_body() {
    let server = server(&[], &[], None);
    let host = format!("Host: {}", server.control);
    let toxic = br#"{"name":"forged","type":"timeout"}"#;
    let post = |content_type: &str| {
        exchange(
            &server.control,
            &format!(
                "POST /proxies/db/toxics HTTP/1.1\r\n{host}{content_type}\r\nContent-Length: {}",
                toxic.len()
            ),
            toxic,
        )
        .expect("answered")
    };
    assert_refused(&post("\r\nContent-Type: text/plain"), 415, "Content-Type");
    assert_refused(
        &post("\r\nContent-Type: application/x-www-form-urlencoded"),
        415,
        "Content-Type",
    );
    assert_refused(&post(""), 415, "without a Content-Type");
    let toxics = get(&server, "/proxies/db/toxics", &host);
    assert_eq!(toxics.body.trim(), "[]", "nothing was installed");
    assert_eq!(
        post("\r\nContent-Type: application/json; charset=utf-8").status,
        200
    );
    // What real clients send: POST /reset and DELETE with no body and no Content-Type.
    let reset = exchange(
        &server.control,
        &format!("POST /reset HTTP/1.1\r\n{host}\r\nContent-Length: 0"),
        b"",
    )
    .expect("reset");
    assert_eq!(reset.status, 204, "{reset:?}");
    let delete = exchange(
        &server.control,
        &format!("DELETE /proxies/db HTTP/1.1\r\n{host}"),
        b"",
    )
    .expect("delete");
    assert_eq!(delete.status, 204, "{delete:?}");
}

#[test]
fn with_a_token_every_call_needs_it_and_no_answer_echoes_it() {
    let token = "t0k3n-for-the-test";
    let output_token = token.to_owned();
    let server = server(
        &["--token-env", "HARNESS_TEST_PROXY_TOKEN"],
        &[("HARNESS_TEST_PROXY_TOKEN", token)],
        Some(token),
    );
    let host = format!("Host: {}", server.control);
    assert_refused(&get(&server, "/proxies", &host), 401, "token");
    assert_refused(&get(&server, "/version", &host), 401, "token");
    let wrong = get(
        &server,
        "/proxies",
        &format!("{host}\r\nAuthorization: Bearer nope"),
    );
    assert_refused(&wrong, 401, "token");
    assert!(
        wrong.headers.contains("www-authenticate: Bearer"),
        "{}",
        wrong.headers
    );
    let right = get(
        &server,
        "/proxies",
        &format!("{host}\r\nAuthorization: Bearer {output_token}"),
    );
    assert_eq!(right.status, 200);
    assert!(!right.body.contains(token));
}

#[test]
fn a_control_api_beyond_loopback_needs_a_token_or_exits_2() {
    let output = Command::cargo_bin("harness")
        .expect("binary")
        .args(["proxy", "--toxiproxy", "--control", "0.0.0.0:0"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--token-env"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing listens");

    let output = Command::cargo_bin("harness")
        .expect("binary")
        .args([
            "proxy",
            "--toxiproxy",
            "--control",
            "127.0.0.1:0",
            "--token-env",
            "HARNESS_TEST_UNSET_TOKEN",
        ])
        .env_remove("HARNESS_TEST_UNSET_TOKEN")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`HARNESS_TEST_UNSET_TOKEN` is not set"),
        "{stderr}"
    );

    // The same for a proxy file's `control`.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("proxy.toml");
    std::fs::write(
        &file,
        "mode = \"tcp\"\nupstream = \"127.0.0.1:9\"\ncontrol = \"0.0.0.0:0\"\n",
    )
    .expect("write");
    let output = Command::cargo_bin("harness")
        .expect("binary")
        .args(["proxy", "--config"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "nothing listens");

    let output = Command::cargo_bin("harness")
        .expect("binary")
        .args(["proxy"])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "neither --config nor --toxiproxy"
    );
}

#[test]
fn a_50_mb_body_is_answered_413_not_a_broken_pipe() {
    let server = server(&[], &[], None);
    let body = vec![b' '; 50 << 20];
    let declared = exchange(
        &server.control,
        &format!(
            "POST /populate HTTP/1.1\r\nHost: {}\r\n{JSON}\r\nContent-Length: {}",
            server.control,
            body.len()
        ),
        &body,
    )
    .expect("the whole body is taken and answered");
    assert_refused(&declared, 413, "larger than");
    assert!(
        declared.headers.contains("connection: close"),
        "{}",
        declared.headers
    );

    // Chunked, so the size shows only while reading.
    let mut chunked = Vec::with_capacity(body.len() + 64);
    for chunk in body.chunks(1 << 20) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let streamed = exchange(
        &server.control,
        &format!(
            "POST /populate HTTP/1.1\r\nHost: {}\r\n{JSON}\r\nTransfer-Encoding: chunked",
            server.control
        ),
        &chunked,
    )
    .expect("the whole body is taken and answered");
    assert_refused(&streamed, 413, "larger than");
}
