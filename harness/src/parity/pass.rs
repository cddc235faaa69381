//! The parity pass: sampled iterations, each flow run on the base path twice and on the
//! candidate once, their answers compared step by step.
//!
//! The pass runs after the measured runs, in a pass of its own, so it cannot disturb
//! their latencies or error rates, at `[parity] rate` iterations per second (at most
//! [`MAX_IN_FLIGHT`] at once) until `[parity] samples` iterations were made. Each of the
//! three runs of the flow (base A, base B, candidate C) keeps the variables its own
//! answers gave, so B works on entities of its own as C does: whatever differs between
//! A and B (ids, timestamps, the order of an unordered set) is noise, and only C's other
//! differences from A count. A and C go out together and B after both, so a
//! time-dependent field differs between A and B at least as often as between A and C. A `safe = false` step is sent
//! once to each path: B takes A's answer of the previous iteration (same inputs, another
//! call) and its variables. Values that are each side's own variable (a task id in the
//! answer, or inside a URL) are not differences. A failed request, check or extraction
//! of A or C ends the iteration's comparison there (`skipped`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::SeedableRng;

use super::diff::{Answer, differences};
use super::tally::{ParityRecord, ParityTally};
use crate::correlation::Correlation;
use crate::kinds::samples::redact;
use crate::kinds::{self, DriveSetup, PathExecutor, Scope, Shared, StepReply};
use crate::load::StopSignal;
use crate::load::pick::FlowPicker;
use crate::load::tally::CheckTally;
use crate::reference::ReferencePlatform;
use crate::scenario::{Flow, ParitySpec, Scenario};

/// What a request answered, kept for comparison and extraction.
#[derive(Debug, Clone)]
struct Kept {
    failed: bool,
    status: Option<u16>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    body: bytes::Bytes,
}

impl From<StepReply> for Kept {
    fn from(reply: StepReply) -> Self {
        Self {
            failed: reply.failure.is_some(),
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        }
    }
}

/// Iterations of the pass in flight at most.
pub const MAX_IN_FLIGHT: usize = 32;

/// Why a parity pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// The reference platform did not start.
    #[error("the reference platform did not start for the parity pass: {0}")]
    Reference(std::io::Error),
    /// A path cannot be driven.
    #[error("parity pass, path `{path}`: {why}")]
    Path {
        /// The path.
        path: String,
        /// Why.
        why: String,
    },
}

/// The executors and what each iteration needs.
struct Pass {
    base: Arc<dyn PathExecutor>,
    candidate: Arc<dyn PathExecutor>,
    flows: Vec<Flow>,
    spec: ParitySpec,
    timeout: Duration,
    tally: Mutex<ParityTally>,
    checks: CheckTally,
    /// Each step's row in the tally; `None` for a session step (an MCP `initialize`),
    /// which runs on every side but is not compared: it opens a session, and the two
    /// servers' names and versions in its answer differ by design.
    rows: Vec<Option<usize>>,
    /// The last base answer of each `safe = false` step (noise of unsafe steps).
    last_base: Mutex<Vec<Option<Kept>>>,
    /// Values never shown in examples (interpolated secrets of both paths).
    secrets: Vec<String>,
}

