//! Opening an engine session the harness can load-test through.
//!
//! A session opened elsewhere (`dagger run`, a CI service) is used as it is, once its port
//! answers. Otherwise the harness starts `<cli> session` itself, as the SDK would, and
//! reads the port and token it prints; that keeps the engine's chatter off our stdout
//! (its stderr is kept, the last lines only, for the error message), lets the session's
//! environment carry the OTLP endpoint for telemetry, and never downloads a CLI. The
//! child ends when the session is closed or dropped.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin};

use super::engine::{EngineRoute, SessionEndpoint};

/// Lines of the CLI's stderr kept for an error message.
const STDERR_LINES: usize = 20;

/// An open session.
#[derive(Debug)]
pub struct EngineSession {
    /// Where the session listens and its token.
    pub endpoint: SessionEndpoint,
    /// How it was reached, for the record (`DAGGER_SESSION_PORT` or the CLI's path).
    pub route: String,
    /// True when the harness started the session (and could pass it an environment).
    pub started_here: bool,
    child: Option<SessionChild>,
}

#[derive(Debug)]
struct SessionChild {
    child: Child,
    // Closing stdin tells `dagger session` to end.
    stdin: Option<ChildStdin>,
}

/// Why no session could be opened: the engine is not reachable from here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

impl EngineSession {
    /// Opens a session on `route` within `timeout`; `options` apply to a CLI the harness
    /// starts (a session opened elsewhere is used as it is).
    pub async fn open(
        route: &EngineRoute,
        timeout: Duration,
        options: &CliOptions,
    ) -> Result<Self, Unreachable> {
        match route {
            EngineRoute::Session(endpoint) => {
                let address = endpoint.address();
                match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await
                {
                    Ok(Ok(_)) => Ok(Self {
                        endpoint: endpoint.clone(),
                        route: "DAGGER_SESSION_PORT".into(),
                        started_here: false,
                        child: None,
                    }),
                    Ok(Err(e)) => Err(Unreachable(format!(
                        "DAGGER_SESSION_PORT={} but nothing answers on {address}: {e}",
                        endpoint.port
                    ))),
                    Err(_) => Err(Unreachable(format!(
                        "DAGGER_SESSION_PORT={} but {address} did not accept a connection within {}",
                        endpoint.port,
                        humantime::format_duration(timeout)
                    ))),
                }
            }
            EngineRoute::Cli(bin) => start_cli(bin, timeout, options).await,
        }
    }

    /// Ends a session the harness started (a session opened elsewhere is left running).
    pub async fn close(mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            if tokio::time::timeout(Duration::from_secs(10), child.child.wait())
                .await
                .is_err()
            {
                let _ = child.child.kill().await;
            }
        }
    }
}

/// How the harness starts `dagger session`.
#[derive(Debug, Clone, Default)]
pub struct CliOptions {
    /// Extra environment of the session (for instance the OTLP endpoint).
    pub env: Vec<(String, String)>,
    /// Serve the workspace's modules, so that steps can call module functions by name.
    pub load_workspace_modules: bool,
}

async fn start_cli(
    bin: &Path,
    timeout: Duration,
    options: &CliOptions,
) -> Result<EngineSession, Unreachable> {
    let mut args = vec![
        "session",
        "--label",
        "dagger.io/sdk.name:rust",
        "--label",
        "dagger.io/sdk.client:harness",
    ];
    if options.load_workspace_modules {
        args.push("--load-workspace-modules");
    }
    let mut command = tokio::process::Command::new(bin);
    command
        .args(args)
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // A CLI written a moment ago can still be open for writing in a process that forked
    // meanwhile (ETXTBSY until that process execs): wait a little rather than fail.
    let mut attempts = 0;
    let mut child = loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 10 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => {
                break other.map_err(|e| {
                    Unreachable(format!("`{} session` could not start: {e}", bin.display()))
                })?;
            }
        }
    };
    let stdin = child.stdin.take();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Unreachable(
            "the Dagger CLI's output could not be read".into(),
        ));
    };
    let last_lines = Arc::new(Mutex::new(VecDeque::new()));
    tokio::spawn(keep_last_lines(stderr, last_lines.clone()));
    let params = tokio::time::timeout(timeout, read_connect_params(stdout)).await;
    let failure = |why: String| {
        let tail: Vec<String> = last_lines
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!("; its last words: {}", tail.join(" | "))
        };
        Unreachable(format!("`{} session` {why}{tail}", bin.display()))
    };
    match params {
        Ok(Some(endpoint)) => Ok(EngineSession {
            endpoint,
            route: bin.display().to_string(),
            started_here: true,
            child: Some(SessionChild { child, stdin }),
        }),
        Ok(None) => Err(failure("ended without opening a session".into())),
        Err(_) => Err(failure(format!(
            "did not open a session within {}",
            humantime::format_duration(timeout)
        ))),
    }
}

