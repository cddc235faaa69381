//! The parity pass: sampled iterations, each step sent to the base path twice and to the
//! candidate once, their answers compared.
//!
//! The pass runs after the measured runs, in a pass of its own, so it cannot disturb
//! their latencies or error rates, at `[parity] rate` iterations per second (at most
//! [`MAX_IN_FLIGHT`] at once) until `[parity] samples` iterations were made. A step's
//! three requests go out together, so time-dependent fields differ between the two base
//! answers as much as between base and candidate and are learned as noise. A
//! `safe = false` step is sent once to each path; its noise comes from comparing its
//! base answer with the base answer of the previous iteration (same inputs, another
//! call). Each side's later steps use the variables its own answers gave (a task id of
//! the base is not one of the candidate). A failed request, check or extraction on any
//! side ends the iteration's comparison there (`skipped`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::SeedableRng;

use super::diff::{Answer, differences};
use super::tally::{ParityRecord, ParityTally};
use crate::correlation::Correlation;
use crate::kinds::samples::redact;
use crate::kinds::{self, DriveSetup, PathExecutor, Shared, StepReply};
use crate::load::StopSignal;
use crate::load::pick::FlowPicker;
use crate::load::tally::CheckTally;
use crate::reference::ReferencePlatform;
use crate::scenario::{Flow, ParitySpec, Scenario};

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
    /// The last base answer of each `safe = false` step (noise of unsafe steps).
    last_base: Mutex<Vec<Option<Answer>>>,
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
    let steps: Vec<(String, bool)> = flows
        .iter()
        .flat_map(|f| {
            f.steps
                .iter()
                .map(|s| (format!("{}/{}", f.name, s.name), s.safe))
        })
        .collect();
    let step_count = steps.len();
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

    /// One sampled iteration of flow `flow`.
    async fn iteration(&self, flow: usize, sample: u64) {
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
        let mut base_vars: Vec<Option<String>> = vec![None; flow.vars.len()];
        let mut candidate_vars = base_vars.clone();
        for (position, step) in flow.steps.iter().enumerate() {
            let index = first_index + position;
            // Three ids per step and sample: the base, its repeat, the candidate.
            let id = (sample << 20 | (index as u64) << 2) + 1;
            let (first, second, other) = if step.safe {
                let (a, b, c) = tokio::join!(
                    self.base.run(step, &base_vars, id, self.timeout),
                    self.base.run(step, &base_vars, id + 1, self.timeout),
                    self.candidate
                        .run(step, &candidate_vars, id + 2, self.timeout),
                );
                (a, Some(b), c)
            } else {
                let (a, c) = tokio::join!(
                    self.base.run(step, &base_vars, id, self.timeout),
                    self.candidate
                        .run(step, &candidate_vars, id + 2, self.timeout),
                );
                (a, None, c)
            };
            let failed = first.failure.is_some()
                || other.failure.is_some()
                || second.as_ref().is_some_and(|s| s.failure.is_some());
            if failed {
                self.tally().skipped(index);
                return;
            }
            let base_answer = self.answer(&first);
            let noise_pair = match second {
                Some(second) => Some(self.answer(&second)),
                None => self.previous_base(index, &base_answer),
            };
            let candidate_answer = self.answer(&other);
            {
                let mut tally = self.tally();
                if let Some(second) = &noise_pair {
                    tally.noise(index, &differences(&base_answer, second, &self.spec));
                }
                let found = differences(&base_answer, &candidate_answer, &self.spec);
                let shown: Vec<_> = found
                    .into_iter()
                    .filter(|d| !carried(d, &flow.vars, &base_vars, &candidate_vars))
                    .map(|d| self.redacted(d))
                    .collect();
                tally.compared(index, id, &shown);
            }
            let base_ok = self
                .checks
                .judge(step, &first.headers, &first.body, &mut base_vars, false)
                .is_ok();
            let candidate_ok = self
                .checks
                .judge(
                    step,
                    &other.headers,
                    &other.body,
                    &mut candidate_vars,
                    false,
                )
                .is_ok();
            if !(base_ok && candidate_ok) {
                // Later steps would run without their inputs.
                return;
            }
        }
    }

    /// The answer as compared: the spec's headers only.
    fn answer(&self, reply: &StepReply) -> Answer {
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

    /// For a `safe = false` step: the previous iteration's base answer (the new one
    /// takes its place).
    fn previous_base(&self, index: usize, answer: &Answer) -> Option<Answer> {
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
