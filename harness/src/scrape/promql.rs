//! `[[metric]]` queries against the team's Prometheus (its HTTP API: `/api/v1/query` and
//! `/api/v1/query_range`), evaluated over one run's measured window, as Argo Rollouts'
//! and Kayenta's Prometheus providers do.
//!
//! A query must answer one number: a scalar, or a vector (range: a matrix) of exactly one
//! series; several series are refused with the fix (aggregate them), no series is "no
//! data" — never a zero.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use http::{HeaderMap, Method, Uri};

use crate::kinds::http::{HttpClient, OutgoingRequest};
use crate::metrics::QueryRecord;
use crate::metrics::rule::{MetricRule, Source, Stat, template};
use crate::outcome::OutcomeClass;

/// How long one query may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A Prometheus server's HTTP API.
#[derive(Debug, Clone)]
pub struct Prometheus {
    /// The server's base URL, without a trailing `/` (may hold a secret: never recorded).
    base: String,
    client: HttpClient,
    authorization: Option<HeaderValue>,
}

/// A run's measured window in wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// When the measured window started (the warmup's end).
    pub start: SystemTime,
    /// When the run ended.
    pub end: SystemTime,
}

impl Window {
    /// The window as a PromQL duration in whole seconds, at least 1 s: `37s`.
    pub fn promql_duration(&self) -> String {
        let seconds = self
            .end
            .duration_since(self.start)
            .unwrap_or_default()
            .as_secs_f64()
            .round()
            .max(1.0);
        format!("{seconds:.0}s")
    }
}

impl Prometheus {
    /// The API at `base` (`http://prom:9090`, or with a path prefix), with an optional
    /// `Authorization` header value.
    pub fn new(base: &str, client: HttpClient, authorization: Option<HeaderValue>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            client,
            authorization,
        }
    }

    /// Every query rule of `rules` for one run of path `path` (its `metric_labels` in
    /// `labels`) over `window`, with points every `step` for range queries.
    pub async fn run_queries(
        &self,
        rules: &[MetricRule],
        path: &str,
        labels: &BTreeMap<String, String>,
        window: Window,
        step: Duration,
    ) -> Vec<QueryRecord> {
        let mut out = Vec::new();
        for rule in rules {
            let Source::Query {
                promql,
                range,
                stat,
            } = &rule.source
            else {
                continue;
            };
            let duration = window.promql_duration();
            let text = match template(promql, path, labels, Some(&duration)) {
                Ok(text) => text,
                Err(e) => {
                    out.push(failed(&rule.name, promql, e.to_string()));
                    continue;
                }
            };
            let answer = if *range {
                self.range(&text, window, step, *stat).await
            } else {
                self.instant(&text, window.end).await.map(|v| (v, 1))
            };
            out.push(match answer {
                Ok((value, points)) => QueryRecord {
                    name: rule.name.clone(),
                    promql: text,
                    value: Some(value),
                    points,
                    failure: None,
                },
                Err(why) => failed(&rule.name, &text, why),
            });
        }
        out
    }

    /// An instant query at `at`: its one value.
    pub async fn instant(&self, query: &str, at: SystemTime) -> Result<f64, String> {
        let data = self
            .get("query", &[("query", query), ("time", &unix(at))])
            .await?;
        one_value(&data)
    }

    /// A range query over `window` every `step`, its points reduced by `stat`: the value
    /// and how many points it came from.
    pub async fn range(
        &self,
        query: &str,
        window: Window,
        step: Duration,
        stat: Stat,
    ) -> Result<(f64, u64), String> {
        let step = format!("{}", step.as_secs_f64().max(0.001));
        let data = self
            .get(
                "query_range",
                &[
                    ("query", query),
                    ("start", &unix(window.start)),
                    ("end", &unix(window.end)),
                    ("step", &step),
                ],
            )
            .await?;
        let points = one_series_points(&data)?;
        let value = reduce(&points, stat).ok_or("the range holds no points")?;
        Ok((value, points.len() as u64))
    }

    /// `GET /api/v1/<endpoint>?<params>`: the answer's `data` on `"status": "success"`.
    async fn get(
        &self,
        endpoint: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value, String> {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let uri: Uri = format!("{}/api/v1/{endpoint}?{query}", self.base)
            .parse()
            .map_err(|_| "the Prometheus URL cannot be used for HTTP requests".to_string())?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(value) = &self.authorization {
            headers.insert(AUTHORIZATION, value.clone());
        }
        let request = OutgoingRequest {
            method: Method::GET,
            uri,
            headers,
            body: Bytes::new(),
            request_id: 0,
            keep_body: true,
            keep_headers: None::<Arc<[http::HeaderName]>>,
        };
        let answer = self.client.send(request, QUERY_TIMEOUT).await;
        if let Some(class) = answer.failure {
            return Err(match class {
                OutcomeClass::Timeout => "Prometheus did not answer within 10 s".to_string(),
                OutcomeClass::Connect => {
                    "Prometheus refused the connection or is unreachable".into()
                }
                OutcomeClass::Tls => "the TLS handshake with Prometheus failed".into(),
                other => format!("transport failure ({})", other.as_str()),
            });
        }
        let body: serde_json::Value = serde_json::from_slice(&answer.body).map_err(|_| {
            format!(
                "Prometheus answered HTTP {} with a body that is not JSON",
                answer.status.unwrap_or(0)
            )
        })?;
        if body.get("status").and_then(|s| s.as_str()) != Some("success") {
            let kind = body.get("errorType").and_then(|s| s.as_str()).unwrap_or("");
            let error = body
                .get("error")
                .and_then(|s| s.as_str())
                .unwrap_or("no error message");
            return Err(format!(
                "Prometheus refused the query (HTTP {}, {kind}): {}",
                answer.status.unwrap_or(0),
                crate::text::printable(&truncate(error, 300))
            ));
        }
        body.get("data")
            .cloned()
            .ok_or_else(|| "Prometheus answered without `data`".to_string())
    }
}

