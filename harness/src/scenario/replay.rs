//! `replay = "traffic/session.har"`: a flow whose steps are generated from recorded
//! traffic, so that load and parity runs can send the shape of real requests.
//!
//! Two formats are read, chosen by the file's extension:
//!
//! - HAR 1.2 (`.har`, `.json`): `log.entries[]` in file order; of each entry,
//!   `request.method`, `request.url`, `request.headers[{name, value}]`,
//!   `request.postData.text` (or, without `text`, `postData.params` sent form-encoded)
//!   and `response.status`;
//! - JSON lines (`.jsonl`, `.ndjson`): one request per line, an object with `url` (a
//!   string, required), `method` (default `GET`), `headers` (an object of strings or an
//!   array of `[name, value]` pairs), `body` (a string sent as is; any other JSON value
//!   is sent as its compact JSON text; `null` for none) and `status` (the expected
//!   status). Other keys are ignored; blank lines and lines starting with `#` are skipped.
//!
//! Each request becomes one step, named `NNN METHOD /path`, whose `path` is the URL's
//! path and query (appended to the path's base URL like a written step's), with the
//! headers that are kept, the body, and the recorded status as `expect_status`. The
//! generated steps then go through exactly the checks a written step goes through (and
//! into the scenario hash the same way), so recorded strings are templates like written
//! ones: `${name}` is a flow variable or an environment variable and `$${` is a literal
//! `${`. The one difference: a `${` that is not a valid `${NAME}` or `${NAME:-default}`
//! (say `${"` in a recorded JSON body) stays literal text instead of being an error.
//! Every problem is reported at the `replay` value, naming the traffic file and the
//! entry or line it is about.

use std::ops::Range;

use serde_json::{Map, Value};
use serde_spanned::Spanned;

use crate::correlation::{REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use crate::outcome::StepIndex;
use crate::text::is_hidden;
use crate::toml_diagnostics::io_reason;

use super::error::Problem;
use super::explain::key_span;
use super::interpolate::is_name;
use super::model::PathKind;
use super::raw::{Entries, RawFlow, RawStep};
use super::validate::Checker;

/// The most steps a replayed flow generates unless `max_steps` says otherwise.
pub(crate) const DEFAULT_MAX_STEPS: i64 = 200;

/// Recorded headers dropped unless `exclude_headers` replaces the list: what the
/// client computes itself, and credentials or encodings captured from one session.
pub(crate) const DEFAULT_EXCLUDED: [&str; 6] = [
    "host",
    "content-length",
    "connection",
    "cookie",
    "authorization",
    "accept-encoding",
];

/// Recorded headers dropped whatever `exclude_headers` says (HTTP/2 pseudo-headers,
/// names starting with `:`, too): hop-by-hop headers, what the client computes for each
/// request (`host`, `content-length`) and the correlation headers the harness sets.
pub(crate) const ALWAYS_DROPPED: [&str; 13] = [
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    REQUEST_ID_HEADER,
    TRACEPARENT_HEADER,
];

/// The longest path shown in a generated step name, in characters.
const NAME_PATH_CHARS: usize = 60;

/// A request read from a traffic file, before filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// Where it is in the file: `entry 3 (log.entries[2])`, `line 7`.
    pub origin: String,
    /// The method as recorded.
    pub method: String,
    /// The URL as recorded: absolute, or a path.
    pub url: String,
    /// The headers as recorded, in order.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Option<String>,
    /// The recorded answer's status, when it is an HTTP status (100..=599).
    pub status: Option<u16>,
}

/// A problem with the traffic file's content: the whole file, or one request in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrafficError {
    /// The entry or line, when the problem is one request.
    pub origin: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl TrafficError {
    fn file(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            origin: None,
            message: message.into(),
            help: help.into(),
        }
    }

    fn at(origin: &str, message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            origin: Some(origin.to_string()),
            message: message.into(),
            help: help.into(),
        }
    }
}

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Har,
    JsonLines,
}

