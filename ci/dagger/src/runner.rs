//! Running a [`PipelineSpec`] through dagger-sdk, with every wait bounded.
//!
//! The SDK is driven with `connect_opts` and [`StderrLogger`] (plain `connect` prints the
//! engine's output to stdout). The session runs inside `tokio::spawn` because the SDK
//! `unwrap`s some malformed replies: a panic there becomes [`GateError::SdkPanic`], not a
//! crash. Opening the session is bounded by `--connect-timeout`; every awaited query (a
//! "leaf") by the `--timeout` deadline. Object IDs (source directory, cache volumes) are
//! fetched as leaves of their own before the container is assembled: the SDK resolves
//! an object argument lazily and `unwrap`s the result, so a failure there would
//! otherwise surface as a panic instead of a named error.
//!
//! The gate's exit code is captured with the SDK's own API rather than a shell wrapper:
//! the gate step runs with `expect: ANY`, so a non-zero exit does not fail the pipeline,
//! and `exitCode` is read from the synced container. That keeps the argv exactly the
//! one in the spec (no `sh -c` quoting) and keeps the gate's stdout and stderr separate.

use std::sync::Arc;
use std::time::Duration;

use dagger_sdk::core::gql_client::GraphQlExtension;
use dagger_sdk::core::graphql_client::GraphQLError;
use dagger_sdk::errors::{ConnectError, DaggerError};
use dagger_sdk::{
    Config, Container, ContainerWithExecOptsBuilder, HostDirectoryOpts, Query, ReturnType,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::engine::{self, EngineEnv, EngineRoute, PathPolicy};
use crate::error::GateError;
use crate::exit;
use crate::logger::StderrLogger;
use crate::pipeline::{EnvVar, PipelineSpec};
use crate::plan::GatePlan;
use crate::probe::{self, ProbeError};

/// How long a finished session may take to shut down before it is dropped: the verdict
/// is already known, and dropping the session closes the CLI's stdin, which ends it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Slack on top of `--timeout` for the SDK's own work between leaves.
const DEADLINE_GRACE: Duration = Duration::from_secs(5);
/// How much of a failed step's stderr is repeated in the error.
const STDERR_TAIL_LINES: usize = 20;

/// What one gate run produced.
#[derive(Debug)]
pub struct GateRun {
    /// `harness gate`'s exit code in the container.
    pub gate_exit: i64,
    /// The gate's stdout.
    pub stdout: String,
    /// The gate's stderr.
    pub stderr: String,
    /// The host path the engine exported the reports to.
    pub exported_to: Option<String>,
    /// The first failure after the verdict was known (reading output, exporting).
    pub late_failure: Option<GateError>,
    /// The engine's version, when the session was probed.
    pub engine_version: Option<String>,
}

impl GateRun {
    /// The process exit code: the gate's own, except that a GO whose output or reports
    /// were lost is an error (a GO without its evidence is not a GO). A non-GO verdict
    /// stands even then: it must not be hidden by a failed export.
    pub fn exit_code(&self) -> u8 {
        match (self.gate_exit, &self.late_failure) {
            (0, Some(_)) => exit::ERROR,
            (code, _) => exit::mirror(code),
        }
    }
}

/// Finds the engine, opens a session and runs `spec` to a verdict.
pub async fn run(
    plan: &GatePlan,
    spec: &PipelineSpec,
    env: &EngineEnv,
) -> Result<GateRun, GateError> {
    let no_engine = |why: String| GateError::NoEngine {
        why,
        phase: plan.phase,
    };
    let route = engine::discover(env, PathPolicy::HintOnly).map_err(|e| no_engine(e.0))?;
    let engine_version = match &route {
        EngineRoute::Session(endpoint) => {
            let version = probe::probe(endpoint, plan.connect_timeout)
                .await
                .map_err(|e| {
                    let what = format!("probing the session at {}", endpoint.address());
                    match e {
                        ProbeError::Unreachable(why) => no_engine(why),
                        ProbeError::Unauthorized(status) => GateError::Unauthorized {
                            endpoint: endpoint.address(),
                            status,
                        },
                        ProbeError::Transport(detail) => GateError::Transport { what, detail },
                        ProbeError::Protocol(detail) => GateError::Protocol { what, detail },
                    }
                })?;
            Some(version)
        }
        // The SDK opens the CLI's session itself; there is nothing to probe before.
        EngineRoute::Cli(_) => None,
    };

    let deadline = Deadline {
        at: Instant::now() + plan.timeout,
        limit: humantime::format_duration(plan.timeout).to_string(),
    };
    let config = Config::builder()
        .logger(Arc::new(StderrLogger))
        .timeout_ms(u64::try_from(plan.connect_timeout.as_millis()).unwrap_or(u64::MAX))
        .build();
    let (connected_tx, connected_rx) = oneshot::channel::<()>();
    let (outcome_tx, mut outcome_rx) = oneshot::channel();
    let pipeline_spec = spec.clone();
    let pipeline_deadline = deadline.clone();
    let mut session = tokio::spawn(dagger_sdk::connect_opts(config, move |client| {
        async move {
            let _ = connected_tx.send(());
            let outcome = run_pipeline(&client, &pipeline_spec, &pipeline_deadline).await;
            let _ = outcome_tx.send(outcome);
            // Our outcome travels through the channel; the SDK only sees success.
            Ok(())
        }
    }));

    match tokio::time::timeout(plan.connect_timeout, connected_rx).await {
        Ok(Ok(())) => {}
        // The SDK returned (or panicked) before handing us a client: its result says why.
        Ok(Err(_)) => {
            return Err(match (&mut session).await {
                Ok(Err(ConnectError::FailedToConnect(e))) => no_engine(format!("{e:#}")),
                Ok(Err(e)) => GateError::Internal(format!("{e:#}")),
                Ok(Ok(())) => {
                    GateError::Internal("the SDK returned without opening a session".into())
                }
                Err(join) => panic_error(join),
            });
        }
        Err(_) => {
            session.abort();
            return Err(no_engine(format!(
                "no engine session opened within --connect-timeout {}",
                humantime::format_duration(plan.connect_timeout)
            )));
        }
    }

    let outcome = match tokio::time::timeout_at(deadline.at + DEADLINE_GRACE, &mut outcome_rx).await
    {
        Ok(Ok(outcome)) => outcome,
        // The pipeline task ended without an outcome: it panicked or was torn down.
        Ok(Err(_)) => {
            let error = match tokio::time::timeout(SHUTDOWN_GRACE, &mut session).await {
                Ok(Err(join)) => panic_error(join),
                Ok(Ok(Err(e))) => GateError::Internal(format!("{e:#}")),
                Ok(Ok(Ok(()))) | Err(_) => {
                    GateError::Internal("the pipeline ended without an outcome".into())
                }
            };
            session.abort();
            return Err(error);
        }
        Err(_) => {
            session.abort();
            return Err(GateError::TimedOut {
                what: "running the pipeline".into(),
                limit: deadline.limit,
            });
        }
    };
    // A failed shutdown of a session that already produced a verdict changes nothing.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut session).await;
    session.abort();
    outcome.map(|mut run| {
        run.engine_version = engine_version;
        run
    })
}

/// Assembles the container from `spec` and runs it; every query is a bounded leaf.
async fn run_pipeline(
    client: &Query,
    spec: &PipelineSpec,
    deadline: &Deadline,
) -> Result<GateRun, GateError> {
    let source = client.host().directory_opts(
        spec.source.host_path.as_str(),
        HostDirectoryOpts {
            exclude: Some(spec.source.exclude.iter().map(String::as_str).collect()),
            gitignore: None,
            include: None,
            no_cache: None,
        },
    );
    let source_id = deadline
        .leaf(format!("uploading {}", spec.source.host_path), source.id())
        .await?;
    let mut container = client
        .container()
        .from(spec.image.as_str())
        .with_mounted_directory(spec.source.mount_path.as_str(), source_id);
    for cache in &spec.caches {
        let cache_id = deadline
            .leaf(
                format!("opening cache volume {}", cache.key),
                client.cache_volume(cache.key.as_str()).id(),
            )
            .await?;
        container = container.with_mounted_cache(cache.path.as_str(), cache_id);
    }
    container = with_env(container.with_workdir(spec.workdir.as_str()), &spec.env);
    for step in &spec.build_steps {
        container = with_env(container, &step.env).with_exec(step.args.clone());
    }
    let any_exit = ContainerWithExecOptsBuilder::default()
        .expect(ReturnType::Any)
        .build()
        .map_err(|e| GateError::Internal(format!("building exec options: {e}")))?;
    let verdict = &spec.verdict_step;
    container = with_env(container, &verdict.env).with_exec_opts(verdict.args.clone(), any_exit);

    // One query evaluates the whole chain: pull, mount, build, gate.
    let ran = deadline
        .leaf("running the pipeline (build, then gate)", container.sync())
        .await?;
    let gate_exit = deadline
        .leaf("reading the gate's exit code", ran.exit_code())
        .await?;
    let gate_exit = i64::try_from(gate_exit).map_err(|e| GateError::Protocol {
        what: "reading the gate's exit code".into(),
        detail: e.to_string(),
    })?;

    let mut run = GateRun {
        gate_exit,
        stdout: String::new(),
        stderr: String::new(),
        exported_to: None,
        late_failure: None,
        engine_version: None,
    };
    // From here on the verdict is known: a failure is recorded, not returned, so it can
    // never hide a NO-GO or a ROLLBACK (see GateRun::exit_code).
    match deadline
        .leaf("reading the gate's stdout", ran.stdout())
        .await
    {
        Ok(text) => run.stdout = text,
        Err(e) => run.late_failure = Some(e),
    }
    match deadline
        .leaf("reading the gate's stderr", ran.stderr())
        .await
    {
        Ok(text) => run.stderr = text,
        Err(e) => {
            run.late_failure.get_or_insert(e);
        }
    }
    let reports = ran.directory(spec.export.container_path.as_str());
    let export = reports.export(spec.export.host_path.as_str());
    match deadline
        .leaf(
            format!("exporting reports to {}", spec.export.host_path),
            export,
        )
        .await
    {
        Ok(path) => run.exported_to = Some(path),
        Err(e) => {
            run.late_failure.get_or_insert(e);
        }
    }
    Ok(run)
}

fn with_env(container: Container, env: &[EnvVar]) -> Container {
    env.iter().fold(container, |c, var| {
        c.with_env_variable(var.name.as_str(), var.value.as_str())
    })
}

/// The `--timeout` deadline shared by every leaf.
#[derive(Debug, Clone)]
struct Deadline {
    at: Instant,
    limit: String,
}

impl Deadline {
    /// Awaits one SDK query, bounded by the deadline, and names it in any error.
    async fn leaf<T>(
        &self,
        what: impl Into<String>,
        query: impl Future<Output = Result<T, DaggerError>>,
    ) -> Result<T, GateError> {
        let what = what.into();
        match tokio::time::timeout_at(self.at, query).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(classify(what, error)),
            Err(_) => Err(GateError::TimedOut {
                what,
                limit: self.limit.clone(),
            }),
        }
    }
}

