//! HTTPS in process: the load client against a real TLS server on 127.0.0.1 (certificates
//! made here with rcgen), the trust settings of a scenario's `tls` table, the `tls`
//! outcome class with its reasons, connection reuse and session resumption counted on
//! the server's side, and the fault proxy forwarding to an HTTPS upstream.

mod common;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::tls_server::{AfterAnswer, Ca, TlsServer, write};
use harness::fault::{DEFAULT_LISTEN, FaultFile, FaultProxy, ProxyOptions};
use harness::kinds::http::{Answer, HttpClient, OutgoingRequest};
use harness::load::OutcomeClass;
use harness::tls::TlsConfig;
use http::{HeaderMap, Method};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A scenario with one path to `base_url` and `tls_line` under it, in `dir`.
fn scenario_text(base_url: &str, tls_line: &str) -> String {
    format!(
        r#"name = "tls"
[paths.legacy]
base_url = "{base_url}"
{tls_line}
[load]
model = "open"
rate = 10
duration = "1s"
[[flow]]
name = "f"
steps = [{{ name = "get", path = "/" }}]
"#
    )
}

/// The path's TLS settings, as a scenario with `tls_line` validates them.
fn path_tls(dir: &Path, base_url: &str, tls_line: &str) -> TlsConfig {
    let file = dir.join("s.toml");
    let s = harness::scenario::parse_str(&scenario_text(base_url, tls_line), &file, &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    s.paths[0]
        .tls
        .clone()
        .expect("an https path has TLS settings")
}

/// The problem a scenario with `tls_line` is refused with.
fn refused(dir: &Path, base_url: &str, tls_line: &str) -> String {
    let file = dir.join("s.toml");
    let env = |name: &str| (name == "CERTS").then(|| dir.display().to_string());
    match harness::scenario::parse_str(&scenario_text(base_url, tls_line), &file, &env) {
        Ok(_) => panic!("the scenario should be refused: {tls_line}"),
        Err(e) => e.to_string(),
    }
}

fn request(method: Method, url: &str, id: u64, body: &'static [u8]) -> OutgoingRequest {
    OutgoingRequest {
        method,
        uri: url.parse().expect("uri"),
        headers: HeaderMap::new(),
        body: Bytes::from_static(body),
        request_id: id,
        keep_body: true,
        keep_headers: None,
    }
}

async fn get(client: &HttpClient, url: &str) -> Answer {
    client
        .send(request(Method::GET, url, 1, b""), TIMEOUT)
        .await
}

fn ok(answer: &Answer) -> bool {
    answer.failure.is_none() && answer.status == Some(200)
}

#[tokio::test]
async fn https_get_and_post_trust_the_ca_file_and_reuse_one_connection() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    let server = TlsServer::start(&ca.leaf(&["127.0.0.1"]), None, AfterAnswer::Nothing).await;
    let url = server.url("127.0.0.1");
    let tls = path_tls(dir.path(), &url, r#"tls = { ca_file = "ca.pem" }"#);
    let client = HttpClient::with_tls(4, &tls);
    for id in 0..5 {
        let answer = client
            .send(request(Method::GET, &format!("{url}/x"), id, b""), TIMEOUT)
            .await;
        assert!(ok(&answer), "request {id}: {answer:?}");
        assert_eq!(answer.body, Bytes::from_static(b"hello"));
    }
    let posted = client
        .send(
            request(Method::POST, &format!("{url}/echo"), 9, b"payload"),
            TIMEOUT,
        )
        .await;
    assert_eq!(posted.body, Bytes::from_static(b"payload"), "{posted:?}");
    let (accepted, handshakes, _) = server.stats.get();
    assert_eq!(
        (accepted, handshakes),
        (1, 1),
        "six requests, one pooled TLS connection"
    );
}

#[tokio::test]
async fn an_idle_connection_survives_a_key_update_and_a_close_notify_retires_it() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    let leaf = ca.leaf(&["127.0.0.1"]);
    for (after, connections) in [(AfterAnswer::KeyUpdate, 1), (AfterAnswer::CloseNotify, 2)] {
        let server = TlsServer::start(&leaf, None, after).await;
        let url = server.url("127.0.0.1");
        let client = HttpClient::with_tls(
            4,
            &path_tls(dir.path(), &url, r#"tls = { ca_file = "ca.pem" }"#),
        );
        assert!(ok(&get(&client, &url).await), "{after:?}: first request");
        // The idle connection becomes readable: a KeyUpdate record, or close_notify.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A POST is never sent again, so it only succeeds if the pool judged right.
        let posted = client
            .send(request(Method::POST, &url, 2, b"again"), TIMEOUT)
            .await;
        assert!(ok(&posted), "{after:?}: {posted:?}");
        let (accepted, handshakes, _) = server.stats.get();
        assert_eq!(
            (accepted, handshakes),
            (connections, connections),
            "{after:?}"
        );
    }
}

#[tokio::test]
async fn new_connections_resume_the_session_of_earlier_ones_within_a_client() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    let server = TlsServer::start(&ca.leaf(&["127.0.0.1"]), None, AfterAnswer::Nothing).await;
    let url = server.url("127.0.0.1");
    let tls = path_tls(dir.path(), &url, r#"tls = { ca_file = "ca.pem" }"#);
    let client = HttpClient::with_tls(4, &tls);
    assert!(ok(&get(&client, &url).await));
    // Two at once: one takes the pooled connection, the other opens a second one.
    let slow = format!("{url}/slow");
    let (a, b) = tokio::join!(get(&client, &slow), get(&client, &slow));
    assert!(ok(&a) && ok(&b), "{a:?} {b:?}");
    assert_eq!(
        server.stats.get(),
        (2, 2, 1),
        "(connections, handshakes, resumed)"
    );
    // Another client has a cache of its own: its first handshake is a full one.
    let other = HttpClient::with_tls(4, &tls);
    assert!(ok(&get(&other, &url).await));
    assert_eq!(server.stats.get(), (3, 3, 1));
}

#[tokio::test]
async fn certificate_problems_are_tls_failures_that_say_which() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    write(dir.path(), "other.pem", &Ca::new("another CA").pem);
    let server = TlsServer::start(&ca.leaf(&["localhost"]), None, AfterAnswer::Nothing).await;
    let cases = [
        (
            server.url("127.0.0.1"),
            "ca.pem",
            "certificate not valid for name 127.0.0.1",
        ),
        (server.url("localhost"), "other.pem", "unknown issuer"),
    ];
    for (url, ca_file, reason) in cases {
        let tls = path_tls(
            dir.path(),
            &url,
            &format!("tls = {{ ca_file = \"{ca_file}\" }}"),
        );
        let client = HttpClient::with_tls(4, &tls);
        for _ in 0..3 {
            assert_eq!(
                get(&client, &url).await.failure,
                Some(OutcomeClass::Tls),
                "{url}"
            );
        }
        let samples = client.failure_samples();
        assert_eq!(samples.len(), 1, "one reason, kept once: {samples:?}");
        assert!(
            samples[0].starts_with(&format!("tls: {reason}")),
            "{samples:?}"
        );
    }
    let good = HttpClient::with_tls(
        4,
        &path_tls(
            dir.path(),
            &server.url("localhost"),
            r#"tls = { ca_file = "ca.pem" }"#,
        ),
    );
    assert!(
        ok(&get(&good, &server.url("localhost")).await),
        "the right name and CA pass"
    );
}