/// Where a flow's steps come from.
pub(super) enum FlowSteps<'a> {
    /// `steps = [...]`, written out.
    Written(&'a Spanned<Vec<Spanned<RawStep>>>),
    /// `replay = "..."`, generated.
    Replayed(Replayed),
}

/// A flow's steps generated from recorded traffic, with where each came from.
pub(super) struct Replayed {
    /// The traffic file as the scenario names it.
    file: String,
    /// The `replay` value in the scenario.
    span: Range<usize>,
    /// The generated steps (every span is the `replay` value's).
    pub(super) steps: Vec<Spanned<RawStep>>,
    /// Where each step's request is in the traffic file.
    origins: Vec<String>,
}

impl Replayed {
    /// A problem found in generated step `position`, moved to the `replay` value and
    /// naming the recorded request it came from.
    pub(super) fn locate(&self, position: usize, problem: Problem) -> Problem {
        let origin = self.origins.get(position).map_or("?", String::as_str);
        // Replayed steps extract nothing: a name can only be an environment variable.
        let help = if problem.message.contains("variable") {
            "in recorded traffic a `${NAME}` is an environment variable (replayed steps extract nothing): export it, give it a default (`${NAME:-value}`), or write `$${` in the traffic file for a literal `${`".to_string()
        } else {
            problem.help
        };
        Problem::new(
            self.span.clone(),
            format!("{}, {origin}: {}", self.file, problem.message),
            help,
        )
    }
}

/// What the filter keys of a replayed flow say.
struct Filter {
    /// `host`, lower-cased: a bare host, or `host:port`.
    host: Option<String>,
    /// `include`: path prefixes.
    include: Vec<String>,
    /// Header names dropped (lower case), besides [`ALWAYS_DROPPED`].
    excluded: Vec<String>,
    /// `max_steps`.
    max_steps: usize,
}

