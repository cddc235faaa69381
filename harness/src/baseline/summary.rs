//! The merged summary of a baseline: per step, every run's outcomes pooled into one
//! histogram of successful latencies and one count per outcome class.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::outcome::OutcomeClass;
use crate::record::histogram::add_histogram;
use crate::record::{RunRecord, latency_histogram};

/// One step of the baseline, pooled over its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// Flow the step belongs to.
    pub flow: String,
    /// Step name.
    pub step: String,
    /// Latencies of successful outcomes of every run, µs.
    #[serde(with = "crate::record::codec")]
    pub ok: Histogram<u64>,
    /// Outcomes per class over every run; classes without outcomes are left out.
    pub classes: BTreeMap<OutcomeClass, u64>,
    /// Every outcome over every run, dropped arrivals included.
    pub count: u64,
    /// Share of outcomes that did not succeed (dropped arrivals count as failures), `0..=1`.
    pub error_rate: f64,
    /// Median of the pooled successful latencies, µs (0 without any).
    pub p50_us: u64,
    /// 95th percentile of the pooled successful latencies, µs (0 without any).
    pub p95_us: u64,
    /// 99th percentile of the pooled successful latencies, µs (0 without any).
    pub p99_us: u64,
}

/// Pools the steps of `records`, which must share one step layout (checked by the caller).
pub(crate) fn summarize(records: &[RunRecord]) -> Vec<StepSummary> {
    let Some(first) = records.first() else {
        return Vec::new();
    };
    (0..first.steps.len())
        .map(|i| {
            let mut ok = latency_histogram();
            let mut classes: BTreeMap<OutcomeClass, u64> = BTreeMap::new();
            for step in records.iter().filter_map(|r| r.steps.get(i)) {
                add_histogram(&mut ok, &step.ok);
                for (class, n) in &step.classes {
                    let sum = classes.entry(*class).or_insert(0);
                    *sum = sum.saturating_add(*n);
                }
            }
            let count = classes.values().fold(0u64, |s, n| s.saturating_add(*n));
            let ok_count = classes.get(&OutcomeClass::Ok).copied().unwrap_or(0);
            let error_rate = match count {
                0 => 0.0,
                n => n.saturating_sub(ok_count) as f64 / n as f64,
            };
            let at = |q: f64| {
                if ok.is_empty() {
                    0
                } else {
                    ok.value_at_quantile(q)
                }
            };
            StepSummary {
                flow: first.steps[i].flow.clone(),
                step: first.steps[i].step.clone(),
                p50_us: at(0.50),
                p95_us: at(0.95),
                p99_us: at(0.99),
                ok,
                classes,
                count,
                error_rate,
            }
        })
        .collect()
}
