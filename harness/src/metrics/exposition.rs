//! The Prometheus text exposition format (version 0.0.4), and the OpenMetrics text that
//! many exporters send: `# HELP` and `# TYPE` lines, samples with escaped label values,
//! `+Inf`/`-Inf`/`NaN`, optional timestamps, exemplars (ignored) and `# EOF`.
//!
//! A line that cannot be read fails the whole scrape, as it does in Prometheus: a body
//! half understood would record a partial view of the service as if it were whole.

use std::collections::HashMap;
use std::fmt;

/// The type a `# TYPE` line gives a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyType {
    /// Only goes up (resets to zero when the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// `_bucket`, `_sum` and `_count` series (cumulative).
    Histogram,
    /// Quantile series (gauges), `_sum` and `_count` (cumulative).
    Summary,
    /// No type, or one this reader does not treat specially.
    Untyped,
}

impl FamilyType {
    fn parse(word: &str) -> Self {
        match word {
            "counter" => Self::Counter,
            // A gauge histogram's buckets go up and down.
            "gauge" | "gaugehistogram" => Self::Gauge,
            "histogram" => Self::Histogram,
            "summary" => Self::Summary,
            _ => Self::Untyped,
        }
    }
}

/// How a series is summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Delta and rate over the window.
    Counter,
    /// Minimum, median and maximum over the window.
    Gauge,
    /// Not recorded (`_created`: a creation time, not a measurement).
    Skip,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Series name as written (`http_requests_total`, `latency_bucket`).
    pub name: String,
    /// Label pairs, sorted by name, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// A parsed scrape body.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Every sample, in body order.
    pub samples: Vec<Sample>,
    types: HashMap<String, FamilyType>,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Exposition {
    /// Reads a whole body.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut out = Self::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            let fail = |message: String| ParseError {
                line: i + 1,
                message,
            };
            let trimmed = line.trim_start();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(comment) = trimmed.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                match words.next() {
                    Some("EOF") => break,
                    Some("TYPE") => {
                        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                            return Err(fail("a TYPE line needs a metric name and a type".into()));
                        };
                        out.types.insert(name.to_string(), FamilyType::parse(kind));
                    }
                    // HELP, UNIT and free comments carry nothing recorded.
                    _ => {}
                }
                continue;
            }
            out.samples.push(sample(trimmed).map_err(fail)?);
        }
        Ok(out)
    }

    /// How the series `name` is summarised: by its family's `# TYPE`, else by its name
    /// (`_total` is a counter, anything else a gauge).
    pub fn role(&self, name: &str) -> Role {
        // The official clients export a counter's, histogram's or summary's creation time
        // as `<family>_created`, in the 0.0.4 text format under a gauge TYPE of its own.
        // (A counter family may be typed with or without its `_total`.)
        if let Some(family) = name.strip_suffix("_created")
            && [family.to_string(), format!("{family}_total")]
                .iter()
                .any(|f| {
                    matches!(
                        self.types.get(f),
                        Some(FamilyType::Counter | FamilyType::Histogram | FamilyType::Summary)
                    )
                })
        {
            return Role::Skip;
        }
        if let Some(kind) = self.types.get(name) {
            return match kind {
                FamilyType::Counter => Role::Counter,
                FamilyType::Untyped if name.ends_with("_total") => Role::Counter,
                // A summary's quantile series carry the family's own name.
                _ => Role::Gauge,
            };
        }
        for (suffix, cumulative) in [
            ("_total", true),
            ("_bucket", true),
            ("_count", true),
            ("_sum", true),
            ("_created", false),
            ("_gcount", false),
            ("_gsum", false),
        ] {
            let Some(family) = name.strip_suffix(suffix) else {
                continue;
            };
            if suffix == "_created" {
                return Role::Skip;
            }
            match self.types.get(family) {
                Some(FamilyType::Counter | FamilyType::Histogram | FamilyType::Summary)
                    if cumulative =>
                {
                    return Role::Counter;
                }
                Some(_) => return Role::Gauge,
                None => {}
            }
        }
        if name.ends_with("_total") {
            Role::Counter
        } else {
            Role::Gauge
        }
    }
}

