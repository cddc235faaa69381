//! The orchestration service: the API that load tests drive, with a legacy path and a
//! Dagger path chosen per request by the feature-flag header.
//!
//! Both paths add their own service time, CPU cost and error rate, then call the
//! dependency. The legacy path makes one direct call; the Dagger path calls through the
//! circuit breaker with jittered exponential backoff between attempts. The CPU cost is a
//! busy loop on the serving thread ([`super::cpu`] says why it runs in
//! `block_in_place`).
//!
//! Both paths answer with the same JSON shape ([`super::answers`]), except for the
//! `[reference] parity_defect` the Dagger path may be given. `GET /api/tasks/{id}` takes
//! its path from its own feature-flag header, like any request.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::answers::{self, Execution, Shape, UNKNOWN_WORKFLOW};
use super::backoff::backoff;
use super::breaker::Breaker;
use super::clock::PreciseClock;
use super::config::{ParityDefect, ReferenceConfig, RetryConfig};
use super::cpu;
use super::http::{self, ATTEMPT, BREAKER, DrainError, MAX_BODY, REQUEST_ID, Reply};
use super::mcp::{self, McpState};
use super::metrics::{AttemptOutcome, Metrics, ServicePath};
use super::rng::{self, Stream};
use super::server::Handler;
use super::tasks::{DEFAULT_CAPACITY, TaskStore};

/// Header names starting with this (lowercase; hyper lowercases names) select the Dagger
/// path when their value is `true`.
const DAGGER_FLAG_PREFIX: &str = "x-feature-use_dagger_";
/// What the service sends the executor; the workflow itself does not matter to it.
const DEPENDENCY_BODY: &[u8] = b"{\"workflow\":\"reference\"}";
const TASKS_PREFIX: &str = "/api/tasks/";

/// Which path a request takes, from its headers.
pub(crate) fn select_path(headers: &HeaderMap) -> ServicePath {
    let dagger = headers.iter().any(|(name, value)| {
        name.as_str().starts_with(DAGGER_FLAG_PREFIX)
            && value.as_bytes().eq_ignore_ascii_case(b"true")
    });
    if dagger {
        ServicePath::Dagger
    } else {
        ServicePath::Legacy
    }
}

/// One path's own behaviour before it calls the dependency.
#[derive(Debug, Clone, Copy)]
struct PathBehaviour {
    overhead: Duration,
    /// Thread CPU time each execute request burns.
    cpu_per_call: Duration,
    error_rate: f64,
}

/// The orchestration service's state, shared by all its connections.
#[derive(Debug)]
pub(crate) struct Service {
    legacy: PathBehaviour,
    dagger: PathBehaviour,
    /// The Dagger path's deliberate difference in its answers.
    parity_defect: ParityDefect,
    dependency_timeout: Duration,
    retry: RetryConfig,
    seed: u64,
    unkeyed: AtomicU64,
    /// Run ids handed out so far.
    runs: AtomicU64,
    client: Client<HttpConnector, Full<Bytes>>,
    execute_uri: std::sync::RwLock<Uri>,
    breaker: Mutex<Breaker>,
    metrics: Metrics,
    tasks: TaskStore,
    clock: PreciseClock,
    /// The `/mcp` endpoint's sessions and answer form.
    mcp: McpState,
}

/// The per-request random source, created only when a request needs a draw.
struct Draws {
    seed: u64,
    key: u64,
    rng: Option<ChaCha8Rng>,
}

impl Draws {
    fn uniform(&mut self) -> f64 {
        let (seed, key) = (self.seed, self.key);
        self.rng
            .get_or_insert_with(|| rng::request_rng(seed, Stream::Service, key, 0))
            .random::<f64>()
    }
}

