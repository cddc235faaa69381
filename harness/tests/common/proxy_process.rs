//! `harness proxy --config FILE` as a child process: its listen address and control URL
//! read from its standard output, and its memory read from `/proc/<pid>/status`, so a
//! test measures the real binary from outside. The child is killed when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running proxy process.
pub struct ProxyProcess {
    child: Child,
    /// Where the proxy listens.
    pub addr: SocketAddr,
    /// The control API's base URL.
    pub control: String,
}

/// A process's resident memory, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// The peak resident set (`VmHWM`).
    pub peak: u64,
    /// The resident set now (`VmRSS`).
    pub now: u64,
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ProxyProcess {
    /// Starts the proxy on `config` and waits (up to 10 s) for its two URL lines.
    pub fn start(config: &Path) -> Self {
        let (child, received) = super::child::spawn_with_lines(
            Command::new(assert_cmd::cargo::cargo_bin("harness"))
                .args(["proxy", "--quiet", "--config"])
                .arg(config)
                .stderr(Stdio::inherit()),
        );
        let (mut addr, mut control) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(10);
        while addr.is_none() || control.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = received
                .recv_timeout(left)
                .expect("the proxy prints its URLs within 10 s");
            if let Some(url) = line.strip_prefix("proxy: http://") {
                addr = Some(url.parse().expect("proxy address"));
            } else if let Some(url) = line.strip_prefix("control: ") {
                control = Some(url.to_owned());
            }
        }
        Self {
            child,
            addr: addr.expect("proxy line"),
            control: control.expect("control line"),
        }
    }

    /// The proxy's resident memory, from `/proc/<pid>/status`.
    pub fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status (Linux)");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or_else(|| panic!("{name} in /proc status"))
        };
        Memory {
            peak: field("VmHWM:"),
            now: field("VmRSS:"),
        }
    }
}
