//! The byte relay between a client and an upstream connection: a pump per direction
//! driving that direction's chain of stream faults ([`Chain`], in `shape.rs`), passing a
//! sender's close on as a half-close (`shutdown(SHUT_WR)`) while the other direction
//! carries on, and following changes of the faults on open connections ([`Live`]).
//! Both proxies use it: the TCP proxy between its two sockets, the HTTP proxy between a
//! client connection with TCP faults and its HTTP server.
//!
//! Each direction holds at most [`IN_FLIGHT`] bytes that are read but not yet written,
//! so a slow receiver or a bandwidth limit pushes back on the sender (TCP flow control)
//! instead of growing memory.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::Shared;
use super::decide::{ConnectionDecision, ConnectionInjection, TcpInjection};
use super::shape::{Chain, Ending, Event, Stage, StageKey};
use super::spec::Direction;

/// The relay's read size: large enough for bulk data, small enough that a per-chunk
/// fault still sees many chunks.
pub(super) const BUFFER: usize = 16 * 1024;

/// The most bytes one direction holds read but not yet written (delayed by a fault).
pub const IN_FLIGHT: usize = 256 * 1024;

/// A stream whose close the relay can turn into a reset (RST).
pub trait Resettable {
    /// Makes the coming close a reset, if the stream can.
    fn reset_on_close(&self);
}

impl Resettable for TcpStream {
    fn reset_on_close(&self) {
        // If SO_LINGER cannot be set, the close is an ordinary FIN: still an end.
        let _ = self.set_zero_linger();
    }
}

impl Resettable for DuplexStream {
    fn reset_on_close(&self) {}
}

/// The chains of both directions of one connection.
#[derive(Debug, Clone, Default)]
pub struct Chains {
    /// Client → upstream.
    pub upstream: Chain,
    /// Upstream → client.
    pub downstream: Chain,
}

/// The keyed stages of one direction, as an update to its chain.
pub type Stages = Vec<(StageKey, Stage)>;

impl Chains {
    /// The stream faults of `injections` in list order, starting `now`.
    pub fn of(injections: &[TcpInjection], now: Instant) -> Self {
        let (up, down) = split(
            injections
                .iter()
                .enumerate()
                .map(|(i, a)| (i as StageKey, a)),
        );
        Self {
            upstream: Chain::keyed(up, now),
            downstream: Chain::keyed(down, now),
        }
    }

    /// The stream faults that fired on a connection, keyed so that a fault that stays
    /// across a change keeps its state.
    pub fn stages(injections: &[ConnectionInjection]) -> (Stages, Stages) {
        split(injections.iter().map(|i| (stage_key(i), &i.action)))
    }
}

/// A fault's key on a connection: its label and its parameters.
fn stage_key(injection: &ConnectionInjection) -> StageKey {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    injection.label.hash(&mut hasher);
    // The parameters hold floats (distributions), which have no `Hash`; their debug form
    // names every one of them.
    format!("{:?}", injection.action).hash(&mut hasher);
    hasher.finish()
}

/// The stages of each direction, in order.
fn split<'a>(injections: impl Iterator<Item = (StageKey, &'a TcpInjection)>) -> (Stages, Stages) {
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for (key, injection) in injections {
        let Some((stage, direction, seed)) = stage_of(injection) else {
            continue;
        };
        if direction.upstream() {
            let mut stage = stage.clone();
            if direction == Direction::Both {
                // Its own stream of the same generator, so both ways do not draw in step.
                reseed(&mut stage, seed);
            }
            up.push((key, stage));
        }
        if direction.downstream() {
            down.push((key, stage));
        }
    }
    (up, down)
}

/// The stage a stream fault becomes, its direction and its generator's seed; `None`
/// for the actions on the whole connection.
fn stage_of(injection: &TcpInjection) -> Option<(Stage, Direction, u64)> {
    Some(match injection {
        TcpInjection::Latency {
            delay,
            direction,
            seed,
        } => (
            Stage::Latency {
                delay: *delay,
                rng: ChaCha8Rng::seed_from_u64(*seed),
            },
            *direction,
            *seed,
        ),
        TcpInjection::Bandwidth { rate, direction } => {
            (Stage::Bandwidth { rate: *rate }, *direction, 0)
        }
        TcpInjection::SlowClose { delay, direction } => {
            (Stage::SlowClose { delay: *delay }, *direction, 0)
        }
        TcpInjection::LimitData { bytes, direction } => {
            (Stage::LimitData { bytes: *bytes }, *direction, 0)
        }
        TcpInjection::Timeout { timeout, direction } => {
            (Stage::Timeout { timeout: *timeout }, *direction, 0)
        }
        TcpInjection::ResetPeer {
            timeout: Some(timeout),
            direction,
        } => (Stage::ResetPeer { timeout: *timeout }, *direction, 0),
        TcpInjection::Slicer {
            average_size,
            size_variation,
            delay,
            direction,
            seed,
        } => (
            Stage::Slicer {
                average: *average_size,
                variation: *size_variation,
                delay: *delay,
                rng: ChaCha8Rng::seed_from_u64(*seed),
            },
            *direction,
            *seed,
        ),
        TcpInjection::ResetPeer { timeout: None, .. } | TcpInjection::Blackhole => return None,
    })
}

