//! The runner: starts what a scenario needs, drives every path and repetition
//! (interleaved: A B A B ...), and turns each drive into a run record.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::chaos::ChaosRun;
use crate::correlation::Correlation;
use crate::kinds::http::HttpClient;
use crate::kinds::samples::redact;
use crate::kinds::{self, DriveSetup, PathError, ReadyPath, Shared};
use crate::load::Segment;
use crate::load::{Drive, EventLog, IterationContext, ProgressHook, StopSignal, drive};
use crate::metrics::MetricsRecord;
use crate::outcome::DriverReport;
use crate::record::{RunMeta, RunRecord, SegmentRecord, SharedRecorder};
use crate::reference::ReferencePlatform;
use crate::scenario::{MetricsEndpoint, PathSpec, Scenario, Target};
use crate::scrape::{Endpoint, MetricsScrape, promql};
use std::collections::BTreeMap;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Paths to run, in order (validated to exist).
    pub paths: Vec<String>,
    /// Repetitions per path.
    pub repetitions: u32,
    /// Seed for every random choice.
    pub seed: u64,
    /// Folder the run records go to (`<out>/runs/`).
    pub out: PathBuf,
    /// The share of the plan this process runs (`harness run --segment`); the whole
    /// plan by default.
    pub segment: Segment,
    /// When the first run starts (`--start-at`), so that segments on several machines
    /// start together; `None`: at once.
    pub start_at: Option<SystemTime>,
}

impl RunPlan {
    /// Every path of `scenario`, its repetitions and seed, records under `out`.
    pub fn for_scenario(scenario: &Scenario, out: PathBuf) -> Self {
        Self {
            paths: scenario.paths.iter().map(|p| p.name.clone()).collect(),
            repetitions: scenario.load.repetitions,
            seed: scenario.seed,
            out,
            segment: Segment::WHOLE,
            start_at: None,
        }
    }
}

/// One finished (or interrupted) drive, written to disk.
#[derive(Debug)]
pub struct RunResult {
    /// Where the record was written.
    pub file: PathBuf,
    /// The record.
    pub record: RunRecord,
}

