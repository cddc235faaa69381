//! Bounded aggregation of received spans into a [`TelemetrySummary`].
//!
//! Memory does not depend on how many spans arrive: at most [`MAX_TRACKED_NAMES`] span
//! names get a group of their own (first come, first tracked), every further name goes to
//! [`OTHER_GROUP`], names are cut to [`MAX_NAME_CHARS`] characters, and latencies are
//! clamped to [`MAX_LATENCY_US`] so no histogram grows past a fixed size.

use std::collections::HashMap;

use hdrhistogram::Histogram;

use super::wire::{CACHE_OUTCOME_ATTR, DAG_CACHED_ATTR, SpanRecord};
use super::{SpanGroup, TelemetrySummary};

/// Distinct span names tracked before further names are folded into [`OTHER_GROUP`]: a
/// histogram holds up to ~190 KB, so this bounds the receiver near 40 MB whatever a
/// sender does (a pipeline step yields a few dozen distinct names).
pub const MAX_TRACKED_NAMES: usize = 200;
/// Groups a summary lists at most, [`OTHER_GROUP`] included.
pub const MAX_REPORTED_GROUPS: usize = 100;
/// Span names are truncated to this many characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The group that collects untracked and unreported names.
pub const OTHER_GROUP: &str = "(other)";
/// The group name of spans without a name.
pub const UNNAMED_GROUP: &str = "(unnamed)";
/// Latencies above one hour are recorded as one hour (`max_us` stays exact).
pub const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Distinct trace ids counted per aggregate (8 MiB at most); beyond it the count is a
/// lower bound.
pub const MAX_TRACES: usize = 1 << 19;

/// Running totals; owned by the receiver behind a mutex.
#[derive(Debug, Default)]
pub(crate) struct Aggregator {
    spans: u64,
    rejected_requests: u64,
    operations: u64,
    cached: u64,
    /// Operations that say something about the cache (not `uncached`).
    cacheable: u64,
    /// Of those, the ones judged by `cache.outcome` rather than `dag.cached`.
    by_outcome: u64,
    groups: HashMap<String, GroupStats>,
    other: GroupStats,
    /// Low 64 bits of the trace ids seen (the request ids of a run's steps).
    traces: std::collections::HashSet<u64>,
    /// Spans attributed to the run by their start time rather than their trace id.
    by_time: u64,
    /// Spans of lazy calls (`dagger.io/dag.pending`).
    pending: u64,
}

impl Aggregator {
    /// Counts a span whose trace id names the run; `request` is its low 64 bits.
    pub(crate) fn record_traced(&mut self, span: &SpanRecord<'_>, request: u64) {
        if span.is_finished() && self.traces.len() < MAX_TRACES {
            self.traces.insert(request);
        }
        self.record(span);
    }

    /// Counts a span attributed to the run by its start time.
    pub(crate) fn record_by_time(&mut self, span: &SpanRecord<'_>) {
        self.by_time += u64::from(span.is_finished());
        self.record(span);
    }

    /// Distinct traces of the run with at least one finished span.
    pub(crate) fn traces(&self) -> u64 {
        self.traces.len() as u64
    }

    /// Counts one finished span; spans still open (end time 0, sent by live exporters
    /// before they end) are ignored: the same span arrives again once it has ended.
    pub(crate) fn record(&mut self, span: &SpanRecord<'_>) {
        if !span.is_finished() {
            return;
        }
        self.spans += 1;
        self.pending += u64::from(span.pending);
        if span.dag_digest {
            self.operations += 1;
            if span.cacheable() {
                self.cacheable += 1;
                self.by_outcome += u64::from(span.cache_outcome.is_some());
                self.cached += u64::from(span.cache_hit());
            }
        }
        self.group_for(&span.name).record(span);
    }

    /// Counts one refused request.
    pub(crate) fn reject(&mut self) {
        self.rejected_requests += 1;
    }

    fn group_for(&mut self, name: &str) -> &mut GroupStats {
        let name = group_name(name);
        if name == OTHER_GROUP {
            return &mut self.other;
        }
        if !self.groups.contains_key(name) && self.groups.len() >= MAX_TRACKED_NAMES {
            return &mut self.other;
        }
        self.groups.entry(name.to_owned()).or_default()
    }

