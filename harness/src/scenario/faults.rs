//! Validation of the chaos parts of a scenario: `[[fault]]` placement and protocol,
//! `[dependency]` for running services, and `[expect]`.

use serde_spanned::Spanned;

use super::error::Problem;
use super::model::{DependencyProxy, PathSpec, Target};
use super::paths::is_https;
use super::raw::RawDependency;
use crate::compare::expectations::ExpectSpec;
use crate::fault::{FaultSite, FaultSpec, Layer};
use crate::tls::TlsConfig;

/// The validated chaos parts.
pub(super) type Chaos = (Vec<FaultSpec>, ExpectSpec, Option<DependencyProxy>);

/// Checks faults, the dependency proxy and expectations against the paths.
pub(super) fn check_chaos(
    faults: Vec<Spanned<FaultSpec>>,
    expect: Option<Spanned<ExpectSpec>>,
    dependency: Option<(Spanned<RawDependency>, Option<TlsConfig>)>,
    paths: &[PathSpec],
    candidate: Option<&str>,
) -> Result<Chaos, Problem> {
    for site in [FaultSite::Client, FaultSite::Dependency] {
        let mut first: Option<Layer> = None;
        for f in faults.iter().filter(|f| f.get_ref().at == site) {
            let layer = f.get_ref().layer();
            match first {
                None => first = Some(layer),
                Some(l) if l != layer => {
                    return Err(Problem::new(
                        f.span(),
                        format!("faults at the {} mix HTTP and TCP kinds", site_name(site)),
                        "one proxy speaks one protocol at a site: keep the HTTP kinds (latency, http_error, abort, blackhole, truncate, slow_body) or the TCP kinds (tcp_latency, bandwidth, reset_peer, tcp_blackhole, slow_close, limit_data, down) at this site",
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let tls_path = paths.iter().find(|p| p.tls.is_some());
    let tcp_at_client = faults
        .iter()
        .find(|f| f.get_ref().at == FaultSite::Client && f.get_ref().layer() == Layer::Tcp);
    if let (Some(path), Some(fault)) = (tls_path, tcp_at_client) {
        return Err(Problem::new(
            fault.span(),
            format!(
                "TCP faults at the client cannot sit in front of path `{}`, whose base_url is https://",
                path.name
            ),
            "the relay would have to carry the TLS handshake for another host name: use the HTTP kinds at the client (the proxy then makes the TLS connection), or at = \"dependency\"",
        ));
    }
    let dependency_faults: Vec<&Spanned<FaultSpec>> = faults
        .iter()
        .filter(|f| f.get_ref().at == FaultSite::Dependency)
        .collect();
    let running_service = paths.iter().any(|p| matches!(p.target, Target::Url(_)));
    let dependency = match (dependency, dependency_faults.first()) {
        (Some((d, tls)), _) => Some(dependency_proxy(
            d,
            tls,
            dependency_faults.first().map(|f| f.get_ref().layer()),
        )?),
        (None, Some(f)) if running_service => {
            return Err(Problem::new(
                f.span(),
                "a fault at the dependency of a running service needs a [dependency] table",
                "add [dependency] with listen = \"127.0.0.1:9100\" and upstream = \"http://<the real dependency>\", and point the service at the listen address; or use at = \"client\"",
            ));
        }
        (None, _) => None,
    };
    let expect = match expect {
        None => ExpectSpec::default(),
        Some(e) => {
            let span = e.span();
            let spec = e.into_inner();
            spec.validate().map_err(|why| {
                Problem::new(
                    span.clone(),
                    format!("[expect]: {why}"),
                    "fix the value or remove the key",
                )
            })?;
            for path in &spec.paths {
                if !paths.iter().any(|p| &p.name == path) {
                    let known: Vec<&str> = paths.iter().map(|p| p.name.as_str()).collect();
                    return Err(Problem::new(
                        span,
                        format!(
                            "[expect] paths names `{path}`, which is not a path of this scenario"
                        ),
                        format!("use one of: {}", known.join(", ")),
                    ));
                }
            }
            if spec.paths.is_empty() && candidate.is_none() && !spec.is_empty() {
                return Err(Problem::new(
                    span,
                    "[expect] applies to the candidate path by default, and this scenario has none",
                    "name the paths to judge, e.g. paths = [\"legacy\"]",
                ));
            }
            spec
        }
    };
    Ok((
        faults.into_iter().map(Spanned::into_inner).collect(),
        expect,
        dependency,
    ))
}

fn site_name(site: FaultSite) -> &'static str {
    match site {
        FaultSite::Client => "client",
        FaultSite::Dependency => "dependency",
    }
}

fn dependency_proxy(
    raw: Spanned<RawDependency>,
    tls: Option<TlsConfig>,
    layer: Option<Layer>,
) -> Result<DependencyProxy, Problem> {
    let raw = raw.into_inner();
    let listen: std::net::SocketAddr = raw.listen.get_ref().parse().map_err(|_| {
        Problem::new(
            raw.listen.span(),
            format!("`{}` is not an address", raw.listen.get_ref()),
            "write it as host:port, e.g. \"127.0.0.1:9100\"",
        )
    })?;
    let upstream = raw.upstream.get_ref().trim().to_string();
    let ok = match layer {
        Some(Layer::Tcp) => {
            upstream.parse::<std::net::SocketAddr>().is_ok()
                || upstream.contains(':') && !upstream.contains("://")
        }
        _ => upstream.starts_with("http://") || is_https(&upstream),
    };
    if !ok {
        return Err(Problem::new(
            raw.upstream.span(),
            format!("`{upstream}` cannot be the upstream of this proxy"),
            "HTTP faults need an http:// or https:// URL (e.g. \"http://127.0.0.1:9000\"); TCP faults need host:port",
        ));
    }
    Ok(DependencyProxy {
        listen,
        upstream,
        tls,
    })
}