impl Checker<'_> {
    /// Where the steps of `f` (the flow table at `table`) come from: written out, or
    /// generated from `replay`. Refuses both and neither, the filter keys without
    /// `replay`, and `replay` in a scenario that has a path of another kind than HTTP.
    pub(super) fn flow_steps<'f>(
        &self,
        f: &'f RawFlow,
        table: Range<usize>,
        kinds: &[PathKind],
    ) -> Result<FlowSteps<'f>, Problem> {
        let name = f.name.get_ref();
        let Some(replay) = &f.replay else {
            let filters = [
                ("host", f.host.as_ref().map(Spanned::span)),
                ("include", f.include.as_ref().map(Spanned::span)),
                (
                    "exclude_headers",
                    f.exclude_headers.as_ref().map(Spanned::span),
                ),
                ("max_steps", f.max_steps.as_ref().map(Spanned::span)),
            ];
            for (key, span) in filters {
                if let Some(span) = span {
                    return Err(Problem::new(
                        key_span(self.text, &span),
                        format!(
                            "`{key}` filters recorded traffic, but flow `{name}` has no `replay`"
                        ),
                        format!(
                            "remove `{key}`, or generate the flow's steps from a recording with `replay = \"traffic/session.har\"`"
                        ),
                    ));
                }
            }
            return match &f.steps {
                Some(steps) => Ok(FlowSteps::Written(steps)),
                None => Err(Problem::new(
                    table,
                    format!("flow `{name}` has no `steps`"),
                    "add `steps = [{ name = \"get\", path = \"/\" }]`, or generate the steps from recorded traffic with `replay = \"traffic/session.har\"`",
                )),
            };
        };
        if f.steps.is_some() {
            return Err(Problem::new(
                replay.span(),
                format!("flow `{name}` has both `steps` and `replay`"),
                "a flow's steps are either written out or generated from recorded traffic: remove `steps` or `replay` (or make two flows)",
            ));
        }
        if let Some(kind) = kinds.iter().find(|k| **k != PathKind::Http) {
            return Err(Problem::new(
                replay.span(),
                format!(
                    "flow `{name}` replays recorded HTTP requests, but the scenario has a {} path",
                    kind.as_str()
                ),
                "a recording holds only the HTTP request of each step, and every step needs the action of every kind of path in the scenario: replay on scenarios whose paths are all HTTP (`target` or `base_url`), or write this flow's steps by hand",
            ));
        }
        let filter = self.filter(f)?;
        Ok(FlowSteps::Replayed(self.replayed(f, replay, &filter)?))
    }

    /// The filter keys of a replayed flow, checked.
    fn filter(&self, f: &RawFlow) -> Result<Filter, Problem> {
        let host = match &f.host {
            None => None,
            Some(h) => {
                let value = h.get_ref().trim();
                if value.is_empty() || value.contains('/') || value.contains('@') {
                    return Err(Problem::new(
                        h.span(),
                        format!("`host = \"{}\"` is not a host name", h.get_ref()),
                        "write the host of the recorded URLs alone, e.g. `host = \"api.example.com\"` (or `\"api.example.com:8443\"` to match the port too)",
                    ));
                }
                Some(value.to_ascii_lowercase())
            }
        };
        let mut include = Vec::new();
        for prefix in f.include.as_ref().map_or(&[][..], |i| i.get_ref()) {
            if !prefix.get_ref().starts_with('/') {
                return Err(Problem::new(
                    prefix.span(),
                    format!("include prefix `{}` must start with `/`", prefix.get_ref()),
                    "list path prefixes of the requests to keep, e.g. `include = [\"/api/\"]`",
                ));
            }
            include.push(prefix.get_ref().clone());
        }
        let excluded = match &f.exclude_headers {
            None => DEFAULT_EXCLUDED.iter().map(|h| (*h).to_string()).collect(),
            Some(list) => {
                let mut names = Vec::new();
                for name in list.get_ref() {
                    let lower = name.get_ref().trim().to_ascii_lowercase();
                    if lower.is_empty() {
                        return Err(Problem::new(
                            name.span(),
                            "an empty header name in `exclude_headers`",
                            "name the recorded headers to drop, e.g. `exclude_headers = [\"cookie\", \"x-csrf-token\"]`",
                        ));
                    }
                    names.push(lower);
                }
                names
            }
        };
        let max_steps = match &f.max_steps {
            Some(m) => self.int(
                m,
                1..=i64::from(StepIndex::MAX) + 1,
                "max_steps",
                "cap the steps generated from the recording, e.g. `max_steps = 500`",
            )?,
            None => DEFAULT_MAX_STEPS,
        };
        Ok(Filter {
            host,
            include,
            excluded,
            max_steps: usize::try_from(max_steps).unwrap_or(usize::MAX),
        })
    }

    /// Reads the traffic file, keeps the requests the filter lets through and turns
    /// each into a raw step.
    fn replayed(
        &self,
        f: &RawFlow,
        replay: &Spanned<String>,
        filter: &Filter,
    ) -> Result<Replayed, Problem> {
        let span = replay.span();
        let file = replay.get_ref().clone();
        let format = match format_of(&file) {
            Some(format) => format,
            None => {
                return Err(Problem::new(
                    span,
                    format!("cannot tell the format of the recorded traffic `{file}`"),
                    "name a HAR file (`.har` or `.json`) or a JSON-lines file (`.jsonl` or `.ndjson`)",
                ));
            }
        };
        let path = self.folder().join(&file);
        let text = crate::input::read_text(&path, crate::input::TRAFFIC).map_err(|e| {
            Problem::new(
                span.clone(),
                format!(
                    "cannot read the recorded traffic `{file}` ({}): {}",
                    path.display(),
                    io_reason(&e)
                ),
                "the path is relative to the scenario file's folder; check it",
            )
        })?;
        let parsed = match format {
            Format::Har => har(&text),
            Format::JsonLines => json_lines(&text),
        };
        let recorded = parsed.map_err(|e| {
            let message = match &e.origin {
                Some(origin) => format!("{file}, {origin}: {}", e.message),
                None => format!("{file}: {}", e.message),
            };
            Problem::new(span.clone(), message, e.help)
        })?;
        let total = recorded.len();
        let mut kept = Vec::new();
        for request in recorded {
            let target = split_url(&request.url).map_err(|message| {
                Problem::new(
                    span.clone(),
                    format!("{file}, {}: {message}", request.origin),
                    "a recorded URL is absolute (`https://host/path?query`) or a path starting with `/`",
                )
            })?;
            let Some(target) = target else { continue };
            if !filter.admits(&target) {
                continue;
            }
            kept.push((request, target));
        }
        if kept.is_empty() {
            return Err(Problem::new(
                span,
                format!(
                    "no request of `{file}` is left to replay ({total} recorded, none of them an HTTP request that `host` and `include` keep)"
                ),
                "check `host` and `include` against the recorded URLs, or record the traffic again",
            ));
        }
        if kept.len() > filter.max_steps {
            return Err(Problem::new(
                span,
                format!(
                    "`{file}` has {} requests to replay, more than max_steps = {} for flow `{}`",
                    kept.len(),
                    filter.max_steps,
                    f.name.get_ref()
                ),
                "keep the requests that matter with `include = [\"/api/\"]` (path prefixes) or `host`, or raise `max_steps`",
            ));
        }
        let width = kept.len().to_string().len().max(3);
        let mut steps = Vec::new();
        let mut origins = Vec::new();
        for (position, (request, target)) in kept.into_iter().enumerate() {
            let step = raw_step(&request, &target, position + 1, width, filter, &span);
            steps.push(Spanned::new(span.clone(), step));
            origins.push(request.origin);
        }
        Ok(Replayed {
            file,
            span,
            steps,
            origins,
        })
    }
}

