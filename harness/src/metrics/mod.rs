//! The system under test's own Prometheus metrics, scraped directly from its endpoints
//! before, during (once a second) and after each run, and summarised per series over the
//! measured window: counter deltas and rates, gauge quantiles, CPU seconds per 1 000
//! requests and peak resident memory.
//!
//! Only what was measured is recorded: a series whose window had no successful scrape has
//! no delta (never a zero), and every failed scrape is counted with the first reason.

pub mod exposition;
pub mod scrape;
pub mod series;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use scrape::{Endpoint, MetricsScrape, Scraped};

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
