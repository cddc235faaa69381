//! From the file as typed ([`RawScenario`]) to a validated [`Scenario`]: the second stage.
//!
//! Applies defaults, checks every rule that spans more than one value (model-specific
//! keys, names that must exist or be unique, variables that must be extracted before they
//! are used), resolves `${...}` and reports the first problem at the exact place in the
//! file. The scenario-level keys and `[load]` are checked here, paths in `paths`, flows
//! and steps in `flows`. The scenario hash is filled in by `parse`, once the scenario is
//! complete.

use std::collections::HashMap;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;

use http::HeaderName;
use serde_spanned::Spanned;

use crate::correlation::{REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use crate::policy::Policy;
use crate::toml_diagnostics::{check_name, check_text};
use crate::units::{HumanDuration, Rate};

use super::error::Problem;
use super::explain::key_span;
use super::interpolate::InterpolationError;
use super::model::{LoadModel, LoadSpec, PathKind, Scenario, Stage};
use super::raw::{RawLoad, RawModel, RawScenario};

/// Looks up an environment variable; injectable so that tests need no real environment.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Default seed when the file has none.
const DEFAULT_SEED: u64 = 1;
/// Default per-request timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on requests in flight (open model).
const DEFAULT_MAX_IN_FLIGHT: i64 = 10_000;
/// Largest `max_in_flight`: far beyond what one machine sustains, and safe for semaphores.
const MAX_IN_FLIGHT: i64 = 1_000_000;
/// Largest number of closed-model users.
const MAX_USERS: i64 = 1_000_000;

/// Validates `raw`, read from `text` (the contents of `source`).
pub(crate) fn validate(
    raw: RawScenario,
    text: &str,
    source: &Path,
    env: Env<'_>,
) -> Result<Scenario, Problem> {
    let check = Checker { text, env, source };
    let name = check.file_name(&raw.name, "scenario name", "name = \"workflow-execute\"")?;
    let phases = check.phases(raw.phases.as_deref().unwrap_or_default())?;
    let description = match raw.description {
        Some(d) => {
            check_text(d.get_ref(), d.span(), "the description")?;
            d.into_inner()
        }
        None => String::new(),
    };
    let component = match raw.component {
        Some(c) if c.get_ref().trim().is_empty() => {
            return Err(Problem::new(
                c.span(),
                "component cannot be empty",
                "name the platform component, e.g. `component = \"workflow_engine\"`, or remove the key",
            ));
        }
        Some(c) => {
            check_name(c.get_ref(), c.span(), "component")?;
            Some(c.into_inner())
        }
        None => None,
    };
    let drafts = check.paths(&raw.paths)?;
    let (base, candidate, paths) = check.order_paths(
        drafts,
        raw.base.as_ref(),
        raw.candidate.as_ref(),
        &raw.paths,
    )?;
    let load = check.load(&raw.load)?;
    let kinds: Vec<PathKind> = paths.iter().map(|p| p.target.kind()).collect();
    let flows = check.flows(&raw.flow, &kinds)?;
    let mut policy = match raw.policy {
        None => Policy::default(),
        Some(spanned) => {
            let span = spanned.span();
            let policy = spanned.into_inner();
            if let Err(why) = policy.validate() {
                return Err(Problem::new(
                    span,
                    format!("[policy]: {why}"),
                    "fix the value, or remove the key to use the default (see README: Decisions)",
                ));
            }
            policy
        }
    };
    let dependency_tls = check.dependency_tls(raw.dependency.as_ref())?;
    let (faults, expect, dependency) = super::faults::check_chaos(
        &check,
        raw.fault,
        raw.expect,
        raw.dependency.map(|d| (d, dependency_tls)),
        &paths,
        candidate.as_deref(),
        load.warmup + load.duration,
    )?;
    let parity = match &raw.parity {
        Some(p) => Some(p.get_ref().check()?),
        None => None,
    };
    let prometheus = check.prometheus(raw.prometheus.as_ref())?;
    let mut paths = paths;
    {
        let judged: Vec<&super::PathSpec> = paths
            .iter()
            .filter(|p| p.name == base || Some(&p.name) == candidate.as_ref())
            .collect();
        let labels: Vec<_> = judged.iter().map(|p| p.metric_labels.clone()).collect();
        policy.metrics = check.metric_rules(&raw.metric, &judged, &labels, prometheus.as_ref())?;
    }
    for path in &mut paths {
        if !path.metrics_series.is_empty() {
            for series in super::metric_rules::rule_series(&policy.metrics, path) {
                if !path.metrics_series.contains(&series) {
                    path.metrics_series.push(series);
                }
            }
        }
    }
    Ok(Scenario {
        name,
        description,
        phases,
        component,
        seed: raw.seed.unwrap_or(DEFAULT_SEED),
        source: source.to_path_buf(),
        paths,
        base,
        candidate,
        load,
        flows,
        reference: raw.reference,
        policy,
        faults,
        expect,
        dependency,
        parity,
        prometheus,
        hash: String::new(),
    })
}

/// The validation context: the text (for precise spans) and the environment.
pub(super) struct Checker<'a> {
    /// The file's text, to turn value spans into precise spans.
    pub(super) text: &'a str,
    /// Environment variable lookup.
    pub(super) env: Env<'a>,
    /// The scenario file (relative paths in it are relative to its folder).
    pub(super) source: &'a Path,
}

