//! The runs of one step on one side: what every decision metric reads its values from.

use hdrhistogram::Histogram;

use super::{Counts, QuantileOf, RunValues};
use crate::record::histogram::add_histogram;
use crate::record::{FaultRecord, RunRecord, StepRecord, check_summary, latency_histogram};

/// Latencies below this count as this (µs): the histograms' resolution. A cached answer
/// recorded as 0 µs is a latency, not a missing one, and a ratio needs a positive base.
const RESOLUTION_US: f64 = 1.0;

/// The runs of one step on one side, with their successful latencies merged.
#[derive(Debug)]
pub struct StepRuns<'a> {
    runs: Vec<&'a StepRecord>,
    /// Per run, aligned with `runs`: its fault windows and warmup.
    context: Vec<(&'a [FaultRecord], f64)>,
    merged_ok: Histogram<u64>,
    failed: u64,
    total: u64,
}

impl<'a> StepRuns<'a> {
    /// The step `flow`/`step` of every record that has it.
    pub fn collect(records: &'a [RunRecord], flow: &str, step: &str) -> Self {
        let (runs, context): (Vec<&StepRecord>, Vec<(&[FaultRecord], f64)>) = records
            .iter()
            .filter_map(|r| {
                let s = r.steps.iter().find(|s| s.flow == flow && s.step == step)?;
                Some((s, (r.faults.as_slice(), r.load.warmup_s)))
            })
            .unzip();
        let mut merged_ok = latency_histogram();
        for s in &runs {
            add_histogram(&mut merged_ok, &s.ok);
        }
        let failed = runs.iter().map(|s| s.failed_count()).sum();
        let total = runs.iter().map(|s| s.count()).sum();
        Self {
            runs,
            context,
            merged_ok,
            failed,
            total,
        }
    }

    /// Successful outcomes over the runs.
    pub fn ok_count(&self) -> u64 {
        self.runs.iter().map(|r| r.ok_count()).sum::<u64>()
    }

    /// Failed outcomes (every non-ok one, dropped arrivals included) out of all outcomes.
    pub fn failures(&self) -> Counts {
        Counts {
            events: self.failed,
            trials: self.total,
        }
    }

    /// Failed outcomes out of all among the requests started outside every fault window
    /// and `settle` seconds after it; `None` when a run has outcomes but no per-second
    /// counts (a record made before they were kept).
    pub fn failures_outside_faults(&self, settle: f64) -> Option<Counts> {
        let mut counts = Counts {
            events: 0,
            trials: 0,
        };
        for (run, (faults, warmup)) in self.runs.iter().zip(&self.context) {
            if run.seconds.is_empty() && run.count() > 0 {
                return None;
            }
            let windows: Vec<(f64, f64)> = faults
                .iter()
                .flat_map(|f| f.windows.iter().map(|&(start, end)| (start, end + settle)))
                .collect();
            for (second, [outcomes, failures]) in run.seconds.iter().enumerate() {
                // The second [warmup + s, warmup + s + 1) since the run started.
                let from = warmup + second as f64;
                let to = from + 1.0;
                if windows
                    .iter()
                    .all(|&(start, end)| to <= start || from >= end)
                {
                    counts.trials += outcomes;
                    counts.events += failures;
                }
            }
        }
        Some(counts)
    }

    /// The latency quantile `q` of successful requests: one per run that has successes,
    /// and of the merged runs (0 without successes), each at least the resolution.
    pub fn latency_quantile(&self, q: f64) -> RunValues<'_> {
        let per_run = self
            .runs
            .iter()
            .filter(|s| s.ok_count() > 0)
            .map(|s| (s.percentile_us(q) as f64).max(RESOLUTION_US))
            .collect();
        let merged = if self.merged_ok.is_empty() {
            0.0
        } else {
            (self.merged_ok.value_at_quantile(q) as f64).max(RESOLUTION_US)
        };
        RunValues {
            per_run,
            merged,
            quantile_of: Some(QuantileOf {
                distribution: &self.merged_ok,
                quantile: q,
            }),
            count_variance: 0.0,
        }
    }

    /// "candidate: 12 of 201 failed `/status equals "done"`" for the checks that failed
    /// over the side's runs; `None` when none did.
    pub fn check_note(&self, side: &str) -> Option<String> {
        let mut failures = std::collections::BTreeMap::new();
        for run in &self.runs {
            for (name, n) in &run.check_failures {
                *failures.entry(name.clone()).or_insert(0u64) += n;
            }
        }
        let lines = check_summary(&failures, self.total);
        (!lines.is_empty()).then(|| format!("{side}: {}", lines.join(", ")))
    }
}
