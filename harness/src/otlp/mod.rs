//! An OTLP/HTTP trace receiver for Dagger sessions: per-step latency and cache-hit ratio.
//!
//! The harness starts an [`OtlpReceiver`], hands [`OtlpReceiver::otel_env`] to the
//! `dagger session` it spawns (the traces endpoint, the protocol under both the generic
//! and the traces-specific name, and the batch processor's schedule and queue, so that an
//! `OTEL_*` variable inherited from the user's environment cannot send the spans
//! elsewhere, in another protocol, or late), and reads a [`TelemetrySummary`] at any
//! time or when it stops. The engine's OpenTelemetry exporter posts
//! `ExportTraceServiceRequest`s; every finished span is counted and grouped by name, and
//! spans carrying `dagger.io/dag.digest` count as DAG operations, cached when they also
//! carry `dagger.io/dag.cached = true`.
//!
//! Memory is bounded whatever arrives (see [`aggregate`]); nothing is logged.

pub mod aggregate;
pub mod json;
pub mod receiver;
pub mod runs;
pub mod wire;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::server::ServerHandle;

use receiver::{Shared, TRACES_PATH, with_router};
pub use runs::RunProgress;

/// The export interval given to the session's batch span processor
/// (`OTEL_BSP_SCHEDULE_DELAY`; the OpenTelemetry default is 5 s).
pub const EXPORT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1_000);

/// Where [`OtlpReceiver::start`] binds by default: loopback, any free port.
pub const DEFAULT_BIND: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));

/// A running OTLP/HTTP trace receiver; dropping it stops serving at once.
pub struct OtlpReceiver {
    server: ServerHandle,
    shared: Shared,
}

impl fmt::Debug for OtlpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpReceiver")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl OtlpReceiver {
    /// Binds `bind` (use [`DEFAULT_BIND`] for loopback on a free port) and starts serving
    /// `POST /v1/traces` on the current tokio runtime.
    pub async fn start(bind: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::default();
        let serving = Shared::clone(&shared);
        let server = ServerHandle::spawn(addr, move |stopped| {
            receiver::serve(listener, serving, stopped)
        });
        Ok(Self { server, shared })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The URL exporters post to, e.g. `http://127.0.0.1:4318/v1/traces`; an unspecified
    /// bind address (`0.0.0.0`, `::`) is given as loopback.
    pub fn traces_endpoint(&self) -> String {
        traces_endpoint_for(self.local_addr())
    }

    /// The environment a `dagger session` needs to export its traces here, set
    /// explicitly so that inherited `OTEL_*` variables cannot override it: the
    /// traces-specific protocol wins over the generic one in OpenTelemetry SDKs, so both
    /// are set; the batch span processor exports every second (the SDK default is 5 s,
    /// longer than the quiet time the harness waits for a run's last spans) and queues
    /// up to 65 536 spans before dropping (default 2 048).
    pub fn otel_env(&self) -> [(&'static str, String); 6] {
        [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", self.traces_endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                "http/protobuf".to_owned(),
            ),
            ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
            (
                "OTEL_BSP_SCHEDULE_DELAY",
                EXPORT_INTERVAL.as_millis().to_string(),
            ),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "65536".to_owned()),
        ]
    }

    /// A snapshot of everything received so far.
    pub fn summary(&self) -> TelemetrySummary {
        with_router(&self.shared, |router| router.all.summary())
    }

    /// Everything received since the last call (or the start), and a fresh start: the
    /// per-run summary when one session serves several runs.
    pub fn take(&self) -> TelemetrySummary {
        with_router(&self.shared, |router| {
            std::mem::take(&mut router.all).summary()
        })
    }

    /// A run whose steps' trace ids start with `prefix` (see
    /// [`crate::correlation::Correlation`]) begins now: its spans are routed to it.
    pub fn begin_run(&self, prefix: u64) {
        with_router(&self.shared, |router| router.begin(prefix, unix_nanos()));
    }

    /// The run ended now: spans starting later are not attributed to it by time.
    pub fn end_run(&self, prefix: u64) {
        with_router(&self.shared, |router| router.end(prefix, unix_nanos()));
    }

    /// How far the run's spans have arrived.
    pub fn run_progress(&self, prefix: u64) -> RunProgress {
        with_router(&self.shared, |router| router.progress(prefix))
    }

    /// The run's spans: later ones count as late in the next run's summary.
    pub fn take_run(&self, prefix: u64) -> TelemetrySummary {
        with_router(&self.shared, |router| router.take(prefix))
    }

    /// Stops listening, ends every connection (requests in flight included) and returns
    /// the final snapshot.
    pub async fn stop(mut self) -> TelemetrySummary {
        self.server.stop().await;
        self.summary()
    }
}

