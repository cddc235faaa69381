//! The TCP faults of one direction of one connection as a chain of stages, in the order
//! the faults are listed, as Toxiproxy chains the toxics of a stream in the order they
//! were added: each stage sees what the stages before it let through.
//!
//! A stage is pure: it turns a piece of data arriving at an instant into pieces that may
//! leave at later instants, or into the end of the stream. No stage sleeps; the pump
//! (`tcp_proxy::pump`) waits until each piece's instant and writes it, so the whole chain
//! is tested with explicit instants, and stages compose by composing their timestamps.
//!
//! The timing follows Toxiproxy's toxics: `latency` delays each chunk by `latency` plus a
//! uniform draw around it, counted from when the chunk was read (so chunks pipeline and
//! throughput is not divided by the latency); `bandwidth` releases a chunk once its bytes
//! fit the rate, in pieces of at most 100 ms of data; `slicer` cuts a chunk by repeated
//! halving, moving each cut by up to `size_variation`, and waits `delay` after each
//! piece; `limit_data` passes `bytes` then closes; `slow_close` delays the end of the
//! stream; `timeout` drops everything and closes after its timeout (never when 0);
//! `reset_peer` drops the first data (or the close) it sees and resets after its timeout.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::delay::Delay;

/// How a direction of a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The sender closed its side; the close is passed on (a half-close), the other
    /// direction carries on.
    Eof,
    /// The whole connection closes (a data limit, a timeout).
    Close,
    /// The whole connection is reset (RST).
    Reset,
}

/// What leaves a chain: bytes, or the end of the stream, each at its instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes to write at `at`.
    Data {
        /// The bytes.
        data: Bytes,
        /// The earliest instant they may be written.
        at: Instant,
    },
    /// The end of the stream at `at`.
    End {
        /// How it ends.
        ending: Ending,
        /// When.
        at: Instant,
    },
}

impl Event {
    /// The instant the event is due.
    pub fn at(&self) -> Instant {
        match self {
            Self::Data { at, .. } | Self::End { at, .. } => *at,
        }
    }
}

/// One fault's effect on one direction.
#[derive(Debug, Clone)]
pub enum Stage {
    /// Each chunk leaves a draw of `delay` after it was read.
    Latency {
        /// The delay per chunk.
        delay: Delay,
        /// The connection's generator for this stage.
        rng: ChaCha8Rng,
    },
    /// At most `rate` bytes per second.
    Bandwidth {
        /// Bytes per second, at least 1.
        rate: u64,
    },
    /// Pieces of about `average` bytes, `delay` apart.
    Slicer {
        /// The mean piece size, at least 1.
        average: usize,
        /// The largest shift of a cut.
        variation: usize,
        /// The wait after each piece.
        delay: Duration,
        /// The connection's generator for this stage.
        rng: ChaCha8Rng,
    },
    /// Close the connection once `bytes` passed.
    LimitData {
        /// The limit.
        bytes: u64,
    },
    /// Delay the end of the stream.
    SlowClose {
        /// The wait.
        delay: Duration,
    },
    /// Drop everything; close the connection `timeout` after the stage started.
    Timeout {
        /// `None` = never close.
        timeout: Option<Duration>,
    },
    /// Drop the first data (or the close) and everything after; reset `timeout` later.
    ResetPeer {
        /// The wait after the first data.
        timeout: Duration,
    },
}

/// What identifies a stage across a change of the faults: the same key keeps its state.
pub type StageKey = u64;

/// A stage with its running state.
#[derive(Debug, Clone)]
struct Running {
    key: StageKey,
    stage: Stage,
    /// When the stage is free for the next chunk: stages take chunks one at a time.
    free: Instant,
    /// Bytes passed (`limit_data`).
    passed: u64,
    /// When the stage ends the stream on its own (`timeout`, an armed `reset_peer`).
    deadline: Option<(Instant, Ending)>,
    /// The stage has ended the stream: it lets nothing more through.
    done: bool,
}

