//! The control API of a standalone fault proxy (`harness proxy`): a small JSON server
//! that lists, adds, replaces and removes the faults in force, reports the attempt
//! counts, and speaks enough of Toxiproxy's HTTP API for existing Toxiproxy clients.
//!
//! Native endpoints:
//!
//! | method and path         | what it does                                                 |
//! |-------------------------|--------------------------------------------------------------|
//! | `GET /faults`           | the faults in force, in order of precedence                  |
//! | `POST /faults`          | adds one fault (a `[[fault]]` table as JSON); 409 if its name exists |
//! | `PUT /faults`           | replaces every fault with a JSON list                        |
//! | `DELETE /faults/{name}` | removes the fault with that name (or, unnamed, that kind)    |
//! | `GET /attempts`         | totals and per-second counts of the attempt log              |
//! | `GET /healthz`          | `ok`                                                         |
//!
//! Toxiproxy-compatible endpoints (the proxy is the only "proxy", named by the file's
//! `name`): `GET /proxies`, `GET /proxies/{p}`, `GET|POST /proxies/{p}/toxics`,
//! `GET|POST|PATCH|DELETE /proxies/{p}/toxics/{t}`, `POST /reset` and `GET /version`.
//! A toxic becomes one fault (see [`fault_of_toxic`] for the mapping and where it is only
//! an approximation). Toxics and faults share one list and one namespace: a fault added
//! through `/faults` shows up as a toxic of its own kind, and a toxic shows up in
//! `GET /faults` as the fault it became.
//!
//! `GET /faults` serialises each [`FaultSpec`] through its own `Serialize`, which writes
//! the `[[fault]]` table form (durations as strings, defaults left out); that form reads
//! back through `POST`/`PUT` and the TOML file unchanged. Toxics keep the JSON they were
//! submitted with, so a Toxiproxy client reads back what it wrote.
//!
//! Every change swaps the whole list into the proxy at once (`FaultProxy::set_faults`),
//! so the counters of `first_requests` start over on any change. A new fault goes last:
//! when several could fire, the first in the list wins. Every error is a JSON object
//! `{"error", "help", "status"}` with a 4xx status (`status` as in Toxiproxy's errors).

use crate::server::{ServerHandle, spawn_http};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use super::toxic::{Stream, Toxic, ToxicBody, fault_of_toxic, native_toxic, toxic_type_names};
use super::{FaultKind, FaultProxy, FaultSpec, Layer};

/// The largest request body the control API reads; a fault list is a few kilobytes.
pub const MAX_BODY: usize = 1 << 20;

/// Which protocol a standalone proxy speaks, as written in `mode = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// Per-request faults on HTTP/1.1 (`FaultProxy::start_http`).
    Http,
    /// Per-connection faults on raw TCP (`FaultProxy::start_tcp`).
    Tcp,
}

impl ProxyMode {
    /// The fault layer this mode runs.
    pub fn layer(self) -> Layer {
        match self {
            Self::Http => Layer::Http,
            Self::Tcp => Layer::Tcp,
        }
    }

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
        }
    }

    /// The fault kinds this mode runs, as `` `a`, `b` `` for messages.
    pub(super) fn kinds(self) -> String {
        FaultKind::ALL
            .iter()
            .filter(|k| k.layer() == self.layer())
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the control API says about its proxy besides the faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    /// The proxy's name in the Toxiproxy-compatible API.
    pub name: String,
    /// Its protocol.
    pub mode: ProxyMode,
    /// Where it forwards to, as written in the file.
    pub upstream: String,
}

/// An error answer: a 4xx status, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub(super) struct ApiError {
    status: StatusCode,
    error: String,
    help: String,
    /// Methods the path accepts, for the `Allow` header of a 405.
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            help: help.into(),
            allow: None,
        }
    }

    pub(super) fn bad_request(error: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, help)
    }

    fn not_found(error: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error, help)
    }

    fn conflict(error: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error, help)
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let body = json!({
            "error": self.error,
            "help": self.help,
            "status": self.status.as_u16(),
        });
        let mut response = json_response(self.status, &body);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Json(StatusCode, Value),
    Text(&'static str),
    NoContent,
}