/// Now, in Unix nanoseconds (the clock span times use).
fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The traces URL for a receiver bound to `addr`, unspecified addresses as loopback.
fn traces_endpoint_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}{TRACES_PATH}", SocketAddr::new(ip, addr.port()))
}

/// What the receiver saw of a Dagger session's traces (of one run, when the receiver
/// routes spans to runs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetrySummary {
    /// Finished spans received (spans still open, sent by live exporters, are skipped:
    /// they are sent again when they end).
    pub spans: u64,
    /// Requests refused: undecodable (400), too large (413), unsupported type or
    /// encoding (415). Wrong paths and methods are not counted.
    pub rejected_requests: u64,
    /// Spans that are DAG operations (carry `dagger.io/dag.digest`).
    pub operations: u64,
    /// Of those, the cache hits: `dagger.io/cache.outcome = hit` where the span carries
    /// it, else `dagger.io/dag.cached = true`.
    pub cached: u64,
    /// `cached` over the operations that say something about the cache (those with
    /// `cache.outcome = uncached` do not); `None` before any such operation.
    pub cache_hit_ratio: Option<f64>,
    /// Which attribute the ratio rests on (`dagger.io/cache.outcome`,
    /// `dagger.io/dag.cached`, or both with the counts); absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_attribute: Option<String>,
    /// Spans by name, most frequent first (ties by name), at most 100; names beyond that
    /// or beyond the tracking cap are summed into a last `"(other)"` group.
    pub groups: Vec<SpanGroup>,
    /// Spans of lazy calls (`dagger.io/dag.pending`, such as `withExec`): counted, but
    /// their durations are left out of the latencies (the leaf that forced the work,
    /// such as `stdout`, carries its time).
    #[serde(default)]
    pub pending: u64,
    /// Distinct traces of the run (one per step, by the `traceparent` the harness sends)
    /// with at least one span.
    #[serde(default)]
    pub traces: u64,
    /// Spans attributed to the run by their start time (they carried no trace id of the
    /// run's steps: engine work outside a query).
    #[serde(default)]
    pub by_time: u64,
    /// Steps the engine ran during the run (each should leave a trace); `None` when not
    /// known (older records, or a summary of the whole session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traced_steps: Option<u64>,
    /// How long the harness waited after the run for its last spans, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<u64>,
    /// Spans of earlier runs that arrived after those runs' records were written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub late_from_earlier_runs: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TelemetrySummary {
    /// Steps the engine ran whose spans never arrived (dropped by the exporter's queue,
    /// or not flushed before the harness stopped waiting); `None` when not known.
    pub fn missing_traces(&self) -> Option<u64> {
        self.traced_steps.map(|n| n.saturating_sub(self.traces))
    }

    /// What a reader must know when spans are missing, or `None` when all arrived.
    pub fn loss_warning(&self) -> Option<String> {
        let expected = self.traced_steps?;
        let missing = self.missing_traces()?;
        if missing == 0 {
            return None;
        }
        let waited = self
            .waited_ms
            .map(|ms| format!(" within {:.1} s", ms as f64 / 1000.0))
            .unwrap_or_default();
        Some(if self.traces == 0 {
            format!(
                "telemetry: no spans of this run's {expected} engine steps arrived{waited}: is the session exporting to the harness (OTEL_* variables of `dagger session`) and is the engine recording (a sampled traceparent, repeat-telemetry baggage)?"
            )
        } else {
            format!(
                "telemetry: the spans of {missing} of {expected} engine steps did not arrive{waited} (dropped by the exporter's queue or not yet flushed): span latencies and the cache-hit ratio cover the other {} only",
                self.traces
            )
        })
    }
}