impl Filter {
    /// Whether a request to `target` is replayed.
    fn admits(&self, target: &Target) -> bool {
        if let (Some(host), Some(authority)) = (&self.host, &target.authority) {
            let matches = if host.contains(':') && !host.ends_with(']') {
                *host == format!("{}:{}", authority.host, authority.port)
            } else {
                *host == authority.host
            };
            if !matches {
                return false;
            }
        }
        self.include.is_empty()
            || self
                .include
                .iter()
                .any(|p| target.path_and_query.starts_with(p.as_str()))
    }

    /// Whether a recorded header (lower case) is dropped.
    fn drops(&self, name: &str) -> bool {
        name.starts_with(':')
            || ALWAYS_DROPPED.contains(&name)
            || self.excluded.iter().any(|e| e == name)
    }
}

/// The raw step for one kept request: the `position`-th (1-based) of the flow.
fn raw_step(
    request: &Recorded,
    target: &Target,
    position: usize,
    width: usize,
    filter: &Filter,
    span: &Range<usize>,
) -> RawStep {
    let at = |value: String| Spanned::new(span.clone(), value);
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &request.headers {
        let name = name.trim().to_ascii_lowercase();
        if filter.drops(&name) {
            continue;
        }
        match headers.iter_mut().find(|(n, _)| *n == name) {
            // A header recorded twice is sent once, its values joined as HTTP allows.
            Some((_, joined)) => {
                joined.push_str(if name == "cookie" { "; " } else { ", " });
                joined.push_str(value);
            }
            None => headers.push((name, value.clone())),
        }
    }
    let method = request.method.clone();
    let writes = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
    RawStep {
        name: at(step_name(position, width, &method, &target.path_and_query)),
        method: Some(at(method)),
        path: Some(at(literal_unless_template(&target.path_and_query))),
        body: request
            .body
            .as_deref()
            .filter(|b| !b.is_empty())
            .map(|b| at(literal_unless_template(b))),
        headers: Entries(
            headers
                .into_iter()
                .map(|(n, v)| (at(n), at(literal_unless_template(&v))))
                .collect(),
        ),
        expect_status: request
            .status
            .map(|s| vec![Spanned::new(span.clone(), i64::from(s))]),
        extract: Entries::default(),
        check: None,
        command: None,
        dagger: None,
        expect_exit: None,
        // A replayed write must never be sent twice by parity sampling.
        safe: Some(!writes),
        mcp: None,
        tool: None,
        arguments: None,
        uri: None,
        prompt: None,
    }
}