/// Names an SDK error: an exec failure, a transport failure, an unreadable reply, or an
/// engine error.
fn classify(what: String, error: DaggerError) -> GateError {
    match error {
        DaggerError::Query(GraphQLError::HttpError(detail)) => {
            // The SDK parses the body before it looks at the status, so an empty or
            // non-JSON reply (a 401 from a wrong token, a proxy page) arrives as this.
            if let Some(message) = refused_as_invalid(&detail) {
                // The SDK cannot type gqlgen's `extensions.code`, so the engine's 422 for
                // a query its schema does not know arrives as a parse failure.
                GateError::Engine {
                    what,
                    message: format!(
                        "it refused the query as invalid GraphQL ({message}): this gate asks for something the engine's schema lacks (an engine older or newer than dagger-sdk {})",
                        dagger_sdk::core::DAGGER_ENGINE_VERSION
                    ),
                }
            } else if detail.starts_with("Failed to parse response") {
                GateError::Protocol { what, detail }
            } else {
                GateError::Transport {
                    what,
                    detail: format!("{detail} (the engine closed the connection or went away)"),
                }
            }
        }
        DaggerError::Query(GraphQLError::DomainError { message, fields }) => fields
            .into_iter()
            .find_map(|field| match field.extensions {
                Some(GraphQlExtension::ExecError {
                    cmd,
                    exit_code,
                    stderr,
                    ..
                }) => Some(GateError::StepFailed {
                    command: cmd.join(" "),
                    exit_code,
                    stderr_tail: tail(&stderr, STDERR_TAIL_LINES),
                }),
                _ => None,
            })
            .unwrap_or(GateError::Engine { what, message }),
        DaggerError::Unpack(error) => GateError::Protocol {
            what,
            detail: error_chain(&error),
        },
        other => GateError::Engine {
            what,
            message: error_chain(&other),
        },
    }
}