/// A piece on its way through the chain.
#[derive(Debug, Clone)]
struct Piece {
    data: Bytes,
    /// Toxiproxy's chunk timestamp: when it was read, plus the latencies it met.
    stamp: Instant,
    /// When it leaves the previous stage.
    at: Instant,
}

#[derive(Debug, Clone)]
enum Item {
    Data(Piece),
    End(Ending, Instant),
}

/// The stages of one direction, in list order.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    stages: Vec<Running>,
    ended: bool,
}

impl Chain {
    /// A chain of `stages` starting `now` (timeouts count from here).
    pub fn new(stages: Vec<Stage>, now: Instant) -> Self {
        Self::keyed(
            stages
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i as StageKey, s))
                .collect(),
            now,
        )
    }

    /// A chain of keyed `stages` starting `now`.
    pub fn keyed(stages: Vec<(StageKey, Stage)>, now: Instant) -> Self {
        Self {
            stages: stages
                .into_iter()
                .map(|(key, stage)| Running::new(key, stage, now))
                .collect(),
            ended: false,
        }
    }

    /// Replaces the stages `now`, as Toxiproxy changes the toxics of open connections: a
    /// stage whose key was there keeps its state (a limit's count, a timeout's start),
    /// a new one starts now, a gone one stops. Bytes already through are not touched. A
    /// `timeout` that goes closes the connection, as Toxiproxy's does (the bytes it
    /// dropped are lost, so the stream cannot go on): that end is appended to `out`.
    pub fn update(&mut self, stages: Vec<(StageKey, Stage)>, now: Instant, out: &mut Vec<Event>) {
        let mut old = std::mem::take(&mut self.stages);
        self.stages = stages
            .into_iter()
            .map(|(key, stage)| match old.iter().position(|r| r.key == key) {
                Some(i) => old.swap_remove(i),
                None => Running::new(key, stage, now),
            })
            .collect();
        let dropped_data = old
            .iter()
            .any(|r| !r.done && matches!(r.stage, Stage::Timeout { .. }));
        if dropped_data && !self.ended {
            self.ended = true;
            out.push(Event::End {
                ending: Ending::Close,
                at: now,
            });
        }
    }

    /// Whether there is no stage: bytes pass as they come.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Whether the stream has ended (an end event was produced).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Bytes read at `now`: the events they become, appended to `out` in order.
    pub fn data(&mut self, data: Bytes, now: Instant, out: &mut Vec<Event>) {
        let piece = Piece {
            data,
            stamp: now,
            at: now,
        };
        self.run(0, vec![Item::Data(piece)], out);
    }

    /// The sender closed its side at `now`.
    pub fn eof(&mut self, now: Instant, out: &mut Vec<Event>) {
        self.run(0, vec![Item::End(Ending::Eof, now)], out);
    }

    /// The earliest instant at which a stage ends the stream without any data.
    pub fn deadline(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        self.stages
            .iter()
            .filter(|s| !s.done)
            .filter_map(|s| s.deadline.map(|(at, _)| at))
            .min()
    }

    /// Fires the deadline due at `now`, if any: the end it becomes, appended to `out`.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Event>) {
        let Some(index) = self
            .stages
            .iter()
            .position(|s| !s.done && s.deadline.is_some_and(|(at, _)| at <= now))
        else {
            return;
        };
        let stage = &mut self.stages[index];
        let Some((at, ending)) = stage.deadline.take() else {
            return;
        };
        stage.done = true;
        self.run(index + 1, vec![Item::End(ending, at)], out);
    }

    /// Passes `items` through the stages from `first` on.
    fn run(&mut self, first: usize, mut items: Vec<Item>, out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        for stage in &mut self.stages[first..] {
            let mut next = Vec::with_capacity(items.len());
            for item in items {
                stage.take(item, &mut next);
            }
            items = next;
        }
        for item in items {
            if self.ended {
                break;
            }
            out.push(match item {
                Item::Data(piece) => Event::Data {
                    data: piece.data,
                    at: piece.at,
                },
                Item::End(ending, at) => {
                    self.ended = true;
                    Event::End { ending, at }
                }
            });
        }
    }
}

