//! Starting and stopping the reference platform: the executor and the service, each on
//! its own listener, owned by one value whose drop stops everything.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hyper::Uri;
use tokio::net::TcpListener;

use super::breaker::BreakerState;
use super::clock::PreciseClock;
use super::config::ReferenceConfig;
use super::executor::Executor;
use super::metrics::Metrics;
use super::server::Server;
use super::service::Service;

/// A running reference platform: the orchestration service and its executor dependency.
#[derive(Debug)]
pub struct ReferencePlatform {
    service: Server,
    executor: Server,
    state: Arc<Service>,
}

impl ReferencePlatform {
    /// Starts the executor dependency and the service on 127.0.0.1 with OS-assigned ports.
    pub async fn start(config: ReferenceConfig, seed: u64) -> io::Result<ReferencePlatform> {
        Self::start_with(
            config,
            seed,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            None,
        )
        .await
    }

    /// Starts with the service bound to `bind` and calling `dependency_url` (when given)
    /// instead of the embedded executor, which always runs on 127.0.0.1 with an OS port.
    pub async fn start_with(
        config: ReferenceConfig,
        seed: u64,
        bind: SocketAddr,
        dependency_url: Option<String>,
    ) -> io::Result<ReferencePlatform> {
        // Validate before any socket opens.
        let explicit_uri = dependency_url.as_deref().map(execute_uri).transpose()?;
        let clock = PreciseClock::start()?;
        let executor_listener =
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let executor = Server::spawn(
            executor_listener,
            Arc::new(Executor::new(&config, seed, clock.clone())),
        )?;
        let uri = match explicit_uri {
            Some(uri) => uri,
            None => execute_uri(&url_of(executor.addr()))?,
        };
        let state = Arc::new(Service::new(&config, seed, uri, clock));
        let service_listener = TcpListener::bind(bind).await?;
        let service = Server::spawn(service_listener, Arc::clone(&state))?;
        Ok(Self {
            service,
            executor,
            state,
        })
    }

    /// The service's base URL, `http://127.0.0.1:PORT` (loopback when bound to any address).
    pub fn url(&self) -> String {
        url_of(self.service.addr())
    }

    /// The embedded executor's base URL.
    pub fn executor_url(&self) -> String {
        url_of(self.executor.addr())
    }

    /// Sends the service's later dependency calls to `url` (`http://host:port`) instead,
    /// e.g. through a fault proxy whose upstream is [`ReferencePlatform::executor_url`].
    pub fn redirect_dependency(&self, url: &str) -> io::Result<()> {
        self.state.redirect_dependency(execute_uri(url)?);
        Ok(())
    }

    /// The address the service listens on.
    pub fn service_addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// The service's counters, as exported on `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        self.state.metrics()
    }

    /// The Dagger path's circuit breaker state.
    pub fn breaker_state(&self) -> BreakerState {
        self.state.breaker().state()
    }

    /// Stops accepting, ends every connection and waits until the servers are gone.
    pub async fn shutdown(mut self) {
        // The service first, so nothing calls the executor while it goes away.
        self.service.stop().await;
        self.executor.stop().await;
    }
}

/// `http://ADDR`, with an unspecified bind address replaced by loopback so it is reachable.
fn url_of(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// `{base}/execute` as a URI the plain-HTTP client can call.
fn execute_uri(base: &str) -> io::Result<Uri> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("dependency URL `{base}` {why}; write it like \"http://127.0.0.1:9000\""),
        )
    };
    let uri: Uri = format!("{}/execute", base.trim_end_matches('/'))
        .parse()
        .map_err(|_| invalid("is not a valid URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid(
            "must use http:// (the reference platform speaks plain HTTP/1.1)",
        ));
    }
    if uri.authority().is_none() {
        return Err(invalid("has no host"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_urls_are_validated() {
        assert_eq!(
            execute_uri("http://127.0.0.1:9000/")
                .map(|u| u.to_string())
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:9000/execute")
        );
        assert!(execute_uri("https://127.0.0.1:9000").is_err());
        assert!(execute_uri("127.0.0.1:9000").is_err());
        assert!(execute_uri("http://").is_err());
    }

    #[test]
    fn unspecified_bind_addresses_map_to_loopback_urls() {
        assert_eq!(
            url_of("0.0.0.0:8080".parse().expect("addr")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            url_of("[::]:8080".parse().expect("addr")),
            "http://[::1]:8080"
        );
        assert_eq!(
            url_of("127.0.0.1:1".parse().expect("addr")),
            "http://127.0.0.1:1"
        );
    }
}
