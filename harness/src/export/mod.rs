//! Results out to monitoring: what a run, a compare or a gate decided, as Prometheus
//! series, for a node_exporter textfile ([`openmetrics`]) or a remote-write endpoint
//! ([`remote_write`]).
//!
//! The builders here are pure: they turn a [`ReportDocument`], a [`GateResult`] or run
//! records into [`Sample`]s, every one a gauge named `harness_*` (the [`SERIES`] list),
//! stamped with the one time the caller passes in. Rows are exported generically (step,
//! [`Metric::label`](crate::compare::Metric::label), [`Unit::comparison`]), so a new
//! decision metric is exported without a change here.
//!
//! Label names are fixed here and checked against the Prometheus rule; label values are
//! names from input files and go through [`text::printable`] (no hidden character reaches
//! a dashboard); an empty value is left out, as Prometheus treats it as absent. The same
//! series never appears twice in one export (a receiver refuses a request that has it).

pub mod openmetrics;
pub mod remote_write;

use std::collections::HashSet;

use hdrhistogram::Histogram;

use crate::compare::{Comparison, Verdict};
use crate::gate::GateResult;
use crate::record::{RunRecord, add_histogram, latency_histogram};
use crate::report::ReportDocument;
use crate::text;

/// One gauge value of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name (`harness_verdict_code`).
    pub name: String,
    /// Its labels, sorted by name, `__name__` not included.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything one command exports: its samples, all stamped with one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// Milliseconds since the Unix epoch: when the command exported (not when it ran).
    pub timestamp_ms: i64,
    /// The samples, each series once, in the order built.
    pub samples: Vec<Sample>,
}

/// Every series the exporters write, with its `# HELP` text.
pub const SERIES: &[(&str, &str)] = &[
    (
        "harness_verdict",
        "1 for the verdict named by the verdict label, 0 for the other three",
    ),
    (
        "harness_verdict_code",
        "The verdict of a scenario: 0 GO, 1 INCONCLUSIVE, 2 NO-GO, 3 ROLLBACK",
    ),
    (
        "harness_gate_verdict_code",
        "The decision of a migration phase: 0 GO, 1 INCONCLUSIVE, 2 NO-GO, 3 ROLLBACK",
    ),
    (
        "harness_row_base",
        "A decision row's base value in the metric's own unit (latency in microseconds, error rate as a share)",
    ),
    (
        "harness_row_candidate",
        "A decision row's candidate value in the metric's own unit",
    ),
    (
        "harness_row_estimate",
        "A decision row's effect: a ratio candidate/base or a difference candidate-base (label unit)",
    ),
    (
        "harness_row_low",
        "The lower bound of a decision row's interval",
    ),
    (
        "harness_row_high",
        "The upper bound of a decision row's interval",
    ),
    (
        "harness_row_verdict_code",
        "A decision row's verdict: 0 GO, 1 INCONCLUSIVE, 2 NO-GO, 3 ROLLBACK",
    ),
    (
        "harness_expectation_verdict_code",
        "A resilience expectation's verdict on a path: 0 GO, 1 INCONCLUSIVE, 2 NO-GO, 3 ROLLBACK",
    ),
    (
        "harness_parity_verdict_code",
        "A parity row's verdict: 0 GO, 1 INCONCLUSIVE, 2 NO-GO, 3 ROLLBACK",
    ),
    (
        "harness_run_requests",
        "Requests a run sent in its measured window",
    ),
    (
        "harness_run_errors",
        "Outcomes of a run that did not succeed, dropped arrivals included",
    ),
    (
        "harness_run_achieved_rate",
        "The rate a run achieved, per second",
    ),
    (
        "harness_run_latency_seconds",
        "A latency quantile of a run's successful requests, every step merged",
    ),
    (
        "harness_run_complete",
        "1 when the run finished, 0 when it was interrupted",
    ),
    (
        "harness_service_cpu_seconds_per_1000_requests",
        "The service's CPU seconds per 1000 requests of the run, from its scraped metrics",
    ),
    (
        "harness_service_peak_rss_bytes",
        "The service's highest resident memory during the run, from its scraped metrics",
    ),
];

/// The `# HELP` text of series `name`.
pub fn help(name: &str) -> Option<&'static str> {
    SERIES.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

/// A verdict as a number that orders by severity: 0 GO, 1 INCONCLUSIVE, 2 NO-GO,
/// 3 ROLLBACK.
pub fn verdict_code(verdict: Verdict) -> f64 {
    match verdict {
        Verdict::Go => 0.0,
        Verdict::Inconclusive => 1.0,
        Verdict::NoGo => 2.0,
        Verdict::Rollback => 3.0,
    }
}

