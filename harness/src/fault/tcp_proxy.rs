//! The TCP fault proxy: accepts connections, connects each to the upstream and relays
//! bytes both ways, with the faults HTTP cannot express: latency per chunk with jitter,
//! bandwidth, reset (RST), blackhole, slow close, a data limit, and `down` (the listener
//! is closed for the window, so connections are refused, and reopened after).
//!
//! Faults are decided once per connection, by [`decide_connection`]; the first fault
//! that fires wins, so faults do not stack. The per-chunk rules are small pure pieces
//! ([`Shaper`]) driven by a generic relay, so they are tested on in-memory pipes without
//! sockets.
//!
//! [`decide_connection`]: super::FaultSet::decide_connection

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::attempts::{Attempt, UpstreamOutcome};
use super::decide::{ConnectionDecision, TcpInjection};
use super::delay::Delay;
use super::{Shared, bind};

/// The relay's read buffer: large enough for bulk data, small enough that a per-chunk
/// fault still sees many chunks.
const BUFFER: usize = 16 * 1024;

/// How a relay direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The sender closed its side; the close was passed on.
    Eof,
    /// The data limit was reached: the whole connection must close.
    Limit,
}

/// The per-chunk rules of one direction of a connection.
#[derive(Debug, Clone, Default)]
pub struct Shaper {
    /// A delay before each chunk, drawn from the connection's generator.
    pub latency: Option<(Delay, ChaCha8Rng)>,
    /// At most this many bytes per second.
    pub rate: Option<u64>,
    /// Close the connection after this many bytes.
    pub limit: Option<u64>,
    /// Wait this long before passing on a close.
    pub close_delay: Option<Duration>,
}

impl Shaper {
    /// The largest read to make: a rate keeps chunks to about 1/20 s of data, so pacing
    /// is smooth rather than one burst and a long pause.
    pub fn max_chunk(&self, buffer: usize) -> usize {
        let by_rate = self.rate.map_or(buffer, |r| {
            usize::try_from(r / 20).unwrap_or(usize::MAX).max(1)
        });
        buffer.min(by_rate).max(1)
    }

    /// How many of `n` read bytes may pass after `passed` bytes already did.
    pub fn admit(&self, passed: u64, n: usize) -> usize {
        match self.limit {
            Some(limit) => {
                let left = limit.saturating_sub(passed);
                n.min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            None => n,
        }
    }

    /// Whether the limit is reached after `passed` bytes.
    pub fn exhausted(&self, passed: u64) -> bool {
        self.limit.is_some_and(|limit| passed >= limit)
    }

    /// The delay before the next chunk.
    pub fn chunk_delay(&mut self) -> Option<Duration> {
        self.latency
            .as_mut()
            .map(|(delay, rng)| delay.sample(rng))
            .filter(|d| !d.is_zero())
    }

    /// How long to wait after `passed` bytes went out `elapsed` after the first one, so
    /// the average stays at or below the rate.
    pub fn pace(&self, passed: u64, elapsed: Duration) -> Duration {
        match self.rate {
            Some(rate) if rate > 0 => {
                let due = Duration::from_secs_f64(passed as f64 / rate as f64);
                due.saturating_sub(elapsed)
            }
            _ => Duration::ZERO,
        }
    }
}

/// The shapers of both directions of one connection.
#[derive(Debug, Clone, Default)]
pub struct Shaping {
    /// Client → upstream.
    pub upstream: Shaper,
    /// Upstream → client.
    pub downstream: Shaper,
}

impl Shaping {
    /// The shaping an injection asks for (none for faults that do not relay).
    pub fn of(injection: Option<&TcpInjection>) -> Self {
        let mut shaping = Self::default();
        match injection {
            Some(TcpInjection::Latency {
                delay,
                direction,
                seed,
            }) => {
                if direction.downstream() {
                    shaping.downstream.latency = Some((*delay, ChaCha8Rng::seed_from_u64(*seed)));
                }
                if direction.upstream() {
                    // Its own stream of the same generator, so both ways do not jitter in step.
                    let mut other = ChaCha8Rng::seed_from_u64(*seed);
                    other.set_stream(1);
                    shaping.upstream.latency = Some((*delay, other));
                }
            }
            Some(TcpInjection::Bandwidth { rate, direction }) => {
                if direction.downstream() {
                    shaping.downstream.rate = Some(*rate);
                }
                if direction.upstream() {
                    shaping.upstream.rate = Some(*rate);
                }
            }
            Some(TcpInjection::LimitData { bytes, direction }) => {
                if direction.downstream() {
                    shaping.downstream.limit = Some(*bytes);
                }
                if direction.upstream() {
                    shaping.upstream.limit = Some(*bytes);
                }
            }
            Some(TcpInjection::SlowClose { delay }) => {
                shaping.upstream.close_delay = Some(*delay);
                shaping.downstream.close_delay = Some(*delay);
            }
            Some(TcpInjection::ResetPeer | TcpInjection::Blackhole) | None => {}
        }
        shaping
    }
}

/// Copies `from` to `to` under `shaper` until the sender closes or the limit is reached.
pub async fn pump<R, W>(mut from: R, mut to: W, mut shaper: Shaper) -> io::Result<End>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUFFER];
    let mut passed = 0u64;
    let mut first: Option<Instant> = None;
    if shaper.exhausted(0) {
        return Ok(End::Limit);
    }
    loop {
        let max = shaper.max_chunk(buf.len());
        let n = from.read(&mut buf[..max]).await?;
        if n == 0 {
            if let Some(delay) = shaper.close_delay {
                tokio::time::sleep(delay).await;
            }
            to.shutdown().await?;
            return Ok(End::Eof);
        }
        if let Some(delay) = shaper.chunk_delay() {
            tokio::time::sleep(delay).await;
        }
        let pass = shaper.admit(passed, n);
        to.write_all(&buf[..pass]).await?;
        passed += pass as u64;
        if shaper.exhausted(passed) {
            to.flush().await?;
            return Ok(End::Limit);
        }
        let started = *first.get_or_insert_with(Instant::now);
        let wait = shaper.pace(passed, started.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Relays `client` ⇄ `upstream` under `shaping` until both sides have closed, a limit is
/// reached or either side fails.
pub async fn relay<C, U>(client: C, upstream: U, shaping: Shaping)
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (upstream_read, upstream_write) = tokio::io::split(upstream);
    let up = pump(client_read, upstream_write, shaping.upstream);
    let down = pump(upstream_read, client_write, shaping.downstream);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        // A half-closed side keeps relaying the other way, as TCP allows; a limit or an
        // error ends the whole connection.
        tokio::select! {
            end = &mut up, if !up_done => match end {
                Ok(End::Eof) => up_done = true,
                _ => return,
            },
            end = &mut down, if !down_done => match end {
                Ok(End::Eof) => down_done = true,
                _ => return,
            },
        }
    }
}

