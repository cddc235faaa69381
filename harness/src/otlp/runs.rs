//! Routing received spans to the runs they belong to.
//!
//! One engine session serves every run of a scenario, and its exporter sends spans in
//! batches, seconds after they ended: the arrival time says little about which run a
//! span belongs to. The harness sends every step's queries with a `traceparent` whose
//! trace id's high 64 bits name the run and low 64 bits the request, and the engine
//! puts its spans for a query into that trace. So a span whose trace id names a run
//! belongs to it (and its low 64 bits count a step whose spans arrived); a span without
//! such a trace id (engine work outside a query) belongs to the run whose time window
//! holds its start; anything else belongs to no run. A span of a run whose summary was
//! already taken is counted as late, and the next summary says so.

use std::time::Instant;

use super::TelemetrySummary;
use super::aggregate::Aggregator;
use super::wire::SpanRecord;

/// Runs remembered at most (older ones are forgotten, their late spans count as
/// outside any run).
pub const MAX_RUNS: usize = 64;

/// Every span received, and the same spans per run.
#[derive(Debug, Default)]
pub(crate) struct Router {
    /// Everything since the start (or the last [`Router::take_all`]).
    pub(crate) all: Aggregator,
    runs: Vec<RunSlot>,
    /// Spans of runs already taken, not yet reported.
    late: u64,
}

#[derive(Debug)]
struct RunSlot {
    prefix: u64,
    start_ns: u64,
    end_ns: Option<u64>,
    aggregate: Aggregator,
    taken: bool,
    last_arrival: Option<Instant>,
}

/// How far a run's spans have arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunProgress {
    /// Spans routed to the run so far.
    pub spans: u64,
    /// Distinct step traces with at least one span.
    pub traces: u64,
    /// When the last of them arrived.
    pub last_arrival: Option<Instant>,
}

impl Router {
    /// Counts one finished or open span, in the whole and in its run.
    pub(crate) fn record(&mut self, span: &SpanRecord<'_>) {
        self.all.record(span);
        if !span.is_finished() {
            return;
        }
        let prefix = (span.trace_id >> 64) as u64;
        let request = span.trace_id as u64;
        if let Some(slot) = self.runs.iter_mut().find(|s| s.prefix == prefix) {
            if slot.taken {
                self.late += 1;
            } else {
                slot.aggregate.record_traced(span, request);
                slot.last_arrival = Some(Instant::now());
            }
            return;
        }
        let start = span.start_time_unix_nano;
        if let Some(slot) = self
            .runs
            .iter_mut()
            .find(|s| !s.taken && s.start_ns <= start && s.end_ns.is_none_or(|end| start <= end))
        {
            slot.aggregate.record_by_time(span);
            slot.last_arrival = Some(Instant::now());
        }
    }

    /// Counts one refused request (in the whole and in every run still open).
    pub(crate) fn reject(&mut self) {
        self.all.reject();
        for slot in self.runs.iter_mut().filter(|s| !s.taken) {
            slot.aggregate.reject();
        }
    }

    /// A run whose trace ids start with `prefix` begins now (`now_ns`, Unix nanoseconds).
    pub(crate) fn begin(&mut self, prefix: u64, now_ns: u64) {
        self.runs.retain(|s| s.prefix != prefix);
        if self.runs.len() >= MAX_RUNS {
            self.runs.remove(0);
        }
        self.runs.push(RunSlot {
            prefix,
            start_ns: now_ns,
            end_ns: None,
            aggregate: Aggregator::default(),
            taken: false,
            last_arrival: None,
        });
    }

    /// The run ended at `now_ns`: spans starting later are not its own by time.
    pub(crate) fn end(&mut self, prefix: u64, now_ns: u64) {
        if let Some(slot) = self.runs.iter_mut().find(|s| s.prefix == prefix) {
            slot.end_ns = Some(now_ns);
        }
    }

