//! MCP paths: harness as the client of a Model Context Protocol server over streamable
//! HTTP, one JSON-RPC request per step, sessions kept per virtual user or per iteration.
//!
//! The transport is the load generator's own HTTP client ([`super::http::client`]), so a
//! fault proxy, the TLS settings and the request-id headers apply as on HTTP paths;
//! [`wire`] reads the answers, [`executor`] keeps the sessions.

mod executor;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use executor::McpExecutor;

use super::http::ResolvedTarget;
use super::{DriveExtras, DriveSetup, PathError, PathExecutor, ReadyPath};
use crate::scenario::{McpTarget, McpTransport, PathSpec, SessionScope};
use crate::tls::TlsConfig;

/// Counts of one drive that go into its record's notes rather than its outcomes.
#[derive(Debug, Default)]
pub(crate) struct DriveCounts {
    /// Progress notifications received while requests were answered.
    progress: AtomicU64,
    /// JSON-RPC error codes received, and how often.
    rpc_codes: Mutex<BTreeMap<i64, u64>>,
    /// `initialize` steps run (sessions opened).
    sessions: AtomicU64,
}

impl DriveCounts {
    pub(crate) fn progress(&self, n: u64) {
        self.progress.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn rpc_code(&self, code: i64) {
        let mut codes = self
            .rpc_codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *codes.entry(code).or_default() += 1;
    }

    pub(crate) fn session_opened(&self) {
        self.sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// The notes of the drive; the counts start again.
    fn take_notes(&self) -> Vec<String> {
        let sessions = self.sessions.swap(0, Ordering::Relaxed);
        let progress = self.progress.swap(0, Ordering::Relaxed);
        let codes = std::mem::take(
            &mut *self
                .rpc_codes
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut notes = vec![format!(
            "mcp: {sessions} sessions opened, {progress} progress notifications received"
        )];
        if !codes.is_empty() {
            let listed: Vec<String> = codes
                .iter()
                .map(|(code, n)| format!("{code} ×{n}"))
                .collect();
            notes.push(format!("mcp: rpc_error codes: {}", listed.join(", ")));
        }
        notes
    }
}

/// A `kind = "mcp"` path: its endpoint and headers, checked once.
#[derive(Debug)]
pub struct McpPath {
    target: ResolvedTarget,
    session: SessionScope,
    counts: Arc<DriveCounts>,
}

impl McpPath {
    /// The path `spec` with its MCP `target`.
    pub fn new(spec: &PathSpec, target: &McpTarget) -> Result<Self, PathError> {
        let url = match &target.transport {
            McpTransport::Http(url) => url,
            McpTransport::Stdio(_) => {
                return Err(PathError::Target(
                    "MCP over stdio is not supported by this version: use `url`".into(),
                ));
            }
        };
        let resolved = ResolvedTarget::new(&url.resolved, &spec.headers)
            .map_err(|e| PathError::Target(Box::new(e)))?;
        Ok(Self {
            target: resolved.with_tls(spec.tls.clone()),
            session: target.session,
            counts: Arc::default(),
        })
    }
}

#[async_trait::async_trait]
impl ReadyPath for McpPath {
    fn upstream(&self) -> Option<String> {
        Some(self.target.base().to_owned())
    }

    fn upstream_tls(&self) -> Option<&TlsConfig> {
        self.target.tls()
    }

    fn executor(&self, drive: &DriveSetup<'_>) -> Result<Arc<dyn PathExecutor>, PathError> {
        let target = match &drive.proxy_url {
            Some(url) => self
                .target
                .with_base(url)
                .map_err(|e| PathError::Target(Box::new(e)))?,
            None => self.target.clone(),
        };
        let client = target
            .client(drive.max_idle)
            .with_correlation(drive.correlation.clone());
        Ok(Arc::new(McpExecutor::new(
            client,
            target,
            self.session,
            self.counts.clone(),
        )))
    }

    async fn drive_finished(&self) -> DriveExtras {
        DriveExtras {
            notes: self.counts.take_notes(),
            ..DriveExtras::default()
        }
    }
}
