//! The rollback hook: a command from the phase plan, run only when a phase decides
//! ROLLBACK, so that CI can switch feature flags back or page someone.
//!
//! The command is run with `sh -c COMMAND` (not split by the harness): CI authors write
//! hooks the way they write CI steps, with pipes, `&&` and `"$HARNESS_SIGNAL"`. It gets
//! `HARNESS_SIGNAL` (absolute path of `signal.json`), `HARNESS_GATE_PHASE`,
//! `HARNESS_GATE_DECISION` and `HARNESS_GATE_REPORT` in its environment, no standard
//! input, and a timeout after which its whole process group is killed. Its exit status
//! and the first [`OUTPUT_LIMIT`] bytes of each output stream are kept in the gate
//! result. With `--dry-run` nothing is run: the report says what would have run.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::compare::Verdict;

/// Bytes of standard output and of standard error kept from a hook.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// Whether the hook runs or is only described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookMode {
    /// Run it (on ROLLBACK).
    Run,
    /// `--dry-run`: say what would run, run nothing.
    DryRun,
}

/// A hook to run, and what it is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook<'a> {
    /// The command, given to `sh -c`.
    pub command: &'a str,
    /// Killed (with its process group) after this long.
    pub timeout: Duration,
    /// The signal file (`HARNESS_SIGNAL`).
    pub signal: &'a Path,
    /// The gate's report folder (`HARNESS_GATE_REPORT`).
    pub report: &'a Path,
    /// The phase number (`HARNESS_GATE_PHASE`).
    pub phase: u8,
}

/// What happened to the hook, for `gate.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HookReport {
    /// Not run: the decision was not ROLLBACK.
    Skipped {
        /// The command.
        command: String,
        /// Why it did not run.
        reason: String,
    },
    /// `--dry-run`: this is what would have run on ROLLBACK.
    DryRun {
        /// The command.
        command: String,
        /// The program and arguments that would have been started.
        argv: Vec<String>,
        /// The environment it would have been given (besides the inherited one).
        env: Vec<(String, String)>,
    },
    /// It ran.
    Ran {
        /// The command.
        command: String,
        /// Its exit code; `None` when a signal ended it (or the timeout did).
        exit_code: Option<i32>,
        /// Whether it exited with status 0 within the timeout.
        success: bool,
        /// Whether the timeout killed it.
        timed_out: bool,
        /// How long it ran, in milliseconds.
        duration_ms: u64,
        /// Its standard output (lossy UTF-8, at most [`OUTPUT_LIMIT`] bytes).
        stdout: String,
        /// Its standard error (lossy UTF-8, at most [`OUTPUT_LIMIT`] bytes).
        stderr: String,
        /// Whether either stream was cut at [`OUTPUT_LIMIT`].
        truncated: bool,
    },
    /// It could not be started.
    FailedToStart {
        /// The command.
        command: String,
        /// What the operating system said.
        error: String,
    },
}

impl HookReport {
    /// Whether the hook was started.
    pub fn ran(&self) -> bool {
        matches!(self, HookReport::Ran { .. })
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            HookReport::Skipped { command, reason } => {
                format!("hook `{command}` not run: {reason}")
            }
            HookReport::DryRun { command, .. } => {
                format!(
                    "dry run: hook `{command}` would run (sh -c) with HARNESS_SIGNAL set; nothing was run"
                )
            }
            HookReport::Ran {
                command,
                exit_code,
                timed_out,
                duration_ms,
                ..
            } => match (timed_out, exit_code) {
                (true, _) => {
                    format!("hook `{command}` timed out after {duration_ms} ms and was killed")
                }
                (false, Some(code)) => {
                    format!("hook `{command}` exited with {code} after {duration_ms} ms")
                }
                (false, None) => {
                    format!("hook `{command}` was ended by a signal after {duration_ms} ms")
                }
            },
            HookReport::FailedToStart { command, error } => {
                format!("hook `{command}` could not be started: {error}")
            }
        }
    }
}

