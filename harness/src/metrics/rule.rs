//! `[[metric]]` rules: a quantity of the system under test judged as a decision row, read
//! from the scraped series of a run (`series`) or from a PromQL query against the team's
//! Prometheus (`query`), normalised per request or per second, and its thresholds.
//!
//! A rule is data only; its value for one run is computed here from the run's
//! [`MetricsRecord`] (pure), and the decision row is built in `compare::metrics::service`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CPU_SERIES, MetricsRecord, RSS_SERIES};
use crate::text::label_value;

/// The name of the default CPU row.
pub const DEFAULT_CPU: &str = "cpu_per_request";
/// The name of the default resident-memory row.
pub const DEFAULT_RSS: &str = "peak_rss";

/// One `[[metric]]` table, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRule {
    /// The row's name (`[a-z0-9_]`), unique in the scenario.
    pub name: String,
    /// Where each run's value comes from.
    pub source: Source,
    /// How the value is normalised.
    #[serde(default)]
    pub per: Per,
    /// Which way is better: a cost (`lower`, the default) or a throughput (`higher`).
    #[serde(default)]
    pub better: Better,
    /// GO needs the candidate/base ratio (of costs; base/candidate when higher is
    /// better) proven at or below this; `None`: the policy's `go_ratio` (which a phase
    /// plan's `go_ratio` replaces: equivalent in phases 1–3, improved in phase 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_ratio: Option<f64>,
    /// A ratio proven beyond this holds the candidate back (ROLLBACK when `critical`,
    /// else NO-GO); `None`: the policy's `rollback_ratio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_ratio: Option<f64>,
    /// Whether a proven regression is a rollback ("resource utilization concerns" made
    /// an automatic trigger) rather than a hold.
    #[serde(default)]
    pub critical: bool,
    /// Values below this (in the rule's normalised unit) count as this: a ratio of two
    /// near-zero costs is noise, not a regression. 0: the smallest positive value seen.
    #[serde(default)]
    pub floor: f64,
    /// The harness observation this service count is checked against, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observes: Option<Observed>,
    /// The relative disagreement tolerated between the service's count and harness's
    /// observation (with at least one event of slack).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Whether the rule is one of the defaults (CPU per request, peak RSS), made because
    /// the paths are scraped, rather than written in the scenario.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

fn default_tolerance() -> f64 {
    0.2
}

/// Where a rule's value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Scraped series of the path's `metrics` endpoints: a selector `name{label="v"}`
    /// (`=`, `!=`, `=~`, `!~`), `{{path}}` and the path's `metric_labels` templated in.
    Series {
        /// The selector as written.
        selector: String,
        /// How each matching series becomes one number; the matches are then summed.
        stat: Stat,
    },
    /// A PromQL query against `prometheus`, evaluated over the run's measured window.
    Query {
        /// The query as written (`{{window}}`, `{{path}}`, the path's `metric_labels`).
        promql: String,
        /// A range query (`/api/v1/query_range`, one point per `step`) reduced by `stat`;
        /// else an instant query at the window's end.
        range: bool,
        /// How a range query's points become one number.
        stat: Stat,
    },
    /// The default CPU row: `process_cpu_seconds_total` increase over every endpoint.
    DefaultCpu,
    /// The default memory row: the highest `process_resident_memory_bytes`, summed over
    /// the endpoints.
    DefaultRss,
}

/// How series or points become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// A counter's increase over the window (the default for counters).
    #[default]
    Increase,
    /// A counter's increase per second.
    Rate,
    /// A gauge's (or a range's) highest value.
    Max,
    /// Its median.
    P50,
    /// Its lowest value.
    Min,
    /// A range's mean.
    Mean,
    /// A range's last point.
    Last,
}

impl Stat {
    /// The name in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            Stat::Increase => "increase",
            Stat::Rate => "rate",
            Stat::Max => "max",
            Stat::P50 => "p50",
            Stat::Min => "min",
            Stat::Mean => "mean",
            Stat::Last => "last",
        }
    }
}

