//! Per fault window: error rate and latency before, during and after the fault,
//! amplification, time to open, fail-fast latency, probe cadence, time to recover, and
//! injected versus service failures.
//!
//! Definitions (all times since run start; every interval is start-inclusive,
//! end-exclusive):
//! - **Phases.** With `L` the window's length, `before = [start − L, start)`,
//!   `during = [start, end)`, `after = [end, end + max(L, 5 s))`, each clipped to
//!   `[0, run_end]` (recovery can take longer than a short fault lasted).
//!   A client request belongs to the phase that holds its *intended* start.
//! - **Join.** An upstream attempt is *attributed* when its request id is the id of a
//!   client event; a client request *reached the proxy* when at least one attempt carries
//!   its id. Attempts without an id, or with an id the client never sent (other steps,
//!   other traffic), are *unattributed*: they count in no rate below and are reported in
//!   [`Observation::unattributed_attempts`], because a service that drops the header
//!   would otherwise look like a breaker that never lets anything through.
//!   Client request ids are expected to be unique; a repeated id shares its attempts.
//! - **Amplification** of a set of client requests = attempts attributed to them
//!   (wherever those attempts fall in time, so the retries of a request started in the
//!   fault count for the fault) / the number of requests.
//! - **Sliding windows** are 1 s long and start every 100 ms from the phase's start; the
//!   last one ends at or before the phase's end. A phase shorter than 1 s has a single
//!   window, the whole phase. A window without client requests never qualifies.
//! - **Time to open** = offset of the first sliding window in `during` in which ≥ 95% of
//!   the client requests never reached the proxy. The breaker is taken as open from the
//!   start of that window (`open`) to the end of `during`.
//! - **Fail-fast latency** = p50/p99 latency of client requests in `[open, end)` that
//!   never reached the proxy.
//! - **Probe rate** = attempts arriving in `[open, end)` of client requests whose intended
//!   start is at or after the first request that skipped the proxy in the opening window
//!   (the attempts that tripped the breaker, and their retries, are not probes) / the
//!   length of `[open, end)` in s.
//! - **Breaker openings** = maximal runs of consecutive sliding windows of `during` in
//!   which ≥ 95% of requests skipped the proxy: a breaker that closes and trips again
//!   counts twice.
//! - **Attribution.** A window is *attributed* when at most max(2, 5%) of the attempts
//!   arriving during it are unattributed (a health check now and then is tolerated).
//!   Otherwise every join-based figure above is unreliable, and only the window-level
//!   aggregates are reported: `attempts_during` and `amplification_unattributed` (all
//!   attempts arriving during the fault / client requests started during it).
//! - **Time to recover** = offset of the first sliding window in `after` whose success
//!   rate ≥ `before`'s − max(0.02, 0.1 × `before`'s error rate) and whose amplification ≤
//!   `before`'s + 0.1. Without requests before the fault the baseline success rate is 1
//!   and the amplification test is skipped (there is nothing to compare with).
//! - **Injected / service failures** count failed client requests in `during`: with at
//!   least one injected attempt (the proxy's doing) or none (the service's own: short
//!   circuits, its timeouts, ...). They add up to `during.errors`.
//! - **Percentiles** are nearest-rank over the exact latencies (rank ⌈p·n⌉): the caller
//!   bounds these event lists, so no histogram error is added.
//!
//! Inputs may come in any order: [`observe`] sorts its own copies. Cost is
//! O((c + u) log(c + u)) for c client and u upstream events, plus a sort of each phase's
//! latencies per window.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::events::{ClientEvent, FaultWindow, UpstreamEvent};
use crate::outcome::OutcomeClass;

/// Length of a sliding window.
/// The shortest `after` phase, so that recovery from a short fault can be seen.
const RECOVERY_HORIZON_NS: u128 = 5_000_000_000;
const SLIDE_WINDOW_NS: u128 = 1_000_000_000;
/// Step between the starts of consecutive sliding windows.
const SLIDE_STEP_NS: u128 = 100_000_000;
/// Share of requests (in percent) that must skip the proxy for the breaker to count as open.
const OPEN_PERCENT: u128 = 95;
/// Smallest tolerated drop in success rate when judging recovery.
const RECOVERY_MIN_TOLERANCE: f64 = 0.02;
/// Tolerated drop in success rate, as a share of the baseline error rate.
const RECOVERY_ERROR_SHARE: f64 = 0.1;
/// Tolerated rise in amplification when judging recovery.
const RECOVERY_AMPLIFICATION_TOLERANCE: f64 = 0.1;
/// Absorbs rounding in float comparisons of rates computed from exact counts.
const EPSILON: f64 = 1e-12;