fn reseed(stage: &mut Stage, seed: u64) {
    if let Stage::Latency { rng, .. } | Stage::Slicer { rng, .. } = stage {
        let mut other = ChaCha8Rng::seed_from_u64(seed);
        other.set_stream(1);
        *rng = other;
    }
}

/// Where a direction's pump receives new stages when the faults change.
pub type Updates = Option<mpsc::UnboundedReceiver<Stages>>;

/// The next update, or never.
async fn next_update(updates: &mut Updates) -> Stages {
    match updates {
        Some(rx) => match rx.recv().await {
            Some(stages) => stages,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// How an open connection follows changes of the faults (Toxiproxy changes the toxics
/// of open connections too): the proxy's generation of faults, and the connection's
/// number, from which its draws are made again.
#[derive(Debug)]
pub(super) struct Live {
    pub(super) generation: watch::Receiver<u64>,
    pub(super) shared: Arc<Shared>,
    pub(super) connection: u64,
}

impl Live {
    /// The chains of a connection as decided, and how it follows changes from now on.
    pub(super) fn start(decision: &ConnectionDecision, shared: &Arc<Shared>) -> (Chains, Self) {
        let (up, down) = Chains::stages(&decision.injections);
        let now = Instant::now();
        let chains = Chains {
            upstream: Chain::keyed(up, now),
            downstream: Chain::keyed(down, now),
        };
        let live = Self {
            generation: shared.generation.subscribe(),
            shared: Arc::clone(shared),
            connection: decision.connection,
        };
        (chains, live)
    }

    /// The stages of both directions under the faults in force now.
    fn stages(&self) -> (Stages, Stages) {
        let now = self.shared.now();
        let injections = self
            .shared
            .faults()
            .redecide_connection(self.connection, now);
        Chains::stages(&injections)
    }
}

/// Copies `from` to `to` through `chain` until the stream ends; a close of `from` is
/// passed on as a shutdown of `to`. New stages from `updates` replace the chain's.
pub async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    mut chain: Chain,
    updates: &mut Updates,
) -> io::Result<Ending>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    if chain.is_empty() {
        match copy(from, to, updates).await? {
            Copied::End(ending) => return Ok(ending),
            // A plain copy has no timeout to remove, so the update ends nothing.
            Copied::Changed(stages) => chain.update(stages, Instant::now(), &mut Vec::new()),
        }
    }
    shaped(from, to, chain, updates).await
}

/// How a plain copy ended.
enum Copied {
    End(Ending),
    /// Faults came: the copy hands over to the chain.
    Changed(Stages),
}

/// The plain copy: no fault on this direction (yet).
async fn copy<R, W>(from: &mut R, to: &mut W, updates: &mut Updates) -> io::Result<Copied>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => read?,
            stages = next_update(updates) => {
                if stages.is_empty() {
                    continue;
                }
                return Ok(Copied::Changed(stages));
            }
        };
        if n == 0 {
            to.shutdown().await?;
            return Ok(Copied::End(Ending::Eof));
        }
        to.write_all(&buf[..n]).await?;
    }
}