/// The engine's message when an SDK parse failure quotes a reply refusing the query
/// before running it (gqlgen's `GRAPHQL_VALIDATION_FAILED` or `GRAPHQL_PARSE_FAILED`).
fn refused_as_invalid(detail: &str) -> Option<String> {
    let body = detail.split_once("The response body is: ")?.1;
    let reply: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    let error = reply.get("errors")?.get(0)?;
    let code = error.pointer("/extensions/code")?.as_str()?;
    if !matches!(code, "GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED") {
        return None;
    }
    let message = error.get("message")?.as_str()?;
    Some(format!("{code}: {message}"))
}

/// The last `lines` lines of `text`, each indented, after a newline; empty for no text.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..]
        .iter()
        .map(|line| format!("\n    {line}"))
        .collect()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn panic_error(join: tokio::task::JoinError) -> GateError {
    if !join.is_panic() {
        return GateError::Internal("the engine session task was cancelled".into());
    }
    let payload = join.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    GateError::SdkPanic { message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "\n    b\n    c");
        assert_eq!(tail("", 2), "");
    }

    #[test]
    fn a_go_without_its_reports_is_an_error_but_a_rollback_stands() {
        let late = || {
            Some(GateError::Transport {
                what: "exporting reports".into(),
                detail: "closed".into(),
            })
        };
        let run = |gate_exit, late_failure| GateRun {
            gate_exit,
            stdout: String::new(),
            stderr: String::new(),
            exported_to: None,
            late_failure,
            engine_version: None,
        };
        assert_eq!(run(0, None).exit_code(), exit::GO);
        assert_eq!(run(0, late()).exit_code(), exit::ERROR);
        assert_eq!(run(4, late()).exit_code(), exit::ROLLBACK);
        assert_eq!(run(3, None).exit_code(), exit::NO_GO);
    }

    #[test]
    fn an_empty_401_body_is_an_unreadable_reply_not_a_transport_error() {
        let error = classify(
            "x".into(),
            DaggerError::Query(GraphQLError::HttpError(
                "Failed to parse response: EOF. The response body is: ".into(),
            )),
        );
        assert!(matches!(error, GateError::Protocol { .. }));
    }
}
