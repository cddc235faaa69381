//! The Toxiproxy-compatible dialect of the control API: `/proxies`, their `/toxics`,
//! `/reset` and `/version`. The one proxy is named by the file's `name`; a toxic becomes
//! one fault (see [`super::toxic`]) in the list the native dialect shows too.

use serde_json::{Map, Value, json};

use super::answer::{ApiError, Endpoint, Reply, parse_body};
use super::state::{Control, Entry};
use super::toxic::{Stream, Toxic, ToxicBody, fault_of_toxic, toxic_type_names};

const TOXIC_EXAMPLE: &str =
    r#"{"name": "lat", "type": "latency", "stream": "downstream", "attributes": {"latency": 150}}"#;

impl Control {
    pub(super) fn check_proxy(&self, name: &str) -> Result<(), ApiError> {
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

    pub(super) fn proxy_json(&self) -> Value {
        json!({
            "name": self.info.name,
            "listen": self.proxy.addr().to_string(),
            "upstream": self.info.upstream,
            "enabled": true,
            "toxics": self.toxics(),
        })
    }

    pub(super) fn toxics(&self) -> Value {
        Value::Array(self.entries().iter().map(Entry::toxic_json).collect())
    }

    pub(super) fn toxic(&self, name: &str) -> Result<Value, ApiError> {
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

    pub(super) fn add_toxic(&self, body: &[u8]) -> Result<Reply, ApiError> {
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

    pub(super) fn update_toxic(&self, name: &str, body: &[u8]) -> Result<Reply, ApiError> {
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

    /// The Toxiproxy-compatible endpoints: `None` if the path is not one of them.
    pub(super) fn toxiproxy(
        &self,
        method: &str,
        segments: &[&str],
        body: &[u8],
    ) -> Option<Endpoint> {
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
