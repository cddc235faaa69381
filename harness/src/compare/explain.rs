//! A latency regression explained by the engine's spans.
//!
//! When a latency row says NO-GO or ROLLBACK and both sides' runs carry Dagger telemetry,
//! the operations whose time or cache-hit share changed most between base and candidate
//! say where the time went: "`Container.stdout`: p50 1.2 s → 3.9 s, cache hits 92% →
//! 8%". Pure: computed from the run records' telemetry summaries.
//!
//! Per side and operation (span name), the p50 is the median of the runs' p50s, the
//! count and cache hits are summed over the runs; spans of lazy calls (`withExec`,
//! marked pending) carry no time of their own and are judged by count and cache only.
//! An operation's weight is the change in time it costs per run (p50 × spans per run),
//! so a slower operation that runs once counts less than one that runs in every step.

use serde::{Deserialize, Serialize};

use super::row::{Metric, Row};
use super::verdict::Verdict;
use crate::otlp::{SpanGroup, TelemetrySummary};
use crate::record::RunRecord;

/// Operations listed at most.
pub const MAX_OPERATIONS: usize = 5;
/// A change in cache-hit share this large is listed whatever the time change.
pub const CACHE_SHIFT: f64 = 0.2;

/// Why the candidate is slower, in the engine's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanExplanation {
    /// The latency rows it explains: `step p95 ROLLBACK`.
    pub rows: Vec<String>,
    /// The operations that changed most, largest change first.
    pub operations: Vec<OperationChange>,
    /// What limits the reading (spans missing on a side), empty when nothing does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caveats: Vec<String>,
}

/// One operation (span name) on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationChange {
    /// The span name, e.g. `Container.stdout`.
    pub name: String,
    /// Median of the base runs' p50, microseconds (none: no timed span).
    pub base_p50_us: Option<u64>,
    /// Median of the candidate runs' p50, microseconds.
    pub candidate_p50_us: Option<u64>,
    /// Spans per base run.
    pub base_per_run: f64,
    /// Spans per candidate run.
    pub candidate_per_run: f64,
    /// Share of the base spans answered from the cache (none without spans).
    pub base_cache_hits: Option<f64>,
    /// Share of the candidate spans answered from the cache.
    pub candidate_cache_hits: Option<f64>,
    /// Change in time per run (candidate − base), microseconds.
    pub time_change_us: f64,
    /// Every base span of it was a lazy call (pending): its time is carried by the
    /// leaf that forced it.
    #[serde(default)]
    pub base_lazy: bool,
    /// Every candidate span of it was a lazy call.
    #[serde(default)]
    pub candidate_lazy: bool,
}

impl OperationChange {
    /// One line for people: "`Container.stdout`: p50 1.2 s → 3.9 s, cache hits 92% → 8%".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let p50 = |us: Option<u64>, lazy: bool| {
            if lazy {
                "lazy".to_string()
            } else {
                duration(us)
            }
        };
        if self.base_lazy && self.candidate_lazy {
            parts.push("lazy (its time is in the leaf that ran it)".to_string());
        } else if self.base_p50_us.is_some() || self.candidate_p50_us.is_some() {
            parts.push(format!(
                "p50 {} → {}",
                p50(self.base_p50_us, self.base_lazy),
                p50(self.candidate_p50_us, self.candidate_lazy)
            ));
        }
        if (self.base_per_run - self.candidate_per_run).abs() >= 0.5 {
            parts.push(format!(
                "{} → {} per run",
                count(self.base_per_run),
                count(self.candidate_per_run)
            ));
        }
        if self.base_cache_hits.is_some() || self.candidate_cache_hits.is_some() {
            parts.push(format!(
                "cache hits {} → {}",
                share(self.base_cache_hits),
                share(self.candidate_cache_hits)
            ));
        }
        format!("{}: {}", self.name, parts.join(", "))
    }
}

/// A span duration for people: `850 µs`, `12.3 ms`, `1.2 s`; `–` for none.
pub fn duration(us: Option<u64>) -> String {
    match us {
        None => "–".into(),
        Some(us) if us >= 1_000_000 => format!("{:.1} s", us as f64 / 1e6),
        Some(us) if us >= 1_000 => format!("{:.1} ms", us as f64 / 1e3),
        Some(us) => format!("{us} µs"),
    }
}

