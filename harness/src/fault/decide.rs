//! Deciding which fault, if any, hits a request or a connection: pure, seeded, and
//! driven by explicit times so tests need no clock.
//!
//! Faults are tried in list order. A fault fires when its window is active, the request
//! matches, the attempt is within `first_attempts`, the fault has not yet seen
//! `first_requests` eligible requests, and a draw falls under `probability`; each fault
//! draws on its own, so adding one never changes whether another fires. What fires
//! composes (see [`crate::fault::COMPOSITION`]): on a request, every `latency` adds up
//! and the first terminal fault (all other HTTP kinds) applies, later terminal ones are
//! not tried; on a connection, every TCP fault that fires acts, in list order.
//!
//! Every draw comes from a ChaCha8 generator derived from the proxy seed, the fault's
//! position and the request's key: its `x-harness-request-id` and attempt number when it
//! has one, so two paths sending the same ids meet the same faults whatever the order in
//! which their requests arrive; otherwise an arrival counter (connections always use
//! theirs, since TCP carries no id). Attempts are counted per request id in a bounded
//! window (see [`AttemptCounter`]).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::delay::Delay;
use super::kinds::Layer;
use super::spec::{Direction, FaultAction, FaultSpec};

/// How many request ids the attempt counter remembers by default.
pub const DEFAULT_ID_WINDOW: usize = 65_536;

/// The header marking answers the proxy made up, so clients can tell injected failures
/// from the service's own.
pub const FAULT_HEADER: HeaderName = HeaderName::from_static("x-harness-fault");

/// What the proxy knows about a request when it decides.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, without the query.
    pub path: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The parsed `x-harness-request-id`, if present.
    pub request_id: Option<u64>,
}

/// The decision for one HTTP request.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Which attempt of its request id this is (1 = first; always 1 without an id).
    pub attempt: u32,
    /// The faults that fired, in list order: delays, and at most one terminal fault.
    pub injections: Vec<Injection>,
}

impl Decision {
    /// The sum of the delays that fired.
    pub fn delay(&self) -> Duration {
        self.injections
            .iter()
            .filter_map(|i| match i.action {
                HttpInjection::Delay(d) => Some(d),
                _ => None,
            })
            .fold(Duration::ZERO, Duration::saturating_add)
    }

    /// The terminal fault that fired, if any.
    pub fn terminal(&self) -> Option<&Injection> {
        self.injections
            .iter()
            .find(|i| !matches!(i.action, HttpInjection::Delay(_)))
    }

    /// The label the attempt log keeps: the terminal fault's, else the first delay's.
    pub fn label(&self) -> Option<&str> {
        self.terminal()
            .or(self.injections.first())
            .map(|i| i.label.as_str())
    }
}

/// A fault that fires on one request, with its random parameters drawn.
#[derive(Debug, Clone)]
pub struct Injection {
    /// The fault's position in the set.
    pub fault: usize,
    /// The fault's label (name, else kind).
    pub label: String,
    /// What to do.
    pub action: HttpInjection,
}

/// What the HTTP proxy does to one request.
#[derive(Debug, Clone)]
pub enum HttpInjection {
    /// Wait this long, then forward.
    Delay(Duration),
    /// Answer this, without forwarding.
    Respond {
        /// The status.
        status: StatusCode,
        /// The body.
        body: Bytes,
        /// The headers (including [`FAULT_HEADER`]).
        headers: HeaderMap,
    },
    /// Reset the client connection without an answer.
    Abort,
    /// Never answer.
    Blackhole,
    /// Forward, pass this many body bytes, then close.
    Truncate {
        /// Body bytes passed.
        bytes: u64,
    },
    /// Forward, then send the body in pieces, waiting before each.
    SlowBody {
        /// The wait before each piece.
        chunk_delay: Duration,
        /// The size of each piece.
        chunk_size: usize,
    },
}

