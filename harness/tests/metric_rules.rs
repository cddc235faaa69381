//! `[[metric]]`, `prometheus` and `metric_labels` in a scenario: good files parse into
//! the rules the decision judges; every mistake is located with a fix.

use std::path::Path;

use harness::metrics::rule::{Better, Observed, Per, Source, Stat};
use harness::scenario::{Scenario, ScenarioError, parse_str};

fn env(name: &str) -> Option<String> {
    match name {
        "PROM_URL" => Some("http://127.0.0.1:9090".into()),
        "PROM_TOKEN" => Some("s3cret".into()),
        "JOB" => Some("orch-dagger".into()),
        _ => None,
    }
}

const HEAD: &str = r#"name = "demo"
[paths.legacy]
target = "reference"
metrics = ["reference"]
metric_labels = { job = "orch-legacy" }
[paths.dagger]
target = "reference"
metrics = ["reference"]
metric_labels = { job = "${JOB}" }
[load]
model = "open"
rate = 50
duration = "2s"
[[flow]]
name = "get"
steps = [{ name = "health", path = "/healthz" }]
"#;

/// `top` (top-level keys) before the paths, `tail` (`[[metric]]` tables) after the flow:
/// the tail's first line is line 17.
fn parse_with(top: &str, tail: &str) -> Result<Scenario, ScenarioError> {
    parse_str(
        &format!("{top}{HEAD}{tail}"),
        Path::new("scenarios/demo.toml"),
        &env,
    )
}

#[track_caller]
fn error(tail: &str, line: usize, says: &str, help: &str) {
    error_with("", tail, line, says, help);
}

#[track_caller]
fn error_with(top: &str, tail: &str, line: usize, says: &str, help: &str) {
    let e = parse_with(top, tail).expect_err("an error");
    let d = e
        .diagnostic()
        .unwrap_or_else(|| panic!("located: {e}"))
        .clone();
    assert_eq!(d.line, line, "{e}");
    assert!(d.message.contains(says), "{e}");
    assert!(d.help.contains(help), "{e}");
}

#[test]
fn rules_parse_with_their_defaults_and_the_prometheus_table() {
    let s = parse_with(
        "prometheus = { url = \"${PROM_URL}\", delay = \"2s\", step = \"500ms\", authorization = \"Bearer ${PROM_TOKEN}\" }\n",
        r#"[[metric]]
name = "cpu"
query = 'sum(rate(process_cpu_seconds_total{job="{{job}}"}[{{window}}]))'
per = "request"
critical = true

[[metric]]
name = "retries"
series = 'harness_reference_retries_total{path="{{path}}"}'
observes = "retries"

[[metric]]
name = "throughput"
query = 'sum(rate(http_requests_total{ {{selector}} }[1m]))'
range = true
stat = "p50"
better = "higher"
go_ratio = 1.05
rollback_ratio = 1.3
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p = s.prometheus.as_ref().expect("prometheus");
    assert_eq!(p.url.resolved, "http://127.0.0.1:9090");
    assert_eq!(p.url.template, "${PROM_URL}");
    assert_eq!(p.delay.as_millis(), 2000);
    assert_eq!(p.step.as_millis(), 500);
    let rules = &s.policy.metrics;
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].per, Per::Request);
    assert!(rules[0].critical);
    assert!(matches!(
        rules[0].source,
        Source::Query {
            range: false,
            stat: Stat::Last,
            ..
        }
    ));
    assert_eq!(rules[1].observes, Some(Observed::Retries));
    assert!(matches!(
        rules[1].source,
        Source::Series {
            stat: Stat::Increase,
            ..
        }
    ));
    assert_eq!(rules[2].better, Better::Higher);
    assert_eq!(
        (rules[2].go_ratio, rules[2].rollback_ratio),
        (Some(1.05), Some(1.3))
    );
    assert!(matches!(
        rules[2].source,
        Source::Query {
            range: true,
            stat: Stat::P50,
            ..
        }
    ));
    assert_eq!(
        s.path("dagger").expect("dagger").metric_labels["job"],
        "orch-dagger"
    );
    // The token is a secret: the rules as result.json shows them never hold it.
    let shown = serde_json::to_string(&s.policy).expect("json");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn mistakes_are_located_with_the_fix() {
    error(
        "[[metric]]\nname = \"cpu\"\nquery = \"up\"\n",
        19,
        "no `prometheus` server",
        "prometheus = \"${PROM_URL}\"",
    );
    error(
        "[[metric]]\nname = \"x\"\nseries = 'a{job=\"{{nope}}\"}'\n",
        19,
        "`{{nope}}` has no value",
        "metric_labels",
    );
    error(
        "[[metric]]\nname = \"x\"\nseries = 'a{job=~\"(\"}'\n",
        19,
        "regular expression",
        "selector",
    );
    error(
        "[[metric]]\nname = \"x\"\n",
        17,
        "neither `series` nor `query`",
        "series =",
    );
    error(
        "[[metric]]\nname = \"Bad Name\"\nseries = \"a\"\n",
        18,
        "only a-z",
        "cpu_per_request",
    );
    error(
        "[[metric]]\nname = \"x\"\nseries = \"a\"\n[[metric]]\nname = \"x\"\nseries = \"b\"\n",
        21,
        "defined twice",
        "own name",
    );
    error(
        "[[metric]]\nname = \"x\"\nseries = \"a\"\ngo_ratio = 1.5\nrollback_ratio = 1.2\n",
        21,
        "below go_ratio",
        "at or above",
    );
    error(
        "[[metric]]\nname = \"x\"\nseries = \"a\"\nstat = \"mean\"\n",
        20,
        "applies to a range query",
        "gauge",
    );
    error_with(
        "prometheus = \"ftp://x\"\n",
        "",
        1,
        "not an http",
        "base URL",
    );
    error(
        "[[metric]]\nname = \"x\"\nseries = \"a\"\nsurprise = 1\n",
        20,
        "unknown key `surprise`",
        "",
    );
}

