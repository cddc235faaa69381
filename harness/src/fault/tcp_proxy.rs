//! The TCP fault proxy: accepts connections, connects each to the upstream and relays
//! bytes both ways through the faults HTTP cannot express: latency per chunk with jitter,
//! bandwidth, slicing, a data limit, a slow close, Toxiproxy's `timeout` and
//! `reset_peer`, a blackhole, and `down` (the listener is closed for the window, so
//! connections are refused, and reopened after).
//!
//! Faults are decided per connection, by [`decide_connection`]: each fault draws on its
//! own, and every one that fires acts. The stream faults of each direction form a chain
//! in list order (`Chain`, pure and tested without sockets). When the faults change,
//! open connections follow, as Toxiproxy's do when toxics are added or removed: each is
//! decided again (a fault that stayed draws the same and keeps its state, a new one
//! starts then; a removed `timeout` closes the connection, whose dropped bytes are lost).
//! A `reset_peer` without a timeout or a `tcp_blackhole` acts on the connection as a
//! whole instead (the first of them in list order), only when it opens, and the
//! connection is then never forwarded.
//!
//! The bytes go through the relay (`relay.rs`): a sender's close is passed on as a
//! half-close while the other direction carries on, so a client that sends its request
//! and closes its side still gets the answer.
//!
//! [`decide_connection`]: super::FaultSet::decide_connection

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::attempts::{Attempt, UpstreamOutcome};
use super::decide::{ConnectionDecision, TcpInjection};
use super::relay::{BUFFER, Live, Resettable, relay_live};
use super::{Shared, bind};

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
    // The attempt log keeps one label: the first fault that fired, in list order.
    let label = decision.injections.first().map(|i| i.label.clone());
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
    let actions: Vec<TcpInjection> = decision
        .injections
        .iter()
        .map(|i| i.action.clone())
        .collect();
    match whole_connection(&actions) {
        Some(TcpInjection::ResetPeer { .. }) => {
            log(UpstreamOutcome::NotForwarded, arrived.elapsed());
            client.reset_on_close();
            drop(client);
        }
        Some(_) => {
            log(UpstreamOutcome::NotForwarded, arrived.elapsed());
            swallow(client).await;
        }
        None => {
            let _ = client.set_nodelay(true);
            match TcpStream::connect(context.upstream.as_str()).await {
                Ok(upstream) => {
                    log(UpstreamOutcome::Connected, arrived.elapsed());
                    let _ = upstream.set_nodelay(true);
                    let (chains, live) = Live::start(&decision, &context.shared);
                    relay_live(client, upstream, chains, Some(live)).await;
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

/// The first action that takes the whole connection instead of shaping its bytes: a
/// reset on accept or a blackhole.
pub(super) fn whole_connection(actions: &[TcpInjection]) -> Option<&TcpInjection> {
    actions.iter().find(|a| {
        matches!(
            a,
            TcpInjection::ResetPeer { timeout: None, .. } | TcpInjection::Blackhole
        )
    })
}

/// Reads and discards until the client leaves (or the proxy stops).
pub(super) async fn swallow<S: AsyncRead + Unpin>(mut client: S) {
    let mut buf = vec![0u8; BUFFER];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