/// The first stdout line that is `{"port": N, "session_token": "..."}`; later output is
/// drained so the CLI never blocks on a full pipe.
async fn read_connect_params(stdout: tokio::process::ChildStdout) -> Option<SessionEndpoint> {
    #[derive(serde::Deserialize)]
    struct Params {
        port: u16,
        session_token: String,
    }
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(p) = serde_json::from_str::<Params>(line.trim()) {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Some(SessionEndpoint {
                port: p.port,
                token: p.session_token,
            });
        }
    }
    None
}

async fn keep_last_lines(stderr: tokio::process::ChildStderr, last: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut last) = last.lock() {
            if last.len() == STDERR_LINES {
                last.pop_front();
            }
            last.push_back(line);
        }
    }
}

/// How to provide an engine, for the "skipped: no Dagger engine" message.
pub const HOW_TO_PROVIDE: &str = "run the command under `dagger run` (which sets DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN), set _EXPERIMENTAL_DAGGER_CLI_BIN to a Dagger CLI, or put `dagger` on PATH";

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A child (`install -m 755`) makes the executable so this process never holds it open
    /// for writing: such a descriptor leaks into a child another test thread forks at that
    /// moment, and running the script then fails with ETXTBSY.
    fn script(dir: &Path, body: &str) -> PathBuf {
        let source = dir.join("dagger.text");
        let file = dir.join("dagger");
        std::fs::write(&source, format!("#!/bin/sh\n{body}\n")).expect("write");
        let status = std::process::Command::new("install")
            .args(["-m", "755"])
            .arg(&source)
            .arg(&file)
            .status()
            .expect("run install");
        assert!(status.success(), "install {}", file.display());
        file
    }

    #[tokio::test]
    async fn a_cli_session_is_read_from_its_first_json_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = script(
            dir.path(),
            r#"echo "starting engine" >&2
echo 'not json'
echo "{\"port\": 4711, \"session_token\": \"$SESSION_TEST\"}"
cat >/dev/null"#,
        );
        let options = CliOptions {
            env: vec![("SESSION_TEST".to_string(), "tok-1".to_string())],
            load_workspace_modules: false,
        };
        let session = EngineSession::open(&EngineRoute::Cli(bin), Duration::from_secs(5), &options)
            .await
            .expect("session");
        assert_eq!(session.endpoint.port, 4711);
        assert_eq!(session.endpoint.token, "tok-1");
        assert!(session.started_here);
        session.close().await;
    }

    #[tokio::test]
    async fn a_cli_that_fails_is_unreachable_with_its_last_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = script(dir.path(), "echo 'cannot reach docker' >&2; exit 1");
        let why = EngineSession::open(
            &EngineRoute::Cli(bin),
            Duration::from_secs(5),
            &CliOptions::default(),
        )
        .await
        .expect_err("unreachable");
        assert!(why.0.contains("ended without opening a session"), "{why}");
        // The stderr reader may lose the race with the exit; the reason stands either way.
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = script(dir.path(), "sleep 5");
        let why = EngineSession::open(
            &EngineRoute::Cli(bin),
            Duration::from_millis(200),
            &CliOptions::default(),
        )
        .await
        .expect_err("too slow");
        assert!(why.0.contains("did not open a session within"), "{why}");
    }

    #[tokio::test]
    async fn a_session_port_that_nothing_answers_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let route = EngineRoute::Session(SessionEndpoint {
            port,
            token: "t".into(),
        });
        let why = EngineSession::open(&route, Duration::from_secs(2), &CliOptions::default())
            .await
            .expect_err("closed port");
        assert!(why.0.contains("nothing answers"), "{why}");
    }
}