/// Client-side statistics of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    /// Client requests whose intended start is in the phase.
    pub requests: u64,
    /// Those whose class is not `ok`.
    pub errors: u64,
    /// `errors / requests`; 0 without requests.
    pub error_rate: f64,
    /// Nearest-rank median latency; `None` without requests.
    pub p50: Option<Duration>,
    /// Nearest-rank 99th percentile latency; `None` without requests.
    pub p99: Option<Duration>,
}

/// What one fault window did to the service, seen from outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The fault window observed (as given, not clipped).
    pub window: FaultWindow,
    /// `[start − L, start)` clipped to the run.
    pub before: PhaseStats,
    /// `[start, end)` clipped to the run.
    pub during: PhaseStats,
    /// `[end, end + L)` clipped to the run.
    pub after: PhaseStats,
    /// Attributed upstream attempts per client request during the fault.
    pub amplification: Option<f64>,
    /// Attributed upstream attempts per client request before the fault.
    pub amplification_before: Option<f64>,
    /// From fault start to the first 1 s window in which ≥ 95% of requests skipped the proxy.
    pub time_to_open: Option<Duration>,
    /// Median latency of requests that skipped the proxy while open.
    pub fail_fast_p50: Option<Duration>,
    /// 99th percentile latency of requests that skipped the proxy while open.
    pub fail_fast_p99: Option<Duration>,
    /// Attributed attempts per second reaching the proxy while open (half-open probes).
    pub probe_rate: Option<f64>,
    /// From fault end to the first 1 s window back within the `before` band.
    pub time_to_recover: Option<Duration>,
    /// Failed requests during the fault with at least one injected attempt.
    pub injected_failures: u64,
    /// Failed requests during the fault without any injected attempt.
    pub service_failures: u64,
    /// Upstream attempts arriving during the fault whose id matches no client request.
    pub unattributed_attempts: u64,
    /// Every upstream attempt arriving during the fault, attributed or not.
    #[serde(default)]
    pub attempts_during: u64,
    /// Window-level amplification without the join: `attempts_during` / client requests
    /// started during the fault. Approximate (a retry may arrive after the window), but
    /// needs no help from the service.
    #[serde(default)]
    pub amplification_unattributed: Option<f64>,
    /// Times the breaker opened during the fault (maximal runs of qualifying windows).
    #[serde(default)]
    pub breaker_openings: u32,
    /// Retries of the requests started during the fault: their attributed attempts at
    /// the dependency beyond the first of each request that reached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries_during: Option<u64>,
}

/// Unattributed attempts tolerated in an attributed window: at most this many ...
const TOLERATED_UNATTRIBUTED: u64 = 2;
/// ... or this share of the window's attempts, whichever is more.
const TOLERATED_UNATTRIBUTED_SHARE: f64 = 0.05;

impl Observation {
    /// Whether the join of dependency attempts to client requests can be trusted in this
    /// window (see the module documentation).
    pub fn attributed(&self) -> bool {
        let tolerated = TOLERATED_UNATTRIBUTED
            .max((TOLERATED_UNATTRIBUTED_SHARE * self.attempts_during as f64).floor() as u64);
        self.unattributed_attempts <= tolerated
    }
}

/// One observation per window, in the windows' order. Pure; never panics; inputs may be
/// in any order (see the module documentation for every definition).
pub fn observe(
    windows: &[FaultWindow],
    client: &[ClientEvent],
    upstream: &[UpstreamEvent],
    run_end: Duration,
) -> Vec<Observation> {
    let index = Index::build(client, upstream);
    let run_end = run_end.as_nanos();
    windows
        .iter()
        .map(|window| index.observe_window(window, run_end))
        .collect()
}

/// Per-request upstream facts gathered from the attempt log.
#[derive(Debug, Clone, Copy, Default)]
struct AttemptsOf {
    count: u64,
    injected: bool,
}

/// A client request joined with its upstream attempts.
#[derive(Debug, Clone, Copy)]
struct Joined {
    at: u128,
    latency: Duration,
    ok: bool,
    attempts: u64,
    injected: bool,
}

/// Running totals over the sorted requests, so any time range is counted in O(log n).
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    requests: u64,
    ok: u64,
    reached: u64,
    attempts: u64,
}

impl Totals {
    fn minus(self, earlier: Totals) -> Totals {
        Totals {
            requests: self.requests - earlier.requests,
            ok: self.ok - earlier.ok,
            reached: self.reached - earlier.reached,
            attempts: self.attempts - earlier.attempts,
        }
    }
}