/// Hears about progress; the command line shows it, tests ignore it.
pub trait RunObserver: Send + Sync {
    /// A drive of `path`, repetition `repetition`, is starting.
    fn starting(&self, path: &str, repetition: u32, total: std::time::Duration);
    /// About once a second during a drive.
    fn tick(&self, elapsed: std::time::Duration, sent: u64, failed: u64);
    /// The drive ended and its record was written.
    fn finished(&self, result: &RunResult);
    /// One line of progress or information for people: what is about to run, where the
    /// records went (default: dropped). A quiet terminal drops notes.
    fn note(&self, _line: &str) {}
    /// One line that bears on how far the result can be trusted: the generator could not
    /// keep up, a target was unreachable, a path skips TLS verification (default:
    /// dropped). Without the `warning: ` prefix, which the observer adds. A quiet
    /// terminal still says warnings.
    fn warn(&self, _line: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl RunObserver for Silent {
    fn starting(&self, _: &str, _: u32, _: std::time::Duration) {}
    fn tick(&self, _: std::time::Duration, _: u64, _: u64) {}
    fn finished(&self, _: &RunResult) {}
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The reference platform did not start.
    #[error("the reference platform did not start: {0}")]
    Reference(std::io::Error),
    /// A path's target could not be prepared.
    #[error("path `{path}`: {source}")]
    Target {
        /// The path.
        path: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A path named in the plan is not in the scenario.
    #[error("the scenario has no path `{0}`")]
    UnknownPath(String),
    /// A fault proxy did not start.
    #[error("the fault proxy did not start: {0}")]
    Chaos(std::io::Error),
    /// A path needs a service (a Dagger path, its engine) and none is reachable:
    /// skipped, never passed.
    #[error("skipped: {why}")]
    NoEngine {
        /// What is missing, what was looked at, and how to provide it.
        why: String,
    },
    /// A record could not be written.
    #[error("{0}")]
    Write(#[from] crate::record::RecordError),
}

/// Runs `plan` for `scenario`; stops early (keeping what was measured) when `stop` fires.
pub async fn run_scenario(
    scenario: &Scenario,
    plan: &RunPlan,
    stop: &StopSignal,
    observer: Arc<dyn RunObserver>,
) -> Result<Vec<RunResult>, RunError> {
    let reference = if scenario.needs_reference() {
        Some(
            ReferencePlatform::start(scenario.reference.clone(), plan.seed)
                .await
                .map_err(RunError::Reference)?,
        )
    } else {
        None
    };
    let reference_url = reference.as_ref().map(|r| r.url());
    let shared = Shared::default();
    let mut specs = Vec::new();
    let mut ready = Vec::new();
    for name in &plan.paths {
        let path = scenario
            .path(name)
            .ok_or_else(|| RunError::UnknownPath(name.clone()))?;
        let made = kinds::ready(path, &shared, reference_url.as_deref())
            .map_err(|e| path_error(name.clone(), e))?;
        specs.push(path);
        ready.push(made);
    }
    shared
        .start(scenario)
        .await
        .map_err(|e| path_error(String::new(), e))?;

    let mut results = Vec::new();
    let mut ordinal = 0;
    'repetitions: for repetition in 1..=plan.repetitions {
        for (path, ready) in specs.iter().zip(&ready) {
            let leg = Leg {
                path,
                ready: ready.as_ref(),
                repetition,
                ordinal,
            };
            ordinal += 1;
            let result = run_once(
                scenario,
                plan,
                leg,
                reference.as_ref(),
                stop,
                observer.clone(),
            )
            .await?;
            let complete = result.record.complete;
            observer.finished(&result);
            results.push(result);
            if !complete || stop.is_triggered() {
                break 'repetitions;
            }
        }
    }
    if let Some(reference) = reference {
        reference.shutdown().await;
    }
    drop(ready);
    shared.close().await;
    Ok(results)
}

/// The run error of a path that cannot be driven.
fn path_error(path: String, error: PathError) -> RunError {
    match error {
        PathError::Target(source) => RunError::Target { path, source },
        PathError::Unavailable(why) => RunError::NoEngine { why },
    }
}

/// The seed of one repetition: the same for every path, so both paths face the same
/// arrivals and flow choices; different between repetitions.
pub fn repetition_seed(seed: u64, repetition: u32) -> u64 {
    // SplitMix64 finaliser: neighbouring inputs give unrelated outputs.
    let mut z = seed.wrapping_add(u64::from(repetition).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One drive: a path, what its kind made ready and the repetition number.
struct Leg<'a> {
    path: &'a PathSpec,
    ready: &'a dyn ReadyPath,
    repetition: u32,
    /// Its place in the plan's order, from 0 (which start slot it takes).
    ordinal: u32,
}

/// Time between two runs' scheduled starts under `--start-at`: the run, the longest
/// drain of requests in flight, and a margin for writing records and starting the next.
fn start_slot(scenario: &Scenario) -> std::time::Duration {
    let load = &scenario.load;
    let longest_flow = scenario
        .flows
        .iter()
        .map(|f| f.steps.len())
        .max()
        .unwrap_or(1);
    let drain = load
        .timeout
        .saturating_mul(u32::try_from(longest_flow).unwrap_or(u32::MAX));
    load.warmup + load.duration + drain + START_MARGIN
}

/// Slack per run between `--start-at` slots, for writing records and setting up.
const START_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits for run `ordinal`'s slot after `plan.start_at`; returns the segment facts for its
/// record (`None` for an unsegmented run without `--start-at`).
async fn keep_start(
    scenario: &Scenario,
    plan: &RunPlan,
    ordinal: u32,
    stop: &StopSignal,
    observer: &dyn RunObserver,
) -> Option<SegmentRecord> {
    let scheduled = plan
        .start_at
        .map(|at| at + start_slot(scenario).saturating_mul(ordinal));
    if let Some(at) = scheduled
        && let Ok(wait) = at.duration_since(SystemTime::now())
        && !stop.is_triggered()
    {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.triggered() => {}
        }
    }
    if plan.segment.is_whole() && scheduled.is_none() {
        return None;
    }
    let late = scheduled.map(|at| SystemTime::now().duration_since(at).unwrap_or_default());
    if let Some(late) = late.filter(|l| *l > LATE_WARNING) {
        observer.warn(&format!(
            "segment {}: this run started {:.3} s after its scheduled start, so it is not aligned with the other segments",
            plan.segment,
            late.as_secs_f64()
        ));
    }
    Some(SegmentRecord {
        index: plan.segment.index,
        count: plan.segment.count,
        scheduled_start: scheduled.map(|at| humantime::format_rfc3339_millis(at).to_string()),
        late_ms: late.map(|l| l.as_secs_f64() * 1000.0),
        evidence: None,
    })
}

/// Lateness of a segment's start that is worth a warning.
const LATE_WARNING: std::time::Duration = std::time::Duration::from_millis(100);

async fn run_once(
    scenario: &Scenario,
    plan: &RunPlan,
    leg: Leg<'_>,
    reference: Option<&ReferencePlatform>,
    stop: &StopSignal,
    observer: Arc<dyn RunObserver>,
) -> Result<RunResult, RunError> {
    let Leg {
        path,
        ready,
        repetition,
        ordinal,
    } = leg;
    let load = &scenario.load;
    let segment = keep_start(scenario, plan, ordinal, stop, observer.as_ref()).await;
    observer.starting(&path.name, repetition, load.warmup + load.duration);
    let shards = std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4);
    let recorder = Arc::new(SharedRecorder::new(
        scenario.step_count(),
        load.warmup,
        shards,
    ));
    let max_idle = load.max_in_flight.min(4096);
    let seed = repetition_seed(plan.seed, repetition);
    let named = scenario
        .dependency
        .as_ref()
        .and_then(|d| d.request_id_header.clone());
    let correlation = Correlation::for_run(seed, &path.name, named);
    let started_at = SystemTime::now();
    let epoch = Instant::now();
    let upstream = ready.upstream();
    let chaos = ChaosRun::start(
        scenario,
        upstream.as_deref(),
        ready.upstream_tls(),
        reference,
        seed,
        epoch,
    )
    .map_err(RunError::Chaos)?;
    let setup = DriveSetup {
        flows: &scenario.flows,
        proxy_url: chaos.client_url(),
        correlation,
        max_idle,
        seed,
        timeout: load.timeout,
    };
    let executor = ready
        .executor(&setup)
        .map_err(|e| path_error(path.name.clone(), e))?;
    ready.drive_starting(&setup);
    let events = (!chaos.is_idle()).then(|| Arc::new(EventLog::new()));
    let mut ctx = IterationContext::with_executor(
        executor,
        &scenario.flows,
        load.timeout,
        epoch,
        recorder.clone(),
    );
    if let Some(log) = &events {
        ctx = ctx.with_event_log(log.clone());
    }
    let ctx = Arc::new(ctx);
    let hook: ProgressHook = {
        let recorder = recorder.clone();
        let observer = observer.clone();
        Arc::new(move |elapsed| {
            let p = recorder.progress();
            observer.tick(elapsed, p.sent, p.failed);
        })
    };
    let flows: Arc<[crate::scenario::Flow]> = scenario.flows.clone().into();
    let endpoints = metrics_endpoints(path, reference);
    let scrape = if endpoints.is_empty() {
        None
    } else {
        let watch = watched_series(&scenario.policy.metrics, path);
        Some(MetricsScrape::start(endpoints, &path.metrics_series, &watch, load.warmup).await)
    };
    let wall_start = std::time::SystemTime::now();
    let report = drive(Drive {
        ctx: ctx.clone(),
        flows,
        load: load.clone(),
        seed,
        stop: stop.clone(),
        progress: Some(hook),
        segment: plan.segment,
    })
    .await;
    ctx.end_drive().await;
    let wall_end = std::time::SystemTime::now();
    let scraped = match scrape {
        Some(scrape) => Some(scrape.finish().await),
        None => None,
    };
    let window = promql::Window {
        start: wall_start + load.warmup,
        end: wall_end,
    };
    let queries = run_queries(scenario, path, window, stop).await;
    let samples = ctx.failure_samples();
    let check_samples = ctx.check_samples();
    let check_failures = ctx.check_failures();
    drop(ctx);
    let recording = match Arc::try_unwrap(recorder) {
        Ok(recorder) => recorder.finish(),
        // A request outlived the drain and still holds the recorder.
        Err(shared) => shared.snapshot(),
    };
    let chaos = chaos
        .finish(scenario, events.as_ref(), report.elapsed, reference)
        .await;
    let mut meta = run_meta(scenario, path, repetition, plan.seed, started_at, &report);
    meta.notes.extend(chaos.notes);
    let extras = ready.drive_finished().await;
    meta.notes.extend(extras.notes);
    let secrets = path_secrets(path);
    meta.notes.extend(
        samples
            .into_iter()
            .map(|s| format!("failure: {}", redact(&s, &secrets)))
            .chain(check_samples.into_iter().map(|s| redact(&s, &secrets))),
    );
    let mut record = RunRecord::build(recording, meta);
    record.segment = segment;
    // A segment ran its share of the users.
    record.load.users = record.load.users.map(|u| plan.segment.users(u));
    for (step, failures) in record.steps.iter_mut().zip(check_failures) {
        step.check_failures = failures.into_iter().collect();
    }
    for (step, (_, spec)) in record.steps.iter_mut().zip(scenario.steps()) {
        step.session = spec.is_session_step();
    }
    record.warnings = scenario.warnings(&path.name);
    record.warnings.extend(extras.warnings);
    record.target = path.target_identity();
    if let Some(segment) = record.segment.as_mut() {
        segment.evidence = chaos.evidence;
    }
    record.faults = chaos.faults;
    record.resilience = chaos.resilience;
    record.telemetry = extras.telemetry;
    if scraped.is_some() || queries.is_some() {
        // Requests sent in the measured window (the steps' outcomes exclude the warmup;
        // dropped arrivals were never sent).
        let measured: u64 = record
            .steps
            .iter()
            .map(|s| {
                let dropped = s
                    .classes
                    .get(&crate::outcome::OutcomeClass::Dropped)
                    .copied()
                    .unwrap_or(0);
                s.count().saturating_sub(dropped)
            })
            .sum();
        let measured_s = report.elapsed.saturating_sub(load.warmup).as_secs_f64();
        let mut metrics = match &scraped {
            Some(scraped) => {
                record.warnings.extend(scraped.warnings());
                scraped.record(measured, load.warmup, measured_s)
            }
            None => MetricsRecord {
                requests: measured,
                endpoints: Vec::new(),
                measured_s,
                labels: BTreeMap::new(),
                queries: Vec::new(),
            },
        };
        metrics.labels = path.metric_labels.clone();
        if let Some(queries) = queries {
            record.warnings.extend(
                queries.iter().filter_map(|q| {
                    Some(format!("[[metric]] `{}`: {}", q.name, q.failure.as_ref()?))
                }),
            );
            metrics.queries = queries;
        }
        record.metrics = Some(metrics);
    }
    let file = record_file(&plan.out, &path.name, repetition);
    record.write_atomic(&file)?;
    Ok(RunResult { file, record })
}

/// The counters whose every value the scrape keeps: those of the `[[metric]]` rules that
/// check a harness observation.
fn watched_series(rules: &[crate::metrics::rule::MetricRule], path: &PathSpec) -> Vec<String> {
    use crate::metrics::rule::{Selector, Source, template};
    rules
        .iter()
        .filter(|r| r.observes.is_some())
        .filter_map(|r| match &r.source {
            Source::Series { selector, .. } => {
                let text = template(selector, &path.name, &path.metric_labels, None).ok()?;
                Some(Selector::parse(&text).ok()?.name().to_string())
            }
            _ => None,
        })
        .collect()
}

/// The `[[metric]]` queries of one run, once the scenario's `prometheus` has had its
/// `delay` to scrape the window's end (not waited for when the run was stopped); `None`
/// without queries.
async fn run_queries(
    scenario: &Scenario,
    path: &PathSpec,
    window: promql::Window,
    stop: &StopSignal,
) -> Option<Vec<crate::metrics::QueryRecord>> {
    let server = scenario.prometheus.as_ref()?;
    let rules = &scenario.policy.metrics;
    if !rules
        .iter()
        .any(|r| matches!(r.source, crate::metrics::rule::Source::Query { .. }))
    {
        return None;
    }
    let ready = window.end + server.delay;
    if let Ok(wait) = ready.duration_since(std::time::SystemTime::now())
        && !stop.is_triggered()
    {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.triggered() => {}
        }
    }
    let authorization = server
        .authorization
        .as_ref()
        .and_then(|a| http::HeaderValue::from_str(&a.resolved).ok());
    let client = match &path.tls {
        Some(tls) if server.url.resolved.starts_with("https://") => HttpClient::with_tls(2, tls),
        _ => HttpClient::new(2),
    };
    let prometheus = promql::Prometheus::new(&server.url.resolved, client, authorization);
    Some(
        prometheus
            .run_queries(rules, &path.name, &path.metric_labels, window, server.step)
            .await,
    )
}

/// The path's metrics endpoints, ready to scrape: the reference platform's `/metrics`
/// for `"reference"`, the path's TLS settings for an `https://` URL.
fn metrics_endpoints(path: &PathSpec, reference: Option<&ReferencePlatform>) -> Vec<Endpoint> {
    path.metrics
        .iter()
        .filter_map(|endpoint| {
            let url = match endpoint {
                MetricsEndpoint::Reference => format!("{}/metrics", reference?.url()),
                MetricsEndpoint::Url(url) => url.resolved.clone(),
            };
            let uri = http::Uri::try_from(url.as_str()).ok()?;
            let client = match &path.tls {
                Some(tls) if uri.scheme_str() == Some("https") => HttpClient::with_tls(2, tls),
                _ => HttpClient::new(2),
            };
            Some(Endpoint {
                written: endpoint.written().to_string(),
                uri,
                client,
            })
        })
        .collect()
}

/// What came from the environment and must not reach the record: the host of an
/// interpolated base URL (a TLS failure names it: "certificate not valid for name ...")
/// and interpolated header values (an answer that echoes a token would carry it into a
/// check failure's sample).
pub(crate) fn path_secrets(path: &PathSpec) -> Vec<String> {
    let host = match &path.target {
        Target::Url(url) if url.template.contains("${") => url::Url::parse(&url.resolved)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned)),
        _ => None,
    };
    host.into_iter()
        .chain(
            path.headers
                .iter()
                .filter(|h| h.value.has_secret())
                .flat_map(|h| [h.value.resolved.clone(), h.value.secret_part()]),
        )
        .filter(|s| !s.is_empty())
        .collect()
}

fn run_meta(
    scenario: &Scenario,
    path: &PathSpec,
    repetition: u32,
    seed: u64,
    started_at: SystemTime,
    report: &DriverReport,
) -> RunMeta {
    let mut notes = report.notes.clone();
    if report.interrupted {
        notes.push(format!(
            "interrupted after {:.1} s of {:.1} s; this record is incomplete",
            report.elapsed.as_secs_f64(),
            (scenario.load.warmup + scenario.load.duration).as_secs_f64()
        ));
    }
    RunMeta::new(
        scenario, &path.name, repetition, seed, started_at, report, notes,
    )
}

/// `<out>/runs/<path>-r<repetition>.json`
pub fn record_file(out: &Path, path: &str, repetition: u32) -> PathBuf {
    out.join("runs").join(format!("{path}-r{repetition}.json"))
}

/// The files of `records` under `out`, as a baseline's provenance names them.
pub fn record_files(out: &Path, records: &[RunRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            record_file(out, &r.path, r.repetition)
                .display()
                .to_string()
        })
        .collect()
}