/// `007 POST /api/workflows/execute`: the position, zero-padded to `width`, the method
/// and the path without its query, shortened and with hidden characters shown as `?`
/// (a step name must print as itself).
fn step_name(position: usize, width: usize, method: &str, path_and_query: &str) -> String {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    let visible = |s: &str| -> String {
        s.chars()
            .map(|c| if is_hidden(c) { '?' } else { c })
            .collect()
    };
    let mut shown = visible(path);
    if shown.chars().count() > NAME_PATH_CHARS {
        shown = shown.chars().take(NAME_PATH_CHARS - 1).collect();
        shown.push('…');
    }
    format!("{position:0width$} {} {shown}", visible(method))
}

/// `source` as a template that means what was recorded: a `${NAME}` or
/// `${NAME:-default}` stays a variable and `$${` an escape, as in a written step, but a
/// `${` that is neither (unterminated, or not a name) becomes `$${`, a literal `${`,
/// where a written step would be an error.
pub(crate) fn literal_unless_template(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = 0;
    while let Some(found) = source[rest..].find('$') {
        let dollar = rest + found;
        let after = &source[dollar + 1..];
        if after.starts_with("${") {
            out.push_str(&source[rest..dollar + 3]);
            rest = dollar + 3;
        } else if after.starts_with('{') {
            let open = dollar + 2;
            let close = source[open..].find('}').filter(|length| {
                let inside = &source[open..open + length];
                is_name(inside.split_once(":-").map_or(inside, |(name, _)| name))
            });
            match close {
                Some(length) => {
                    out.push_str(&source[rest..open + length + 1]);
                    rest = open + length + 1;
                }
                None => {
                    out.push_str(&source[rest..dollar]);
                    out.push_str("$${");
                    rest = open;
                }
            }
        } else {
            out.push_str(&source[rest..=dollar]);
            rest = dollar + 1;
        }
    }
    out.push_str(&source[rest..]);
    out
}

/// The format of a traffic file, by its extension.
fn format_of(file: &str) -> Option<Format> {
    let extension = std::path::Path::new(file)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    match extension.as_str() {
        "har" | "json" => Some(Format::Har),
        "jsonl" | "ndjson" => Some(Format::JsonLines),
        _ => None,
    }
}

/// Where a recorded request went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The host and port, for an absolute URL.
    pub authority: Option<Authority>,
    /// The path and query (the fragment dropped), starting with `/`.
    pub path_and_query: String,
}

/// The host (lower case) and port (the scheme's default when the URL has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authority {
    pub host: String,
    pub port: u16,
}

/// Splits a recorded URL: `Ok(None)` for a URL of another scheme than HTTP (`data:`,
/// `blob:`, `ws:`, ...), which is skipped; an error for text that is neither an
/// absolute URL nor a path.
///
/// Done by hand rather than with a URL parser, which would percent-encode the `{` and
/// `}` of a `${name}` in the path.
pub(crate) fn split_url(url: &str) -> Result<Option<Target>, String> {
    let url = url.split_once('#').map_or(url, |(u, _)| u).trim();
    if url.starts_with('/') {
        return Ok(Some(Target {
            authority: None,
            path_and_query: url.to_string(),
        }));
    }
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| is_scheme(s)) else {
        // `data:...`, `about:blank`: a scheme without an authority.
        if url.split_once(':').is_some_and(|(s, _)| is_scheme(s)) {
            return Ok(None);
        }
        return Err(format!(
            "`{url}` is neither an absolute URL nor a path starting with `/`"
        ));
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Ok(None),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, after)) => (format!("[{ip}]"), after.strip_prefix(':')),
            None => return Err(format!("`{url}` has an unclosed `[` in its host")),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (host_port.to_string(), None),
        },
    };
    let port = match port.filter(|p| !p.is_empty()) {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("`{url}` has a port that is not a number"))?,
    };
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let path_and_query = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Ok(Some(Target {
        authority: Some(Authority {
            host: host.to_ascii_lowercase(),
            port,
        }),
        path_and_query,
    }))
}

/// `[A-Za-z][A-Za-z0-9+.-]*`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
}

