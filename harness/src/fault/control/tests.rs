//! Unit tests of the control API: the toxic mapping, path decoding, and both dialects'
//! endpoints on a registry of real proxies, called in process (no HTTP).

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::answer::{ApiError, Reply};
use super::routes::answer;
use super::server::{percent_decode, segments};
use super::state::fault_json;
use super::toxic::{Stream, Toxic, fault_of_toxic};
use super::*;
use crate::fault::{ByteSize, DEFAULT_LISTEN, Delay, Direction, FaultAction, FaultSpec};

fn info(mode: ProxyMode) -> ProxyInfo {
    ProxyInfo {
        name: "executor".into(),
        mode,
        upstream: "127.0.0.1:9".into(),
    }
}

fn toxic(kind: &str, stream: Stream, attributes: Value) -> Toxic {
    Toxic {
        name: "t".into(),
        kind: kind.into(),
        stream,
        toxicity: 1.0,
        attributes: match attributes {
            Value::Object(map) => map,
            _ => Map::new(),
        },
    }
}

fn map(kind: &str, mode: ProxyMode, attributes: Value) -> Result<FaultSpec, ApiError> {
    fault_of_toxic(&toxic(kind, Stream::Downstream, attributes), &info(mode))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn latency_keeps_toxiproxys_range_and_follows_the_mode() {
    let spec = map("latency", ProxyMode::Http, json!({"latency": 150})).expect("maps");
    assert_eq!(
        spec.action,
        FaultAction::Latency(Delay::Fixed {
            latency: ms(150),
            jitter: ms(0)
        })
    );
    let up = toxic(
        "latency",
        Stream::Upstream,
        json!({"latency": 100, "jitter": 20}),
    );
    let spec = fault_of_toxic(&up, &info(ProxyMode::Tcp)).expect("maps");
    assert_eq!(
        spec.action,
        FaultAction::TcpLatency {
            delay: Delay::Fixed {
                latency: ms(80),
                jitter: ms(40)
            },
            direction: Direction::Upstream
        }
    );
    let spec = map(
        "latency",
        ProxyMode::Tcp,
        json!({"latency": 5, "jitter": 20}),
    )
    .expect("maps");
    assert!(matches!(
        spec.action,
        FaultAction::TcpLatency { delay: Delay::Fixed { latency, jitter }, .. }
            if latency.is_zero() && jitter == ms(25)
    ));
}

#[test]
fn tcp_toxics_map_to_their_faults() {
    let cases = [
        (
            "bandwidth",
            json!({"rate": 64}),
            FaultAction::Bandwidth {
                rate: ByteSize(64_000),
                direction: Direction::Downstream,
            },
        ),
        (
            "slow_close",
            json!({"delay": 500}),
            FaultAction::SlowClose {
                delay: ms(500),
                direction: Direction::Downstream,
            },
        ),
        (
            "timeout",
            json!({"timeout": 0}),
            FaultAction::Timeout {
                timeout: None,
                direction: Direction::Downstream,
            },
        ),
        (
            "timeout",
            json!({"timeout": 2000}),
            FaultAction::Timeout {
                timeout: Some(ms(2000)),
                direction: Direction::Downstream,
            },
        ),
        (
            "reset_peer",
            json!({}),
            FaultAction::ResetPeer {
                timeout: Some(ms(0)),
                direction: Direction::Downstream,
            },
        ),
        (
            "reset_peer",
            json!({"timeout": 300}),
            FaultAction::ResetPeer {
                timeout: Some(ms(300)),
                direction: Direction::Downstream,
            },
        ),
        (
            "slicer",
            json!({"average_size": 64, "size_variation": 32, "delay": 10}),
            FaultAction::Slicer {
                average_size: ByteSize(64),
                size_variation: ByteSize(32),
                delay: Duration::from_micros(10),
                direction: Direction::Downstream,
            },
        ),
        (
            "limit_data",
            json!({"bytes": 1024}),
            FaultAction::LimitData {
                bytes: ByteSize(1024),
                direction: Direction::Downstream,
            },
        ),
    ];
    for (kind, attributes, action) in cases {
        let spec = map(kind, ProxyMode::Tcp, attributes.clone()).expect(kind);
        assert_eq!(spec.action, action, "{kind}");
        assert_eq!(spec.name.as_deref(), Some("t"));
        // On an HTTP proxy they shape the client connection the same way.
        let spec = map(kind, ProxyMode::Http, attributes).expect(kind);
        assert_eq!(spec.action, action, "{kind} in http mode");
    }
    let mut half = toxic("reset_peer", Stream::Downstream, json!({}));
    half.toxicity = 0.25;
    let spec = fault_of_toxic(&half, &info(ProxyMode::Tcp)).expect("maps");
    assert_eq!(spec.probability.get(), 0.25);
}

#[test]
fn unsupported_toxics_and_bad_attributes_are_400_saying_what_to_do() {
    let e = map("noop", ProxyMode::Tcp, json!({})).expect_err("unknown");
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    assert!(
        e.help.contains(
            "`latency`, `bandwidth`, `slow_close`, `timeout`, `reset_peer`, `slicer`, `limit_data`"
        ),
        "{}",
        e.help
    );
    let e = map(
        "slicer",
        ProxyMode::Tcp,
        json!({"average_size": 8, "size_variation": 8}),
    )
    .expect_err("variation too large");
    assert!(
        e.error.contains("size_variation < average_size"),
        "{}",
        e.error
    );
    let e = map("latency", ProxyMode::Http, json!({"latncy": 1})).expect_err("typo");
    assert!(e.error.contains("no attribute `latncy`"), "{}", e.error);
    let e = map("latency", ProxyMode::Http, json!({"latency": -5})).expect_err("negative");
    assert!(
        e.error.contains("whole number of milliseconds"),
        "{}",
        e.error
    );
    let e = map("bandwidth", ProxyMode::Tcp, json!({"rate": 0})).expect_err("no limit");
    assert!(e.help.contains("delete the toxic"), "{}", e.help);
    let mut over = toxic("timeout", Stream::Downstream, json!({}));
    over.toxicity = 1.5;
    let e = fault_of_toxic(&over, &info(ProxyMode::Tcp)).expect_err("toxicity");
    assert!(e.error.contains("between 0 and 1"), "{}", e.error);
}

#[test]
fn faults_round_trip_through_their_json_form() {
    let text = r#"
        [[fault]]
        name = "a"
        kind = "http_error"
        status = 503
        headers = { "Retry-After" = "1" }
        probability = 0.25
        start = "1s"
        duration = "2s"
        match = { path_prefix = "/x" }
        [[fault]]
        kind = "latency"
        distribution = { kind = "lognormal", median = "50ms", sigma = 0.5 }
        [[fault]]
        kind = "limit_data"
        bytes = "1KiB"
        direction = "both"
    "#;
    let faults = crate::fault::FaultFile::from_toml(text)
        .expect("parses")
        .fault;
    for spec in faults {
        let again: FaultSpec = serde_json::from_value(fault_json(&spec)).expect("reads back");
        assert_eq!(again, spec);
    }
}

#[test]
fn paths_decode_without_panicking_on_anything() {
    assert_eq!(percent_decode("a%20b"), Some("a b".into()));
    assert_eq!(percent_decode("%C3%A9"), Some("é".into()));
    for bad in ["%", "%4", "%zz", "%FF", "%%", "é%"] {
        assert_eq!(percent_decode(bad), None, "{bad}");
    }
    assert_eq!(
        segments("//faults/").expect("decodes"),
        vec!["faults".to_owned()]
    );
}

/// A registry with the `--config`-style proxy `executor` (in `mode`) and none else.
fn registry(mode: ProxyMode) -> Registry {
    let upstream = match mode {
        ProxyMode::Http => "http://127.0.0.1:9",
        ProxyMode::Tcp => "127.0.0.1:9",
    };
    let recipe = Recipe {
        info: ProxyInfo {
            upstream: upstream.into(),
            ..info(mode)
        },
        listen: DEFAULT_LISTEN,
        seed: 1,
        options: Registry::options(),
    };
    Registry::with_file_proxy(recipe, Vec::new()).expect("registry")
}

async fn call(r: &Registry, method: Method, path: &str, body: &str) -> Result<Reply, ApiError> {
    let segments = segments(path).expect("path");
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    answer(r, &method, &segments, body.as_bytes()).await
}

fn status(result: &Result<Reply, ApiError>) -> StatusCode {
    match result {
        Ok(Reply::Json(status, _)) => *status,
        Ok(Reply::Text(_) | Reply::Metrics(_)) => StatusCode::OK,
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT,
        Err(e) => e.status,
    }
}

fn json_of(result: Result<Reply, ApiError>) -> Value {
    match result {
        Ok(Reply::Json(_, value)) => value,
        other => panic!("expected JSON, got {other:?}"),
    }
}

#[tokio::test]
async fn native_endpoints_add_list_replace_and_remove() {
    let r = registry(ProxyMode::Http);
    let fault = r#"{"name":"e","kind":"http_error","status":503}"#;
    assert_eq!(
        status(&call(&r, Method::POST, "/faults", fault).await),
        StatusCode::CREATED
    );
    assert_eq!(
        status(&call(&r, Method::POST, "/faults", fault).await),
        StatusCode::CONFLICT
    );
    let listed = json_of(call(&r, Method::GET, "/faults", "").await);
    assert_eq!(
        listed,
        json!([{"name": "e", "at": "dependency", "kind": "http_error", "status": 503}])
    );
    let per_proxy = json_of(call(&r, Method::GET, "/proxies/executor/faults", "").await);
    assert_eq!(per_proxy, listed, "the file's proxy answers at both paths");
    let wrong = call(
        &r,
        Method::POST,
        "/faults",
        r#"{"kind":"down","duration":"1s"}"#,
    )
    .await
    .expect_err("down needs a listener to close");
    assert!(
        wrong.error.contains("needs a tcp-mode proxy"),
        "{}",
        wrong.error
    );
    for bad in [
        "",
        "{",
        "[]",
        r#"{"kind":"http_error"}"#,
        r#"{"kind":"abort","x":1}"#,
        "\u{0}\u{ff}",
    ] {
        let e = call(&r, Method::POST, "/faults", bad).await.expect_err(bad);
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}: {}", e.error);
    }
    let put = r#"[{"kind":"abort"},{"name":"slow","kind":"latency","latency":"10ms"}]"#;
    assert_eq!(
        status(&call(&r, Method::PUT, "/faults", put).await),
        StatusCode::OK
    );
    let twins = r#"[{"kind":"abort"},{"kind":"abort"}]"#;
    assert_eq!(
        status(&call(&r, Method::PUT, "/faults", twins).await),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(&call(&r, Method::DELETE, "/faults/e", "").await),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(&call(&r, Method::DELETE, "/proxies/executor/faults/abort", "").await),
        StatusCode::NO_CONTENT
    );
    let e = call(&r, Method::DELETE, "/faults", "")
        .await
        .expect_err("405");
    assert_eq!(
        (e.status, e.allow),
        (StatusCode::METHOD_NOT_ALLOWED, Some("GET, POST, PUT"))
    );
    assert_eq!(
        status(&call(&r, Method::GET, "/nothing/here", "").await),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&r, Method::GET, "/healthz", "").await,
        Ok(Reply::Text("ok"))
    );
    let attempts = json_of(call(&r, Method::GET, "/attempts", "").await);
    assert_eq!(attempts["totals"]["attempts"], 0);
    assert_eq!(attempts["enabled"], true);
}