/// The decision for one TCP connection.
#[derive(Debug, Clone)]
pub struct ConnectionDecision {
    /// The connection's number (0 = first accepted).
    pub connection: u64,
    /// Every fault that fired, in list order.
    pub injections: Vec<ConnectionInjection>,
}

/// A fault that fires on one connection.
#[derive(Debug, Clone)]
pub struct ConnectionInjection {
    /// The fault's position in the set.
    pub fault: usize,
    /// The fault's label (name, else kind).
    pub label: String,
    /// What to do.
    pub action: TcpInjection,
}

/// What the TCP proxy does to one connection.
#[derive(Debug, Clone, PartialEq)]
pub enum TcpInjection {
    /// Delay each chunk by a draw from `delay`.
    Latency {
        /// The delay per chunk.
        delay: Delay,
        /// Which way.
        direction: Direction,
        /// The seed of the connection's own generator, so jitter replays too.
        seed: u64,
    },
    /// Pass at most `rate` bytes per second.
    Bandwidth {
        /// Bytes per second.
        rate: u64,
        /// Which way.
        direction: Direction,
    },
    /// Reset: at once (`None`), or `timeout` after the first data in `direction`.
    ResetPeer {
        /// The wait after the first data; `None` = on accept.
        timeout: Option<Duration>,
        /// Which way's data arms it.
        direction: Direction,
    },
    /// Swallow everything, forward nothing.
    Blackhole,
    /// Wait before passing on a close.
    SlowClose {
        /// The wait.
        delay: Duration,
        /// Which way.
        direction: Direction,
    },
    /// Drop data in `direction`; close the connection after `timeout` (never if `None`).
    Timeout {
        /// When to close.
        timeout: Option<Duration>,
        /// Which way is dropped.
        direction: Direction,
    },
    /// Cut data into pieces of about `average_size` bytes, `delay` apart.
    Slicer {
        /// The mean piece size.
        average_size: usize,
        /// The largest shift of a cut.
        size_variation: usize,
        /// The wait after each piece.
        delay: Duration,
        /// Which way.
        direction: Direction,
        /// The seed of the connection's own generator.
        seed: u64,
    },
    /// Close after `bytes` in `direction`.
    LimitData {
        /// Bytes passed.
        bytes: u64,
        /// Which way is counted.
        direction: Direction,
    },
}

/// Attempt numbers per request id, remembering at most `capacity` ids.
///
/// When full, the id seen first is forgotten (first-in, first-out): retries follow their
/// first attempt within seconds, so at the default 65 536 ids an id is only forgotten
/// after about a minute at 1 000 requests per second; a forgotten id that comes back
/// counts from 1 again.
#[derive(Debug, Clone)]
pub struct AttemptCounter {
    counts: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl AttemptCounter {
    /// A counter remembering up to `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            counts: HashMap::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Counts one more attempt of `id` and returns its number (1 = first).
    pub fn observe(&mut self, id: u64) -> u32 {
        if let Some(count) = self.counts.get_mut(&id) {
            *count = count.saturating_add(1);
            return *count;
        }
        if self.order.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.counts.remove(&oldest);
        }
        self.order.push_back(id);
        self.counts.insert(id, 1);
        1
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Hashes a request id with one multiplication: the ids are the load generator's
/// counters, the map is bounded, and SipHash's cost showed in the proxy's profile.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// One fault with its run state.
#[derive(Debug, Clone)]
struct Armed {
    spec: FaultSpec,
    label: String,
    /// Eligible requests or connections seen, for `first_requests`.
    eligible: u64,
    /// The prepared answer of an `http_error`.
    canned: Option<(StatusCode, Bytes, HeaderMap)>,
    /// What a connection's draws for this fault derive from: its label (and which of
    /// the faults with that label it is), not its position, so a connection decided
    /// again after another fault came or went draws the same for this one.
    identity: u64,
    header: Option<(HeaderName, Option<HeaderValue>)>,
}

impl Armed {
    fn new(spec: FaultSpec) -> Self {
        let label = spec.label();
        let canned = match &spec.action {
            FaultAction::HttpError {
                status,
                body,
                headers,
            } => {
                let mut map = HeaderMap::new();
                // Validated when the spec was read; anything invalid built in code is skipped.
                for (name, value) in headers {
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(value),
                    ) {
                        map.append(n, v);
                    }
                }
                if let Ok(v) = HeaderValue::from_str(&label) {
                    map.insert(FAULT_HEADER, v);
                }
                let status =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                Some((status, Bytes::from(body.clone()), map))
            }
            _ => None,
        };
        let header = spec.matcher.header.as_ref().and_then(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
            let value = match &h.value {
                Some(v) => Some(HeaderValue::from_str(v).ok()?),
                None => None,
            };
            Some((name, value))
        });
        Self {
            spec,
            label,
            eligible: 0,
            canned,
            header,
            identity: 0,
        }
    }

    fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        let m = &self.spec.matcher;
        if let Some(method) = &m.method
            && !method.eq_ignore_ascii_case(facts.method.as_str())
        {
            return false;
        }
        if let Some(prefix) = &m.path_prefix
            && !facts.path.starts_with(prefix.as_str())
        {
            return false;
        }
        if m.header.is_some() {
            let Some((name, value)) = &self.header else {
                return false;
            };
            let mut present = facts.headers.get_all(name).iter();
            let found = match value {
                Some(want) => present.any(|v| v == want),
                None => present.next().is_some(),
            };
            if !found {
                return false;
            }
        }
        true
    }

    /// Counts an eligible request and says whether it is within `first_requests`.
    fn within_first_requests(&mut self) -> bool {
        match self.spec.first_requests {
            Some(n) if self.eligible >= n => false,
            _ => {
                self.eligible += 1;
                true
            }
        }
    }
}

/// The faults armed, each with its identity for connection draws.
fn arm(faults: Vec<FaultSpec>) -> Vec<Armed> {
    let mut armed: Vec<Armed> = faults.into_iter().map(Armed::new).collect();
    for i in 0..armed.len() {
        let twins = armed[..i]
            .iter()
            .filter(|a| a.label == armed[i].label)
            .count();
        let name = armed[i]
            .label
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        armed[i].identity = mix(name ^ mix(twins as u64));
    }
    armed
}

/// The faults of one proxy with their run state: counters and the attempt window.
#[derive(Debug, Clone)]
pub struct FaultSet {
    seed: u64,
    faults: Vec<Armed>,
    attempts: AttemptCounter,
    unkeyed: u64,
    connections: u64,
}

impl FaultSet {
    /// A set deciding by `faults` in order, drawing from `seed`.
    pub fn new(faults: Vec<FaultSpec>, seed: u64) -> Self {
        Self::with_id_window(faults, seed, DEFAULT_ID_WINDOW)
    }

    /// Like [`FaultSet::new`], remembering attempts of up to `id_window` request ids.
    pub fn with_id_window(faults: Vec<FaultSpec>, seed: u64, id_window: usize) -> Self {
        Self {
            seed,
            faults: arm(faults),
            attempts: AttemptCounter::new(id_window),
            unkeyed: 0,
            connections: 0,
        }
    }

    /// Replaces the faults (their counters start over); attempt counts are kept.
    pub fn set_faults(&mut self, faults: Vec<FaultSpec>) {
        self.faults = arm(faults);
    }

    /// The faults, in order.
    pub fn specs(&self) -> impl Iterator<Item = &FaultSpec> {
        self.faults.iter().map(|a| &a.spec)
    }

