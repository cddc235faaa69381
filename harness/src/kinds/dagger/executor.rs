//! Dagger paths: each step is a pipeline built with dagger-sdk and awaited to one leaf.
//!
//! The pipeline runs in a spawned task (the SDK `unwrap`s some malformed replies: a panic
//! there is the outcome `panic`, never a crash of the run), bounded by the per-request
//! timeout (`timeout`; the task is aborted). What went wrong is classed from the step's
//! client slot (transport, auth, unreadable reply, engine gone) and else from the SDK's
//! error: an `EXEC_ERROR` is `exec_error` with its exit code, unless the step expects
//! that code, in which case the exec's stdout is the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use dagger_sdk::core::gql_client::GraphQlExtension;
use dagger_sdk::core::graphql_client::GraphQLError;
use dagger_sdk::errors::DaggerError;
use dagger_sdk::{ContainerWithExecOptsBuilder, Query, ReturnType, Selection};

use super::client::{EngineLink, StepClient};
use crate::kinds::samples::{FailureSamples, redact, tail};
use crate::kinds::{PathExecutor, StepReply};
use crate::outcome::OutcomeClass;
use crate::scenario::{CachePolicy, DaggerCall, DaggerOutput, Step, Template};

/// Environment variable that makes each exec unique when the cache is busted.
pub const CACHE_BUST_VAR: &str = "HARNESS_CACHE_BUST";

/// Runs the Dagger steps of one path.
#[derive(Debug)]
pub struct DaggerExecutor {
    link: Arc<EngineLink>,
    cache: CachePolicy,
    nonce: AtomicU64,
    run_tag: u64,
    samples: FailureSamples,
    /// Steps the engine ran (answered at least one of their queries with a GraphQL
    /// reply): each leaves a trace in the engine's telemetry.
    traced: AtomicU64,
}

/// A step's pipeline with every template rendered.
#[derive(Debug, Clone)]
enum Plan {
    Exec {
        from: String,
        env: Vec<(String, String)>,
        mounts: Vec<(String, String)>,
        workdir: Option<String>,
        exec: Vec<String>,
        output: DaggerOutput,
        bust: Option<String>,
    },
    Function {
        name: String,
        args: Vec<(String, String)>,
        select: Vec<String>,
    },
}

/// How a pipeline ended, before classing.
enum Ended {
    Leaf(Bytes, Option<u16>),
    ExitCode(i32),
    Failed(DaggerError),
}

impl DaggerExecutor {
    /// An executor whose queries go over `link`; `run_tag` keeps cache-busting values of
    /// different runs apart.
    pub fn new(link: EngineLink, cache: CachePolicy, run_tag: u64) -> Self {
        Self {
            link: Arc::new(link),
            cache,
            nonce: AtomicU64::new(0),
            run_tag,
            samples: FailureSamples::default(),
            traced: AtomicU64::new(0),
        }
    }

    /// Steps the engine ran so far (see the field).
    pub fn traced_steps(&self) -> u64 {
        self.traced.load(Ordering::Relaxed)
    }

    /// Descriptions of the first failures (engine message, exec stderr tail).
    pub fn failure_samples(&self) -> Vec<String> {
        self.samples.take()
    }

    /// Runs the step's pipeline within `timeout`.
    pub async fn run(
        &self,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        let Some(plan) = step.dagger().and_then(|call| self.plan(call, vars)) else {
            return StepReply::failed(OutcomeClass::CheckFailed, None);
        };
        let client = Arc::new(StepClient::new(self.link.clone(), request_id));
        let query = Query {
            proc: None,
            selection: Selection::default(),
            graphql_client: client.clone(),
        };
        let secrets = plan.secrets();
        let mut task = tokio::spawn(run_plan(query, plan));
        let ended = match tokio::time::timeout(timeout, &mut task).await {
            Err(_) => {
                task.abort();
                return StepReply::failed(OutcomeClass::Timeout, None);
            }
            Ok(Err(join)) => {
                self.samples.push(|| {
                    format!(
                        "step `{}`: the Dagger SDK panicked: {}",
                        step.name,
                        panic_message(join)
                    )
                });
                return StepReply::failed(OutcomeClass::Panic, None);
            }
            Ok(Ok(ended)) => ended,
        };
        if client.answered() {
            self.traced.fetch_add(1, Ordering::Relaxed);
        }
        match ended {
            Ended::Leaf(body, code) => StepReply::ok(code, body),
            Ended::ExitCode(code) if step.accepts_exit(code) => {
                StepReply::ok(u16::try_from(code).ok(), Bytes::new())
            }
            Ended::ExitCode(code) => {
                self.samples
                    .push(|| format!("step `{}`: the exec exited with {code}", step.name));
                StepReply::failed(OutcomeClass::ExecError, u16::try_from(code).ok())
            }
            Ended::Failed(error) => self.failed(step, error, client.failure(), &secrets),
        }
    }