/// Whether a phase decision runs the hook: only ROLLBACK does.
pub fn should_run(decision: Verdict) -> bool {
    decision == Verdict::Rollback
}

/// The environment a hook is given.
fn environment(hook: &Hook<'_>, decision: Verdict) -> Vec<(String, String)> {
    vec![
        ("HARNESS_SIGNAL".into(), hook.signal.display().to_string()),
        ("HARNESS_GATE_PHASE".into(), hook.phase.to_string()),
        ("HARNESS_GATE_DECISION".into(), decision.to_string()),
        (
            "HARNESS_GATE_REPORT".into(),
            hook.report.display().to_string(),
        ),
    ]
}

/// Runs `hook` if `decision` is ROLLBACK and `mode` is [`HookMode::Run`]; otherwise
/// reports why not (or what would have run).
pub fn run_hook(hook: &Hook<'_>, decision: Verdict, mode: HookMode) -> HookReport {
    let command = hook.command.to_string();
    if !should_run(decision) {
        return HookReport::Skipped {
            command,
            reason: format!("the decision is {decision}; the hook runs only on ROLLBACK"),
        };
    }
    let env = environment(hook, decision);
    if mode == HookMode::DryRun {
        return HookReport::DryRun {
            argv: vec!["sh".into(), "-c".into(), command.clone()],
            command,
            env,
        };
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(hook.command)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so the timeout can kill what the shell started too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return HookReport::FailedToStart {
                command,
                error: format!("{e} (the hook runs with `sh -c`; is `sh` on PATH?)"),
            };
        }
    };
    let (done_tx, done_rx) = mpsc::channel();
    let stdout = capture(child.stdout.take(), done_tx.clone());
    let stderr = capture(child.stderr.take(), done_tx);
    let (status, timed_out) = wait_with_timeout(&mut child, hook.timeout);
    // Readers end when every holder of the pipes has exited; a grandchild that escaped
    // the process group could hold them open, so their wait is bounded too.
    let grace = Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        if done_rx
            .recv_timeout(grace.saturating_duration_since(Instant::now()))
            .is_err()
        {
            break;
        }
    }
    let (stdout, cut_out) = taken(&stdout);
    let (stderr, cut_err) = taken(&stderr);
    let exit_code = status.and_then(|s| s.code());
    HookReport::Ran {
        command,
        exit_code,
        success: !timed_out && exit_code == Some(0),
        timed_out,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        stdout,
        stderr,
        truncated: cut_out || cut_err,
    }
}

/// What a reader thread has kept: the bytes, and whether more were cut.
type Kept = Arc<Mutex<(Vec<u8>, bool)>>;

/// Reads `stream` to its end on a thread, keeping the first [`OUTPUT_LIMIT`] bytes; the
/// rest is read and dropped so that the hook never blocks on a full pipe.
fn capture(stream: Option<impl Read + Send + 'static>, done: mpsc::Sender<()>) -> Kept {
    let kept: Kept = Arc::new(Mutex::new((Vec::new(), false)));
    let Some(mut stream) = stream else {
        let _ = done.send(());
        return kept;
    };
    let shared = Arc::clone(&kept);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Ok(mut k) = shared.lock() {
                        let room = OUTPUT_LIMIT.saturating_sub(k.0.len());
                        k.1 |= n > room;
                        k.0.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        // The receiver may have given up waiting; that is fine.
        let _ = done.send(());
    });
    kept
}

/// The text kept so far and whether it was cut.
fn taken(kept: &Kept) -> (String, bool) {
    kept.lock().map_or((String::new(), false), |k| {
        (String::from_utf8_lossy(&k.0).into_owned(), k.1)
    })
}

/// Waits for `child` at most `timeout`; past it, kills its process group.
fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), false),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(child);
                return (child.wait().ok(), true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return (child.wait().ok(), false),
        }
    }
}