/// How a rule's value is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// As read.
    #[default]
    Run,
    /// Divided by the requests sent in the measured window (shown per 1 000 requests).
    Request,
    /// Divided by the measured window's seconds.
    Second,
}

/// Which way a rule's value is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// A cost: the candidate must not be higher.
    #[default]
    Lower,
    /// A throughput: the candidate must not be lower.
    Higher,
}

/// A harness observation from outside that a service's own count can be checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// Times the circuit breaker opened in the fault windows (seen from outside: maximal
    /// runs of seconds in which requests skipped the dependency).
    BreakerOpenings,
    /// Retries in the fault windows (attempts at the dependency beyond the first per
    /// request, joined by request id).
    Retries,
}

impl Observed {
    /// The name in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            Observed::BreakerOpenings => "breaker_openings",
            Observed::Retries => "retries",
        }
    }
}

impl MetricRule {
    /// The default rules for paths whose metrics are scraped: CPU per request and peak
    /// RSS, judged with the policy's ratios, not critical.
    pub fn defaults() -> Vec<MetricRule> {
        let rule = |name: &str, source: Source, per: Per| MetricRule {
            name: name.to_string(),
            source,
            per,
            better: Better::Lower,
            go_ratio: None,
            rollback_ratio: None,
            critical: false,
            floor: 0.0,
            observes: None,
            tolerance: default_tolerance(),
            default: true,
        };
        vec![
            rule(DEFAULT_CPU, Source::DefaultCpu, Per::Request),
            rule(DEFAULT_RSS, Source::DefaultRss, Per::Run),
        ]
    }

    /// The size of one counted event when the rule's value counts events (a counter's
    /// increase: 1, or 10 ms for CPU seconds, the kernel's accounting tick), so that its
    /// Poisson counting noise is known; `None` for gauges, rates and queries.
    pub fn count_quantum(&self) -> Option<f64> {
        match &self.source {
            Source::DefaultCpu => Some(0.01),
            Source::Series {
                selector,
                stat: Stat::Increase,
            } => {
                let name = selector.split('{').next().unwrap_or_default().trim();
                Some(if name.ends_with("_seconds_total") {
                    0.01
                } else {
                    1.0
                })
            }
            _ => None,
        }
    }

    /// A normalised value of one run back in the unit it was read in (undoing `per`).
    pub fn unnormalised(&self, value: f64, record: &MetricsRecord) -> f64 {
        match self.per {
            Per::Run => value,
            Per::Request => value * record.requests as f64,
            Per::Second => value * record.measured_s,
        }
    }

    /// One run's value, normalised; `Err` says why there is none (never a zero in its
    /// place).
    pub fn value(&self, path: &str, record: Option<&MetricsRecord>) -> Result<f64, String> {
        let Some(record) = record else {
            return Err(
                "the run has no metrics (no `metrics` endpoint or `prometheus` query on its path)"
                    .into(),
            );
        };
        let raw = match &self.source {
            Source::Series { selector, stat } => series_value(record, path, selector, *stat)?,
            Source::Query { .. } => {
                let q = record
                    .queries
                    .iter()
                    .find(|q| q.name == self.name)
                    .ok_or("the query did not run for this run")?;
                match (&q.value, &q.failure) {
                    (Some(v), _) => *v,
                    (None, Some(f)) => return Err(format!("the query failed: {f}")),
                    (None, None) => return Err("the query returned no data".into()),
                }
            }
            Source::DefaultCpu => sum_endpoints(record, |e| {
                e.counters
                    .iter()
                    .filter(|c| c.name == CPU_SERIES)
                    .map(|c| c.delta)
                    .reduce(|a, b| a + b)
            })
            .ok_or_else(|| format!("no endpoint had `{CPU_SERIES}` in the measured window"))?,
            Source::DefaultRss => sum_endpoints(record, |e| e.peak_rss_bytes)
                .ok_or_else(|| format!("no endpoint had `{RSS_SERIES}` in the measured window"))?,
        };
        match self.per {
            Per::Run => Ok(raw),
            Per::Request if record.requests == 0 => {
                Err("no requests were sent in the measured window".into())
            }
            Per::Request => Ok(raw / record.requests as f64),
            Per::Second => match record.window_seconds() {
                Some(s) if s > 0.0 => Ok(raw / s),
                _ => Err("the measured window has no length".into()),
            },
        }
    }
}