impl Reply {
    fn ok(value: Value) -> Self {
        Self::Json(StatusCode::OK, value)
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        match self {
            Self::Json(status, value) => json_response(status, &value),
            Self::Text(text) => {
                let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            }
            Self::NoContent => {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            }
        }
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    // A `Value` always serialises (its map keys are strings), so the default never shows.
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// One fault in force, and the toxic it came from when it came through the Toxiproxy API.
#[derive(Debug, Clone)]
struct Entry {
    spec: FaultSpec,
    toxic: Option<Toxic>,
}

impl Entry {
    fn native(spec: FaultSpec) -> Self {
        Self { spec, toxic: None }
    }

    fn label(&self) -> String {
        self.spec.label()
    }

    fn toxic_json(&self) -> Value {
        match &self.toxic {
            Some(toxic) => serde_json::to_value(toxic).unwrap_or(Value::Null),
            None => native_toxic(&self.spec),
        }
    }
}

/// A fault as `GET /faults` shows it: the `[[fault]]` table form.
fn fault_json(spec: &FaultSpec) -> Value {
    serde_json::to_value(spec).unwrap_or(Value::Null)
}

/// The first label that two faults share, if any.
fn duplicate_label<'a>(specs: impl IntoIterator<Item = &'a FaultSpec>) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    specs
        .into_iter()
        .map(FaultSpec::label)
        .find(|label| !seen.insert(label.clone()))
}

const FAULT_EXAMPLE: &str = r#"{"name": "outage", "kind": "http_error", "status": 503}"#;
const TOXIC_EXAMPLE: &str =
    r#"{"name": "lat", "type": "latency", "stream": "downstream", "attributes": {"latency": 150}}"#;

/// A running proxy and the faults in force, as the control API reads and changes them.
#[derive(Debug)]
pub struct Control {
    info: ProxyInfo,
    proxy: FaultProxy,
    entries: Mutex<Vec<Entry>>,
}