/// True for a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// One sample line: `name{labels} value [timestamp] [# exemplar]`.
fn sample(line: &str) -> Result<Sample, String> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..end];
    if !is_metric_name(name) {
        return Err(format!(
            "`{}` does not start with a metric name",
            clip(line)
        ));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.trim_start().strip_prefix('{') {
        rest = label_set(after, &mut labels)?;
    }
    labels.sort();
    if labels.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(format!("`{name}` has a label twice"));
    }
    if !rest.starts_with([' ', '\t']) {
        return Err(format!("`{name}` needs a space before its value"));
    }
    // An OpenMetrics exemplar follows ` # `; it describes one observation, not the series.
    let rest = rest.split(" # ").next().unwrap_or_default();
    let mut words = rest.split_whitespace();
    let Some(value) = words.next() else {
        return Err(format!("`{name}` has no value"));
    };
    let value =
        number(value).ok_or_else(|| format!("`{name}` has the value `{value}`, not a number"))?;
    if let Some(stamp) = words.next()
        && number(stamp).is_none()
    {
        return Err(format!(
            "`{name}` has the timestamp `{stamp}`, not a number"
        ));
    }
    if let Some(extra) = words.next() {
        return Err(format!(
            "`{name}` has `{extra}` after its value and timestamp"
        ));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The pairs of a label set after its `{`; returns the text after the closing `}`.
fn label_set<'a>(mut rest: &'a str, labels: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let key = &rest[..end];
        if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("a label name is expected at `{}`", clip(rest)));
        }
        rest = rest[end..].trim_start();
        let Some(after) = rest.strip_prefix('=') else {
            return Err(format!("label `{key}` has no `=`"));
        };
        let Some(after) = after.trim_start().strip_prefix('"') else {
            return Err(format!("the value of label `{key}` is not quoted"));
        };
        let (value, after) =
            quoted(after).ok_or_else(|| format!("the value of label `{key}` is not closed"))?;
        labels.push((key.to_string(), value));
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!("`,` or `}}` is expected after label `{key}`"));
        }
    }
}

/// A label value up to its closing quote, with `\\`, `\"` and `\n` unescaped.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other @ ('\\' | '"') => value.push(other),
                // The format defines no other escape; keep it as written.
                other => {
                    value.push('\\');
                    value.push(other);
                }
            },
            c => value.push(c),
        }
    }
    None
}

/// A Go-style float: decimal or exponent notation, `+Inf`, `-Inf`, `Inf`, `NaN`.
fn number(word: &str) -> Option<f64> {
    match word {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => {
            // Rust also reads "infinity" and "nan" in other spellings; the format does not.
            let plain = word
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            if plain { word.parse().ok() } else { None }
        }
    }
}

