//! The open model's measurement contract, in process against real servers on 127.0.0.1:
//! latency counts from the intended start (a stall is not omitted), `max_in_flight`
//! drops are counted, and warmup is excluded. Assertions are on counts and lower
//! bounds that hold however slow the machine is, never on elapsed time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use harness::load::StopSignal;
use harness::record::RunRecord;
use harness::runner::{RunPlan, Silent, run_scenario};
use harness::scenario::parse_str;

/// Behaviour of the test server: a fixed delay, and a stall window during which every
/// request waits until the window ends.
#[derive(Clone, Copy)]
struct Behaviour {
    delay: Duration,
    stall: Option<(Instant, Instant)>,
}

async fn serve(behaviour: Behaviour) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| async move {
                    if let Some((from, until)) = behaviour.stall {
                        let now = Instant::now();
                        if now >= from && now < until {
                            tokio::time::sleep_until(until.into()).await;
                        }
                    }
                    if !behaviour.delay.is_zero() {
                        tokio::time::sleep(behaviour.delay).await;
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn scenario(addr: SocketAddr, load: &str) -> harness::scenario::Scenario {
    let text = format!(
        r#"
name = "measure"
[paths.legacy]
base_url = "http://{addr}"
[load]
{load}
[[flow]]
name = "f"
steps = [{{ name = "get", path = "/" }}]
"#
    );
    parse_str(&text, Path::new("measure.toml"), &|_| None).expect("valid scenario")
}

async fn run_one(s: &harness::scenario::Scenario) -> RunRecord {
    let out = tempfile::tempdir().expect("tempdir");
    let plan = RunPlan::for_scenario(s, out.path().to_path_buf());
    let mut results = run_scenario(s, &plan, &StopSignal::new(), Arc::new(Silent))
        .await
        .expect("run");
    assert_eq!(results.len(), 1);
    results.remove(0).record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_latency_of_every_arrival_during_it() {
    // Rate 200/s; the service stalls for 1 s starting 0.5 s into the run. Every arrival
    // in the first half of the stall waits at least 0.5 s: about 100 requests. A
    // generator that measured from the actual send of a waiting worker would report a
    // handful at most.
    let start = Instant::now();
    let stall = (
        start + Duration::from_millis(500),
        start + Duration::from_millis(1500),
    );
    let addr = serve(Behaviour {
        delay: Duration::ZERO,
        stall: Some(stall),
    })
    .await;
    let s = scenario(
        addr,
        "model = \"open\"\nrate = 200\nduration = \"2s\"\ntimeout = \"5s\"\nmax_in_flight = 100000",
    );
    let record = run_one(&s).await;
    let step = &record.steps[0];
    assert_eq!(step.failed_count(), 0, "classes: {:?}", step.classes);
    let slow = step.ok.count_between(500_000, u64::MAX);
    assert!(
        slow >= 80,
        "only {slow} requests show the stall's wait of >= 0.5 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_never_below_the_service_time() {
    let addr = serve(Behaviour {
        delay: Duration::from_millis(20),
        stall: None,
    })
    .await;
    let s = scenario(
        addr,
        "model = \"open\"\nrate = 50\nduration = \"1s\"\nwarmup = \"200ms\"",
    );
    let record = run_one(&s).await;
    let step = &record.steps[0];
    assert!(step.ok_count() >= 30, "ok: {}", step.ok_count());
    assert!(
        step.ok.min() >= 20_000,
        "min latency {} µs is below the 20 ms service time",
        step.ok.min()
    );
    assert!(step.percentile_us(0.5) >= 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_beyond_max_in_flight_are_dropped_and_counted() {
    // 100/s against 200 ms answers needs ~20 in flight; only 4 are allowed.
    let addr = serve(Behaviour {
        delay: Duration::from_millis(200),
        stall: None,
    })
    .await;
    let s = scenario(
        addr,
        "model = \"open\"\nrate = 100\nduration = \"1s\"\nmax_in_flight = 4",
    );
    let record = run_one(&s).await;
    let step = &record.steps[0];
    assert!(
        step.dropped_count() > 30,
        "dropped: {}",
        step.dropped_count()
    );
    assert_eq!(record.load.dropped, step.dropped_count());
    assert!(
        step.ok_count() <= 30,
        "ok: {} with at most 4 in flight for 1.2 s",
        step.ok_count()
    );
    assert!(
        record.load.achieved_rate < 50.0,
        "achieved {}",
        record.load.achieved_rate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_arrivals_are_not_counted() {
    let addr = serve(Behaviour {
        delay: Duration::ZERO,
        stall: None,
    })
    .await;
    let s = scenario(
        addr,
        "model = \"open\"\nrate = 100\nduration = \"1s\"\nwarmup = \"1s\"",
    );
    let record = run_one(&s).await;
    // 200 arrivals in all, 100 of them in the warmup.
    let n = record.steps[0].count();
    assert_eq!(
        n, 100,
        "uniform spacing at 100/s over a 1 s measured window"
    );
    assert_eq!(record.load.sent, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_counts_from_the_intended_start_not_from_the_send() {
    use harness::kinds::http::{HttpClient, HttpExecutor, ResolvedTarget};
    use harness::load::IterationContext;
    use harness::record::SharedRecorder;

    let addr = serve(Behaviour {
        delay: Duration::ZERO,
        stall: None,
    })
    .await;
    let s = scenario(addr, "model = \"open\"\nrate = 1\nduration = \"1s\"");
    let recorder = Arc::new(SharedRecorder::new(s.step_count(), Duration::ZERO, 2));
    let target = ResolvedTarget::new(&format!("http://{addr}"), &[]).expect("target");
    // The run started 2 s ago and this arrival was due 1.5 s ago: the generator was late.
    let epoch = Instant::now() - Duration::from_secs(2);
    let ctx = IterationContext::with_executor(
        Arc::new(HttpExecutor::new(HttpClient::new(4), target, &s.flows)),
        &s.flows,
        Duration::from_secs(5),
        epoch,
        recorder.clone(),
    );
    ctx.run(&s.flows[0], epoch + Duration::from_millis(500), None, 0)
        .await;
    drop(ctx);
    let recording = Arc::try_unwrap(recorder).expect("sole owner").finish();
    let step = &recording.steps[0];
    assert_eq!(step.count(), 1);
    assert!(
        step.ok_histogram().min() >= 1_500_000,
        "the 1.5 s the arrival waited must count"
    );
}

/// A server that reads each request and then resets the connection (RST), or answers
/// after `delay`, recording the request ids it saw.
async fn raw_server(
    reset: bool,
    delay: Duration,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let Ok(n) = stream.read(&mut buf).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                if let Some(line) = head
                    .lines()
                    .find(|l| l.starts_with("x-harness-request-id:"))
                {
                    seen.lock()
                        .expect("lock")
                        .push(line["x-harness-request-id:".len()..].trim().to_string());
                }
                if reset {
                    let _ = stream.set_zero_linger();
                    drop(stream);
                    return;
                }
                tokio::time::sleep(delay).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_connection_is_classed_reset() {
    let addr = raw_server(true, Duration::ZERO, Arc::default()).await;
    let s = scenario(
        addr,
        "model = \"open\"\nrate = 20\nduration = \"500ms\"\ntimeout = \"2s\"",
    );
    let record = run_one(&s).await;
    let step = &record.steps[0];
    assert!(
        step.class_count(harness::load::OutcomeClass::Reset) >= 5,
        "classes: {:?}",
        step.classes
    );
    assert_eq!(step.ok_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_past_the_timeout_is_classed_timeout_and_every_request_carries_its_own_id() {
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let addr = raw_server(false, Duration::from_millis(800), seen.clone()).await;
    let s = scenario(
        addr,
        "model = \"open\"\nrate = 20\nduration = \"500ms\"\ntimeout = \"200ms\"",
    );
    let record = run_one(&s).await;
    let step = &record.steps[0];
    let timeouts = step.class_count(harness::load::OutcomeClass::Timeout);
    assert_eq!(timeouts, step.count(), "classes: {:?}", step.classes);
    // Failed latencies are pinned at the timeout, never at the server's 800 ms.
    assert!(
        step.failed.max() < 700_000,
        "failed max {} µs",
        step.failed.max()
    );
    let ids = seen.lock().expect("lock").clone();
    assert_eq!(ids.len() as u64, timeouts);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "request ids repeat: {ids:?}");
}