/// The requests of a HAR 1.2 file, in file order.
pub(crate) fn har(text: &str) -> Result<Vec<Recorded>, TrafficError> {
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        TrafficError::file(
            format!("is not JSON: {e}"),
            "a HAR file is the JSON a browser's network panel or a recording proxy exports (HAR 1.2); fix or export it again",
        )
    })?;
    let entries = value
        .pointer("/log/entries")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            TrafficError::file(
                "is not a HAR file: it has no `log.entries` array",
                "export the traffic as HAR 1.2, or write one request per line in a `.jsonl` file (see README: Replaying recorded traffic)",
            )
        })?;
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| har_entry(i, entry))
        .collect()
}

/// One HAR entry.
fn har_entry(i: usize, entry: &Value) -> Result<Recorded, TrafficError> {
    let origin = format!("entry {} (log.entries[{i}])", i + 1);
    let fail = |message: String| {
        TrafficError::at(
            &origin,
            message,
            "a HAR 1.2 entry has `request` with `method`, `url`, `headers` ([{ name, value }]) and optionally `postData.text`",
        )
    };
    let request = entry
        .get("request")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("has no `request` object".into()))?;
    let method = required_string(request, "method").map_err(|m| fail(format!("`request.{m}")))?;
    let url = required_string(request, "url").map_err(|m| fail(format!("`request.{m}")))?;
    let headers = match request.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut headers = Vec::new();
            for (j, item) in items.iter().enumerate() {
                let name = item.get("name").and_then(Value::as_str);
                let value = item.get("value").and_then(Value::as_str);
                let (Some(name), Some(value)) = (name, value) else {
                    return Err(fail(format!(
                        "`request.headers[{j}]` is not a {{ name, value }} pair of strings"
                    )));
                };
                headers.push((name.to_string(), value.to_string()));
            }
            headers
        }
        Some(_) => return Err(fail("`request.headers` is not an array".into())),
    };
    let body = match request.get("postData") {
        None | Some(Value::Null) => None,
        Some(Value::Object(post)) => match post.get("text") {
            Some(Value::String(text)) => Some(text.clone()),
            None | Some(Value::Null) => form_params(post).map_err(fail)?,
            Some(_) => return Err(fail("`request.postData.text` is not a string".into())),
        },
        Some(_) => return Err(fail("`request.postData` is not an object".into())),
    };
    let status = entry
        .pointer("/response/status")
        .and_then(Value::as_i64)
        .and_then(status_code);
    Ok(Recorded {
        origin,
        method,
        url,
        headers,
        body,
        status,
    })
}

/// `postData.params` without `text` (HAR 1.2 allows either): form-encoded.
fn form_params(post: &Map<String, Value>) -> Result<Option<String>, String> {
    let Some(params) = post.get("params").and_then(Value::as_array) else {
        return Ok(None);
    };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (j, param) in params.iter().enumerate() {
        let Some(name) = param.get("name").and_then(Value::as_str) else {
            return Err(format!(
                "`request.postData.params[{j}]` has no `name` string"
            ));
        };
        let value = param.get("value").and_then(Value::as_str).unwrap_or("");
        form.append_pair(name, value);
    }
    Ok(Some(form.finish()))
}

