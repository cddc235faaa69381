//! Resilience observations on synthetic event logs: a service with a breaker, a legacy
//! service without one, a retry storm, a latency fault, clipping at the run's edges,
//! empty and out-of-run inputs, order independence and no panic on arbitrary events.

use std::time::Duration;

use harness::load::OutcomeClass;
use harness::resilience::{
    ClientEvent, FaultWindow, Observation, UpstreamEvent, describe, observe,
};
use proptest::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Builds a run one request at a time: ids are assigned in order.
#[derive(Default)]
struct Run {
    client: Vec<ClientEvent>,
    upstream: Vec<UpstreamEvent>,
}

/// What happened to one request.
struct Request {
    at: Duration,
    latency: Duration,
    class: OutcomeClass,
    /// Arrival offsets (from `at`) of the attempts that reached the proxy.
    attempts: Vec<Duration>,
    injected: bool,
}

impl Run {
    fn push(&mut self, r: Request) {
        let id = self.client.len() as u64 + 1;
        self.client.push(ClientEvent {
            request_id: id,
            at: r.at,
            latency: r.latency,
            class: r.class,
        });
        for (n, offset) in r.attempts.iter().enumerate() {
            self.upstream.push(UpstreamEvent {
                request_id: Some(id),
                attempt: n as u32 + 1,
                at: r.at + *offset,
                injected: r.injected,
                forwarded: !r.injected,
            });
        }
    }

    fn observe_one(&self, window: &FaultWindow, run_end: Duration) -> Observation {
        let mut all = observe(
            std::slice::from_ref(window),
            &self.client,
            &self.upstream,
            run_end,
        );
        assert_eq!(all.len(), 1);
        all.remove(0)
    }
}

/// A healthy request: one forwarded attempt, 5 ms.
fn healthy(at: Duration) -> Request {
    Request {
        at,
        latency: ms(5),
        class: OutcomeClass::Ok,
        attempts: vec![Duration::ZERO],
        injected: false,
    }
}

/// Request `i` of a 100 req/s schedule starts at `i × 10 ms`.
fn tick(i: u64) -> Duration {
    ms(10 * i)
}

fn fault(start: f64, end: f64) -> FaultWindow {
    FaultWindow {
        name: "dependency-5xx".into(),
        start: secs(start),
        end: secs(end),
    }
}

fn assert_near(actual: Option<Duration>, expected: Duration, tolerance: Duration) {
    let actual = actual.expect("a value");
    let gap = actual.abs_diff(expected);
    assert!(
        gap <= tolerance,
        "{actual:?} is not within {tolerance:?} of {expected:?}"
    );
}

/// 100 req/s for 6 s, fault at 2 s for 2 s. Until 0.5 s into the fault every request
/// makes 3 injected attempts (1 ms apart) and fails; then the breaker short-circuits in
/// 2 ms, letting one probe through every 500 ms (at 2.5, 3.0, 3.5 s); after the fault
/// the first 300 ms are still short-circuited, then the service is healthy again.
fn breaker_run() -> Run {
    let mut run = Run::default();
    for i in 0..600 {
        let at = tick(i);
        let t = i * 10; // ms
        let short_circuit = Request {
            at,
            latency: ms(2),
            class: OutcomeClass::Http5xx,
            attempts: vec![],
            injected: false,
        };
        let request = match t {
            0..2_000 | 4_300.. => healthy(at),
            2_000..2_500 => Request {
                at,
                latency: ms(30),
                class: OutcomeClass::Http5xx,
                attempts: vec![ms(0), ms(1), ms(2)],
                injected: true,
            },
            2_500..4_000 if t.is_multiple_of(500) => Request {
                at,
                latency: ms(30),
                class: OutcomeClass::Http5xx,
                attempts: vec![ms(0)],
                injected: true,
            },
            _ => short_circuit,
        };
        run.push(request);
    }
    run
}