    /// Decides the fate of one HTTP request arriving `now` after the proxy started.
    pub fn decide(&mut self, now: Duration, request: &RequestFacts<'_>) -> Decision {
        let (attempt, key) = match request.request_id {
            Some(id) => (self.attempts.observe(id), mix(id ^ ID_SALT)),
            None => {
                self.unkeyed += 1;
                (1, mix(self.unkeyed ^ UNKEYED_SALT))
            }
        };
        let seed = self.seed;
        let mut injections = Vec::new();
        let mut terminal = false;
        for (index, armed) in self.faults.iter_mut().enumerate() {
            let spec = &armed.spec;
            let delay = matches!(spec.action, FaultAction::Latency(_));
            if spec.layer() != Layer::Http
                || (terminal && !delay)
                || !spec.schedule.active(now)
                || !armed.matches(request)
                || spec.first_attempts.is_some_and(|n| attempt > n)
                || !armed.within_first_requests()
            {
                continue;
            }
            let mut rng = fault_rng(seed, mix(index as u64), key, attempt);
            if !draw(&mut rng, armed.spec.probability.get()) {
                continue;
            }
            let action = match &armed.spec.action {
                FaultAction::Latency(delay) => HttpInjection::Delay(delay.sample(&mut rng)),
                FaultAction::HttpError { .. } => match &armed.canned {
                    Some((status, body, headers)) => HttpInjection::Respond {
                        status: *status,
                        body: body.clone(),
                        headers: headers.clone(),
                    },
                    None => continue,
                },
                FaultAction::Abort => HttpInjection::Abort,
                FaultAction::Blackhole => HttpInjection::Blackhole,
                FaultAction::Truncate { bytes } => HttpInjection::Truncate { bytes: bytes.0 },
                FaultAction::SlowBody {
                    chunk_delay,
                    chunk_size,
                } => HttpInjection::SlowBody {
                    chunk_delay: *chunk_delay,
                    chunk_size: usize::try_from(chunk_size.0).unwrap_or(usize::MAX).max(1),
                },
                _ => continue,
            };
            terminal |= !delay;
            injections.push(Injection {
                fault: index,
                label: armed.label.clone(),
                action,
            });
        }
        Decision {
            attempt,
            injections,
        }
    }

    /// Decides the fate of one TCP connection accepted `now` after the proxy started.
    pub fn decide_connection(&mut self, now: Duration) -> ConnectionDecision {
        let connection = self.connections;
        self.connections += 1;
        ConnectionDecision {
            connection,
            injections: self.connection_injections(connection, now, true),
        }
    }

    /// The faults acting on the open connection `connection` `now`, after the faults
    /// changed: a fault that stayed draws as it did when the connection opened, a new
    /// one draws for the first time. Faults limited by `first_requests` are left out (it
    /// counts connections as they open).
    pub fn redecide_connection(
        &mut self,
        connection: u64,
        now: Duration,
    ) -> Vec<ConnectionInjection> {
        self.connection_injections(connection, now, false)
    }

    fn connection_injections(
        &mut self,
        connection: u64,
        now: Duration,
        opening: bool,
    ) -> Vec<ConnectionInjection> {
        let key = mix(connection ^ CONNECTION_SALT);
        let seed = self.seed;
        let mut injections = Vec::new();
        for (index, armed) in self.faults.iter_mut().enumerate() {
            let spec = &armed.spec;
            if spec.layer() != Layer::Tcp
                || matches!(spec.action, FaultAction::Down)
                || !spec.schedule.active(now)
                || (!opening && spec.first_requests.is_some())
                || (opening && !armed.within_first_requests())
            {
                continue;
            }
            let mut rng = fault_rng(seed, armed.identity, key, 1);
            if !draw(&mut rng, armed.spec.probability.get()) {
                continue;
            }
            let action = match &armed.spec.action {
                FaultAction::TcpLatency { delay, direction } => TcpInjection::Latency {
                    delay: *delay,
                    direction: *direction,
                    seed: rng.random(),
                },
                FaultAction::Bandwidth { rate, direction } => TcpInjection::Bandwidth {
                    rate: rate.0.max(1),
                    direction: *direction,
                },
                FaultAction::ResetPeer { timeout, direction } => TcpInjection::ResetPeer {
                    timeout: *timeout,
                    direction: *direction,
                },
                FaultAction::TcpBlackhole => TcpInjection::Blackhole,
                FaultAction::SlowClose { delay, direction } => TcpInjection::SlowClose {
                    delay: *delay,
                    direction: *direction,
                },
                FaultAction::LimitData { bytes, direction } => TcpInjection::LimitData {
                    bytes: bytes.0,
                    direction: *direction,
                },
                FaultAction::Timeout { timeout, direction } => TcpInjection::Timeout {
                    timeout: *timeout,
                    direction: *direction,
                },
                FaultAction::Slicer {
                    average_size,
                    size_variation,
                    delay,
                    direction,
                } => TcpInjection::Slicer {
                    average_size: usize::try_from(average_size.0).unwrap_or(usize::MAX).max(1),
                    size_variation: usize::try_from(size_variation.0).unwrap_or(usize::MAX),
                    delay: *delay,
                    direction: *direction,
                    seed: rng.random(),
                },
                _ => continue,
            };
            injections.push(ConnectionInjection {
                fault: index,
                label: armed.label.clone(),
                action,
            });
        }
        injections
    }

