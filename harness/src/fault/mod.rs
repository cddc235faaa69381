//! Fault injection: the fault file format ([`FaultSpec`]), seeded per-request and
//! per-connection decisions ([`FaultSet`]), an HTTP and a TCP fault proxy, the log of
//! every attempt the proxy saw ([`AttemptLog`]), and the standalone proxy's file format
//! ([`file`]) and control API ([`control`]).
//!
//! A [`FaultProxy`] sits between a client and an upstream (the harness and the service,
//! or the service and its dependency). Its clock starts when it starts: fault windows
//! (`start`, `duration`, `repeat`) count from then, so start it with the run. Every
//! random choice derives from the seed, so a run replays its faults exactly.

mod attempts;
mod byte_size;
pub mod control;
mod decide;
mod delay;
pub mod file;
mod http_proxy;
mod kinds;
mod relay;
mod schedule;
mod shape;
mod spec;
mod table;
mod tcp_proxy;
mod upstream;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::server::ServerHandle;
use crate::tls::TlsConfig;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Notify;

pub use attempts::{
    Attempt, AttemptLog, AttemptSnapshot, DEFAULT_LOG_CAPACITY, SecondCounts, UpstreamOutcome,
};
pub use byte_size::ByteSize;
pub use decide::{
    AttemptCounter, ConnectionDecision, ConnectionInjection, DEFAULT_ID_WINDOW, Decision,
    FAULT_HEADER, FaultSet, HttpInjection, Injection, RequestFacts, TcpInjection,
};
pub use delay::{Delay, Distribution, MAX_DELAY};
pub use http_proxy::{SlowBody, TruncatedBody, Upstream};
pub use kinds::{COMPOSITION, FaultKind, FaultUnit, KINDS, KindInfo, Layer, kind_list, kinds_help};
pub use relay::{Chains, IN_FLIGHT, Resettable, Stages, Updates, pump, relay};
pub use schedule::Schedule;
pub use shape::{Chain, Ending, Event, Stage};
pub use spec::{
    DEFAULT_CHUNK_SIZE, Direction, FaultAction, FaultFile, FaultSite, FaultSpec, HeaderMatch,
    RequestMatch,
};
pub(crate) use table::fault_key_spans;

/// The default listen address: loopback, a port the OS picks.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Tuning of a proxy beyond its faults.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// How many full entries the attempt log keeps (per-second counts are always kept).
    pub log_capacity: usize,
    /// How many request ids the attempt counter remembers.
    pub id_window: usize,
    /// The instant fault windows count from; `None` = when the proxy starts.
    pub origin: Option<Instant>,
    /// A further header to read request ids from (HTTP), besides `x-harness-request-id`
    /// and `traceparent` (see [`crate::correlation`]).
    pub request_id_header: Option<http::HeaderName>,
    /// How an `https://` upstream is trusted; `None`: the system roots.
    pub tls: Option<TlsConfig>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            log_capacity: DEFAULT_LOG_CAPACITY,
            id_window: DEFAULT_ID_WINDOW,
            origin: None,
            request_id_header: None,
            tls: None,
        }
    }
}

/// The state a proxy's tasks share with its handle.
#[derive(Debug)]
struct Shared {
    faults: Mutex<FaultSet>,
    log: AttemptLog,
    origin: Instant,
    /// Wakes the TCP accept loop when the faults change, so `down` takes effect at once.
    changed: Notify,
    /// Counts changes of the faults, so open TCP connections follow them.
    generation: tokio::sync::watch::Sender<u64>,
    /// A further header carrying request ids (HTTP).
    request_id_header: Option<http::HeaderName>,
}

impl Shared {
    /// Time since the proxy's origin.
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The fault set, locked briefly by the caller.
    fn faults(&self) -> MutexGuard<'_, FaultSet> {
        // Decisions hold no invariant a panicking holder could break halfway.
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which protocol a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Http,
    Tcp,
}

