//! Command paths: each step runs a local command, the legacy way a pipeline step ran.
//!
//! The command starts with the path's working directory and extra environment, no
//! stdin, and is killed when the per-request timeout passes (`timeout`). Its exit code
//! is the outcome's status; a code the step does not expect (default: anything but 0),
//! or death by a signal, is `exec_error`; a program that cannot be started is
//! `exec_error` without a code. Stdout (the first 1 MiB) is what the step's extractions
//! read. The first few failures are kept with the tail of their stderr, secrets
//! redacted, for the run record's notes.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::samples::{FailureSamples, redact, tail};
use super::{DriveSetup, PathError, PathExecutor, ReadyPath, StepReply};
use crate::outcome::OutcomeClass;
use crate::scenario::{CommandTarget, Step};

/// Most stdout kept per command (the rest is read and dropped so the child never blocks).
const STDOUT_CAP: usize = 1 << 20;
/// Most stderr kept per command, for failure samples.
const STDERR_CAP: usize = 64 << 10;

/// Runs the command steps of one path.
pub struct CommandExecutor {
    workdir: PathBuf,
    env: Vec<(String, String)>,
    secrets: Vec<String>,
    samples: FailureSamples,
}

impl std::fmt::Debug for CommandExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Environment values may be secrets: names only.
        f.debug_struct("CommandExecutor")
            .field("workdir", &self.workdir)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl CommandExecutor {
    /// An executor for a `kind = "command"` path.
    pub fn new(target: &CommandTarget) -> Self {
        let secrets = target
            .env
            .iter()
            .filter(|(_, v)| v.has_secret() && !v.resolved.is_empty())
            .map(|(_, v)| v.resolved.clone())
            .collect();
        Self {
            workdir: target.workdir.clone(),
            env: target
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.resolved.clone()))
                .collect(),
            secrets,
            samples: FailureSamples::default(),
        }
    }

    /// Descriptions of the first failures (exit code and stderr tail, secrets redacted).
    pub fn failure_samples(&self) -> Vec<String> {
        self.samples.take()
    }

    /// Runs the step's command within `timeout`.
    pub(super) async fn run(
        &self,
        step: &Step,
        vars: &[Option<String>],
        timeout: Duration,
    ) -> StepReply {
        let argv: Option<Vec<String>> = step
            .command()
            .and_then(|parts| parts.iter().map(|p| p.render(vars)).collect());
        let Some((program, args)) = argv.as_deref().and_then(<[String]>::split_first) else {
            return StepReply::failed(OutcomeClass::CheckFailed, None);
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(&self.workdir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                self.samples
                    .push(|| format!("step `{}`: `{program}` could not start: {e}", step.name));
                return StepReply::failed(OutcomeClass::ExecError, None);
            }
        };
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return StepReply::failed(OutcomeClass::Transport, None);
        };
        let finished = async {
            let (out, err, status) = tokio::join!(
                read_capped(stdout, STDOUT_CAP),
                read_capped(stderr, STDERR_CAP),
                child.wait()
            );
            (out, err, status)
        };
        // On timeout the future is dropped with the child, which kills it.
        let Ok((out, err, status)) = tokio::time::timeout(timeout, finished).await else {
            return StepReply::failed(OutcomeClass::Timeout, None);
        };
        let status = match status {
            Ok(status) => status,
            Err(_) => return StepReply::failed(OutcomeClass::Transport, None),
        };
        match status.code() {
            Some(code) if step.accepts_exit(code) => {
                StepReply::ok(u16::try_from(code).ok(), Bytes::from(out))
            }
            code => {
                self.samples.push(|| {
                    let how = code.map_or("was killed by a signal".to_string(), |c| {
                        format!("exited with {c}")
                    });
                    let tail = redact(&tail(&String::from_utf8_lossy(&err)), &self.secrets);
                    format!("step `{}`: `{program}` {how}{tail}", step.name)
                });
                StepReply::failed(
                    OutcomeClass::ExecError,
                    code.and_then(|c| u16::try_from(c).ok()),
                )
            }
        }
    }
}