fn failed(name: &str, promql: &str, why: String) -> QueryRecord {
    QueryRecord {
        name: name.to_string(),
        promql: promql.to_string(),
        value: None,
        points: 0,
        failure: Some(why),
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Seconds since the epoch with millisecond precision, as the API takes them.
fn unix(at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// A `[timestamp, "value"]` pair's value.
fn sample_value(pair: &serde_json::Value) -> Result<f64, String> {
    let text = pair
        .get(1)
        .and_then(|v| v.as_str())
        .ok_or("a sample is not `[time, \"value\"]`")?;
    let value: f64 = text
        .parse()
        .map_err(|_| format!("a sample value `{text}` is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!(
            "the query answered {text} (a division by zero or an empty range?)"
        ))
    }
}

/// The single value of an instant query's `data`.
fn one_value(data: &serde_json::Value) -> Result<f64, String> {
    let kind = data
        .get("resultType")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    let result = data.get("result").ok_or("the answer has no `result`")?;
    match kind {
        "scalar" => sample_value(result),
        "vector" => {
            let series = result.as_array().ok_or("`result` is not a list")?;
            match series.as_slice() {
                [] => Err("no data: the query matched no series in the window".into()),
                [one] => sample_value(one.get("value").ok_or("a series has no `value`")?),
                many => Err(several(many.len())),
            }
        }
        other => Err(format!(
            "the query answered a {other}; an instant query must answer a scalar or one series"
        )),
    }
}

fn several(n: usize) -> String {
    format!("the query answered {n} series; aggregate them into one, e.g. `sum(...)`")
}

/// The points of a range query's single series.
fn one_series_points(data: &serde_json::Value) -> Result<Vec<f64>, String> {
    let series = data
        .get("result")
        .and_then(|r| r.as_array())
        .ok_or("the answer has no `result` list")?;
    let one = match series.as_slice() {
        [] => return Err("no data: the query matched no series in the window".into()),
        [one] => one,
        many => return Err(several(many.len())),
    };
    one.get("values")
        .and_then(|v| v.as_array())
        .ok_or("a series has no `values`")?
        .iter()
        .filter_map(|pair| sample_value(pair).ok())
        .map(Ok)
        .collect()
}

/// Points reduced by `stat` (`increase`/`rate` read as the last point: the query itself
/// computes them).
fn reduce(points: &[f64], stat: Stat) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let mut sorted = points.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(match stat {
        Stat::Max => sorted[sorted.len() - 1],
        Stat::Min => sorted[0],
        Stat::P50 => sorted[(sorted.len() - 1) / 2],
        Stat::Mean => points.iter().sum::<f64>() / points.len() as f64,
        Stat::Last | Stat::Increase | Stat::Rate => points[points.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instant_answers_one_number_or_say_why_not() {
        let vector = |result: serde_json::Value| json!({"resultType": "vector", "result": result});
        assert_eq!(
            one_value(&vector(json!([{"metric": {}, "value": [1.0, "2.5"]}]))),
            Ok(2.5)
        );
        assert_eq!(
            one_value(&json!({"resultType": "scalar", "result": [1.0, "7"]})),
            Ok(7.0)
        );
        assert!(
            one_value(&vector(json!([])))
                .expect_err("an error")
                .contains("no data")
        );
        let two = vector(json!([{"value": [1, "1"]}, {"value": [1, "2"]}]));
        assert!(one_value(&two).expect_err("an error").contains("sum("));
        let nan = vector(json!([{"value": [1, "NaN"]}]));
        assert!(one_value(&nan).expect_err("an error").contains("NaN"));
    }

    #[test]
    fn ranges_reduce_by_their_stat() {
        let data = json!({"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1, "3"], [2, "1"], [3, "2"], [4, "10"]]}
        ]});
        let points = one_series_points(&data).expect("ok");
        assert_eq!(reduce(&points, Stat::Max), Some(10.0));
        assert_eq!(reduce(&points, Stat::Min), Some(1.0));
        assert_eq!(reduce(&points, Stat::P50), Some(2.0));
        assert_eq!(reduce(&points, Stat::Mean), Some(4.0));
        assert_eq!(reduce(&points, Stat::Last), Some(10.0));
    }

    #[test]
    fn windows_are_whole_promql_seconds() {
        let start = UNIX_EPOCH + Duration::from_secs(100);
        let w = Window {
            start,
            end: start + Duration::from_millis(29_600),
        };
        assert_eq!(w.promql_duration(), "30s");
        assert_eq!(unix(start + Duration::from_millis(5)), "100.005");
    }
}