#[test]
fn a_series_rule_needs_scraped_paths() {
    let text = HEAD.replace("metrics = [\"reference\"]\n", "")
        + "[[metric]]\nname = \"x\"\nseries = \"a\"\n";
    let e = parse_str(&text, Path::new("scenarios/demo.toml"), &env).expect_err("error");
    assert!(e.to_string().contains("names no `metrics` endpoint"), "{e}");
}

#[test]
fn a_filtered_path_keeps_the_series_its_rules_read() {
    let text = HEAD.replace(
        "metrics = [\"reference\"]\nmetric_labels = { job = \"orch-legacy\" }",
        "metrics = [\"reference\"]\nmetrics_series = [\"up\"]\nmetric_labels = { job = \"orch-legacy\" }",
    ) + "[[metric]]\nname = \"x\"\nseries = 'retries_total{path=\"{{path}}\"}'\n";
    let s =
        parse_str(&text, Path::new("scenarios/demo.toml"), &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.path("legacy").expect("legacy").metrics_series,
        vec!["up", "retries_total"]
    );
}

#[test]
fn an_endpoint_variable_falls_back_to_the_reference_platform() {
    let text = HEAD.replace(
        "metrics = [\"reference\"]\nmetric_labels = { job = \"orch-legacy\" }",
        "metrics = [\"${ORCH_METRICS_URL:-reference}\"]",
    );
    let unset =
        parse_str(&text, Path::new("scenarios/demo.toml"), &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        unset.path("legacy").expect("legacy").metrics,
        vec![harness::scenario::MetricsEndpoint::Reference]
    );
    let set = |name: &str| match name {
        "ORCH_METRICS_URL" => Some("http://10.0.0.7:9100/metrics".to_string()),
        other => env(other),
    };
    let s =
        parse_str(&text, Path::new("scenarios/demo.toml"), &set).unwrap_or_else(|e| panic!("{e}"));
    let endpoint = &s.path("legacy").expect("legacy").metrics[0];
    assert_eq!(endpoint.written(), "${ORCH_METRICS_URL:-reference}");
    assert!(
        matches!(endpoint, harness::scenario::MetricsEndpoint::Url(u) if u.resolved == "http://10.0.0.7:9100/metrics")
    );
}