/// Every verdict, in code order.
const VERDICTS: [Verdict; 4] = [
    Verdict::Go,
    Verdict::Inconclusive,
    Verdict::NoGo,
    Verdict::Rollback,
];

/// The latency quantiles of a run, with their label text.
const RUN_QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.95, "0.95"), (0.99, "0.99")];

/// `name` made a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`): every other character
/// becomes `_`, and a leading digit (or nothing) gets a `_` before it.
pub fn label_name(name: &str) -> String {
    sanitise(name, false)
}

/// `name` made a valid series name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), like [`label_name`].
pub fn series_name(name: &str) -> String {
    sanitise(name, true)
}

fn sanitise(name: &str, colon: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A metrics endpoint as a label: a URL without its userinfo, query and fragment (a
/// scenario may write a token there), anything else as written.
fn endpoint_label(written: &str) -> String {
    match url::Url::parse(written) {
        Ok(url) if url.has_host() => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}{}",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.path()
            )
        }
        _ => written.to_string(),
    }
}

/// Labels as the builders pass them: fixed names, values from the results.
type Labels<'a> = [(&'a str, &'a str)];

/// Samples being built: each series once.
#[derive(Debug, Default)]
struct Builder {
    samples: Vec<Sample>,
    seen: HashSet<(String, Vec<(String, String)>)>,
}

impl Builder {
    /// Adds `name{common, own} value` unless that series is already there (the first
    /// value stands).
    fn push(&mut self, name: &str, common: &Labels<'_>, own: &Labels<'_>, value: f64) {
        let mut labels: Vec<(String, String)> = Vec::with_capacity(common.len() + own.len());
        for (k, v) in common.iter().chain(own) {
            if v.is_empty() {
                continue;
            }
            let k = label_name(k);
            if !labels.iter().any(|(seen, _)| *seen == k) {
                labels.push((k, text::printable(v).into_owned()));
            }
        }
        labels.sort();
        let name = series_name(name);
        if self.seen.insert((name.clone(), labels.clone())) {
            self.samples.push(Sample {
                name,
                labels,
                value,
            });
        }
    }

    fn finish(self, timestamp_ms: i64) -> Export {
        Export {
            timestamp_ms,
            samples: self.samples,
        }
    }
}

impl Export {
    /// The series of a `harness run`: one set per run record.
    pub fn runs(records: &[RunRecord], timestamp_ms: i64) -> Self {
        let mut out = Builder::default();
        for record in records {
            run_series(
                &mut out,
                record,
                &[("scenario", record.scenario.name.as_str())],
            );
        }
        out.finish(timestamp_ms)
    }

    /// The series of a `harness compare`: its verdict, rows, expectations and parity,
    /// and the runs it measured (see [`measured_runs`]).
    pub fn compare(doc: &ReportDocument, timestamp_ms: i64) -> Self {
        let mut out = Builder::default();
        document_series(&mut out, doc, None, doc.comparison.verdict);
        out.finish(timestamp_ms)
    }

    /// The series of a `harness gate`: the phase's decision, and for every scenario its
    /// verdict (the gate's, confirmation applied) labelled with the phase, with the
    /// series of its decisive compare when `documents` holds it (matched by scenario
    /// name; a scenario decided without a compare has its verdict only).
    pub fn gate(result: &GateResult, documents: &[ReportDocument], timestamp_ms: i64) -> Self {
        let mut out = Builder::default();
        let phase = result.phase.to_string();
        out.push(
            "harness_gate_verdict_code",
            &[("phase", phase.as_str())],
            &[],
            verdict_code(result.decision),
        );
        for outcome in &result.scenarios {
            let doc = documents
                .iter()
                .find(|d| d.comparison.scenario.name == outcome.scenario);
            match doc {
                Some(doc) => document_series(&mut out, doc, Some(&phase), outcome.verdict),
                None => verdict_series(
                    &mut out,
                    &[
                        ("scenario", outcome.scenario.as_str()),
                        ("phase", phase.as_str()),
                    ],
                    outcome.verdict,
                ),
            }
        }
        out.finish(timestamp_ms)
    }
}

/// The runs a compare's series describe, each run once: the candidate's, then the base
/// path's live runs beside a stored baseline when there are, else the base side's.
pub fn measured_runs(doc: &ReportDocument) -> impl Iterator<Item = &RunRecord> {
    let base = if doc.live_base_runs.is_empty() {
        &doc.base_runs
    } else {
        &doc.live_base_runs
    };
    doc.candidate_runs.iter().chain(base)
}

