//! Chaos for one run: start the fault proxies the scenario's `[[fault]]` tables place
//! (in front of the service, or between the service and its dependency), and afterwards
//! turn what they saw into fault records and resilience observations.
//!
//! Every proxy of a run counts fault windows from the run's own start and draws from the
//! run's seed, so both paths of a repetition face the same fault sequence.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fault::{Attempt, FaultProxy, FaultSite, FaultSpec, Layer, ProxyOptions};
use crate::load::{EventLog, RequestEvent};
use crate::record::FaultRecord;
use crate::reference::ReferencePlatform;
use crate::resilience::{ClientEvent, Evidence, FaultWindow, Observation, UpstreamEvent, observe};
use crate::scenario::Scenario;
use crate::tls::TlsConfig;

/// Full attempt entries a run's proxy keeps; observations beyond it are noted as partial.
const ATTEMPT_LOG_CAPACITY: usize = 1_000_000;

/// The proxies of one run.
#[derive(Debug, Default)]
pub struct ChaosRun {
    client: Option<FaultProxy>,
    dependency: Option<FaultProxy>,
    /// The executor URL to give back to the reference platform afterwards.
    restore: Option<String>,
    /// The path sends nothing a client-side proxy could fault (a command path).
    client_not_applicable: bool,
}

/// What the run's faults did and showed.
#[derive(Debug, Default)]
pub struct ChaosReport {
    /// One record per fault.
    pub faults: Vec<FaultRecord>,
    /// One observation per fault window.
    pub resilience: Vec<Observation>,
    /// Anything a reader must know (partial logs).
    pub notes: Vec<String>,
    /// What the observations were computed from (when there were fault windows).
    pub evidence: Option<Evidence>,
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// `host:port` of an `http://host:port/...` or `https://...` URL.
fn authority(url: &str) -> io::Result<String> {
    let uri: http::Uri = url.parse().map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("`{url}` is not a URL"))
    })?;
    let authority = uri.authority().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("`{url}` has no host"))
    })?;
    let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        443
    } else {
        80
    };
    Ok(match authority.port_u16() {
        Some(_) => authority.to_string(),
        None => format!("{}:{default_port}", authority.host()),
    })
}

fn start(
    listen: SocketAddr,
    upstream: &str,
    faults: Vec<FaultSpec>,
    seed: u64,
    epoch: Instant,
    request_id_header: Option<http::HeaderName>,
    tls: Option<TlsConfig>,
) -> io::Result<FaultProxy> {
    let options = ProxyOptions {
        log_capacity: ATTEMPT_LOG_CAPACITY,
        origin: Some(epoch),
        request_id_header,
        tls,
        ..ProxyOptions::default()
    };
    match faults.first().map(FaultSpec::layer) {
        Some(Layer::Tcp) => {
            FaultProxy::start_tcp_with(listen, authority_or_self(upstream)?, faults, seed, options)
        }
        _ => FaultProxy::start_http_with(listen, upstream.to_string(), faults, seed, options),
    }
}

fn authority_or_self(upstream: &str) -> io::Result<String> {
    if upstream.contains("://") {
        authority(upstream)
    } else {
        Ok(upstream.to_string())
    }
}