/// The copy through a chain: reads while fewer than [`IN_FLIGHT`] bytes wait, writes each
/// event when it is due, and fires the chain's own deadlines (timeouts, resets).
async fn shaped<R, W>(
    from: &mut R,
    to: &mut W,
    mut chain: Chain,
    updates: &mut Updates,
) -> io::Result<Ending>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut outbox: VecDeque<Event> = VecDeque::new();
    let mut held = 0usize;
    let mut fresh = Vec::new();
    let mut buf = BytesMut::new();
    let mut closed = false;
    loop {
        let now = Instant::now();
        if chain.deadline().is_some_and(|d| d <= now) {
            chain.expire(now, &mut fresh);
            outbox.extend(fresh.drain(..));
        }
        let front = outbox.front().cloned();
        if let Some(Event::End { ending, at }) = front
            && at <= now
        {
            if ending == Ending::Eof {
                to.shutdown().await?;
            } else {
                to.flush().await?;
            }
            return Ok(ending);
        }
        let due = match &front {
            Some(Event::Data { data, at }) if *at <= now => Some(data.clone()),
            _ => None,
        };
        let wake = [
            front.as_ref().map(Event::at).filter(|_| due.is_none()),
            chain.deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let reading = !closed && !chain.ended() && held < IN_FLIGHT;
        if reading && buf.capacity() - buf.len() < BUFFER {
            buf.reserve(BUFFER);
        }
        tokio::select! {
            read = from.read_buf(&mut buf), if reading => {
                let now = Instant::now();
                if read? == 0 {
                    closed = true;
                    chain.eof(now, &mut fresh);
                } else {
                    chain.data(buf.split().freeze(), now, &mut fresh);
                }
                for event in fresh.drain(..) {
                    if let Event::Data { data, .. } = &event {
                        held += data.len();
                    }
                    outbox.push_back(event);
                }
            }
            wrote = write_some(to, due.as_ref()), if due.is_some() => {
                let n = wrote?;
                held -= n;
                if let Some(Event::Data { data, .. }) = outbox.front_mut() {
                    let _ = data.split_to(n);
                    if data.is_empty() {
                        outbox.pop_front();
                    }
                }
            }
            () = sleep_until(wake), if wake.is_some() => {}
            stages = next_update(updates), if !chain.ended() => {
                chain.update(stages, Instant::now(), &mut fresh);
                outbox.extend(fresh.drain(..));
            }
            else => {
                // Closed, nothing queued and no deadline: nothing more can come this way.
                to.shutdown().await?;
                return Ok(Ending::Eof);
            }
        }
    }
}