    fn failed(
        &self,
        step: &Step,
        error: DaggerError,
        transport: Option<OutcomeClass>,
        secrets: &[String],
    ) -> StepReply {
        if let Some(class) = transport {
            self.samples
                .push(|| format!("step `{}`: {class}: {}", step.name, first_line(&error)));
            return StepReply::failed(class, None);
        }
        let (class, code, detail) = classify(&error);
        if let (OutcomeClass::ExecError, Some(code)) = (class, code)
            && step.accepts_exit(code)
        {
            // The answer is the stream the step reads, as for an exit code of 0.
            let answer = match step.dagger() {
                Some(DaggerCall::Exec(e)) if e.output == DaggerOutput::Stderr => detail.stderr,
                _ => detail.stdout,
            };
            return StepReply::ok(u16::try_from(code).ok(), Bytes::from(answer));
        }
        self.samples.push(|| {
            let tail = redact(&tail(&detail.stderr), secrets);
            format!(
                "step `{}`: {class}: {}{tail}",
                step.name,
                redact(&detail.message, secrets)
            )
        });
        StepReply::failed(class, code.and_then(|c| u16::try_from(c).ok()))
    }

    fn plan(&self, call: &DaggerCall, vars: &[Option<String>]) -> Option<Plan> {
        let render = |t: &Template| t.render(vars);
        let pairs = |list: &[(String, Template)]| -> Option<Vec<(String, String)>> {
            list.iter()
                .map(|(k, t)| Some((k.clone(), render(t)?)))
                .collect()
        };
        Some(match call {
            DaggerCall::Exec(e) => Plan::Exec {
                from: render(&e.from)?,
                env: pairs(&e.env)?,
                mounts: e
                    .mounts
                    .iter()
                    .map(|(at, host)| (at.clone(), host.display().to_string()))
                    .collect(),
                workdir: e.workdir.clone(),
                exec: e.exec.iter().map(render).collect::<Option<_>>()?,
                output: e.output,
                bust: (self.cache == CachePolicy::Bust).then(|| {
                    let n = self.nonce.fetch_add(1, Ordering::Relaxed);
                    format!("{:x}-{n}", self.run_tag)
                }),
            },
            DaggerCall::Function { name, args, select } => Plan::Function {
                name: name.clone(),
                args: pairs(args)?,
                select: select.clone(),
            },
        })
    }
}

#[async_trait::async_trait]
impl PathExecutor for DaggerExecutor {
    async fn run(
        &self,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        DaggerExecutor::run(self, step, vars, request_id, timeout).await
    }

    fn failure_samples(&self) -> Vec<String> {
        DaggerExecutor::failure_samples(self)
    }
}

impl Plan {
    /// Values that may hold secrets (environment values), to redact from messages.
    fn secrets(&self) -> Vec<String> {
        match self {
            Plan::Exec { env, .. } => env
                .iter()
                .map(|(_, v)| v.clone())
                .filter(|v| v.len() >= 4)
                .collect(),
            Plan::Function { .. } => Vec::new(),
        }
    }
}