fn sum_endpoints(
    record: &MetricsRecord,
    value: impl Fn(&super::EndpointRecord) -> Option<f64>,
) -> Option<f64> {
    record
        .endpoints
        .iter()
        .filter_map(value)
        .reduce(|a, b| a + b)
}

/// The scraped value of `selector` (templated for `path`): matching counters summed by
/// their increase or rate, matching gauges by `stat` each, then summed.
fn series_value(
    record: &MetricsRecord,
    path: &str,
    selector: &str,
    stat: Stat,
) -> Result<f64, String> {
    let labels: BTreeMap<String, String> = record.labels.clone();
    let text = template(selector, path, &labels, None).map_err(|e| e.to_string())?;
    let selector = Selector::parse(&text).map_err(|e| format!("`{text}`: {e}"))?;
    let mut total: Option<f64> = None;
    let mut add = |v: f64| total = Some(total.unwrap_or(0.0) + v);
    for endpoint in &record.endpoints {
        for c in &endpoint.counters {
            if selector.matches(&c.name, &c.labels) {
                match stat {
                    Stat::Rate => add(c.rate_per_s.unwrap_or(0.0)),
                    _ => add(c.delta),
                }
            }
        }
        for g in &endpoint.gauges {
            if selector.matches(&g.name, &g.labels) {
                add(match stat {
                    Stat::Min => g.min,
                    Stat::P50 | Stat::Mean | Stat::Last => g.p50,
                    Stat::Max | Stat::Increase | Stat::Rate => g.max,
                });
            }
        }
    }
    total.ok_or_else(|| format!("no scraped series matched `{text}` in the measured window"))
}

/// A template placeholder without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPlaceholder {
    /// The placeholder's name.
    pub name: String,
    /// The names that have a value.
    pub known: Vec<String>,
}