impl ChaosRun {
    /// Starts the proxies `scenario` places for a run of a path whose requests go to
    /// `base_url` (`None` for a path that opens no connection, whose client-side faults
    /// then do not apply), trusting an `https://` service as `tls` says. Call within a
    /// Tokio runtime, right before the drive (`epoch` = run start).
    pub fn start(
        scenario: &Scenario,
        base_url: Option<&str>,
        tls: Option<&TlsConfig>,
        reference: Option<&ReferencePlatform>,
        seed: u64,
        epoch: Instant,
    ) -> io::Result<ChaosRun> {
        let at = |site: FaultSite| -> Vec<FaultSpec> {
            scenario
                .faults
                .iter()
                .filter(|f| f.at == site)
                .cloned()
                .collect()
        };
        let mut run = ChaosRun::default();
        let client = at(FaultSite::Client);
        match (base_url, client.is_empty()) {
            (_, true) => {}
            (Some(base_url), false) => {
                // The proxy forwards paths as they are; the path prefix stays on the client
                // side. To an https:// service the proxy makes the TLS connection and the
                // client speaks plain HTTP to the proxy.
                let scheme = match tls {
                    Some(_)
                        if base_url
                            .get(..8)
                            .is_some_and(|s| s.eq_ignore_ascii_case("https://")) =>
                    {
                        "https"
                    }
                    _ => "http",
                };
                let upstream = format!("{scheme}://{}", authority(base_url)?);
                let proxy = start(
                    loopback(),
                    &upstream,
                    client,
                    seed,
                    epoch,
                    None,
                    tls.cloned(),
                )?;
                run.client = Some(proxy);
            }
            (None, false) => run.client_not_applicable = true,
        }
        let dependency = at(FaultSite::Dependency);
        if !dependency.is_empty() {
            match (&scenario.dependency, reference) {
                (Some(d), _) => {
                    let header = d.request_id_header.clone();
                    let tls = d.tls.clone();
                    run.dependency = Some(start(
                        d.listen,
                        &d.upstream,
                        dependency,
                        seed,
                        epoch,
                        header,
                        tls,
                    )?)
                }
                (None, Some(platform)) => {
                    let executor = platform.executor_url();
                    let proxy = start(loopback(), &executor, dependency, seed, epoch, None, None)?;
                    platform.redirect_dependency(&proxy.url())?;
                    run.restore = Some(executor);
                    run.dependency = Some(proxy);
                }
                (None, None) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "faults at the dependency need the reference platform or a [dependency] table",
                    ));
                }
            }
        }
        Ok(run)
    }

    /// Where the client should send requests: the client-side proxy, when there is one.
    pub fn client_url(&self) -> Option<String> {
        self.client.as_ref().map(FaultProxy::url)
    }

    /// True when no proxy runs.
    pub fn is_idle(&self) -> bool {
        self.client.is_none() && self.dependency.is_none()
    }

    /// Stops the proxies and computes the report; `run_end` is the run's length so far.
    pub async fn finish(
        self,
        scenario: &Scenario,
        events: Option<&Arc<EventLog>>,
        run_end: Duration,
        reference: Option<&ReferencePlatform>,
    ) -> ChaosReport {
        let mut report = ChaosReport::default();
        if let (Some(executor), Some(platform)) = (&self.restore, reference)
            && platform.redirect_dependency(executor).is_err()
        {
            report
                .notes
                .push("the reference platform could not be pointed back at its executor".into());
        }
        let client = self.client.as_ref().map(FaultProxy::attempts);
        let dependency = self.dependency.as_ref().map(FaultProxy::attempts);
        for proxy in [self.client, self.dependency].into_iter().flatten() {
            proxy.shutdown().await;
        }
        for (site, snapshot) in [("client", &client), ("dependency", &dependency)] {
            if let Some(s) = snapshot
                && s.evicted > 0
            {
                report.notes.push(format!(
                    "the {site} proxy's attempt log kept the last {ATTEMPT_LOG_CAPACITY} of {} attempts; observations cover what was kept",
                    s.totals.attempts
                ));
            }
        }
        if self.client_not_applicable {
            report.notes.push(
                "the faults at the client do not apply to this path: it runs local commands and opens no connection to fault".into(),
            );
        }
        let mut windows = Vec::new();
        for fault in &scenario.faults {
            if self.client_not_applicable && fault.at == FaultSite::Client {
                continue;
            }
            let snapshot = match fault.at {
                FaultSite::Client => client.as_ref(),
                FaultSite::Dependency => dependency.as_ref(),
            };
            let label = fault.label();
            let spans = fault.schedule.windows(run_end);
            windows.extend(spans.iter().map(|(start, end)| FaultWindow {
                name: label.clone(),
                start: *start,
                end: *end,
            }));
            report.faults.push(FaultRecord {
                name: label.clone(),
                kind: fault.kind().into(),
                at: match fault.at {
                    FaultSite::Client => "client".into(),
                    FaultSite::Dependency => "dependency".into(),
                },
                probability: fault.probability.get(),
                per: match fault.layer() {
                    Layer::Http => "request".into(),
                    Layer::Tcp => "connection".into(),
                },
                windows: spans
                    .iter()
                    .map(|(s, e)| (s.as_secs_f64(), e.as_secs_f64()))
                    .collect(),
                attempts: snapshot.map(|s| s.totals.attempts).unwrap_or(0),
                injected: snapshot
                    .map(|s| {
                        s.recent
                            .iter()
                            .filter(|a| a.injected.as_deref() == Some(label.as_str()))
                            .count() as u64
                    })
                    .unwrap_or(0),
            });
        }
        // The dependency proxy sees what the service did (retries, short-circuits); without
        // one, the client proxy's log is all there is.
        let upstream: Vec<UpstreamEvent> = dependency
            .as_ref()
            .or(client.as_ref())
            .map(|s| s.recent.iter().map(upstream_event).collect())
            .unwrap_or_default();
        let client_events: Vec<ClientEvent> = match events {
            Some(log) => {
                let (events, overflow) = log.take();
                if overflow > 0 {
                    report.notes.push(format!(
                        "the client event log kept the first {} requests ({overflow} more were not kept); observations cover those",
                        events.len()
                    ));
                }
                events.iter().map(client_event).collect()
            }
            None => Vec::new(),
        };
        if !windows.is_empty() {
            report.resilience = observe(&windows, &client_events, &upstream, run_end);
            report.evidence = Some(Evidence {
                windows,
                client: client_events,
                upstream,
                run_end,
            });
        }
        report
    }
}

fn upstream_event(a: &Attempt) -> UpstreamEvent {
    UpstreamEvent {
        request_id: a.request_id,
        attempt: a.attempt,
        at: a.at,
        injected: a.injected.is_some(),
        forwarded: a.upstream.forwarded(),
    }
}

fn client_event(e: &RequestEvent) -> ClientEvent {
    ClientEvent {
        request_id: e.request_id,
        at: e.at,
        latency: e.latency,
        class: e.class,
    }
}