/// A compare's series; `verdict` is the scenario's (the gate's may differ from its
/// compare's).
fn document_series(out: &mut Builder, doc: &ReportDocument, phase: Option<&str>, verdict: Verdict) {
    let c = &doc.comparison;
    let mut common: Vec<(&str, &str)> = vec![("scenario", c.scenario.name.as_str())];
    if let Some(phase) = phase {
        common.push(("phase", phase));
    }
    let mut decision = common.clone();
    decision.extend([
        ("base", c.base.path.as_str()),
        ("candidate", c.candidate.path.as_str()),
    ]);
    verdict_series(out, &decision, verdict);
    comparison_series(out, c, &decision);
    for record in measured_runs(doc) {
        run_series(out, record, &common);
    }
}

/// `harness_verdict` (one per verdict, 1 for `verdict`) and `harness_verdict_code`.
fn verdict_series(out: &mut Builder, common: &Labels<'_>, verdict: Verdict) {
    for v in VERDICTS {
        out.push(
            "harness_verdict",
            common,
            &[("verdict", v.as_str())],
            if v == verdict { 1.0 } else { 0.0 },
        );
    }
    out.push("harness_verdict_code", common, &[], verdict_code(verdict));
}

/// The rows, expectations and parity rows of `c`.
fn comparison_series(out: &mut Builder, c: &Comparison, common: &Labels<'_>) {
    for row in &c.rows {
        let metric = row.metric.label();
        let own = [
            ("step", row.step.as_str()),
            ("metric", metric.as_str()),
            ("unit", row.metric.unit().comparison()),
        ];
        out.push("harness_row_base", common, &own, row.base);
        out.push("harness_row_candidate", common, &own, row.candidate);
        if let Some(interval) = &row.interval {
            out.push("harness_row_estimate", common, &own, interval.estimate);
            out.push("harness_row_low", common, &own, interval.low);
            out.push("harness_row_high", common, &own, interval.high);
        }
        out.push(
            "harness_row_verdict_code",
            common,
            &own,
            verdict_code(row.verdict),
        );
    }
    for e in &c.expectations {
        out.push(
            "harness_expectation_verdict_code",
            common,
            &[
                ("path", e.path.as_str()),
                ("expectation", e.expectation.as_str()),
            ],
            verdict_code(e.verdict),
        );
    }
    for p in c.parity.iter().flat_map(|p| &p.rows) {
        out.push(
            "harness_parity_verdict_code",
            common,
            &[("step", p.step.as_str()), ("field", p.field.as_str())],
            verdict_code(p.verdict),
        );
    }
}

/// One run's series, labelled with its path and repetition.
fn run_series(out: &mut Builder, record: &RunRecord, common: &Labels<'_>) {
    let repetition = record.repetition.to_string();
    let own = [
        ("path", record.path.as_str()),
        ("repetition", repetition.as_str()),
    ];
    let errors: u64 = record.steps.iter().map(|s| s.failed_count()).sum();
    out.push(
        "harness_run_requests",
        common,
        &own,
        record.load.sent as f64,
    );
    out.push("harness_run_errors", common, &own, errors as f64);
    out.push(
        "harness_run_achieved_rate",
        common,
        &own,
        record.load.achieved_rate,
    );
    let merged = merged_ok(record);
    if !merged.is_empty() {
        for (q, label) in RUN_QUANTILES {
            let mut labels = own.to_vec();
            labels.push(("quantile", label));
            let seconds = merged.value_at_quantile(q) as f64 / 1e6;
            out.push("harness_run_latency_seconds", common, &labels, seconds);
        }
    }
    out.push(
        "harness_run_complete",
        common,
        &own,
        if record.complete { 1.0 } else { 0.0 },
    );
    for endpoint in record.metrics.iter().flat_map(|m| &m.endpoints) {
        let shown = endpoint_label(&endpoint.endpoint);
        let mut labels = own.to_vec();
        labels.push(("endpoint", shown.as_str()));
        if let Some(cpu) = endpoint.cpu_seconds_per_1000_requests {
            out.push(
                "harness_service_cpu_seconds_per_1000_requests",
                common,
                &labels,
                cpu,
            );
        }
        if let Some(rss) = endpoint.peak_rss_bytes {
            out.push("harness_service_peak_rss_bytes", common, &labels, rss);
        }
    }
}

/// The successful latencies of every step of `record`, merged (µs).
fn merged_ok(record: &RunRecord) -> Histogram<u64> {
    let mut merged = latency_histogram();
    for step in &record.steps {
        add_histogram(&mut merged, &step.ok);
    }
    merged
}

#[cfg(test)]
mod tests;