impl std::fmt::Display for UnknownPlaceholder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{{{{{}}}}}` has no value (known: {})",
            self.name,
            self.known
                .iter()
                .map(|k| format!("{{{{{k}}}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Replaces `{{path}}`, `{{window}}` (when given: a PromQL duration such as `37s`) and
/// `{{<label>}}` of the path's `metric_labels`; `{{selector}}` is every label as
/// `name="value"` joined by commas. Values are PromQL-string escaped.
pub fn template(
    text: &str,
    path: &str,
    labels: &BTreeMap<String, String>,
    window: Option<&str>,
) -> Result<String, UnknownPlaceholder> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = after[..end].trim();
        let value = match name {
            "path" => label_value(path),
            "window" if window.is_some() => window.unwrap_or_default().to_string(),
            "selector" => labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label_value(v)))
                .collect::<Vec<_>>()
                .join(","),
            other => match labels.get(other) {
                Some(v) => label_value(v),
                None => {
                    let mut known = vec!["path".to_string(), "selector".to_string()];
                    if window.is_some() {
                        known.push("window".into());
                    }
                    known.extend(labels.keys().cloned());
                    return Err(UnknownPlaceholder {
                        name: other.to_string(),
                        known,
                    });
                }
            },
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A PromQL-style series selector: a metric name and label matchers.
#[derive(Debug, Clone)]
pub struct Selector {
    name: String,
    matchers: Vec<Matcher>,
}

#[derive(Debug, Clone)]
struct Matcher {
    label: String,
    op: MatchOp,
}

#[derive(Debug, Clone)]
enum MatchOp {
    Equal(String),
    NotEqual(String),
    Regex(regex::Regex),
    NotRegex(regex::Regex),
}

impl Selector {
    /// Parses `name`, `name{}` or `name{a="x", b!="y", c=~"re", d!~"re"}`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let (name, rest) = match text.find('{') {
            Some(i) => (text[..i].trim(), Some(&text[i + 1..])),
            None => (text, None),
        };
        if !super::exposition::is_metric_name(name) {
            return Err(format!(
                "`{name}` is not a metric name (letters, digits, `_` and `:`, not starting with a digit)"
            ));
        }
        let mut matchers = Vec::new();
        if let Some(rest) = rest {
            let Some(body) = rest.trim_end().strip_suffix('}') else {
                return Err("the label matchers are not closed with `}`".into());
            };
            let mut chars = body.trim();
            while !chars.is_empty() {
                let label_end = chars
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(chars.len());
                let label = &chars[..label_end];
                if label.is_empty() || label.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(format!("expected a label name at `{chars}`"));
                }
                let after = chars[label_end..].trim_start();
                let (op, after) = ["!~", "=~", "!=", "="]
                    .iter()
                    .find_map(|op| after.strip_prefix(op).map(|a| (*op, a.trim_start())))
                    .ok_or_else(|| format!("expected `=`, `!=`, `=~` or `!~` after `{label}`"))?;
                let (value, after) = quoted(after)?;
                let anchored = |v: &str| {
                    regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| {
                        let e = e.to_string();
                        let why = e.lines().last().unwrap_or_default().trim().to_string();
                        format!("`{v}` is not a regular expression ({why})")
                    })
                };
                let op = match op {
                    "=" => MatchOp::Equal(value),
                    "!=" => MatchOp::NotEqual(value),
                    "=~" => MatchOp::Regex(anchored(&value)?),
                    _ => MatchOp::NotRegex(anchored(&value)?),
                };
                matchers.push(Matcher {
                    label: label.to_string(),
                    op,
                });
                let after = after.trim_start();
                chars = match after.strip_prefix(',') {
                    Some(a) => a.trim_start(),
                    None if after.is_empty() => after,
                    None => return Err(format!("expected `,` or `}}` at `{after}`")),
                };
            }
        }
        Ok(Selector {
            name: name.to_string(),
            matchers,
        })
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a series matches (a missing label reads as empty, as in PromQL).
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        name == self.name
            && self.matchers.iter().all(|m| {
                let value = labels.get(&m.label).map_or("", String::as_str);
                match &m.op {
                    MatchOp::Equal(v) => value == v,
                    MatchOp::NotEqual(v) => value != v,
                    MatchOp::Regex(r) => r.is_match(value),
                    MatchOp::NotRegex(r) => !r.is_match(value),
                }
            })
    }
}

/// A double-quoted string with `\\`, `\"` and `\n` escapes, and what follows it.
fn quoted(text: &str) -> Result<(String, &str), String> {
    let Some(body) = text.strip_prefix('"') else {
        return Err(format!("expected a double-quoted value at `{text}`"));
    };
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, c)) => value.push(c),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err("a label value is not closed with `\"`".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{CounterRecord, EndpointRecord, GaugeRecord};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn record() -> MetricsRecord {
        let counter = |name: &str, l: &[(&str, &str)], delta: f64| CounterRecord {
            name: name.into(),
            labels: labels(l),
            delta,
            rate_per_s: Some(delta / 10.0),
            resets: 0,
        };
        MetricsRecord {
            requests: 1000,
            endpoints: vec![EndpointRecord {
                endpoint: "reference".into(),
                scrapes: 12,
                failed: 0,
                first_failure: None,
                window_s: Some((0.0, 10.0)),
                missing_series: vec![],
                series_over_cap: 0,
                counters: vec![
                    counter(CPU_SERIES, &[], 2.0),
                    counter("retries_total", &[("path", "dagger")], 30.0),
                    counter("retries_total", &[("path", "legacy")], 0.0),
                    counter("http_total", &[("code", "500")], 4.0),
                    counter("http_total", &[("code", "503")], 6.0),
                    counter("http_total", &[("code", "200")], 990.0),
                ],
                gauges: vec![GaugeRecord {
                    name: "queue".into(),
                    labels: BTreeMap::new(),
                    min: 1.0,
                    p50: 3.0,
                    max: 9.0,
                    samples: 11,
                }],
                cpu_seconds_per_1000_requests: Some(2.0),
                peak_rss_bytes: Some(5e7),
                timelines: vec![],
            }],
            measured_s: 10.0,
            labels: labels(&[("job", "orch")]),
            queries: vec![],
        }
    }

    fn series(selector: &str, stat: Stat, per: Per) -> MetricRule {
        MetricRule {
            source: Source::Series {
                selector: selector.into(),
                stat,
            },
            per,
            ..MetricRule::defaults().remove(0)
        }
    }

    #[test]
    fn selectors_match_like_promql() {
        let r = record();
        let v = |s: &str| series(s, Stat::Increase, Per::Run).value("dagger", Some(&r));
        assert_eq!(v(r#"http_total{code=~"5.."}"#), Ok(10.0));
        assert_eq!(v(r#"http_total{code!~"5..", code!="404"}"#), Ok(990.0));
        assert_eq!(v(r#"retries_total{path="{{path}}"}"#), Ok(30.0));
        assert!(
            v("missing_total")
                .expect_err("an error")
                .contains("no scraped series")
        );
        let per_request = series("http_total", Stat::Increase, Per::Request);
        assert_eq!(per_request.value("x", Some(&r)), Ok(1.0));
        let rate = series(r#"http_total{code="500"}"#, Stat::Rate, Per::Run);
        assert_eq!(rate.value("x", Some(&r)), Ok(0.4));
        assert_eq!(
            series("queue", Stat::P50, Per::Run).value("x", Some(&r)),
            Ok(3.0)
        );
        assert_eq!(
            series("queue", Stat::Max, Per::Second).value("x", Some(&r)),
            Ok(0.9)
        );
    }

    #[test]
    fn defaults_read_cpu_per_request_and_peak_rss() {
        let r = record();
        let d = MetricRule::defaults();
        assert_eq!(d[0].value("x", Some(&r)), Ok(0.002));
        assert_eq!(d[1].value("x", Some(&r)), Ok(5e7));
        assert!(d[0].value("x", None).is_err());
    }

    #[test]
    fn templates_fill_path_labels_and_window_and_refuse_unknown_names() {
        let l = labels(&[("job", "orch \"x\"")]);
        assert_eq!(
            template(
                "rate(x{job=\"{{job}}\",p=\"{{ path }}\"}[{{window}}]) {{selector}}",
                "dagger",
                &l,
                Some("30s")
            )
            .expect("templated"),
            "rate(x{job=\"orch \\\"x\\\"\",p=\"dagger\"}[30s]) job=\"orch \\\"x\\\"\""
        );
        let e = template("{{nope}}", "p", &l, None).expect_err("an error");
        assert_eq!(e.name, "nope");
        assert!(e.to_string().contains("{{job}}"), "{e}");
    }

    #[test]
    fn bad_selectors_say_where() {
        for (text, says) in [
            ("1abc", "not a metric name"),
            ("a{b=\"c\"", "not closed"),
            ("a{b~\"c\"}", "expected `=`"),
            ("a{b=c}", "double-quoted"),
            ("a{b=~\"(\"}", "regular expression"),
            ("a{b=\"c\" d=\"e\"}", "expected `,`"),
        ] {
            let e = Selector::parse(text).expect_err("an error");
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