    /// The label of the `down` fault whose window is active `now`, if any.
    pub fn down(&self, now: Duration) -> Option<&str> {
        self.faults
            .iter()
            .find(|a| matches!(a.spec.action, FaultAction::Down) && a.spec.schedule.active(now))
            .map(|a| a.label.as_str())
    }

    /// The next instant after `now` at which some `down` window opens or closes.
    pub fn next_down_change(&self, now: Duration) -> Option<Duration> {
        self.faults
            .iter()
            .filter(|a| matches!(a.spec.action, FaultAction::Down))
            .filter_map(|a| a.spec.schedule.next_change(now))
            .min()
    }
}

const FAULT_SALT: u64 = 0x4641_554c_5453_4554;
const ID_SALT: u64 = 0x5245_5155_4553_5449;
const UNKEYED_SALT: u64 = 0xA5A5_A5A5_A5A5_A5A5;
const CONNECTION_SALT: u64 = 0x434f_4e4e_4543_5431;

/// SplitMix64 finaliser: spreads nearby inputs (ids, indexes, small seeds) over all bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of one fault (its position, mixed, for requests; its identity for
/// connections) for one request key and attempt.
fn fault_rng(seed: u64, fault: u64, key: u64, attempt: u32) -> ChaCha8Rng {
    let per_fault = mix(mix(seed ^ FAULT_SALT) ^ fault);
    ChaCha8Rng::seed_from_u64(mix(per_fault ^ key).wrapping_add(mix(u64::from(attempt))))
}