impl Control {
    /// Takes over a running `proxy` and puts `faults` in force; refuses two faults with
    /// one name and faults of the other mode.
    pub fn new(proxy: FaultProxy, info: ProxyInfo, faults: Vec<FaultSpec>) -> io::Result<Self> {
        if let Some(label) = duplicate_label(&faults) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("two faults are called `{label}`; give each a distinct `name`"),
            ));
        }
        proxy.set_faults(faults.clone())?;
        Ok(Self {
            info,
            proxy,
            entries: Mutex::new(faults.into_iter().map(Entry::native).collect()),
        })
    }

    /// The proxy being controlled.
    pub fn proxy(&self) -> &FaultProxy {
        &self.proxy
    }

    /// Stops the proxy once the control server no longer holds this (else dropping the
    /// last handle stops it).
    pub async fn shutdown(self: Arc<Self>) {
        if let Ok(control) = Arc::try_unwrap(self) {
            control.proxy.shutdown().await;
        }
    }

    fn entries(&self) -> MutexGuard<'_, Vec<Entry>> {
        // Every change is computed on a copy and stored whole, so a poisoned list is intact.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `edit` to a copy of the list, puts the result in force, then stores it.
    fn change<T>(
        &self,
        edit: impl FnOnce(&mut Vec<Entry>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut entries = self.entries();
        let mut next = entries.clone();
        let out = edit(&mut next)?;
        self.proxy
            .set_faults(next.iter().map(|e| e.spec.clone()).collect())
            .map_err(|e| ApiError::bad_request(e.to_string(), "fix the fault and send it again"))?;
        *entries = next;
        Ok(out)
    }

    fn check_layer(&self, spec: &FaultSpec, what: &str) -> Result<(), ApiError> {
        if spec.layer() == self.info.mode.layer() {
            return Ok(());
        }
        let other = match self.info.mode {
            ProxyMode::Http => ProxyMode::Tcp,
            ProxyMode::Tcp => ProxyMode::Http,
        };
        Err(ApiError::bad_request(
            format!(
                "{what}: kind `{}` needs a {other}-mode proxy; proxy `{}` runs in {} mode",
                spec.kind(),
                self.info.name,
                self.info.mode
            ),
            format!(
                "use a kind this proxy runs: {}, or a proxy with mode = \"{other}\"",
                self.info.mode.kinds()
            ),
        ))
    }

    fn faults(&self) -> Value {
        Value::Array(self.entries().iter().map(|e| fault_json(&e.spec)).collect())
    }

    fn add_fault(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let spec: FaultSpec = parse_body(body, "a fault", FAULT_EXAMPLE)?;
        self.check_layer(&spec, "the fault")?;
        let label = spec.label();
        self.change(|entries| {
            if entries.iter().any(|e| e.label() == label) {
                return Err(ApiError::conflict(
                    format!("a fault called `{label}` is in force already"),
                    format!(
                        "remove it first (DELETE /faults/{label}), or give the new one another `name`"
                    ),
                ));
            }
            entries.push(Entry::native(spec.clone()));
            Ok(())
        })?;
        Ok(Reply::Json(StatusCode::CREATED, fault_json(&spec)))
    }

    fn replace_faults(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let example = format!("[{FAULT_EXAMPLE}] (or [] to remove every fault)");
        let specs: Vec<FaultSpec> = parse_body(body, "a list of faults", &example)?;
        for (i, spec) in specs.iter().enumerate() {
            self.check_layer(spec, &format!("fault {} (`{}`)", i + 1, spec.label()))?;
        }
        if let Some(label) = duplicate_label(&specs) {
            return Err(ApiError::bad_request(
                format!("two faults are called `{label}`"),
                "give each fault a distinct `name`",
            ));
        }
        self.change(|entries| {
            *entries = specs.into_iter().map(Entry::native).collect();
            Ok(())
        })?;
        Ok(Reply::ok(self.faults()))
    }

    fn remove(&self, name: &str, what: &str) -> Result<Reply, ApiError> {
        self.change(|entries| {
            let before = entries.len();
            entries.retain(|e| e.label() != name);
            if entries.len() == before {
                let names: Vec<String> =
                    entries.iter().map(|e| format!("`{}`", e.label())).collect();
                return Err(ApiError::not_found(
                    format!("{what} not found: no fault is called `{name}`"),
                    if names.is_empty() {
                        "no fault is in force".to_owned()
                    } else {
                        format!("the faults in force are {}", names.join(", "))
                    },
                ));
            }
            Ok(())
        })?;
        Ok(Reply::NoContent)
    }

    fn attempts(&self) -> Value {
        let snapshot = self.proxy.attempts();
        json!({
            "elapsed_ms": u64::try_from(self.proxy.elapsed().as_millis()).unwrap_or(u64::MAX),
            "totals": snapshot.totals,
            "seconds": snapshot.seconds,
        })
    }

    fn check_proxy(&self, name: &str) -> Result<(), ApiError> {
        if name == self.info.name {
            return Ok(());
        }
        Err(ApiError::not_found(
            format!(
                "proxy not found: this server runs one proxy, `{}`",
                self.info.name
            ),
            format!("use /proxies/{}; GET /proxies lists it", self.info.name),
        ))
    }

    fn proxy_json(&self) -> Value {
        json!({
            "name": self.info.name,
            "listen": self.proxy.addr().to_string(),
            "upstream": self.info.upstream,
            "enabled": true,
            "toxics": self.toxics(),
        })
    }

    fn toxics(&self) -> Value {
        Value::Array(self.entries().iter().map(Entry::toxic_json).collect())
    }

    fn toxic(&self, name: &str) -> Result<Value, ApiError> {
        self.entries()
            .iter()
            .find(|e| e.label() == name)
            .map(Entry::toxic_json)
            .ok_or_else(|| {
                ApiError::not_found(
                    format!("toxic not found: no toxic is called `{name}`"),
                    format!("GET /proxies/{}/toxics lists them", self.info.name),
                )
            })
    }

    fn add_toxic(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let raw: ToxicBody = parse_body(body, "a toxic", TOXIC_EXAMPLE)?;
        let Some(kind) = raw.kind.filter(|k| !k.is_empty()) else {
            return Err(ApiError::bad_request(
                "missing required field: type",
                format!("name one of {}, e.g. {TOXIC_EXAMPLE}", toxic_type_names()),
            ));
        };
        let stream = Stream::parse(raw.stream.as_deref())?;
        let toxic = Toxic {
            // Toxiproxy's default name, so that clients which leave it out can delete it.
            name: raw
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| format!("{kind}_{}", stream.as_str())),
            kind,
            stream,
            toxicity: raw.toxicity.unwrap_or(1.0),
            attributes: raw.attributes.unwrap_or_default(),
        };
        let spec = fault_of_toxic(&toxic, &self.info)?;
        let reply = serde_json::to_value(&toxic).unwrap_or(Value::Null);
        self.change(|entries| {
            if entries.iter().any(|e| e.label() == toxic.name) {
                return Err(ApiError::conflict(
                    format!("toxic already exists: `{}`", toxic.name),
                    format!(
                        "delete it first (DELETE /proxies/{}/toxics/{}), or choose another name",
                        self.info.name, toxic.name
                    ),
                ));
            }
            entries.push(Entry {
                spec,
                toxic: Some(toxic.clone()),
            });
            Ok(())
        })?;
        Ok(Reply::ok(reply))
    }

    fn update_toxic(&self, name: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let patch: ToxicBody = parse_body(
            body,
            "a toxic update",
            r#"{"attributes": {"latency": 300}, "toxicity": 1.0}"#,
        )?;
        self.change(|entries| {
            let Some(entry) = entries.iter_mut().find(|e| e.label() == name) else {
                return Err(ApiError::not_found(
                    format!("toxic not found: no toxic is called `{name}`"),
                    format!("GET /proxies/{}/toxics lists them", self.info.name),
                ));
            };
            let Some(mut toxic) = entry.toxic.clone() else {
                return Err(ApiError::bad_request(
                    format!("fault `{name}` was not added as a toxic, so it has no toxic attributes"),
                    "change it through PUT /faults",
                ));
            };
            let fixed = [
                ("name", patch.name.as_deref(), toxic.name.as_str()),
                ("type", patch.kind.as_deref(), toxic.kind.as_str()),
                ("stream", patch.stream.as_deref(), toxic.stream.as_str()),
            ];
            for (key, wanted, current) in fixed {
                if let Some(wanted) = wanted.filter(|w| !w.is_empty() && *w != current) {
                    return Err(ApiError::bad_request(
                        format!("the {key} of toxic `{name}` is `{current}` and cannot become `{wanted}`"),
                        "delete the toxic and add a new one",
                    ));
                }
            }
            if let Some(toxicity) = patch.toxicity {
                toxic.toxicity = toxicity;
            }
            toxic.attributes.extend(patch.attributes.unwrap_or_default());
            entry.spec = fault_of_toxic(&toxic, &self.info)?;
            entry.toxic = Some(toxic);
            Ok(Reply::ok(entry.toxic_json()))
        })
    }

    /// Answers one request; `segments` are the decoded parts of the path.
    fn route(&self, method: &Method, segments: &[&str], body: &[u8]) -> Result<Reply, ApiError> {
        let method = method.as_str();
        let Some((allow, reply)) = self
            .native(method, segments, body)
            .or_else(|| self.toxiproxy(method, segments, body))
        else {
            return Err(ApiError::not_found(
                format!("no endpoint at /{}", segments.join("/")),
                format!(
                    "the endpoints are GET|POST|PUT /faults, DELETE /faults/{{name}}, GET /attempts, GET /healthz, and Toxiproxy's GET /proxies, GET|POST /proxies/{0}/toxics, DELETE /proxies/{0}/toxics/{{toxic}}, POST /reset",
                    self.info.name
                ),
            ));
        };
        reply.unwrap_or_else(|| {
            Err(ApiError {
                allow: Some(allow),
                ..ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} is not allowed on /{}", segments.join("/")),
                    format!("this path accepts {allow}"),
                )
            })
        })
    }

    /// The native endpoints: `None` if the path is not one of them.
    fn native(&self, method: &str, segments: &[&str], body: &[u8]) -> Option<Endpoint> {
        let get = method == "GET";
        Some(match segments {
            ["healthz"] => ("GET", get.then_some(Ok(Reply::Text("ok")))),
            ["faults"] => (
                "GET, POST, PUT",
                match method {
                    "GET" => Some(Ok(Reply::ok(self.faults()))),
                    "POST" => Some(self.add_fault(body)),
                    "PUT" => Some(self.replace_faults(body)),
                    _ => None,
                },
            ),
            ["faults", name] => (
                "DELETE",
                (method == "DELETE").then(|| self.remove(name, "fault")),
            ),
            ["attempts"] => ("GET", get.then(|| Ok(Reply::ok(self.attempts())))),
            _ => return None,
        })
    }

    /// The Toxiproxy-compatible endpoints: `None` if the path is not one of them.
    fn toxiproxy(&self, method: &str, segments: &[&str], body: &[u8]) -> Option<Endpoint> {
        let get = method == "GET";
        Some(match segments {
            ["proxies"] => (
                "GET",
                get.then(|| {
                    let mut map = Map::new();
                    map.insert(self.info.name.clone(), self.proxy_json());
                    Ok(Reply::ok(Value::Object(map)))
                }),
            ),
            ["proxies", proxy] => (
                "GET",
                get.then(|| {
                    self.check_proxy(proxy)
                        .map(|()| Reply::ok(self.proxy_json()))
                }),
            ),
            ["proxies", proxy, "toxics"] => (
                "GET, POST",
                match method {
                    "GET" => Some(self.check_proxy(proxy).map(|()| Reply::ok(self.toxics()))),
                    "POST" => Some(self.check_proxy(proxy).and_then(|()| self.add_toxic(body))),
                    _ => None,
                },
            ),
            ["proxies", proxy, "toxics", toxic] => (
                "GET, POST, PATCH, DELETE",
                self.check_proxy(proxy)
                    .map(|()| match method {
                        "GET" => Some(self.toxic(toxic).map(Reply::ok)),
                        // Toxiproxy takes updates by POST (deprecated there) and PATCH.
                        "POST" | "PATCH" => Some(self.update_toxic(toxic, body)),
                        "DELETE" => Some(self.remove(toxic, "toxic")),
                        _ => None,
                    })
                    .unwrap_or_else(|e| Some(Err(e))),
            ),
            ["reset"] => (
                "POST",
                (method == "POST").then(|| {
                    self.change(|entries| {
                        entries.clear();
                        Ok(Reply::NoContent)
                    })
                }),
            ),
            ["version"] => (
                "GET",
                get.then(|| {
                    let version = format!("harness {}", env!("CARGO_PKG_VERSION"));
                    Ok(Reply::ok(json!({ "version": version })))
                }),
            ),
            _ => return None,
        })
    }
}

