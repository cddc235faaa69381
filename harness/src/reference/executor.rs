//! The executor: the dependency the orchestration service calls for every workflow.
//!
//! `POST /execute` takes `executor_latency` plus a uniform jitter, then answers 503 with
//! probability `executor_error_rate` and 200 otherwise. Draws are keyed by the propagated
//! request id and attempt number (see [`super::rng`]), so both paths of a comparison meet
//! the same dependency failures for the same request ids.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use rand::Rng;

use super::clock::PreciseClock;
use super::config::ReferenceConfig;
use super::http::{self, ATTEMPT, MAX_BODY, REQUEST_ID, Reply};
use super::rng::{self, Stream};
use super::server::Handler;

/// The executor's behaviour, fixed at start.
#[derive(Debug)]
pub(crate) struct Executor {
    latency: Duration,
    jitter_nanos: u64,
    error_rate: f64,
    seed: u64,
    unkeyed: AtomicU64,
    clock: PreciseClock,
}

impl Executor {
    /// An executor behaving as `config` says, drawing from `seed`, sleeping on `clock`.
    pub(crate) fn new(config: &ReferenceConfig, seed: u64, clock: PreciseClock) -> Self {
        Self {
            clock,
            latency: config.executor_latency.get(),
            jitter_nanos: u64::try_from(config.executor_jitter.get().as_nanos())
                .unwrap_or(u64::MAX),
            error_rate: config.executor_error_rate.get(),
            seed,
            unkeyed: AtomicU64::new(0),
        }
    }

    async fn execute(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let headers = req.headers();
        let key = match headers.get(REQUEST_ID) {
            Some(id) => rng::key_of_id(id.as_bytes()),
            None => rng::key_of_counter(self.unkeyed.fetch_add(1, Ordering::Relaxed)),
        };
        let attempt = headers
            .get(ATTEMPT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1);
        let mut draws = rng::request_rng(self.seed, Stream::Executor, key, attempt);
        let jitter = if self.jitter_nanos > 0 {
            draws.random_range(0..=self.jitter_nanos)
        } else {
            0
        };
        // Compared against a draw rather than `random_bool`, which panics outside 0..=1.
        let fails = self.error_rate > 0.0 && draws.random::<f64>() < self.error_rate;
        if http::drain(req.into_body(), MAX_BODY).await.is_err() {
            return http::json(
                StatusCode::BAD_REQUEST,
                Bytes::from_static(b"{\"error\":\"unreadable body\"}"),
            );
        }
        let service_time = self.latency.saturating_add(Duration::from_nanos(jitter));
        self.clock.sleep(service_time).await;
        if fails {
            http::json(
                StatusCode::SERVICE_UNAVAILABLE,
                Bytes::from_static(b"{\"error\":\"executor unavailable\"}"),
            )
        } else {
            http::json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"done\"}"))
        }
    }
}

impl Handler for Executor {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Reply> {
        let response = match (req.method(), req.uri().path()) {
            (&Method::POST, "/execute") => self.execute(req).await,
            (&Method::GET, "/healthz") => http::text(StatusCode::OK, Bytes::from_static(b"ok")),
            _ => http::text(StatusCode::NOT_FOUND, Bytes::from_static(b"not found")),
        };
        response.map(Reply::Left)
    }
}