#[tokio::test]
async fn without_a_file_the_root_native_endpoints_point_at_the_per_proxy_ones() {
    let r = Registry::new(1);
    let e = call(&r, Method::GET, "/faults", "")
        .await
        .expect_err("no default");
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    assert!(e.help.contains("/proxies/{name}/faults"), "{}", e.help);
    assert_eq!(
        json_of(call(&r, Method::GET, "/proxies", "").await),
        json!({})
    );
}

#[tokio::test]
async fn toxics_share_the_fault_list_of_their_proxy() {
    let r = registry(ProxyMode::Tcp);
    let toxics = "/proxies/executor/toxics";
    let toxic = json_of(
        call(
            &r,
            Method::POST,
            toxics,
            r#"{"type":"latency","attributes":{"latency":100}}"#,
        )
        .await,
    );
    assert_eq!(
        toxic["name"], "latency_downstream",
        "Toxiproxy's default name"
    );
    assert_eq!(toxic["toxicity"], 1.0);
    let e = call(
        &r,
        Method::POST,
        toxics,
        r#"{"type":"latency","attributes":{"latency":1}}"#,
    )
    .await
    .expect_err("twice");
    assert_eq!(e.status, StatusCode::CONFLICT);
    assert!(e.error.starts_with("toxic already exists"), "{}", e.error);
    let e = call(
        &r,
        Method::POST,
        "/proxies/other/toxics",
        r#"{"type":"timeout"}"#,
    )
    .await
    .expect_err("proxy");
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    assert!(e.error.starts_with("proxy not found"), "{}", e.error);
    let e = call(
        &r,
        Method::POST,
        toxics,
        r#"{"type":"timeout","stream":"sideways"}"#,
    )
    .await
    .expect_err("stream");
    assert!(e.error.contains("upstream or downstream"), "{}", e.error);
    assert_eq!(
        status(
            &call(
                &r,
                Method::POST,
                "/faults",
                r#"{"name":"cut","kind":"limit_data","bytes":10,"direction":"upstream"}"#
            )
            .await
        ),
        StatusCode::CREATED
    );
    let listed = json_of(call(&r, Method::GET, toxics, "").await);
    assert_eq!(listed[1]["type"], "limit_data");
    assert_eq!(listed[1]["stream"], "upstream");
    let faults = json_of(call(&r, Method::GET, "/faults", "").await);
    assert_eq!(faults[0]["kind"], "tcp_latency");
    assert_eq!(faults[0]["latency"], "100ms");
    let updated = json_of(
        call(
            &r,
            Method::PATCH,
            "/proxies/executor/toxics/latency_downstream",
            r#"{"attributes":{"latency":300}}"#,
        )
        .await,
    );
    assert_eq!(updated["attributes"]["latency"], 300);
    let shown = json_of(
        call(
            &r,
            Method::GET,
            "/proxies/executor/toxics/latency_downstream",
            "",
        )
        .await,
    );
    assert_eq!(shown, updated);
    let e = call(
        &r,
        Method::PATCH,
        "/proxies/executor/toxics/cut",
        r#"{"toxicity":0.5}"#,
    )
    .await
    .expect_err("native");
    assert!(e.help.contains("/faults"), "{}", e.help);
    assert_eq!(
        status(&call(&r, Method::DELETE, "/proxies/executor/toxics/cut", "").await),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(&call(&r, Method::DELETE, "/proxies/executor/toxics/cut", "").await),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn proxies_are_created_listed_updated_and_deleted_like_toxiproxys() {
    let r = Registry::new(1);
    let body = r#"{"name":"redis","listen":"localhost:0","upstream":"127.0.0.1:9"}"#;
    let created = call(&r, Method::POST, "/proxies", body).await;
    assert_eq!(status(&created), StatusCode::CREATED);
    let created = json_of(created);
    assert_eq!(created["enabled"], true);
    assert_eq!(created["toxics"], json!([]));
    let listen: std::net::SocketAddr = created["listen"]
        .as_str()
        .and_then(|l| l.parse().ok())
        .expect("an address");
    assert!(listen.ip().is_loopback() && listen.port() != 0, "{listen}");
    let e = call(&r, Method::POST, "/proxies", body)
        .await
        .expect_err("twice");
    assert_eq!(e.status, StatusCode::CONFLICT);
    assert!(e.error.starts_with("proxy already exists"), "{}", e.error);
    for (bad, says) in [
        (
            r#"{"upstream":"127.0.0.1:9"}"#,
            "missing required field: name",
        ),
        (r#"{"name":"x"}"#, "missing required field: upstream"),
        (r#"{"name":"x","upstream":"http://a:1"}"#, "not host:port"),
        (
            r#"{"name":"x","upstream":"a:1","listen":"nowhere"}"#,
            "not host:port",
        ),
        (r#"{"name":"a/b","upstream":"a:1"}"#, "cannot name a proxy"),
        (
            r#"{"name":"x","upstream":"a:1","enabeld":false}"#,
            "unknown field",
        ),
    ] {
        let e = call(&r, Method::POST, "/proxies", bad)
            .await
            .expect_err(bad);
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(e.error.contains(says), "{bad}: {}", e.error);
    }
    let taken = format!(r#"{{"name":"twin","listen":"{listen}","upstream":"127.0.0.1:9"}}"#);
    let e = call(&r, Method::POST, "/proxies", &taken)
        .await
        .expect_err("in use");
    assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR, "as Toxiproxy");
    assert!(e.error.starts_with("listen tcp"), "{}", e.error);

    // Disabled: the listener is gone; enabled again: back on the same port.
    let down = json_of(call(&r, Method::POST, "/proxies/redis", r#"{"enabled":false}"#).await);
    assert_eq!(down["enabled"], false);
    assert_eq!(down["listen"], listen.to_string());
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_err(),
        "refused while down"
    );
    let up = json_of(call(&r, Method::PATCH, "/proxies/redis", r#"{"enabled":true}"#).await);
    assert_eq!(up["enabled"], true);
    assert_eq!(up["listen"], listen.to_string());
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_ok(),
        "listening again"
    );
    let e = call(&r, Method::POST, "/proxies/redis", r#"{"name":"other"}"#)
        .await
        .expect_err("rename");
    assert!(e.help.contains("delete it"), "{}", e.help);
    let moved = json_of(
        call(
            &r,
            Method::POST,
            "/proxies/redis",
            r#"{"upstream":"127.0.0.1:10"}"#,
        )
        .await,
    );
    assert_eq!(moved["upstream"], "127.0.0.1:10");

    let all = json_of(call(&r, Method::GET, "/proxies", "").await);
    assert_eq!(all["redis"]["name"], "redis");
    assert_eq!(
        status(&call(&r, Method::DELETE, "/proxies/redis", "").await),
        StatusCode::NO_CONTENT
    );
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_err(),
        "deleted"
    );
    assert_eq!(
        status(&call(&r, Method::GET, "/proxies/redis", "").await),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn populate_creates_keeps_matching_proxies_and_replaces_others() {
    let r = Registry::new(1);
    let e = call(
        &r,
        Method::POST,
        "/populate",
        r#"[{"name":"a","upstream":"127.0.0.1:9"},{"upstream":"127.0.0.1:9"}]"#,
    )
    .await
    .expect_err("second has no name");
    assert_eq!(e.error, "missing required field: name at proxy 2");
    assert_eq!(
        json_of(call(&r, Method::GET, "/proxies", "").await),
        json!({})
    );

    let first = call(
        &r,
        Method::POST,
        "/populate",
        r#"[{"name":"a","upstream":"127.0.0.1:9"},{"name":"b","upstream":"127.0.0.1:9","enabled":false}]"#,
    )
    .await;
    assert_eq!(status(&first), StatusCode::CREATED);
    let first = json_of(first);
    assert_eq!(first["proxies"][0]["name"], "a");
    assert_eq!(first["proxies"][1]["enabled"], false);
    let a_listen = first["proxies"][0]["listen"]
        .as_str()
        .expect("listen")
        .to_owned();
    call(
        &r,
        Method::POST,
        "/proxies/a/toxics",
        r#"{"type":"latency"}"#,
    )
    .await
    .expect("toxic");
    let again = json_of(
        call(
            &r,
            Method::POST,
            "/populate",
            &format!(r#"[{{"name":"a","listen":"{a_listen}","upstream":"127.0.0.1:9"}},{{"name":"b","upstream":"127.0.0.1:10"}}]"#),
        )
        .await,
    );
    assert_eq!(
        again["proxies"][0]["toxics"][0]["type"], "latency",
        "a was kept"
    );
    assert_eq!(
        again["proxies"][1]["upstream"], "127.0.0.1:10",
        "b was replaced"
    );
    assert_eq!(again["proxies"][1]["enabled"], true);

    call(&r, Method::POST, "/proxies/b", r#"{"enabled":false}"#)
        .await
        .expect("disabled");
    assert_eq!(
        status(&call(&r, Method::POST, "/reset", "").await),
        StatusCode::NO_CONTENT
    );
    let all = json_of(call(&r, Method::GET, "/proxies", "").await);
    assert_eq!(all["a"]["toxics"], json!([]));
    assert_eq!(all["b"]["enabled"], true);
}

#[tokio::test]
async fn version_and_metrics_answer_in_toxiproxys_and_prometheus_forms() {
    let r = registry(ProxyMode::Tcp);
    let version = json_of(call(&r, Method::GET, "/version", "").await);
    assert_eq!(version["version"], TOXIPROXY_VERSION);
    let Ok(Reply::Metrics(text)) = call(&r, Method::GET, "/metrics", "").await else {
        panic!("metrics");
    };
    assert!(
        text.contains("harness_proxy_enabled{proxy=\"executor\",listener=\"127.0.0.1:"),
        "{text}"
    );
    let e = call(&r, Method::POST, "/version", "")
        .await
        .expect_err("405");
    assert_eq!(e.allow, Some("GET"));
}

#[tokio::test]
async fn hostile_paths_and_bodies_are_answered_4xx_never_a_panic() {
    let r = registry(ProxyMode::Tcp);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies = [
        deep.as_str(),
        r#"{"name":"x\u0000y","upstream":"127.0.0.1:9"}"#,
        r#"{"name":"a\u202eb","upstream":"127.0.0.1:9"}"#,
        r#"{"name":"x","upstream":"127.0.0.1:99999"}"#,
        r#"{"name":"x","upstream":"127.0.0.1:9","listen":"[::1"}"#,
        r#"{"name":"x","upstream":"127.0.0.1:9","enabled":"yes"}"#,
        r#"{"type":"latency","attributes":{"latency":1e308}}"#,
        r#"{"type":"latency","toxicity":"NaN"}"#,
        r#"{"type":"latency","name":"<script>alert(1)</script>\u0007"}"#,
        r#"{"type":"slicer","attributes":{"average_size":18446744073709551615,"size_variation":1}}"#,
        "\u{feff}{}",
    ];
    let paths = [
        "/proxies",
        "/populate",
        "/proxies/executor",
        "/proxies/executor/toxics",
        "/proxies/executor/toxics/x",
        "/proxies/executor/faults",
    ];
    for path in paths {
        for body in bodies {
            for method in [Method::POST, Method::PATCH, Method::PUT] {
                if let Err(e) = call(&r, method.clone(), path, body).await {
                    assert!(
                        e.status.is_client_error(),
                        "{method} {path} {body:.60}: {} {}",
                        e.status,
                        e.error
                    );
                }
            }
        }
    }
    for bad in ["/proxies/%ZZ", "/proxies/%C0%AF", "/proxies/a%2Fb/toxics"] {
        if let Ok(segments) = segments(bad) {
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            let answered = answer(&r, &Method::GET, &segments, b"").await;
            assert!(answered.is_err(), "{bad}");
        }
    }
}