/// Everything a connection task needs.
#[derive(Debug, Clone)]
struct Context {
    shared: Arc<Shared>,
    upstream: String,
}

/// Serves the TCP proxy on `listener` (bound to `addr`) until `stopped` fires.
pub(super) async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: String,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let context = Context {
        shared: Arc::clone(&shared),
        upstream,
    };
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    loop {
        let now = shared.now();
        let (down, next_change) = {
            let set = shared.faults();
            (set.down(now).is_some(), set.next_down_change(now))
        };
        if down {
            // Closing the listener makes new connections fail with "connection refused";
            // the open ones go too, as when a dependency's host goes away.
            listener = None;
            connections.abort_all();
        } else if listener.is_none() {
            match bind(addr) {
                Ok(l) => listener = Some(l),
                Err(_) => {
                    // The port may linger for a moment; retry shortly, still stoppable.
                    tokio::select! {
                        _ = &mut stopped => break,
                        () = tokio::time::sleep(Duration::from_millis(10)) => continue,
                    }
                }
            }
        }
        let until_change = next_change.map(|t| t.saturating_sub(now));
        tokio::select! {
            _ = &mut stopped => break,
            () = shared.changed.notified() => {}
            () = sleep_or_forever(until_change) => {}
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, _)) => {
                    let at = shared.now();
                    let decision = shared.faults().decide_connection(at);
                    connections.spawn(serve(stream, decision, at, context.clone()));
                }
                // Out of file descriptors and similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        // A millisecond of slack so the next check lands inside the new state.
        Some(d) => tokio::time::sleep(d + Duration::from_millis(1)).await,
        None => std::future::pending().await,
    }
}

/// Handles one accepted connection as decided.
async fn serve(client: TcpStream, decision: ConnectionDecision, at: Duration, context: Context) {
    let arrived = Instant::now();
    let (label, action) = match decision.injection {
        Some(i) => (Some(i.label), Some(i.action)),
        None => (None, None),
    };
    let log = |upstream: UpstreamOutcome, latency: Duration| {
        context.shared.log.record(Attempt {
            at,
            request_id: None,
            attempt: 1,
            injected: label.clone(),
            upstream,
            latency,
        });
    };
    match action {
        Some(TcpInjection::ResetPeer) => {
            log(UpstreamOutcome::NotForwarded, arrived.elapsed());
            // SO_LINGER 0 turns the close into an RST; if it cannot be set, a FIN still ends it.
            let _ = client.set_zero_linger();
            drop(client);
        }
        Some(TcpInjection::Blackhole) => {
            log(UpstreamOutcome::NotForwarded, arrived.elapsed());
            swallow(client).await;
        }
        action => {
            let _ = client.set_nodelay(true);
            match TcpStream::connect(context.upstream.as_str()).await {
                Ok(upstream) => {
                    log(UpstreamOutcome::Connected, arrived.elapsed());
                    let _ = upstream.set_nodelay(true);
                    relay(client, upstream, Shaping::of(action.as_ref())).await;
                }
                Err(e) => {
                    let class = match e.kind() {
                        io::ErrorKind::ConnectionRefused => "connect_refused",
                        io::ErrorKind::TimedOut => "connect_timeout",
                        _ => "connect",
                    };
                    log(UpstreamOutcome::Error(class.into()), arrived.elapsed());
                }
            }
        }
    }
}