/// A half-open time range in nanoseconds since run start.
#[derive(Debug, Clone, Copy)]
struct Span {
    from: u128,
    to: u128,
}

impl Span {
    fn clipped(from: u128, to: u128, run_end: u128) -> Span {
        let from = from.min(run_end);
        Span {
            from,
            to: to.min(run_end).max(from),
        }
    }

    fn length(self) -> u128 {
        self.to - self.from
    }
}

/// The inputs, joined and sorted once for all windows.
#[derive(Debug)]
struct Index {
    /// Client requests sorted by intended start.
    clients: Vec<Joined>,
    /// `prefix[i]` = totals over `clients[..i]`.
    prefix: Vec<Totals>,
    /// Attributed attempts as (arrival, intended start of their request), by arrival.
    attributed: Vec<(u128, u128)>,
    /// Arrival times of unattributed attempts, sorted.
    unattributed: Vec<u128>,
}

impl Index {
    fn build(client: &[ClientEvent], upstream: &[UpstreamEvent]) -> Index {
        let mut by_id: HashMap<u64, AttemptsOf> = HashMap::with_capacity(client.len());
        for event in upstream {
            if let Some(id) = event.request_id {
                let entry = by_id.entry(id).or_default();
                entry.count += 1;
                entry.injected |= event.injected;
            }
        }
        // A repeated id (not expected) takes its earliest start, whatever the input order.
        let mut started: HashMap<u64, u128> = HashMap::with_capacity(client.len());
        for c in client {
            let at = c.at.as_nanos();
            started
                .entry(c.request_id)
                .and_modify(|s| *s = (*s).min(at))
                .or_insert(at);
        }

        let mut clients: Vec<Joined> = client
            .iter()
            .map(|c| {
                let attempts = by_id.get(&c.request_id).copied().unwrap_or_default();
                Joined {
                    at: c.at.as_nanos(),
                    latency: c.latency,
                    ok: c.class == OutcomeClass::Ok,
                    attempts: attempts.count,
                    injected: attempts.injected,
                }
            })
            .collect();
        clients.sort_unstable_by_key(|c| c.at);

        let mut prefix = Vec::with_capacity(clients.len() + 1);
        let mut running = Totals::default();
        prefix.push(running);
        for c in &clients {
            running.requests += 1;
            running.ok += u64::from(c.ok);
            running.reached += u64::from(c.attempts > 0);
            running.attempts += c.attempts;
            prefix.push(running);
        }

        let (mut attributed, mut unattributed) = (Vec::new(), Vec::new());
        for event in upstream {
            let at = event.at.as_nanos();
            match event.request_id.and_then(|id| started.get(&id)) {
                Some(&start) => attributed.push((at, start)),
                None => unattributed.push(at),
            }
        }
        attributed.sort_unstable();
        unattributed.sort_unstable();

        Index {
            clients,
            prefix,
            attributed,
            unattributed,
        }
    }

    /// Indices `lo..hi` of the client requests whose intended start is in `span`.
    fn range(&self, span: Span) -> (usize, usize) {
        let lo = self.clients.partition_point(|c| c.at < span.from);
        let hi = self.clients.partition_point(|c| c.at < span.to);
        (lo, hi.max(lo))
    }

    fn totals(&self, span: Span) -> Totals {
        let (lo, hi) = self.range(span);
        self.prefix[hi].minus(self.prefix[lo])
    }

    fn phase_stats(&self, span: Span) -> PhaseStats {
        let (lo, hi) = self.range(span);
        let totals = self.prefix[hi].minus(self.prefix[lo]);
        let mut latencies: Vec<Duration> = self.clients[lo..hi].iter().map(|c| c.latency).collect();
        latencies.sort_unstable();
        let errors = totals.requests - totals.ok;
        PhaseStats {
            requests: totals.requests,
            errors,
            error_rate: ratio(errors, totals.requests).unwrap_or(0.0),
            p50: nearest_rank(&latencies, 50),
            p99: nearest_rank(&latencies, 99),
        }
    }