/// The methods a path accepts, and the answer when the method is one of them.
type Endpoint = (&'static str, Option<Result<Reply, ApiError>>);

/// `T` from a JSON body, or a 400 naming what was expected with an example.
fn parse_body<T: DeserializeOwned>(body: &[u8], what: &str, example: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            format!("the body is empty; expected {what} as JSON"),
            format!("send e.g. {example}"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            format!("the body is not {what}: {e}"),
            format!("send JSON like {example}"),
        )
    })
}

/// The path's segments, percent-decoded; empty segments (doubled or trailing `/`) dropped.
fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_decode(s).ok_or_else(|| {
                ApiError::bad_request(
                    format!("the path segment `{s}` is not valid percent-encoded UTF-8"),
                    "encode names as UTF-8 and escape bytes as %XX",
                )
            })
        })
        .collect()
}

fn percent_decode(segment: &str) -> Option<String> {
    let mut out = Vec::with_capacity(segment.len());
    let mut rest = segment.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2)?;
            let high = char::from(hex[0]).to_digit(16)?;
            let low = char::from(hex[1]).to_digit(16)?;
            out.push(u8::try_from(high * 16 + low).ok()?);
            rest = &tail[2..];
        } else {
            out.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads the body (at most [`MAX_BODY`]) and answers; never fails, never panics.
async fn serve(control: Arc<Control>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY} bytes"),
                "send one fault or one list of faults at a time",
            )
            .into_response();
        }
        Err(e) => {
            return ApiError::bad_request(
                format!("the body could not be read: {e}"),
                "send the whole body",
            )
            .into_response();
        }
    };
    let answer = segments(parts.uri.path()).and_then(|segments| {
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        control.route(&parts.method, &segments, &body)
    });
    match answer {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

/// The control API's HTTP server; [`ControlServer::shutdown`] stops it.
#[derive(Debug)]
pub struct ControlServer {
    server: ServerHandle,
}

impl ControlServer {
    /// Serves the control API for `control` on `listen`; must be called within a Tokio runtime.
    pub async fn start(listen: SocketAddr, control: Arc<Control>) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let server = spawn_http(listener, move |request| {
            serve(Arc::clone(&control), request)
        })?;
        Ok(Self { server })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://ADDR`, the base URL of the API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Stops accepting, drops every connection and waits until they are gone.
    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fault::{ByteSize, DEFAULT_LISTEN, Delay, Direction, FaultAction};

    fn info(mode: ProxyMode) -> ProxyInfo {
        ProxyInfo {
            name: "executor".into(),
            mode,
            upstream: "127.0.0.1:9".into(),
        }
    }

    fn toxic(kind: &str, stream: Stream, attributes: Value) -> Toxic {
        Toxic {
            name: "t".into(),
            kind: kind.into(),
            stream,
            toxicity: 1.0,
            attributes: match attributes {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    fn map(kind: &str, mode: ProxyMode, attributes: Value) -> Result<FaultSpec, ApiError> {
        fault_of_toxic(&toxic(kind, Stream::Downstream, attributes), &info(mode))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latency_keeps_toxiproxys_range_and_follows_the_mode() {
        let spec = map("latency", ProxyMode::Http, json!({"latency": 150})).expect("maps");
        assert_eq!(
            spec.action,
            FaultAction::Latency(Delay::Fixed {
                latency: ms(150),
                jitter: ms(0)
            })
        );
        let up = toxic(
            "latency",
            Stream::Upstream,
            json!({"latency": 100, "jitter": 20}),
        );
        let spec = fault_of_toxic(&up, &info(ProxyMode::Tcp)).expect("maps");
        assert_eq!(
            spec.action,
            FaultAction::TcpLatency {
                delay: Delay::Fixed {
                    latency: ms(80),
                    jitter: ms(40)
                },
                direction: Direction::Upstream
            }
        );
        let spec = map(
            "latency",
            ProxyMode::Tcp,
            json!({"latency": 5, "jitter": 20}),
        )
        .expect("maps");
        assert!(matches!(
            spec.action,
            FaultAction::TcpLatency { delay: Delay::Fixed { latency, jitter }, .. }
                if latency.is_zero() && jitter == ms(25)
        ));
    }

    #[test]
    fn tcp_toxics_map_to_their_faults() {
        let cases = [
            (
                "bandwidth",
                json!({"rate": 64}),
                FaultAction::Bandwidth {
                    rate: ByteSize(64_000),
                    direction: Direction::Downstream,
                },
            ),
            (
                "slow_close",
                json!({"delay": 500}),
                FaultAction::SlowClose { delay: ms(500) },
            ),
            ("timeout", json!({"timeout": 0}), FaultAction::TcpBlackhole),
            (
                "timeout",
                json!({"timeout": 2000}),
                FaultAction::TcpBlackhole,
            ),
            ("reset_peer", json!({}), FaultAction::ResetPeer),
            (
                "limit_data",
                json!({"bytes": 1024}),
                FaultAction::LimitData {
                    bytes: ByteSize(1024),
                    direction: Direction::Downstream,
                },
            ),
        ];
        for (kind, attributes, action) in cases {
            let spec = map(kind, ProxyMode::Tcp, attributes).expect(kind);
            assert_eq!(spec.action, action, "{kind}");
            assert_eq!(spec.name.as_deref(), Some("t"));
        }
        let mut half = toxic("reset_peer", Stream::Downstream, json!({}));
        half.toxicity = 0.25;
        let spec = fault_of_toxic(&half, &info(ProxyMode::Tcp)).expect("maps");
        assert_eq!(spec.probability.get(), 0.25);
    }

    #[test]
    fn unsupported_toxics_and_bad_attributes_are_400_saying_what_to_do() {
        let e = map("slicer", ProxyMode::Tcp, json!({})).expect_err("unknown");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.help.contains(
                "`latency`, `bandwidth`, `slow_close`, `timeout`, `reset_peer`, `limit_data`"
            ),
            "{}",
            e.help
        );
        let e = map("bandwidth", ProxyMode::Http, json!({"rate": 1})).expect_err("tcp only");
        assert!(e.error.contains("http mode"), "{}", e.error);
        assert!(e.help.contains("mode = \"tcp\""), "{}", e.help);
        let e = map("latency", ProxyMode::Http, json!({"latncy": 1})).expect_err("typo");
        assert!(e.error.contains("no attribute `latncy`"), "{}", e.error);
        let e = map("latency", ProxyMode::Http, json!({"latency": -5})).expect_err("negative");
        assert!(
            e.error.contains("whole number of milliseconds"),
            "{}",
            e.error
        );
        let e = map("bandwidth", ProxyMode::Tcp, json!({"rate": 0})).expect_err("no limit");
        assert!(e.help.contains("delete the toxic"), "{}", e.help);
        let mut over = toxic("timeout", Stream::Downstream, json!({}));
        over.toxicity = 1.5;
        let e = fault_of_toxic(&over, &info(ProxyMode::Tcp)).expect_err("toxicity");
        assert!(e.error.contains("between 0 and 1"), "{}", e.error);
    }

    #[test]
    fn faults_round_trip_through_their_json_form() {
        let text = r#"
            [[fault]]
            name = "a"
            kind = "http_error"
            status = 503
            headers = { "Retry-After" = "1" }
            probability = 0.25
            start = "1s"
            duration = "2s"
            match = { path_prefix = "/x" }
            [[fault]]
            kind = "latency"
            distribution = { kind = "lognormal", median = "50ms", sigma = 0.5 }
            [[fault]]
            kind = "limit_data"
            bytes = "1KiB"
            direction = "both"
        "#;
        let faults = crate::fault::FaultFile::from_toml(text)
            .expect("parses")
            .fault;
        for spec in faults {
            let again: FaultSpec = serde_json::from_value(fault_json(&spec)).expect("reads back");
            assert_eq!(again, spec);
        }
    }

    #[test]
    fn paths_decode_without_panicking_on_anything() {
        assert_eq!(percent_decode("a%20b"), Some("a b".into()));
        assert_eq!(percent_decode("%C3%A9"), Some("é".into()));
        for bad in ["%", "%4", "%zz", "%FF", "%%", "é%"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
        assert_eq!(
            segments("//faults/").expect("decodes"),
            vec!["faults".to_owned()]
        );
    }

    fn control(mode: ProxyMode) -> Control {
        let proxy = match mode {
            ProxyMode::Http => {
                FaultProxy::start_http(DEFAULT_LISTEN, "http://127.0.0.1:9".into(), Vec::new(), 1)
            }
            ProxyMode::Tcp => {
                FaultProxy::start_tcp(DEFAULT_LISTEN, "127.0.0.1:9".into(), Vec::new(), 1)
            }
        };
        Control::new(proxy.expect("proxy"), info(mode), Vec::new()).expect("control")
    }

    fn call(c: &Control, method: Method, path: &str, body: &str) -> Result<Reply, ApiError> {
        let segments = segments(path).expect("path");
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        c.route(&method, &segments, body.as_bytes())
    }

    fn status(result: &Result<Reply, ApiError>) -> StatusCode {
        match result {
            Ok(Reply::Json(status, _)) => *status,
            Ok(Reply::Text(_)) => StatusCode::OK,
            Ok(Reply::NoContent) => StatusCode::NO_CONTENT,
            Err(e) => e.status,
        }
    }

    #[tokio::test]
    async fn native_endpoints_add_list_replace_and_remove() {
        let c = control(ProxyMode::Http);
        let fault = r#"{"name":"e","kind":"http_error","status":503}"#;
        assert_eq!(
            status(&call(&c, Method::POST, "/faults", fault)),
            StatusCode::CREATED
        );
        assert_eq!(
            status(&call(&c, Method::POST, "/faults", fault)),
            StatusCode::CONFLICT
        );
        let listed = call(&c, Method::GET, "/faults", "").expect("lists");
        assert_eq!(
            listed,
            Reply::ok(
                json!([{"name": "e", "at": "dependency", "kind": "http_error", "status": 503}])
            )
        );
        let wrong =
            call(&c, Method::POST, "/faults", r#"{"kind":"reset_peer"}"#).expect_err("tcp kind");
        assert!(
            wrong.error.contains("needs a tcp-mode proxy"),
            "{}",
            wrong.error
        );
        for bad in [
            "",
            "{",
            "[]",
            r#"{"kind":"http_error"}"#,
            r#"{"kind":"abort","x":1}"#,
            "\u{0}\u{ff}",
        ] {
            let e = call(&c, Method::POST, "/faults", bad).expect_err(bad);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}: {}", e.error);
        }
        let put = r#"[{"kind":"abort"},{"name":"slow","kind":"latency","latency":"10ms"}]"#;
        assert_eq!(
            status(&call(&c, Method::PUT, "/faults", put)),
            StatusCode::OK
        );
        let twins = r#"[{"kind":"abort"},{"kind":"abort"}]"#;
        assert_eq!(
            status(&call(&c, Method::PUT, "/faults", twins)),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(&call(&c, Method::DELETE, "/faults/e", "")),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(&call(&c, Method::DELETE, "/faults/abort", "")),
            StatusCode::NO_CONTENT
        );
        assert_eq!(c.entries().len(), 1);
        let e = call(&c, Method::DELETE, "/faults", "").expect_err("405");
        assert_eq!(
            (e.status, e.allow),
            (StatusCode::METHOD_NOT_ALLOWED, Some("GET, POST, PUT"))
        );
        assert_eq!(
            status(&call(&c, Method::GET, "/nothing/here", "")),
            StatusCode::NOT_FOUND
        );
        assert_eq!(call(&c, Method::GET, "/healthz", ""), Ok(Reply::Text("ok")));
        let Ok(Reply::Json(_, attempts)) = call(&c, Method::GET, "/attempts", "") else {
            panic!("attempts");
        };
        assert_eq!(attempts["totals"]["attempts"], 0);
    }

    #[tokio::test]
    async fn toxiproxy_endpoints_share_the_fault_list() {
        let c = control(ProxyMode::Tcp);
        let added = call(
            &c,
            Method::POST,
            "/proxies/executor/toxics",
            r#"{"type":"latency","attributes":{"latency":100}}"#,
        )
        .expect("added");
        let Reply::Json(StatusCode::OK, toxic) = added else {
            panic!("{added:?}");
        };
        assert_eq!(
            toxic["name"], "latency_downstream",
            "Toxiproxy's default name"
        );
        assert_eq!(toxic["toxicity"], 1.0);
        let e = call(
            &c,
            Method::POST,
            "/proxies/executor/toxics",
            r#"{"type":"latency","attributes":{"latency":1}}"#,
        )
        .expect_err("twice");
        assert_eq!(e.status, StatusCode::CONFLICT);
        let e = call(
            &c,
            Method::POST,
            "/proxies/other/toxics",
            r#"{"type":"timeout"}"#,
        )
        .expect_err("proxy");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e = call(
            &c,
            Method::POST,
            "/proxies/executor/toxics",
            r#"{"type":"timeout","stream":"sideways"}"#,
        )
        .expect_err("stream");
        assert!(e.error.contains("upstream or downstream"), "{}", e.error);
        assert_eq!(
            status(&call(
                &c,
                Method::POST,
                "/faults",
                r#"{"name":"cut","kind":"limit_data","bytes":10,"direction":"upstream"}"#
            )),
            StatusCode::CREATED
        );
        let Ok(Reply::Json(_, toxics)) = call(&c, Method::GET, "/proxies/executor/toxics", "")
        else {
            panic!("toxics");
        };
        assert_eq!(toxics[1]["type"], "limit_data");
        assert_eq!(toxics[1]["stream"], "upstream");
        let Ok(Reply::Json(_, faults)) = call(&c, Method::GET, "/faults", "") else {
            panic!("faults");
        };
        assert_eq!(faults[0]["kind"], "tcp_latency");
        assert_eq!(faults[0]["latency"], "100ms");
        let updated = call(
            &c,
            Method::PATCH,
            "/proxies/executor/toxics/latency_downstream",
            r#"{"attributes":{"latency":300}}"#,
        )
        .expect("updated");
        let Reply::Json(_, updated) = updated else {
            panic!("{updated:?}")
        };
        assert_eq!(updated["attributes"]["latency"], 300);
        let e = call(
            &c,
            Method::PATCH,
            "/proxies/executor/toxics/cut",
            r#"{"toxicity":0.5}"#,
        )
        .expect_err("native");
        assert!(e.help.contains("PUT /faults"), "{}", e.help);
        let Ok(Reply::Json(_, proxies)) = call(&c, Method::GET, "/proxies", "") else {
            panic!("proxies");
        };
        assert_eq!(proxies["executor"]["enabled"], true);
        assert_eq!(proxies["executor"]["listen"], c.proxy().addr().to_string());
        assert_eq!(
            status(&call(
                &c,
                Method::DELETE,
                "/proxies/executor/toxics/cut",
                ""
            )),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            status(&call(&c, Method::POST, "/reset", "")),
            StatusCode::NO_CONTENT
        );
        assert!(c.entries().is_empty());
    }
}
