//! The system under test's own Prometheus metrics as data: what a run's scrape of its
//! endpoints (made by `crate::scrape` before, during (once a second) and after each run)
//! and its `[[metric]]` queries recorded, summarised per series over the measured window
//! (counter deltas and rates, gauge quantiles, CPU seconds per 1 000 requests, peak
//! resident memory); the exposition-format parser; and the `[[metric]]` rules
//! ([`rule`]) that turn a run's record into one value. Pure: no I/O.
//!
//! Only what was measured is recorded: a series whose window had no successful scrape has
//! no delta (never a zero), and every failed scrape is counted with the first reason.

pub mod exposition;
pub mod rule;
pub mod series;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// At most this many series are kept per endpoint; the others are counted.
pub const SERIES_CAP: usize = 500;

/// The series the per-request normalisation divides by the run's requests.
pub const CPU_SERIES: &str = "process_cpu_seconds_total";
/// The series whose peak is recorded as the process's resident memory.
pub const RSS_SERIES: &str = "process_resident_memory_bytes";

/// What the scrape of a run's metrics endpoints found: `metrics` in a run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    /// Completed requests of the measured window: the divisor of the per-request values.
    pub requests: u64,
    /// One entry per endpoint, in the scenario's order.
    pub endpoints: Vec<EndpointRecord>,
    /// Seconds of the measured window (the run without its warmup): the divisor of the
    /// per-second values.
    #[serde(default)]
    pub measured_s: f64,
    /// The path's `metric_labels`, which the rules' templates read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The `[[metric]]` queries against `prometheus` for this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<QueryRecord>,
}

impl MetricsRecord {
    /// The measured window's seconds, when known.
    pub fn window_seconds(&self) -> Option<f64> {
        (self.measured_s > 0.0).then_some(self.measured_s)
    }

    /// The increase of the watched counters matching `selector` (templated for `path`)
    /// over `windows` (seconds since the run's start, overlapping ones merged), each
    /// widened by `settle` at its end; `None` when no watched series matched or a window
    /// has no value before it.
    pub fn fault_window_increase(
        &self,
        selector: &str,
        path: &str,
        windows: &[(f64, f64)],
        settle: f64,
    ) -> Option<f64> {
        let text = rule::template(selector, path, &self.labels, None).ok()?;
        let selector = rule::Selector::parse(&text).ok()?;
        let mut spans: Vec<(f64, f64)> = windows.iter().map(|&(a, b)| (a, b + settle)).collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut total: Option<f64> = None;
        for timeline in self
            .endpoints
            .iter()
            .flat_map(|e| &e.timelines)
            .filter(|t| selector.matches(&t.name, &t.labels))
        {
            for &(a, b) in &merged {
                *total.get_or_insert(0.0) += timeline.increase(a, b)?;
            }
        }
        total
    }
}

/// One `[[metric]]` query's answer for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRecord {
    /// The rule's name.
    pub name: String,
    /// The query sent, templated (the Prometheus URL is never recorded: it may hold a
    /// secret).
    pub promql: String,
    /// The value; absent when the query failed or returned nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Points a range query reduced (1 for an instant query).
    #[serde(default)]
    pub points: u64,
    /// Why there is no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// One endpoint's scrapes and series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// The endpoint as the scenario wrote it (`reference`, `${SVC_METRICS_URL}`): an
    /// interpolated URL may hold a secret, so the resolved one is never kept.
    pub endpoint: String,
    /// Scrapes tried: before the run, once a second during it, and after it.
    pub scrapes: u32,
    /// Scrapes that failed (no answer in 2 s, a status other than 2xx, a body that is not
    /// the exposition format).
    pub failed: u32,
    /// Why the first failed scrape failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
    /// Seconds from the measured window's start to the first and the last successful
    /// scrape inside it; absent when no scrape of the window succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<(f64, f64)>,
    /// Series of the scenario's `metrics_series` that no successful scrape held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_series: Vec<String>,
    /// Most series of one scrape left out beyond [`SERIES_CAP`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub series_over_cap: u64,
    /// Counters (a `counter` type, a histogram's or summary's cumulative series, or an
    /// untyped name ending `_total`).
    pub counters: Vec<CounterRecord>,
    /// Gauges (everything else).
    pub gauges: Vec<GaugeRecord>,
    /// Increase of `process_cpu_seconds_total` per 1 000 requests of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds_per_1000_requests: Option<f64>,
    /// Highest `process_resident_memory_bytes` in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<f64>,
    /// Every scraped value of the counters a `[[metric]]` rule checks against a harness
    /// observation, to count them over the fault windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timelines: Vec<TimelineRecord>,
}

/// Every scraped value of one counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRecord {
    /// Series name.
    pub name: String,
    /// Its labels (sorted by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// (seconds since the run's start, value), in scrape order.
    pub points: Vec<(f64, f64)>,
}

impl TimelineRecord {
    /// The counter's increase from its last value at or before `from` to its first value
    /// at or after `to` (its last value when none is), restarts counted as in the
    /// window's delta; `None` without a value at or before `from`.
    pub fn increase(&self, from: f64, to: f64) -> Option<f64> {
        let first = self.points.iter().rposition(|&(t, _)| t <= from)?;
        let last = self
            .points
            .iter()
            .position(|&(t, _)| t >= to)
            .unwrap_or(self.points.len() - 1)
            .max(first);
        let mut increase = 0.0;
        for pair in self.points[first..=last].windows(2) {
            let (before, after) = (pair[0].1, pair[1].1);
            increase += if after >= before {
                after - before
            } else {
                after
            };
        }
        Some(increase)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A counter over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterRecord {
    /// Series name.
    pub name: String,
    /// Its labels (sorted by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Increase over the window, restarts included (a drop adds the value after it).
    pub delta: f64,
    /// `delta` per second between the scrapes it was taken from; absent when they were
    /// the same scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    /// Drops seen (restarts of the service, or of the counter).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resets: u64,
}

/// A gauge over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaugeRecord {
    /// Series name.
    pub name: String,
    /// Its labels (sorted by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Lowest value.
    pub min: f64,
    /// Median value.
    pub p50: f64,
    /// Highest value.
    pub max: f64,
    /// Scrapes the values came from.
    pub samples: u64,
}
