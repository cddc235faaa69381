//! The system under test's own metrics, read while a run drives it: the scraper of its
//! `metrics` endpoints (here) and the `[[metric]]` queries against its Prometheus
//! ([`promql`]). The records they make are `crate::metrics`' (pure data and parsing).
//!
//! The scraper: every endpoint before the run, once a second during it (and once exactly
//! at the warmup's end, where the measured window starts), and after it, each scrape
//! within 2 s, all endpoints at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, HeaderValue};
use http::{HeaderMap, Method, Uri};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub mod promql;

use crate::kinds::http::{HttpClient, OutgoingRequest};
use crate::metrics::exposition::Exposition;
use crate::metrics::series::SeriesTable;
use crate::metrics::{EndpointRecord, MetricsRecord};
use crate::outcome::OutcomeClass;

/// How long one scrape may take.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// One endpoint to scrape.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// As the scenario wrote it: what the record shows.
    pub written: String,
    /// Where to send the scrape (may hold a secret: never recorded).
    pub uri: Uri,
    /// The client (the path's TLS settings for an `https://` endpoint).
    pub client: HttpClient,
}

/// One endpoint's scrapes so far.
#[derive(Debug)]
struct State {
    endpoint: Endpoint,
    scrapes: u32,
    failed: u32,
    first_failure: Option<String>,
    table: SeriesTable,
}

/// Scrapes running beside a drive.
#[derive(Debug)]
pub struct MetricsScrape {
    epoch: Instant,
    warmup: Duration,
    endpoints: Vec<Endpoint>,
    only: Vec<String>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<State>>,
}

/// Every scrape of a finished run, to be summarised once the run's requests are known.
#[derive(Debug)]
pub struct Scraped {
    states: Vec<State>,
}

impl MetricsScrape {
    /// Scrapes every endpoint once (before the run), then keeps scraping in the
    /// background; the run starts when this returns, and its warmup lasts `warmup`.
    /// Every value of the counters named in `watch` is kept (see
    /// [`SeriesTable::watching`]).
    pub async fn start(
        endpoints: Vec<Endpoint>,
        only: &[String],
        watch: &[String],
        warmup: Duration,
    ) -> Self {
        let mut states: Vec<State> = endpoints
            .into_iter()
            .map(|endpoint| State {
                endpoint,
                scrapes: 0,
                failed: 0,
                first_failure: None,
                table: SeriesTable::new(only.to_vec()).watching(watch.to_vec()),
            })
            .collect();
        scrape_all(&mut states, 0.0, warmup.is_zero()).await;
        // The run's clock starts after the first scrape, which stands for its time zero.
        let epoch = Instant::now();
        let endpoints = states.iter().map(|s| s.endpoint.clone()).collect();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let warm = warmup.as_secs_f64();
            let mut tick = 0.0;
            loop {
                tick = next_tick(tick, warm);
                let at = epoch + Duration::from_secs_f64(tick);
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    _ = stopped.changed() => break,
                }
                scrape_all(&mut states, epoch.elapsed().as_secs_f64(), tick >= warm).await;
            }
            states
        });
        Self {
            epoch,
            warmup,
            endpoints,
            only: only.to_vec(),
            stop,
            task,
        }
    }

    /// Stops the background scrapes and scrapes every endpoint once more (after the run).
    pub async fn finish(self) -> Scraped {
        let _ = self.stop.send(true);
        let mut states = match self.task.await {
            Ok(states) => states,
            // The task panicked: what it held is lost, and the record says so.
            Err(e) => self
                .endpoints
                .into_iter()
                .map(|endpoint| State {
                    endpoint,
                    scrapes: 1,
                    failed: 1,
                    first_failure: Some(format!("the scrape task failed: {e}")),
                    table: SeriesTable::new(self.only.clone()),
                })
                .collect(),
        };
        let t = self.epoch.elapsed();
        scrape_all(&mut states, t.as_secs_f64(), t >= self.warmup).await;
        Scraped { states }
    }
}

