//! The control API's one table of endpoints: a path becomes a [`Route`] with the methods
//! it accepts, and a route with an accepted method becomes an answer. A path that is no
//! endpoint is a 404; a method the path does not accept is a 405 with `Allow`.

use http::{Method, StatusCode};

use super::answer::{ApiError, Reply};
use super::metrics::metrics;
use super::registry::Registry;
use super::toxiproxy::version;

/// Every endpoint, for the 404's help line.
pub(super) const ENDPOINTS: &str = "Toxiproxy's GET|POST /proxies, POST /populate, GET|POST|PATCH|DELETE /proxies/{proxy}, GET|POST /proxies/{proxy}/toxics, GET|POST|PATCH|DELETE /proxies/{proxy}/toxics/{toxic}, POST /reset, GET /version, GET /metrics; the native GET|POST|PUT /proxies/{proxy}/faults, DELETE /proxies/{proxy}/faults/{fault}, GET /proxies/{proxy}/attempts (and /faults, /attempts for a --config proxy), GET /healthz";

/// An endpoint, with the names in its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    Healthz,
    Version,
    Metrics,
    Reset,
    Populate,
    Proxies,
    Proxy(&'a str),
    Toxics(&'a str),
    Toxic(&'a str, &'a str),
    /// A proxy's faults; `None`: the `--config` file's proxy.
    Faults(Option<&'a str>),
    Fault(Option<&'a str>, &'a str),
    Attempts(Option<&'a str>),
}

impl<'a> Route<'a> {
    /// The route at `segments`, if there is one.
    pub(super) fn of(segments: &[&'a str]) -> Option<Self> {
        Some(match *segments {
            ["healthz"] => Self::Healthz,
            ["version"] => Self::Version,
            ["metrics"] => Self::Metrics,
            ["reset"] => Self::Reset,
            ["populate"] => Self::Populate,
            ["proxies"] => Self::Proxies,
            ["proxies", p] => Self::Proxy(p),
            ["proxies", p, "toxics"] => Self::Toxics(p),
            ["proxies", p, "toxics", t] => Self::Toxic(p, t),
            ["proxies", p, "faults"] => Self::Faults(Some(p)),
            ["proxies", p, "faults", f] => Self::Fault(Some(p), f),
            ["proxies", p, "attempts"] => Self::Attempts(Some(p)),
            ["faults"] => Self::Faults(None),
            ["faults", f] => Self::Fault(None, f),
            ["attempts"] => Self::Attempts(None),
            _ => return None,
        })
    }

    /// The methods it accepts, as the `Allow` header lists them.
    pub(super) fn allow(self) -> &'static str {
        match self {
            Self::Healthz | Self::Version | Self::Metrics | Self::Attempts(_) => "GET",
            Self::Reset | Self::Populate => "POST",
            Self::Proxies | Self::Toxics(_) => "GET, POST",
            // Toxiproxy takes updates by POST (deprecated there) and PATCH.
            Self::Proxy(_) | Self::Toxic(..) => "GET, POST, PATCH, DELETE",
            Self::Faults(_) => "GET, POST, PUT",
            Self::Fault(..) => "DELETE",
        }
    }
}

/// Answers `method` on `segments` (decoded path parts) with `body`.
pub(super) async fn answer(
    registry: &Registry,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Result<Reply, ApiError> {
    let Some(route) = Route::of(segments) else {
        return Err(ApiError::not_found(
            format!("no endpoint at /{}", segments.join("/")),
            format!("the endpoints are {ENDPOINTS}"),
        ));
    };
    let m = method.as_str();
    let accepted = route.allow().split(", ").any(|a| a == m);
    if !accepted {
        return Err(ApiError {
            allow: Some(route.allow()),
            ..ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{m} is not allowed on /{}", segments.join("/")),
                format!("this path accepts {}", route.allow()),
            )
        });
    }
    let default = || registry.default_proxy();
    match (route, m) {
        (Route::Healthz, _) => Ok(Reply::Text("ok")),
        (Route::Version, _) => Ok(version()),
        (Route::Metrics, _) => Ok(metrics(registry).await),
        (Route::Reset, _) => registry.reset().await,
        (Route::Populate, _) => registry.populate(body).await,
        (Route::Proxies, "GET") => Ok(registry.list_proxies().await),
        (Route::Proxies, _) => registry.create_proxy(body).await,
        (Route::Proxy(p), "GET") => registry.show_proxy(p).await,
        (Route::Proxy(p), "DELETE") => registry.delete_proxy(p).await,
        (Route::Proxy(p), _) => registry.update_proxy(p, body).await,
        (Route::Toxics(p), "GET") => {
            registry
                .with_proxy(p, |m| Ok(Reply::ok(m.toxics_json())))
                .await
        }
        (Route::Toxics(p), _) => registry.with_proxy(p, |m| m.add_toxic(body)).await,
        (Route::Toxic(p, t), "GET") => registry.with_proxy(p, |m| m.toxic(t).map(Reply::ok)).await,
        (Route::Toxic(p, t), "DELETE") => {
            registry
                .with_proxy(p, |m| m.remove(t, "toxic").map(|()| Reply::NoContent))
                .await
        }
        (Route::Toxic(p, t), _) => registry.with_proxy(p, |m| m.update_toxic(t, body)).await,
        (Route::Faults(p), "GET") => {
            let p = p.map_or_else(default, Ok)?;
            registry.with_proxy(p, |m| Ok(Reply::ok(m.faults()))).await
        }
        (Route::Faults(p), "POST") => {
            let p = p.map_or_else(default, Ok)?;
            registry.with_proxy(p, |m| m.add_fault(body)).await
        }
        (Route::Faults(p), _) => {
            let p = p.map_or_else(default, Ok)?;
            registry.with_proxy(p, |m| m.replace_faults(body)).await
        }
        (Route::Fault(p, f), _) => {
            let p = p.map_or_else(default, Ok)?;
            registry
                .with_proxy(p, |m| m.remove(f, "fault").map(|()| Reply::NoContent))
                .await
        }
        (Route::Attempts(p), _) => {
            let p = p.map_or_else(default, Ok)?;
            registry
                .with_proxy(p, |m| Ok(Reply::ok(m.attempts_json())))
                .await
        }
    }
}
