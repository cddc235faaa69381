//! The Toxiproxy dialect of the control API, as Toxiproxy 2.x's server answers it:
//! proxies (list, create, show, update, delete), `/populate`, `/reset`, `/version` and
//! each proxy's toxics. A toxic becomes one fault (see [`super::toxic`]) in the proxy's
//! list, which the native dialect shows too.
//!
//! Proxies created here are TCP proxies, as Toxiproxy's are; a `--config` file's proxy
//! keeps its mode. Where Toxiproxy answers 500 (a listener that cannot be opened), so
//! does this; input Toxiproxy would take and fail on later (a listen address that does
//! not parse, an upstream that is not host:port, an unknown key) is a 400 here.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};

use super::answer::{ApiError, Reply, parse_body};
use super::registry::Registry;
use super::state::{Entry, Managed, Recipe};
use super::toxic::{Stream, Toxic, ToxicBody, fault_of_toxic, toxic_type_names};
use super::{ProxyInfo, ProxyMode};
use crate::fault::DEFAULT_LISTEN;

const TOXIC_EXAMPLE: &str =
    r#"{"name": "lat", "type": "latency", "stream": "downstream", "attributes": {"latency": 150}}"#;

const PROXY_EXAMPLE: &str = r#"{"name": "redis", "listen": "127.0.0.1:26379", "upstream": "127.0.0.1:6379", "enabled": true}"#;

/// The Toxiproxy release whose API this dialect follows; `/version` answers it, since
/// clients treat the answer as a Toxiproxy version.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// A proxy as a client sends it (create, update, one item of `/populate`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxyBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    /// Clients echo a proxy's `toxics` back; Toxiproxy ignores them, so does this.
    #[serde(default)]
    #[allow(dead_code)]
    toxics: Option<IgnoredAny>,
}

/// A checked proxy: what `POST /proxies` and `/populate` create.
struct NewProxy {
    name: String,
    listen: SocketAddr,
    upstream: String,
    enabled: bool,
}

fn not_found(name: &str, proxies: &BTreeMap<String, Managed>) -> ApiError {
    let names: Vec<String> = proxies.keys().map(|n| format!("`{n}`")).collect();
    ApiError::not_found(
        format!("proxy not found: no proxy is called `{name}`"),
        if names.is_empty() {
            "no proxy exists yet; create one with POST /proxies or POST /populate".to_owned()
        } else {
            format!(
                "the proxies are {}; GET /proxies lists them",
                names.join(", ")
            )
        },
    )
}

fn missing(field: &str, at: Option<usize>) -> ApiError {
    let at = at.map(|i| format!(" at proxy {i}")).unwrap_or_default();
    ApiError::bad_request(
        format!("missing required field: {field}{at}"),
        format!("send e.g. {PROXY_EXAMPLE}"),
    )
}

/// A proxy name usable in URLs and printable in logs.
fn check_proxy_name(name: &str) -> Result<(), ApiError> {
    if name.contains('/') || name.trim().is_empty() {
        return Err(ApiError::bad_request(
            format!("the proxy name {name:?} cannot name a proxy in URLs"),
            "use letters, digits, `-` and `_`, e.g. \"redis\"",
        ));
    }
    crate::text::check_name(name).map_err(|hidden| {
        ApiError::bad_request(
            format!(
                "the proxy name `{}` holds a character that does not print",
                crate::text::printable(name)
            ),
            format!("use printable characters; found {hidden}"),
        )
    })
}