impl Running {
    fn new(key: StageKey, stage: Stage, now: Instant) -> Self {
        let deadline = match &stage {
            Stage::Timeout {
                timeout: Some(timeout),
            } => Some((after(now, *timeout), Ending::Close)),
            _ => None,
        };
        Self {
            key,
            stage,
            free: now,
            passed: 0,
            deadline,
            done: false,
        }
    }

    /// Takes one item, appending what leaves to `out`.
    fn take(&mut self, item: Item, out: &mut Vec<Item>) {
        if self.done {
            return;
        }
        let piece = match item {
            Item::End(ending, at) => return self.end(ending, at, out),
            Item::Data(piece) => piece,
        };
        // A stage takes one chunk at a time: it starts on this one when it arrives and
        // the previous one has left.
        let start = piece.at.max(self.free);
        match &mut self.stage {
            Stage::Latency { delay, rng } => {
                let due = after(piece.stamp, delay.sample(rng));
                let at = start.max(due);
                self.free = at;
                out.push(Item::Data(Piece {
                    stamp: due,
                    at,
                    ..piece
                }));
            }
            Stage::Bandwidth { rate } => {
                let rate = (*rate).max(1);
                // At most 100 ms of data per piece, as Toxiproxy paces large chunks.
                let most = usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1);
                let mut at = start;
                let mut rest = piece.data;
                while !rest.is_empty() {
                    let part = rest.split_to(most.min(rest.len()));
                    at = after(at, Duration::from_secs_f64(part.len() as f64 / rate as f64));
                    out.push(Item::Data(Piece {
                        data: part,
                        stamp: piece.stamp,
                        at,
                    }));
                }
                self.free = at;
            }
            Stage::Slicer {
                average,
                variation,
                delay,
                rng,
            } => {
                let mut cuts = vec![0];
                slice(0, piece.data.len(), *average, *variation, rng, &mut cuts);
                let mut at = start;
                for pair in cuts.windows(2) {
                    out.push(Item::Data(Piece {
                        data: piece.data.slice(pair[0]..pair[1]),
                        stamp: piece.stamp,
                        at,
                    }));
                    at = after(at, *delay);
                }
                self.free = at;
            }
            Stage::LimitData { bytes } => {
                let left = bytes.saturating_sub(self.passed);
                let mut data = piece.data;
                data.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                self.passed += data.len() as u64;
                self.free = start;
                if !data.is_empty() {
                    out.push(Item::Data(Piece {
                        data,
                        stamp: piece.stamp,
                        at: start,
                    }));
                }
                if self.passed >= *bytes {
                    self.done = true;
                    out.push(Item::End(Ending::Close, start));
                }
            }
            Stage::SlowClose { .. } => {
                self.free = start;
                out.push(Item::Data(Piece { at: start, ..piece }));
            }
            Stage::Timeout { .. } => {}
            Stage::ResetPeer { timeout } => {
                let timeout = *timeout;
                self.arm(after(start, timeout));
            }
        }
    }

    /// The end of the stream reaches this stage at `at`.
    fn end(&mut self, ending: Ending, at: Instant, out: &mut Vec<Item>) {
        let at = at.max(self.free);
        match &self.stage {
            Stage::SlowClose { delay } => {
                let delay = *delay;
                self.done = true;
                out.push(Item::End(ending, after(at, delay)));
            }
            Stage::ResetPeer { timeout } => {
                let timeout = *timeout;
                self.arm(after(at, timeout));
            }
            _ => {
                self.done = true;
                out.push(Item::End(ending, at));
            }
        }
    }

    /// Arms a `reset_peer` once, on the first thing it sees.
    fn arm(&mut self, at: Instant) {
        if self.deadline.is_none() {
            self.deadline = Some((at, Ending::Reset));
        }
    }
}

/// `at + wait`, or about thirty years on when that overflows (a wait of `u64::MAX`
/// milliseconds from a toxic attribute must not panic).
fn after(at: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    at.checked_add(wait)
        .or_else(|| at.checked_add(FAR))
        .unwrap_or(at)
}

