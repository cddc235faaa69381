//! The engine's spans, as the session CLI exports them.
//!
//! Real flow: the SDK starts `dagger session`; the engine's spans reach the session CLI,
//! which exports them over OTLP to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` through an
//! OpenTelemetry Go batch span processor. The double plays engine and CLI together:
//! each evaluated field ends a span (see the evaluation in `mod.rs`), and [`Telemetry`]
//! batches finished spans the way the Go SDK's `sdk/trace/batch_span_processor.go` does
//! and posts them as OTLP/HTTP JSON.
//!
//! Trace context follows `engine/server/session.go` serveHTTPToClient, which extracts the
//! W3C `traceparent` and `baggage` headers; the engine's tracer provider uses the Go
//! SDK's default sampler, ParentBased(AlwaysSample).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// The instrumentation scope of the engine's call spans (`engine/server/session.go`
/// InstrumentationLibrary).
pub const SCOPE: &str = "dagger.io/engine.server";
/// The `service.name` of the exported resource.
pub const SERVICE_NAME: &str = "dagger-engine";

/// Go SDK defaults (`sdk/trace/batch_span_processor.go`): schedule delay 5000 ms.
pub const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_millis(5000);
/// Go SDK default queue size.
pub const DEFAULT_MAX_QUEUE: usize = 2048;
/// Go SDK default export batch size.
pub const DEFAULT_MAX_BATCH: usize = 512;
/// Go SDK default export timeout.
pub const EXPORT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// Where and how the session CLI exports the engine's spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// The traces URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), used as given.
    pub endpoint: String,
    /// `http/protobuf`, `http/json` or `grpc` (the traces-specific variable winning).
    pub protocol: String,
    /// `OTEL_BSP_SCHEDULE_DELAY`: the interval between two exports.
    pub schedule_delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`: finished spans waiting beyond this are dropped.
    pub max_queue: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: a batch this large is exported at once.
    pub max_batch: usize,
}

impl ExportConfig {
    /// An export to `endpoint` in `protocol` with the Go SDK's defaults.
    pub fn new(endpoint: impl Into<String>, protocol: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            protocol: protocol.into(),
            schedule_delay: DEFAULT_SCHEDULE_DELAY,
            max_queue: DEFAULT_MAX_QUEUE,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }

    /// The same with another schedule delay.
    pub fn every(mut self, schedule_delay: Duration) -> Self {
        self.schedule_delay = schedule_delay;
        self
    }

    /// The same with another queue size.
    pub fn queue(mut self, max_queue: usize) -> Self {
        self.max_queue = max_queue;
        self
    }

    /// What the Go SDK makes of it: a batch never exceeds the queue
    /// (`sdk/trace/batch_span_processor.go` NewBatchSpanProcessor: an export batch larger
    /// than the queue becomes `min(512, queue)`), and neither is below one.
    fn effective(mut self) -> Self {
        self.max_queue = self.max_queue.max(1);
        if self.max_batch > self.max_queue {
            self.max_batch = DEFAULT_MAX_BATCH.min(self.max_queue);
        }
        self.max_batch = self.max_batch.max(1);
        self
    }

    /// Whether spans are posted at all: only over OTLP/HTTP. The double posts JSON even
    /// for `http/protobuf` (the harness's receiver takes both); `grpc` (or anything else)
    /// exports nothing the double could carry.
    fn posts(&self) -> bool {
        matches!(self.protocol.as_str(), "http/protobuf" | "http/json")
    }
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// `stringValue`.
    Str(String),
    /// `boolValue`.
    Bool(bool),
    /// `intValue`.
    Int(i64),
}

/// One finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    /// The trace.
    pub trace_id: [u8; 16],
    /// The span.
    pub span_id: [u8; 8],
    /// Its parent: the caller's span (from `traceparent`) for the first span of a query,
    /// the previous emitted field's span below it.
    pub parent_span_id: Option<[u8; 8]>,
    /// `<ReceiverType>.<field>`.
    pub name: String,
    /// Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// Unix nanoseconds.
    pub end_unix_nanos: u64,
    /// Attributes, in order.
    pub attributes: Vec<(String, AttrValue)>,
    /// `Some(message)` when the field failed: status ERROR.
    pub error: Option<String>,
}

impl SpanData {
    /// An attribute by key.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// How long it took.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_unix_nanos.saturating_sub(self.start_unix_nanos))
    }

    fn to_otlp(&self) -> Value {
        let mut span = json!({
            "traceId": hex(&self.trace_id),
            "spanId": hex(&self.span_id),
            "name": self.name,
            "kind": 1, // SPAN_KIND_INTERNAL, as the Go tracer's default
            "startTimeUnixNano": self.start_unix_nanos.to_string(),
            "endTimeUnixNano": self.end_unix_nanos.to_string(),
            "attributes": self.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
            "status": {},
        });
        if let Some(parent) = self.parent_span_id {
            span["parentSpanId"] = json!(hex(&parent));
        }
        if let Some(message) = &self.error {
            span["status"] = json!({ "code": 2, "message": message });
        }
        span
    }
}

fn attribute(key: &str, value: &AttrValue) -> Value {
    let value = match value {
        AttrValue::Str(s) => json!({ "stringValue": s }),
        AttrValue::Bool(b) => json!({ "boolValue": b }),
        AttrValue::Int(i) => json!({ "intValue": i.to_string() }),
    };
    json!({ "key": key, "value": value })
}

/// Lowercase hex, as OTLP/JSON writes ids.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/JSON `ExportTraceServiceRequest` of `spans`.
pub fn otlp_json(spans: &[SpanData]) -> Value {
    json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [attribute("service.name", &AttrValue::Str(SERVICE_NAME.into()))]
            },
            "scopeSpans": [{
                "scope": { "name": SCOPE },
                "spans": spans.iter().map(SpanData::to_otlp).collect::<Vec<_>>(),
            }]
        }]
    })
}

/// Now, in Unix nanoseconds.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Trace context: what a request carries.
// ---------------------------------------------------------------------------------------

/// The trace a request's spans go into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace id.
    pub trace_id: [u8; 16],
    /// The caller's span (the parent of the query's first span), when it sent one.
    pub parent: Option<[u8; 8]>,
    /// Whether spans are recorded at all.
    pub sampled: bool,
}

impl TraceContext {
    /// The context of a request with this `traceparent` header, as the Go W3C propagator
    /// reads it and ParentBased(AlwaysSample) decides: a valid header with the sampled
    /// flag is followed; one without it means no spans for the request; none (or an
    /// invalid one) starts a fresh trace, sampled.
    pub fn from_traceparent(header: Option<&str>) -> Self {
        if let Some(parsed) = header.and_then(parse_traceparent) {
            return parsed;
        }
        Self {
            trace_id: random_nonzero(),
            parent: None,
            sampled: true,
        }
    }
}

fn parse_traceparent(header: &str) -> Option<TraceContext> {
    let header = header.trim();
    let parts: Vec<&str> = header.split('-').collect();
    let [version, trace, span, flags, rest @ ..] = parts.as_slice() else {
        return None;
    };
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    // Version 00 has exactly four fields; later versions may add more; ff is invalid.
    if !lower_hex(version, 2) || *version == "ff" || (*version == "00" && !rest.is_empty()) {
        return None;
    }
    if !lower_hex(trace, 32) || !lower_hex(span, 16) || !lower_hex(flags, 2) {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    for (i, b) in trace_id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).ok()?;
    }
    for (i, b) in span_id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&span[2 * i..2 * i + 2], 16).ok()?;
    }
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(TraceContext {
        trace_id,
        parent: Some(span_id),
        sampled: flags & 1 == 1,
    })
}

/// Whether a `baggage` header asks for repeated telemetry: a member `repeat-telemetry`
/// with a non-empty value (`engine/server/session.go`: then `dagql.WithRepeatedTelemetry`).
/// A header the Go propagator cannot parse counts as no baggage at all.
pub fn repeat_telemetry(baggage: Option<&str>) -> bool {
    let Some(baggage) = baggage else {
        return false;
    };
    let mut repeat = false;
    for member in baggage.split(',') {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let key_value = member.split(';').next().unwrap_or("");
        let Some((key, value)) = key_value.split_once('=') else {
            return false; // an invalid member makes the whole header invalid
        };
        if key.trim() == "repeat-telemetry" && !value.trim().is_empty() {
            repeat = true;
        }
    }
    repeat
}

/// A random id that is not all zeros.
pub fn random_nonzero<const N: usize>() -> [u8; N] {
    loop {
        let mut id = [0u8; N];
        for b in &mut id {
            *b = rand::random();
        }
        if id.iter().any(|b| *b != 0) {
            return id;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The batch span processor: `sdk/trace/batch_span_processor.go`.
// ---------------------------------------------------------------------------------------

/// What was exported so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Spans in batches the endpoint accepted (2xx).
    pub spans: u64,
    /// Batches the endpoint accepted.
    pub batches: u64,
    /// Batches that failed (no connection, timeout, non-2xx); their spans are lost, as
    /// the Go processor does not retry.
    pub failed_batches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    spans: AtomicU64,
    batches: AtomicU64,
    failed: AtomicU64,
}

enum Item {
    Span(Box<SpanData>),
    Flush(oneshot::Sender<()>),
}

/// One processor: one session's exporter.
struct Processor {
    config: ExportConfig,
    queue: Mutex<VecDeque<Item>>,
    /// Spans in the queue (what `max_queue` bounds).
    queued: AtomicU64,
    stopped: AtomicBool,
    wake: Notify,
}

/// The session CLI's span exporter, and every span the double finished.
#[derive(Default)]
pub struct Telemetry {
    current: Mutex<Option<(Arc<Processor>, tokio::task::JoinHandle<()>)>>,
    counters: Arc<Counters>,
    recorded: Mutex<Vec<SpanData>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("exported", &self.exported())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Starts exporting with `config` on `runtime`; a previous exporter is shut down
    /// first (its queue flushed) in the background.
    pub fn configure(&self, config: ExportConfig, runtime: &tokio::runtime::Handle) {
        let config = config.effective();
        let processor = Arc::new(Processor {
            config,
            queue: Mutex::new(VecDeque::new()),
            queued: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let task = runtime.spawn(run(processor.clone(), self.counters.clone()));
        let previous = self
            .current
            .lock()
            .expect("exporter lock")
            .replace((processor, task));
        if let Some((old, task)) = previous {
            runtime.spawn(async move { shut_down(&old, task).await });
        }
    }

    /// The exporter's configuration (after the Go SDK's adjustments), when there is one.
    pub fn config(&self) -> Option<ExportConfig> {
        self.current
            .lock()
            .expect("exporter lock")
            .as_ref()
            .map(|(p, _)| p.config.clone())
    }

    /// Hands finished spans to the processor (`OnEnd`): each is queued, or dropped and
    /// counted when the queue is full. Every span is also kept for [`Telemetry::spans`].
    pub fn finished(&self, spans: Vec<SpanData>) {
        if spans.is_empty() {
            return;
        }
        self.recorded
            .lock()
            .expect("recorded lock")
            .extend(spans.iter().cloned());
        let current = self.current.lock().expect("exporter lock");
        let Some((processor, _)) = current.as_ref() else {
            return;
        };
        let mut queue = processor.queue.lock().expect("queue lock");
        if processor.stopped.load(Ordering::SeqCst) {
            return;
        }
        for span in spans {
            if processor.queued.load(Ordering::SeqCst) >= processor.config.max_queue as u64 {
                self.counters.dropped.fetch_add(1, Ordering::SeqCst);
            } else {
                processor.queued.fetch_add(1, Ordering::SeqCst);
                queue.push_back(Item::Span(Box::new(span)));
            }
        }
        drop(queue);
        processor.wake.notify_one();
    }

    /// `ForceFlush`: everything queued so far is exported before this returns.
    pub async fn flush(&self) {
        let processor = self
            .current
            .lock()
            .expect("exporter lock")
            .as_ref()
            .map(|(p, _)| p.clone());
        let Some(processor) = processor else { return };
        let (done, flushed) = oneshot::channel();
        {
            let mut queue = processor.queue.lock().expect("queue lock");
            if processor.stopped.load(Ordering::SeqCst) {
                return;
            }
            queue.push_back(Item::Flush(done));
        }
        processor.wake.notify_one();
        let _ = flushed.await;
    }

    /// `Shutdown` (the session ends): the queue is drained and exported, then nothing
    /// more is exported until the next [`Telemetry::configure`].
    pub async fn end(&self) {
        let current = self.current.lock().expect("exporter lock").take();
        if let Some((processor, task)) = current {
            shut_down(&processor, task).await;
        }
    }

    /// Spans dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::SeqCst)
    }

    /// What was exported so far.
    pub fn exported(&self) -> Exported {
        Exported {
            spans: self.counters.spans.load(Ordering::SeqCst),
            batches: self.counters.batches.load(Ordering::SeqCst),
            failed_batches: self.counters.failed.load(Ordering::SeqCst),
        }
    }

    /// Every span the double finished, exported or not, in the order they ended.
    pub fn spans(&self) -> Vec<SpanData> {
        self.recorded.lock().expect("recorded lock").clone()
    }

    /// Forgets the recorded spans (not the counters).
    pub fn clear(&self) {
        self.recorded.lock().expect("recorded lock").clear();
    }
}

async fn shut_down(processor: &Processor, task: tokio::task::JoinHandle<()>) {
    {
        let _queue = processor.queue.lock().expect("queue lock");
        processor.stopped.store(true, Ordering::SeqCst);
    }
    processor.wake.notify_one();
    let _ = task.await;
}

/// `processQueue`, then `drainQueue` once stopped: spans move from the queue into the
/// batch; a full batch is exported at once, and every schedule delay (counted from the
/// last export's start) whatever the batch holds. An export blocks the processor, so
/// spans finishing meanwhile wait in the queue, or are dropped when it is full.
async fn run(processor: Arc<Processor>, counters: Arc<Counters>) {
    let delay = processor.config.schedule_delay;
    let mut batch: Vec<SpanData> = Vec::new();
    let mut deadline = tokio::time::Instant::now() + delay;
    loop {
        let item = processor.queue.lock().expect("queue lock").pop_front();
        match item {
            Some(Item::Span(span)) => {
                processor.queued.fetch_sub(1, Ordering::SeqCst);
                batch.push(*span);
                if batch.len() >= processor.config.max_batch {
                    deadline = tokio::time::Instant::now() + delay;
                    export(&processor.config, &counters, &mut batch).await;
                }
                continue;
            }
            Some(Item::Flush(done)) => {
                deadline = tokio::time::Instant::now() + delay;
                export(&processor.config, &counters, &mut batch).await;
                let _ = done.send(());
                continue;
            }
            None => {}
        }
        if processor.stopped.load(Ordering::SeqCst) {
            // The queue is drained: the last export.
            export(&processor.config, &counters, &mut batch).await;
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                deadline = tokio::time::Instant::now() + delay;
                export(&processor.config, &counters, &mut batch).await;
            }
            () = processor.wake.notified() => {}
        }
    }
}

/// `exportSpans`: posts the batch (if any) and empties it, whatever the outcome.
async fn export(config: &ExportConfig, counters: &Counters, batch: &mut Vec<SpanData>) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::take(batch);
    if !config.posts() {
        return;
    }
    let body = otlp_json(&spans).to_string();
    let posted = tokio::time::timeout(EXPORT_TIMEOUT, post(&config.endpoint, body)).await;
    match posted {
        Ok(Ok(status)) if (200..300).contains(&status) => {
            counters
                .spans
                .fetch_add(spans.len() as u64, Ordering::SeqCst);
            counters.batches.fetch_add(1, Ordering::SeqCst);
        }
        _ => {
            counters.failed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One OTLP/HTTP POST of a JSON body; the answer's status.
async fn post(endpoint: &str, body: String) -> Result<u16, String> {
    let url = url::Url::parse(endpoint).map_err(|e| e.to_string())?;
    if url.scheme() != "http" {
        return Err(format!("the double posts over plain HTTP only, not {url}"));
    }
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("no port")?;
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let request = Request::post(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok(status)
}
