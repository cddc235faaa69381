//! The MCP endpoint's `Origin` check, which the specification requires against DNS
//! rebinding: a web page on a foreign site must not drive the platform through a
//! visitor's browser.
//!
//! A request without `Origin` is not from a browser page (load clients and SDKs send
//! none) and passes. A browser's `Origin` passes when its host is a loopback name or
//! address, or an IP address equal to the request's `Host` (the platform reached on the
//! interface it was bound to). A DNS name other than `localhost` never passes, even when
//! it equals `Host`: after a rebinding, the attacker's name is exactly what both say.

use std::net::IpAddr;

use hyper::Uri;
use hyper::header::{HOST, HeaderMap, ORIGIN};

/// Whether the request's `Origin` (if any) may use the endpoint.
pub(crate) fn allowed(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Some(host) = origin.to_str().ok().and_then(host_of_origin) else {
        // `null` (a sandboxed or file page) or garbage.
        return false;
    };
    if is_loopback(&host) {
        return true;
    }
    let Ok(ip) = host.parse::<IpAddr>() else {
        return false;
    };
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_of_authority)
        .and_then(|h| h.parse::<IpAddr>().ok())
        == Some(ip)
}

/// The host of an origin `scheme://host[:port]`, brackets of an IPv6 address removed.
fn host_of_origin(origin: &str) -> Option<String> {
    let uri: Uri = origin.parse().ok()?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return None;
    }
    Some(unbracket(uri.host()?))
}

/// The host of a `Host` header `host[:port]`.
fn host_of_authority(authority: &str) -> Option<String> {
    let authority: hyper::http::uri::Authority = authority.parse().ok()?;
    Some(unbracket(authority.host()))
}

fn unbracket(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            map.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        map
    }

    #[test]
    fn loopback_and_absent_origins_pass_foreign_ones_do_not() {
        for origin in [
            None,
            Some("http://localhost:3000"),
            Some("http://127.0.0.1:8080"),
            Some("https://127.1.2.3"),
            Some("http://[::1]:9000"),
            Some("HTTP://LOCALHOST"),
        ] {
            assert!(allowed(&headers(origin, "127.0.0.1:8080")), "{origin:?}");
        }
        for origin in [
            "https://evil.example",
            "null",
            "file://",
            "not an origin",
            "http://localhost.evil.example",
            "http://10.0.0.7:8080",
        ] {
            assert!(
                !allowed(&headers(Some(origin), "127.0.0.1:8080")),
                "{origin}"
            );
        }
    }

    #[test]
    fn a_rebound_dns_name_fails_even_when_host_agrees() {
        assert!(!allowed(&headers(
            Some("http://rebind.example:8080"),
            "rebind.example:8080"
        )));
        // The platform reached on its bound interface by address.
        assert!(allowed(&headers(
            Some("http://10.0.0.7:8080"),
            "10.0.0.7:8080"
        )));
    }
}