impl Service {
    /// A service behaving as `config` says, calling `POST {execute_uri}` as its dependency.
    pub(crate) fn new(
        config: &ReferenceConfig,
        seed: u64,
        execute_uri: Uri,
        clock: PreciseClock,
    ) -> Self {
        let mut connector = HttpConnector::new();
        // No separate connect timeout: `dependency_timeout` bounds connect, answer and body
        // together, so a slow connect is a timeout (504) like any other.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self {
            legacy: PathBehaviour {
                overhead: config.legacy_overhead.get(),
                cpu_per_call: config.legacy_cpu_per_call.get(),
                error_rate: config.legacy_error_rate.get(),
            },
            dagger: PathBehaviour {
                overhead: config.dagger_overhead.get(),
                cpu_per_call: config.dagger_cpu_per_call.get(),
                error_rate: config.dagger_error_rate.get(),
            },
            parity_defect: config.parity_defect,
            dependency_timeout: config.dependency_timeout.get(),
            retry: config.retry.clone(),
            seed,
            unkeyed: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            client,
            execute_uri: std::sync::RwLock::new(execute_uri),
            breaker: Mutex::new(Breaker::new(&config.breaker)),
            metrics: Metrics::default(),
            tasks: TaskStore::new(DEFAULT_CAPACITY),
            clock,
            mcp: McpState::new(config.mcp_sse),
        }
    }

    /// Sends later dependency calls to `uri` (e.g. through a fault proxy).
    pub(crate) fn redirect_dependency(&self, uri: Uri) {
        *self
            .execute_uri
            .write()
            .unwrap_or_else(PoisonError::into_inner) = uri;
    }

    /// This instance's counters.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The breaker, locked briefly; a panic elsewhere cannot leave it in a torn state, so
    /// a poisoned lock is still usable.
    pub(crate) fn breaker(&self) -> MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `answer`, a request of `path`, and adds the thread CPU time of its polls to
    /// the path's handler CPU counter.
    async fn on_path<F>(&self, path: ServicePath, answer: F) -> Response<Full<Bytes>>
    where
        F: Future<Output = Response<Full<Bytes>>>,
    {
        let (response, spent) = cpu::on_thread_cpu(answer).await;
        self.metrics.handler_cpu(path, spent);
        response
    }

    /// The `/mcp` endpoint's state.
    pub(super) fn mcp(&self) -> &McpState {
        &self.mcp
    }

    /// The random draws of one request, keyed by its request id when it has one.
    fn draws(&self, request_id: Option<&HeaderValue>) -> Draws {
        let key = match request_id {
            Some(id) => rng::key_of_id(id.as_bytes()),
            None => rng::key_of_counter(self.unkeyed.fetch_add(1, Ordering::Relaxed)),
        };
        Draws {
            seed: self.seed,
            key,
            rng: None,
        }
    }

    /// Runs `workflow` on `path` exactly as `POST /api/workflows/execute` does (overhead,
    /// CPU cost, own error rate, the dependency call with the Dagger path's breaker and
    /// retries) and answers as that endpoint would, without counting it as an execute
    /// request (its CPU time counts as the path's); the MCP endpoint's `run_workflow` tool
    /// calls it.
    pub(super) async fn run_workflow(
        &self,
        path: ServicePath,
        request_id: Option<&HeaderValue>,
        workflow: &str,
    ) -> Response<Full<Bytes>> {
        let mut draws = self.draws(request_id);
        self.on_path(path, self.run_path(path, request_id, workflow, &mut draws))
            .await
    }

    async fn execute(&self, path: ServicePath, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let request_id = req.headers().get(REQUEST_ID).cloned();
        let mut draws = self.draws(request_id.as_ref());
        let response = match http::read(req.into_body(), MAX_BODY).await {
            Ok(body) => {
                let workflow = answers::workflow_of(&body);
                let workflow = workflow.as_deref().unwrap_or(UNKNOWN_WORKFLOW);
                self.run_path(path, request_id.as_ref(), workflow, &mut draws)
                    .await
            }
            Err(DrainError::TooLarge) => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                r#"{"error":"request body too large"}"#,
            ),
            Err(DrainError::Broken) => error(
                StatusCode::BAD_REQUEST,
                r#"{"error":"unreadable request body"}"#,
            ),
        };
        self.metrics.request(path, response.status().as_u16());
        response
    }

    async fn run_path(
        &self,
        path: ServicePath,
        request_id: Option<&HeaderValue>,
        workflow: &str,
        draws: &mut Draws,
    ) -> Response<Full<Bytes>> {
        let behaviour = match path {
            ServicePath::Legacy => self.legacy,
            ServicePath::Dagger => self.dagger,
        };
        if !behaviour.overhead.is_zero() {
            self.clock.sleep(behaviour.overhead).await;
        }
        cpu::burn_on_runtime(behaviour.cpu_per_call);
        if behaviour.error_rate > 0.0 && draws.uniform() < behaviour.error_rate {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":"path failed on its own"}"#,
            );
        }
        match path {
            ServicePath::Legacy => self.legacy_call(request_id, workflow).await,
            ServicePath::Dagger => self.dagger_call(request_id, workflow, draws).await,
        }
    }

    async fn legacy_call(
        &self,
        request_id: Option<&HeaderValue>,
        workflow: &str,
    ) -> Response<Full<Bytes>> {
        let (outcome, _) = self.call_dependency(request_id, 1).await;
        self.metrics.attempt(ServicePath::Legacy, outcome);
        match outcome {
            AttemptOutcome::Ok => self.accepted(ServicePath::Legacy, 1, workflow),
            failed => dependency_failure(failed),
        }
    }

    async fn dagger_call(
        &self,
        request_id: Option<&HeaderValue>,
        workflow: &str,
        draws: &mut Draws,
    ) -> Response<Full<Bytes>> {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let permit = self.breaker().allow(now());
            let Some(permit) = permit else {
                // Fail fast, and never retry into an open breaker.
                let mut response = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"error":"circuit breaker open"}"#,
                );
                response
                    .headers_mut()
                    .insert(BREAKER, HeaderValue::from_static("open"));
                return response;
            };
            if attempt > 1 {
                self.metrics.retry();
            }
            let (outcome, retry_after) = self.call_dependency(request_id, attempt).await;
            self.metrics.attempt(ServicePath::Dagger, outcome);
            self.breaker()
                .on_result(now(), permit, outcome == AttemptOutcome::Ok);
            if outcome == AttemptOutcome::Ok {
                return self.accepted(ServicePath::Dagger, attempt, workflow);
            }
            if attempt >= max_attempts {
                return dependency_failure(outcome);
            }
            let pause = match retry_after {
                // The dependency said when to come back: honour it, or give up at once
                // (passing the advice on) when it is beyond this request's retry budget.
                Some(wait) if wait > self.retry.max_backoff.get() => return rate_limited(wait),
                Some(wait) => wait,
                None => backoff(attempt, &self.retry, draws.uniform()),
            };
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            attempt += 1;
        }
    }

    /// One call to the dependency, bounded as a whole (connect, answer, body) by the timeout.
    async fn call_dependency(
        &self,
        request_id: Option<&HeaderValue>,
        attempt: u32,
    ) -> (AttemptOutcome, Option<Duration>) {
        let mut req = Request::new(Full::new(Bytes::from_static(DEPENDENCY_BODY)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self
            .execute_uri
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let headers = req.headers_mut();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(ATTEMPT, HeaderValue::from(attempt));
        if let Some(id) = request_id {
            headers.insert(REQUEST_ID, id.clone());
        }
        let exchange = async {
            let response = self
                .client
                .request(req)
                .await
                .map_err(|_| DrainError::Broken)?;
            let ok = response.status().is_success();
            let retry_after = retry_after(&response);
            http::drain(response.into_body(), MAX_BODY).await?;
            Ok::<_, DrainError>((ok, retry_after))
        };
        match tokio::time::timeout(self.dependency_timeout, exchange).await {
            Err(_) => (AttemptOutcome::Timeout, None),
            Ok(Ok((true, _))) => (AttemptOutcome::Ok, None),
            Ok(Ok((false, retry_after))) => (AttemptOutcome::Error, retry_after),
            Ok(Err(_)) => (AttemptOutcome::Error, None),
        }
    }

    /// How `path`'s answers look.
    fn shape(&self, path: ServicePath) -> Shape {
        Shape::of(path, self.parity_defect)
    }

    fn accepted(&self, path: ServicePath, attempts: u32, workflow: &str) -> Response<Full<Bytes>> {
        let mut id = String::with_capacity(24);
        self.tasks.issue(&mut id);
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let body = answers::execute_body(
            &Execution {
                task_id: &id,
                path,
                attempts,
                workflow,
                run_id: rng::run_id(self.seed, run),
            },
            self.shape(path),
            SystemTime::now(),
        );
        http::json(StatusCode::ACCEPTED, body)
    }

    fn task(&self, path: ServicePath, id: &str) -> Response<Full<Bytes>> {
        // Ids are `task-` plus hex, so a known id needs no JSON escaping.
        if self.tasks.contains(id) {
            http::json(
                StatusCode::OK,
                answers::task_body(id, self.shape(path), SystemTime::now()),
            )
        } else {
            error(StatusCode::NOT_FOUND, r#"{"error":"unknown task"}"#)
        }
    }

    fn render_metrics(&self) -> Response<Full<Bytes>> {
        let (state, transitions, rejections) = {
            let breaker = self.breaker();
            (breaker.state(), breaker.transitions(), breaker.rejections())
        };
        let text = self.metrics.render(state, transitions, rejections);
        http::with_type(
            StatusCode::OK,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            Bytes::from(text),
        )
    }
}

impl Handler for Service {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Reply> {
        if req.uri().path() == mcp::ENDPOINT {
            return mcp::serve(self, req).await;
        }
        self.answer(req).await.map(Reply::Left)
    }
}

impl Service {
    /// Answers a request of the HTTP API (every endpoint but `/mcp`).
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        match (method, req.uri().path()) {
            (Method::POST, "/api/workflows/execute") => {
                let path = select_path(req.headers());
                self.on_path(path, self.execute(path, req)).await
            }
            (Method::GET, uri_path) if uri_path.starts_with(TASKS_PREFIX) => {
                let path = select_path(req.headers());
                let id = &uri_path[TASKS_PREFIX.len()..];
                self.on_path(path, async { self.task(path, id) }).await
            }
            (Method::GET, "/healthz") => http::text(StatusCode::OK, Bytes::from_static(b"ok")),
            (Method::GET, "/metrics") => self.render_metrics(),
            _ => error(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#),
        }
    }
}

/// Breaker time follows tokio's clock, so paused-time tests can drive it.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// An error answer with a constant JSON body, so failing fast allocates nothing.
fn error(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    http::json(status, Bytes::from_static(body.as_bytes()))
}

fn dependency_failure(outcome: AttemptOutcome) -> Response<Full<Bytes>> {
    match outcome {
        AttemptOutcome::Timeout => error(
            StatusCode::GATEWAY_TIMEOUT,
            r#"{"error":"dependency timed out"}"#,
        ),
        _ => error(StatusCode::BAD_GATEWAY, r#"{"error":"dependency failed"}"#),
    }
}

/// `Retry-After` of a 429 or 503 answer, in seconds (the HTTP-date form is not used by
/// dependencies worth modelling here).
fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let status = response.status();
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let seconds: f64 = response
        .headers()
        .get(hyper::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

/// 429 for the client, passing on when to come back.
fn rate_limited(wait: Duration) -> Response<Full<Bytes>> {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        r#"{"error":"dependency rate limited"}"#,
    );
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    response
        .headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn dagger_flag_header_selects_the_dagger_path_case_insensitively() {
        assert_eq!(select_path(&headers(&[])), ServicePath::Legacy);
        assert_eq!(
            select_path(&headers(&[(
                "x-feature-use_dagger_workflow_engine",
                "true"
            )])),
            ServicePath::Dagger
        );
        assert_eq!(
            select_path(&headers(&[(
                "x-feature-use_dagger_workflow_engine",
                "TRUE"
            )])),
            ServicePath::Dagger
        );
        assert_eq!(
            select_path(&headers(&[(
                "x-feature-use_dagger_workflow_engine",
                "false"
            )])),
            ServicePath::Legacy
        );
        assert_eq!(
            select_path(&headers(&[("x-feature-use_dagger_workflow_engine", "yes")])),
            ServicePath::Legacy
        );
        assert_eq!(
            select_path(&headers(&[("x-feature-other", "true")])),
            ServicePath::Legacy
        );
        assert_eq!(
            select_path(&headers(&[
                ("x-feature-use_dagger_a", "false"),
                ("x-feature-use_dagger_b", "true")
            ])),
            ServicePath::Dagger
        );
    }

    mod answers_over_http {
        use std::collections::BTreeSet;

        use http_body_util::BodyExt;
        use serde_json::{Value, json};

        use super::*;
        use crate::reference::ReferencePlatform;

        const DAGGER: (&str, &str) = ("X-Feature-USE_DAGGER_WORKFLOW_ENGINE", "true");
        const LEGACY: (&str, &str) = ("X-Feature-USE_DAGGER_WORKFLOW_ENGINE", "false");
        /// Fields that differ between any two answers of one path, and `path`.
        const NOISE: [&str; 5] = ["task_id", "created_at", "run_id", "finished_at", "path"];

        struct Probe {
            client: Client<HttpConnector, Full<Bytes>>,
            platform: ReferencePlatform,
        }

        impl Probe {
            async fn start(defect: ParityDefect) -> Self {
                let config = ReferenceConfig {
                    parity_defect: defect,
                    executor_latency: crate::units::HumanDuration(Duration::from_millis(1)),
                    ..ReferenceConfig::default()
                };
                let platform = ReferencePlatform::start(config, 3).await.expect("start");
                let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
                Self { client, platform }
            }

            async fn send(
                &self,
                method: Method,
                path: &str,
                flag: (&str, &str),
                body: Vec<u8>,
            ) -> (StatusCode, Value) {
                let request = Request::builder()
                    .method(method)
                    .uri(format!("{}{path}", self.platform.url()))
                    .header(flag.0, flag.1)
                    .body(Full::new(Bytes::from(body)))
                    .expect("request");
                let response = self.client.request(request).await.expect("answer");
                let status = response.status();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    panic!("{e}: {}", String::from_utf8_lossy(&bytes));
                });
                (status, value)
            }

            /// An execute answer and the answer about its task, both from `flag`'s path.
            async fn execute_and_poll(&self, flag: (&str, &str), body: &str) -> (Value, Value) {
                let (status, execute) = self
                    .send(
                        Method::POST,
                        "/api/workflows/execute",
                        flag,
                        body.as_bytes().to_vec(),
                    )
                    .await;
                assert_eq!(status, StatusCode::ACCEPTED, "{execute}");
                let id = execute["task_id"].as_str().expect("task id");
                let (status, task) = self
                    .send(Method::GET, &format!("/api/tasks/{id}"), flag, Vec::new())
                    .await;
                assert_eq!(status, StatusCode::OK, "{task}");
                assert_eq!(task["task_id"], id);
                (execute, task)
            }
        }

        fn keys(v: &Value) -> BTreeSet<&str> {
            v.as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect()
        }

        fn without_noise(mut v: Value) -> Value {
            let object = v.as_object_mut().expect("object");
            for field in NOISE {
                object.remove(field);
            }
            v
        }

        fn timestamp(v: &Value) -> SystemTime {
            let text = v.as_str().expect("timestamp text");
            assert!(
                text.len() == 24 && text.ends_with('Z') && text.as_bytes()[19] == b'.',
                "RFC 3339 UTC with milliseconds: {text}"
            );
            humantime::parse_rfc3339(text).expect("RFC 3339")
        }

        #[tokio::test]
        async fn both_paths_answer_with_the_same_shape_and_noise_differs_between_answers() {
            let probe = Probe::start(ParityDefect::None).await;
            let body = r#"{"workflow":"build-and-test","priority":1}"#;
            let mut seen = Vec::new();
            for flag in [LEGACY, DAGGER] {
                let first = probe.execute_and_poll(flag, body).await;
                // Timestamps have millisecond resolution: keep two answers apart.
                tokio::time::sleep(Duration::from_millis(3)).await;
                let second = probe.execute_and_poll(flag, body).await;
                for (execute, task) in [&first, &second] {
                    assert_eq!(execute["workflow"], "build-and-test");
                    assert_eq!(
                        execute["path"],
                        if flag == DAGGER { "dagger" } else { "legacy" }
                    );
                    assert_eq!(execute["attempts"], 1);
                    assert_eq!(
                        execute["artifacts"],
                        json!([
                            {"name": "build.log", "kind": "log"},
                            {"name": "test-report.xml", "kind": "report"}
                        ])
                    );
                    assert_eq!(execute["steps"], json!(["checkout", "build", "test"]));
                    assert!(
                        execute["run_id"].as_str().is_some_and(
                            |id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
                        ),
                        "{execute}"
                    );
                    let now = SystemTime::now();
                    for stamp in [&execute["created_at"], &task["finished_at"]] {
                        let at = timestamp(stamp);
                        let age = now.duration_since(at).unwrap_or_default();
                        assert!(age < Duration::from_secs(60), "{stamp} is now");
                    }
                    assert_eq!(task["status"], "completed");
                    assert_eq!(task["artifacts"], execute["artifacts"]);
                    assert_eq!(task["steps"], execute["steps"]);
                }
                let ((e1, t1), (e2, t2)) = (&first, &second);
                for field in ["task_id", "created_at", "run_id"] {
                    assert_ne!(e1[field], e2[field], "{field} is noise");
                }
                assert_ne!(t1["finished_at"], t2["finished_at"], "finished_at is noise");
                assert_eq!(without_noise(e1.clone()), without_noise(e2.clone()));
                assert_eq!(without_noise(t1.clone()), without_noise(t2.clone()));
                seen.push(first);
            }
            let ((legacy_execute, legacy_task), (dagger_execute, dagger_task)) =
                (&seen[0], &seen[1]);
            assert_eq!(keys(legacy_execute), keys(dagger_execute));
            assert_eq!(keys(legacy_task), keys(dagger_task));
            assert_eq!(
                keys(legacy_execute),
                BTreeSet::from([
                    "task_id",
                    "path",
                    "attempts",
                    "workflow",
                    "created_at",
                    "run_id",
                    "artifacts",
                    "steps"
                ])
            );
            assert_eq!(
                keys(legacy_task),
                BTreeSet::from(["task_id", "status", "artifacts", "steps", "finished_at"])
            );
            assert_eq!(
                without_noise(legacy_execute.clone()),
                without_noise(dagger_execute.clone())
            );
            assert_eq!(
                without_noise(legacy_task.clone()),
                without_noise(dagger_task.clone())
            );
            probe.platform.shutdown().await;
        }

        #[tokio::test]
        async fn each_parity_defect_shows_on_the_dagger_path_only() {
            let artifacts = json!([
                {"name": "build.log", "kind": "log"},
                {"name": "test-report.xml", "kind": "report"}
            ]);
            let steps = json!(["checkout", "build", "test"]);
            let plain_execute = json!({
                "attempts": 1, "workflow": "w", "artifacts": artifacts, "steps": steps
            });
            let plain_task = json!({
                "status": "completed", "artifacts": artifacts, "steps": steps
            });
            let reversed = json!(["test", "build", "checkout"]);
            for (defect, dagger_execute, dagger_task) in [
                (
                    ParityDefect::None,
                    plain_execute.clone(),
                    plain_task.clone(),
                ),
                (
                    ParityDefect::DroppedField,
                    json!({"attempts": 1, "workflow": "w", "steps": steps}),
                    json!({"status": "completed", "steps": steps}),
                ),
                (
                    ParityDefect::ChangedValue,
                    plain_execute.clone(),
                    json!({"status": "succeeded", "artifacts": artifacts, "steps": steps}),
                ),
                (
                    ParityDefect::ReorderedArray,
                    json!({
                        "attempts": 1, "workflow": "w", "artifacts": artifacts,
                        "steps": reversed
                    }),
                    json!({"status": "completed", "artifacts": artifacts, "steps": reversed}),
                ),
            ] {
                let probe = Probe::start(defect).await;
                let (execute, task) = probe.execute_and_poll(LEGACY, r#"{"workflow":"w"}"#).await;
                assert_eq!(without_noise(execute), plain_execute, "legacy, {defect:?}");
                assert_eq!(without_noise(task), plain_task, "legacy, {defect:?}");
                let (execute, task) = probe.execute_and_poll(DAGGER, r#"{"workflow":"w"}"#).await;
                assert_eq!(execute["path"], "dagger");
                assert_eq!(without_noise(execute), dagger_execute, "dagger, {defect:?}");
                assert_eq!(without_noise(task), dagger_task, "dagger, {defect:?}");
                // The task's path is the asking request's: a task the Dagger path issued,
                // polled with the flag off, is answered by the legacy path.
                let (status, issued) = probe
                    .send(
                        Method::POST,
                        "/api/workflows/execute",
                        DAGGER,
                        b"{}".to_vec(),
                    )
                    .await;
                assert_eq!(status, StatusCode::ACCEPTED);
                let id = issued["task_id"].as_str().expect("id");
                let (_, polled) = probe
                    .send(Method::GET, &format!("/api/tasks/{id}"), LEGACY, Vec::new())
                    .await;
                assert_eq!(without_noise(polled), plain_task, "{defect:?}");
                probe.platform.shutdown().await;
            }
        }

        #[tokio::test]
        async fn the_workflow_comes_from_the_body_and_bad_bodies_still_succeed() {
            let probe = Probe::start(ParityDefect::None).await;
            let tricky = "a \"quoted\" \\ name\n\u{1} ✓";
            for (body, workflow) in [
                (r#"{"workflow":"deploy"}"#.to_owned(), "deploy".to_owned()),
                (
                    serde_json::to_string(&json!({"workflow": tricky})).expect("json"),
                    tricky.to_owned(),
                ),
                (String::new(), "unknown".to_owned()),
                ("not json".to_owned(), "unknown".to_owned()),
                (r#"{"workflow":7}"#.to_owned(), "unknown".to_owned()),
                (r#"["deploy"]"#.to_owned(), "unknown".to_owned()),
                ("x".repeat(200_000), "unknown".to_owned()),
            ] {
                for flag in [LEGACY, DAGGER] {
                    let (status, answer) = probe
                        .send(
                            Method::POST,
                            "/api/workflows/execute",
                            flag,
                            body.clone().into_bytes(),
                        )
                        .await;
                    assert_eq!(status, StatusCode::ACCEPTED);
                    assert_eq!(answer["workflow"], workflow.as_str(), "{flag:?}");
                }
            }
            probe.platform.shutdown().await;
        }
    }
}