#[async_trait::async_trait]
impl PathExecutor for CommandExecutor {
    async fn run(
        &self,
        step: &Step,
        vars: &[Option<String>],
        _request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        CommandExecutor::run(self, step, vars, timeout).await
    }

    fn failure_samples(&self) -> Vec<String> {
        CommandExecutor::failure_samples(self)
    }
}

/// A `kind = "command"` path.
#[derive(Debug)]
pub struct CommandPath {
    target: CommandTarget,
}

impl CommandPath {
    /// A path whose steps run as local commands as `target` says.
    pub fn new(target: &CommandTarget) -> Self {
        Self {
            target: target.clone(),
        }
    }
}

impl ReadyPath for CommandPath {
    fn upstream(&self) -> Option<String> {
        None
    }

    fn executor(&self, _drive: &DriveSetup<'_>) -> Result<Arc<dyn PathExecutor>, PathError> {
        Ok(Arc::new(CommandExecutor::new(&self.target)))
    }
}

/// Reads `reader` to its end, keeping the first `cap` bytes.
async fn read_capped(mut reader: impl AsyncRead + Unpin, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buffer[..room]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Interpolated, StepAction, Template};

    fn step(argv: &[&str], expect_exit: Vec<i32>) -> Step {
        Step {
            name: "s".into(),
            index: 0,
            actions: vec![StepAction::Command(
                argv.iter().map(|a| Template::literal(*a)).collect(),
            )],
            expect_exit,
            extract: vec![],
            checks: vec![],
            safe: true,
            keep_answer: false,
            keep_headers: Vec::new(),
        }
    }

    fn executor() -> CommandExecutor {
        CommandExecutor::new(&CommandTarget {
            workdir: PathBuf::from("."),
            env: vec![(
                "TOKEN".into(),
                Interpolated {
                    template: "${TOKEN}".into(),
                    resolved: "s3cr3t-value".into(),
                },
            )],
        })
    }

    #[tokio::test]
    async fn exit_codes_stdout_timeouts_and_missing_programs_are_classed() {
        let e = executor();
        let second = Duration::from_secs(5);
        let ok = e
            .run(
                &step(&["sh", "-c", "echo '{\"id\":7}'"], vec![]),
                &[],
                second,
            )
            .await;
        assert_eq!(ok.failure, None);
        assert_eq!(ok.status, Some(0));
        assert_eq!(&ok.body[..], b"{\"id\":7}\n");

        let failed = e
            .run(
                &step(&["sh", "-c", "echo \"$TOKEN\" >&2; exit 3"], vec![]),
                &[],
                second,
            )
            .await;
        assert_eq!(failed.failure, Some(OutcomeClass::ExecError));
        assert_eq!(failed.status, Some(3));
        let samples = e.failure_samples();
        assert_eq!(samples.len(), 1, "{samples:?}");
        assert!(samples[0].contains("exited with 3"), "{samples:?}");
        assert!(
            samples[0].contains("***") && !samples[0].contains("s3cr3t"),
            "{samples:?}"
        );

        let accepted = e
            .run(&step(&["sh", "-c", "exit 3"], vec![0, 3]), &[], second)
            .await;
        assert_eq!((accepted.failure, accepted.status), (None, Some(3)));

        let slow = e
            .run(
                &step(&["sleep", "5"], vec![]),
                &[],
                Duration::from_millis(100),
            )
            .await;
        assert_eq!(slow.failure, Some(OutcomeClass::Timeout));

        let missing = e
            .run(&step(&["/nonexistent/program"], vec![]), &[], second)
            .await;
        assert_eq!(
            (missing.failure, missing.status),
            (Some(OutcomeClass::ExecError), None)
        );
    }

    #[tokio::test]
    async fn stdout_beyond_the_cap_is_drained_not_kept() {
        let e = executor();
        let big = e
            .run(
                &step(&["sh", "-c", "head -c 3000000 /dev/zero"], vec![]),
                &[],
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(big.failure, None);
        assert_eq!(big.body.len(), STDOUT_CAP);
    }
}