#[test]
fn a_service_with_a_breaker_opens_fails_fast_probes_and_recovers() {
    let run = breaker_run();
    let o = run.observe_one(&fault(2.0, 4.0), secs(6.0));

    assert_near(o.time_to_open, ms(500), ms(100));
    assert_eq!(o.time_to_open, Some(ms(500)), "exact on this grid");
    // 50 requests × 3 attempts + 3 probes × 1 attempt, over 200 requests.
    assert_eq!(o.amplification, Some((50.0 * 3.0 + 3.0) / 200.0));
    assert_eq!(o.amplification_before, Some(1.0));
    assert_eq!(o.fail_fast_p50, Some(ms(2)));
    assert_eq!(o.fail_fast_p99, Some(ms(2)));
    // Probes over the 1.5 s the breaker was open: 3.0 s and 3.5 s. The attempt at 2.5 s
    // came before any request had been short-circuited, so nothing shows the breaker
    // open yet: like the 150 attempts before it, it is not counted as a probe.
    let probe_rate = o.probe_rate.expect("open");
    assert!(
        (probe_rate - 2.0 / 1.5).abs() < 1e-9,
        "probe rate {probe_rate}"
    );
    assert_eq!(o.breaker_openings, 1);
    assert_eq!(o.attempts_during, 153);
    assert!(o.attributed());
    assert_near(o.time_to_recover, ms(300), ms(100));
    assert_eq!(o.time_to_recover, Some(ms(300)), "exact on this grid");
    // Injected: the 50 retried requests and the 3 probes; the 147 short circuits are the
    // service's own.
    assert_eq!(o.injected_failures, 53);
    assert_eq!(o.service_failures, 147);
    assert_eq!(o.unattributed_attempts, 0);

    assert_eq!((o.before.requests, o.before.errors), (200, 0));
    assert_eq!((o.during.requests, o.during.errors), (200, 200));
    assert_eq!((o.after.requests, o.after.errors), (200, 30));
    assert_eq!(o.after.error_rate, 0.15);
    // 147 × 2 ms then 53 × 30 ms: rank 100 is 2 ms, rank 198 is 30 ms.
    assert_eq!(o.during.p50, Some(ms(2)));
    assert_eq!(o.during.p99, Some(ms(30)));
    assert_eq!(o.before.p99, Some(ms(5)));

    let lines = describe(&o);
    let text = lines.join("\n");
    assert!(
        text.contains("breaker opened 0.50 s after the fault started"),
        "{text}"
    );
    assert!(
        text.contains("amplification 0.77× during the fault (1.00× before)"),
        "{text}"
    );
    assert!(text.contains("fail-fast p50 2.0 ms, p99 2.0 ms"), "{text}");
    assert!(text.contains("1.33 attempts/s"), "{text}");
    assert!(
        text.contains("recovered 0.30 s after the fault ended"),
        "{text}"
    );
    assert!(
        text.contains("53 injected by the proxy, 147 produced by the service"),
        "{text}"
    );
}

#[test]
fn a_legacy_service_without_a_breaker_never_opens() {
    let mut run = Run::default();
    for i in 0..600 {
        let at = tick(i);
        if (200..400).contains(&i) {
            run.push(Request {
                at,
                latency: ms(12),
                class: OutcomeClass::Http5xx,
                attempts: vec![Duration::ZERO],
                injected: true,
            });
        } else {
            run.push(healthy(at));
        }
    }
    let o = run.observe_one(&fault(2.0, 4.0), secs(6.0));
    assert_eq!(o.time_to_open, None);
    assert_eq!((o.fail_fast_p50, o.fail_fast_p99), (None, None));
    assert_eq!(o.probe_rate, None);
    assert_eq!(o.amplification, Some(1.0));
    assert_eq!((o.injected_failures, o.service_failures), (200, 0));
    assert_eq!(o.during.error_rate, 1.0);
    assert_eq!(o.time_to_recover, Some(Duration::ZERO));
    let text = describe(&o).join("\n");
    assert!(text.contains("breaker never opened"), "{text}");
}