/// Counts and latency of the spans sharing one name (cut to 200 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanGroup {
    /// The span name, `"(other)"` or `"(unnamed)"`.
    pub name: String,
    /// Finished spans with this name.
    pub count: u64,
    /// Of those, spans of lazy calls (`dagger.io/dag.pending`), left out of the
    /// latencies below.
    #[serde(default)]
    pub pending: u64,
    /// Of those, cache hits (`cache.outcome = hit`, else `dag.cached = true`), DAG operation or not.
    pub cached: u64,
    /// Of those, spans with status code ERROR.
    pub errors: u64,
    /// Median duration, microseconds (3 significant digits).
    pub p50_us: u64,
    /// 95th percentile duration, microseconds.
    pub p95_us: u64,
    /// 99th percentile duration, microseconds.
    pub p99_us: u64,
    /// Longest duration, microseconds (exact).
    pub max_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_loopback_for_unspecified_binds() -> Result<(), std::net::AddrParseError> {
        for (bind, want) in [
            ("0.0.0.0:4318", "http://127.0.0.1:4318/v1/traces"),
            ("[::]:4318", "http://[::1]:4318/v1/traces"),
            ("127.0.0.1:9", "http://127.0.0.1:9/v1/traces"),
            ("[::1]:9", "http://[::1]:9/v1/traces"),
        ] {
            assert_eq!(traces_endpoint_for(bind.parse()?), want);
        }
        Ok(())
    }

    #[tokio::test]
    async fn start_and_stop_an_idle_receiver() -> std::io::Result<()> {
        let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
        let port = receiver.local_addr().port();
        assert_eq!(
            receiver.traces_endpoint(),
            format!("http://127.0.0.1:{port}/v1/traces")
        );
        let env = receiver.otel_env();
        assert_eq!(env[0].1, receiver.traces_endpoint());
        let value = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        // Both protocol names: an inherited OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc
        // would otherwise win over the generic one.
        assert_eq!(value("OTEL_EXPORTER_OTLP_PROTOCOL"), Some("http/protobuf"));
        assert_eq!(
            value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            Some("http/protobuf")
        );
        assert_eq!(value("OTEL_BSP_SCHEDULE_DELAY"), Some("1000"));
        let summary = receiver.stop().await;
        assert_eq!((summary.spans, summary.groups.len()), (0, 0));
        assert_eq!(summary.cache_hit_ratio, None);
        Ok(())
    }

    #[tokio::test]
    async fn default_bind_is_loopback() -> std::io::Result<()> {
        let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
        assert!(receiver.local_addr().ip().is_loopback());
        assert_ne!(receiver.local_addr().port(), 0);
        drop(receiver);
        Ok(())
    }

    #[test]
    fn summary_round_trips_through_json() -> Result<(), serde_json::Error> {
        let summary = TelemetrySummary {
            spans: 3,
            rejected_requests: 1,
            operations: 2,
            cached: 1,
            cache_hit_ratio: Some(0.5),
            cache_attribute: Some("dagger.io/cache.outcome".into()),
            traces: 2,
            traced_steps: Some(3),
            ..TelemetrySummary::default()
        };
        let summary = TelemetrySummary {
            groups: vec![SpanGroup {
                name: "withExec".into(),
                count: 3,
                pending: 0,
                cached: 1,
                errors: 0,
                p50_us: 10,
                p95_us: 20,
                p99_us: 30,
                max_us: 31,
            }],
            ..summary
        };
        assert_eq!(summary.missing_traces(), Some(1));
        assert!(
            summary
                .loss_warning()
                .is_some_and(|w| w.contains("1 of 3 engine steps")),
            "{:?}",
            summary.loss_warning()
        );
        let text = serde_json::to_string(&summary)?;
        assert_eq!(serde_json::from_str::<TelemetrySummary>(&text)?, summary);
        Ok(())
    }
}
