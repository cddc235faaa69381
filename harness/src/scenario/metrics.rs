//! Validation of a path's `metrics` (Prometheus endpoints of the system under test) and
//! `metrics_series` (which of their series to record).

use serde_spanned::Spanned;

use super::error::Problem;
use super::explain::key_span;
use super::interpolate::interpolate_env;
use super::model::{MetricsEndpoint, Target};
use super::raw::RawPath;
use super::validate::Checker;
use crate::metrics::exposition::is_metric_name;

/// At most this many endpoints per path: each is scraped every second.
const MAX_ENDPOINTS: usize = 16;

impl Checker<'_> {
    /// The path's endpoints and series filter (both empty when it names none).
    pub(super) fn path_metrics(
        &self,
        name: &str,
        target: &Target,
        path: &RawPath,
    ) -> Result<(Vec<MetricsEndpoint>, Vec<String>), Problem> {
        let Some(list) = &path.metrics else {
            if let Some(series) = &path.metrics_series {
                return Err(Problem::new(
                    key_span(self.text, &series.span()),
                    format!("path `{name}` has `metrics_series` but no `metrics`"),
                    "name the endpoints to scrape, e.g. `metrics = [\"http://127.0.0.1:9100/metrics\"]`, or remove `metrics_series`",
                ));
            }
            return Ok((Vec::new(), Vec::new()));
        };
        if list.get_ref().is_empty() {
            return Err(Problem::new(
                key_span(self.text, &list.span()),
                format!("path `{name}` has an empty `metrics` list"),
                "name at least one endpoint, e.g. `metrics = [\"${SVC_METRICS_URL}\"]`, or remove the key",
            ));
        }
        if list.get_ref().len() > MAX_ENDPOINTS {
            return Err(Problem::new(
                key_span(self.text, &list.span()),
                format!(
                    "path `{name}` names {} metrics endpoints; at most {MAX_ENDPOINTS} are scraped",
                    list.get_ref().len()
                ),
                "keep the endpoints of the processes the path's requests reach",
            ));
        }
        let mut endpoints: Vec<MetricsEndpoint> = Vec::new();
        for raw in list.get_ref() {
            let endpoint = self.metrics_endpoint(name, target, raw)?;
            if endpoints.contains(&endpoint) {
                return Err(Problem::new(
                    raw.span(),
                    format!("metrics endpoint `{}` is named twice", raw.get_ref()),
                    "name each endpoint once",
                ));
            }
            endpoints.push(endpoint);
        }
        let mut series: Vec<String> = Vec::new();
        if let Some(list) = &path.metrics_series {
            if list.get_ref().is_empty() {
                return Err(Problem::new(
                    key_span(self.text, &list.span()),
                    "`metrics_series` is empty, so nothing would be recorded",
                    "name series, e.g. `metrics_series = [\"process_cpu_seconds_total\"]`, or remove the key to record every series",
                ));
            }
            for raw in list.get_ref() {
                let s = raw.get_ref();
                if !is_metric_name(s) {
                    return Err(Problem::new(
                        raw.span(),
                        format!("`{s}` is not a metric name"),
                        "a metric name starts with a letter, `_` or `:` and holds only letters, digits, `_` and `:` (labels cannot be selected here)",
                    ));
                }
                if series.contains(s) {
                    return Err(Problem::new(
                        raw.span(),
                        format!("series `{s}` is named twice"),
                        "name each series once",
                    ));
                }
                series.push(s.clone());
            }
        }
        Ok((endpoints, series))
    }

    /// `"reference"`, or an `http://`/`https://` URL with a host, `${ENV}` resolved (a
    /// value that resolves to `reference` names the reference platform).
    fn metrics_endpoint(
        &self,
        name: &str,
        target: &Target,
        raw: &Spanned<String>,
    ) -> Result<MetricsEndpoint, Problem> {
        let written = raw.get_ref();
        let value = interpolate_env(written, self.env).map_err(|e| self.located(raw, e))?;
        // `"${ORCH_METRICS_URL:-reference}"`: the service's endpoint when the variable is
        // set, the reference platform's otherwise.
        if value.resolved == "reference" {
            return if target.on_reference() {
                Ok(MetricsEndpoint::Reference)
            } else {
                Err(Problem::new(
                    raw.span(),
                    format!(
                        "metrics endpoint `reference` names the embedded reference platform, but path `{name}` does not run on it"
                    ),
                    "write the service's own endpoint, e.g. \"http://127.0.0.1:9100/metrics\"",
                ))
            };
        }
        let example = "write a full URL, e.g. \"http://127.0.0.1:9100/metrics\", or \"reference\" on a path with `target = \"reference\"`";
        // Messages show the URL as written: the resolved one may hold a secret.
        let bad = |message: String| Err(Problem::new(raw.span(), message, example));
        let url = match url::Url::parse(&value.resolved) {
            Ok(url) => url,
            Err(e) => {
                return bad(format!(
                    "metrics endpoint `{written}` is not a valid URL ({e})"
                ));
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            return bad(format!(
                "metrics endpoint `{written}` has the scheme `{}`; it must start with http:// or https://",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return bad(format!("metrics endpoint `{written}` has no host"));
        }
        if http::Uri::try_from(value.resolved.as_str()).is_err() {
            return bad(format!(
                "metrics endpoint `{written}` cannot be used for HTTP requests"
            ));
        }
        Ok(MetricsEndpoint::Url(value))
    }
}
