//! Integration tests of the embedded reference platform: real servers on port 0, driven by
//! a plain hyper client. Assertions are on statuses, headers, bodies and metric counts,
//! never on elapsed time.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use harness::reference::{
    BreakerConfig, BreakerState, ReferenceConfig, ReferencePlatform, RetryConfig, ServicePath,
};
use harness::units::{HumanDuration, Probability};

const DAGGER_ON: (&str, &str) = ("X-Feature-USE_DAGGER_WORKFLOW_ENGINE", "TRUE");
const DAGGER_OFF: (&str, &str) = ("x-feature-use_dagger_workflow_engine", "false");
const BODY: &str = r#"{"workflow":"build-and-test"}"#;

type TestClient = Client<HttpConnector, Full<Bytes>>;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("body should be JSON")
    }
}

fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

fn ms(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_millis(n))
}

fn probability(p: f64) -> Probability {
    Probability::new(p).expect("valid probability")
}

async fn send(
    client: &TestClient,
    method: Method,
    url: String,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("valid request");
    let response = client
        .request(request)
        .await
        .expect("the platform should answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("readable body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
    }
}

async fn execute(
    client: &TestClient,
    platform: &ReferencePlatform,
    headers: &[(&str, &str)],
) -> Answer {
    send(
        client,
        Method::POST,
        format!("{}/api/workflows/execute", platform.url()),
        headers,
        BODY,
    )
    .await
}

async fn get(client: &TestClient, platform: &ReferencePlatform, path: &str) -> Answer {
    send(
        client,
        Method::GET,
        format!("{}{path}", platform.url()),
        &[],
        "",
    )
    .await
}

/// Parses the exposition into `series -> value`, checking every line's shape on the way.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut series = HashMap::new();
    let mut described = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
        {
            described.push(rest.split(' ').next().expect("metric name").to_owned());
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in `{line}`"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in `{line}`"));
        let name = match key.split_once('{') {
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels in `{line}`"));
                for pair in labels.split(',') {
                    let (label, quoted) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label in `{line}`"));
                    assert!(
                        label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "label `{label}`"
                    );
                    assert!(
                        quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                        "`{line}`"
                    );
                }
                name
            }
            None => key,
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "metric name `{name}`"
        );
        assert!(
            described.iter().any(|d| d == name),
            "`{name}` has no # HELP/# TYPE"
        );
        series.insert(key.to_owned(), value);
    }
    series
}

async fn metrics(client: &TestClient, platform: &ReferencePlatform) -> HashMap<String, f64> {
    let answer = get(client, platform, "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    parse_metrics(&answer.body)
}

fn count(metrics: &HashMap<String, f64>, series: &str) -> f64 {
    *metrics
        .get(series)
        .unwrap_or_else(|| panic!("series `{series}` missing"))
}

#[tokio::test]
async fn feature_flag_header_picks_the_path_and_both_paths_accept() {
    let platform = ReferencePlatform::start(ReferenceConfig::default(), 1)
        .await
        .expect("start");
    let client = client();

    for (headers, expected) in [
        (&[][..], "legacy"),
        (&[DAGGER_OFF][..], "legacy"),
        (&[DAGGER_ON][..], "dagger"),
        (&[("x-feature-use_dagger_scheduler", "true")][..], "dagger"),
        (&[("x-feature-use_dagger_scheduler", "yes")][..], "legacy"),
    ] {
        let answer = execute(&client, &platform, headers).await;
        assert_eq!(
            answer.status,
            StatusCode::ACCEPTED,
            "{headers:?}: {}",
            answer.body
        );
        let json = answer.json();
        assert_eq!(json["path"], expected, "{headers:?}");
        assert_eq!(json["attempts"], 1);
        assert!(json["task_id"].as_str().is_some_and(|id| !id.is_empty()));
    }

    let m = metrics(&client, &platform).await;
    assert_eq!(
        count(
            &m,
            r#"harness_reference_requests_total{path="legacy",status="202"}"#
        ),
        3.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_requests_total{path="dagger",status="202"}"#
        ),
        2.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_dependency_attempts_total{path="dagger",outcome="ok"}"#
        ),
        2.0
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn any_request_body_is_tolerated() {
    let platform = ReferencePlatform::start(ReferenceConfig::default(), 1)
        .await
        .expect("start");
    let client = client();
    let url = format!("{}/api/workflows/execute", platform.url());
    for body in ["", "not json at all", &"x".repeat(200_000)] {
        let answer = send(&client, Method::POST, url.clone(), &[DAGGER_ON], body).await;
        assert_eq!(
            answer.status,
            StatusCode::ACCEPTED,
            "body of {} bytes",
            body.len()
        );
    }
    platform.shutdown().await;
}

#[tokio::test]
async fn known_tasks_are_found_and_unknown_ones_are_not() {
    let platform = ReferencePlatform::start(ReferenceConfig::default(), 1)
        .await
        .expect("start");
    let client = client();

    let id = execute(&client, &platform, &[]).await.json()["task_id"]
        .as_str()
        .expect("task id")
        .to_owned();
    let found = get(&client, &platform, &format!("/api/tasks/{id}")).await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.json()["task_id"], id.as_str());
    assert_eq!(found.json()["status"], "completed");

    assert_eq!(
        get(&client, &platform, "/api/tasks/task-ffffffffffff")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&client, &platform, "/api/tasks/nonsense").await.status,
        StatusCode::NOT_FOUND
    );

    let health = get(&client, &platform, "/healthz").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    assert_eq!(
        get(&client, &platform, "/nowhere").await.status,
        StatusCode::NOT_FOUND
    );
    let wrong_method = send(
        &client,
        Method::GET,
        format!("{}/api/workflows/execute", platform.url()),
        &[],
        "",
    )
    .await;
    assert_eq!(wrong_method.status, StatusCode::NOT_FOUND);
    platform.shutdown().await;
}

