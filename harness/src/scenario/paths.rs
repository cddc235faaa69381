//! Validation of `[paths.*]`: targets, base URLs and headers, and the choice and order
//! of the base and candidate paths.

use std::collections::HashMap;

use http::HeaderValue;
use serde_spanned::Spanned;

use super::error::{Problem, closest};
use super::explain::key_span;
use super::interpolate::interpolate_env;
use super::model::{
    CommandTarget, DaggerTarget, Header, Interpolated, McpTarget, McpTransport, PathKind, PathSpec,
    Target,
};
use super::raw::{Entries, RawPath};
use super::validate::Checker;
use crate::tls::TlsConfig;

/// True for an `https://` URL (any case, as URL schemes are).
pub(super) fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// Default base path name.
const DEFAULT_BASE: &str = "legacy";
/// Candidate path name used when the file names none and such a path exists.
const DEFAULT_CANDIDATE: &str = "dagger";
/// How long a Dagger path waits for its engine session by default.
const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Checker<'_> {
    /// Every `[paths.<name>]`, in file order.
    pub(super) fn paths(&self, raw: &Spanned<Entries<RawPath>>) -> Result<Vec<PathSpec>, Problem> {
        if raw.get_ref().0.is_empty() {
            return Err(Problem::new(
                raw.span(),
                "a scenario needs at least one path",
                "add a path, e.g.\n[paths.legacy]\ntarget = \"reference\"",
            ));
        }
        let mut drafts = Vec::new();
        let mut stand_ins: Vec<(String, String)> = Vec::new();
        for (key, path) in &raw.get_ref().0 {
            let name = self.file_name(key, "path name", "[paths.legacy]")?;
            let kind = path
                .get_ref()
                .kind
                .as_ref()
                .map_or(PathKind::Http, |k| *k.get_ref());
            self.keys_of_kind(&name, kind, path.get_ref())?;
            let (target, headers, tls) = match kind {
                PathKind::Http => {
                    let headers = match &path.get_ref().headers {
                        Some(h) => self.path_headers(h.get_ref())?,
                        None => Vec::new(),
                    };
                    let (target, stood_in) = self.target(&name, path)?;
                    // A stand-in reference platform speaks plain HTTP: the `tls` table
                    // is for the service the base_url names.
                    let tls = match stood_in {
                        Some(why) => {
                            stand_ins.push((name.clone(), why));
                            None
                        }
                        None => self.path_tls(&name, &target, path.get_ref())?,
                    };
                    (target, headers, tls)
                }
                PathKind::Command => (
                    Target::Command(self.command_target(path.get_ref())?),
                    Vec::new(),
                    None,
                ),
                PathKind::Dagger => (
                    Target::Dagger(self.dagger_target(path.get_ref())),
                    Vec::new(),
                    None,
                ),
                PathKind::Mcp => {
                    let headers = match &path.get_ref().headers {
                        Some(h) => self.path_headers(h.get_ref())?,
                        None => Vec::new(),
                    };
                    let target = self.mcp_target(&name, path)?;
                    if let (McpTransport::Stdio { .. }, Some(h)) =
                        (&target.transport, &path.get_ref().headers)
                    {
                        return Err(Problem::new(
                            key_span(self.text, &h.span()),
                            format!(
                                "path `{name}` runs its MCP server over stdio, which has no headers"
                            ),
                            "remove `headers`, or reach the server over streamable HTTP with `url`",
                        ));
                    }
                    let tls = match &target.transport {
                        McpTransport::Http(url) if is_https(&url.resolved) => {
                            let span = path.get_ref().url.as_ref().map_or(0..0, Spanned::span);
                            Some(self.system_tls(span)?)
                        }
                        _ => None,
                    };
                    (Target::Mcp(target), headers, tls)
                }
            };
            let (metrics, metrics_series) = self.path_metrics(&name, &target, path.get_ref())?;
            let metric_labels = self.metric_labels(path.get_ref())?;
            let stand_in = stand_ins
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, why)| why.clone());
            drafts.push(PathSpec {
                name,
                target,
                headers,
                tls,
                stand_in,
                metrics,
                metrics_series,
                metric_labels,
            });
        }
        Ok(drafts)
    }

    /// Refuses the keys that belong to another kind of path.
    fn keys_of_kind(&self, name: &str, kind: PathKind, path: &RawPath) -> Result<(), Problem> {
        let spans = [
            (
                "target",
                path.target.as_ref().map(Spanned::span),
                PathKind::Http,
            ),
            (
                "base_url",
                path.base_url.as_ref().map(Spanned::span),
                PathKind::Http,
            ),
            (
                "headers",
                path.headers.as_ref().map(Spanned::span),
                PathKind::Http,
            ),
            ("tls", path.tls.as_ref().map(Spanned::span), PathKind::Http),
            (
                "workdir",
                path.workdir.as_ref().map(Spanned::span),
                PathKind::Command,
            ),
            (
                "env",
                path.env.as_ref().map(Spanned::span),
                PathKind::Command,
            ),
            (
                "connect_timeout",
                path.connect_timeout.as_ref().map(Spanned::span),
                PathKind::Dagger,
            ),
            (
                "telemetry",
                path.telemetry.as_ref().map(Spanned::span),
                PathKind::Dagger,
            ),
            (
                "cache",
                path.cache.as_ref().map(Spanned::span),
                PathKind::Dagger,
            ),
            ("url", path.url.as_ref().map(Spanned::span), PathKind::Mcp),
            (
                "command",
                path.command.as_ref().map(Spanned::span),
                PathKind::Mcp,
            ),
            (
                "session",
                path.session.as_ref().map(Spanned::span),
                PathKind::Mcp,
            ),
        ];
        for (key, span, owner) in spans {
            // MCP paths send headers too, and may target the reference platform's /mcp.
            let shared = matches!(key, "headers" | "target") && kind == PathKind::Mcp;
            if let Some(span) = span
                && owner != kind
                && !shared
            {
                let set_kind = if owner == PathKind::Http {
                    "remove `kind`".to_string()
                } else {
                    format!("set `kind = \"{}\"`", owner.as_str())
                };
                return Err(Problem::new(
                    key_span(self.text, &span),
                    format!(
                        "path `{name}` is of kind `{}`, which has no `{key}`",
                        kind.as_str()
                    ),
                    format!(
                        "`{key}` belongs to paths of kind `{}`: remove it, or {set_kind}",
                        owner.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How an `https://` base URL's server is trusted: the `tls` table, else the system
    /// roots. A `tls` table on a plain-HTTP path is refused: it would silently do nothing.
    fn path_tls(
        &self,
        name: &str,
        target: &Target,
        path: &RawPath,
    ) -> Result<Option<TlsConfig>, Problem> {
        let https = matches!(target, Target::Url(url) if is_https(&url.resolved));
        match (&path.tls, https) {
            (Some(raw), true) => self.tls(raw, &format!("paths.{name}.tls")).map(Some),
            (None, true) => {
                let span = path.base_url.as_ref().map_or(0..0, Spanned::span);
                self.system_tls(span).map(Some)
            }
            (Some(raw), false) => Err(Problem::new(
                key_span(self.text, &raw.span()),
                format!("path `{name}` has `tls`, but its requests are plain HTTP"),
                match target {
                    Target::Reference => "the reference platform speaks plain HTTP: remove `tls`",
                    _ => {
                        "`tls` applies to an https:// base_url: remove it, or write the URL with https://"
                    }
                },
            )),
            (None, false) => Ok(None),
        }
    }

    /// `kind = "command"`: a working directory and extra environment variables.
    fn command_target(&self, path: &RawPath) -> Result<CommandTarget, Problem> {
        let folder = self.folder();
        let workdir = match &path.workdir {
            Some(w) if w.get_ref().trim().is_empty() => {
                return Err(Problem::new(
                    w.span(),
                    "workdir cannot be empty",
                    "name a folder (relative to the scenario file), or remove the key",
                ));
            }
            Some(w) => folder.join(w.get_ref()),
            None => folder,
        };
        let mut env = Vec::new();
        if let Some(entries) = &path.env {
            for (key, value) in &entries.get_ref().0 {
                if !super::interpolate::is_name(key.get_ref()) {
                    return Err(Problem::new(
                        key.span(),
                        format!("`{}` cannot be an environment variable name", key.get_ref()),
                        "a name starts with a letter or `_` and holds only letters, digits and `_`",
                    ));
                }
                let resolved = interpolate_env(value.get_ref(), self.env)
                    .map_err(|e| self.located(value, e))?;
                env.push((key.get_ref().clone(), resolved));
            }
        }
        Ok(CommandTarget { workdir, env })
    }

    /// `kind = "mcp"`: exactly one of `url` (streamable HTTP) and `command` (stdio), and
    /// the session scope.
    fn mcp_target(&self, name: &str, path: &Spanned<RawPath>) -> Result<McpTarget, Problem> {
        let raw = path.get_ref();
        if let Some(target) = &raw.target {
            if target.get_ref() != "reference" {
                return Err(Problem::new(
                    target.span(),
                    format!(
                        "MCP path `{name}` has `target = \"{}\"`",
                        crate::text::printable(target.get_ref())
                    ),
                    "`target = \"reference\"` is the embedded reference platform's /mcp; a server of yours goes in `url` (or `command` for stdio)",
                ));
            }
            if let Some(other) = raw
                .url
                .as_ref()
                .map(Spanned::span)
                .or(raw.command.as_ref().map(Spanned::span))
            {
                return Err(Problem::new(
                    key_span(self.text, &other),
                    format!(
                        "MCP path `{name}` has `target = \"reference\"` and a server of its own"
                    ),
                    "keep one: `target = \"reference\"`, `url` or `command`",
                ));
            }
            return Ok(McpTarget {
                transport: McpTransport::Reference,
                session: raw
                    .session
                    .as_ref()
                    .map(|s| *s.get_ref())
                    .unwrap_or_default(),
            });
        }
        let transport = match (&raw.url, &raw.command) {
            (Some(url), Some(command)) => {
                let second = url.span().start.max(command.span().start);
                let second = if second == url.span().start {
                    url.span()
                } else {
                    command.span()
                };
                return Err(Problem::new(
                    key_span(self.text, &second),
                    format!("path `{name}` has both `url` and `command`"),
                    "keep exactly one: `url` for a streamable-HTTP MCP server, or `command` for a local server over stdio",
                ));
            }
            (None, None) => {
                return Err(Problem::new(
                    path.span(),
                    format!("MCP path `{name}` has neither `url` nor `command`"),
                    "add `url = \"http://127.0.0.1:8000/mcp\"` (streamable HTTP), `command = [\"python3\", \"server.py\"]` (stdio) or `target = \"reference\"` (the reference platform's /mcp)",
                ));
            }
            (Some(url), None) => {
                let resolved =
                    interpolate_env(url.get_ref(), self.env).map_err(|e| self.located(url, e))?;
                let lower = resolved.resolved.to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                    return Err(Problem::new(
                        url.span(),
                        format!("path `{name}`: `url` is not an http:// or https:// URL"),
                        "give the server's streamable-HTTP endpoint, e.g. `url = \"http://127.0.0.1:8000/mcp\"`",
                    ));
                }
                McpTransport::Http(resolved)
            }
            (None, Some(command)) => {
                let mut argv = Vec::new();
                for part in command.get_ref() {
                    let resolved = interpolate_env(part.get_ref(), self.env)
                        .map_err(|e| self.located(part, e))?;
                    argv.push(resolved.resolved);
                }
                if argv.first().is_none_or(|p| p.trim().is_empty()) {
                    return Err(Problem::new(
                        command.span(),
                        format!("path `{name}`: `command` names no program"),
                        "give the server's program and arguments, e.g. `command = [\"python3\", \"server.py\"]`",
                    ));
                }
                McpTransport::Stdio {
                    argv,
                    workdir: self.folder(),
                }
            }
        };
        Ok(McpTarget {
            transport,
            session: raw
                .session
                .as_ref()
                .map(|s| *s.get_ref())
                .unwrap_or_default(),
        })
    }

    /// `kind = "dagger"`: engine connection settings.
    fn dagger_target(&self, path: &RawPath) -> DaggerTarget {
        DaggerTarget {
            connect_timeout: path
                .connect_timeout
                .as_ref()
                .map_or(DEFAULT_CONNECT_TIMEOUT, |t| t.get_ref().0),
            telemetry: path.telemetry.as_ref().is_some_and(|t| *t.get_ref()),
            cache: path
                .cache
                .as_ref()
                .map(|c| *c.get_ref())
                .unwrap_or_default(),
        }
    }

    /// Exactly one of `target = "reference"` and `base_url` — or both, when `base_url`
    /// is made of environment variables: the service it names when they are set, else the
    /// reference platform, with why it stood in.
    fn target(
        &self,
        name: &str,
        path: &Spanned<RawPath>,
    ) -> Result<(Target, Option<String>), Problem> {
        match (&path.get_ref().target, &path.get_ref().base_url) {
            (Some(t), Some(u)) if t.get_ref() == "reference" && u.get_ref().contains("${") => {
                let unset = interpolate_env(u.get_ref(), self.env)
                    .map_or(true, |v| v.resolved.trim().is_empty());
                if unset {
                    let why = format!(
                        "path `{name}`: base_url `{}` resolves to nothing here (its environment variables are unset or empty), so the embedded reference platform stands in; set them to measure your service",
                        crate::text::printable(u.get_ref())
                    );
                    Ok((Target::Reference, Some(why)))
                } else {
                    self.base_url(u).map(|url| (Target::Url(url), None))
                }
            }
            (Some(t), Some(u)) => {
                // Point at whichever of the two comes second: that is the one to reconsider.
                let second = if t.span().start > u.span().start {
                    t.span()
                } else {
                    u.span()
                };
                Err(Problem::new(
                    key_span(self.text, &second),
                    format!("path `{name}` has both `target` and `base_url`"),
                    "keep exactly one: `target = \"reference\"` for the embedded reference platform, or `base_url` for a running service (both only as a fallback: `base_url = \"${ORCH_URL:-}\"` with `target = \"reference\"` uses the reference platform when ORCH_URL is unset)",
                ))
            }
            (None, None) => Err(Problem::new(
                path.span(),
                format!("path `{name}` has neither `target` nor `base_url`"),
                "add `target = \"reference\"` (the embedded reference platform) or `base_url = \"http://127.0.0.1:8080\"`",
            )),
            (Some(t), None) if t.get_ref() == "reference" => Ok((Target::Reference, None)),
            (Some(t), None) => {
                let help = if t.get_ref().contains("://") {
                    format!(
                        "for a running service write `base_url = \"{}\"` instead",
                        t.get_ref()
                    )
                } else {
                    "the only target is \"reference\" (the embedded reference platform); use `base_url` for a running service".into()
                };
                Err(Problem::new(
                    t.span(),
                    format!("unknown target `{}`", t.get_ref()),
                    help,
                ))
            }
            (None, Some(u)) => self.base_url(u).map(|url| (Target::Url(url), None)),
        }
    }

    /// An `http://` or `https://` URL with a host, `${ENV}` resolved.
    fn base_url(&self, raw: &Spanned<String>) -> Result<Interpolated, Problem> {
        let value = interpolate_env(raw.get_ref(), self.env).map_err(|e| self.located(raw, e))?;
        let written = raw.get_ref();
        let example = "write a full URL, e.g. `base_url = \"http://127.0.0.1:8080\"` (a path prefix is allowed)";
        let bad = |message: String, help: &str| Err(Problem::new(raw.span(), message, help));
        // Messages show the URL as written: the resolved one may hold a secret.
        let url = match url::Url::parse(&value.resolved) {
            Ok(url) => url,
            Err(e) => {
                return bad(
                    format!("base_url `{written}` is not a valid URL ({e})"),
                    example,
                );
            }
        };
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return bad(
                    format!(
                        "base_url has the scheme `{other}`; it must start with http:// or https://"
                    ),
                    example,
                );
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return bad(format!("base_url `{written}` has no host"), example);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return bad(
                format!("base_url `{written}` has a query or a fragment"),
                "keep base_url to scheme, host, port and an optional path prefix; put queries in each step's `path`",
            );
        }
        // The driver builds requests with `http::Uri`, which is stricter than `url` (for
        // instance about non-ASCII hosts): refuse here what it would refuse at run time.
        if http::Uri::try_from(value.resolved.as_str()).is_err() {
            return bad(
                format!("base_url `{written}` cannot be used for HTTP requests"),
                "write the host in ASCII (punycode for international names) and percent-encode the path",
            );
        }
        Ok(value)
    }

    /// Headers of a path: valid names, `${ENV}` resolved, valid values.
    fn path_headers(&self, raw: &Entries<String>) -> Result<Vec<Header>, Problem> {
        let mut seen = HashMap::new();
        let mut headers = Vec::new();
        for (key, value) in &raw.0 {
            let name = self.header_name(key, &mut seen)?;
            let value_text =
                interpolate_env(value.get_ref(), self.env).map_err(|e| self.located(value, e))?;
            if HeaderValue::from_str(&value_text.resolved).is_err() {
                let after = if value_text.has_secret() {
                    " after interpolation"
                } else {
                    ""
                };
                return Err(Problem::new(
                    value.span(),
                    format!("the value of header `{name}` is not a valid header value{after}"),
                    "header values are visible ASCII text without line breaks; check the value and any environment variable it uses",
                ));
            }
            // A header made of environment variables that resolve to nothing is not sent:
            // a template's `Authorization = "${ORCH_AUTHORIZATION:-}"` then costs a team
            // without authentication nothing.
            if value_text.has_secret() && value_text.resolved.trim().is_empty() {
                continue;
            }
            headers.push(Header {
                name,
                value: value_text,
            });
        }
        Ok(headers)
    }

    /// Chooses base and candidate, and orders the paths: base, candidate, then by name.
    pub(super) fn order_paths(
        &self,
        drafts: Vec<PathSpec>,
        base: Option<&Spanned<String>>,
        candidate: Option<&Spanned<String>>,
        paths: &Spanned<Entries<RawPath>>,
    ) -> Result<(String, Option<String>, Vec<PathSpec>), Problem> {
        let names: Vec<&str> = drafts.iter().map(|d| d.name.as_str()).collect();
        let listed = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        // Without `base`: `legacy`, or the only path when there is just one.
        let base_name = match (base, names.as_slice()) {
            (Some(b), _) => b.get_ref().as_str(),
            (None, [only]) => only,
            (None, _) => DEFAULT_BASE,
        };
        if !names.contains(&base_name) {
            let help = match closest(base_name, names.iter().copied()) {
                Some(near) => format!("did you mean `{near}`? the paths are {listed}"),
                None => format!(
                    "set `base = \"...\"` to one of the paths ({listed}), or add [paths.{base_name}]"
                ),
            };
            return Err(match base {
                Some(b) => {
                    Problem::new(b.span(), format!("base `{base_name}` names no path"), help)
                }
                None => Problem::new(
                    paths.span(),
                    format!("there is no path `{DEFAULT_BASE}`, the default base"),
                    format!(
                        "set `base = \"...\"` at the top of the file to one of the paths ({listed}), or add [paths.{DEFAULT_BASE}]"
                    ),
                ),
            });
        }
        let candidate_name = match candidate {
            Some(c) => {
                let name = c.get_ref().as_str();
                if name == base_name {
                    return Err(Problem::new(
                        c.span(),
                        format!("candidate `{name}` is the base path too"),
                        "the candidate is compared with the base: name another path, or remove `candidate`",
                    ));
                }
                if !names.contains(&name) {
                    let others = names.iter().copied().filter(|n| *n != base_name);
                    let help = match closest(name, others) {
                        Some(near) => format!("did you mean `{near}`? the paths are {listed}"),
                        None => format!(
                            "set `candidate` to one of the paths ({listed}), or add [paths.{name}]"
                        ),
                    };
                    return Err(Problem::new(
                        c.span(),
                        format!("candidate `{name}` names no path"),
                        help,
                    ));
                }
                Some(name.to_string())
            }
            None => (base_name != DEFAULT_CANDIDATE && names.contains(&DEFAULT_CANDIDATE))
                .then(|| DEFAULT_CANDIDATE.to_string()),
        };
        let base_name = base_name.to_string();
        let rank = |name: &str| {
            if name == base_name {
                0
            } else if Some(name) == candidate_name.as_deref() {
                1
            } else {
                2
            }
        };
        let mut drafts = drafts;
        drafts.sort_by(|a, b| (rank(&a.name), &a.name).cmp(&(rank(&b.name), &b.name)));
        Ok((base_name, candidate_name, drafts))
    }
}