/// Runs the parity pass of `scenario` between `base` and `candidate` (`spec` from its
/// `[parity]`), stopping early (and saying so) when `stop` fires.
pub async fn run_parity(
    scenario: &Scenario,
    spec: &ParitySpec,
    base: &str,
    candidate: &str,
    seed: u64,
    stop: &StopSignal,
) -> Result<ParityRecord, ParityError> {
    let reference = if scenario.needs_reference() {
        Some(
            ReferencePlatform::start(scenario.reference.clone(), seed)
                .await
                .map_err(ParityError::Reference)?,
        )
    } else {
        None
    };
    let reference_url = reference.as_ref().map(ReferencePlatform::url);
    let flows: Vec<Flow> = scenario
        .flows
        .iter()
        .map(|flow| {
            let mut flow = flow.clone();
            for step in &mut flow.steps {
                step.keep_answer = true;
                step.keep_headers = spec
                    .headers
                    .iter()
                    .filter_map(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
                    .collect();
            }
            flow
        })
        .collect();
    let shared = Shared::default();
    let mut executors = Vec::new();
    let mut secrets = Vec::new();
    let mut readies = Vec::new();
    for name in [base, candidate] {
        let path = scenario.path(name).ok_or_else(|| ParityError::Path {
            path: name.into(),
            why: "not in the scenario".into(),
        })?;
        secrets.extend(crate::runner::path_secrets(path));
        let ready = kinds::ready(path, &shared, reference_url.as_deref()).map_err(|e| {
            ParityError::Path {
                path: name.into(),
                why: e.to_string(),
            }
        })?;
        readies.push((name, ready));
    }
    shared
        .start(scenario)
        .await
        .map_err(|e| ParityError::Path {
            path: candidate.into(),
            why: e.to_string(),
        })?;
    for (name, ready) in &readies {
        let setup = DriveSetup {
            flows: &flows,
            proxy_url: None,
            correlation: Correlation::for_run(seed ^ 0x5041_5249_5459, name, None),
            max_idle: MAX_IN_FLIGHT,
            seed,
            timeout: scenario.load.timeout,
        };
        executors.push(ready.executor(&setup).map_err(|e| ParityError::Path {
            path: (*name).into(),
            why: e.to_string(),
        })?);
    }
    let all_steps: Vec<(String, bool, bool)> = flows
        .iter()
        .flat_map(|f| {
            f.steps
                .iter()
                .map(|s| (format!("{}/{}", f.name, s.name), s.safe, s.is_session()))
        })
        .collect();
    let step_count = all_steps.len();
    let mut next_row = 0;
    let rows: Vec<Option<usize>> = all_steps
        .iter()
        .map(|(_, _, session)| {
            (!session).then(|| {
                next_row += 1;
                next_row - 1
            })
        })
        .collect();
    let steps: Vec<(String, bool)> = all_steps
        .into_iter()
        .filter(|(_, _, session)| !session)
        .map(|(name, safe, _)| (name, safe))
        .collect();
    let candidate_executor = executors.pop().expect("two executors were made");
    let base_executor = executors.pop().expect("two executors were made");
    let pass = Arc::new(Pass {
        base: base_executor,
        candidate: candidate_executor,
        checks: CheckTally::new(&flows),
        flows,
        spec: spec.clone(),
        timeout: scenario.load.timeout,
        tally: Mutex::new(ParityTally::new(base, candidate, &steps)),
        rows,
        last_base: Mutex::new(vec![None; step_count]),
        secrets,
    });
    let picker = FlowPicker::new(&pass.flows);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let interval = Duration::from_secs_f64(1.0 / spec.rate);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut interrupted = false;
    for sample in 0..u64::from(spec.samples) {
        ticker.tick().await;
        if stop.is_triggered() {
            interrupted = true;
            break;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let flow = picker.pick(&mut rng);
        let pass = pass.clone();
        tasks.spawn(async move {
            pass.iteration(flow, sample).await;
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    // Sessions still closing (a stateful kind's) are waited for before the pass ends.
    pass.base.drive_ended().await;
    pass.candidate.drive_ended().await;
    drop(readies);
    shared.close().await;
    if let Some(reference) = reference {
        reference.shutdown().await;
    }
    let pass = Arc::try_unwrap(pass).map_err(|_| ParityError::Path {
        path: candidate.into(),
        why: "an iteration outlived the pass".into(),
    })?;
    let mut tally = pass
        .tally
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    if interrupted || stop.is_triggered() {
        tally.interrupted();
    }
    Ok(tally.finish())
}

/// Whether a changed value is the same flow variable on each side: the base's task id
/// where the base answered and the candidate's where the candidate did (`/task_id`, or
/// a URL holding it). Each side's variables come from its own earlier answers, so such a
/// value differs by construction, not by the candidate's behaviour.
fn carried(
    d: &super::diff::Difference,
    names: &[String],
    base: &[Option<String>],
    candidate: &[Option<String>],
) -> bool {
    let (Some(first), Some(other)) = (&d.first, &d.other) else {
        return false;
    };
    let mut first = first.clone();
    let mut other = other.clone();
    let mut replaced = false;
    for ((name, b), c) in names.iter().zip(base).zip(candidate) {
        let (Some(b), Some(c)) = (b, c) else {
            continue;
        };
        if b.is_empty() || c.is_empty() || b == c {
            continue;
        }
        let placeholder = format!("${{{name}}}");
        if first.contains(b.as_str()) && other.contains(c.as_str()) {
            first = first.replace(b.as_str(), &placeholder);
            other = other.replace(c.as_str(), &placeholder);
            replaced = true;
        }
    }
    replaced && first == other
}

impl Pass {
    fn tally(&self) -> std::sync::MutexGuard<'_, ParityTally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One sampled iteration of flow `flow`: the base twice (A and B, each with the
    /// variables its own answers gave, so B reads entities of its own) and the
    /// candidate once (C). A `safe = false` step is not repeated: B takes the base's
    /// answer of the previous iteration instead (another entity, same inputs).
    ///
    /// A, B and C each run in a scope of their own, so a stateful kind (an MCP path)
    /// opens a session per side and sample, as a load iteration would, and closes it
    /// when the sample ends.
    async fn iteration(&self, flow: usize, sample: u64) {
        let scopes = [0, 1, 2].map(|k| Scope {
            user: None,
            iteration: sample * 3 + k,
        });
        self.sample(flow, sample, scopes).await;
        self.base.iteration_ended(scopes[0]);
        self.base.iteration_ended(scopes[1]);
        self.candidate.iteration_ended(scopes[2]);
    }

    async fn sample(&self, flow: usize, sample: u64, [sa, sb, sc]: [Scope; 3]) {
        self.tally().sampled();
        let Some(flow) = self.flows.get(flow) else {
            return;
        };
        let first_index = self
            .flows
            .iter()
            .take_while(|f| !std::ptr::eq(*f, flow))
            .map(|f| f.steps.len())
            .sum::<usize>();
        let mut vars_a: Vec<Option<String>> = vec![None; flow.vars.len()];
        let mut vars_b = vars_a.clone();
        let mut vars_c = vars_a.clone();
        for (position, step) in flow.steps.iter().enumerate() {
            let index = first_index + position;
            // Three ids per step and sample: the base, its repeat, the candidate.
            let id = (sample << 20 | (index as u64) << 2) + 1;
            let Some(row) = self.rows.get(index).copied().flatten() else {
                // A session step: opened on every side, never compared.
                if !self.open_sessions(step, [sa, sb, sc], id).await {
                    if let Some(next) = self.rows.iter().skip(index + 1).flatten().next() {
                        self.tally().skipped(*next);
                    }
                    return;
                }
                continue;
            };
            let (a, b, c) = if step.safe {
                // A and C together, B after both: B is at least as far from A in time
                // as C is, so a time-dependent field (a millisecond timestamp) differs
                // between A and B at least as often as between A and C, and is noise.
                let (a, c) = tokio::join!(
                    self.base.run_in(sa, step, &vars_a, id, self.timeout),
                    self.candidate
                        .run_in(sc, step, &vars_c, id + 2, self.timeout),
                );
                // A millisecond later at least, so a millisecond timestamp always moves.
                tokio::time::sleep(Duration::from_millis(2)).await;
                let b = self
                    .base
                    .run_in(sb, step, &vars_b, id + 1, self.timeout)
                    .await;
                (Kept::from(a), Some(Kept::from(b)), Kept::from(c))
            } else {
                let (a, c) = tokio::join!(
                    self.base.run_in(sa, step, &vars_a, id, self.timeout),
                    self.candidate
                        .run_in(sc, step, &vars_c, id + 2, self.timeout),
                );
                let a = Kept::from(a);
                let previous = self.previous_base(index, &a);
                (a, previous, Kept::from(c))
            };
            if a.failed || c.failed {
                self.tally().skipped(row);
                return;
            }
            let base_answer = self.answer(&a);
            let candidate_answer = self.answer(&c);
            // A failed repeat only loses this sample's noise pair.
            let b = b.filter(|b| !b.failed);
            {
                let mut tally = self.tally();
                if let Some(b) = &b {
                    let noise: Vec<_> = differences(&base_answer, &self.answer(b), &self.spec)
                        .into_iter()
                        .filter(|d| !carried(d, &flow.vars, &vars_a, &vars_b))
                        .collect();
                    tally.noise(row, &noise);
                }
                let found: Vec<_> = differences(&base_answer, &candidate_answer, &self.spec)
                    .into_iter()
                    .filter(|d| !carried(d, &flow.vars, &vars_a, &vars_c))
                    .map(|d| self.redacted(d))
                    .collect();
                tally.compared(row, id, &found);
            }
            let a_ok = self.extract(step, &a, &mut vars_a);
            let c_ok = self.extract(step, &c, &mut vars_c);
            let b_ok = b.is_some_and(|b| self.extract(step, &b, &mut vars_b));
            if !b_ok {
                vars_b.clone_from(&vars_a);
            }
            if !(a_ok && c_ok) {
                // Later steps would run without their inputs.
                return;
            }
        }
    }

    /// Runs a session step for A and B (base) and C (candidate) in their scopes; false
    /// when a side that runs it failed (its later steps have no session).
    async fn open_sessions(
        &self,
        step: &crate::scenario::Step,
        [sa, sb, sc]: [Scope; 3],
        id: u64,
    ) -> bool {
        let run = |executor: &Arc<dyn PathExecutor>, scope: Scope, id: u64| {
            let executor = Arc::clone(executor);
            let step = step.clone();
            let timeout = self.timeout;
            async move {
                executor.skips(scope, &step)
                    || executor
                        .run_in(scope, &step, &[], id, timeout)
                        .await
                        .failure
                        .is_none()
            }
        };
        let (a, b, c) = tokio::join!(
            run(&self.base, sa, id),
            run(&self.base, sb, id + 1),
            run(&self.candidate, sc, id + 2),
        );
        a && b && c
    }

    /// Runs the step's checks and extractions on `answer` into `vars`.
    fn extract(
        &self,
        step: &crate::scenario::Step,
        answer: &Kept,
        vars: &mut [Option<String>],
    ) -> bool {
        self.checks
            .judge(step, &answer.headers, &answer.body, vars, false)
            .is_ok()
    }

    /// The answer as compared: the spec's headers only.
    fn answer(&self, reply: &Kept) -> Answer {
        Answer {
            status: reply.status,
            headers: self
                .spec
                .headers
                .iter()
                .filter_map(|name| {
                    reply
                        .headers
                        .iter()
                        .find(|(n, _)| n.as_str() == name)
                        .map(|(_, v)| {
                            (
                                name.clone(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                })
                .collect(),
            body: reply.body.to_vec(),
        }
    }

    /// For a `safe = false` step: the previous iteration's base answer (this one takes
    /// its place).
    fn previous_base(&self, index: usize, answer: &Kept) -> Option<Kept> {
        if answer.failed {
            return None;
        }
        let mut last = self
            .last_base
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.get_mut(index)
            .and_then(|slot| slot.replace(answer.clone()))
    }

    /// A difference with configured fields' values and secrets hidden.
    fn redacted(&self, mut d: super::diff::Difference) -> super::diff::Difference {
        let segments = crate::scenario::split_pointer(&d.at);
        let hidden = self.spec.redact.iter().any(|g| g.covers(&segments));
        for value in [&mut d.first, &mut d.other].into_iter().flatten() {
            *value = if hidden {
                "«redacted»".to_string()
            } else {
                redact(value, &self.secrets)
            };
        }
        d
    }
}