/// A running fault proxy; dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    server: ServerHandle,
    mode: Mode,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts an HTTP proxy on `listen` forwarding to `upstream`
    /// (`http://host:port[/base]`, or `https://...`, reached over TLS); must be called
    /// within a Tokio runtime.
    pub fn start_http(
        listen: SocketAddr,
        upstream: String,
        faults: Vec<FaultSpec>,
        seed: u64,
    ) -> io::Result<Self> {
        Self::start_http_with(listen, upstream, faults, seed, ProxyOptions::default())
    }

    /// [`FaultProxy::start_http`] with explicit options.
    pub fn start_http_with(
        listen: SocketAddr,
        upstream: String,
        faults: Vec<FaultSpec>,
        seed: u64,
        options: ProxyOptions,
    ) -> io::Result<Self> {
        runtime()?;
        check_faults(&faults, Layer::Http)?;
        let upstream = Upstream::parse(&upstream)?;
        let pool = upstream.pool(options.tls.as_ref())?;
        let listener = bind(listen)?;
        let addr = listener.local_addr()?;
        let shared = shared(faults, seed, options);
        let serving = Arc::clone(&shared);
        let server = ServerHandle::spawn(addr, move |stopped| {
            http_proxy::accept_loop(listener, upstream, pool, serving, stopped)
        });
        Ok(Self {
            server,
            mode: Mode::Http,
            shared,
        })
    }

    /// Starts a TCP proxy on `listen` relaying to `upstream` (`host:port`); must be called
    /// within a Tokio runtime.
    pub fn start_tcp(
        listen: SocketAddr,
        upstream: String,
        faults: Vec<FaultSpec>,
        seed: u64,
    ) -> io::Result<Self> {
        Self::start_tcp_with(listen, upstream, faults, seed, ProxyOptions::default())
    }

    /// [`FaultProxy::start_tcp`] with explicit options.
    pub fn start_tcp_with(
        listen: SocketAddr,
        upstream: String,
        faults: Vec<FaultSpec>,
        seed: u64,
        options: ProxyOptions,
    ) -> io::Result<Self> {
        runtime()?;
        check_faults(&faults, Layer::Tcp)?;
        if upstream.trim().is_empty() || upstream.contains("://") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TCP upstream `{upstream}` must be host:port, e.g. \"127.0.0.1:5432\""),
            ));
        }
        let listener = bind(listen)?;
        // Rebinding after `down` must reuse the port the OS picked, not pick a new one.
        let addr = listener.local_addr()?;
        let shared = shared(faults, seed, options);
        let serving = Arc::clone(&shared);
        let server = ServerHandle::spawn(addr, move |stopped| {
            tcp_proxy::accept_loop(listener, addr, upstream, serving, stopped)
        });
        Ok(Self {
            server,
            mode: Mode::Tcp,
            shared,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://ADDR`: the base URL clients use (also for a TCP proxy in front of HTTP).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// A copy of the attempt log.
    pub fn attempts(&self) -> AttemptSnapshot {
        self.shared.log.snapshot()
    }

    /// Replaces the faults while running; counters of the old faults start over, attempt
    /// counts per request id and the clock are kept.
    pub fn set_faults(&self, faults: Vec<FaultSpec>) -> io::Result<()> {
        let layer = match self.mode {
            Mode::Http => Layer::Http,
            Mode::Tcp => Layer::Tcp,
        };
        check_faults(&faults, layer)?;
        self.shared.faults().set_faults(faults);
        self.shared.changed.notify_one();
        self.shared.generation.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Time since the proxy's origin, on the clock its fault windows use.
    pub fn elapsed(&self) -> Duration {
        self.shared.now()
    }

    /// Stops accepting, closes every connection and waits until all are gone.
    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

fn runtime() -> io::Result<()> {
    tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| io::Error::other("the fault proxy must be started within a Tokio runtime"))
}

fn shared(faults: Vec<FaultSpec>, seed: u64, options: ProxyOptions) -> Arc<Shared> {
    Arc::new(Shared {
        faults: Mutex::new(FaultSet::with_id_window(faults, seed, options.id_window)),
        log: AttemptLog::new(options.log_capacity),
        origin: options.origin.unwrap_or_else(Instant::now),
        changed: Notify::new(),
        generation: tokio::sync::watch::Sender::new(0),
        request_id_header: options.request_id_header,
    })
}

/// Refuses faults that are invalid or that this kind of proxy cannot run: HTTP kinds on
/// a TCP proxy, `down` on an HTTP proxy (other TCP kinds shape its client connections).
/// The control API checks with it too, before a disabled proxy keeps faults it could
/// not run.
pub(crate) fn check_faults(faults: &[FaultSpec], layer: Layer) -> io::Result<()> {
    for (i, fault) in faults.iter().enumerate() {
        let invalid = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fault {} (`{}`): {why}", i + 1, fault.label()),
            )
        };
        fault.validate().map_err(invalid)?;
        // `down` closes a TCP proxy's listener; an HTTP proxy has no such window.
        let down_on_http = layer == Layer::Http && fault.kind() == FaultKind::Down;
        if !fault.layer().runs_on(layer) || down_on_http {
            let (this, other) = match layer {
                Layer::Http => ("an HTTP", "a TCP"),
                Layer::Tcp => ("a TCP", "an HTTP"),
            };
            return Err(invalid(format!(
                "kind `{}` needs {other} proxy; this is {this} proxy",
                fault.kind()
            )));
        }
    }
    Ok(())
}

/// A listener on `addr` that can be rebound at once after it closes (SO_REUSEADDR).
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