#[tokio::test]
async fn failing_dependency_opens_the_dagger_breaker_while_legacy_keeps_calling() {
    let config = ReferenceConfig {
        executor_error_rate: probability(1.0),
        // Open for an hour: the breaker cannot go half-open during the test, whatever the pace.
        breaker: BreakerConfig {
            failure_threshold: 3,
            open_for: HumanDuration(Duration::from_secs(3600)),
            half_open_probes: 1,
        },
        retry: RetryConfig {
            max_attempts: 3,
            base_backoff: ms(1),
            max_backoff: ms(2),
        },
        ..ReferenceConfig::default()
    };
    let platform = ReferencePlatform::start(config, 7).await.expect("start");
    let client = client();

    // First Dagger request: three failed attempts (two retries) reach the threshold.
    let first = execute(&client, &platform, &[DAGGER_ON]).await;
    assert_eq!(first.status, StatusCode::BAD_GATEWAY, "{}", first.body);
    assert!(first.headers.get("x-breaker").is_none());
    let m = metrics(&client, &platform).await;
    assert_eq!(
        count(
            &m,
            r#"harness_reference_dependency_attempts_total{path="dagger",outcome="error"}"#
        ),
        3.0
    );
    assert_eq!(
        count(&m, r#"harness_reference_retries_total{path="dagger"}"#),
        2.0
    );
    assert_eq!(
        count(&m, r#"harness_reference_breaker_state{path="dagger"}"#),
        1.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_breaker_transitions_total{path="dagger",to="open"}"#
        ),
        1.0
    );
    assert_eq!(platform.breaker_state(), BreakerState::Open);

    // Later Dagger requests fail fast without touching the dependency.
    for _ in 0..5 {
        let rejected = execute(&client, &platform, &[DAGGER_ON]).await;
        assert_eq!(rejected.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            rejected.headers.get("x-breaker").map(|v| v.as_bytes()),
            Some(&b"open"[..])
        );
    }

    // The legacy path has no breaker: every request still reaches the dependency.
    for _ in 0..4 {
        assert_eq!(
            execute(&client, &platform, &[DAGGER_OFF]).await.status,
            StatusCode::BAD_GATEWAY
        );
    }

    let m = metrics(&client, &platform).await;
    assert_eq!(
        count(
            &m,
            r#"harness_reference_dependency_attempts_total{path="dagger",outcome="error"}"#
        ),
        3.0
    );
    assert_eq!(
        count(&m, r#"harness_reference_retries_total{path="dagger"}"#),
        2.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_requests_total{path="dagger",status="503"}"#
        ),
        5.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_requests_total{path="dagger",status="502"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_breaker_rejections_total{path="dagger"}"#
        ),
        5.0
    );
    // The legacy path failed as often, but it has no breaker and no retries: its series
    // exist (a query per path finds them) and stay zero.
    for series in [
        r#"harness_reference_retries_total{path="legacy"}"#,
        r#"harness_reference_breaker_state{path="legacy"}"#,
        r#"harness_reference_breaker_transitions_total{path="legacy",to="open"}"#,
        r#"harness_reference_breaker_rejections_total{path="legacy"}"#,
    ] {
        assert_eq!(count(&m, series), 0.0, "{series}");
    }
    assert_eq!(
        count(
            &m,
            r#"harness_reference_dependency_attempts_total{path="legacy",outcome="error"}"#
        ),
        4.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_requests_total{path="legacy",status="502"}"#
        ),
        4.0
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn breaker_closes_again_after_successful_probes() {
    // An open period of zero sends the very next request through as a probe.
    let config = ReferenceConfig {
        breaker: BreakerConfig {
            failure_threshold: 1,
            open_for: ms(0),
            half_open_probes: 1,
        },
        retry: RetryConfig {
            max_attempts: 1,
            base_backoff: ms(1),
            max_backoff: ms(1),
        },
        ..ReferenceConfig::default()
    };
    let (dependency, mut seen, statuses) = recording_dependency().await;
    let platform = ReferencePlatform::start_with(config, 3, loopback(), Some(dependency.clone()))
        .await
        .expect("start");
    let client = client();

    statuses
        .send(StatusCode::SERVICE_UNAVAILABLE)
        .await
        .expect("script");
    assert_eq!(
        execute(&client, &platform, &[DAGGER_ON]).await.status,
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(platform.breaker_state(), BreakerState::Open);
    statuses.send(StatusCode::OK).await.expect("script");
    assert_eq!(
        execute(&client, &platform, &[DAGGER_ON]).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(platform.breaker_state(), BreakerState::Closed);
    assert_eq!(seen.recv().await.map(|h| h.attempt), Some(Some("1".into())));

    let m = metrics(&client, &platform).await;
    assert_eq!(
        count(
            &m,
            r#"harness_reference_breaker_transitions_total{path="dagger",to="open"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_breaker_transitions_total{path="dagger",to="half_open"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_breaker_transitions_total{path="dagger",to="closed"}"#
        ),
        1.0
    );
    assert_eq!(
        count(&m, r#"harness_reference_breaker_state{path="dagger"}"#),
        0.0
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn dagger_retries_a_failed_attempt_and_reports_the_attempt_count() {
    let config = ReferenceConfig {
        retry: RetryConfig {
            max_attempts: 3,
            base_backoff: ms(1),
            max_backoff: ms(2),
        },
        ..ReferenceConfig::default()
    };
    let (dependency, mut seen, statuses) = recording_dependency().await;
    let platform = ReferencePlatform::start_with(config, 3, loopback(), Some(dependency))
        .await
        .expect("start");
    let client = client();

    statuses
        .send(StatusCode::SERVICE_UNAVAILABLE)
        .await
        .expect("script");
    statuses.send(StatusCode::OK).await.expect("script");
    let answer = execute(
        &client,
        &platform,
        &[DAGGER_ON, ("x-harness-request-id", "r-7")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.json()["attempts"], 2);
    let call = seen.recv().await.expect("the successful attempt");
    assert_eq!(
        (call.request_id.as_deref(), call.attempt.as_deref()),
        (Some("r-7"), Some("2"))
    );

    let m = metrics(&client, &platform).await;
    assert_eq!(
        count(&m, r#"harness_reference_retries_total{path="dagger"}"#),
        1.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_dependency_attempts_total{path="dagger",outcome="error"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_dependency_attempts_total{path="dagger",outcome="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        count(&m, r#"harness_reference_breaker_state{path="dagger"}"#),
        0.0
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let platform = ReferencePlatform::start(ReferenceConfig::default(), 1)
        .await
        .expect("start");
    let client = client();
    execute(&client, &platform, &[]).await;
    let answer = get(&client, &platform, "/metrics").await;
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let m = parse_metrics(&answer.body);
    for name in [
        "harness_reference_requests_total",
        "harness_reference_dependency_attempts_total",
        "harness_reference_handler_cpu_seconds_total",
        "harness_reference_retries_total",
        "harness_reference_breaker_state",
        "harness_reference_breaker_transitions_total",
    ] {
        assert!(m.keys().any(|k| k.starts_with(name)), "{name} missing");
        assert!(
            answer.body.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
        assert!(
            answer.body.contains(&format!("# TYPE {name} ")),
            "{name} has no TYPE"
        );
    }
    assert_eq!(
        count(&m, r#"harness_reference_breaker_state{path="dagger"}"#),
        0.0
    );
    platform.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_execute_request_burns_its_paths_cpu_per_call_and_the_path_counts_it() {
    let config = ReferenceConfig {
        executor_latency: ms(1),
        dagger_cpu_per_call: ms(3),
        ..ReferenceConfig::default()
    };
    let platform = ReferencePlatform::start(config, 1).await.expect("start");
    let client = client();
    for _ in 0..3 {
        let answer = execute(&client, &platform, &[DAGGER_ON]).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    let answer = execute(&client, &platform, &[DAGGER_OFF]).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let m = metrics(&client, &platform).await;
    let dagger = count(
        &m,
        r#"harness_reference_handler_cpu_seconds_total{path="dagger"}"#,
    );
    let legacy = count(
        &m,
        r#"harness_reference_handler_cpu_seconds_total{path="legacy"}"#,
    );
    assert!(dagger >= 3.0 * 0.003, "{dagger}");
    // The legacy path has no CPU cost per call: its one request is JSON and bookkeeping.
    assert!(legacy > 0.0 && legacy < 0.003, "{legacy}");
    assert!(platform.metrics().handler_cpu_time(ServicePath::Dagger) >= Duration::from_millis(9));

    // A task request is served, and counted, by the path its own header picks; it has no
    // CPU cost per call.
    let id = answer.json()["task_id"].as_str().expect("id").to_owned();
    let polled = send(
        &client,
        Method::GET,
        format!("{}/api/tasks/{id}", platform.url()),
        &[DAGGER_ON],
        "",
    )
    .await;
    assert_eq!(polled.status, StatusCode::OK);
    let after = metrics(&client, &platform).await;
    let polled_cpu = count(
        &after,
        r#"harness_reference_handler_cpu_seconds_total{path="dagger"}"#,
    ) - dagger;
    assert!(polled_cpu > 0.0 && polled_cpu < 0.003, "{polled_cpu}");
    platform.shutdown().await;
}

#[tokio::test]
async fn slow_dependency_makes_legacy_answer_504() {
    let config = ReferenceConfig {
        executor_latency: HumanDuration(Duration::from_secs(30)),
        dependency_timeout: ms(50),
        retry: RetryConfig {
            max_attempts: 2,
            base_backoff: ms(1),
            max_backoff: ms(1),
        },
        ..ReferenceConfig::default()
    };
    let platform = ReferencePlatform::start(config, 1).await.expect("start");
    let client = client();
    assert_eq!(
        execute(&client, &platform, &[]).await.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(
        execute(&client, &platform, &[DAGGER_ON]).await.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    let m = metrics(&client, &platform).await;
    assert_eq!(
        count(
            &m,
            r#"harness_reference_dependency_attempts_total{path="legacy",outcome="timeout"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_dependency_attempts_total{path="dagger",outcome="timeout"}"#
        ),
        2.0
    );
    assert_eq!(
        count(
            &m,
            r#"harness_reference_requests_total{path="legacy",status="504"}"#
        ),
        1.0
    );
    // Shutting down must not wait for the executor's 30 s sleeps.
    platform.shutdown().await;
}

#[tokio::test]
async fn path_error_rates_fail_each_path_on_its_own() {
    let config = ReferenceConfig {
        dagger_error_rate: probability(1.0),
        ..ReferenceConfig::default()
    };
    let platform = ReferencePlatform::start(config, 1).await.expect("start");
    let client = client();
    assert_eq!(
        execute(&client, &platform, &[DAGGER_ON]).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        execute(&client, &platform, &[]).await.status,
        StatusCode::ACCEPTED
    );
    let m = metrics(&client, &platform).await;
    let dagger_attempts: f64 = ["ok", "error", "timeout"]
        .iter()
        .map(|o| {
            count(
                &m,
                &format!(
                    r#"harness_reference_dependency_attempts_total{{path="dagger",outcome="{o}"}}"#
                ),
            )
        })
        .sum();
    assert_eq!(
        dagger_attempts, 0.0,
        "a path that fails on its own never calls the dependency"
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn same_seed_and_request_ids_replay_the_same_outcomes() {
    let config = ReferenceConfig {
        executor_error_rate: probability(0.5),
        executor_latency: ms(0),
        executor_jitter: ms(0),
        ..ReferenceConfig::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let platform = ReferencePlatform::start(config.clone(), 99)
            .await
            .expect("start");
        let client = client();
        let mut statuses = Vec::new();
        for i in 0..24 {
            let id = format!("req-{i}");
            statuses.push(
                execute(&client, &platform, &[("x-harness-request-id", &id)])
                    .await
                    .status
                    .as_u16(),
            );
        }
        runs.push(statuses);
        platform.shutdown().await;
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&202) && runs[0].contains(&502),
        "a 50% error rate should show both: {:?}",
        runs[0]
    );
}

#[tokio::test]
async fn request_id_is_propagated_to_the_dependency() {
    let (dependency, mut seen, statuses) = recording_dependency().await;
    let platform =
        ReferencePlatform::start_with(ReferenceConfig::default(), 5, loopback(), Some(dependency))
            .await
            .expect("start");
    let client = client();
    statuses.send(StatusCode::OK).await.expect("script");
    let answer = execute(
        &client,
        &platform,
        &[DAGGER_ON, ("x-harness-request-id", "r-42")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let call = seen.recv().await.expect("the dependency was called");
    assert_eq!(call.request_id.as_deref(), Some("r-42"));
    assert_eq!(call.attempt.as_deref(), Some("1"));
    assert_eq!(call.path, "/execute");
    platform.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_drop_release_the_listeners() {
    let platform = ReferencePlatform::start(ReferenceConfig::default(), 1)
        .await
        .expect("start");
    let (service, executor) = (platform.service_addr(), executor_addr(&platform));
    platform.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(service).await.is_err(),
        "service still listening"
    );
    assert!(
        tokio::net::TcpStream::connect(executor).await.is_err(),
        "executor still listening"
    );

    let platform = ReferencePlatform::start(ReferenceConfig::default(), 1)
        .await
        .expect("start");
    let service = platform.service_addr();
    drop(platform);
    // Drop aborts the tasks; the runtime tears them down at its next turn, so poll briefly.
    let mut closed = false;
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(service).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "dropping the platform should close its listener");
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn executor_addr(platform: &ReferencePlatform) -> SocketAddr {
    platform
        .executor_url()
        .trim_start_matches("http://")
        .parse()
        .expect("executor address")
}

/// What the recording dependency saw of one call.
#[derive(Debug)]
struct SeenCall {
    path: String,
    request_id: Option<String>,
    attempt: Option<String>,
}

/// A stand-in dependency that reports each call and answers with the next scripted status.
async fn recording_dependency() -> (
    String,
    mpsc::UnboundedReceiver<SeenCall>,
    mpsc::Sender<StatusCode>,
) {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let (status_tx, status_rx) = mpsc::channel::<StatusCode>(16);
    let status_rx = std::sync::Arc::new(tokio::sync::Mutex::new(status_rx));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (seen_tx, status_rx) = (seen_tx.clone(), status_rx.clone());
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (seen_tx, status_rx) = (seen_tx.clone(), status_rx.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let call = SeenCall {
                        path: req.uri().path().to_owned(),
                        request_id: header("x-harness-request-id"),
                        attempt: header("x-harness-attempt"),
                    };
                    let status = status_rx
                        .lock()
                        .await
                        .recv()
                        .await
                        .unwrap_or(StatusCode::OK);
                    if status.is_success() {
                        let _ = seen_tx.send(call);
                    }
                    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                    *response.status_mut() = status;
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, seen_rx, status_tx)
}
