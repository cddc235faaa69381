//! One iteration of a flow: its steps in order, each a timed action (an HTTP request, a
//! command, a Dagger pipeline), with variables extracted from JSON answers feeding later
//! steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::command::CommandExecutor;
use super::events::{EventLog, RequestEvent};
use super::http::HttpClient;
use super::tally::{CheckTally, Rejected};
use super::target::{HttpExecutor, ResolvedTarget};
use crate::dagger::DaggerExecutor;
use crate::outcome::{Outcome, OutcomeClass};
use crate::record::SharedRecorder;
use crate::scenario::{Flow, Step};

/// What a step's action returned: a failure class, or the answer whose body the step's
/// extractions read (the HTTP body, or a command's stdout).
#[derive(Debug, Default)]
pub struct StepReply {
    /// Why the step failed, when it did.
    pub failure: Option<OutcomeClass>,
    /// The HTTP status, or the exit code.
    pub status: Option<u16>,
    /// The answer headers the step asked for (HTTP).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The answer.
    pub body: Bytes,
}

impl StepReply {
    /// A failure of `class`, with the status or exit code when one is known.
    pub fn failed(class: OutcomeClass, status: Option<u16>) -> Self {
        Self {
            failure: Some(class),
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A success whose answer is `body`.
    pub fn ok(status: Option<u16>, body: Bytes) -> Self {
        Self {
            failure: None,
            status,
            headers: Vec::new(),
            body,
        }
    }
}

/// What runs a step on one kind of path.
#[derive(Debug)]
pub enum Executor {
    /// HTTP requests.
    Http(HttpExecutor),
    /// Local commands.
    Command(CommandExecutor),
    /// Dagger pipelines.
    Dagger(DaggerExecutor),
}

/// Everything a worker needs to run iterations of one path.
#[derive(Debug)]
pub struct IterationContext {
    executor: Executor,
    timeout: Duration,
    epoch: Instant,
    ids: AtomicU64,
    recorder: Arc<SharedRecorder>,
    events: Option<Arc<EventLog>>,
    tally: CheckTally,
}

/// The base URL goose is given for paths that send no HTTP (it needs one to start).
const NO_HTTP_BASE: &str = "http://127.0.0.1";

impl IterationContext {
    /// A context for `flows` against `target`; `epoch` is the start of the run (warmup included).
    pub fn new(
        client: HttpClient,
        target: ResolvedTarget,
        flows: &[Flow],
        timeout: Duration,
        epoch: Instant,
        recorder: Arc<SharedRecorder>,
    ) -> Self {
        let executor = Executor::Http(HttpExecutor::new(client, target, flows));
        Self::with_executor(executor, flows, timeout, epoch, recorder)
    }

    /// A context whose steps run on `executor`.
    pub fn with_executor(
        executor: Executor,
        flows: &[Flow],
        timeout: Duration,
        epoch: Instant,
        recorder: Arc<SharedRecorder>,
    ) -> Self {
        Self {
            executor,
            timeout,
            epoch,
            ids: AtomicU64::new(1),
            recorder,
            events: None,
            tally: CheckTally::new(flows),
        }
    }

    /// The recorder outcomes go to.
    pub fn recorder(&self) -> &SharedRecorder {
        &self.recorder
    }

    /// Also logs every first-step request into `log` (for resilience observations).
    pub fn with_event_log(mut self, log: Arc<EventLog>) -> Self {
        self.events = Some(log);
        self
    }

    /// The base URL requests go to (a placeholder for paths that send no HTTP).
    pub fn target_base(&self) -> &str {
        match &self.executor {
            Executor::Http(http) => http.base(),
            Executor::Command(_) | Executor::Dagger(_) => NO_HTTP_BASE,
        }
    }

    /// Descriptions of the run's first failures, for the record's notes (command and
    /// Dagger paths; for HTTP, how TLS failed: a class and a status say the rest).
    pub fn failure_samples(&self) -> Vec<String> {
        match &self.executor {
            Executor::Http(http) => http.failure_samples(),
            Executor::Command(command) => command.failure_samples(),
            Executor::Dagger(dagger) => dagger.failure_samples(),
        }
    }

    /// How often each step's checks and extractions failed: per step index, (name,
    /// failures), non-zero only.
    pub fn check_failures(&self) -> Vec<Vec<(String, u64)>> {
        self.tally.counts()
    }

    /// The first check and extraction failures, described (pointer, expected, actual).
    pub fn check_samples(&self) -> Vec<String> {
        self.tally.samples()
    }

    /// The start of the run.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Records an arrival that could not start, as `dropped` on the flow's first step.
    pub fn record_dropped(&self, flow: &Flow, intended: Instant) {
        if let Some(step) = flow.steps.first() {
            let offset = intended.saturating_duration_since(self.epoch);
            self.recorder.record(&Outcome {
                step: step.index,
                intended: offset,
                latency: Duration::ZERO,
                class: OutcomeClass::Dropped,
                status: None,
                request_id: 0,
            });
        }
    }

    /// Runs the steps of `flow`; the first step's latency counts from `intended`
    /// (its arrival time), later steps from when they could start. A failed step
    /// ends the iteration.
    pub async fn run(&self, flow: &Flow, intended: Instant) {
        let mut vars: Vec<Option<String>> = vec![None; flow.vars.len()];
        let mut step_intended = intended;
        for (position, step) in flow.steps.iter().enumerate() {
            let ok = self
                .run_step(step, &mut vars, step_intended, position == 0)
                .await;
            if !ok {
                break;
            }
            step_intended = Instant::now();
        }
    }

    async fn run_step(
        &self,
        step: &Step,
        vars: &mut [Option<String>],
        intended: Instant,
        first: bool,
    ) -> bool {
        let request_id = self.ids.fetch_add(1, Ordering::Relaxed);
        let offset = intended.saturating_duration_since(self.epoch);
        self.recorder.record_sent(offset);
        let reply = match &self.executor {
            Executor::Http(http) => http.run(step, vars, request_id, self.timeout).await,
            Executor::Command(command) => command.run(step, vars, self.timeout).await,
            Executor::Dagger(dagger) => dagger.run(step, vars, request_id, self.timeout).await,
        };
        let class = match reply.failure {
            Some(class) => class,
            None => match self.tally.judge(
                step,
                &reply.headers,
                &reply.body,
                vars,
                offset >= self.recorder.warmup(),
            ) {
                Ok(()) => OutcomeClass::Ok,
                Err(Rejected) => OutcomeClass::CheckFailed,
            },
        };
        let latency = Instant::now().saturating_duration_since(intended);
        self.recorder.record(&Outcome {
            step: step.index,
            intended: offset,
            latency,
            class,
            status: reply.status,
            request_id,
        });
        if first && let Some(log) = &self.events {
            log.push(RequestEvent {
                request_id,
                at: offset,
                latency,
                class,
            });
        }
        class == OutcomeClass::Ok
    }
}
