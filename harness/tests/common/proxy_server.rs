//! `harness proxy` as a child process for the control API tests: started with the given
//! arguments, its `control:` (and `proxy:`) URL read from standard output, killed when
//! dropped; and raw HTTP/1.1 exchanges, so a test controls every header byte.
// Each test binary uses a subset.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `harness proxy`.
pub struct ProxyServer {
    child: Child,
    /// `127.0.0.1:PORT` of the control API.
    pub control: String,
    /// `127.0.0.1:PORT` of the `--config` file's proxy, if any.
    pub proxy: Option<String>,
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ProxyServer {
    /// `harness proxy ARGS` with `env` set, once it printed its control URL (10 s at most).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("harness"));
        command
            .arg("proxy")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let (child, received) = super::child::spawn_with_lines(&mut command);
        let mut server = Self {
            child,
            control: String::new(),
            proxy: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.control.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = received
                .recv_timeout(left)
                .expect("harness proxy prints its control URL within 10 s");
            if let Some(url) = line.strip_prefix("control: http://") {
                server.control = url.to_owned();
            } else if let Some(url) = line.strip_prefix("proxy: http://") {
                server.proxy = Some(url.to_owned());
            }
        }
        server
    }

    /// The control API's port.
    pub fn port(&self) -> u16 {
        self.control
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("a port")
    }
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// Sends `head` (request line and headers, without the blank line; `Connection: close`
/// is added) and `body` to `addr`, and reads the whole answer.
pub fn exchange(addr: &str, head: &str, body: &[u8]) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = format!("{head}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(parse(&raw))
}

/// Status, headers and body of a raw answer (status 0 if it is not HTTP).
pub fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        headers: head.to_owned(),
        body: body.to_owned(),
    }
}
