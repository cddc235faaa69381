//! What the control API refuses before it reads a body or routes a request, so a
//! refused request learns nothing (not even which proxies exist):
//!
//! | refused                                                              | status |
//! |----------------------------------------------------------------------|--------|
//! | a browser (`User-Agent: Mozilla/...`), as Toxiproxy refuses it        | 403    |
//! | no `Host`, or a `Host` other than `localhost`, `127.0.0.1`, `[::1]`, the API's own IP or an `--allow-host` name (any port): DNS rebinding | 403 |
//! | an `Origin` other than `http://` + that `Host`: a cross-site request  | 403    |
//! | without `Authorization: Bearer <token>` when a token is set          | 401    |
//! | a POST, PUT, PATCH or DELETE with a `Content-Type` other than `application/json`, or with a body and no `Content-Type` | 415 |
//! | a declared body over [`MAX_BODY`]                                     | 413    |
//!
//! A body-less POST or DELETE needs no `Content-Type`: real Toxiproxy clients send
//! `POST /reset` and `DELETE` that way. A browser could forge such a request only with
//! an `Origin` (or from a page on a rebound host name), both refused above. The token is
//! compared in constant time and never printed: its `Debug` form is redacted.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING, USER_AGENT,
};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};

use super::MAX_BODY;
use super::answer::ApiError;

/// The bearer token the API requires, from an environment variable.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token in `value`; `None` if it is empty or only spaces.
    pub fn new(value: String) -> Option<Self> {
        let value = value.trim().to_owned();
        (!value.is_empty()).then_some(Self(value))
    }

    /// Whether `offered` is the token, in time independent of where they differ.
    fn matches(&self, offered: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        expected.len() == offered.len()
            && expected
                .iter()
                .zip(offered)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Why the control API may not listen where it was asked to.
pub fn check_exposure(addr: SocketAddr, token: Option<&Token>) -> Result<(), String> {
    if addr.ip().is_loopback() || token.is_some() {
        return Ok(());
    }
    Err(format!(
        "the control API would listen on {addr}, which other hosts can reach, without a token; set one with --token-env VAR (e.g. `export HARNESS_PROXY_TOKEN=$(openssl rand -hex 16)` and `--token-env HARNESS_PROXY_TOKEN`), or listen on 127.0.0.1"
    ))
}

/// The checks of one control API listener.
#[derive(Debug, Clone)]
pub struct Guard {
    addr: SocketAddr,
    token: Option<Token>,
    hosts: Vec<String>,
}

impl Guard {
    /// The checks for an API bound to `addr`; `hosts` are further accepted `Host` names.
    pub fn new(addr: SocketAddr, token: Option<Token>, hosts: Vec<String>) -> Self {
        Self {
            addr,
            token,
            hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether the API requires a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The refusal for a request, if it is refused.
    pub(super) fn check(&self, parts: &Parts) -> Result<(), ApiError> {
        let headers = &parts.headers;
        if text(headers, USER_AGENT).is_some_and(|ua| ua.starts_with("Mozilla/")) {
            return Err(ApiError::forbidden(
                "browsers may not use the control API",
                "call it from a test, a script or a Toxiproxy client, as with Toxiproxy",
            ));
        }
        let host = self.check_host(parts)?;
        if let Some(origin) = headers.get(ORIGIN) {
            let own = format!("http://{host}");
            let same = origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&own));
            if !same {
                return Err(ApiError::forbidden(
                    "a request from another origin is refused (cross-site request forgery)",
                    format!("send requests without an Origin header, or with Origin: {own}"),
                ));
            }
        }
        if let Some(token) = &self.token {
            let offered = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
                .map(<[u8]>::trim_ascii);
            if !offered.is_some_and(|t| token.matches(t)) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "a bearer token is required",
                    "send `Authorization: Bearer <token>` with the token of the variable named by --token-env",
                ));
            }
        }
        let mutation = matches!(
            parts.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if mutation {
            match text(headers, CONTENT_TYPE) {
                Some(kind) if is_json(kind) => {}
                Some(kind) => {
                    return Err(ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        format!(
                            "Content-Type `{}` is refused; changes are JSON",
                            crate::text::printable(kind)
                        ),
                        "send Content-Type: application/json",
                    ));
                }
                None if has_body(headers) => {
                    return Err(ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "a body without a Content-Type is refused; changes are JSON",
                        "send Content-Type: application/json",
                    ));
                }
                None => {}
            }
        }
        if declared_length(headers).is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        Ok(())
    }

    /// The request's host (without the port) if it is one this API answers to.
    fn check_host(&self, parts: &Parts) -> Result<String, ApiError> {
        let refused = |what: &str| {
            ApiError::forbidden(
                format!("Host `{}` is refused", crate::text::printable(what)),
                format!(
                    "call the API as http://127.0.0.1:{0} or http://localhost:{0} (a host name that only resolves here may be DNS rebinding); to allow a name, start with --allow-host NAME",
                    self.addr.port()
                ),
            )
        };
        let Some(host) = text(&parts.headers, HOST) else {
            return Err(ApiError::forbidden(
                "a request without a Host header is refused",
                "send Host: 127.0.0.1:PORT (every HTTP/1.1 client does)",
            ));
        };
        if let Some(authority) = parts.uri.authority()
            && !authority.as_str().eq_ignore_ascii_case(host)
        {
            return Err(refused(authority.as_str()));
        }
        if self.allows(host_name(host)) {
            Ok(host.to_owned())
        } else {
            Err(refused(host))
        }
    }

    fn allows(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        if name == "localhost" || self.hosts.contains(&name) {
            return true;
        }
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || (ip == self.addr.ip() && !ip.is_unspecified()),
            Err(_) => false,
        }
    }
}