impl Checker<'_> {
    /// The folder of the scenario file, against which relative host paths resolve.
    pub(super) fn folder(&self) -> std::path::PathBuf {
        match self.source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        }
    }

    /// A name that becomes part of file names: `[a-z0-9][a-z0-9_-]*`, at most 64 characters.
    pub(super) fn file_name(
        &self,
        name: &Spanned<String>,
        what: &str,
        example: &str,
    ) -> Result<String, Problem> {
        let value = name.get_ref();
        let mut chars = value.chars();
        let valid = value.len() <= 64
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if valid {
            return Ok(value.clone());
        }
        Err(Problem::new(
            name.span(),
            format!("{what} `{value}` is not valid"),
            format!(
                "it names files, so use lower-case letters, digits, `-` and `_`, starting with a letter or digit, at most 64 characters, e.g. `{example}`"
            ),
        ))
    }

    /// Migration phases 1..=4, sorted, without repeats.
    fn phases(&self, raw: &[Spanned<i64>]) -> Result<Vec<u8>, Problem> {
        let mut phases = Vec::new();
        for phase in raw {
            let n = self.int(
                phase,
                1..=4,
                "each phase",
                "the migration has phases 1 to 4, e.g. `phases = [1, 2]`",
            )?;
            phases.push(u8::try_from(n).unwrap_or(u8::MAX));
        }
        phases.sort_unstable();
        phases.dedup();
        Ok(phases)
    }

    /// An integer in `range`, or a problem naming `what`.
    pub(super) fn int(
        &self,
        v: &Spanned<i64>,
        range: RangeInclusive<i64>,
        what: &str,
        help: &str,
    ) -> Result<i64, Problem> {
        let n = *v.get_ref();
        if range.contains(&n) {
            return Ok(n);
        }
        let message = if n < *range.start() && *range.start() == 1 {
            format!("{what} must be at least 1, got {n}")
        } else {
            format!(
                "{what} must lie in {}..={}, got {n}",
                range.start(),
                range.end()
            )
        };
        Err(Problem::new(v.span(), message, help))
    }

    /// A rate in events per second.
    fn rate(
        &self,
        v: &Spanned<f64>,
        key: &str,
        what: &str,
        example: &str,
    ) -> Result<Rate, Problem> {
        let x = *v.get_ref();
        Rate::new(x).map_err(|_| {
            let message = if x.is_nan() {
                format!("{key} must be a number, not nan")
            } else if x <= 0.0 {
                format!("{key} must be greater than 0")
            } else if x.is_infinite() {
                format!("{key} must be a finite number")
            } else {
                format!("{key} must be at most {} per second", Rate::MAX)
            };
            Problem::new(
                v.span(),
                message,
                format!("set a positive number of {what} per second, e.g. `{key} = {example}`"),
            )
        })
    }

    /// A duration that must be greater than zero.
    fn positive(
        &self,
        v: &Spanned<HumanDuration>,
        key: &str,
        help: &str,
    ) -> Result<Duration, Problem> {
        let d = v.get_ref().get();
        if d.is_zero() {
            return Err(Problem::new(
                v.span(),
                format!("{key} must be greater than 0"),
                help,
            ));
        }
        Ok(d)
    }

    /// The span of `inner` (a byte range in `value`'s string) in the file, as precisely
    /// as the way the string was written allows.
    pub(super) fn within(&self, value: &Spanned<String>, inner: &Range<usize>) -> Range<usize> {
        let span = value.span();
        match content_offset(self.text, &span, value.get_ref()) {
            Some(offset) => span.start + offset + inner.start..span.start + offset + inner.end,
            None => span,
        }
    }

    /// A problem inside a string value, located in the file.
    pub(super) fn located(&self, value: &Spanned<String>, e: InterpolationError) -> Problem {
        Problem::new(self.within(value, &e.range), e.message, e.help)
    }

    /// A valid, lower-cased header name, not set twice and not reserved.
    pub(super) fn header_name(
        &self,
        key: &Spanned<String>,
        seen: &mut HashMap<HeaderName, ()>,
    ) -> Result<HeaderName, Problem> {
        let name = HeaderName::from_bytes(key.get_ref().as_bytes()).map_err(|_| {
            Problem::new(
                key.span(),
                format!("`{}` is not a valid header name", key.get_ref()),
                "header names hold letters, digits and `-` (no spaces or `:`), e.g. \"X-Feature-Flag\"",
            )
        })?;
        if name.as_str() == REQUEST_ID_HEADER || name.as_str() == TRACEPARENT_HEADER {
            return Err(Problem::new(
                key.span(),
                format!("header `{name}` is set by the harness"),
                "remove it: the harness sets it on every request (with the request id) so the fault proxy can join attempts to requests",
            ));
        }
        if seen.insert(name.clone(), ()).is_some() {
            return Err(Problem::new(
                key.span(),
                format!("header `{name}` is set twice (header names ignore case)"),
                "keep one of the two",
            ));
        }
        Ok(name)
    }

    /// `[load]`: the model with its own keys, then what both models share.
    fn load(&self, raw: &Spanned<RawLoad>) -> Result<LoadSpec, Problem> {
        let l = raw.get_ref();
        let (model, max_in_flight) = match l.model.get_ref() {
            RawModel::Open => self.open_model(l, raw.span())?,
            RawModel::Closed => self.closed_model(l, raw.span())?,
        };
        let duration = self.positive(
            &l.duration,
            "duration",
            "set how long to measure, e.g. `duration = \"5s\"`",
        )?;
        let warmup = l
            .warmup
            .as_ref()
            .map_or(Duration::ZERO, |w| w.get_ref().get());
        let repetitions = match &l.repetitions {
            Some(r) => self.int(
                r,
                1..=1000,
                "repetitions",
                "run each path 1 to 1000 times, e.g. `repetitions = 5`",
            )?,
            None => 1,
        };
        let timeout = match &l.timeout {
            Some(t) => self.positive(
                t,
                "timeout",
                "set the per-request timeout, e.g. `timeout = \"2s\"`",
            )?,
            None => DEFAULT_TIMEOUT,
        };
        Ok(LoadSpec {
            model,
            duration,
            warmup,
            repetitions: u32::try_from(repetitions).unwrap_or(1),
            timeout,
            max_in_flight: usize::try_from(max_in_flight).unwrap_or(usize::MAX),
        })
    }

    /// The open model and its `max_in_flight`; `table` is the span of `[load]`.
    fn open_model(&self, l: &RawLoad, table: Range<usize>) -> Result<(LoadModel, i64), Problem> {
        self.other_model(&l.users, "users", "closed")?;
        self.other_model(&l.think_time, "think_time", "closed")?;
        self.other_model(&l.ramp_up_rate, "ramp_up_rate", "closed")?;
        let Some(rate) = &l.rate else {
            return Err(Problem::new(
                table,
                "the open model needs `rate`",
                "add `rate = 200` (arrivals per second) to [load]",
            ));
        };
        let rate = self.rate(rate, "rate", "arrivals", "200")?;
        let mut stages = Vec::new();
        for stage in l
            .stages
            .as_ref()
            .map(|s| s.get_ref().as_slice())
            .unwrap_or_default()
        {
            let s = stage.get_ref();
            stages.push(Stage {
                rate: self.rate(&s.rate, "rate", "arrivals", "400")?,
                over: self.positive(
                    &s.over,
                    "over",
                    "a stage ramps over some time, e.g. `{ rate = 400, over = \"10s\" }`; for a sudden change use a short ramp such as `over = \"1ms\"`",
                )?,
            });
        }
        let spacing = l.spacing.as_ref().map(|s| *s.get_ref()).unwrap_or_default();
        let max_in_flight = match &l.max_in_flight {
            Some(m) => self.int(
                m,
                1..=MAX_IN_FLIGHT,
                "max_in_flight",
                "cap the requests in flight at a positive number, e.g. `max_in_flight = 10000`",
            )?,
            None => DEFAULT_MAX_IN_FLIGHT,
        };
        Ok((
            LoadModel::Open {
                rate,
                stages,
                spacing,
            },
            max_in_flight,
        ))
    }

    /// The closed model and its `max_in_flight` (the users); `table` is the span of `[load]`.
    fn closed_model(&self, l: &RawLoad, table: Range<usize>) -> Result<(LoadModel, i64), Problem> {
        self.other_model(&l.rate, "rate", "open")?;
        self.other_model(&l.stages, "stages", "open")?;
        self.other_model(&l.spacing, "spacing", "open")?;
        self.other_model(&l.max_in_flight, "max_in_flight", "open")?;
        let Some(users) = &l.users else {
            return Err(Problem::new(
                table,
                "the closed model needs `users`",
                "add `users = 10` (concurrent users) to [load]",
            ));
        };
        let users = self.int(
            users,
            1..=MAX_USERS,
            "users",
            "set how many users loop over the flows, e.g. `users = 10`",
        )?;
        let think_time = l
            .think_time
            .as_ref()
            .map_or(Duration::ZERO, |t| t.get_ref().get());
        let ramp_up_rate = match &l.ramp_up_rate {
            Some(r) => Some(self.rate(r, "ramp_up_rate", "users started", "5")?),
            None => None,
        };
        let model = LoadModel::Closed {
            users: u32::try_from(users).unwrap_or(u32::MAX),
            think_time,
            ramp_up_rate,
        };
        // A closed model never has more requests in flight than users.
        Ok((model, users))
    }

    /// Refuses a key that belongs to the other load model.
    fn other_model<T>(
        &self,
        v: &Option<Spanned<T>>,
        key: &str,
        model: &str,
    ) -> Result<(), Problem> {
        let Some(v) = v else { return Ok(()) };
        let this = if model == "open" { "closed" } else { "open" };
        Err(Problem::new(
            key_span(self.text, &v.span()),
            format!("{key} applies to the {model} model, but this [load] has model = \"{this}\""),
            format!("remove it or set model = \"{model}\""),
        ))
    }
}