    /// A snapshot: groups by count, most frequent first (ties by name), at most
    /// [`MAX_REPORTED_GROUPS`], with [`OTHER_GROUP`] last when anything fell into it.
    pub(crate) fn summary(&self) -> TelemetrySummary {
        TelemetrySummary {
            spans: self.spans,
            rejected_requests: self.rejected_requests,
            operations: self.operations,
            cached: self.cached,
            cache_hit_ratio: (self.cacheable > 0)
                .then(|| self.cached as f64 / self.cacheable as f64),
            cache_attribute: self.cache_attribute(),
            groups: self.groups(),
            pending: self.pending,
            traces: self.traces.len() as u64,
            by_time: self.by_time,
            ..TelemetrySummary::default()
        }
    }

    /// Which attribute the cache-hit ratio rests on.
    fn cache_attribute(&self) -> Option<String> {
        match (self.by_outcome, self.cacheable) {
            (_, 0) => None,
            (0, _) => Some(DAG_CACHED_ATTR.to_owned()),
            (n, all) if n == all => Some(CACHE_OUTCOME_ATTR.to_owned()),
            (n, all) => Some(format!(
                "{CACHE_OUTCOME_ATTR} ({n} of {all} operations), {DAG_CACHED_ATTR} for the rest"
            )),
        }
    }

    fn groups(&self) -> Vec<SpanGroup> {
        let mut named: Vec<(&String, &GroupStats)> = self.groups.iter().collect();
        named.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        let has_other = self.other.count > 0;
        let keep = if named.len() + usize::from(has_other) <= MAX_REPORTED_GROUPS {
            named.len()
        } else {
            MAX_REPORTED_GROUPS - 1
        };
        let rest = named.split_off(keep);
        let mut groups: Vec<SpanGroup> = named
            .into_iter()
            .map(|(name, stats)| stats.to_group(name))
            .collect();
        if has_other || !rest.is_empty() {
            let mut other = self.other.clone();
            for (_, stats) in rest {
                other.merge(stats);
            }
            groups.push(other.to_group(OTHER_GROUP));
        }
        groups
    }
}

/// The group a span name belongs to: cut to [`MAX_NAME_CHARS`] characters.
fn group_name(name: &str) -> &str {
    if name.is_empty() {
        return UNNAMED_GROUP;
    }
    match name.char_indices().nth(MAX_NAME_CHARS) {
        Some((cut, _)) => name.get(..cut).unwrap_or(name),
        None => name,
    }
}

/// Counts and latencies of one span name.
#[derive(Debug, Clone)]
struct GroupStats {
    count: u64,
    pending: u64,
    cached: u64,
    errors: u64,
    max_us: u64,
    latency_us: Histogram<u64>,
}

impl Default for GroupStats {
    fn default() -> Self {
        Self {
            count: 0,
            pending: 0,
            cached: 0,
            errors: 0,
            max_us: 0,
            // Auto-resizing: starts small and grows only up to MAX_LATENCY_US.
            latency_us: Histogram::new(3)
                .expect("3 significant figures is in hdrhistogram's range"),
        }
    }
}

impl GroupStats {
    fn record(&mut self, span: &SpanRecord<'_>) {
        let duration = span.duration_us();
        self.count += 1;
        self.cached += u64::from(span.cache_hit());
        self.errors += u64::from(span.is_error());
        if span.pending {
            // A lazy call's span ends before its work runs: its duration is routing,
            // and the leaf that forced the work carries the time.
            self.pending += 1;
            return;
        }
        self.max_us = self.max_us.max(duration);
        // Cannot fail: the histogram auto-resizes and the value is clamped.
        let _ = self.latency_us.record(duration.min(MAX_LATENCY_US));
    }

    fn merge(&mut self, other: &GroupStats) {
        self.count += other.count;
        self.pending += other.pending;
        self.cached += other.cached;
        self.errors += other.errors;
        self.max_us = self.max_us.max(other.max_us);
        // Cannot fail: both histograms auto-resize.
        let _ = self.latency_us.add(&other.latency_us);
    }