#[test]
fn a_retry_storm_triples_the_load_on_the_dependency() {
    let mut run = Run::default();
    for i in 0..600 {
        let at = tick(i);
        if (200..400).contains(&i) {
            run.push(Request {
                at,
                latency: ms(40),
                class: OutcomeClass::Http5xx,
                attempts: vec![ms(0), ms(10), ms(30)],
                injected: true,
            });
        } else {
            run.push(healthy(at));
        }
    }
    let o = run.observe_one(&fault(2.0, 4.0), secs(6.0));
    assert_eq!(o.amplification, Some(3.0));
    assert_eq!(o.amplification_before, Some(1.0));
    assert_eq!(o.time_to_open, None);
    assert_eq!((o.injected_failures, o.service_failures), (200, 0));
    let text = describe(&o).join("\n");
    assert!(
        text.contains("amplification 3.00× during the fault (1.00× before)"),
        "{text}"
    );
}

#[test]
fn a_latency_fault_shows_the_service_timeout_in_the_latency() {
    // The proxy holds every attempt 5 s; the service gives up after 1 s and answers 504.
    let timeout = ms(1_000);
    let mut run = Run::default();
    for i in 0..600 {
        let at = tick(i);
        if (200..400).contains(&i) {
            run.push(Request {
                at,
                latency: timeout + Duration::from_micros(100 * (i % 7)),
                class: OutcomeClass::Http5xx,
                attempts: vec![Duration::ZERO],
                injected: true,
            });
        } else {
            run.push(healthy(at));
        }
    }
    let o = run.observe_one(&fault(2.0, 4.0), secs(6.0));
    assert_near(o.during.p50, timeout, ms(5));
    assert_near(o.during.p99, timeout, ms(5));
    assert_eq!(o.before.p50, Some(ms(5)));
    assert_eq!(o.injected_failures, 200);
    assert_eq!(o.time_to_open, None);
}

#[test]
fn phases_are_clipped_at_run_start_and_run_end() {
    let mut run = Run::default();
    for i in 0..300 {
        run.push(healthy(tick(i)));
    }
    // L = 2 s: before would start at −1.5 s and after would end at 4.5 s; the run is 3 s.
    let o = run.observe_one(&fault(0.5, 2.5), secs(3.0));
    assert_eq!(o.before.requests, 50);
    assert_eq!(o.during.requests, 200);
    assert_eq!(o.after.requests, 50);
    // The after phase is 0.5 s: a single window, the whole phase, healthy at once.
    assert_eq!(o.time_to_recover, Some(Duration::ZERO));

    // Events past run_end are outside every phase.
    let o = run.observe_one(&fault(0.5, 2.5), secs(2.0));
    assert_eq!(o.during.requests, 150);
    assert_eq!(o.after.requests, 0);
    assert_eq!(o.time_to_recover, None);
}

#[test]
fn empty_inputs_give_empty_observations() {
    assert!(observe(&[], &[], &[], secs(10.0)).is_empty());
    let o = Run::default().observe_one(&fault(1.0, 2.0), secs(10.0));
    for phase in [&o.before, &o.during, &o.after] {
        assert_eq!(
            (phase.requests, phase.errors, phase.error_rate),
            (0, 0, 0.0)
        );
        assert_eq!((phase.p50, phase.p99), (None, None));
    }
    assert_eq!((o.amplification, o.amplification_before), (None, None));
    assert_eq!(
        (o.time_to_open, o.time_to_recover, o.probe_rate),
        (None, None, None)
    );
    assert_eq!((o.injected_failures, o.service_failures), (0, 0));
    assert!(!describe(&o).is_empty());
}

#[test]
fn a_window_after_the_run_observes_nothing() {
    let run = breaker_run();
    let o = run.observe_one(&fault(10.0, 12.0), secs(6.0));
    assert_eq!(o.before.requests, 0);
    assert_eq!(o.during.requests, 0);
    assert_eq!(o.after.requests, 0);
    assert_eq!(o.time_to_open, None);
    assert_eq!(o.amplification, None);
    let text = describe(&o).join("\n");
    assert!(
        text.contains("no client requests during the fault"),
        "{text}"
    );
}

#[test]
fn windows_are_observed_independently_and_in_order() {
    let run = breaker_run();
    let windows = [fault(2.0, 4.0), fault(0.0, 1.0), fault(3.0, 3.0)];
    let all = observe(&windows, &run.client, &run.upstream, secs(6.0));
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], run.observe_one(&windows[0], secs(6.0)));
    assert_eq!(all[1].window, windows[1]);
    assert_eq!(all[1].during.requests, 100);
    assert_eq!(all[1].before.requests, 0);
    // An empty window: nothing during, before or after.
    assert_eq!(all[2].during.requests, 0);
    assert_eq!(all[2].time_to_open, None);
}