/// The requests of a JSON-lines file, in file order.
pub(crate) fn json_lines(text: &str) -> Result<Vec<Recorded>, TrafficError> {
    const SHAPE: &str = "each line is one request: {\"method\": \"POST\", \"url\": \"/api/x\", \"headers\": {\"content-type\": \"application/json\"}, \"body\": \"{}\"} (only `url` is required); blank lines and lines starting with `#` are skipped";
    let mut requests = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = if i == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let origin = format!("line {}", i + 1);
        let fail = |message: String| TrafficError::at(&origin, message, SHAPE);
        let value: Value = serde_json::from_str(line).map_err(|e| {
            let full = e.to_string();
            let position = format!(" at line {} column {}", e.line(), e.column());
            let reason = full.strip_suffix(&position).unwrap_or(&full);
            fail(format!("is not JSON: {reason} at column {}", e.column()))
        })?;
        let Value::Object(request) = value else {
            return Err(fail("is not a JSON object".into()));
        };
        let method = match request.get("method") {
            None | Some(Value::Null) => "GET".to_string(),
            Some(Value::String(m)) => m.clone(),
            Some(_) => return Err(fail("`method` is not a string".into())),
        };
        let url = required_string(&request, "url").map_err(|m| fail(format!("`{m}")))?;
        let headers = match request.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => {
                let mut headers = Vec::new();
                for (name, value) in map {
                    let Some(value) = value.as_str() else {
                        return Err(fail(format!(
                            "the value of header `{name}` is not a string"
                        )));
                    };
                    headers.push((name.clone(), value.to_string()));
                }
                headers
            }
            Some(Value::Array(pairs)) => {
                let mut headers = Vec::new();
                for (j, pair) in pairs.iter().enumerate() {
                    match pair.as_array().map(Vec::as_slice) {
                        Some([Value::String(name), Value::String(value)]) => {
                            headers.push((name.clone(), value.clone()));
                        }
                        _ => {
                            return Err(fail(format!(
                                "`headers[{j}]` is not a [name, value] pair of strings"
                            )));
                        }
                    }
                }
                headers
            }
            Some(_) => {
                return Err(fail(
                    "`headers` is neither an object of strings nor an array of [name, value] pairs"
                        .into(),
                ));
            }
        };
        let body = match request.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        };
        let status = match request.get("status") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.is_i64() => n.as_i64().and_then(status_code),
            Some(_) => return Err(fail("`status` is not a whole number".into())),
        };
        requests.push(Recorded {
            origin,
            method,
            url,
            headers,
            body,
            status,
        });
    }
    Ok(requests)
}

/// A string field of `object`, or the end of a message naming it (after a backtick).
fn required_string(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    match object.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(format!("{key}` is missing")),
        Some(_) => Err(format!("{key}` is not a string")),
    }
}

/// A recorded status that is an HTTP status (0, the status of a request that got no
/// answer, and anything else outside 100..=599 sets no expectation).
fn status_code(n: i64) -> Option<u16> {
    u16::try_from(n).ok().filter(|s| (100..=599).contains(s))
}

#[cfg(test)]
mod tests {
    use super::super::interpolate::{Piece, split};
    use super::*;

    /// The text a template without variables sends.
    fn sent(source: &str) -> String {
        split(source)
            .expect("a valid template")
            .into_iter()
            .map(|piece| match piece {
                Piece::Text(text) => text,
                Piece::Name(..) => panic!("no variable expected in {source}"),
            })
            .collect()
    }

    #[test]
    fn text_that_is_no_template_is_sent_as_recorded() {
        for recorded in [
            "costs $5",
            "{\"a\":\"${\"}",
            "${unterminated",
            "${not a name}",
            "${}",
            "$",
            "a$b$$c",
            "${1abc}",
        ] {
            let escaped = literal_unless_template(recorded);
            assert_eq!(sent(&escaped), recorded, "{recorded} became {escaped}");
        }
    }

