//! A real Prometheus server for the tests (the `prometheus` binary, from the OS packages):
//! on 127.0.0.1 at a free port, its storage in a temporary folder, the remote-write
//! receiver on, the scrape configuration a test gives; killed when dropped. Where the
//! binary is missing a test says "skipped: prometheus not installed", unless
//! `HARNESS_REQUIRE_PROMETHEUS` is set (`.ci/run` sets it once it installed the package),
//! when that is a failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::python::free_port;

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// Its port.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary, on the PATH.
const BINARY: &str = "prometheus";

impl Prometheus {
    /// Starts Prometheus with `scrape_configs` (YAML list items, may be empty) scraped
    /// every `interval`, and waits (60 s at most) until `/-/ready` answers 200.
    pub fn start(scrape_configs: &str, interval: &str) -> Result<Self, String> {
        let version = Command::new(BINARY).arg("--version").output();
        if !version.is_ok_and(|o| o.status.success()) {
            return Err("prometheus not installed".to_string());
        }
        let dir = tempfile::tempdir().map_err(|e| format!("no temp folder: {e}"))?;
        let config = dir.path().join("prometheus.yml");
        let scrapes = if scrape_configs.trim().is_empty() {
            "scrape_configs: []\n".to_string()
        } else {
            format!("scrape_configs:\n{scrape_configs}\n")
        };
        std::fs::write(
            &config,
            format!("global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n{scrapes}"),
        )
        .map_err(|e| format!("cannot write the configuration: {e}"))?;
        let port = free_port();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("prometheus did not start: {e}"))?;
        let mut server = Self {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("prometheus exited at start: {status}"));
            }
            if matches!(server.get("/-/ready"), Ok((200, _))) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err("prometheus was not ready in 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server, or `None` after saying "skipped: <why>" (a failure under
    /// `HARNESS_REQUIRE_PROMETHEUS`).
    pub fn start_or_skip(scrape_configs: &str, interval: &str) -> Option<Self> {
        match Self::start(scrape_configs, interval) {
            Ok(server) => Some(server),
            Err(why) if std::env::var_os("HARNESS_REQUIRE_PROMETHEUS").is_some() => {
                panic!("HARNESS_REQUIRE_PROMETHEUS is set, but {why}")
            }
            Err(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    /// Its remote-write receiver.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url)
    }

    /// An instant query (`/api/v1/query`): the answer's `data.result`.
    pub fn query(&self, promql: &str) -> serde_json::Value {
        self.api(&format!("/api/v1/query?query={}", encode(promql)))
    }

    /// A range query (`/api/v1/query_range`) over `[start, end]` (Unix seconds) every
    /// `step` seconds: the answer's `data.result`.
    pub fn query_range(&self, promql: &str, start: f64, end: f64, step: f64) -> serde_json::Value {
        self.api(&format!(
            "/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            encode(promql)
        ))
    }

    fn api(&self, target: &str) -> serde_json::Value {
        let (status, body) = self.get(target).expect("the Prometheus API answers");
        let mut answer: serde_json::Value =
            serde_json::from_slice(&body).expect("the Prometheus API answers JSON");
        assert_eq!(status, 200, "{target}: {answer}");
        assert_eq!(answer["status"], "success", "{target}: {answer}");
        answer["data"]["result"].take()
    }

    /// One GET over HTTP/1.0 (the server closes the connection after the answer).
    fn get(&self, target: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {target} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        )?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("no complete answer head"))?;
        let head = String::from_utf8_lossy(&answer[..end]);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status"))?;
        Ok((status, answer[end + 4..].to_vec()))
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