#[test]
fn attempts_without_a_known_id_are_reported_not_counted() {
    let mut run = breaker_run();
    run.upstream.push(UpstreamEvent {
        request_id: None,
        attempt: 1,
        at: secs(3.0),
        injected: true,
        forwarded: false,
    });
    run.upstream.push(UpstreamEvent {
        request_id: Some(999_999),
        attempt: 1,
        at: secs(3.1),
        injected: true,
        forwarded: false,
    });
    let o = run.observe_one(&fault(2.0, 4.0), secs(6.0));
    assert_eq!(o.unattributed_attempts, 2);
    assert_eq!(o.amplification, Some(153.0 / 200.0));
    let text = describe(&o).join("\n");
    assert!(
        text.contains("2 of 155 dependency attempts during the fault carried no known request id"),
        "{text}"
    );
    // Two of 155 are tolerated (health checks and the like): the window stays attributed.
    assert!(o.attributed());
}

/// A service that does not forward any request id: every dependency attempt is
/// unattributed. Nothing joined may be reported as a fact (the old report said "breaker
/// opened" and "all failures produced by the service itself"); the window-level
/// aggregate is what is left.
#[test]
fn a_service_that_forwards_no_request_id_is_not_attributed() {
    let mut run = breaker_run();
    for event in &mut run.upstream {
        event.request_id = None;
    }
    let o = run.observe_one(&fault(2.0, 4.0), secs(6.0));
    assert!(!o.attributed());
    assert_eq!(o.unattributed_attempts, 153);
    assert_eq!(o.attempts_during, 153);
    assert_eq!(o.amplification_unattributed, Some(153.0 / 200.0));
    let text = describe(&o).join("\n");
    assert!(
        text.contains("not attributed: 153 of 153 dependency attempts"),
        "{text}"
    );
    assert!(text.contains("does not propagate `traceparent`"), "{text}");
    assert!(
        text.contains("153 dependency attempts for 200 client requests"),
        "{text}"
    );
    for claim in [
        "breaker opened",
        "injected by the proxy",
        "produced by the service",
        "probes",
    ] {
        assert!(
            !text.contains(claim),
            "`{claim}` claimed without attribution:\n{text}"
        );
    }
    // Half the attempts unattributed: still not attributed (above 5%).
    let mut half = breaker_run();
    for event in half.upstream.iter_mut().step_by(2) {
        event.request_id = Some(u64::MAX);
    }
    assert!(!half.observe_one(&fault(2.0, 4.0), secs(6.0)).attributed());
}

/// A breaker that opens, lets a probe close it, and trips again counts two openings.
#[test]
fn a_breaker_that_trips_twice_counts_two_openings() {
    let mut run = Run::default();
    for i in 0..800 {
        let at = tick(i);
        let t = i * 10;
        let open = (2_100..3_500).contains(&t) || (4_000..5_500).contains(&t);
        run.push(if open {
            Request {
                at,
                latency: ms(1),
                class: OutcomeClass::Http5xx,
                attempts: vec![],
                injected: false,
            }
        } else {
            healthy(at)
        });
    }
    let o = run.observe_one(&fault(2.0, 6.0), secs(8.0));
    assert_eq!(o.breaker_openings, 2, "{o:?}");
    assert!(o.time_to_open.is_some());
}

#[test]
fn a_large_run_is_observed_exactly() {
    // Speed belongs in benchmarks, not in tests on a shared machine: this only checks that
    // a large, reversed input is joined correctly.
    let n: u64 = 200_000;
    let mut run = Run::default();
    for i in 0..n / 2 {
        let at = Duration::from_micros(200 * i);
        let failing = i.is_multiple_of(3);
        run.push(Request {
            at,
            latency: Duration::from_micros(1_000 + i % 997),
            class: if failing {
                OutcomeClass::Timeout
            } else {
                OutcomeClass::Ok
            },
            attempts: vec![Duration::ZERO, Duration::from_micros(50)],
            injected: failing,
        });
    }
    run.client.reverse();
    let run_end = Duration::from_micros(200 * (n / 2));
    let third = run_end / 3;
    let window = FaultWindow {
        name: "big".into(),
        start: third,
        end: third * 2,
    };
    let o = run.observe_one(&window, run_end);
    assert_eq!(o.amplification, Some(2.0));
}