    /// How far the run's spans have arrived.
    pub(crate) fn progress(&self, prefix: u64) -> RunProgress {
        self.runs.iter().find(|s| s.prefix == prefix).map_or(
            RunProgress {
                spans: 0,
                traces: 0,
                last_arrival: None,
            },
            |s| RunProgress {
                spans: s.aggregate.summary().spans,
                traces: s.aggregate.traces(),
                last_arrival: s.last_arrival,
            },
        )
    }

    /// The run's summary; later spans of the run count as late.
    pub(crate) fn take(&mut self, prefix: u64) -> TelemetrySummary {
        let late = std::mem::take(&mut self.late);
        match self.runs.iter_mut().find(|s| s.prefix == prefix) {
            Some(slot) => {
                slot.taken = true;
                let mut summary = std::mem::take(&mut slot.aggregate).summary();
                summary.late_from_earlier_runs = late;
                summary
            }
            None => TelemetrySummary {
                late_from_earlier_runs: late,
                ..TelemetrySummary::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn span(trace_id: u128, start_ns: u64) -> SpanRecord<'static> {
        SpanRecord {
            name: Cow::Borrowed("Container.stdout"),
            start_time_unix_nano: start_ns,
            end_time_unix_nano: start_ns + 1_000_000,
            trace_id,
            ..SpanRecord::default()
        }
    }

    fn trace(prefix: u64, request: u64) -> u128 {
        (u128::from(prefix) << 64) | u128::from(request)
    }

    #[test]
    fn spans_go_to_the_run_their_trace_names_whenever_they_arrive() {
        let mut router = Router::default();
        router.begin(7, 1_000);
        router.end(7, 2_000);
        router.begin(9, 3_000);
        // A span of run 7 arriving during run 9 (a late batch) is run 7's.
        router.record(&span(trace(7, 1), 1_500));
        router.record(&span(trace(7, 2), 1_600));
        router.record(&span(trace(7, 2), 1_700));
        router.record(&span(trace(9, 1), 3_500));
        assert_eq!(router.progress(7).traces, 2);
        let seven = router.take(7);
        assert_eq!((seven.spans, seven.traces, seven.by_time), (3, 2, 0));
        // After its summary was taken, a span of run 7 is late and said so next.
        router.record(&span(trace(7, 3), 1_800));
        let nine = router.take(9);
        assert_eq!((nine.spans, nine.traces), (1, 1));
        assert_eq!(nine.late_from_earlier_runs, 1);
        assert_eq!(router.all.summary().spans, 5);
    }

    #[test]
    fn spans_without_a_run_trace_go_by_start_time() {
        let mut router = Router::default();
        router.begin(7, 1_000);
        router.end(7, 2_000);
        router.begin(9, 3_000);
        router.record(&span(0, 1_200)); // inside run 7's window
        router.record(&span(trace(5, 1), 3_100)); // an unknown run's trace: by time, run 9
        router.record(&span(0, 2_500)); // between runs: no run's
        router.record(&span(0, 500)); // before any run
        assert_eq!(router.take(7).by_time, 1);
        let nine = router.take(9);
        assert_eq!((nine.spans, nine.by_time, nine.traces), (1, 1, 0));
        assert_eq!(router.all.summary().spans, 4);
    }

    #[test]
    fn open_spans_and_forgotten_runs_count_nowhere_but_the_whole() {
        let mut router = Router::default();
        router.begin(7, 1_000);
        router.record(&SpanRecord {
            end_time_unix_nano: 0,
            ..span(trace(7, 1), 1_100)
        });
        assert_eq!(router.progress(7).spans, 0);
        for prefix in 100..100 + MAX_RUNS as u64 {
            router.begin(prefix, 5_000);
        }
        // Run 7 was forgotten: its spans now only count in the whole.
        router.record(&span(trace(7, 1), 1_100));
        assert_eq!(router.progress(7).spans, 0);
        assert_eq!(router.all.summary().spans, 1);
    }
}