    fn to_group(&self, name: &str) -> SpanGroup {
        let at = |q: f64| self.latency_us.value_at_quantile(q).min(self.max_us);
        SpanGroup {
            name: name.to_owned(),
            count: self.count,
            pending: self.pending,
            cached: self.cached,
            errors: self.errors,
            p50_us: at(0.50),
            p95_us: at(0.95),
            p99_us: at(0.99),
            max_us: self.max_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn span(name: &str, duration_us: u64) -> SpanRecord<'_> {
        SpanRecord {
            name: Cow::Borrowed(name),
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_000_000_000 + duration_us * 1_000,
            ..SpanRecord::default()
        }
    }

    #[test]
    fn counts_operations_cache_hits_and_errors() {
        let mut agg = Aggregator::default();
        agg.record(&SpanRecord {
            dag_digest: true,
            dag_cached: true,
            ..span("a", 10)
        });
        agg.record(&SpanRecord {
            dag_digest: true,
            ..span("a", 20)
        });
        agg.record(&SpanRecord {
            status_code: 2,
            ..span("b", 30)
        });
        // A cached flag without a digest is not an operation.
        agg.record(&SpanRecord {
            dag_cached: true,
            ..span("b", 30)
        });
        agg.reject();
        let s = agg.summary();
        assert_eq!(
            (s.spans, s.operations, s.cached, s.rejected_requests),
            (4, 2, 1, 1)
        );
        assert_eq!(s.cache_hit_ratio, Some(0.5));
        let a = &s.groups[0];
        assert_eq!(
            (a.name.as_str(), a.count, a.cached, a.errors),
            ("a", 2, 1, 0)
        );
        assert_eq!((a.p50_us, a.max_us), (10, 20));
        let b = &s.groups[1];
        assert_eq!(
            (b.name.as_str(), b.count, b.cached, b.errors),
            ("b", 2, 1, 1)
        );
    }

    #[test]
    fn cache_outcome_decides_over_dag_cached_and_says_so() {
        use super::super::wire::CacheOutcome;
        let op = |outcome: Option<CacheOutcome>, cached: bool| SpanRecord {
            dag_digest: true,
            dag_cached: cached,
            cache_outcome: outcome,
            ..span("Container.withExec", 10)
        };
        // Only `cache.outcome`: hit counts, executed and joined do not, uncached is left
        // out of the ratio; a stale `dag.cached` beside an outcome is ignored.
        let mut agg = Aggregator::default();
        agg.record(&op(Some(CacheOutcome::Hit), false));
        agg.record(&op(Some(CacheOutcome::Executed), true));
        agg.record(&op(Some(CacheOutcome::Joined), false));
        agg.record(&op(Some(CacheOutcome::Uncached), false));
        let s = agg.summary();
        assert_eq!((s.operations, s.cached), (4, 1));
        assert_eq!(s.cache_hit_ratio, Some(1.0 / 3.0));
        assert_eq!(
            s.cache_attribute.as_deref(),
            Some("dagger.io/cache.outcome")
        );
        // Only `dag.cached` (an older engine).
        let mut old = Aggregator::default();
        old.record(&op(None, true));
        old.record(&op(None, false));
        let s = old.summary();
        assert_eq!(s.cache_hit_ratio, Some(0.5));
        assert_eq!(s.cache_attribute.as_deref(), Some("dagger.io/dag.cached"));
        // Both: named with the counts.
        old.record(&op(Some(CacheOutcome::Hit), false));
        let s = old.summary();
        assert_eq!(s.cache_hit_ratio, Some(2.0 / 3.0));
        assert_eq!(
            s.cache_attribute.as_deref(),
            Some("dagger.io/cache.outcome (1 of 3 operations), dagger.io/dag.cached for the rest")
        );
        // Only uncached operations: no ratio, and nothing to name.
        let mut none = Aggregator::default();
        none.record(&op(Some(CacheOutcome::Uncached), false));
        assert_eq!(none.summary().cache_hit_ratio, None);
        assert_eq!(none.summary().cache_attribute, None);
    }

    #[test]
    fn lazy_spans_are_counted_but_carry_no_latency() {
        let mut agg = Aggregator::default();
        // withExec returns at once (pending); stdout runs the exec and carries its time.
        agg.record(&SpanRecord {
            pending: true,
            dag_digest: true,
            ..span("Container.withExec", 40)
        });
        agg.record(&SpanRecord {
            dag_digest: true,
            ..span("Container.stdout", 900_000)
        });
        let s = agg.summary();
        assert_eq!((s.spans, s.pending, s.operations), (2, 1, 2));
        let exec = s
            .groups
            .iter()
            .find(|g| g.name == "Container.withExec")
            .expect("withExec group");
        assert_eq!(
            (exec.count, exec.pending, exec.p50_us, exec.max_us),
            (1, 1, 0, 0)
        );
        let stdout = s
            .groups
            .iter()
            .find(|g| g.name == "Container.stdout")
            .expect("stdout group");
        assert_eq!((stdout.pending, stdout.max_us), (0, 900_000));
    }

    #[test]
    fn no_operations_means_no_ratio() {
        let mut agg = Aggregator::default();
        agg.record(&span("x", 1));
        assert_eq!(agg.summary().cache_hit_ratio, None);
    }

    #[test]
    fn open_spans_are_ignored() {
        let mut agg = Aggregator::default();
        agg.record(&SpanRecord {
            end_time_unix_nano: 0,
            dag_digest: true,
            ..span("open", 0)
        });
        assert_eq!(agg.summary(), Aggregator::default().summary());
    }

    #[test]
    fn percentiles_follow_the_distribution() {
        let mut agg = Aggregator::default();
        for ms in 1..=100u64 {
            agg.record(&span("step", ms * 1_000));
        }
        let g = &agg.summary().groups[0];
        let near = |got: u64, want: u64| got.abs_diff(want) <= want / 500 + 1;
        assert!(near(g.p50_us, 50_000), "{g:?}");
        assert!(near(g.p95_us, 95_000), "{g:?}");
        assert!(near(g.p99_us, 99_000), "{g:?}");
        assert_eq!(g.max_us, 100_000);
    }

    #[test]
    fn huge_latencies_are_clamped_but_max_is_exact() {
        let mut agg = Aggregator::default();
        agg.record(&SpanRecord {
            start_time_unix_nano: 0,
            end_time_unix_nano: u64::MAX,
            ..span("forever", 0)
        });
        let g = &agg.summary().groups[0];
        assert_eq!(g.max_us, u64::MAX / 1_000);
        assert!(g.p99_us <= MAX_LATENCY_US + MAX_LATENCY_US / 500);
    }

    #[test]
    fn names_are_truncated_by_characters() {
        let long = "é".repeat(MAX_NAME_CHARS + 50);
        let mut agg = Aggregator::default();
        agg.record(&span(&long, 1));
        agg.record(&span("", 1));
        let s = agg.summary();
        assert!(
            s.groups
                .iter()
                .any(|g| g.name.chars().count() == MAX_NAME_CHARS)
        );
        assert!(s.groups.iter().any(|g| g.name == UNNAMED_GROUP));
    }

    #[test]
    fn names_beyond_the_cap_go_to_other_and_reports_stay_bounded() {
        let mut agg = Aggregator::default();
        for i in 0..MAX_TRACKED_NAMES + 500 {
            let name = format!("name-{i}");
            for _ in 0..=(i % 3) {
                agg.record(&span(&name, 5));
            }
        }
        assert_eq!(agg.groups.len(), MAX_TRACKED_NAMES);
        let s = agg.summary();
        assert_eq!(s.groups.len(), MAX_REPORTED_GROUPS);
        let other = s.groups.last().map(|g| g.name.as_str());
        assert_eq!(other, Some(OTHER_GROUP));
        let total: u64 = s.groups.iter().map(|g| g.count).sum();
        assert_eq!(total, s.spans);
        let counts: Vec<u64> = s.groups[..MAX_REPORTED_GROUPS - 1]
            .iter()
            .map(|g| g.count)
            .collect();
        assert!(counts.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn a_span_named_other_joins_the_other_group() {
        let mut agg = Aggregator::default();
        agg.record(&span(OTHER_GROUP, 1));
        let s = agg.summary();
        assert_eq!(s.groups.len(), 1);
        assert_eq!(
            (s.groups[0].name.as_str(), s.groups[0].count),
            (OTHER_GROUP, 1)
        );
    }
}
