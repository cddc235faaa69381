//! Third-party Python services for the tests (FastAPI, the official Prometheus client):
//! started from `tests/thirdparty/`, killed when dropped. Where the packages are missing
//! a test says "skipped: <why>", unless `HARNESS_REQUIRE_PYTHON_SERVICE` is set (`.ci/run`
//! sets it once it installed them), when that is a failure.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running service on 127.0.0.1.
pub struct PythonService {
    child: Child,
    /// Its port.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for PythonService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free now (the OS may give it out again; good enough for a test).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether `python3 -c "import <modules>"` works; when it does not, says "skipped:
/// <why>" and returns false (a failure under `HARNESS_REQUIRE_PYTHON_SERVICE`). For a
/// test that runs a short script rather than a service.
pub fn modules_or_skip(modules: &str) -> bool {
    match importable(modules) {
        Ok(()) => true,
        Err(why) if std::env::var_os("HARNESS_REQUIRE_PYTHON_SERVICE").is_some() => {
            panic!("HARNESS_REQUIRE_PYTHON_SERVICE is set, but {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// `import <modules>` in python3, or why it fails.
fn importable(modules: &str) -> Result<(), String> {
    let ready = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .map_err(|e| format!("python3 cannot run: {e}"))?;
    if ready.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{modules} cannot be imported (pip install -r harness/tests/thirdparty/requirements.txt): {}",
            String::from_utf8_lossy(&ready.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ))
    }
}

impl PythonService {
    /// Starts `tests/thirdparty/<script> --port PORT` once `import <modules>` works and
    /// waits (30 s at most) until it accepts connections; else why it cannot run here.
    pub fn start(script: &str, modules: &str) -> Result<Self, String> {
        importable(modules)?;
        let port = free_port();
        let child = Command::new("python3")
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/thirdparty")
                    .join(script),
            )
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("the service did not start: {e}"))?;
        let service = Self {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("{script} did not come up in 30 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(service)
    }

    /// The service, or `None` after saying "skipped: <why>" (a failure under
    /// `HARNESS_REQUIRE_PYTHON_SERVICE`).
    pub fn start_or_skip(script: &str, modules: &str) -> Option<Self> {
        match Self::start(script, modules) {
            Ok(service) => Some(service),
            Err(why) if std::env::var_os("HARNESS_REQUIRE_PYTHON_SERVICE").is_some() => {
                panic!("HARNESS_REQUIRE_PYTHON_SERVICE is set, but {why}")
            }
            Err(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }
}