fn count(n: f64) -> String {
    if (n - n.round()).abs() < 0.05 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

fn share(s: Option<f64>) -> String {
    s.map_or_else(|| "–".into(), |s| format!("{:.0}%", s * 100.0))
}

/// The explanation of the latency rows that say NO-GO or ROLLBACK, when both sides'
/// runs carry telemetry; `None` otherwise (no such row, or spans on one side only).
pub fn explain(
    base: &[RunRecord],
    candidate: &[RunRecord],
    rows: &[Row],
) -> Option<SpanExplanation> {
    let slow: Vec<String> = rows
        .iter()
        .filter(|r| matches!(r.metric, Metric::Latency { .. }))
        .filter(|r| matches!(r.verdict, Verdict::NoGo | Verdict::Rollback))
        .map(|r| format!("{} {} {}", r.step, r.metric.label(), r.verdict))
        .collect();
    if slow.is_empty() {
        return None;
    }
    let spans = |records: &[RunRecord]| -> Vec<TelemetrySummary> {
        records
            .iter()
            .filter_map(|r| r.telemetry.clone())
            .filter(|t| t.spans > 0)
            .collect()
    };
    explain_spans(&spans(base), &spans(candidate), slow)
}

/// The explanation of the `slow` rows from each side's runs' telemetry (runs with
/// spans only); `None` when a side has none.
fn explain_spans(
    base_t: &[TelemetrySummary],
    candidate_t: &[TelemetrySummary],
    slow: Vec<String>,
) -> Option<SpanExplanation> {
    if base_t.is_empty() || candidate_t.is_empty() {
        return None;
    }
    let mut caveats = Vec::new();
    for (side, runs) in [("base", base_t), ("candidate", candidate_t)] {
        let missing: u64 = runs
            .iter()
            .filter_map(TelemetrySummary::missing_traces)
            .sum();
        let expected: u64 = runs.iter().filter_map(|t| t.traced_steps).sum();
        if missing > 0 {
            caveats.push(format!(
                "{side}: the spans of {missing} of {expected} engine steps did not arrive"
            ));
        }
    }
    let base_ops = side_operations(base_t);
    let candidate_ops = side_operations(candidate_t);
    let mut names: Vec<&String> = base_ops.keys().chain(candidate_ops.keys()).collect();
    names.sort();
    names.dedup();
    let mut operations: Vec<OperationChange> = names
        .into_iter()
        .filter(|n| n.as_str() != crate::otlp::aggregate::OTHER_GROUP)
        .map(|name| {
            let b = base_ops.get(name);
            let c = candidate_ops.get(name);
            let per_run = |o: Option<&SideOperation>| o.map_or(0.0, |o| o.per_run);
            let time = |o: Option<&SideOperation>| {
                o.and_then(|o| o.p50_us.map(|p| p as f64 * o.timed_per_run))
                    .unwrap_or(0.0)
            };
            OperationChange {
                name: name.clone(),
                base_p50_us: b.and_then(|o| o.p50_us),
                candidate_p50_us: c.and_then(|o| o.p50_us),
                base_per_run: per_run(b),
                candidate_per_run: per_run(c),
                base_cache_hits: b.map(|o| o.cache_hits),
                candidate_cache_hits: c.map(|o| o.cache_hits),
                time_change_us: time(c) - time(b),
                base_lazy: b.is_some_and(|o| o.lazy),
                candidate_lazy: c.is_some_and(|o| o.lazy),
            }
        })
        .filter(|o| o.time_change_us.abs() >= 1.0 || cache_shift(o) >= CACHE_SHIFT)
        .collect();
    operations.sort_by(|a, b| {
        weight(b)
            .total_cmp(&weight(a))
            .then_with(|| a.name.cmp(&b.name))
    });
    operations.truncate(MAX_OPERATIONS);
    if operations.is_empty() {
        caveats.push("no operation's time or cache-hit share changed between the sides".into());
    }
    Some(SpanExplanation {
        rows: slow,
        operations,
        caveats,
    })
}

fn cache_shift(o: &OperationChange) -> f64 {
    match (o.base_cache_hits, o.candidate_cache_hits) {
        (Some(b), Some(c)) => (b - c).abs(),
        _ => 0.0,
    }
}

/// The ranking weight: the time change per run, and a cache shift counted as if it
/// cost the operation's slower p50 on every span that changed.
fn weight(o: &OperationChange) -> f64 {
    let p50 = o.base_p50_us.max(o.candidate_p50_us).unwrap_or(0) as f64;
    let cache = cache_shift(o) * o.base_per_run.max(o.candidate_per_run) * p50;
    o.time_change_us.abs().max(cache)
        + if cache_shift(o) >= CACHE_SHIFT {
            1.0
        } else {
            0.0
        }
}

/// One operation over one side's runs.
#[derive(Debug)]
struct SideOperation {
    p50_us: Option<u64>,
    per_run: f64,
    timed_per_run: f64,
    cache_hits: f64,
    lazy: bool,
}

fn side_operations(runs: &[TelemetrySummary]) -> std::collections::BTreeMap<String, SideOperation> {
    let mut by_name: std::collections::BTreeMap<String, Vec<&SpanGroup>> = Default::default();
    for run in runs {
        for group in &run.groups {
            by_name.entry(group.name.clone()).or_default().push(group);
        }
    }
    let n = runs.len() as f64;
    by_name
        .into_iter()
        .map(|(name, groups)| {
            let count: u64 = groups.iter().map(|g| g.count).sum();
            let pending: u64 = groups.iter().map(|g| g.pending).sum();
            let cached: u64 = groups.iter().map(|g| g.cached).sum();
            let mut p50s: Vec<u64> = groups
                .iter()
                .filter(|g| g.count > g.pending)
                .map(|g| g.p50_us)
                .collect();
            p50s.sort_unstable();
            let p50_us = (!p50s.is_empty()).then(|| p50s[p50s.len() / 2]);
            (
                name,
                SideOperation {
                    p50_us,
                    per_run: count as f64 / n,
                    timed_per_run: (count - pending.min(count)) as f64 / n,
                    cache_hits: if count == 0 {
                        0.0
                    } else {
                        cached as f64 / count as f64
                    },
                    lazy: count > 0 && pending == count,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, count: u64, pending: u64, cached: u64, p50_us: u64) -> SpanGroup {
        SpanGroup {
            name: name.into(),
            count,
            pending,
            cached,
            errors: 0,
            p50_us,
            p95_us: p50_us,
            p99_us: p50_us,
            max_us: p50_us,
        }
    }

    fn run(groups: Vec<SpanGroup>) -> TelemetrySummary {
        TelemetrySummary {
            spans: groups.iter().map(|g| g.count).sum(),
            groups,
            ..TelemetrySummary::default()
        }
    }

    #[test]
    fn the_operation_that_lost_its_cache_comes_first_and_reads_well() {
        // Base: 20 steps per run, 19 answered from the cache; candidate: none cached.
        let base = vec![
            run(vec![
                group("Container.withExec", 20, 20, 19, 0),
                group("Container.stdout", 20, 0, 19, 1_200),
                group("Container.from", 20, 0, 20, 300),
            ]);
            2
        ];
        let candidate = vec![
            run(vec![
                group("Container.withExec", 20, 20, 0, 0),
                group("Container.stdout", 20, 0, 0, 3_900_000),
                group("Container.from", 20, 0, 20, 310),
            ]);
            3
        ];
        let e = explain_spans(&base, &candidate, vec!["pipeline/test p50 ROLLBACK".into()])
            .expect("an explanation");
        assert_eq!(e.rows, ["pipeline/test p50 ROLLBACK"]);
        let first = &e.operations[0];
        assert_eq!(first.name, "Container.stdout");
        assert_eq!(
            first.describe(),
            "Container.stdout: p50 1.2 ms → 3.9 s, cache hits 95% → 0%"
        );
        // The lazy withExec is listed for its cache, without a time of its own.
        let exec = e
            .operations
            .iter()
            .find(|o| o.name == "Container.withExec")
            .expect("withExec listed for its cache shift");
        assert!(exec.base_lazy && exec.candidate_lazy);
        assert_eq!(
            exec.describe(),
            "Container.withExec: lazy (its time is in the leaf that ran it), cache hits 95% → 0%"
        );
        assert!(e.caveats.is_empty(), "{:?}", e.caveats);
    }

    #[test]
    fn missing_spans_are_a_caveat_and_one_sided_telemetry_explains_nothing() {
        let mut lossy = run(vec![group("Container.stdout", 5, 0, 0, 2_000)]);
        lossy.traced_steps = Some(8);
        lossy.traces = 5;
        let base = vec![run(vec![group("Container.stdout", 8, 0, 0, 1_000)])];
        let e = explain_spans(
            &base,
            std::slice::from_ref(&lossy),
            vec!["s p95 NO-GO".into()],
        )
        .expect("an explanation");
        assert_eq!(
            e.caveats,
            ["candidate: the spans of 3 of 8 engine steps did not arrive"]
        );
        assert!(explain_spans(&base, &[], vec!["s p95 NO-GO".into()]).is_none());
    }

    #[test]
    fn unchanged_operations_are_not_listed() {
        let same = vec![run(vec![group("Container.stdout", 10, 0, 5, 1_000)])];
        let e = explain_spans(&same, &same, vec!["s p50 NO-GO".into()]).expect("some");
        assert!(e.operations.is_empty());
        assert_eq!(
            e.caveats,
            ["no operation's time or cache-hit share changed between the sides"]
        );
    }
}