    #[test]
    fn templates_and_escapes_keep_their_meaning() {
        assert_eq!(literal_unless_template("/t/${task_id}"), "/t/${task_id}");
        assert_eq!(literal_unless_template("${X:-a b}"), "${X:-a b}");
        assert_eq!(literal_unless_template("$${X}"), "$${X}");
        assert_eq!(literal_unless_template("${a b} ${id}"), "$${a b} ${id}");
        let escaped = literal_unless_template("${\" ${id}");
        let pieces = split(&escaped).expect("valid");
        assert!(matches!(pieces.last(), Some(Piece::Name("id", None, _))));
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        let t = split_url("https://API.example.com/api/x?q=1#frag")
            .expect("valid")
            .expect("http");
        assert_eq!(
            t.authority,
            Some(Authority {
                host: "api.example.com".into(),
                port: 443
            })
        );
        assert_eq!(t.path_and_query, "/api/x?q=1");
        let t = split_url("http://user:pw@host:8080?a=b")
            .expect("valid")
            .expect("http");
        assert_eq!(t.authority.expect("absolute").port, 8080);
        assert_eq!(t.path_and_query, "/?a=b");
        let t = split_url("http://[::1]:9000/p")
            .expect("valid")
            .expect("http");
        assert_eq!(t.authority.expect("absolute").host, "[::1]");
        let t = split_url("/api/tasks/${id}").expect("valid").expect("path");
        assert_eq!(t.authority, None);
        assert_eq!(t.path_and_query, "/api/tasks/${id}");
        for skipped in ["data:text/plain,hi", "wss://h/socket", "about:blank"] {
            assert_eq!(split_url(skipped), Ok(None), "{skipped}");
        }
        for bad in ["api/x", "http://h:port/x", "https:///x"] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_numbered_short_and_printable() {
        assert_eq!(step_name(7, 3, "POST", "/a?b=c"), "007 POST /a");
        assert_eq!(step_name(12, 4, "GET", "/x\u{1b}y"), "0012 GET /x?y");
        let long = format!("/{}", "a".repeat(100));
        let name = step_name(1, 3, "GET", &long);
        assert_eq!(name.chars().count(), "001 GET ".len() + NAME_PATH_CHARS);
        assert!(name.ends_with('…'));
        assert!(crate::text::check_name(&name).is_ok());
    }

    #[test]
    fn json_lines_accept_both_header_shapes_and_json_bodies() {
        let text = "# recorded\n\n{\"url\":\"/a\"}\n{\"method\":\"POST\",\"url\":\"/b\",\"headers\":[[\"X-A\",\"1\"]],\"body\":{\"k\":[1]},\"status\":201}\n{\"url\":\"/c\",\"headers\":{\"x-b\":\"2\"},\"body\":null,\"ts\":5}\n";
        let requests = json_lines(text).expect("valid");
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].origin, "line 3");
        assert_eq!(requests[1].headers, vec![("X-A".into(), "1".into())]);
        assert_eq!(requests[1].body.as_deref(), Some("{\"k\":[1]}"));
        assert_eq!(requests[1].status, Some(201));
        assert_eq!(requests[2].body, None);
        let e = json_lines("{\"url\":\"/a\"}\n  {\"url\": }\n").expect_err("not JSON");
        assert_eq!(e.origin.as_deref(), Some("line 2"));
        assert!(e.message.contains("at column 11"), "{}", e.message);
        let e = json_lines("[1]\n").expect_err("not an object");
        assert_eq!(e.message, "is not a JSON object");
        let e = json_lines("{\"method\":\"GET\"}\n").expect_err("no url");
        assert_eq!(e.message, "`url` is missing");
        let e = json_lines("{\"url\":\"/\",\"headers\":[[\"a\"]]}").expect_err("bad pair");
        assert!(e.message.contains("headers[0]"), "{}", e.message);
    }

    #[test]
    fn har_entries_are_read_in_file_order() {
        let text = r#"{"log":{"version":"1.2","entries":[
          {"request":{"method":"POST","url":"http://h/f","headers":[],
            "postData":{"mimeType":"application/x-www-form-urlencoded",
                        "params":[{"name":"a b","value":"1&2"},{"name":"c"}]}},
           "response":{"status":0}},
          {"request":{"method":"GET","url":"http://h/g","headers":[{"name":"A","value":"1"}]},
           "response":{"status":304}}
        ]}}"#;
        let requests = har(text).expect("valid");
        assert_eq!(requests[0].body.as_deref(), Some("a+b=1%262&c="));
        assert_eq!(requests[0].status, None);
        assert_eq!(requests[1].status, Some(304));
        assert_eq!(requests[1].origin, "entry 2 (log.entries[1])");
        let e = har("{\"log\":{}}").expect_err("no entries");
        assert!(e.message.contains("`log.entries`"), "{}", e.message);
        let e =
            har("{\"log\":{\"entries\":[{\"request\":{\"url\":\"/\"}}]}}").expect_err("no method");
        assert_eq!(e.origin.as_deref(), Some("entry 1 (log.entries[0])"));
        assert_eq!(e.message, "`request.method` is missing");
        assert!(
            har("not json")
                .expect_err("not JSON")
                .message
                .starts_with("is not JSON")
        );
    }
}
