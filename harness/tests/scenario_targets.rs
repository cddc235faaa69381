//! A scenario template addresses the team's system through environment variables, with
//! the reference platform standing in when they are unset: `${VAR:-default}`, `base_url`
//! with `target = "reference"` as its fallback, and the target each record keeps so a
//! baseline of one system never silently judges a run of another.

use std::path::Path;

use harness::scenario::{Scenario, Target, parse_str};

const TEMPLATE: &str = r#"
name = "templated"
seed = 1
component = "workflow_engine"

[paths.legacy]
base_url = "${ORCH_URL}"
target = "reference"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false", Authorization = "Bearer ${ORCH_TOKEN:-}" }

[paths.dagger]
base_url = "${ORCH_URL}"
target = "reference"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true", Authorization = "Bearer ${ORCH_TOKEN:-}" }

[load]
model = "open"
rate = 50
duration = "3s"

[[flow]]
name = "wf"
steps = [{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202] }]

[[fault]]
name = "outage"
at = "dependency"
kind = "http_error"
status = 503
start = "1s"
duration = "1s"

[dependency]
listen = "${DEP_PROXY_ADDR}"
upstream = "${DEP_URL}"
"#;

fn parse(env: &[(&str, &str)]) -> Scenario {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    parse_str(TEMPLATE, Path::new("templated.toml"), &|name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn unset_variables_let_the_reference_platform_stand_in_and_say_so() {
    let s = parse(&[]);
    for name in ["legacy", "dagger"] {
        let path = s.path(name).expect("path");
        assert_eq!(path.target, Target::Reference);
        assert_eq!(path.target_identity(), "reference");
        let warnings = s.warnings(name);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("`${ORCH_URL}`") && w.contains("reference platform stands in")),
            "{warnings:?}"
        );
    }
    assert!(
        s.dependency.is_none(),
        "the reference platform is also the dependency's stand-in"
    );
    // An empty value counts as unset, as in a shell.
    let empty = parse(&[("ORCH_URL", "")]);
    assert_eq!(
        empty.path("legacy").expect("path").target,
        Target::Reference
    );
}

#[test]
fn set_variables_address_the_service_and_only_a_digest_of_its_address_is_kept() {
    let s = parse(&[
        ("ORCH_URL", "https://orchestrator.staging.internal:8443/api"),
        ("ORCH_TOKEN", "t0ken"),
        ("DEP_PROXY_ADDR", "127.0.0.1:19100"),
        ("DEP_URL", "http://127.0.0.1:19000"),
    ]);
    let legacy = s.path("legacy").expect("path");
    assert!(
        matches!(legacy.target, Target::Url(_)),
        "{:?}",
        legacy.target
    );
    let identity = legacy.target_identity();
    assert!(identity.starts_with("${ORCH_URL} sha256:"), "{identity}");
    assert!(
        !identity.contains("staging"),
        "the host stays out of records: {identity}"
    );
    assert!(
        s.warnings("legacy").is_empty(),
        "{:?}",
        s.warnings("legacy")
    );
    assert!(s.dependency.is_some());
    let header = legacy
        .headers
        .iter()
        .find(|h| h.name.as_str() == "authorization")
        .expect("auth header");
    assert_eq!(header.value.resolved, "Bearer t0ken");
    // Another service, another identity: a baseline of one never judges the other.
    let other = parse(&[
        ("ORCH_URL", "https://orchestrator.prod.internal:8443/api"),
        ("DEP_PROXY_ADDR", "127.0.0.1:19100"),
        ("DEP_URL", "http://127.0.0.1:19000"),
    ]);
    assert_ne!(
        other.path("legacy").expect("path").target_identity(),
        identity
    );
    // Without a token, the default (empty) applies.
    let header = other
        .path("legacy")
        .expect("path")
        .headers
        .iter()
        .find(|h| h.name.as_str() == "authorization")
        .expect("auth header")
        .value
        .resolved
        .clone();
    assert_eq!(header, "Bearer ");
}
