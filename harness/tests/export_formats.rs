//! The Grafana dashboard against what the exporter really writes: a short live compare
//! and a gate from its saved result, both with `--export-openmetrics`; every series a
//! panel or a template variable queries must be one they exported, with the labels the
//! query selects and groups by.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{harness, harness_in};
use harness::metrics::exposition::Exposition;

/// Both paths on the reference platform with their own metrics scraped: 2 × 1 short run.
const SCENARIO: &str = r#"name = "dashboard-demo"
seed = 9
[paths.legacy]
target = "reference"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false" }
metrics = ["reference"]
[paths.dagger]
target = "reference"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true" }
metrics = ["reference"]
[load]
model = "open"
rate = 80
duration = "1s"
warmup = "200ms"
repetitions = 1
timeout = "1s"
[[flow]]
name = "wf"
steps = [{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202] }]
[reference]
executor_latency = "3ms"
executor_jitter = "0ms"
"#;

const PLAN: &str = r#"
baselines = "baselines"
[[phase]]
number = 2
name = "Core"
scenarios = ["scenarios/dashboard-demo.toml"]
rollback_action = "Switch back"
"#;

/// Series name → every label name its samples carry, from an OpenMetrics file.
fn series(file: &Path, into: &mut BTreeMap<String, BTreeSet<String>>) {
    let text = std::fs::read_to_string(file).expect("the export was written");
    for sample in Exposition::parse(&text).expect("it parses").samples {
        into.entry(sample.name)
            .or_default()
            .extend(sample.labels.into_iter().map(|(k, _)| k));
    }
}

/// Every query of the dashboard: panel targets (rows' panels too) and variables.
fn queries(dashboard: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut panels: Vec<&serde_json::Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(panel) = panels.pop() {
        panels.extend(panel["panels"].as_array().into_iter().flatten());
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(target["expr"].as_str().expect("an expr").to_string());
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if variable["type"] == "query" {
            out.push(
                variable["definition"]
                    .as_str()
                    .expect("a query")
                    .to_string(),
            );
        }
    }
    out
}

#[test]
fn every_dashboard_query_names_series_and_labels_the_exporter_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("scenarios")).expect("mkdir");
    let scenario = root.join("scenarios/dashboard-demo.toml");
    std::fs::write(&scenario, SCENARIO).expect("write");
    let compared = root.join("compare.prom");
    let assert = harness()
        .args(["compare", "--quiet", "--out"])
        .arg(root.join("saved/dashboard-demo"))
        .arg(&scenario)
        .arg("--export-openmetrics")
        .arg(&compared)
        .assert();
    assert!(matches!(assert.get_output().status.code(), Some(0 | 3 | 5)));
    std::fs::create_dir_all(root.join("ci")).expect("mkdir");
    std::fs::write(root.join("ci/phases.toml"), PLAN).expect("plan");
    let gated = root.join("gate.prom");
    let assert = harness_in(root)
        .args([
            "gate", "--phase", "2", "--quiet", "--from", "saved", "--out", "gate",
        ])
        .arg("--export-openmetrics")
        .arg(&gated)
        .assert();
    assert!(matches!(
        assert.get_output().status.code(),
        Some(0 | 3 | 4 | 5)
    ));
    let mut exported = BTreeMap::new();
    series(&compared, &mut exported);
    series(&gated, &mut exported);
    assert!(exported["harness_gate_verdict_code"].contains("phase"));

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/grafana/harness-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("the dashboard"))
            .expect("JSON");
    assert_eq!(dashboard["schemaVersion"], 39);
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("datasource")["query"], "prometheus");
    assert_eq!(
        variable("scenario")["definition"],
        "label_values(harness_verdict_code, scenario)"
    );
    assert_eq!(
        variable("phase")["definition"],
        "label_values(harness_verdict_code, phase)"
    );

    let name = regex::Regex::new(r"harness_[a-zA-Z0-9_]+").expect("regex");
    let selector = regex::Regex::new(r"(harness_[a-zA-Z0-9_]+)\{([^}]*)\}").expect("regex");
    let matcher =
        regex::Regex::new(r#"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*""#).expect("regex");
    let grouping = regex::Regex::new(r"by \(([^)]*)\)").expect("regex");
    let label_values =
        regex::Regex::new(r"label_values\((harness_[a-zA-Z0-9_]+), *([a-z_]+)\)").expect("regex");
    let queries = queries(&dashboard);
    assert!(queries.len() >= 10, "{queries:?}");
    for query in &queries {
        let names: Vec<&str> = name.find_iter(query).map(|m| m.as_str()).collect();
        assert!(!names.is_empty(), "{query} queries no harness series");
        for n in &names {
            let skip_service = n.starts_with("harness_service_") && !cfg!(target_os = "linux");
            assert!(
                skip_service || exported.contains_key(*n),
                "{query}: the exporter writes no {n}; it writes {:?}",
                exported.keys()
            );
        }
        let labels_of = |n: &str| exported.get(n).cloned().unwrap_or_default();
        for found in selector.captures_iter(query) {
            let labels = labels_of(&found[1]);
            for part in found[2].split(',') {
                let label = &matcher.captures(part).expect("a label matcher")[1];
                assert!(
                    labels.is_empty() || labels.contains(label),
                    "{query}: {} has no label {label}",
                    &found[1]
                );
            }
        }
        for found in grouping.captures_iter(query) {
            for label in found[1].split(',').map(str::trim) {
                assert!(
                    names.iter().any(|n| labels_of(n).contains(label))
                        || names.iter().all(|n| labels_of(n).is_empty()),
                    "{query}: nothing to group by {label}"
                );
            }
        }
        for found in label_values.captures_iter(query) {
            assert!(labels_of(&found[1]).contains(&found[2]), "{query}");
        }
    }

    // The verdict panels map every code to its verdict's name and colour.
    let timelines: Vec<&serde_json::Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] == "state-timeline")
        .collect();
    assert_eq!(timelines.len(), 2);
    for panel in timelines {
        let options = &panel["fieldConfig"]["defaults"]["mappings"][0]["options"];
        for (code, text, color) in [
            ("0", "GO", "green"),
            ("1", "INCONCLUSIVE", "#808080"),
            ("2", "NO-GO", "orange"),
            ("3", "ROLLBACK", "red"),
        ] {
            assert_eq!(options[code]["text"], text);
            assert_eq!(options[code]["color"], color);
        }
    }
}
