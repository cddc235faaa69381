//! MCP paths: harness as the client of a Model Context Protocol server over streamable
//! HTTP, one JSON-RPC request per step, sessions kept per virtual user or per iteration.
//!
//! The HTTP transport is the load generator's own client ([`super::http::client`]), so a
//! fault proxy, the TLS settings and the request-id headers apply as on HTTP paths; a
//! `command` path runs one server process per session ([`stdio`]). [`wire`] reads the
//! answers, [`executor`] keeps the sessions.
//!
//! # Why not the official Rust SDK's client (`rmcp`)
//!
//! rmcp 3.11's streamable-HTTP client was measured as a load client
//! (`bench/mcp-client-eval`, against the reference platform's `/mcp`, A B A B, one
//! session, 5 000 calls of a tool that answers at once). It works (a session outlives a
//! 503, whose status it reports), but it is unfit here for three reasons:
//!
//! - **Cost:** each call costs 150–300 µs of client CPU and adds 150–300 µs to the
//!   median latency, against 30–115 µs and 50–140 µs for a plain HTTP client sending
//!   the same JSON-RPC messages on the same session. Every call crosses a channel to the
//!   session's worker task and back. A generator that spends that much per call becomes
//!   the bottleneck, and it blurs sub-millisecond steps such as `tools/list`.
//! - **Correlation:** the resilience observations join the service's dependency
//!   attempts to the step that caused them through a per-request `x-harness-request-id`
//!   header. rmcp's `StreamableHttpClient` trait, the seam where harness's own HTTP
//!   client could sit, receives only transport-wide headers, and it is called from the
//!   worker task. Nothing per call reaches it, except by smuggling the id through the
//!   message's `_meta`, which the server would then see.
//! - **Hidden client behaviour:** its high-level calls answer `tools/list` from a
//!   response cache and serve a stale entry when the server fails. Session expiry (404)
//!   re-initialises and retries. SSE streams reconnect and resume. A dropped call sends
//!   `notifications/cancelled`. Each of these can be turned off, but each, left on, hides
//!   a fault from a chaos test or sends traffic the record does not count.
//!
//! So the transport follows the specification (2025-06-18 streamable HTTP and stdio)
//! directly: `initialize` → `notifications/initialized` → requests with
//! `Mcp-Session-Id` and `MCP-Protocol-Version` → `DELETE`, with JSON or SSE answers
//! read up to the response carrying the request's id. It is tested against the
//! official Python SDK's server (`tests/mcp_cli.rs`). Not implemented: the server's
//! standalone GET stream, answering server requests (sampling, elicitation) and
//! resuming a cut stream. A load client measures a cut stream; it does not repair it.

mod executor;
mod stdio;
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
    target: Option<ResolvedTarget>,
    stdio: Option<(Vec<String>, std::path::PathBuf)>,
    session: SessionScope,
    counts: Arc<DriveCounts>,
}

impl McpPath {
    /// The path `spec` with its MCP `target`; `reference` is the embedded reference
    /// platform's URL when it runs.
    pub fn new(
        spec: &PathSpec,
        target: &McpTarget,
        reference: Option<&str>,
    ) -> Result<Self, PathError> {
        let (resolved, stdio) = match &target.transport {
            McpTransport::Http(url) => {
                let resolved = ResolvedTarget::new(&url.resolved, &spec.headers)
                    .map_err(|e| PathError::Target(Box::new(e)))?;
                (Some(resolved.with_tls(spec.tls.clone())), None)
            }
            McpTransport::Reference => {
                let url = format!(
                    "{}/mcp",
                    reference.unwrap_or_default().trim_end_matches('/')
                );
                let resolved = ResolvedTarget::new(&url, &spec.headers)
                    .map_err(|e| PathError::Target(Box::new(e)))?;
                (Some(resolved), None)
            }
            McpTransport::Stdio { argv, workdir } => (None, Some((argv.clone(), workdir.clone()))),
        };
        Ok(Self {
            target: resolved,
            stdio,
            session: target.session,
            counts: Arc::default(),
        })
    }
}

#[async_trait::async_trait]
impl ReadyPath for McpPath {
    fn upstream(&self) -> Option<String> {
        self.target.as_ref().map(|t| t.base().to_owned())
    }

    fn upstream_tls(&self) -> Option<&TlsConfig> {
        self.target.as_ref().and_then(ResolvedTarget::tls)
    }

    fn executor(&self, drive: &DriveSetup<'_>) -> Result<Arc<dyn PathExecutor>, PathError> {
        let Some(target) = &self.target else {
            return Ok(Arc::new(McpExecutor::stdio(
                self.stdio.clone().unwrap_or_default(),
                self.session,
                self.counts.clone(),
            )));
        };
        let target = match &drive.proxy_url {
            Some(url) => target
                .with_base(url)
                .map_err(|e| PathError::Target(Box::new(e)))?,
            None => target.clone(),
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
