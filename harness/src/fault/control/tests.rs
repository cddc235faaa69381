//! Unit tests of the control API: the toxic mapping, path decoding and both dialects'
//! endpoints, called in process.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::answer::{ApiError, Reply};
use super::server::{percent_decode, segments};
use super::state::fault_json;
use super::toxic::{Stream, Toxic, fault_of_toxic};
use super::*;
use crate::fault::{ByteSize, DEFAULT_LISTEN, Delay, Direction, FaultAction};
use crate::fault::{FaultProxy, FaultSpec};

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

fn control(mode: ProxyMode) -> Control {
    let proxy = match mode {
        ProxyMode::Http => {
            FaultProxy::start_http(DEFAULT_LISTEN, "http://127.0.0.1:9".into(), Vec::new(), 1)
        }
        ProxyMode::Tcp => {
            FaultProxy::start_tcp(DEFAULT_LISTEN, "127.0.0.1:9".into(), Vec::new(), 1)
        }
    };
    Control::new(proxy.expect("proxy"), info(mode), Vec::new()).expect("control")
}

fn call(c: &Control, method: Method, path: &str, body: &str) -> Result<Reply, ApiError> {
    let segments = segments(path).expect("path");
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    c.route(&method, &segments, body.as_bytes())
}

fn status(result: &Result<Reply, ApiError>) -> StatusCode {
    match result {
        Ok(Reply::Json(status, _)) => *status,
        Ok(Reply::Text(_)) => StatusCode::OK,
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT,
        Err(e) => e.status,
    }
}

#[tokio::test]
async fn native_endpoints_add_list_replace_and_remove() {
    let c = control(ProxyMode::Http);
    let fault = r#"{"name":"e","kind":"http_error","status":503}"#;
    assert_eq!(
        status(&call(&c, Method::POST, "/faults", fault)),
        StatusCode::CREATED
    );
    assert_eq!(
        status(&call(&c, Method::POST, "/faults", fault)),
        StatusCode::CONFLICT
    );
    let listed = call(&c, Method::GET, "/faults", "").expect("lists");
    assert_eq!(
        listed,
        Reply::ok(json!([{"name": "e", "at": "dependency", "kind": "http_error", "status": 503}]))
    );
    let wrong =
        call(&c, Method::POST, "/faults", r#"{"kind":"reset_peer"}"#).expect_err("tcp kind");
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
        let e = call(&c, Method::POST, "/faults", bad).expect_err(bad);
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}: {}", e.error);
    }
    let put = r#"[{"kind":"abort"},{"name":"slow","kind":"latency","latency":"10ms"}]"#;
    assert_eq!(
        status(&call(&c, Method::PUT, "/faults", put)),
        StatusCode::OK
    );
    let twins = r#"[{"kind":"abort"},{"kind":"abort"}]"#;
    assert_eq!(
        status(&call(&c, Method::PUT, "/faults", twins)),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(&call(&c, Method::DELETE, "/faults/e", "")),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(&call(&c, Method::DELETE, "/faults/abort", "")),
        StatusCode::NO_CONTENT
    );
    assert_eq!(c.entries().len(), 1);
    let e = call(&c, Method::DELETE, "/faults", "").expect_err("405");
    assert_eq!(
        (e.status, e.allow),
        (StatusCode::METHOD_NOT_ALLOWED, Some("GET, POST, PUT"))
    );
    assert_eq!(
        status(&call(&c, Method::GET, "/nothing/here", "")),
        StatusCode::NOT_FOUND
    );
    assert_eq!(call(&c, Method::GET, "/healthz", ""), Ok(Reply::Text("ok")));
    let Ok(Reply::Json(_, attempts)) = call(&c, Method::GET, "/attempts", "") else {
        panic!("attempts");
    };
    assert_eq!(attempts["totals"]["attempts"], 0);
}

#[tokio::test]
async fn toxiproxy_endpoints_share_the_fault_list() {
    let c = control(ProxyMode::Tcp);
    let added = call(
        &c,
        Method::POST,
        "/proxies/executor/toxics",
        r#"{"type":"latency","attributes":{"latency":100}}"#,
    )
    .expect("added");
    let Reply::Json(StatusCode::OK, toxic) = added else {
        panic!("{added:?}");
    };
    assert_eq!(
        toxic["name"], "latency_downstream",
        "Toxiproxy's default name"
    );
    assert_eq!(toxic["toxicity"], 1.0);
    let e = call(
        &c,
        Method::POST,
        "/proxies/executor/toxics",
        r#"{"type":"latency","attributes":{"latency":1}}"#,
    )
    .expect_err("twice");
    assert_eq!(e.status, StatusCode::CONFLICT);
    let e = call(
        &c,
        Method::POST,
        "/proxies/other/toxics",
        r#"{"type":"timeout"}"#,
    )
    .expect_err("proxy");
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    let e = call(
        &c,
        Method::POST,
        "/proxies/executor/toxics",
        r#"{"type":"timeout","stream":"sideways"}"#,
    )
    .expect_err("stream");
    assert!(e.error.contains("upstream or downstream"), "{}", e.error);
    assert_eq!(
        status(&call(
            &c,
            Method::POST,
            "/faults",
            r#"{"name":"cut","kind":"limit_data","bytes":10,"direction":"upstream"}"#
        )),
        StatusCode::CREATED
    );
    let Ok(Reply::Json(_, toxics)) = call(&c, Method::GET, "/proxies/executor/toxics", "") else {
        panic!("toxics");
    };
    assert_eq!(toxics[1]["type"], "limit_data");
    assert_eq!(toxics[1]["stream"], "upstream");
    let Ok(Reply::Json(_, faults)) = call(&c, Method::GET, "/faults", "") else {
        panic!("faults");
    };
    assert_eq!(faults[0]["kind"], "tcp_latency");
    assert_eq!(faults[0]["latency"], "100ms");
    let updated = call(
        &c,
        Method::PATCH,
        "/proxies/executor/toxics/latency_downstream",
        r#"{"attributes":{"latency":300}}"#,
    )
    .expect("updated");
    let Reply::Json(_, updated) = updated else {
        panic!("{updated:?}")
    };
    assert_eq!(updated["attributes"]["latency"], 300);
    let e = call(
        &c,
        Method::PATCH,
        "/proxies/executor/toxics/cut",
        r#"{"toxicity":0.5}"#,
    )
    .expect_err("native");
    assert!(e.help.contains("PUT /faults"), "{}", e.help);
    let Ok(Reply::Json(_, proxies)) = call(&c, Method::GET, "/proxies", "") else {
        panic!("proxies");
    };
    assert_eq!(proxies["executor"]["enabled"], true);
    assert_eq!(proxies["executor"]["listen"], c.proxy().addr().to_string());
    assert_eq!(
        status(&call(
            &c,
            Method::DELETE,
            "/proxies/executor/toxics/cut",
            ""
        )),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(&call(&c, Method::POST, "/reset", "")),
        StatusCode::NO_CONTENT
    );
    assert!(c.entries().is_empty());
}