/// Builds the pipeline and awaits its leaf.
async fn run_plan(query: Query, plan: Plan) -> Ended {
    match plan {
        Plan::Exec {
            from,
            env,
            mounts,
            workdir,
            exec,
            output,
            bust,
        } => {
            let mut container = query.container().from(from);
            for (name, value) in &env {
                container = container.with_env_variable(name.as_str(), value.as_str());
            }
            for (at, host) in &mounts {
                // The ID is a leaf of its own: the SDK unwraps lazily resolved IDs.
                match query.host().directory(host.as_str()).id().await {
                    Ok(id) => container = container.with_mounted_directory(at.as_str(), id),
                    Err(e) => return Ended::Failed(e),
                }
            }
            if let Some(dir) = &workdir {
                container = container.with_workdir(dir.as_str());
            }
            if let Some(nonce) = &bust {
                container = container.with_env_variable(CACHE_BUST_VAR, nonce.as_str());
            }
            let leaf = match output {
                DaggerOutput::Stdout => container.with_exec(exec).stdout().await,
                DaggerOutput::Stderr => container.with_exec(exec).stderr().await,
                DaggerOutput::ExitCode => {
                    let any = ContainerWithExecOptsBuilder::default()
                        .expect(ReturnType::Any)
                        .build();
                    let Ok(any) = any else {
                        return Ended::Failed(DaggerError::Build(eyre::eyre!(
                            "exec options could not be built"
                        )));
                    };
                    return match container.with_exec_opts(exec, any).exit_code().await {
                        Ok(code) => Ended::ExitCode(i32::try_from(code).unwrap_or(i32::MAX)),
                        Err(e) => Ended::Failed(e),
                    };
                }
            };
            match leaf {
                Ok(text) => Ended::Leaf(Bytes::from(text), Some(0)),
                Err(e) => Ended::Failed(e),
            }
        }
        Plan::Function { name, args, select } => {
            // `myMod.fn`: the module's field, then its function with the arguments.
            let (modules, function) = name.rsplit_once('.').unwrap_or(("", name.as_str()));
            let mut selection = query.selection;
            for module in modules.split('.').filter(|m| !m.is_empty()) {
                selection = selection.select(module);
            }
            let mut selection = selection.select(function);
            for (arg, value) in &args {
                selection = selection.arg(arg, value.as_str());
            }
            for field in &select {
                selection = selection.select(field);
            }
            match selection
                .execute::<serde_json::Value>(query.graphql_client.clone())
                .await
            {
                Ok(serde_json::Value::String(text)) => Ended::Leaf(Bytes::from(text), None),
                Ok(other) => Ended::Leaf(Bytes::from(other.to_string()), None),
                Err(e) => Ended::Failed(e),
            }
        }
    }
}

/// What an SDK error says, for classing and for the failure sample.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorDetail {
    /// The engine's (or the SDK's) message.
    pub message: String,
    /// The exec's stdout, for an exec error.
    pub stdout: String,
    /// The exec's stderr, for an exec error.
    pub stderr: String,
}

/// The class of an SDK error that no transport failure explains, the exit code of an
/// exec error, and the detail.
pub fn classify(error: &DaggerError) -> (OutcomeClass, Option<i32>, ErrorDetail) {
    match error {
        DaggerError::Query(GraphQLError::DomainError { message, fields }) => {
            let exec = fields.iter().find_map(|f| match &f.extensions {
                Some(GraphQlExtension::ExecError {
                    exit_code,
                    stdout,
                    stderr,
                    ..
                }) => Some((*exit_code, stdout.clone(), stderr.clone())),
                _ => None,
            });
            match exec {
                Some((code, stdout, stderr)) => (
                    OutcomeClass::ExecError,
                    Some(code),
                    ErrorDetail {
                        message: format!("exit code {code}"),
                        stdout,
                        stderr,
                    },
                ),
                // The engine could not run the pipeline (an image that does not exist, a
                // function that is not there): the pipeline failed on the engine.
                None => (
                    OutcomeClass::ExecError,
                    None,
                    ErrorDetail {
                        message: message.clone(),
                        ..ErrorDetail::default()
                    },
                ),
            }
        }
        DaggerError::Query(GraphQLError::HttpError(message)) => (
            OutcomeClass::Transport,
            None,
            ErrorDetail {
                message: message.clone(),
                ..ErrorDetail::default()
            },
        ),
        DaggerError::Unpack(e) => (
            OutcomeClass::Unpack,
            None,
            ErrorDetail {
                message: e.to_string(),
                ..ErrorDetail::default()
            },
        ),
        other => (
            OutcomeClass::CheckFailed,
            None,
            ErrorDetail {
                message: other.to_string(),
                ..ErrorDetail::default()
            },
        ),
    }
}

fn first_line(error: &DaggerError) -> String {
    let (_, _, detail) = classify(error);
    detail
        .message
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if !join.is_panic() {
        return "the pipeline task was cancelled".into();
    }
    let payload = join.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