/// Appends the cut points of `start..end` to `cuts` (each piece's end), halving until a
/// piece is within `variation` of `average`, each cut moved by up to `variation`.
fn slice(
    start: usize,
    end: usize,
    average: usize,
    variation: usize,
    rng: &mut ChaCha8Rng,
    cuts: &mut Vec<usize>,
) {
    let len = end - start;
    if len <= average.saturating_add(variation) || len < 2 {
        if len > 0 {
            cuts.push(end);
        }
        return;
    }
    let mut mid = start + len / 2;
    if variation > 0 {
        let shift = rng.random_range(0..variation.saturating_mul(2));
        mid = (mid + shift).saturating_sub(variation);
    }
    // Never an empty side, whatever the variation.
    let mid = mid.clamp(start + 1, end - 1);
    slice(start, mid, average, variation, rng, cuts);
    slice(mid, end, average, variation, rng, cuts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn fixed(latency: u64, jitter: u64) -> Delay {
        Delay::Fixed {
            latency: ms(latency),
            jitter: ms(jitter),
        }
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    /// Feeds `chunks` (read at `t0 + offset`) then an EOF, returning all events.
    fn feed(
        stages: Vec<Stage>,
        chunks: &[(u64, &'static [u8])],
        eof: u64,
    ) -> (Instant, Vec<Event>) {
        let t0 = Instant::now();
        let mut chain = Chain::new(stages, t0);
        let mut out = Vec::new();
        for (offset, data) in chunks {
            chain.data(Bytes::from_static(data), t0 + ms(*offset), &mut out);
        }
        chain.eof(t0 + ms(eof), &mut out);
        (t0, out)
    }

    fn offsets(t0: Instant, events: &[Event]) -> Vec<u64> {
        events
            .iter()
            .map(|e| (e.at() - t0).as_millis() as u64)
            .collect()
    }

    #[test]
    fn latency_pipelines_chunks_from_when_each_was_read() {
        let stage = Stage::Latency {
            delay: fixed(100, 0),
            rng: rng(),
        };
        let (t0, events) = feed(vec![stage], &[(0, b"a"), (10, b"b"), (20, b"c")], 30);
        // Each chunk 100 ms after it was read, not 100 ms after the one before.
        assert_eq!(offsets(t0, &events), [100, 110, 120, 120]);
        assert!(matches!(
            events[3],
            Event::End {
                ending: Ending::Eof,
                ..
            }
        ));
    }

    #[test]
    fn stacked_latencies_add_up() {
        let stages = vec![
            Stage::Latency {
                delay: fixed(100, 0),
                rng: rng(),
            },
            Stage::Latency {
                delay: fixed(50, 0),
                rng: rng(),
            },
        ];
        let (t0, events) = feed(stages, &[(0, b"a")], 0);
        assert_eq!(offsets(t0, &events)[0], 150);
    }

    #[test]
    fn bandwidth_releases_bytes_at_the_rate_in_pieces_of_100_ms() {
        static DATA: [u8; 3000] = [0; 3000];
        let (t0, events) = feed(vec![Stage::Bandwidth { rate: 10_000 }], &[(0, &DATA)], 0);
        // 1000 bytes per 100 ms piece; the EOF follows the last piece.
        assert_eq!(offsets(t0, &events), [100, 200, 300, 300]);
    }

    #[test]
    fn latency_then_bandwidth_both_apply() {
        static DATA: [u8; 1000] = [0; 1000];
        let stages = vec![
            Stage::Latency {
                delay: fixed(100, 0),
                rng: rng(),
            },
            Stage::Bandwidth { rate: 10_000 },
        ];
        let (t0, events) = feed(stages, &[(0, &DATA)], 0);
        assert_eq!(offsets(t0, &events)[0], 200);
    }

    #[test]
    fn slicer_cuts_into_small_pieces_that_add_up_with_the_delay_between() {
        static DATA: [u8; 1000] = [7; 1000];
        let stage = Stage::Slicer {
            average: 10,
            variation: 5,
            delay: ms(1),
            rng: rng(),
        };
        let (t0, events) = feed(vec![stage], &[(0, &DATA)], 0);
        let sizes: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                Event::Data { data, .. } => Some(data.len()),
                Event::End { .. } => None,
            })
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes.len() >= 50, "{} pieces", sizes.len());
        assert!(sizes.iter().all(|s| (1..=15).contains(s)), "{sizes:?}");
        let times = offsets(t0, &events);
        assert_eq!(times[0], 0);
        assert_eq!(times[sizes.len() - 1], sizes.len() as u64 - 1);
    }

    #[test]
    fn limit_data_passes_the_limit_then_closes() {
        let (_, events) = feed(
            vec![Stage::LimitData { bytes: 5 }],
            &[(0, b"0123"), (1, b"4567"), (2, b"89")],
            3,
        );
        let data: Vec<&[u8]> = events
            .iter()
            .filter_map(|e| match e {
                Event::Data { data, .. } => Some(data.as_ref()),
                Event::End { .. } => None,
            })
            .collect();
        assert_eq!(data, [&b"0123"[..], b"4"]);
        assert!(matches!(
            events.last(),
            Some(Event::End {
                ending: Ending::Close,
                ..
            })
        ));
        assert_eq!(events.len(), 3, "nothing after the close");
    }

    #[test]
    fn slow_close_delays_the_end_and_follows_a_limit() {
        let (t0, events) = feed(vec![Stage::SlowClose { delay: ms(500) }], &[(0, b"x")], 10);
        assert_eq!(offsets(t0, &events), [0, 510]);
        let stages = vec![
            Stage::LimitData { bytes: 1 },
            Stage::SlowClose { delay: ms(500) },
        ];
        let (t0, events) = feed(stages, &[(5, b"xy")], 10);
        assert_eq!(offsets(t0, &events), [5, 505]);
        assert!(matches!(
            events[1],
            Event::End {
                ending: Ending::Close,
                ..
            }
        ));
    }

    #[test]
    fn timeout_drops_data_and_closes_at_its_deadline_or_never() {
        let t0 = Instant::now();
        let mut chain = Chain::new(
            vec![Stage::Timeout {
                timeout: Some(ms(300)),
            }],
            t0,
        );
        let mut out = Vec::new();
        chain.data(Bytes::from_static(b"lost"), t0 + ms(10), &mut out);
        assert!(out.is_empty());
        assert_eq!(chain.deadline(), Some(t0 + ms(300)));
        chain.expire(t0 + ms(299), &mut out);
        assert!(out.is_empty(), "not yet");
        chain.expire(t0 + ms(300), &mut out);
        assert_eq!(
            out,
            [Event::End {
                ending: Ending::Close,
                at: t0 + ms(300)
            }]
        );
        assert!(chain.ended() && chain.deadline().is_none());

        let mut never = Chain::new(vec![Stage::Timeout { timeout: None }], t0);
        never.data(Bytes::from_static(b"lost"), t0, &mut out);
        assert_eq!(never.deadline(), None);
        out.clear();
        never.eof(t0 + ms(5), &mut out);
        assert!(matches!(
            out[..],
            [Event::End {
                ending: Ending::Eof,
                ..
            }]
        ));
    }

    #[test]
    fn reset_peer_arms_on_the_first_data_and_resets_after_its_timeout() {
        let t0 = Instant::now();
        let mut chain = Chain::new(vec![Stage::ResetPeer { timeout: ms(200) }], t0);
        assert_eq!(chain.deadline(), None, "nothing arms it before data");
        let mut out = Vec::new();
        chain.data(Bytes::from_static(b"GET /"), t0 + ms(50), &mut out);
        chain.data(Bytes::from_static(b"more"), t0 + ms(60), &mut out);
        assert!(out.is_empty(), "data is dropped");
        assert_eq!(chain.deadline(), Some(t0 + ms(250)));
        chain.expire(t0 + ms(250), &mut out);
        assert_eq!(
            out,
            [Event::End {
                ending: Ending::Reset,
                at: t0 + ms(250)
            }]
        );
    }

    #[test]
    fn a_timeout_after_a_slow_close_closes_late() {
        let t0 = Instant::now();
        let stages = vec![
            Stage::Timeout {
                timeout: Some(ms(100)),
            },
            Stage::SlowClose { delay: ms(50) },
        ];
        let mut chain = Chain::new(stages, t0);
        let mut out = Vec::new();
        chain.expire(t0 + ms(100), &mut out);
        assert_eq!(offsets(t0, &out), [150]);
    }

    #[test]
    fn an_update_keeps_the_state_of_stages_that_stay() {
        let t0 = Instant::now();
        let mut chain = Chain::keyed(vec![(1, Stage::LimitData { bytes: 10 })], t0);
        let mut out = Vec::new();
        chain.data(Bytes::from_static(b"123456"), t0, &mut out);
        chain.update(
            vec![
                (
                    2,
                    Stage::Timeout {
                        timeout: Some(ms(100)),
                    },
                ),
                (1, Stage::LimitData { bytes: 10 }),
            ],
            t0 + ms(50),
            &mut out,
        );
        assert_eq!(
            chain.deadline(),
            Some(t0 + ms(150)),
            "the new timeout starts now"
        );
        let mut without_timeout = chain.clone();
        without_timeout.update(
            vec![(1, Stage::LimitData { bytes: 10 })],
            t0 + ms(60),
            &mut out,
        );
        assert!(
            matches!(
                out.last(),
                Some(Event::End {
                    ending: Ending::Close,
                    ..
                })
            ),
            "a timeout that goes closes the connection, as in Toxiproxy"
        );
        // Without the timeout in between, the limit goes on counting.
        let mut chain = Chain::keyed(vec![(1, Stage::LimitData { bytes: 10 })], t0);
        chain.data(Bytes::from_static(b"123456"), t0, &mut out);
        chain.update(
            vec![
                (3, Stage::SlowClose { delay: ms(1) }),
                (1, Stage::LimitData { bytes: 10 }),
            ],
            t0 + ms(60),
            &mut out,
        );
        out.clear();
        chain.data(Bytes::from_static(b"789abc"), t0 + ms(70), &mut out);
        let passed: usize = out
            .iter()
            .map(|e| match e {
                Event::Data { data, .. } => data.len(),
                Event::End { .. } => 0,
            })
            .sum();
        assert_eq!(passed, 4, "the limit kept its count of 6");
        assert!(chain.ended());
    }

    #[test]
    fn huge_waits_do_not_overflow() {
        let huge = Duration::from_millis(u64::MAX);
        let t0 = Instant::now();
        let mut chain = Chain::new(
            vec![
                Stage::SlowClose { delay: huge },
                Stage::Timeout {
                    timeout: Some(huge),
                },
            ],
            t0,
        );
        let mut out = Vec::new();
        chain.eof(t0, &mut out);
        assert!(chain.deadline().is_none_or(|d| d > t0));
        let mut reset = Chain::new(vec![Stage::ResetPeer { timeout: huge }], t0);
        reset.data(Bytes::from_static(b"x"), t0, &mut out);
        assert!(reset.deadline().is_some_and(|d| d > t0));
    }

    #[test]
    fn jitter_is_drawn_per_chunk_from_the_seed() {
        let chain_times = |seed| {
            let stage = Stage::Latency {
                delay: fixed(50, 100),
                rng: ChaCha8Rng::seed_from_u64(seed),
            };
            let t0 = Instant::now();
            let mut chain = Chain::new(vec![stage], t0);
            let mut out = Vec::new();
            for i in 0..20 {
                chain.data(Bytes::from_static(b"x"), t0 + ms(i * 1000), &mut out);
            }
            out.iter()
                .enumerate()
                .map(|(i, e)| (e.at() - t0).as_millis() as u64 - i as u64 * 1000)
                .collect::<Vec<_>>()
        };
        let a = chain_times(1);
        assert_eq!(a, chain_times(1));
        assert_ne!(a, chain_times(2));
        assert!(a.iter().all(|d| (50..=150).contains(d)), "{a:?}");
    }
}