/// `listen` as an address: an IP and port, or `localhost:PORT` (IPv4 first, as clients
/// mean it); empty is 127.0.0.1 with a port the OS picks.
async fn resolve_listen(listen: Option<&str>) -> Result<SocketAddr, ApiError> {
    let text = listen.map(str::trim).unwrap_or("");
    if text.is_empty() {
        return Ok(DEFAULT_LISTEN);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = || {
        ApiError::bad_request(
            format!(
                "listen address `{}` is not host:port",
                crate::text::printable(text)
            ),
            "write it like \"127.0.0.1:26379\" or \"localhost:26379\" (port 0 lets the OS pick)",
        )
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(text)
        .await
        .map_err(|_| bad())?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(bad)
}

/// A TCP upstream: `host:port` with a port from 1 to 65535.
fn check_upstream(upstream: &str) -> Result<(), ApiError> {
    let port = upstream
        .rsplit_once(':')
        .filter(|(host, _)| !host.trim().is_empty() && !upstream.contains("://"))
        .and_then(|(_, port)| port.parse::<u16>().ok());
    match port {
        Some(p) if p != 0 => Ok(()),
        _ => Err(ApiError::bad_request(
            format!(
                "upstream `{}` is not host:port",
                crate::text::printable(upstream)
            ),
            "a Toxiproxy proxy relays TCP; write it like \"127.0.0.1:6379\" (no http://)",
        )),
    }
}

/// Checks a proxy to create; `at` is its 1-based place in a `/populate` list.
async fn new_proxy(body: ProxyBody, at: Option<usize>) -> Result<NewProxy, ApiError> {
    let name = body
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing("name", at))?;
    check_proxy_name(&name)?;
    let upstream = body
        .upstream
        .filter(|u| !u.is_empty())
        .ok_or_else(|| missing("upstream", at))?;
    check_upstream(&upstream)?;
    Ok(NewProxy {
        listen: resolve_listen(body.listen.as_deref()).await?,
        name,
        upstream,
        enabled: body.enabled.unwrap_or(true),
    })
}

impl Registry {
    fn recipe(&self, new: &NewProxy) -> Recipe {
        Recipe {
            info: ProxyInfo {
                name: new.name.clone(),
                mode: ProxyMode::Tcp,
                upstream: new.upstream.clone(),
            },
            listen: new.listen,
            seed: self.seed(),
            options: Self::options(),
        }
    }

    /// Starts a proxy as created through the API; a listener that cannot open is a 500.
    fn start_new(&self, new: &NewProxy) -> Result<Managed, ApiError> {
        Managed::new(self.recipe(new), Vec::new(), new.enabled).map_err(|e| {
            ApiError::internal(
                format!("listen tcp {}: {e}", new.listen),
                "choose another listen address, or \"127.0.0.1:0\" to let the OS pick a port",
            )
        })
    }

    /// `GET /proxies`: every proxy by name.
    pub(super) async fn list_proxies(&self) -> Reply {
        let proxies = self.lock().await;
        let map: Map<String, Value> = proxies
            .iter()
            .map(|(name, managed)| (name.clone(), managed.json()))
            .collect();
        Reply::ok(Value::Object(map))
    }

    /// `GET /proxies/{name}`.
    pub(super) async fn show_proxy(&self, name: &str) -> Result<Reply, ApiError> {
        let proxies = self.lock().await;
        let managed = proxies.get(name).ok_or_else(|| not_found(name, &proxies))?;
        Ok(Reply::ok(managed.json()))
    }

    /// `POST /proxies`: 201 with the proxy, 409 if the name is taken.
    pub(super) async fn create_proxy(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let body: ProxyBody = parse_body(body, "a proxy", PROXY_EXAMPLE)?;
        let new = new_proxy(body, None).await?;
        let mut proxies = self.lock().await;
        if proxies.contains_key(&new.name) {
            return Err(ApiError::conflict(
                format!("proxy already exists: `{}`", new.name),
                format!(
                    "delete it first (DELETE /proxies/{}), update it (POST /proxies/{}), or use POST /populate, which keeps a matching proxy",
                    new.name, new.name
                ),
            ));
        }
        let managed = self.start_new(&new)?;
        let shown = managed.json();
        proxies.insert(new.name, managed);
        Ok(Reply::Json(http::StatusCode::CREATED, shown))
    }

    /// `POST|PATCH /proxies/{name}`: `enabled`, `listen` and `upstream`; a changed
    /// address restarts the proxy (cutting its connections), as in Toxiproxy.
    pub(super) async fn update_proxy(&self, name: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let body: ProxyBody = parse_body(
            body,
            "a proxy update",
            r#"{"enabled": false} (or "listen", "upstream")"#,
        )?;
        if let Some(wanted) = body.name.as_deref().filter(|w| !w.is_empty() && *w != name) {
            return Err(ApiError::bad_request(
                format!(
                    "proxy `{name}` cannot be renamed to `{}`",
                    crate::text::printable(wanted)
                ),
                "to change a proxy's name, delete it and create it again",
            ));
        }
        let listen = match body.listen.as_deref() {
            Some(text) => Some(resolve_listen(Some(text)).await?),
            None => None,
        };
        if let Some(upstream) = body.upstream.as_deref() {
            check_upstream(upstream)?;
        }
        let mut proxies = self.lock().await;
        if !proxies.contains_key(name) {
            return Err(not_found(name, &proxies));
        }
        let Some(managed) = proxies.get_mut(name) else {
            return Err(ApiError::not_found(
                "proxy not found",
                "GET /proxies lists them",
            ));
        };
        if managed.info().mode == ProxyMode::Http
            && let Some(upstream) = body.upstream.as_deref()
        {
            return Err(ApiError::bad_request(
                format!(
                    "proxy `{name}` runs in http mode; its upstream cannot become `{}` here",
                    crate::text::printable(upstream)
                ),
                "change `upstream` in its proxy file and restart harness proxy",
            ));
        }
        let moved = listen.is_some_and(|l| l != managed.listen())
            || body
                .upstream
                .as_deref()
                .is_some_and(|u| u != managed.info().upstream);
        let enabled = body.enabled.unwrap_or(managed.enabled());
        if moved || !enabled {
            managed.stop().await;
        }
        if let Some(listen) = listen {
            managed.recipe.listen = listen;
        }
        if let Some(upstream) = body.upstream {
            managed.recipe.info.upstream = upstream;
        }
        if enabled {
            let listen = managed.recipe.listen;
            managed.start().map_err(|e| {
                ApiError::internal(
                    format!("listen tcp {listen}: {e}"),
                    "choose another listen address; the proxy stays disabled until one opens",
                )
            })?;
        }
        Ok(Reply::ok(managed.json()))
    }

    /// `DELETE /proxies/{name}`: stops it, cutting its connections.
    pub(super) async fn delete_proxy(&self, name: &str) -> Result<Reply, ApiError> {
        let mut proxies = self.lock().await;
        let Some(mut managed) = proxies.remove(name) else {
            return Err(not_found(name, &proxies));
        };
        managed.stop().await;
        Ok(Reply::NoContent)
    }

    /// `POST /populate`: creates the listed proxies, keeps one whose listen address and
    /// upstream match, replaces one that differs. Answers 201 `{"proxies": [...]}`; a
    /// failure part-way answers its error with the proxies done so far, as Toxiproxy does.
    pub(super) async fn populate(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let list: Vec<ProxyBody> =
            parse_body(body, "a list of proxies", &format!("[{PROXY_EXAMPLE}]"))?;
        // Every proxy is checked before any is created.
        let mut wanted = Vec::with_capacity(list.len());
        for (i, body) in list.into_iter().enumerate() {
            wanted.push(new_proxy(body, Some(i + 1)).await?);
        }
        let mut proxies = self.lock().await;
        let mut done: Vec<Value> = Vec::with_capacity(wanted.len());
        for new in wanted {
            if let Some(existing) = proxies.get(&new.name)
                && existing.listen() == new.listen
                && existing.info().upstream == new.upstream
            {
                done.push(existing.json());
                continue;
            }
            if let Some(mut old) = proxies.remove(&new.name) {
                old.stop().await;
            }
            match self.start_new(&new) {
                Ok(managed) => {
                    done.push(managed.json());
                    proxies.insert(new.name, managed);
                }
                Err(error) => {
                    let status = error.status;
                    return Ok(Reply::Json(
                        status,
                        json!({
                            "error": error.error,
                            "help": error.help,
                            "status": status.as_u16(),
                            "proxies": done,
                        }),
                    ));
                }
            }
        }
        Ok(Reply::Json(
            http::StatusCode::CREATED,
            json!({ "proxies": done }),
        ))
    }

    /// `POST /reset`: enables every proxy and removes every toxic (and fault).
    pub(super) async fn reset(&self) -> Result<Reply, ApiError> {
        let mut proxies = self.lock().await;
        for managed in proxies.values_mut() {
            let listen = managed.recipe.listen;
            managed.start().map_err(|e| {
                ApiError::internal(
                    format!("listen tcp {listen}: {e}"),
                    "free that address, then POST /reset again",
                )
            })?;
            managed.change(|entries, _| {
                entries.clear();
                Ok(())
            })?;
        }
        Ok(Reply::NoContent)
    }

    /// Runs `f` on the proxy called `name`, or answers 404.
    pub(super) async fn with_proxy<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Managed) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut proxies = self.lock().await;
        if !proxies.contains_key(name) {
            return Err(not_found(name, &proxies));
        }
        match proxies.get_mut(name) {
            Some(managed) => f(managed),
            None => Err(ApiError::not_found(
                "proxy not found",
                "GET /proxies lists them",
            )),
        }
    }
}