async fn write_some<W>(to: &mut W, data: Option<&Bytes>) -> io::Result<usize>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    match data {
        Some(data) => match to.write(data).await? {
            0 => Err(io::ErrorKind::WriteZero.into()),
            n => Ok(n),
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Relays `client` ⇄ `upstream` through `chains` until both directions have closed, one
/// ends the connection (a limit, a timeout, a reset) or either side fails; a reset makes
/// both closes RSTs. With `live`, the chains follow changes of the faults.
pub async fn relay<C, U>(client: C, upstream: U, chains: Chains) -> Ending
where
    C: AsyncRead + AsyncWrite + Unpin + Resettable,
    U: AsyncRead + AsyncWrite + Unpin + Resettable,
{
    relay_live(client, upstream, chains, None).await
}

pub(super) async fn relay_live<C, U>(
    mut client: C,
    mut upstream: U,
    chains: Chains,
    mut live: Option<Live>,
) -> Ending
where
    C: AsyncRead + AsyncWrite + Unpin + Resettable,
    U: AsyncRead + AsyncWrite + Unpin + Resettable,
{
    let (to_up, mut up_updates) = updates(live.is_some());
    let (to_down, mut down_updates) = updates(live.is_some());
    let ending = {
        let (mut client_read, mut client_write) = tokio::io::split(&mut client);
        let (mut upstream_read, mut upstream_write) = tokio::io::split(&mut upstream);
        let up = pump(
            &mut client_read,
            &mut upstream_write,
            chains.upstream,
            &mut up_updates,
        );
        let down = pump(
            &mut upstream_read,
            &mut client_write,
            chains.downstream,
            &mut down_updates,
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            // A half-closed side keeps relaying the other way, as TCP allows; any other
            // end, or an error, ends the whole connection.
            let end = tokio::select! {
                end = &mut up, if !up_done => {
                    up_done = true;
                    end
                }
                end = &mut down, if !down_done => {
                    down_done = true;
                    end
                }
                changed = changed(live.as_mut()) => {
                    match (changed, &live) {
                        (true, Some(live)) => {
                            let (up, down) = live.stages();
                            if let Some(tx) = &to_up {
                                let _ = tx.send(up);
                            }
                            if let Some(tx) = &to_down {
                                let _ = tx.send(down);
                            }
                        }
                        // The proxy is going: no more changes.
                        _ => live = None,
                    }
                    continue;
                }
            };
            match end {
                Ok(Ending::Eof) if !(up_done && down_done) => {}
                Ok(ending) => break ending,
                Err(_) => break Ending::Close,
            }
        }
    };
    if ending == Ending::Reset {
        client.reset_on_close();
        upstream.reset_on_close();
    }
    ending
}

/// A channel of updates for one direction, if the connection follows changes.
fn updates(live: bool) -> (Option<mpsc::UnboundedSender<Stages>>, Updates) {
    if !live {
        return (None, None);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    (Some(tx), Some(rx))
}

/// Waits for the next change of the faults: `true`, or `false` once there can be none.
async fn changed(live: Option<&mut Live>) -> bool {
    match live {
        Some(live) => live.generation.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::delay::Delay;
    use crate::fault::tcp_proxy::whole_connection;
    use std::time::Duration;
    use tokio::io::duplex;

    fn latency(ms: u64, direction: Direction) -> TcpInjection {
        TcpInjection::Latency {
            delay: Delay::Fixed {
                latency: Duration::from_millis(ms),
                jitter: Duration::ZERO,
            },
            direction,
            seed: 1,
        }
    }

    #[test]
    fn chains_follow_the_list_order_and_the_directions() {
        let injections = [
            latency(10, Direction::Both),
            TcpInjection::Bandwidth {
                rate: 1000,
                direction: Direction::Upstream,
            },
            TcpInjection::Blackhole,
        ];
        let chains = Chains::of(&injections, Instant::now());
        assert!(!chains.upstream.is_empty() && !chains.downstream.is_empty());
        assert_eq!(
            whole_connection(&injections),
            Some(&TcpInjection::Blackhole)
        );
        assert_eq!(whole_connection(&injections[..2]), None);
        let at_once = TcpInjection::ResetPeer {
            timeout: None,
            direction: Direction::Downstream,
        };
        assert!(whole_connection(&[at_once]).is_some());
    }

    #[tokio::test]
    async fn pump_passes_everything_and_the_close() {
        let (mut source, mut from) = duplex(64);
        let (mut to, mut sink) = duplex(1 << 16);
        let task =
            tokio::spawn(
                async move { pump(&mut from, &mut to, Chain::default(), &mut None).await },
            );
        source.write_all(b"hello, upstream").await.expect("write");
        drop(source);
        let mut got = Vec::new();
        sink.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"hello, upstream");
        assert_eq!(task.await.expect("join").expect("pump"), Ending::Eof);
    }

    #[tokio::test]
    async fn pump_stops_at_the_limit() {
        let (mut source, mut from) = duplex(64);
        let (mut to, mut sink) = duplex(1 << 16);
        let chain = Chain::new(vec![Stage::LimitData { bytes: 5 }], Instant::now());
        let task = tokio::spawn(async move { pump(&mut from, &mut to, chain, &mut None).await });
        source.write_all(b"0123456789").await.expect("write");
        assert_eq!(task.await.expect("join").expect("pump"), Ending::Close);
        let mut got = Vec::new();
        sink.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"01234");
    }

    #[tokio::test]
    async fn slow_close_and_chunk_latency_delay_by_their_setting() {
        let (mut source, mut from) = duplex(64);
        let (mut to, mut sink) = duplex(1 << 16);
        let chain = Chain::new(
            vec![
                Stage::Latency {
                    delay: Delay::Fixed {
                        latency: Duration::from_millis(30),
                        jitter: Duration::ZERO,
                    },
                    rng: ChaCha8Rng::seed_from_u64(1),
                },
                Stage::SlowClose {
                    delay: Duration::from_millis(40),
                },
            ],
            Instant::now(),
        );
        let started = Instant::now();
        let task = tokio::spawn(async move { pump(&mut from, &mut to, chain, &mut None).await });
        source.write_all(b"x").await.expect("write");
        let mut one = [0u8; 1];
        sink.read_exact(&mut one).await.expect("read");
        assert!(started.elapsed() >= Duration::from_millis(30));
        drop(source);
        let mut rest = Vec::new();
        sink.read_to_end(&mut rest).await.expect("read");
        assert!(started.elapsed() >= Duration::from_millis(70));
        assert_eq!(task.await.expect("join").expect("pump"), Ending::Eof);
    }

    #[tokio::test]
    async fn a_timeout_closes_the_relay_at_its_deadline() {
        let (client_side, client) = duplex(1024);
        let (upstream, _upstream_side) = duplex(1024);
        let chains = Chains::of(
            &[TcpInjection::Timeout {
                timeout: Some(Duration::from_millis(500)),
                direction: Direction::Downstream,
            }],
            Instant::now(),
        );
        let started = Instant::now();
        let ending = relay(client, upstream, chains).await;
        assert_eq!(ending, Ending::Close);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(3),
            "{took:?}"
        );
        drop(client_side);
    }

    #[tokio::test]
    async fn relay_carries_both_ways_and_half_closes() {
        let (client_side, client) = duplex(1024);
        let (upstream, upstream_side) = duplex(1024);
        let task = tokio::spawn(relay(client, upstream, Chains::default()));
        let (mut client_read, mut client_write) = tokio::io::split(client_side);
        let (mut upstream_read, mut upstream_write) = tokio::io::split(upstream_side);
        client_write.write_all(b"ping").await.expect("write");
        client_write.shutdown().await.expect("shutdown");
        let mut request = Vec::new();
        upstream_read.read_to_end(&mut request).await.expect("read");
        assert_eq!(request, b"ping");
        upstream_write.write_all(b"pong").await.expect("write");
        upstream_write.shutdown().await.expect("shutdown");
        let mut answer = Vec::new();
        client_read.read_to_end(&mut answer).await.expect("read");
        assert_eq!(answer, b"pong");
        assert_eq!(task.await.expect("join"), Ending::Eof);
    }
}