/// Reads and discards until the client leaves (or the proxy stops).
async fn swallow(mut client: TcpStream) {
    let mut buf = vec![0u8; BUFFER];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[test]
    fn the_limit_admits_bytes_up_to_the_limit_then_reports_exhaustion() {
        let shaper = Shaper {
            limit: Some(10),
            ..Shaper::default()
        };
        assert_eq!(shaper.admit(0, 4), 4);
        assert_eq!(shaper.admit(8, 4), 2);
        assert_eq!(shaper.admit(10, 4), 0);
        assert!(!shaper.exhausted(9));
        assert!(shaper.exhausted(10));
        assert_eq!(Shaper::default().admit(1 << 40, 7), 7);
    }

    #[test]
    fn bandwidth_pacing_keeps_the_average_at_the_rate() {
        let shaper = Shaper {
            rate: Some(1000),
            ..Shaper::default()
        };
        assert_eq!(shaper.pace(500, Duration::ZERO), Duration::from_millis(500));
        assert_eq!(
            shaper.pace(500, Duration::from_millis(200)),
            Duration::from_millis(300)
        );
        assert_eq!(shaper.pace(500, Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(shaper.max_chunk(BUFFER), 50, "1/20 s of data per chunk");
        assert_eq!(Shaper::default().max_chunk(BUFFER), BUFFER);
    }

    #[test]
    fn chunk_delays_replay_from_the_seed() {
        let delay = Delay::Fixed {
            latency: Duration::from_millis(5),
            jitter: Duration::from_millis(5),
        };
        let draws = |seed| {
            let mut shaper = Shaper {
                latency: Some((delay, ChaCha8Rng::seed_from_u64(seed))),
                ..Shaper::default()
            };
            (0..20)
                .filter_map(|_| shaper.chunk_delay())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(1), draws(1));
        assert_ne!(draws(1), draws(2));
        assert!(draws(1).iter().all(|d| *d >= Duration::from_millis(5)));
    }

    #[tokio::test]
    async fn pump_passes_everything_and_the_close() {
        let (mut source, from) = duplex(64);
        let (to, mut sink) = duplex(1 << 16);
        let task = tokio::spawn(pump(from, to, Shaper::default()));
        source.write_all(b"hello, upstream").await.expect("write");
        drop(source);
        let mut got = Vec::new();
        sink.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"hello, upstream");
        assert_eq!(task.await.expect("join").expect("pump"), End::Eof);
    }

    #[tokio::test]
    async fn pump_stops_at_the_limit() {
        let (mut source, from) = duplex(64);
        let (to, mut sink) = duplex(1 << 16);
        let shaper = Shaper {
            limit: Some(5),
            ..Shaper::default()
        };
        let task = tokio::spawn(pump(from, to, shaper));
        source.write_all(b"0123456789").await.expect("write");
        assert_eq!(task.await.expect("join").expect("pump"), End::Limit);
        let mut got = Vec::new();
        sink.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"01234");
    }

    #[tokio::test]
    async fn slow_close_and_chunk_latency_delay_at_least_their_setting() {
        let (mut source, from) = duplex(64);
        let (to, mut sink) = duplex(1 << 16);
        let shaper = Shaper {
            latency: Some((
                Delay::Fixed {
                    latency: Duration::from_millis(30),
                    jitter: Duration::ZERO,
                },
                ChaCha8Rng::seed_from_u64(1),
            )),
            close_delay: Some(Duration::from_millis(40)),
            ..Shaper::default()
        };
        let started = Instant::now();
        let task = tokio::spawn(pump(from, to, shaper));
        source.write_all(b"x").await.expect("write");
        let mut one = [0u8; 1];
        sink.read_exact(&mut one).await.expect("read");
        assert!(started.elapsed() >= Duration::from_millis(30));
        drop(source);
        let mut rest = Vec::new();
        sink.read_to_end(&mut rest).await.expect("read");
        assert!(started.elapsed() >= Duration::from_millis(70));
        assert_eq!(task.await.expect("join").expect("pump"), End::Eof);
    }

    #[tokio::test]
    async fn relay_carries_both_ways_and_half_closes() {
        let (client_side, client) = duplex(1024);
        let (upstream, upstream_side) = duplex(1024);
        let task = tokio::spawn(relay(client, upstream, Shaping::default()));
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
        task.await.expect("join");
    }
}
