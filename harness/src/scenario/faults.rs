//! Validation of the chaos parts of a scenario: `[[fault]]` placement and protocol,
//! `[dependency]` for running services, and `[expect]`.

use std::collections::HashMap;
use std::time::Duration;

use serde_spanned::Spanned;

use super::error::{Problem, locate};
use super::expect::ExpectSpec;
use super::interpolate::interpolate_env;
use super::model::{DependencyProxy, PathSpec, Target};
use super::paths::is_https;
use super::raw::RawDependency;
use super::validate::Checker;
use crate::correlation::{REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use crate::fault::{FaultKind, FaultSite, FaultSpec, Layer, fault_key_spans, kind_list};
use crate::tls::TlsConfig;

/// The validated chaos parts.
pub(super) type Chaos = (Vec<FaultSpec>, ExpectSpec, Option<DependencyProxy>);

/// Checks faults, the dependency proxy and expectations against the paths; `run` is how
/// long one run lasts, warmup included (fault windows count from the run's start).
pub(super) fn check_chaos(
    check: &Checker<'_>,
    faults: Vec<Spanned<FaultSpec>>,
    expect: Option<Spanned<ExpectSpec>>,
    dependency: Option<(Spanned<RawDependency>, Option<TlsConfig>)>,
    paths: &[PathSpec],
    candidate: Option<&str>,
    run: Duration,
) -> Result<Chaos, Problem> {
    check_fault_names_and_windows(check.text, &faults, run)?;
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
                        format!(
                            "one proxy speaks one protocol at a site: keep the HTTP kinds ({}) or the TCP kinds ({}) at this site",
                            kind_list(FaultKind::of_layer(Layer::Http), ""),
                            kind_list(FaultKind::of_layer(Layer::Tcp), "")
                        ),
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
    // When the reference platform stands in for every service, it is also the dependency's
    // stand-in: a [dependency] table addresses the service's real dependency.
    let stood_in = !running_service && paths.iter().any(|p| p.stand_in.is_some());
    let dependency = match (dependency, dependency_faults.first()) {
        (Some(_), _) if stood_in => None,
        (Some((d, tls)), _) => Some(dependency_proxy(
            check,
            d,
            tls,
            dependency_faults.first().map(|f| f.get_ref().layer()),
            paths,
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

/// Every fault has its own label (its `name`, else its kind), and every window opens
/// before the run ends.
fn check_fault_names_and_windows(
    text: &str,
    faults: &[Spanned<FaultSpec>],
    run: Duration,
) -> Result<(), Problem> {
    let spans = fault_key_spans(text);
    // The spans of fault `i`, when the second reading found the same number of faults.
    let keys = |i: usize| spans.get(i).filter(|_| spans.len() == faults.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, fault) in faults.iter().enumerate() {
        let spec = fault.get_ref();
        let label = spec.label();
        let name_span = keys(i)
            .and_then(|k| k.name.as_ref())
            .map_or_else(|| fault.span(), Spanned::span);
        if let Some(first) = seen.insert(label.clone(), i) {
            let (line, _, _) = locate(text, faults[first].span().start);
            let help = if spec.name.is_some() {
                format!(
                    "the first is the [[fault]] on line {line}; give each fault its own `name`: reports, the attempt log and the control API tell faults apart by name"
                )
            } else {
                format!(
                    "the first is the [[fault]] on line {line}; a fault without `name` is called by its kind, so name one or both, e.g. `name = \"{label}-2\"`"
                )
            };
            return Err(Problem::new(
                name_span,
                format!("two faults are called `{label}`"),
                help,
            ));
        }
        let start = spec.schedule.start;
        if start >= run {
            let start_span = keys(i)
                .and_then(|k| k.start.as_ref())
                .map_or_else(|| fault.span(), Spanned::span);
            return Err(Problem::new(
                start_span,
                format!(
                    "fault `{label}` starts at {}, after the run has ended ({} = warmup + duration): it would never be active",
                    humantime::format_duration(start),
                    humantime::format_duration(run)
                ),
                format!(
                    "`start` counts from the start of the run, warmup included: make it less than {}, or lengthen [load] duration",
                    humantime::format_duration(run)
                ),
            ));
        }
    }
    Ok(())
}

fn site_name(site: FaultSite) -> &'static str {
    match site {
        FaultSite::Client => "client",
        FaultSite::Dependency => "dependency",
    }
}

/// `[dependency]`: `listen` and `upstream` may use `${VAR}` (so a port can come from
/// the environment; the scenario hash does not cover them), `request_id_header` names a
/// further header that carries every request's id.
fn dependency_proxy(
    check: &Checker<'_>,
    raw: Spanned<RawDependency>,
    tls: Option<TlsConfig>,
    layer: Option<Layer>,
    paths: &[PathSpec],
) -> Result<DependencyProxy, Problem> {
    let raw = raw.into_inner();
    let resolve = |value: &Spanned<String>| {
        interpolate_env(value.get_ref(), check.env)
            .map(|v| v.resolved)
            .map_err(|e| check.located(value, e))
    };
    let listen_text = resolve(&raw.listen)?;
    let listen: std::net::SocketAddr = listen_text.trim().parse().map_err(|_| {
        Problem::new(
            raw.listen.span(),
            format!("`{}` is not an address", raw.listen.get_ref()),
            "write it as host:port, e.g. \"127.0.0.1:9100\" or \"127.0.0.1:${DEPENDENCY_PORT}\"",
        )
    })?;
    let upstream = resolve(&raw.upstream)?.trim().to_string();
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
            format!(
                "`{}` cannot be the upstream of this proxy",
                raw.upstream.get_ref()
            ),
            "HTTP faults need an http:// or https:// URL (e.g. \"http://127.0.0.1:9000\"); TCP faults need host:port",
        ));
    }
    let request_id_header = match &raw.request_id_header {
        None => None,
        Some(name) => Some(request_id_header(name, paths)?),
    };
    Ok(DependencyProxy {
        listen,
        upstream,
        request_id_header,
        tls,
    })
}

/// A valid header name the harness may set on every request, and that no path sets.
fn request_id_header(
    name: &Spanned<String>,
    paths: &[PathSpec],
) -> Result<http::HeaderName, Problem> {
    let header = http::HeaderName::from_bytes(name.get_ref().trim().as_bytes()).map_err(|_| {
        Problem::new(
            name.span(),
            format!("`{}` is not a valid header name", name.get_ref()),
            "name the header your service forwards to its dependency, e.g. \"x-request-id\"",
        )
    })?;
    let reserved = [
        REQUEST_ID_HEADER,
        TRACEPARENT_HEADER,
        "host",
        "content-length",
    ];
    if reserved.contains(&header.as_str()) {
        return Err(Problem::new(
            name.span(),
            format!("`{header}` cannot be the request_id_header"),
            "x-harness-request-id and traceparent are always sent; name another header your service forwards, or drop the key",
        ));
    }
    if let Some(path) = paths
        .iter()
        .find(|p| p.headers.iter().any(|h| h.name == header))
    {
        return Err(Problem::new(
            name.span(),
            format!(
                "path `{}` sets header `{header}`, which request_id_header makes the harness set",
                path.name
            ),
            "remove the header from the path, or name another request_id_header",
        ));
    }
    Ok(header)
}