/// The 413 answer for a body over [`MAX_BODY`].
pub(super) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {MAX_BODY} bytes"),
        "send one proxy, toxic or list at a time (a list of faults is a few kilobytes)",
    )
}

fn text(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `host` without its port (`[::1]:80` → `[::1]`).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json(kind: &str) -> bool {
    kind.split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// The body length a request declares, if it declares one.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    text(headers, CONTENT_LENGTH).and_then(|n| n.trim().parse().ok())
}

/// Whether a request says it has a body (a length above 0 or a chunked body).
pub(super) fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING) || declared_length(headers).is_some_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri("/proxies");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    fn guard(token: Option<&str>) -> Guard {
        let addr: SocketAddr = "127.0.0.1:8474".parse().expect("addr");
        Guard::new(
            addr,
            token.and_then(|t| Token::new(t.into())),
            vec!["toxiproxy".into()],
        )
    }

    fn status(g: &Guard, method: Method, headers: &[(&str, &str)]) -> u16 {
        g.check(&parts(method, headers))
            .map_or_else(|e| e.status.as_u16(), |()| 200)
    }

    #[test]
    fn hosts_are_loopback_names_the_own_ip_or_allowed_names_at_any_port() {
        let g = guard(None);
        for host in [
            "127.0.0.1:8474",
            "localhost:8474",
            "LOCALHOST",
            "[::1]:8474",
            "127.0.0.1",
            "localhost:18474",
            "toxiproxy:8474",
        ] {
            assert_eq!(status(&g, Method::GET, &[("host", host)]), 200, "{host}");
        }
        for host in [
            "evil.example:8474",
            "127.0.0.1.evil.example",
            "10.0.0.5:8474",
            "[::2]:8474",
        ] {
            assert_eq!(status(&g, Method::GET, &[("host", host)]), 403, "{host}");
        }
        assert_eq!(status(&g, Method::GET, &[]), 403, "no Host");
    }

    #[test]
    fn the_token_is_redacted_and_compared_whole() {
        let token = Token::new("s3cret".into()).expect("token");
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        assert!(token.matches(b"s3cret"));
        assert!(!token.matches(b"s3cre"));
        assert!(!token.matches(b"s3creT"));
        assert!(Token::new("  ".into()).is_none());
        let g = guard(Some("s3cret"));
        let host = ("host", "127.0.0.1:8474");
        assert_eq!(status(&g, Method::GET, &[host]), 401);
        assert_eq!(
            status(&g, Method::GET, &[host, ("authorization", "Bearer nope")]),
            401
        );
        assert_eq!(
            status(&g, Method::GET, &[host, ("authorization", "Bearer s3cret")]),
            200
        );
    }

    #[test]
    fn only_loopback_may_go_without_a_token() {
        let token = Token::new("t".into());
        let any: SocketAddr = "0.0.0.0:8474".parse().expect("addr");
        let local: SocketAddr = "127.0.0.1:8474".parse().expect("addr");
        assert!(check_exposure(local, None).is_ok());
        assert!(check_exposure(any, token.as_ref()).is_ok());
        let e = check_exposure(any, None).expect_err("refused");
        assert!(e.contains("--token-env"), "{e}");
    }

    #[test]
    fn bodies_need_json_but_bodyless_changes_do_not() {
        let g = guard(None);
        let host = ("host", "127.0.0.1:8474");
        let json = ("content-type", "application/json; charset=utf-8");
        assert_eq!(
            status(&g, Method::POST, &[host, json, ("content-length", "2")]),
            200
        );
        assert_eq!(
            status(&g, Method::POST, &[host, ("content-length", "0")]),
            200
        );
        assert_eq!(status(&g, Method::DELETE, &[host]), 200);
        assert_eq!(
            status(&g, Method::POST, &[host, ("content-type", "text/plain")]),
            415
        );
        assert_eq!(
            status(&g, Method::POST, &[host, ("content-length", "5")]),
            415
        );
        assert_eq!(
            status(&g, Method::PUT, &[host, ("transfer-encoding", "chunked")]),
            415
        );
        assert_eq!(
            status(
                &g,
                Method::POST,
                &[host, json, ("content-length", "52428800")]
            ),
            413
        );
    }
}
