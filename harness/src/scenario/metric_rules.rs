//! The `[[metric]]` tables (decision rows from the system under test's own metrics),
//! `prometheus` (the server their queries go to) and a path's `metric_labels` (what their
//! templates fill in): their raw form and validation.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::error::Problem;
use super::explain::key_span;
use super::interpolate::interpolate_env;
use super::model::{Interpolated, PathSpec};
use super::raw::RawPath;
use super::validate::Checker;
use crate::metrics::rule::{
    Better, MetricRule, Observed, Per, Selector, Source, Stat, UnknownPlaceholder, template,
};
use crate::units::HumanDuration;

/// At most this many rules: each is a row of every comparison, and a query per run.
const MAX_RULES: usize = 64;

/// `[[metric]]` as typed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetricRule {
    pub name: Spanned<String>,
    pub series: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    pub range: Option<bool>,
    pub stat: Option<Spanned<Stat>>,
    pub per: Option<Per>,
    pub better: Option<Better>,
    pub go_ratio: Option<Spanned<f64>>,
    pub rollback_ratio: Option<Spanned<f64>>,
    pub critical: Option<bool>,
    pub floor: Option<Spanned<f64>>,
    pub observes: Option<Observed>,
    pub tolerance: Option<Spanned<f64>>,
}

/// `prometheus = "${PROM_URL}"`, or a table with the settings (errors point at the
/// whole value).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrometheus {
    pub url: String,
    pub delay: Option<HumanDuration>,
    pub step: Option<HumanDuration>,
    pub authorization: Option<String>,
}