impl Scraped {
    /// The record, per-request values divided by `requests` (the run's completed
    /// requests in the measured window), times relative to a warmup of `warmup`.
    pub fn record(&self, requests: u64, warmup: Duration, measured_s: f64) -> MetricsRecord {
        let warm = warmup.as_secs_f64();
        let endpoints = self
            .states
            .iter()
            .map(|s| {
                let summary = s.table.summary();
                EndpointRecord {
                    endpoint: s.endpoint.written.clone(),
                    scrapes: s.scrapes,
                    failed: s.failed,
                    first_failure: s.first_failure.clone(),
                    window_s: summary
                        .window
                        .map(|(a, b)| (round_ms((a - warm).max(0.0)), round_ms(b - warm))),
                    missing_series: summary.missing,
                    series_over_cap: summary.over_cap,
                    cpu_seconds_per_1000_requests: summary
                        .cpu_seconds
                        .filter(|_| requests > 0)
                        .map(|cpu| cpu * 1000.0 / requests as f64),
                    peak_rss_bytes: summary.peak_rss,
                    counters: summary.counters,
                    gauges: summary.gauges,
                    timelines: summary.timelines,
                }
            })
            .collect();
        MetricsRecord {
            requests,
            endpoints,
            measured_s,
            labels: std::collections::BTreeMap::new(),
            queries: Vec::new(),
        }
    }

    /// One line per endpoint whose scrapes failed, for the run's warnings.
    pub fn warnings(&self) -> Vec<String> {
        self.states
            .iter()
            .filter(|s| s.failed > 0)
            .map(|s| {
                format!(
                    "metrics endpoint `{}`: {} of {} scrapes failed (first: {})",
                    s.endpoint.written,
                    s.failed,
                    s.scrapes,
                    s.first_failure.as_deref().unwrap_or("unknown")
                )
            })
            .collect()
    }
}

/// The next scrape time after `tick`: whole seconds during the warmup, the warmup's end
/// itself, then every second after it.
fn next_tick(tick: f64, warmup: f64) -> f64 {
    if tick < warmup {
        (tick.floor() + 1.0).min(warmup)
    } else {
        tick + 1.0
    }
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// Scrapes every endpoint at once and folds the answers in.
async fn scrape_all(states: &mut [State], t: f64, in_window: bool) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, state) in states.iter().enumerate() {
        let client = state.endpoint.client.clone();
        let uri = state.endpoint.uri.clone();
        tasks.spawn(async move { (i, scrape_one(&client, uri).await) });
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok((i, answer)) = joined else { continue };
        let state = &mut states[i];
        state.scrapes += 1;
        match answer {
            Ok(body) => state.table.observe(t, in_window, &body),
            Err(why) => {
                state.failed += 1;
                state.first_failure.get_or_insert(why);
            }
        }
    }
}

/// One scrape: a GET within [`SCRAPE_TIMEOUT`], a 2xx answer, a readable body.
async fn scrape_one(client: &HttpClient, uri: Uri) -> Result<Exposition, String> {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("text/plain;version=0.0.4;q=1,*/*;q=0.1"),
    );
    let request = OutgoingRequest {
        method: Method::GET,
        uri,
        headers,
        body: Bytes::new(),
        request_id: 0,
        keep_body: true,
        keep_headers: None::<Arc<[http::HeaderName]>>,
    };
    let answer = client.send(request, SCRAPE_TIMEOUT).await;
    if let Some(class) = answer.failure {
        return Err(match class {
            OutcomeClass::Timeout => "no answer within 2 s".to_string(),
            OutcomeClass::Connect => "connection refused or unreachable".to_string(),
            OutcomeClass::Tls => "TLS handshake failed".to_string(),
            other => format!("transport failure ({})", other.as_str()),
        });
    }
    match answer.status {
        Some(status) if (200..300).contains(&status) => {}
        Some(status) => return Err(format!("HTTP status {status}")),
        None => return Err("no status".into()),
    }
    let text =
        std::str::from_utf8(&answer.body).map_err(|_| "the body is not UTF-8".to_string())?;
    Exposition::parse(text).map_err(|e| format!("not the exposition format: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_whole_seconds_then_the_warmup_end_then_every_second() {
        let mut ticks = Vec::new();
        let mut t = 0.0;
        for _ in 0..5 {
            t = next_tick(t, 1.5);
            ticks.push(t);
        }
        assert_eq!(ticks, vec![1.0, 1.5, 2.5, 3.5, 4.5]);
        assert_eq!(next_tick(0.0, 0.0), 1.0);
    }
}