/// Arbitrary events: small id space (collisions, unknown ids), times up to 20 s with a
/// few extremes, every class.
fn client_event() -> impl Strategy<Value = ClientEvent> {
    (
        0u64..200,
        prop_oneof![8 => (0u64..20_000).prop_map(ms), 1 => Just(Duration::MAX)],
        (0u64..5_000).prop_map(ms),
        proptest::sample::select(OutcomeClass::ALL.to_vec()),
    )
        .prop_map(|(request_id, at, latency, class)| ClientEvent {
            request_id,
            at,
            latency,
            class,
        })
}

fn upstream_event() -> impl Strategy<Value = UpstreamEvent> {
    (
        proptest::option::weighted(0.9, 0u64..250),
        0u32..5,
        prop_oneof![8 => (0u64..20_000).prop_map(ms), 1 => Just(Duration::MAX)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(request_id, attempt, at, injected, forwarded)| UpstreamEvent {
                request_id,
                attempt,
                at,
                injected,
                forwarded,
            },
        )
}

fn window() -> impl Strategy<Value = FaultWindow> {
    let point = prop_oneof![
        8 => (0u64..25_000).prop_map(ms),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
    ];
    (point.clone(), point).prop_map(|(start, end)| FaultWindow {
        name: "w".into(),
        start,
        end,
    })
}

fn run_end() -> impl Strategy<Value = Duration> {
    prop_oneof![
        8 => (0u64..25_000).prop_map(ms),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_events_never_panic_and_stay_consistent(
        windows in proptest::collection::vec(window(), 0..4),
        client in proptest::collection::vec(client_event(), 0..300),
        upstream in proptest::collection::vec(upstream_event(), 0..400),
        run_end in run_end(),
    ) {
        let all = observe(&windows, &client, &upstream, run_end);
        prop_assert_eq!(all.len(), windows.len());
        for (o, w) in all.iter().zip(&windows) {
            prop_assert_eq!(&o.window, w);
            prop_assert_eq!(o.during.errors, o.injected_failures + o.service_failures);
            for phase in [&o.before, &o.during, &o.after] {
                prop_assert!(phase.errors <= phase.requests);
                prop_assert!((0.0..=1.0).contains(&phase.error_rate));
                prop_assert!(phase.p50 <= phase.p99);
            }
            if let Some(open) = o.time_to_open {
                prop_assert!(open < w.length());
                prop_assert!(o.probe_rate.is_some());
            } else {
                prop_assert!(o.probe_rate.is_none() && o.fail_fast_p99.is_none());
            }
            if let Some(recover) = o.time_to_recover {
                // The after phase lasts the fault's length, and at least 5 s.
                prop_assert!(recover < w.length().max(Duration::from_secs(5)));
            }
            prop_assert!(!describe(o).is_empty());
        }
    }

    #[test]
    fn unsorted_input_gives_the_same_result_as_sorted(
        windows in proptest::collection::vec(window(), 1..3),
        client in proptest::collection::vec(client_event(), 0..300),
        upstream in proptest::collection::vec(upstream_event(), 0..400),
        run_end in run_end(),
        seed in any::<u64>(),
    ) {
        let mut sorted_client = client.clone();
        sorted_client.sort_by_key(|c| (c.at, c.request_id, c.latency, c.class));
        let mut sorted_upstream = upstream.clone();
        sorted_upstream.sort_by_key(|u| (u.at, u.request_id, u.attempt));
        let mut shuffled_client = client;
        let mut shuffled_upstream = upstream;
        shuffle(&mut shuffled_client, seed);
        shuffle(&mut shuffled_upstream, seed.rotate_left(17));
        prop_assert_eq!(
            observe(&windows, &sorted_client, &sorted_upstream, run_end),
            observe(&windows, &shuffled_client, &shuffled_upstream, run_end)
        );
    }
}

/// Fisher–Yates with a small deterministic generator (keeps the test self-contained).
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