/// `GET /version`, in Toxiproxy's form; `server` says what answers.
pub(super) fn version() -> Reply {
    Reply::ok(json!({
        "version": TOXIPROXY_VERSION,
        "server": format!("harness {}", env!("CARGO_PKG_VERSION")),
    }))
}

impl Managed {
    pub(super) fn toxic(&self, name: &str) -> Result<Value, ApiError> {
        self.entries()
            .iter()
            .find(|e| e.label() == name)
            .map(Entry::toxic_json)
            .ok_or_else(|| toxic_not_found(name, self.name()))
    }

    /// `POST /proxies/{p}/toxics`: 200 with the toxic (Toxiproxy's status), 409 if the
    /// name is taken.
    pub(super) fn add_toxic(&mut self, body: &[u8]) -> Result<Reply, ApiError> {
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
        crate::text::check_name(&toxic.name).map_err(|hidden| {
            ApiError::bad_request(
                format!(
                    "the toxic name `{}` holds a character that does not print",
                    crate::text::printable(&toxic.name)
                ),
                format!("use printable characters; found {hidden}"),
            )
        })?;
        let proxy = self.name().to_owned();
        let reply = serde_json::to_value(&toxic).unwrap_or(Value::Null);
        self.change(|entries, info| {
            if entries.iter().any(|e| e.label() == toxic.name) {
                return Err(ApiError::conflict(
                    format!("toxic already exists: `{}`", toxic.name),
                    format!(
                        "delete it first (DELETE /proxies/{proxy}/toxics/{}), or choose another name",
                        toxic.name
                    ),
                ));
            }
            let spec = fault_of_toxic(&toxic, info)?;
            entries.push(Entry {
                spec,
                toxic: Some(toxic.clone()),
            });
            Ok(())
        })?;
        Ok(Reply::ok(reply))
    }

