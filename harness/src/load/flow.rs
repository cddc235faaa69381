//! One iteration of a flow: its steps in order, each a timed action run by the path's
//! [`PathExecutor`] (whatever its kind), with variables extracted from answers feeding
//! later steps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::events::{EventLog, RequestEvent};
use super::tally::{CheckTally, Rejected};
use crate::kinds::{PathExecutor, Scope};
use crate::outcome::{Outcome, OutcomeClass};
use crate::record::SharedRecorder;
use crate::scenario::{Flow, Step};

/// Everything a worker needs to run iterations of one path.
#[derive(Debug)]
pub struct IterationContext {
    executor: Arc<dyn PathExecutor>,
    timeout: Duration,
    epoch: Instant,
    recorder: Arc<SharedRecorder>,
    events: Option<Arc<EventLog>>,
    tally: CheckTally,
}

/// The base URL goose is given for paths that send no HTTP (it needs one to start).
const NO_HTTP_BASE: &str = "http://127.0.0.1";

impl IterationContext {
    /// A context whose steps of `flows` run on `executor`; `epoch` is the start of the
    /// run (warmup included).
    pub fn with_executor(
        executor: Arc<dyn PathExecutor>,
        flows: &[Flow],
        timeout: Duration,
        epoch: Instant,
        recorder: Arc<SharedRecorder>,
    ) -> Self {
        Self {
            executor,
            timeout,
            epoch,
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
        self.executor.base_url().unwrap_or(NO_HTTP_BASE)
    }

    /// Descriptions of the run's first failures, for the record's notes (command and
    /// Dagger paths; for HTTP, how TLS failed: a class and a status say the rest).
    pub fn failure_samples(&self) -> Vec<String> {
        self.executor.failure_samples()
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

    /// Runs the steps of `flow` for `user` (closed model; `None` in the open model) as
    /// iteration `iteration` (its key, see [`super::segment`]: it names the requests, so
    /// it must be unique within the run); the first step's latency counts from
    /// `intended` (its arrival time), later steps from when they could start. A failed
    /// step ends the iteration. A step the executor skips (a session already open) is
    /// not recorded.
    pub async fn run(&self, flow: &Flow, intended: Instant, user: Option<u64>, iteration: u64) {
        let scope = Scope { user, iteration };
        let mut vars: Vec<Option<String>> = vec![None; flow.vars.len()];
        let mut step_intended = intended;
        // The iteration's client request, for the resilience observations: its first step
        // that does more than open a session.
        let mut logged = false;
        for step in &flow.steps {
            if self.executor.skips(scope, step) {
                continue;
            }
            let log_event = !logged && !step.is_session();
            logged |= log_event;
            let ok = self
                .run_step(scope, step, &mut vars, step_intended, log_event)
                .await;
            if !ok {
                break;
            }
            step_intended = Instant::now();
        }
        self.executor.iteration_ended(scope);
    }

    /// Tells the executor the drive ended (it closes what users kept open).
    pub async fn end_drive(&self) {
        self.executor.drive_ended().await;
    }

    async fn run_step(
        &self,
        scope: Scope,
        step: &Step,
        vars: &mut [Option<String>],
        intended: Instant,
        log_event: bool,
    ) -> bool {
        let request_id = super::segment::request_id(scope.iteration, usize::from(step.index));
        let offset = intended.saturating_duration_since(self.epoch);
        self.recorder.record_sent(offset);
        let reply = self
            .executor
            .run_in(scope, step, vars, request_id, self.timeout)
            .await;
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
        if log_event && let Some(log) = &self.events {
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