    fn observe_window(&self, window: &FaultWindow, run_end: u128) -> Observation {
        let start = window.start.as_nanos();
        let end = window.end.as_nanos().max(start);
        let length = end - start;
        let before_span = Span::clipped(start.saturating_sub(length), start, run_end);
        let during_span = Span::clipped(start, end, run_end);
        // Recovery can take longer than a short fault lasted: look at least 5 s past it.
        let after_span = Span::clipped(end, end + length.max(RECOVERY_HORIZON_NS), run_end);

        let before = self.phase_stats(before_span);
        let during = self.phase_stats(during_span);
        let after = self.phase_stats(after_span);
        let before_totals = self.totals(before_span);
        let amplification_before = ratio(before_totals.attempts, before_totals.requests);
        let during_totals = self.totals(during_span);
        let amplification = ratio(during_totals.attempts, during_totals.requests);

        let open_offset = self.first_window(during_span, breaker_open);
        let (mut fail_fast_p50, mut fail_fast_p99, mut probe_rate) = (None, None, None);
        if let Some(offset) = open_offset {
            let open = Span {
                from: during_span.from + offset,
                to: during_span.to,
            };
            let (lo, hi) = self.range(open);
            let mut fast: Vec<Duration> = self.clients[lo..hi]
                .iter()
                .filter(|c| c.attempts == 0)
                .map(|c| c.latency)
                .collect();
            fast.sort_unstable();
            fail_fast_p50 = nearest_rank(&fast, 50);
            fail_fast_p99 = nearest_rank(&fast, 99);
            // Probes: attempts of requests started once requests began to skip the proxy.
            let tripped = self.clients[lo..hi]
                .iter()
                .find(|c| c.attempts == 0)
                .map_or(open.from, |c| c.at);
            let probes = self.attributed_in(open, tripped);
            probe_rate = (open.length() > 0).then(|| probes as f64 / seconds(open.length()));
        }

        // Recovery: back within the band of the phase before the fault.
        let (base_success, tolerance) = if before.requests > 0 {
            (
                1.0 - before.error_rate,
                RECOVERY_MIN_TOLERANCE.max(RECOVERY_ERROR_SHARE * before.error_rate),
            )
        } else {
            (1.0, RECOVERY_MIN_TOLERANCE)
        };
        let recover_offset = self.first_window(after_span, |t| {
            let success = t.ok as f64 / t.requests as f64;
            let amplification = t.attempts as f64 / t.requests as f64;
            success + EPSILON >= base_success - tolerance
                && amplification_before.is_none_or(|base| {
                    amplification <= base + RECOVERY_AMPLIFICATION_TOLERANCE + EPSILON
                })
        });

        let (lo, hi) = self.range(during_span);
        let (mut injected_failures, mut service_failures) = (0, 0);
        for c in self.clients[lo..hi].iter().filter(|c| !c.ok) {
            if c.injected {
                injected_failures += 1;
            } else {
                service_failures += 1;
            }
        }

        let attempts_during =
            (count_in(&self.unattributed, during_span) + self.attributed_in(during_span, 0)) as u64;
        let mut observation = Observation {
            window: window.clone(),
            before,
            during,
            after,
            amplification,
            amplification_before,
            time_to_open: open_offset.map(to_duration),
            fail_fast_p50,
            fail_fast_p99,
            probe_rate,
            time_to_recover: recover_offset.map(to_duration),
            injected_failures,
            service_failures,
            unattributed_attempts: count_in(&self.unattributed, during_span) as u64,
            attempts_during,
            amplification_unattributed: ratio(attempts_during, during_totals.requests),
            breaker_openings: self.openings(during_span),
            retries_during: None,
        };
        // Retries need the join: without it, attempts cannot be told apart per request.
        if observation.attributed() {
            observation.retries_during =
                Some(during_totals.attempts.saturating_sub(during_totals.reached));
        }
        observation
    }

    /// Attributed attempts arriving in `span` whose request started at or after `since`.
    fn attributed_in(&self, span: Span, since: u128) -> usize {
        let lo = self.attributed.partition_point(|&(at, _)| at < span.from);
        let hi = self.attributed.partition_point(|&(at, _)| at < span.to);
        self.attributed[lo..hi.max(lo)]
            .iter()
            .filter(|&&(_, start)| start >= since)
            .count()
    }

    /// Maximal runs of consecutive sliding windows of `phase` in which the breaker is
    /// open (≥ 95% of the window's requests skipped the proxy). Windows without
    /// requests say nothing: the state carries over them.
    fn openings(&self, phase: Span) -> u32 {
        let (mut openings, mut was_open) = (0u32, false);
        for (_, totals) in self.windows(phase) {
            let now_open = breaker_open(totals);
            openings += u32::from(now_open && !was_open);
            was_open = now_open;
        }
        openings
    }

    /// Offset from `phase.from` of the first sliding window in `phase` that holds client
    /// requests and satisfies `accept`; `None` when no window does.
    fn first_window(&self, phase: Span, accept: impl Fn(Totals) -> bool) -> Option<u128> {
        self.windows(phase)
            .find(|(_, totals)| accept(*totals))
            .map(|(offset, _)| offset)
    }