    /// `POST|PATCH /proxies/{p}/toxics/{t}`: new attributes (merged) and toxicity.
    pub(super) fn update_toxic(&mut self, name: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let patch: ToxicBody = parse_body(
            body,
            "a toxic update",
            r#"{"attributes": {"latency": 300}, "toxicity": 1.0}"#,
        )?;
        let proxy = self.name().to_owned();
        self.change(|entries, info| {
            let Some(entry) = entries.iter_mut().find(|e| e.label() == name) else {
                return Err(toxic_not_found(name, &proxy));
            };
            let Some(mut toxic) = entry.toxic.clone() else {
                return Err(ApiError::bad_request(
                    format!(
                        "fault `{name}` was not added as a toxic, so it has no toxic attributes"
                    ),
                    format!("change it through PUT /proxies/{proxy}/faults"),
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
                        format!(
                            "the {key} of toxic `{name}` is `{current}` and cannot become `{}`",
                            crate::text::printable(wanted)
                        ),
                        "delete the toxic and add a new one",
                    ));
                }
            }
            if let Some(toxicity) = patch.toxicity {
                toxic.toxicity = toxicity;
            }
            toxic
                .attributes
                .extend(patch.attributes.unwrap_or_default());
            entry.spec = fault_of_toxic(&toxic, info)?;
            entry.toxic = Some(toxic);
            Ok(Reply::ok(entry.toxic_json()))
        })
    }
}

fn toxic_not_found(name: &str, proxy: &str) -> ApiError {
    ApiError::not_found(
        format!("toxic not found: no toxic is called `{name}`"),
        format!("GET /proxies/{proxy}/toxics lists them"),
    )
}