/// Where the characters of `value` start inside the TOML token at `span`, when the token
/// is a bare key or a string without escapes (so that offsets in the value are offsets
/// in the file); `None` otherwise.
fn content_offset(text: &str, span: &Range<usize>, value: &str) -> Option<usize> {
    let token = text.get(span.clone())?;
    if token == value {
        return Some(0);
    }
    for delimiter in ["\"\"\"", "'''", "\"", "'"] {
        let Some(inner) = token
            .strip_prefix(delimiter)
            .and_then(|t| t.strip_suffix(delimiter))
        else {
            continue;
        };
        if inner == value {
            return Some(delimiter.len());
        }
        if delimiter.len() == 3 {
            // A multi-line string drops a line break right after its opening delimiter.
            for newline in ["\n", "\r\n"] {
                if inner.strip_prefix(newline) == Some(value) {
                    return Some(delimiter.len() + newline.len());
                }
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_offsets_point_inside_strings() {
        let text = r#"a = "x${y}" b = 'lit' c = "esc\n" d = """
multi""""#;
        let at = |needle: &str| {
            let start = text.find(needle).expect("token");
            start..start + needle.len()
        };
        assert_eq!(content_offset(text, &at("\"x${y}\""), "x${y}"), Some(1));
        assert_eq!(content_offset(text, &at("'lit'"), "lit"), Some(1));
        assert_eq!(content_offset(text, &at("\"esc\\n\""), "esc\n"), None);
        assert_eq!(
            content_offset(text, &at("\"\"\"\nmulti\"\"\""), "multi"),
            Some(4)
        );
        assert_eq!(content_offset(text, &(0..1), "a"), Some(0));
        assert_eq!(content_offset(text, &(500..600), "a"), None);
    }
}