    /// The sliding windows of `phase` that hold client requests, in order, as (offset
    /// from `phase.from`, totals). A phase shorter than a window is one window. Empty
    /// stretches are jumped, so a window of hours with few requests costs little: each
    /// request lies in at most 10 windows.
    fn windows(&self, phase: Span) -> impl Iterator<Item = (u128, Totals)> + '_ {
        let short = phase.length() < SLIDE_WINDOW_NS;
        let last_step = phase.length().saturating_sub(SLIDE_WINDOW_NS) / SLIDE_STEP_NS;
        let mut step = 0u128;
        let mut done = phase.length() == 0;
        std::iter::from_fn(move || {
            while !done {
                if short {
                    done = true;
                    let totals = self.totals(phase);
                    return (totals.requests > 0).then_some((0, totals));
                }
                if step > last_step {
                    done = true;
                    return None;
                }
                let from = phase.from + step * SLIDE_STEP_NS;
                let (lo, hi) = self.range(Span {
                    from,
                    to: from + SLIDE_WINDOW_NS,
                });
                if lo == hi {
                    // Empty: jump to the first window that holds the next request.
                    // `next ≥ from + 1 s` here, so the subtraction cannot underflow
                    // and the jump moves forward.
                    match self.clients.get(lo) {
                        Some(next) => {
                            step = (next.at - SLIDE_WINDOW_NS - phase.from) / SLIDE_STEP_NS + 1;
                        }
                        None => done = true,
                    }
                    continue;
                }
                let offset = step * SLIDE_STEP_NS;
                step += 1;
                return Some((offset, self.prefix[hi].minus(self.prefix[lo])));
            }
            None
        })
    }
}

/// ≥ 95% of a window's requests never reached the proxy (exact integer test).
fn breaker_open(t: Totals) -> bool {
    t.requests > 0 && (t.requests - t.reached) * 100 >= OPEN_PERCENT as u64 * t.requests
}

/// Number of sorted times inside `span`.
fn count_in(sorted: &[u128], span: Span) -> usize {
    let lo = sorted.partition_point(|&t| t < span.from);
    let hi = sorted.partition_point(|&t| t < span.to);
    hi.saturating_sub(lo)
}

/// Nearest-rank percentile (rank ⌈p·n/100⌉) of sorted values; `None` when empty.
fn nearest_rank(sorted: &[Duration], percent: u128) -> Option<Duration> {
    let n = sorted.len() as u128;
    let rank = (percent * n).div_ceil(100).clamp(1, n.max(1));
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// `numerator / denominator`, `None` for a zero denominator.
fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn seconds(nanos: u128) -> f64 {
    nanos as f64 / 1e9
}

/// Nanoseconds back to a `Duration`, saturating at `Duration::MAX`.
fn to_duration(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 1e9, so it always fits.
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nearest_rank_follows_the_textbook_definition() {
        let values: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(nearest_rank(&values, 50), Some(ms(50)));
        assert_eq!(nearest_rank(&values, 99), Some(ms(99)));
        assert_eq!(nearest_rank(&values[..1], 99), Some(ms(1)));
        assert_eq!(nearest_rank(&values[..3], 50), Some(ms(2)));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn clipping_keeps_spans_inside_the_run() {
        let span = Span::clipped(5, 20, 10);
        assert_eq!((span.from, span.to), (5, 10));
        let span = Span::clipped(15, 20, 10);
        assert_eq!((span.from, span.to), (10, 10));
    }

    #[test]
    fn empty_windows_are_skipped_without_walking_every_step() {
        // Two requests a day apart: the search must jump the gap, not step through it.
        let client = [
            ClientEvent {
                request_id: 1,
                at: Duration::ZERO,
                latency: ms(1),
                class: OutcomeClass::Ok,
            },
            ClientEvent {
                request_id: 2,
                at: Duration::from_secs(86_400),
                latency: ms(1),
                class: OutcomeClass::Http5xx,
            },
        ];
        let index = Index::build(&client, &[]);
        let phase = Span {
            from: 0,
            to: 86_401 * 1_000_000_000,
        };
        let offset = index.first_window(phase, |t| t.ok == 0);
        // The first window holding the second request starts just over 1 s before it.
        assert_eq!(offset, Some(86_399 * 1_000_000_000 + SLIDE_STEP_NS));
    }

    #[test]
    fn to_duration_saturates() {
        assert_eq!(to_duration(u128::MAX).as_secs(), u64::MAX);
        assert_eq!(to_duration(1_500_000_000), ms(1500));
    }
}