/// A Bernoulli draw that is exact at 0 and 1 (and never panics, unlike `random_bool`
/// on a value built in code outside 0..=1).
fn draw(rng: &mut ChaCha8Rng, p: f64) -> bool {
    // Draw even at p = 1 so the generator is in the same state for the parameters after.
    let u: f64 = rng.random();
    p >= 1.0 || u < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::schedule::Schedule;
    use crate::fault::spec::{FaultFile, HeaderMatch, RequestMatch};
    use crate::units::Probability;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn faults(text: &str) -> Vec<FaultSpec> {
        FaultFile::from_toml(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .fault
    }

    fn post(path: &str, id: Option<u64>) -> (Method, String, HeaderMap, Option<u64>) {
        (Method::POST, path.to_owned(), HeaderMap::new(), id)
    }

    /// The decision for a POST to `path` carrying request id `id`, `now` into the run.
    fn decide_post(set: &mut FaultSet, now: Duration, path: &str, id: Option<u64>) -> Decision {
        let (method, path, headers, id) = post(path, id);
        let facts = RequestFacts {
            method: &method,
            path: &path,
            headers: &headers,
            request_id: id,
        };
        set.decide(now, &facts)
    }

    fn decide(set: &mut FaultSet, now: Duration, id: Option<u64>) -> Option<String> {
        decide_post(set, now, "/execute", id)
            .label()
            .map(str::to_owned)
    }

    fn abort() -> FaultSpec {
        FaultSpec::new(FaultAction::Abort)
    }

    #[test]
    fn windows_and_repeats_gate_the_fault() {
        let mut spec = abort();
        spec.schedule = Schedule {
            start: ms(2000),
            duration: Some(ms(2000)),
            repeat: Some(ms(10_000)),
        };
        let mut set = FaultSet::new(vec![spec], 1);
        let hits: Vec<bool> = [0, 1999, 2000, 3999, 4000, 9999, 12_000, 14_001]
            .into_iter()
            .map(|t| decide(&mut set, ms(t), None).is_some())
            .collect();
        assert_eq!(hits, [false, false, true, true, false, false, true, false]);
    }

    #[test]
    fn probability_is_the_share_of_hits_over_many_seeded_draws() {
        for p in [0.0, 0.05, 0.3, 0.9, 1.0] {
            let mut spec = abort();
            spec.probability = Probability::new(p).expect("valid");
            let mut set = FaultSet::new(vec![spec], 42);
            let hits = (0..10_000u64)
                .filter(|id| decide(&mut set, ms(0), Some(*id)).is_some())
                .count();
            let share = hits as f64 / 10_000.0;
            // 4 standard errors at p = 0.5 is 0.02; allow a little more.
            assert!((share - p).abs() < 0.025, "p {p}: share {share}");
        }
    }

    #[test]
    fn first_attempts_hits_attempts_one_to_n_of_each_request_id() {
        let mut spec = FaultSpec::new(FaultAction::HttpError {
            status: 503,
            body: String::new(),
            headers: Default::default(),
        });
        spec.first_attempts = Some(2);
        let mut set = FaultSet::new(vec![spec], 1);
        for id in [7, 8] {
            // Interleaved ids: counting is per id, not global.
            assert!(decide(&mut set, ms(0), Some(id)).is_some());
        }
        for id in [7, 8] {
            assert!(decide(&mut set, ms(1), Some(id)).is_some());
        }
        for id in [7, 8] {
            assert!(
                decide(&mut set, ms(2), Some(id)).is_none(),
                "third attempt passes"
            );
        }
        assert!(
            decide(&mut set, ms(3), Some(9)).is_some(),
            "a new id starts over"
        );
    }

    #[test]
    fn first_requests_hits_only_the_first_n_eligible_requests() {
        let mut spec = abort();
        spec.first_requests = Some(3);
        let mut set = FaultSet::new(vec![spec], 1);
        let hits: Vec<bool> = (0..6)
            .map(|id| decide(&mut set, ms(0), Some(id)).is_some())
            .collect();
        assert_eq!(hits, [true, true, true, false, false, false]);
    }

    #[test]
    fn matching_on_method_path_prefix_and_header() {
        let mut spec = abort();
        spec.matcher = RequestMatch {
            method: Some("post".into()),
            path_prefix: Some("/execute".into()),
            header: Some(HeaderMatch {
                name: "X-Feature-Use_Dagger_Workflow_Engine".into(),
                value: Some("true".into()),
            }),
        };
        let mut set = FaultSet::new(vec![spec], 1);
        let mut dagger = HeaderMap::new();
        dagger.insert(
            "x-feature-use_dagger_workflow_engine",
            HeaderValue::from_static("true"),
        );
        let mut legacy = HeaderMap::new();
        legacy.insert(
            "x-feature-use_dagger_workflow_engine",
            HeaderValue::from_static("false"),
        );
        let mut hit = |method: Method, path: &str, headers: &HeaderMap| {
            let facts = RequestFacts {
                method: &method,
                path,
                headers,
                request_id: None,
            };
            !set.decide(ms(0), &facts).injections.is_empty()
        };
        assert!(hit(Method::POST, "/execute/now", &dagger));
        assert!(!hit(Method::GET, "/execute", &dagger));
        assert!(!hit(Method::POST, "/healthz", &dagger));
        assert!(!hit(Method::POST, "/execute", &legacy));
        assert!(!hit(Method::POST, "/execute", &HeaderMap::new()));
    }

    #[test]
    fn the_first_fault_that_fires_wins() {
        let set_text = r#"
            [[fault]]
            name = "sometimes"
            kind = "abort"
            probability = 0.5
            [[fault]]
            name = "otherwise"
            kind = "http_error"
            status = 503
        "#;
        let mut set = FaultSet::new(faults(set_text), 3);
        let labels: Vec<String> = (0..200)
            .filter_map(|id| decide(&mut set, ms(0), Some(id)))
            .collect();
        assert_eq!(labels.len(), 200, "the second fault catches the rest");
        let first = labels.iter().filter(|l| *l == "sometimes").count();
        assert!((60..140).contains(&first), "{first}");
    }

    fn sequence(seed: u64, ids: impl Iterator<Item = u64>) -> Vec<(u64, bool)> {
        let mut spec = abort();
        spec.probability = Probability::new(0.3).expect("valid");
        let mut set = FaultSet::new(vec![spec], seed);
        ids.map(|id| (id, decide(&mut set, ms(0), Some(id)).is_some()))
            .collect()
    }

    #[test]
    fn same_seed_same_decisions_different_seed_different_decisions() {
        assert_eq!(sequence(42, 0..500), sequence(42, 0..500));
        assert_ne!(sequence(42, 0..500), sequence(43, 0..500));
    }

    #[test]
    fn decisions_do_not_depend_on_arrival_order() {
        let mut forward = sequence(42, 0..500);
        let mut backward = sequence(42, (0..500).rev());
        forward.sort();
        backward.sort();
        assert_eq!(forward, backward);
    }

    #[test]
    fn sampled_latency_replays_per_request_id() {
        let faults_text = "[[fault]]\nkind = \"latency\"\nlatency = \"10ms\"\njitter = \"50ms\"";
        let delays = |order: Vec<u64>| {
            let mut set = FaultSet::new(faults(faults_text), 9);
            let mut out: Vec<(u64, Duration)> = order
                .into_iter()
                .map(|id| {
                    let decision = decide_post(&mut set, ms(0), "/", Some(id));
                    assert!(decision.terminal().is_none());
                    (id, decision.delay())
                })
                .collect();
            out.sort();
            out
        };
        assert_eq!(delays((0..50).collect()), delays((0..50).rev().collect()));
    }

    #[test]
    fn the_attempt_counter_is_bounded_and_forgets_the_oldest_id() {
        let mut counter = AttemptCounter::new(3);
        assert_eq!(counter.observe(1), 1);
        assert_eq!(counter.observe(1), 2);
        for id in [2, 3, 4] {
            assert_eq!(counter.observe(id), 1);
        }
        assert_eq!(counter.len(), 3);
        assert_eq!(counter.observe(1), 1, "id 1 was forgotten when id 4 came");
        assert_eq!(counter.observe(4), 2);
        for id in 100..10_000 {
            counter.observe(id);
        }
        assert_eq!(counter.len(), 3);
    }

    #[test]
    fn set_faults_replaces_faults_but_keeps_attempt_counts() {
        let mut set = FaultSet::new(vec![], 1);
        assert!(decide(&mut set, ms(0), Some(5)).is_none());
        let mut spec = abort();
        spec.first_attempts = Some(1);
        set.set_faults(vec![spec]);
        assert!(
            decide(&mut set, ms(0), Some(5)).is_none(),
            "second attempt of 5"
        );
        assert!(decide(&mut set, ms(0), Some(6)).is_some());
    }

    #[test]
    fn connections_draw_per_connection_and_down_follows_its_window() {
        let text = r#"
            [[fault]]
            kind = "reset_peer"
            probability = 0.3
            [[fault]]
            kind = "down"
            start = "1s"
            duration = "2s"
        "#;
        let run = |seed| {
            let mut set = FaultSet::new(faults(text), seed);
            (0..1000)
                .map(|_| !set.decide_connection(ms(0)).injections.is_empty())
                .collect::<Vec<_>>()
        };
        let hits = run(5).iter().filter(|h| **h).count();
        assert!((240..360).contains(&hits), "{hits}");
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let set = FaultSet::new(faults(text), 5);
        assert_eq!(set.down(ms(999)), None);
        assert_eq!(set.down(ms(1000)), Some("down"));
        assert_eq!(set.down(ms(3000)), None);
        assert_eq!(set.next_down_change(ms(0)), Some(ms(1000)));
        assert_eq!(set.next_down_change(ms(1500)), Some(ms(3000)));
        assert_eq!(set.next_down_change(ms(3000)), None);
    }

    #[test]
    fn http_faults_ignore_connections_and_tcp_faults_ignore_requests() {
        let mut set = FaultSet::new(
            faults("[[fault]]\nkind = \"abort\"\n[[fault]]\nkind = \"reset_peer\""),
            1,
        );
        assert_eq!(decide(&mut set, ms(0), None).as_deref(), Some("abort"));
        let conn = set.decide_connection(ms(0));
        assert_eq!(
            conn.injections.first().map(|i| i.label.as_str()),
            Some("reset_peer")
        );
    }

    #[test]
    fn injected_errors_carry_their_headers_and_the_fault_marker() {
        let mut set = FaultSet::new(
            faults(
                "[[fault]]\nname = \"busy\"\nkind = \"http_error\"\nstatus = 429\nbody = \"later\"\nheaders = { \"Retry-After\" = \"1\" }",
            ),
            1,
        );
        match decide_post(&mut set, ms(0), "/", None)
            .terminal()
            .map(|i| i.action.clone())
        {
            Some(HttpInjection::Respond {
                status,
                body,
                headers,
            }) => {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                assert_eq!(body, Bytes::from_static(b"later"));
                assert_eq!(
                    headers.get("retry-after").map(|v| v.as_bytes()),
                    Some(&b"1"[..])
                );
                assert_eq!(
                    headers.get(FAULT_HEADER).map(|v| v.as_bytes()),
                    Some(&b"busy"[..])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delays_add_up_and_a_later_terminal_fault_still_applies() {
        let text = r#"
            [[fault]]
            name = "slow"
            kind = "latency"
            latency = "100ms"
            [[fault]]
            name = "slower"
            kind = "latency"
            latency = "50ms"
            [[fault]]
            name = "outage"
            kind = "http_error"
            status = 503
            [[fault]]
            name = "hidden"
            kind = "abort"
        "#;
        let mut set = FaultSet::new(faults(text), 1);
        let decision = decide_post(&mut set, ms(0), "/", None);
        assert_eq!(decision.delay(), ms(150));
        assert_eq!(decision.label(), Some("outage"));
        let labels: Vec<&str> = decision
            .injections
            .iter()
            .map(|i| i.label.as_str())
            .collect();
        assert_eq!(
            labels,
            ["slow", "slower", "outage"],
            "one terminal fault only"
        );
    }

    #[test]
    fn every_tcp_fault_that_fires_acts_in_list_order() {
        let text = r#"
            [[fault]]
            kind = "tcp_latency"
            latency = "10ms"
            [[fault]]
            kind = "bandwidth"
            rate = "10KiB"
            [[fault]]
            kind = "slicer"
            average_size = 10
            probability = 0
        "#;
        let mut set = FaultSet::new(faults(text), 1);
        let labels: Vec<String> = set
            .decide_connection(ms(0))
            .injections
            .into_iter()
            .map(|i| i.label)
            .collect();
        assert_eq!(labels, ["tcp_latency", "bandwidth"]);
    }
}