/// Kills the hook and everything in its process group.
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        // The shell's `kill` builtin takes a negative id for a process group; std has no
        // portable call for it and the crate takes no libc dependency for one line.
        let _ = Command::new("sh")
            .args(["-c", "kill -KILL -- \"-$1\"", "sh"])
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook<'a>(command: &'a str, dir: &'a Path, timeout: Duration) -> Hook<'a> {
        Hook {
            command,
            timeout,
            signal: dir,
            report: dir,
            phase: 3,
        }
    }

    #[test]
    fn the_hook_runs_only_on_rollback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("marker");
        let command = format!(
            "printf '%s %s' \"$HARNESS_SIGNAL\" \"$HARNESS_GATE_PHASE\" >> '{}'",
            marker.display()
        );
        let signal = dir.path().join("signal.json");
        let h = Hook {
            signal: &signal,
            ..hook(&command, dir.path(), Duration::from_secs(10))
        };
        for verdict in [Verdict::Go, Verdict::NoGo, Verdict::Inconclusive] {
            let report = run_hook(&h, verdict, HookMode::Run);
            assert!(matches!(report, HookReport::Skipped { .. }), "{report:?}");
            assert!(!report.ran());
            assert!(!marker.exists(), "the hook ran on {verdict}");
        }
        let report = run_hook(&h, Verdict::Rollback, HookMode::Run);
        assert!(report.ran(), "{report:?}");
        assert!(matches!(
            report,
            HookReport::Ran {
                success: true,
                exit_code: Some(0),
                ..
            }
        ));
        let seen = std::fs::read_to_string(&marker).expect("the hook wrote its marker");
        assert_eq!(seen, format!("{} 3", signal.display()));
    }

    #[test]
    fn a_dry_run_runs_nothing_and_says_what_would_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("marker");
        let command = format!("touch '{}'", marker.display());
        let h = hook(&command, dir.path(), Duration::from_secs(10));
        let report = run_hook(&h, Verdict::Rollback, HookMode::DryRun);
        let HookReport::DryRun { argv, env, .. } = &report else {
            panic!("{report:?}");
        };
        assert_eq!(argv[..2], ["sh".to_string(), "-c".to_string()]);
        assert!(env.iter().any(|(k, _)| k == "HARNESS_SIGNAL"));
        assert!(report.describe().contains("dry run"));
        assert!(!marker.exists(), "a dry run ran the hook");
    }

    #[test]
    fn exit_status_and_output_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = hook(
            "echo out; echo err >&2; exit 3",
            dir.path(),
            Duration::from_secs(10),
        );
        match run_hook(&h, Verdict::Rollback, HookMode::Run) {
            HookReport::Ran {
                exit_code,
                success,
                stdout,
                stderr,
                truncated,
                ..
            } => {
                assert_eq!(exit_code, Some(3));
                assert!(!success);
                assert_eq!(stdout, "out\n");
                assert_eq!(stderr, "err\n");
                assert!(!truncated);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn output_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = hook(
            "head -c 200000 /dev/zero | tr '\\0' x",
            dir.path(),
            Duration::from_secs(10),
        );
        match run_hook(&h, Verdict::Rollback, HookMode::Run) {
            HookReport::Ran {
                stdout,
                truncated,
                success,
                ..
            } => {
                assert!(success);
                assert!(truncated);
                assert_eq!(stdout.len(), OUTPUT_LIMIT);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = hook(
            "sleep 30 & sleep 30; echo late",
            dir.path(),
            Duration::from_millis(300),
        );
        let started = Instant::now();
        let report = run_hook(&h, Verdict::Rollback, HookMode::Run);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        match &report {
            HookReport::Ran {
                timed_out,
                success,
                stdout,
                ..
            } => {
                assert!(timed_out);
                assert!(!success);
                assert!(stdout.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(report.describe().contains("timed out"));
    }
}