impl<'de> Deserialize<'de> for RawPrometheusValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawPrometheusValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "the server's URL, or a table with `url`, `delay`, `step`, `authorization`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Self::Value, E> {
                Ok(RawPrometheusValue(RawPrometheus {
                    url: url.to_string(),
                    delay: None,
                    step: None,
                    authorization: None,
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                RawPrometheus::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawPrometheusValue)
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// A [`RawPrometheus`] read from a string or a table.
#[derive(Debug)]
pub(crate) struct RawPrometheusValue(pub RawPrometheus);

/// Where the `[[metric]]` queries go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusSpec {
    /// The server's base URL (`${ENV}` resolved; the template is what records show).
    pub url: Interpolated,
    /// How long after a run's end its queries wait, so the server has scraped the
    /// window's last seconds (default 5 s).
    pub delay: Duration,
    /// The resolution of range queries (default 1 s).
    pub step: Duration,
    /// An `Authorization` header value (usually `Bearer ${PROM_TOKEN}`).
    pub authorization: Option<Interpolated>,
}

/// The default wait after a run before its queries.
const DEFAULT_DELAY: Duration = Duration::from_secs(5);

impl Checker<'_> {
    /// A path's `metric_labels`: names as PromQL labels, values `${ENV}`-resolved.
    pub(super) fn metric_labels(
        &self,
        path: &RawPath,
    ) -> Result<BTreeMap<String, String>, Problem> {
        let Some(labels) = &path.metric_labels else {
            return Ok(BTreeMap::new());
        };
        let mut out = BTreeMap::new();
        for (key, value) in &labels.get_ref().0 {
            let name = key.get_ref();
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid || matches!(name.as_str(), "path" | "window" | "selector") {
                return Err(Problem::new(
                    key.span(),
                    format!("`{name}` cannot be a metric label"),
                    "a label name holds letters, digits and `_` and does not start with a digit; `path`, `window` and `selector` are filled in by harness",
                ));
            }
            let resolved =
                interpolate_env(value.get_ref(), self.env).map_err(|e| self.located(value, e))?;
            out.insert(name.clone(), resolved.resolved);
        }
        Ok(out)
    }

    /// `prometheus`, when given.
    pub(super) fn prometheus(
        &self,
        raw: Option<&Spanned<RawPrometheusValue>>,
    ) -> Result<Option<PrometheusSpec>, Problem> {
        let Some(raw) = raw else { return Ok(None) };
        let RawPrometheus {
            url,
            delay,
            step,
            authorization,
        } = &raw.get_ref().0;
        let url = Spanned::new(raw.span(), url.clone());
        let resolved =
            interpolate_env(url.get_ref(), self.env).map_err(|e| self.located(&url, e))?;
        let written = url.get_ref();
        let example = "write the server's base URL, e.g. `prometheus = \"http://127.0.0.1:9090\"` or `\"${PROM_URL}\"`";
        match url::Url::parse(&resolved.resolved) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            Ok(_) => {
                return Err(Problem::new(
                    url.span(),
                    format!("prometheus `{written}` is not an http:// or https:// URL with a host"),
                    example,
                ));
            }
            Err(e) => {
                return Err(Problem::new(
                    url.span(),
                    format!("prometheus `{written}` is not a valid URL ({e})"),
                    example,
                ));
            }
        }
        let step = step.map_or(Duration::from_secs(1), |s| s.0);
        let delay = *delay;
        if step < Duration::from_millis(1) {
            return Err(Problem::new(
                key_span(self.text, &raw.span()),
                "prometheus `step` must be at least 1ms",
                "write the range queries' resolution, e.g. `step = \"1s\"`",
            ));
        }
        let authorization = match authorization {
            Some(a) => {
                let a = Spanned::new(raw.span(), a.clone());
                Some(interpolate_env(a.get_ref(), self.env).map_err(|e| self.located(&a, e))?)
            }
            None => None,
        };
        Ok(Some(PrometheusSpec {
            url: resolved,
            delay: delay.map_or(DEFAULT_DELAY, |d| d.0),
            step,
            authorization,
        }))
    }

    /// The `[[metric]]` rules, each checked against the base and candidate paths (their
    /// templates must resolve, a `series` rule needs scraped paths, a `query` rule needs
    /// `prometheus`).
    pub(super) fn metric_rules(
        &self,
        raw: &[Spanned<RawMetricRule>],
        judged: &[&PathSpec],
        labels: &[BTreeMap<String, String>],
        prometheus: Option<&PrometheusSpec>,
    ) -> Result<Vec<MetricRule>, Problem> {
        if raw.len() > MAX_RULES {
            return Err(Problem::new(
                raw[MAX_RULES].span(),
                format!(
                    "{} [[metric]] tables; at most {MAX_RULES} are judged",
                    raw.len()
                ),
                "keep the metrics the phase decision needs",
            ));
        }
        let mut rules: Vec<MetricRule> = Vec::new();
        for spanned in raw {
            let r = spanned.get_ref();
            let table = key_span(self.text, &spanned.span());
            let name = r.name.get_ref();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(Problem::new(
                    r.name.span(),
                    format!(
                        "metric name `{}` must hold only a-z, 0-9 and `_`",
                        crate::text::printable(name)
                    ),
                    "name the row, e.g. `name = \"cpu_per_request\"`",
                ));
            }
            if rules.iter().any(|x| x.name == *name) {
                return Err(Problem::new(
                    r.name.span(),
                    format!("metric `{name}` is defined twice"),
                    "give each [[metric]] its own name",
                ));
            }
            let stat = r.stat.as_ref().map(|s| *s.get_ref());
            let source = match (&r.series, &r.query) {
                (Some(series), None) => {
                    if r.range.is_some() {
                        return Err(Problem::new(
                            table,
                            format!(
                                "metric `{name}`: `range` applies to a `query`, not to `series`"
                            ),
                            "remove `range`",
                        ));
                    }
                    if let Some(s) = &r.stat
                        && matches!(s.get_ref(), Stat::Mean | Stat::Last)
                    {
                        return Err(Problem::new(
                            s.span(),
                            format!(
                                "metric `{name}`: `stat = \"{}\"` applies to a range query",
                                s.get_ref().name()
                            ),
                            "a scraped counter takes `increase` or `rate`, a gauge `max`, `p50` or `min`",
                        ));
                    }
                    for (path, labels) in judged.iter().zip(labels) {
                        if path.metrics.is_empty() {
                            return Err(Problem::new(
                                series.span(),
                                format!(
                                    "metric `{name}` reads scraped series, but path `{}` names no `metrics` endpoint",
                                    path.name
                                ),
                                "add `metrics = [\"http://…/metrics\"]` to the path, or use a `query` against `prometheus`",
                            ));
                        }
                        let text = template(series.get_ref(), &path.name, labels, None)
                            .map_err(|e| self.placeholder(series, &path.name, &e))?;
                        Selector::parse(&text).map_err(|e| {
                            Problem::new(
                                series.span(),
                                format!(
                                    "metric `{name}`: the series `{text}` (path `{}`): {e}",
                                    path.name
                                ),
                                "write a selector such as `http_requests_total{code=~\"5..\"}`",
                            )
                        })?;
                    }
                    Source::Series {
                        selector: series.get_ref().trim().to_string(),
                        stat: stat.unwrap_or_default(),
                    }
                }
                (None, Some(query)) => {
                    if prometheus.is_none() {
                        return Err(Problem::new(
                            query.span(),
                            format!(
                                "metric `{name}` has a `query` but the scenario names no `prometheus` server"
                            ),
                            "add `prometheus = \"${PROM_URL}\"` at the top of the scenario",
                        ));
                    }
                    if query.get_ref().trim().is_empty() {
                        return Err(Problem::new(
                            query.span(),
                            format!("metric `{name}` has an empty query"),
                            "write a PromQL expression",
                        ));
                    }
                    for (path, labels) in judged.iter().zip(labels) {
                        template(query.get_ref(), &path.name, labels, Some("1s"))
                            .map_err(|e| self.placeholder(query, &path.name, &e))?;
                    }
                    Source::Query {
                        promql: query.get_ref().clone(),
                        range: r.range.unwrap_or(false),
                        stat: stat.unwrap_or(if r.range.unwrap_or(false) {
                            Stat::Max
                        } else {
                            Stat::Last
                        }),
                    }
                }
                (Some(_), Some(q)) => {
                    return Err(Problem::new(
                        q.span(),
                        format!("metric `{name}` has both `series` and `query`"),
                        "keep one: `series` reads the scraped endpoints, `query` asks `prometheus`",
                    ));
                }
                (None, None) => {
                    return Err(Problem::new(
                        table,
                        format!("metric `{name}` has neither `series` nor `query`"),
                        "add `series = \"process_cpu_seconds_total\"` (scraped) or `query = \"…\"` (PromQL)",
                    ));
                }
            };
            let ratio = |v: &Option<Spanned<f64>>, key: &str| -> Result<Option<f64>, Problem> {
                match v {
                    Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 0.0) => {
                        Err(Problem::new(
                            v.span(),
                            format!("metric `{name}`: `{key}` must be a positive number"),
                            "write a ratio, e.g. 1.10 (within 10%)",
                        ))
                    }
                    Some(v) => Ok(Some(*v.get_ref())),
                    None => Ok(None),
                }
            };
            let go_ratio = ratio(&r.go_ratio, "go_ratio")?;
            let rollback_ratio = ratio(&r.rollback_ratio, "rollback_ratio")?;
            if let (Some(g), Some(b)) = (go_ratio, rollback_ratio)
                && b < g
            {
                return Err(Problem::new(
                    r.rollback_ratio
                        .as_ref()
                        .map_or(table.clone(), Spanned::span),
                    format!("metric `{name}`: rollback_ratio {b} is below go_ratio {g}"),
                    "the rollback threshold must be at or above the go margin",
                ));
            }
            let non_negative = |v: &Option<Spanned<f64>>, key: &str, default: f64| match v {
                Some(v) if !(v.get_ref().is_finite() && *v.get_ref() >= 0.0) => Err(Problem::new(
                    v.span(),
                    format!("metric `{name}`: `{key}` must be a number ≥ 0"),
                    "remove it to use the default",
                )),
                Some(v) => Ok(*v.get_ref()),
                None => Ok(default),
            };
            rules.push(MetricRule {
                name: name.clone(),
                source,
                per: r.per.unwrap_or_default(),
                better: r.better.unwrap_or_default(),
                go_ratio,
                rollback_ratio,
                critical: r.critical.unwrap_or(false),
                floor: non_negative(&r.floor, "floor", 0.0)?,
                observes: r.observes,
                tolerance: non_negative(&r.tolerance, "tolerance", 0.2)?,
                default: false,
            });
        }
        Ok(rules)
    }

    fn placeholder(&self, value: &Spanned<String>, path: &str, e: &UnknownPlaceholder) -> Problem {
        Problem::new(
            value.span(),
            format!("for path `{path}`, {e}"),
            format!(
                "add `metric_labels = {{ {} = \"…\" }}` to path `{path}`, or remove the placeholder",
                e.name
            ),
        )
    }
}

/// The series names each `series` rule reads on each path, to keep when a path filters
/// its series with `metrics_series`.
pub(super) fn rule_series(rules: &[MetricRule], path: &PathSpec) -> Vec<String> {
    rules
        .iter()
        .filter_map(|rule| match &rule.source {
            Source::Series { selector, .. } => {
                let text = template(selector, &path.name, &path.metric_labels, None).ok()?;
                Selector::parse(&text).ok().map(|s| s.name().to_string())
            }
            _ => None,
        })
        .collect()
}