#[tokio::test]
async fn refused_stays_connect_and_a_plain_http_server_is_a_tls_protocol_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let plain = format!("https://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let client = HttpClient::new(1);
    assert_eq!(get(&client, &plain).await.failure, Some(OutcomeClass::Tls));
    let samples = client.failure_samples();
    assert!(
        samples[0].contains("does the server speak TLS"),
        "{samples:?}"
    );
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let refused = format!("https://{}", closed.local_addr().expect("addr"));
    drop(closed);
    assert_eq!(
        get(&client, &refused).await.failure,
        Some(OutcomeClass::Connect)
    );
}

#[tokio::test]
async fn mtls_without_a_client_certificate_fails_as_tls_and_with_one_succeeds() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    write(dir.path(), "ca.pem", &ca.pem);
    let me = clients.leaf(&["harness"]);
    write(dir.path(), "me.pem", &me.cert_pem);
    write(dir.path(), "me.key", &me.key_pem);
    let server = TlsServer::start(
        &ca.leaf(&["127.0.0.1"]),
        Some(&clients),
        AfterAnswer::Nothing,
    )
    .await;
    let url = server.url("127.0.0.1");
    let anonymous = HttpClient::with_tls(
        4,
        &path_tls(dir.path(), &url, r#"tls = { ca_file = "ca.pem" }"#),
    );
    assert_eq!(get(&anonymous, &url).await.failure, Some(OutcomeClass::Tls));
    let samples = anonymous.failure_samples();
    assert!(
        samples[0].contains("requires a client certificate"),
        "{samples:?}"
    );
    let tls = path_tls(
        dir.path(),
        &url,
        r#"tls = { ca_file = "ca.pem", client_cert = "me.pem", client_key = "me.key" }"#,
    );
    let known = HttpClient::with_tls(4, &tls);
    let answer = get(&known, &url).await;
    assert!(ok(&answer), "{answer:?}");
}