/// The start of a long line, for a message.
fn clip(text: &str) -> String {
    let clipped: String = text.chars().take(60).collect();
    if clipped.len() < text.len() {
        format!("{clipped}...")
    } else {
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"# HELP http_requests_total Requests answered.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{code="400",method="post"}    3   1395066363000

# A free comment.
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.05"} 24054
latency_seconds_bucket{le="+Inf"} 144320
latency_seconds_sum 53423
latency_seconds_count 144320
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
something_weird{problem="division by zero"} +Inf -3982045
nan_gauge NaN
queue_depth 12
jobs_total 5
"#;

    #[test]
    fn reads_the_format_reference_example() {
        let e = Exposition::parse(BODY).expect("parses");
        assert_eq!(e.samples.len(), 14);
        let first = &e.samples[0];
        assert_eq!(first.name, "http_requests_total");
        assert_eq!(
            first.labels,
            vec![
                ("code".to_string(), "200".to_string()),
                ("method".to_string(), "post".to_string())
            ]
        );
        assert_eq!(first.value, 1027.0);
        assert_eq!(e.samples[1].value, 3.0);
        let file = &e.samples[2];
        assert_eq!(
            file.labels,
            vec![
                (
                    "error".to_string(),
                    "Cannot find file:\n\"FILE.TXT\"".to_string()
                ),
                ("path".to_string(), "C:\\DIR\\FILE.TXT".to_string()),
            ]
        );
        assert_eq!(
            e.samples[4].labels,
            vec![("le".to_string(), "+Inf".to_string())]
        );
        assert_eq!(e.samples[4].value, 144_320.0);
        assert_eq!(e.samples[10].value, f64::INFINITY);
        assert!(e.samples[11].value.is_nan());
    }

    #[test]
    fn roles_follow_types_then_names() {
        let e = Exposition::parse(BODY).expect("parses");
        for (name, role) in [
            ("http_requests_total", Role::Counter),
            ("latency_seconds_bucket", Role::Counter),
            ("latency_seconds_sum", Role::Counter),
            ("latency_seconds_count", Role::Counter),
            ("rpc_duration_seconds", Role::Gauge),
            ("rpc_duration_seconds_count", Role::Counter),
            ("queue_depth", Role::Gauge),
            ("jobs_total", Role::Counter),
            ("jobs_created", Role::Skip),
        ] {
            assert_eq!(e.role(name), role, "{name}");
        }
    }

    #[test]
    fn creation_times_typed_as_gauges_are_skipped() {
        // As the Python client writes the 0.0.4 format.
        let body = "# TYPE demo_requests_total counter\ndemo_requests_total 3.0\n# TYPE demo_requests_created gauge\ndemo_requests_created 1.7e9\n# TYPE lat histogram\nlat_count 1\n# TYPE lat_created gauge\nlat_created 1.7e9\n# TYPE up_created gauge\nup_created 1\n";
        let e = Exposition::parse(body).expect("parses");
        assert_eq!(e.role("demo_requests_total"), Role::Counter);
        assert_eq!(e.role("demo_requests_created"), Role::Skip);
        assert_eq!(e.role("lat_created"), Role::Skip);
        // A gauge that merely ends so, with no such family, stays a gauge.
        assert_eq!(e.role("up_created"), Role::Gauge);
    }

    #[test]
    fn openmetrics_counters_exemplars_and_eof() {
        let body = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total{a=\"b\",} 17.5 # {trace_id=\"x\"} 1.0 1.5\nfoo_created 1.7e9\n# EOF\nnot read at all {{{\n";
        let e = Exposition::parse(body).expect("parses");
        assert_eq!(e.samples.len(), 2);
        assert_eq!(e.samples[0].value, 17.5);
        assert_eq!(e.role("foo_total"), Role::Counter);
        assert_eq!(e.role("foo_created"), Role::Skip);
    }

    #[test]
    fn a_malformed_line_fails_the_scrape_with_its_number() {
        for (body, line, words) in [
            ("ok 1\nbad{a=\"x} 2\n", 2, "not closed"),
            ("ok 1\n\nbad{a=x} 2\n", 3, "not quoted"),
            ("bad 12abc\n", 1, "not a number"),
            ("bad{a=\"1\",a=\"2\"} 1\n", 1, "label twice"),
            ("{a=\"1\"} 1\n", 1, "metric name"),
            ("bad\n", 1, "space before its value"),
            ("bad 1 2 3\n", 1, "after its value"),
            ("bad infinity\n", 1, "not a number"),
            ("# TYPE lonely\n", 1, "TYPE line"),
        ] {
            let e = Exposition::parse(body).expect_err(body);
            assert_eq!(e.line, line, "{body}");
            assert!(e.message.contains(words), "{body}: {e}");
        }
    }

    #[test]
    fn metric_names() {
        assert!(is_metric_name("process_cpu_seconds_total"));
        assert!(is_metric_name("job:rate:5m"));
        assert!(!is_metric_name("9lives"));
        assert!(!is_metric_name("with-dash"));
        assert!(!is_metric_name(""));
    }
}
