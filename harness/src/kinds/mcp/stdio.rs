//! The stdio transport: one child process per session, newline-delimited JSON-RPC on
//! its stdin and stdout; ending the session ends the child.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

use super::wire::{self, Line, Read, Reply};
use crate::outcome::OutcomeClass;

/// A running server of one session.
#[derive(Debug)]
pub(super) struct StdioServer {
    // Held so that dropping the session kills the child (`kill_on_drop`).
    _child: Child,
    pipe: Mutex<Pipe>,
}

#[derive(Debug)]
struct Pipe {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl StdioServer {
    /// Starts `argv` in `workdir`; its stderr is dropped.
    pub(super) fn spawn(argv: &[String], workdir: &Path) -> Result<Self, String> {
        let (program, args) = argv.split_first().ok_or("no program")?;
        let mut child = Command::new(program)
            .args(args)
            .current_dir(workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("`{program}` did not start: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the server's pipes could not be opened".into());
        };
        Ok(Self {
            _child: child,
            pipe: Mutex::new(Pipe {
                stdin,
                stdout: BufReader::new(stdout),
            }),
        })
    }

    /// Sends `message`; with an `id`, reads lines until its response (within `timeout`).
    pub(super) async fn exchange(
        &self,
        message: &Value,
        id: Option<u64>,
        tool_call: bool,
        timeout: Duration,
    ) -> Result<Read, OutcomeClass> {
        let mut pipe = self.pipe.lock().await;
        let work = async {
            let mut line = message.to_string();
            line.push('\n');
            pipe.stdin
                .write_all(line.as_bytes())
                .await
                .map_err(|_| OutcomeClass::Reset)?;
            pipe.stdin.flush().await.map_err(|_| OutcomeClass::Reset)?;
            let Some(id) = id else {
                return Ok(Read {
                    reply: Reply::Result(Value::Null),
                    progress: 0,
                });
            };
            let mut progress = 0;
            let mut text = String::new();
            loop {
                text.clear();
                let n = pipe
                    .stdout
                    .read_line(&mut text)
                    .await
                    .map_err(|_| OutcomeClass::Reset)?;
                if n == 0 {
                    return Ok(Read {
                        reply: Reply::Protocol(format!(
                            "the server's output ended without the response to request {id}"
                        )),
                        progress,
                    });
                }
                if text.trim().is_empty() {
                    continue;
                }
                match wire::read_line(text.trim(), id, tool_call) {
                    Line::Progress => progress += 1,
                    Line::Other => {}
                    Line::Answer(reply) => return Ok(Read { reply, progress }),
                }
            }
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(OutcomeClass::Timeout))
    }
}