#[tokio::test]
async fn insecure_skip_verify_trusts_any_certificate_and_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TlsServer::start(
        &Ca::new("unknown").leaf(&["elsewhere"]),
        None,
        AfterAnswer::Nothing,
    )
    .await;
    let url = server.url("127.0.0.1");
    let tls = path_tls(dir.path(), &url, "tls = { insecure_skip_verify = true }");
    assert!(tls.is_insecure());
    assert!(ok(&get(&HttpClient::with_tls(1, &tls), &url).await));
    let text = scenario_text(&url, "tls = { insecure_skip_verify = true }");
    let s =
        harness::scenario::parse_str(&text, &dir.path().join("s.toml"), &|_| None).expect("valid");
    let warnings = s.warnings("legacy");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("insecure_skip_verify"), "{warnings:?}");
}

#[tokio::test]
async fn the_fault_proxy_forwards_to_an_https_upstream_over_pooled_tls() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    let server = TlsServer::start(&ca.leaf(&["localhost"]), None, AfterAnswer::Nothing).await;
    let upstream = server.url("localhost");
    let faults = FaultFile::from_toml(
        "[[fault]]\nkind = \"http_error\"\nstatus = 503\nmatch = { path_prefix = \"/fail\" }\n",
    )
    .expect("faults")
    .fault;
    let options = ProxyOptions {
        tls: Some(path_tls(
            dir.path(),
            &upstream,
            r#"tls = { ca_file = "ca.pem" }"#,
        )),
        ..ProxyOptions::default()
    };
    let proxy =
        FaultProxy::start_http_with(DEFAULT_LISTEN, upstream, faults, 1, options).expect("proxy");
    let client = HttpClient::new(4);
    for _ in 0..3 {
        let answer = get(&client, &format!("{}/ok", proxy.url())).await;
        assert_eq!(answer.body, Bytes::from_static(b"hello"), "{answer:?}");
    }
    let failed = get(&client, &format!("{}/fail", proxy.url())).await;
    assert_eq!(failed.status, Some(503));
    let totals = proxy.attempts().totals;
    assert_eq!(
        (totals.attempts, totals.forwarded, totals.injected),
        (4, 3, 1)
    );
    assert_eq!(
        server.stats.get().1,
        1,
        "one TLS connection upstream, pooled"
    );
}

#[tokio::test]
async fn the_proxy_refuses_an_upstream_it_cannot_trust() {
    let server = TlsServer::start(
        &Ca::new("unknown").leaf(&["localhost"]),
        None,
        AfterAnswer::Nothing,
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), "other.pem", &Ca::new("other").pem);
    let upstream = server.url("localhost");
    let options = ProxyOptions {
        tls: Some(path_tls(
            dir.path(),
            &upstream,
            r#"tls = { ca_file = "other.pem" }"#,
        )),
        ..ProxyOptions::default()
    };
    let proxy = FaultProxy::start_http_with(DEFAULT_LISTEN, upstream, Vec::new(), 1, options)
        .expect("proxy");
    let answer = get(&HttpClient::new(1), &proxy.url()).await;
    assert_eq!(answer.status, Some(502), "{answer:?}");
    let recent = proxy.attempts().recent;
    assert_eq!(format!("{:?}", recent[0].upstream), "Error(\"tls\")");
}

#[test]
fn tls_tables_are_checked_before_anything_starts_and_errors_point_at_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new("test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    let leaf = ca.leaf(&["localhost"]);
    write(dir.path(), "me.pem", &leaf.cert_pem);
    write(
        dir.path(),
        "broken.key",
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n",
    );
    let url = "https://127.0.0.1:1";
    let e = refused(dir.path(), url, r#"tls = { ca_file = "missing.pem" }"#);
    assert!(
        e.contains("s.toml:4:19: cannot read `paths.legacy.tls.ca_file` `missing.pem`"),
        "{e}"
    );
    assert!(e.contains("help:"), "{e}");
    let e = refused(
        dir.path(),
        url,
        r#"tls = { client_cert = "me.pem", client_key = "broken.key" }"#,
    );
    assert!(
        e.contains("s.toml:4:46: `paths.legacy.tls.client_key` `broken.key` is not valid PEM"),
        "{e}"
    );
    assert!(
        !e.contains("not base64 at all"),
        "key contents never shown: {e}"
    );
    let e = refused(dir.path(), url, r#"tls = { client_key = "broken.key" }"#);
    assert!(e.contains("needs `client_cert`"), "{e}");
    let e = refused(dir.path(), url, r#"tls = { ca_file = "${NOPE}/ca.pem" }"#);
    assert!(e.contains("NOPE"), "{e}");
    let e = refused(
        dir.path(),
        url,
        r#"tls = { ca_file = "ca.pem", insecure_skip_verify = true }"#,
    );
    assert!(
        e.contains("no effect with `insecure_skip_verify = true`"),
        "{e}"
    );
    let e = refused(dir.path(), url, r#"tls = { ca_fille = "ca.pem" }"#);
    assert!(e.contains("ca_fille"), "{e}");
    let e = refused(
        dir.path(),
        "http://127.0.0.1:1",
        r#"tls = { ca_file = "ca.pem" }"#,
    );
    assert!(
        e.contains("has `tls`, but its requests are plain HTTP"),
        "{e}"
    );
    // `${VAR}` in a path: the value is used, never shown.
    let ok = path_tls(dir.path(), url, r#"tls = { ca_file = "ca.pem" }"#);
    assert_eq!(ok.source(), "ca_file ca.pem");
    let file = dir.path().join("s.toml");
    let env = |name: &str| (name == "CERTS").then(|| dir.path().display().to_string());
    let text = scenario_text(url, r#"tls = { ca_file = "${CERTS}/ca.pem" }"#);
    let s = harness::scenario::parse_str(&text, &file, &env).expect("valid");
    assert_eq!(
        s.paths[0].tls.as_ref().expect("tls").source(),
        "ca_file ${CERTS}/ca.pem"
    );
}

#[test]
fn a_dependency_upstream_may_be_https_with_its_own_trust() {
    let dir = tempfile::tempdir().expect("dir");
    write(dir.path(), "ca.pem", &Ca::new("dep CA").pem);
    let text = format!(
        "{}\n[dependency]\nlisten = \"127.0.0.1:0\"\nupstream = \"https://executor.internal:8443\"\ntls = {{ ca_file = \"ca.pem\" }}\n\n[[fault]]\nat = \"dependency\"\nkind = \"http_error\"\nstatus = 503\n",
        scenario_text("http://127.0.0.1:1", "")
    );
    let s = harness::scenario::parse_str(&text, &dir.path().join("s.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let dependency = s.dependency.expect("dependency");
    assert_eq!(dependency.tls.expect("tls").source(), "ca_file ca.pem");
    let tcp = text.replace(
        "kind = \"http_error\"\nstatus = 503",
        "kind = \"reset_peer\"",
    );
    let e = harness::scenario::parse_str(&tcp, &dir.path().join("s.toml"), &|_| None)
        .expect_err("a TCP relay takes host:port");
    assert!(e.to_string().contains("cannot be the upstream"), "{e}");
}
