//! Scenario files: every kind of mistake is reported at the right line and column with a
//! message and a help line; good files parse into the expected plan; nothing panics.

use std::path::Path;
use std::time::Duration;

use harness::scenario::{
    Diagnostic, LoadModel, Part, Scenario, ScenarioError, Spacing, Target, load, parse_str,
};
use proptest::prelude::*;

/// The environment the tests see: no real variables leak in.
fn env(name: &str) -> Option<String> {
    match name {
        "API_TOKEN" => Some("s3cret".into()),
        "OTHER_TOKEN" => Some("0ther".into()),
        "DEP_PORT" => Some("9100".into()),
        "DEP_URL" => Some("http://127.0.0.1:9000".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    parse_str(text, Path::new("scenarios/demo.toml"), &env)
}

fn valid(text: &str) -> Scenario {
    match parse(text) {
        Ok(s) => s,
        Err(e) => panic!("expected a valid scenario, got:\n{e}"),
    }
}

/// Parses `text`, expects a located error and checks where it is and what it says.
#[track_caller]
fn assert_invalid(text: &str, line: usize, column: usize, message: &str, help: &str) -> Diagnostic {
    let err = match parse(text) {
        Ok(s) => panic!("expected an error, got a valid scenario `{}`", s.name),
        Err(e) => e,
    };
    let rendered = err.to_string();
    let d = err
        .diagnostic()
        .unwrap_or_else(|| panic!("expected a located error, got:\n{rendered}"))
        .clone();
    assert_eq!(
        (d.line, d.column),
        (line, column),
        "wrong place:\n{rendered}"
    );
    assert!(
        d.message.contains(message),
        "message lacks {message:?}:\n{rendered}"
    );
    assert!(d.help.contains(help), "help lacks {help:?}:\n{rendered}");
    assert_eq!(d.file, Path::new("scenarios/demo.toml"));
    assert!(
        rendered.starts_with(&format!("error: scenarios/demo.toml:{line}:{column}: ")),
        "{rendered}"
    );
    d
}

/// A small valid open-model scenario; lines 1..=10, used as the base of bad inputs.
const SMALL: &str = r#"name = "demo"
[paths.legacy]
target = "reference"
[load]
model = "open"
rate = 200
duration = "5s"
[[flow]]
name = "f"
steps = [{ name = "s", path = "/" }]
"#;

/// `SMALL` with one exact piece of text replaced.
fn small_with(from: &str, to: &str) -> String {
    assert!(SMALL.contains(from), "{from:?} is not in SMALL");
    SMALL.replacen(from, to, 1)
}

#[test]
fn the_small_scenario_is_valid() {
    let s = valid(SMALL);
    assert_eq!(s.name, "demo");
}

#[test]
fn unknown_key_suggests_the_near_one() {
    let d = assert_invalid(
        &small_with("rate = 200", "ratee = 200"),
        6,
        1,
        "unknown key `ratee`",
        "did you mean `rate`?",
    );
    assert_eq!(d.width, 5);
    assert_eq!(d.source_line, "ratee = 200");
}

#[test]
fn unknown_key_without_a_near_one_lists_the_keys() {
    assert_invalid(
        &small_with("model = \"open\"", "model = \"open\"\nbananas = 1"),
        6,
        1,
        "unknown key `bananas`",
        "`rate`",
    );
}

#[test]
fn wrong_type_names_the_key_and_the_expected_type() {
    assert_invalid(
        &small_with("rate = 200", "rate = \"fast\""),
        6,
        8,
        "`rate` must be a number",
        "`rate = 200`",
    );
}

#[test]
fn negative_rate() {
    let d = assert_invalid(
        &small_with("rate = 200", "rate = -5"),
        6,
        8,
        "rate must be greater than 0",
        "arrivals per second",
    );
    assert_eq!(d.width, 2);
    let rendered = ScenarioError::Invalid(Box::new(d)).to_string();
    assert!(
        rendered.contains("\n6 | rate = -5\n  |        ^^\n  = help: "),
        "{rendered}"
    );
}

#[test]
fn zero_rate() {
    assert_invalid(
        &small_with("rate = 200", "rate = 0"),
        6,
        8,
        "rate must be greater than 0",
        "e.g. `rate = 200`",
    );
}

#[test]
fn zero_duration() {
    assert_invalid(
        &small_with("duration = \"5s\"", "duration = \"0s\""),
        7,
        12,
        "duration must be greater than 0",
        "duration = \"5s\"",
    );
}

#[test]
fn bad_duration_string() {
    assert_invalid(
        &small_with("\"5s\"", "\"5 parsecs\""),
        7,
        12,
        "`5 parsecs` is not a duration",
        "duration = \"5s\"",
    );
}

#[test]
fn bare_number_duration() {
    assert_invalid(
        &small_with("\"5s\"", "5"),
        7,
        12,
        "has no unit",
        "duration = \"5s\"",
    );
}

#[test]
fn missing_load_table() {
    let text = "name = \"demo\"\n[paths.legacy]\ntarget = \"reference\"\n[[flow]]\nname = \"f\"\nsteps = [{ name = \"s\", path = \"/\" }]\n";
    assert_invalid(
        text,
        1,
        1,
        "missing [load] table",
        "[load]\nmodel = \"open\"",
    );
}

#[test]
fn missing_paths() {
    let text = SMALL.replacen("[paths.legacy]\ntarget = \"reference\"\n", "", 1);
    assert_invalid(&text, 1, 1, "at least one path", "[paths.legacy]");
}

#[test]
fn empty_paths_table() {
    let text = small_with("[paths.legacy]\ntarget = \"reference\"", "paths = {}");
    assert_invalid(&text, 2, 9, "at least one path", "[paths.legacy]");
}

#[test]
fn both_target_and_base_url() {
    let text = small_with(
        "target = \"reference\"",
        "target = \"reference\"\nbase_url = \"http://127.0.0.1:8080\"",
    );
    assert_invalid(
        &text,
        4,
        1,
        "both `target` and `base_url`",
        "keep exactly one",
    );
}

#[test]
fn neither_target_nor_base_url() {
    let text = small_with("target = \"reference\"", "headers = { A = \"b\" }");
    assert_invalid(
        &text,
        2,
        1,
        "neither `target` nor `base_url`",
        "target = \"reference\"",
    );
}

#[test]
fn unresolved_env_var_in_a_path_header() {
    let text = small_with(
        "target = \"reference\"",
        "target = \"reference\"\nheaders = { Authorization = \"Bearer ${MISSING_TOKEN}\" }",
    );
    let d = assert_invalid(
        &text,
        4,
        37,
        "environment variable `MISSING_TOKEN` is not set",
        "export MISSING_TOKEN",
    );
    assert_eq!(d.width, "${MISSING_TOKEN}".len());
}

#[test]
fn a_flow_variable_is_not_available_in_path_headers() {
    let text = small_with(
        "target = \"reference\"",
        "target = \"reference\"\nheaders = { X-Task = \"${task_id}\" }",
    );
    assert_invalid(
        &text,
        4,
        23,
        "environment variable `task_id` is not set",
        "only environment variables",
    );
}

#[test]
fn undefined_variable_in_a_step() {
    let text = small_with("path = \"/\"", "path = \"/api/tasks/${task_id}\"");
    assert_invalid(
        &text,
        10,
        43,
        "undefined variable `task_id`: no earlier step of flow `f` extracts it and no environment variable `task_id` is set",
        "add `extract = { task_id = \"/pointer\" }` to an earlier step or export task_id",
    );
}

#[test]
fn variable_used_before_the_step_that_extracts_it() {
    let text = r#"name = "demo"
[paths.legacy]
target = "reference"
[load]
model = "open"
rate = 200
duration = "5s"
[[flow]]
name = "f"
steps = [
  { name = "status", path = "/api/tasks/${task_id}" },
  { name = "execute", method = "POST", path = "/api/workflows/execute", extract = { task_id = "/task_id" } },
]
"#;
    assert_invalid(
        text,
        11,
        41,
        "variable `task_id` is used before it is extracted: step `execute` extracts it after step `status`",
        "move step `execute` before step `status`",
    );
}

#[test]
fn a_step_cannot_use_what_it_extracts_itself() {
    let text = small_with(
        r#"path = "/" }"#,
        r#"path = "/${id}", extract = { id = "/id" } }"#,
    );
    assert_invalid(
        &text,
        10,
        33,
        "extracted from this same step's answer",
        "later step",
    );
}

#[test]
fn unterminated_interpolation() {
    let text = small_with("path = \"/\"", "path = \"/x/${oops\"");
    assert_invalid(&text, 10, 35, "unterminated `${`", "$${");
}

#[test]
fn duplicate_step_names() {
    let text = small_with(
        r#"steps = [{ name = "s", path = "/" }]"#,
        "steps = [\n  { name = \"s\", path = \"/\" },\n  { name = \"s\", path = \"/b\" },\n]",
    );
    assert_invalid(
        &text,
        12,
        12,
        "step name `s` is used twice in flow `f`",
        "the first is on line 11",
    );
}

#[test]
fn duplicate_flow_names() {
    let text =
        format!("{SMALL}[[flow]]\nname = \"f\"\nsteps = [{{ name = \"t\", path = \"/\" }}]\n");
    assert_invalid(
        &text,
        12,
        8,
        "flow name `f` is used twice",
        "the first is on line 9",
    );
}

#[test]
fn invalid_url() {
    let text = small_with(
        "target = \"reference\"",
        "base_url = \"http//127.0.0.1:8080\"",
    );
    assert_invalid(
        &text,
        3,
        12,
        "base_url `http//127.0.0.1:8080` is not a valid URL",
        "http://127.0.0.1:8080",
    );
}

#[test]
fn url_without_http_scheme() {
    let text = small_with("target = \"reference\"", "base_url = \"localhost:8080\"");
    assert_invalid(&text, 3, 12, "scheme `localhost`", "http://127.0.0.1:8080");
}

#[test]
fn a_tls_table_on_a_plain_http_path_is_refused_at_its_key() {
    let text = small_with(
        "target = \"reference\"",
        "target = \"reference\"\ntls = { insecure_skip_verify = true }",
    );
    assert_invalid(
        &text,
        4,
        1,
        "path `legacy` has `tls`, but its requests are plain HTTP",
        "the reference platform speaks plain HTTP",
    );
}

#[test]
fn probability_outside_zero_to_one() {
    let text = format!("{SMALL}[reference]\nexecutor_error_rate = 1.5\n");
    assert_invalid(
        &text,
        12,
        23,
        "a probability must lie between 0 and 1, got 1.5",
        "executor_error_rate = 0.3",
    );
}

#[test]
fn cpu_per_call_beyond_one_second() {
    for key in ["dagger_cpu_per_call", "legacy_cpu_per_call"] {
        let text = format!("{SMALL}[reference]\n{key} = \"2s\"\n");
        assert_invalid(
            &text,
            12,
            23,
            &format!("[reference] {key} must be at most 1s, got 2s"),
            &format!("`{key} = \"2ms\"`"),
        );
    }
    let text = format!("{SMALL}[reference]\ndagger_cpu_per_call = 2\n");
    assert_invalid(
        &text,
        12,
        23,
        "a bare number (2) has no unit",
        "dagger_cpu_per_call = \"2ms\"",
    );
    let s = valid(&format!(
        "{SMALL}[reference]\ndagger_cpu_per_call = \"1s\"\nlegacy_cpu_per_call = \"0s\"\n"
    ));
    assert_eq!(
        s.reference.dagger_cpu_per_call.get(),
        Duration::from_secs(1)
    );
}

#[test]
fn unknown_reference_key() {
    let text = format!("{SMALL}[reference]\nexecutor_latncy = \"5ms\"\n");
    assert_invalid(
        &text,
        12,
        1,
        "unknown key `executor_latncy`",
        "did you mean `executor_latency`?",
    );
}

#[test]
fn expect_status_out_of_range() {
    let text = small_with(
        r#"path = "/" }"#,
        r#"path = "/", expect_status = [200, 700] }"#,
    );
    assert_invalid(
        &text,
        10,
        58,
        "a status code must lie in 100..=599, got 700",
        "expect_status = [200, 202]",
    );
}

#[test]
fn users_in_the_open_model() {
    let text = small_with("rate = 200", "rate = 200\nusers = 10");
    assert_invalid(
        &text,
        7,
        1,
        "users applies to the closed model",
        "remove it or set model = \"closed\"",
    );
}

#[test]
fn rate_in_the_closed_model() {
    let text = small_with("model = \"open\"", "model = \"closed\"\nusers = 3");
    assert_invalid(
        &text,
        7,
        1,
        "rate applies to the open model",
        "set model = \"open\"",
    );
}

#[test]
fn missing_rate_in_the_open_model() {
    let text = small_with("rate = 200\n", "");
    assert_invalid(&text, 4, 1, "the open model needs `rate`", "rate = 200");
}

#[test]
fn missing_users_in_the_closed_model() {
    let text = small_with("model = \"open\"\nrate = 200", "model = \"closed\"");
    assert_invalid(&text, 4, 1, "the closed model needs `users`", "users = 10");
}

#[test]
fn zero_users() {
    let text = small_with(
        "model = \"open\"\nrate = 200",
        "model = \"closed\"\nusers = 0",
    );
    assert_invalid(&text, 6, 9, "users must be at least 1, got 0", "users = 10");
}

#[test]
fn missing_model() {
    let text = small_with("model = \"open\"\n", "");
    assert_invalid(&text, 4, 1, "missing `model`", "model = \"open\"");
}

#[test]
fn misspelt_spacing_value() {
    let text = small_with("rate = 200", "rate = 200\nspacing = \"poison\"");
    assert_invalid(
        &text,
        7,
        11,
        "unknown value `poison` for `spacing`",
        "did you mean `poisson`?",
    );
}

#[test]
fn zero_length_stage() {
    let text = small_with(
        "rate = 200",
        "rate = 200\nstages = [{ rate = 400, over = \"0s\" }]",
    );
    assert_invalid(
        &text,
        7,
        32,
        "over must be greater than 0",
        "over = \"10s\"",
    );
}

#[test]
fn bad_json_pointer() {
    let text = small_with(
        r#"path = "/" }"#,
        r#"path = "/", extract = { task_id = "task_id" } }"#,
    );
    assert_invalid(
        &text,
        10,
        58,
        "`task_id` is not a JSON pointer",
        "starts with `/`",
    );
}

#[test]
fn base_naming_a_missing_path() {
    let text = format!("base = \"legasy\"\n{SMALL}");
    assert_invalid(
        &text,
        1,
        8,
        "base `legasy` names no path",
        "did you mean `legacy`?",
    );
}

#[test]
fn default_base_missing() {
    let text = small_with(
        "[paths.legacy]\ntarget = \"reference\"",
        "[paths.old]\ntarget = \"reference\"\n[paths.new]\ntarget = \"reference\"",
    );
    assert_invalid(
        &text,
        2,
        2,
        "there is no path `legacy`, the default base",
        "base = \"...\"",
    );
}

#[test]
fn a_single_path_is_the_base_without_saying_so() {
    let s = valid(&small_with("[paths.legacy]", "[paths.old]"));
    assert_eq!(s.base, "old");
    assert_eq!(s.candidate, None);
}

#[test]
fn candidate_equal_to_base() {
    let text = format!("candidate = \"legacy\"\n{SMALL}");
    assert_invalid(
        &text,
        1,
        13,
        "candidate `legacy` is the base path too",
        "another path",
    );
}

#[test]
fn invalid_header_name() {
    let text = small_with(
        r#"path = "/" }"#,
        r#"path = "/", headers = { "X Bad" = "1" } }"#,
    );
    assert_invalid(
        &text,
        10,
        48,
        "`X Bad` is not a valid header name",
        "letters, digits and `-`",
    );
}

#[test]
fn header_set_twice_in_different_case() {
    let text = small_with(
        "target = \"reference\"",
        "target = \"reference\"\nheaders = { A = \"1\", a = \"2\" }",
    );
    assert_invalid(&text, 4, 22, "header `a` is set twice", "keep one");
}

#[test]
fn lower_case_method() {
    let text = small_with(r#"path = "/" }"#, r#"path = "/", method = "post" }"#);
    assert_invalid(
        &text,
        10,
        45,
        "`post` is not an HTTP method",
        "method = \"POST\"",
    );
}

#[test]
fn path_without_leading_slash() {
    let text = small_with("path = \"/\"", "path = \"api\"");
    assert_invalid(
        &text,
        10,
        31,
        "path `api` must start with `/`",
        "/api/tasks",
    );
}

#[test]
fn invalid_scenario_name() {
    let text = small_with("name = \"demo\"", "name = \"My Demo\"");
    assert_invalid(
        &text,
        1,
        8,
        "scenario name `My Demo` is not valid",
        "lower-case letters",
    );
}

#[test]
fn flow_without_steps() {
    let text = small_with(r#"steps = [{ name = "s", path = "/" }]"#, "steps = []");
    assert_invalid(&text, 10, 9, "flow `f` has no steps", "at least one step");
}

#[test]
fn missing_step_path() {
    let text = small_with(r#", path = "/""#, "");
    assert_invalid(
        &text,
        10,
        10,
        "step `s` has no `path`, which the scenario's http path(s) need",
        "path = \"/api/workflows/execute\"",
    );
}

#[test]
fn duplicate_toml_key() {
    let text = small_with("rate = 200", "rate = 200\nrate = 300");
    assert_invalid(&text, 7, 1, "duplicate key `rate`", "only once");
}

#[test]
fn toml_syntax_error() {
    let text = small_with("model = \"open\"", "model = open");
    assert_invalid(
        &text,
        5,
        9,
        "string values must be quoted",
        "strings need quotes",
    );
}

#[test]
fn a_fault_of_an_unknown_kind_is_refused() {
    let text = format!("{SMALL}[[fault]]\nkind = \"reset\"\n");
    let err = parse(&text).expect_err("`reset` is not a fault kind");
    let d = err.diagnostic().expect("located").clone();
    assert_eq!(d.line, 12, "{err}");
    assert!(err.to_string().contains("reset"), "{err}");
}

#[test]
fn a_fault_probability_outside_0_1_is_refused_at_its_value() {
    let text =
        format!("{SMALL}[[fault]]\nkind = \"http_error\"\nstatus = 503\nprobability = 1.5\n");
    let err = parse(&text).expect_err("probability 1.5");
    let d = err.diagnostic().expect("located").clone();
    assert_eq!(d.line, 14, "{err}");
    assert!(err.to_string().contains("probability"), "{err}");
}

#[test]
fn faults_and_expectations_parse_and_faults_change_the_hash() {
    let chaos = format!(
        "{SMALL}[[fault]]\nname = \"outage\"\nkind = \"http_error\"\nstatus = 503\nstart = \"2s\"\nduration = \"2s\"\n[expect]\npaths = [\"legacy\"]\ncritical = [\"circuit_opens_within\"]\ncircuit_opens_within = \"1s\"\n"
    );
    let s = valid(&chaos);
    assert_eq!(s.faults.len(), 1);
    assert_eq!(s.faults[0].label(), "outage");
    assert!(s.expect.circuit_opens_within.is_some());
    assert_ne!(
        s.hash,
        valid(SMALL).hash,
        "a run under faults measures something else"
    );
    let other_expectation = chaos.replace(
        "circuit_opens_within = \"1s\"",
        "circuit_opens_within = \"2s\"",
    );
    assert_eq!(
        valid(&other_expectation).hash,
        s.hash,
        "expectations judge; they do not change the runs"
    );
}

#[test]
fn a_critical_name_that_is_no_expectation_is_refused() {
    let text = format!("{SMALL}[expect]\ncritical = [\"circuit_open\"]\n");
    let err = parse(&text).expect_err("unknown critical name");
    assert!(err.to_string().contains("circuit_opens_within"), "{err}");
}

/// `SMALL` with the step's inline table given more keys.
fn with_step_keys(keys: &str) -> String {
    small_with(
        "steps = [{ name = \"s\", path = \"/\" }]",
        &format!("steps = [{{ name = \"s\", path = \"/\", {keys} }}]"),
    )
}

#[test]
fn checks_parse_and_change_the_hash() {
    let plain = valid(SMALL);
    let checked = valid(&with_step_keys(
        r#"check = [{ pointer = "/status", equals = "done" }, { pointer = "/n", min = 1, max = 9 }, { header = "content-type", matches = "json" }, { body_contains = "ok", name = "says ok" }], extract = { sid = { header = "Mcp-Session-Id" }, id = { pointer = "/id" } }"#,
    ));
    let step = &checked.flows[0].steps[0];
    let names: Vec<&str> = step.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "/status equals \"done\"",
            "/n within [1, 9]",
            "header content-type matches /json/",
            "says ok"
        ]
    );
    assert_eq!(step.extract[0].source.to_string(), "header:mcp-session-id");
    assert_eq!(step.extract[1].source.to_string(), "/id");
    assert_ne!(plain.hash, checked.hash, "checks decide what is ok");
    // A check's name is for people: renaming it keeps the hash.
    let renamed = valid(&with_step_keys(
        r#"check = [{ pointer = "/status", equals = "done", name = "done" }, { pointer = "/n", min = 1, max = 9 }, { header = "content-type", matches = "json" }, { body_contains = "ok", name = "ok!" }], extract = { sid = { header = "Mcp-Session-Id" }, id = { pointer = "/id" } }"#,
    ));
    assert_eq!(renamed.hash, checked.hash);
}

#[test]
fn bad_checks_are_located_with_the_fix() {
    let cases = [
        (
            r#"check = [{ equals = "x" }]"#,
            "exactly one of `pointer`, `header`, `body_contains`, `schema`",
        ),
        (
            r#"check = [{ pointer = "/a", equals = 1, exists = true }]"#,
            "exactly one test",
        ),
        (
            r#"check = [{ pointer = "status", exists = true }]"#,
            "is not a JSON pointer",
        ),
        (
            r#"check = [{ pointer = "/a", matches = "(" }]"#,
            "is not a regular expression",
        ),
        (
            r#"check = [{ pointer = "/a", min = 5, max = 1 }]"#,
            "min (5) is above max (1)",
        ),
        (
            r#"check = [{ header = "etag", min = 1 }]"#,
            "cannot use `min` or `max`",
        ),
        (
            r#"check = [{ body_contains = "x", exists = true }]"#,
            "takes no test key",
        ),
        (
            r#"check = [{ schema = "no/such.json" }]"#,
            "cannot read the schema",
        ),
        (
            r#"check = [{ pointer = "/a", exsits = true }]"#,
            "unknown key `exsits`",
        ),
        (
            r#"extract = { v = { header = "x", pointer = "/y" } }"#,
            "reads one thing",
        ),
    ];
    for (keys, message) in cases {
        let err = parse(&with_step_keys(keys)).expect_err(keys);
        let text = err.to_string();
        assert!(text.contains(message), "{keys}: {text}");
        assert!(
            text.starts_with("error: scenarios/demo.toml:10:"),
            "{keys}: {text}"
        );
    }
}

#[test]
fn a_schema_check_reads_its_file_next_to_the_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("answer.json"),
        r#"{ "type": "object", "required": ["status"] }"#,
    )
    .expect("schema");
    let text = with_step_keys(r#"check = [{ schema = "answer.json" }]"#);
    let s = parse_str(&text, &dir.path().join("s.toml"), &env).expect("valid");
    assert_eq!(s.flows[0].steps[0].checks[0].name, "schema answer.json");
    std::fs::write(dir.path().join("answer.json"), "{ not json").expect("schema");
    let err = parse_str(&text, &dir.path().join("s.toml"), &env).expect_err("bad schema");
    assert!(err.to_string().contains("is not JSON"), "{err}");
}

#[test]
fn a_dependency_fault_on_a_running_service_needs_a_dependency_table() {
    let text = small_with(
        "target = \"reference\"",
        "base_url = \"http://127.0.0.1:9\"",
    );
    let text = format!("{text}[[fault]]\nkind = \"http_error\"\nstatus = 503\n");
    let err = parse(&text).expect_err("no [dependency]");
    assert!(err.to_string().contains("[dependency]"), "{err}");
    let fixed = format!(
        "{text}[dependency]\nlisten = \"127.0.0.1:9100\"\nupstream = \"http://127.0.0.1:9000\"\n"
    );
    assert!(valid(&fixed).dependency.is_some());
}

/// Ports come from the environment in a team's CI: `${VAR}` works in `[dependency]`,
/// and since the dependency's addresses are not in the scenario hash, another port
/// leaves stored baselines valid.
#[test]
fn dependency_addresses_take_environment_variables_and_keep_the_hash() {
    let text = small_with(
        "target = \"reference\"",
        "base_url = \"http://127.0.0.1:9\"",
    );
    let text = format!("{text}[[fault]]\nkind = \"http_error\"\nstatus = 503\n");
    let templated = format!(
        "{text}[dependency]\nlisten = \"127.0.0.1:${{DEP_PORT}}\"\nupstream = \"${{DEP_URL}}\"\nrequest_id_header = \"X-Correlation-Id\"\n"
    );
    let s = valid(&templated);
    let d = s.dependency.as_ref().expect("dependency");
    assert_eq!(d.listen.to_string(), "127.0.0.1:9100");
    assert_eq!(d.upstream, "http://127.0.0.1:9000");
    assert_eq!(
        d.request_id_header.as_ref().map(http::HeaderName::as_str),
        Some("x-correlation-id")
    );
    let literal = format!(
        "{text}[dependency]\nlisten = \"127.0.0.1:9200\"\nupstream = \"http://127.0.0.1:9001\"\n"
    );
    assert_eq!(valid(&literal).hash, s.hash);
    // A variable that is not set is located at the variable.
    let unset = templated.replace("${DEP_PORT}", "${NO_SUCH_PORT}");
    let line = unset
        .lines()
        .position(|l| l.starts_with("listen"))
        .expect("line")
        + 1;
    assert_invalid(
        &unset,
        line,
        21,
        "environment variable `NO_SUCH_PORT` is not set",
        "export NO_SUCH_PORT",
    );
    // The request-id header cannot be one the harness sets anyway, nor one a path sets.
    let reserved = templated.replace("X-Correlation-Id", "traceparent");
    let err = parse(&reserved).expect_err("reserved");
    assert!(
        err.to_string().contains("cannot be the request_id_header"),
        "{err}"
    );
    let clash = templated.replace(
        "base_url = \"http://127.0.0.1:9\"",
        "base_url = \"http://127.0.0.1:9\"\nheaders = { \"x-correlation-id\" = \"mine\" }",
    );
    let err = parse(&clash).expect_err("clash");
    assert!(
        err.to_string().contains("path `legacy` sets header"),
        "{err}"
    );
}

#[test]
fn the_harness_sets_traceparent_itself() {
    let text = small_with(
        "target = \"reference\"",
        "target = \"reference\"\nheaders = { traceparent = \"00-abc\" }",
    );
    let err = parse(&text).expect_err("reserved header");
    assert!(
        err.to_string()
            .contains("header `traceparent` is set by the harness"),
        "{err}"
    );
}

#[test]
fn http_and_tcp_faults_cannot_share_a_site() {
    let text = format!(
        "{SMALL}[[fault]]\nkind = \"http_error\"\nstatus = 503\n[[fault]]\nkind = \"reset_peer\"\n"
    );
    let err = parse(&text).expect_err("mixed layers");
    assert!(err.to_string().contains("mix HTTP and TCP"), "{err}");
}

#[test]
fn repetitions_out_of_range() {
    let text = small_with("rate = 200", "rate = 200\nrepetitions = 5000");
    assert_invalid(
        &text,
        7,
        15,
        "repetitions must lie in 1..=1000",
        "repetitions = 5",
    );
}

#[test]
fn empty_file() {
    assert_invalid("", 1, 1, "the scenario file is empty", "[load]");
    assert_invalid("\n  \n", 1, 1, "the scenario file is empty", "[[flow]]");
}

#[test]
fn missing_name() {
    assert_invalid(
        "# only a comment\n",
        1,
        1,
        "missing `name`",
        "name = \"demo\"",
    );
}

#[test]
fn unreadable_file_names_the_file() {
    let err = load(Path::new("scenarios/does-not-exist.toml")).expect_err("no such file");
    assert!(matches!(err, ScenarioError::Io { .. }));
    assert_eq!(
        err.to_string(),
        "error: cannot read scenarios/does-not-exist.toml: No such file or directory"
    );
}

#[test]
fn non_utf8_file_is_located() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, b"name = \"d\xffemo\"\n").expect("write");
    let err = load(&file).expect_err("not UTF-8");
    let d = err.diagnostic().expect("located");
    assert_eq!((d.line, d.column), (1, 10));
    assert!(d.message.contains("not valid UTF-8"));
}

/// A full open-model scenario, exercising every key.
const FULL_OPEN: &str = r#"name = "workflow-execute"
description = "Execute a workflow through the orchestration API"
phases = [2, 1, 2]
component = "workflow_engine"
seed = 42

[paths.zeta]
target = "reference"

[paths.dagger]
base_url = "http://127.0.0.1:8080/prefix"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "true", "Authorization" = "Bearer ${API_TOKEN}" }

[paths.legacy]
target = "reference"
headers = { "X-Feature-USE_DAGGER_WORKFLOW_ENGINE" = "false", "Authorization" = "Bearer ${API_TOKEN}" }

[load]
model = "open"
rate = 200
stages = [{ rate = 400, over = "10s" }]
spacing = "poisson"
duration = "5s"
warmup = "1s"
repetitions = 5
timeout = "2s"
max_in_flight = 500

[[flow]]
name = "execute-and-poll"
weight = 3
steps = [
  { name = "execute", method = "POST", path = "/api/workflows/execute",
    body = '{"workflow":"build-and-test","token":"${API_TOKEN}"}', headers = { "Content-Type" = "application/json" },
    expect_status = [200, 202], extract = { task_id = "/task_id", state = "/state" } },
  { name = "status", path = "/api/tasks/${task_id}?state=${state}&cost=$${literal}", expect_status = [200],
    headers = { "X-Trace" = "${task_id}-${OTHER_TOKEN}" } },
]

[[flow]]
name = "health"

[[flow.steps]]
name = "healthz"
path = "/healthz"

[reference]
executor_error_rate = 0.1
"#;

#[test]
fn full_open_model_scenario_parses_into_the_plan() {
    let s = valid(FULL_OPEN);
    assert_eq!(s.name, "workflow-execute");
    assert_eq!(s.phases, vec![1, 2]);
    assert_eq!(s.component.as_deref(), Some("workflow_engine"));
    assert_eq!(s.seed, 42);
    assert_eq!(s.source, Path::new("scenarios/demo.toml"));

    // Base first, then the candidate, then the rest by name.
    let names: Vec<_> = s.paths.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["legacy", "dagger", "zeta"]);
    assert_eq!(s.base, "legacy");
    assert_eq!(s.candidate.as_deref(), Some("dagger"));
    assert!(s.needs_reference());

    let legacy = s.path("legacy").expect("legacy");
    assert_eq!(legacy.target, Target::Reference);
    assert_eq!(
        legacy.headers[0].name.as_str(),
        "x-feature-use_dagger_workflow_engine"
    );
    assert_eq!(legacy.headers[0].value.resolved, "false");
    assert_eq!(legacy.headers[1].name.as_str(), "authorization");
    assert_eq!(legacy.headers[1].value.template, "Bearer ${API_TOKEN}");
    assert_eq!(legacy.headers[1].value.resolved, "Bearer s3cret");
    assert!(legacy.headers[1].value.has_secret());
    // The secret never shows in debug output.
    assert!(!format!("{s:?}").contains("s3cret"));
    match &s.path("dagger").expect("dagger").target {
        Target::Url(url) => assert_eq!(url.resolved, "http://127.0.0.1:8080/prefix"),
        other => panic!("expected a URL, got {other:?}"),
    }

    match &s.load.model {
        LoadModel::Open {
            rate,
            stages,
            spacing,
        } => {
            assert_eq!(rate.per_second(), 200.0);
            assert_eq!(stages.len(), 1);
            assert_eq!(stages[0].rate.per_second(), 400.0);
            assert_eq!(stages[0].over, Duration::from_secs(10));
            assert_eq!(*spacing, Spacing::Poisson);
        }
        other => panic!("expected the open model, got {other:?}"),
    }
    assert_eq!(s.load.duration, Duration::from_secs(5));
    assert_eq!(s.load.warmup, Duration::from_secs(1));
    assert_eq!(s.load.repetitions, 5);
    assert_eq!(s.load.timeout, Duration::from_secs(2));
    assert_eq!(s.load.max_in_flight, 500);

    assert_eq!(s.flows.len(), 2);
    let flow = &s.flows[0];
    assert_eq!(flow.weight, 3);
    assert_eq!(flow.vars, ["task_id", "state"]);
    let execute_step = &flow.steps[0];
    assert_eq!(execute_step.index, 0);
    assert!(execute_step.accepts(202) && !execute_step.accepts(201));
    let execute = execute_step.http().expect("an HTTP step");
    assert_eq!(execute.method, http::Method::POST);
    assert_eq!(execute.expect_status, [200, 202]);
    assert!(execute.accepts(202) && !execute.accepts(201));
    assert_eq!(execute_step.extract.len(), 2);
    assert_eq!(
        (
            execute_step.extract[0].slot,
            execute_step.extract[0].source.to_string()
        ),
        (0, "/task_id".to_string())
    );
    assert_eq!(
        (
            execute_step.extract[1].slot,
            execute_step.extract[1].source.to_string()
        ),
        (1, "/state".to_string())
    );
    let body = execute.body.as_ref().expect("body");
    assert_eq!(
        body.parts,
        [Part::Literal(
            r#"{"workflow":"build-and-test","token":"s3cret"}"#.into()
        )]
    );
    assert_eq!(
        body.source,
        r#"{"workflow":"build-and-test","token":"${API_TOKEN}"}"#
    );
    assert_eq!(execute.headers[0].0.as_str(), "content-type");

    let status = flow.steps[1].http().expect("an HTTP step");
    assert_eq!(flow.steps[1].index, 1);
    assert_eq!(status.method, http::Method::GET);
    assert_eq!(
        status.path.parts,
        [
            Part::Literal("/api/tasks/".into()),
            Part::Var(0),
            Part::Literal("?state=".into()),
            Part::Var(1),
            Part::Literal("&cost=${literal}".into()),
        ]
    );
    let vars = [Some("t-1".to_string()), Some("done".to_string())];
    assert_eq!(
        status.path.render(&vars).as_deref(),
        Some("/api/tasks/t-1?state=done&cost=${literal}")
    );
    assert_eq!(
        status.headers[0].1.parts,
        [Part::Var(0), Part::Literal("-0ther".into())]
    );

    let health = &s.flows[1];
    assert_eq!(health.weight, 1);
    assert_eq!(health.steps[0].index, 2);
    assert!(
        health.steps[0]
            .http()
            .expect("http")
            .expect_status
            .is_empty()
    );
    assert!(health.steps[0].http().expect("http").path.is_static());
    assert!(health.vars.is_empty());
    assert_eq!(s.step_count(), 3);

    assert_eq!(s.reference.executor_error_rate.get(), 0.1);
    assert_eq!(s.hash.len(), 64);
}

/// A closed-model scenario that leaves every optional key out.
const CLOSED: &str = r#"name = "closed-demo"

[paths.legacy]
base_url = "http://127.0.0.1:9000"

[load]
model = "closed"
users = 4
think_time = "100ms"
ramp_up_rate = 2
duration = "3s"

[[flow]]
name = "get"
[[flow.steps]]
name = "one"
path = "/a"
[[flow.steps]]
name = "two"
method = "DELETE"
path = "/b"
"#;

#[test]
fn closed_model_scenario_parses_with_defaults() {
    let s = valid(CLOSED);
    assert_eq!(s.description, "");
    assert!(s.phases.is_empty());
    assert_eq!(s.component, None);
    assert_eq!(s.seed, 1);
    assert_eq!(s.base, "legacy");
    assert_eq!(s.candidate, None);
    assert!(!s.needs_reference());
    match &s.load.model {
        LoadModel::Closed {
            users,
            think_time,
            ramp_up_rate,
        } => {
            assert_eq!(*users, 4);
            assert_eq!(*think_time, Duration::from_millis(100));
            assert_eq!(ramp_up_rate.map(|r| r.per_second()), Some(2.0));
        }
        other => panic!("expected the closed model, got {other:?}"),
    }
    assert_eq!(s.load.warmup, Duration::ZERO);
    assert_eq!(s.load.repetitions, 1);
    assert_eq!(s.load.timeout, Duration::from_secs(10));
    // Never more requests in flight than users.
    assert_eq!(s.load.max_in_flight, 4);
    let steps: Vec<_> = s
        .steps()
        .map(|(f, st)| (f.name.as_str(), st.name.as_str(), st.index))
        .collect();
    assert_eq!(steps, [("get", "one", 0), ("get", "two", 1)]);
    assert_eq!(
        s.flows[0].steps[1].http().expect("http").method,
        http::Method::DELETE
    );
    assert_eq!(s.reference, harness::reference::ReferenceConfig::default());
}

#[test]
fn open_model_defaults() {
    let s = valid(SMALL);
    match &s.load.model {
        LoadModel::Open {
            stages, spacing, ..
        } => {
            assert!(stages.is_empty());
            assert_eq!(*spacing, Spacing::Uniform);
        }
        other => panic!("expected the open model, got {other:?}"),
    }
    assert_eq!(s.load.max_in_flight, 10_000);
    assert_eq!(
        s.flows[0].steps[0].http().expect("http").method,
        http::Method::GET
    );
}

#[test]
fn base_dagger_without_candidate_has_no_candidate() {
    let text = format!(
        "base = \"dagger\"\n{}",
        SMALL.replacen("[paths.legacy]", "[paths.dagger]", 1)
    );
    let s = valid(&text);
    assert_eq!(s.base, "dagger");
    assert_eq!(s.candidate, None);
}

#[test]
fn hash_ignores_secret_values() {
    let a = parse_str(FULL_OPEN, Path::new("a.toml"), &env).expect("valid");
    let other_env = |name: &str| match name {
        "API_TOKEN" => Some("a-different-secret".to_string()),
        other => env(other),
    };
    let b = parse_str(FULL_OPEN, Path::new("b.toml"), &other_env).expect("valid");
    assert_eq!(a.hash, b.hash);
}

#[test]
fn hash_changes_with_the_rate() {
    let a = valid(FULL_OPEN);
    let b = valid(&FULL_OPEN.replacen("rate = 200", "rate = 201", 1));
    assert_ne!(a.hash, b.hash);
}

#[test]
fn hash_ignores_key_order_and_paths() {
    let a = valid(FULL_OPEN);
    let reordered = FULL_OPEN
        .replacen("seed = 42\n", "", 1)
        .replacen("[paths.zeta]", "seed = 42\n\n[paths.zeta]", 1)
        .replacen(
            "duration = \"5s\"\nwarmup = \"1s\"",
            "warmup = \"1s\"\nduration = \"5s\"",
            1,
        )
        .replacen(
            "expect_status = [200, 202], extract = { task_id = \"/task_id\", state = \"/state\" }",
            "extract = { task_id = \"/task_id\", state = \"/state\" }, expect_status = [200, 202]",
            1,
        );
    assert_ne!(reordered, FULL_OPEN);
    assert_eq!(a.hash, valid(&reordered).hash);
    // The paths are not part of the hash: base and candidate differ in their headers.
    let other_paths =
        FULL_OPEN
            .replacen("\"true\"", "\"yes\"", 1)
            .replacen("[paths.zeta]", "[paths.omega]", 1);
    assert_eq!(a.hash, valid(&other_paths).hash);
    // Writing a default out changes nothing.
    assert_eq!(
        valid(SMALL).hash,
        valid(&small_with("rate = 200", "rate = 200\ntimeout = \"10s\"")).hash
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        if let Err(e) = parse(&text) {
            let _ = e.to_string();
        }
    }

    #[test]
    fn parse_never_panics_on_toml_like_text(
        text in "([a-z_]{1,8}|[0-9]{1,3}|\\[\\[?|\\]\\]?|[{}=,.\"' ]|\\$\\$?\\{?|\n|é|\u{feff}){0,80}",
    ) {
        if let Err(e) = parse(&text) {
            let _ = e.to_string();
        }
    }

    #[test]
    fn parse_never_panics_on_mutated_scenarios(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = FULL_OPEN.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        if truncate && !bytes.is_empty() {
            bytes.truncate(cut.index(bytes.len()));
        }
        let text = String::from_utf8_lossy(&bytes);
        match parse(&text) {
            Ok(s) => prop_assert_eq!(s.hash.len(), 64),
            Err(e) => {
                let d = e.diagnostic().expect("parse_str only reports located errors");
                prop_assert!(d.line >= 1 && d.column >= 1 && d.width >= 1);
                prop_assert!(d.line <= text.lines().count().max(1) + 1);
                let _ = e.to_string();
            }
        }
    }
}

#[test]
fn a_policy_table_overrides_the_defaults() {
    let s = valid(&format!(
        "{SMALL}[policy]\ngo_ratio = 1.0\nrollback_ratio = 1.3\n"
    ));
    assert_eq!(s.policy.go_ratio, 1.0);
    assert_eq!(s.policy.rollback_ratio, 1.3);
    assert_eq!(
        s.policy.min_candidate_errors, 5,
        "unset keys keep their defaults"
    );
    assert_eq!(
        s.hash,
        valid(SMALL).hash,
        "the policy judges runs; it does not change what they measure"
    );
}

#[test]
fn a_policy_whose_rollback_ratio_is_not_above_go_is_refused() {
    let text = format!("{SMALL}[policy]\ngo_ratio = 1.2\nrollback_ratio = 1.1\n");
    assert_invalid(
        &text,
        11,
        1,
        "rollback_ratio (1.1) must be greater than go_ratio (1.2)",
        "remove the key",
    );
}

#[test]
fn an_unknown_policy_key_is_refused() {
    let text = format!("{SMALL}[policy]\ngo_ration = 1.2\n");
    assert_invalid(&text, 12, 1, "go_ration", "go_ratio");
}

/// A command path against a Dagger path; lines 1..=12.
const PIPELINE: &str = r#"name = "pipe"
[paths.legacy]
kind = "command"
[paths.dagger]
kind = "dagger"
[load]
model = "open"
rate = 5
duration = "1s"
[[flow]]
name = "build"
steps = [{ name = "test", command = ["sh", "-c", "make test"], dagger = { from = "alpine:3.20", exec = ["sh", "-c", "make test"] } }]
"#;

fn pipeline_with(from: &str, to: &str) -> String {
    assert!(PIPELINE.contains(from), "{from:?} is not in PIPELINE");
    PIPELINE.replacen(from, to, 1)
}

#[test]
fn a_command_path_and_a_dagger_path_share_their_steps() {
    use harness::scenario::{CachePolicy, DaggerCall, DaggerOutput, PathKind};
    let s = valid(&pipeline_with(
        "kind = \"dagger\"",
        "kind = \"dagger\"\ncache = \"bust\"\nconnect_timeout = \"5s\"",
    ));
    assert_eq!(
        (s.base.as_str(), s.candidate.as_deref()),
        ("legacy", Some("dagger"))
    );
    assert_eq!(s.paths[0].target.kind(), PathKind::Command);
    let Target::Dagger(d) = &s.paths[1].target else {
        panic!("a Dagger path: {:?}", s.paths[1].target);
    };
    assert_eq!(d.cache, CachePolicy::Bust);
    assert_eq!(d.connect_timeout, Duration::from_secs(5));
    let step = &s.flows[0].steps[0];
    assert!(step.http().is_none());
    let argv: Vec<&str> = step
        .command()
        .expect("command")
        .iter()
        .map(|t| t.source.as_str())
        .collect();
    assert_eq!(argv, ["sh", "-c", "make test"]);
    let Some(DaggerCall::Exec(exec)) = step.dagger() else {
        panic!("an exec: {:?}", step.dagger());
    };
    assert_eq!(exec.from.source, "alpine:3.20");
    assert_eq!(exec.output, DaggerOutput::Stdout);
    assert!(step.accepts_exit(0) && !step.accepts_exit(1));
    // The step's actions are part of the scenario hash.
    let other = valid(&PIPELINE.replace("make test\"] } }]", "make lint\"] } }]"));
    assert_ne!(s.hash, other.hash);
}

#[test]
fn a_step_lacking_the_action_of_a_path_kind() {
    let text = pipeline_with(
        r#", dagger = { from = "alpine:3.20", exec = ["sh", "-c", "make test"] }"#,
        "",
    );
    assert_invalid(
        &text,
        12,
        10,
        "step `test` has no `dagger`, which the scenario's dagger path(s) need",
        "dagger = { from = ",
    );
}

#[test]
fn an_http_path_key_in_a_pipeline_only_scenario() {
    let text = pipeline_with(r#"name = "test", "#, r#"name = "test", path = "/", "#);
    assert_invalid(
        &text,
        12,
        27,
        "step `test` has `path`, but no path of the scenario is of kind `http`",
        "remove `path` from the step",
    );
}

#[test]
fn headers_on_a_command_path() {
    let text = pipeline_with(
        "kind = \"command\"",
        "kind = \"command\"\nheaders = { \"X-A\" = \"1\" }",
    );
    assert_invalid(
        &text,
        4,
        1,
        "path `legacy` is of kind `command`, which has no `headers`",
        "`headers` belongs to paths of kind `http`",
    );
}

#[test]
fn an_unknown_path_kind() {
    let text = pipeline_with("kind = \"dagger\"", "kind = \"grpc\"");
    assert_invalid(
        &text,
        5,
        8,
        "unknown value `grpc` for `kind`",
        "`http`, `command`, `dagger`",
    );
}

#[test]
fn an_empty_command() {
    let text = pipeline_with(r#"command = ["sh", "-c", "make test"]"#, "command = []");
    assert_invalid(&text, 12, 37, "`command` is empty", "command = [\"sh\"");
}

#[test]
fn an_exit_code_out_of_range() {
    let text = pipeline_with(
        r#"name = "test", "#,
        r#"name = "test", expect_exit = [0, 300], "#,
    );
    assert_invalid(&text, 12, 45, "300", "0..=255");
}

#[test]
fn a_dagger_exec_without_an_image() {
    let text = pipeline_with(r#"from = "alpine:3.20", "#, "");
    assert_invalid(
        &text,
        12,
        75,
        "has `exec` but no `from`",
        "from = \"alpine:3.20\"",
    );
}

#[test]
fn a_dagger_step_that_both_execs_and_calls() {
    let text = pipeline_with(r#"dagger = { from"#, r#"dagger = { call = "build", from"#);
    assert_invalid(&text, 12, 75, "either an exec", "keep `call`");
}

#[test]
fn a_function_name_that_is_not_a_graphql_name() {
    let text = pipeline_with(
        r#"{ from = "alpine:3.20", exec = ["sh", "-c", "make test"] }"#,
        r#"{ call = "container-echo" }"#,
    );
    assert_invalid(
        &text,
        12,
        82,
        "`container-echo` cannot be a function name",
        "camelCase",
    );
}

#[test]
fn a_module_function_path_with_a_bad_segment() {
    // `module.function` reaches a function of a module that is not the entrypoint.
    let ok = pipeline_with(
        r#"{ from = "alpine:3.20", exec = ["sh", "-c", "make test"] }"#,
        r#"{ call = "greeter.greet", args = { name = "x" } }"#,
    );
    valid(&ok);
    let text = pipeline_with(
        r#"{ from = "alpine:3.20", exec = ["sh", "-c", "make test"] }"#,
        r#"{ call = "greeter..greet" }"#,
    );
    assert_invalid(&text, 12, 82, "has an empty segment", "module.function");
    let text = pipeline_with(
        r#"{ from = "alpine:3.20", exec = ["sh", "-c", "make test"] }"#,
        r#"{ call = "my-mod.greet" }"#,
    );
    assert_invalid(
        &text,
        12,
        82,
        "`my-mod` cannot be a function name",
        "camelCase",
    );
}

#[test]
fn a_relative_mount_point_and_a_missing_host_folder() {
    let text = pipeline_with(
        r#"from = "alpine:3.20", "#,
        r#"from = "alpine:3.20", mounts = { "src" = "." }, "#,
    );
    assert_invalid(
        &text,
        12,
        108,
        "mount point `src` is not an absolute path",
        "`/src`",
    );
    let text = pipeline_with(
        r#"from = "alpine:3.20", "#,
        r#"from = "alpine:3.20", mounts = { "/src" = "no-such-folder" }, "#,
    );
    assert_invalid(
        &text,
        12,
        117,
        "host folder `no-such-folder` does not exist",
        "relative to the scenario file",
    );
}

/// Headers exist on HTTP answers only: a header check or extraction on a scenario with a
/// command or Dagger path is refused; body checks apply to stdout there.
#[test]
fn header_checks_need_http_paths_and_body_checks_read_stdout() {
    let header = pipeline_with(
        "exec = [\"sh\", \"-c\", \"make test\"] }",
        "exec = [\"sh\", \"-c\", \"make test\"] }, check = [{ header = \"etag\", exists = true }]",
    );
    let err = parse(&header).expect_err("header check on pipelines");
    assert!(err.to_string().contains("reads an HTTP header"), "{err}");
    let body = pipeline_with(
        "exec = [\"sh\", \"-c\", \"make test\"] }",
        "exec = [\"sh\", \"-c\", \"make test\"] }, check = [{ body_contains = \"passed\" }]",
    );
    assert_eq!(valid(&body).flows[0].steps[0].checks.len(), 1);
}

#[test]
fn metrics_endpoints_and_series_are_read_with_env_kept_as_written() {
    let s = valid(&small_with(
        "target = \"reference\"",
        "target = \"reference\"\nmetrics = [\"reference\", \"${DEP_URL}/metrics\"]\nmetrics_series = [\"process_cpu_seconds_total\", \"harness_reference_retries_total\"]",
    ));
    let path = &s.paths[0];
    assert_eq!(path.metrics.len(), 2);
    assert_eq!(
        path.metrics[0],
        harness::scenario::MetricsEndpoint::Reference
    );
    let harness::scenario::MetricsEndpoint::Url(url) = &path.metrics[1] else {
        panic!("a URL: {:?}", path.metrics[1]);
    };
    assert_eq!(url.template, "${DEP_URL}/metrics");
    assert_eq!(url.resolved, "http://127.0.0.1:9000/metrics");
    assert_eq!(path.metrics[1].written(), "${DEP_URL}/metrics");
    assert_eq!(
        path.metrics_series,
        vec![
            "process_cpu_seconds_total".to_string(),
            "harness_reference_retries_total".to_string()
        ]
    );
    assert!(valid(SMALL).paths[0].metrics.is_empty());
}

#[test]
fn metrics_mistakes_are_located() {
    let with = |lines: &str| {
        small_with(
            "target = \"reference\"",
            &format!("target = \"reference\"\n{lines}"),
        )
    };
    assert_invalid(
        &small_with(
            "target = \"reference\"",
            "base_url = \"http://127.0.0.1:8080\"\nmetrics = [\"reference\"]",
        ),
        4,
        12,
        "does not run on it",
        "http://127.0.0.1:9100/metrics",
    );
    assert_invalid(
        &with("metrics = [\"ftp://host/metrics\"]"),
        4,
        12,
        "scheme `ftp`",
        "full URL",
    );
    assert_invalid(
        &with("metrics = [\"http://x/metrics\", \"${NOPE}/metrics\"]"),
        4,
        33,
        "`NOPE` is not set",
        "export NOPE",
    );
    assert_invalid(
        &with("metrics = []"),
        4,
        1,
        "empty `metrics`",
        "at least one",
    );
    assert_invalid(
        &with("metrics = [\"reference\", \"reference\"]"),
        4,
        25,
        "named twice",
        "once",
    );
    assert_invalid(
        &with("metrics = [\"reference\"]\nmetrics_series = [\"up\", \"bad-name\"]"),
        5,
        25,
        "`bad-name` is not a metric name",
        "labels cannot be selected",
    );
    assert_invalid(
        &with("metrics_series = [\"up\"]"),
        4,
        1,
        "`metrics_series` but no `metrics`",
        "name the endpoints",
    );
    assert_invalid(
        &with("metrics = [\"reference\"]\nmetrics_series = []"),
        5,
        1,
        "`metrics_series` is empty",
        "remove the key",
    );
}

/// Two MCP paths on one server and one flow of `steps`.
fn mcp_scenario(path_extra: &str, steps: &str) -> String {
    format!(
        r#"name = "mcp"
[paths.legacy]
kind = "mcp"
url = "${{DEP_URL}}/mcp"
{path_extra}
[paths.dagger]
kind = "mcp"
url = "${{DEP_URL}}/mcp"
headers = {{ "X-Feature-USE_DAGGER_MCP_SERVER" = "true" }}
[load]
model = "closed"
users = 2
duration = "1s"
[[flow]]
name = "tools"
steps = [
{steps}
]
"#
    )
}

#[test]
fn mcp_flows_begin_with_the_initialize_step_and_template_their_arguments() {
    let s = valid(&mcp_scenario(
        "session = \"iteration\"",
        r#"  { name = "run", mcp = "tools/call", tool = "run_workflow", arguments = { workflow = "wf", steps = 3 }, extract = { run_id = "/structuredContent/run_id" } },
  { name = "read", mcp = "resources/read", uri = "workflow://${run_id}" },"#,
    ));
    let names: Vec<&str> = s.flows[0].steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["initialize", "run", "read"]);
    assert!(s.flows[0].steps[0].is_session_step());
    let Target::Mcp(target) = &s.paths[0].target else {
        panic!("an MCP target");
    };
    assert_eq!(target.session, harness::scenario::SessionScope::Iteration);
    let Some(harness::scenario::McpCall::CallTool { arguments, .. }) = s.flows[0].steps[1].mcp()
    else {
        panic!("a tool call");
    };
    assert_eq!(
        arguments.render(&[]),
        Some(serde_json::json!({"workflow": "wf", "steps": 3}))
    );
}

#[test]
fn an_unknown_mcp_method_suggests_the_near_one() {
    assert_invalid(
        &mcp_scenario("", r#"  { name = "list", mcp = "tools/lst" },"#),
        17,
        26,
        "`tools/lst` is not an MCP method",
        "did you mean `tools/list`?",
    );
}

#[test]
fn a_tool_call_without_a_tool_says_which_key_to_add() {
    assert_invalid(
        &mcp_scenario("", r#"  { name = "run", mcp = "tools/call" },"#),
        17,
        25,
        "`mcp = \"tools/call\"` needs `tool`",
        "tool = \"run_workflow\"",
    );
}

#[test]
fn mcp_steps_without_an_mcp_path_are_refused() {
    let text = r#"name = "mcp"
[paths.legacy]
target = "reference"
[load]
model = "open"
rate = 5
duration = "1s"
[[flow]]
name = "f"
steps = [{ name = "list", path = "/", mcp = "tools/list" }]
"#;
    assert_invalid(
        text,
        10,
        39,
        "no path of the scenario is of kind `mcp`",
        "kind = \"mcp\"",
    );
}

#[test]
fn an_mcp_path_with_both_url_and_command_keeps_one() {
    assert_invalid(
        &mcp_scenario(
            "command = [\"python3\", \"server.py\"]",
            r#"  { name = "list", mcp = "tools/list" },"#,
        ),
        5,
        1,
        "has both `url` and `command`",
        "keep exactly one",
    );
}

#[test]
fn a_step_named_initialize_clashes_with_the_session_step() {
    assert_invalid(
        &mcp_scenario("", r#"  { name = "initialize", mcp = "tools/list" },"#),
        17,
        12,
        "step name `initialize` in flow `tools` is taken",
        "another name",
    );
}

#[test]
fn a_stdio_mcp_path_has_no_headers() {
    let text = r#"name = "mcp"
[paths.dagger]
kind = "mcp"
command = ["python3", "server.py"]
headers = { Authorization = "x" }
[load]
model = "closed"
users = 1
duration = "1s"
[[flow]]
name = "f"
steps = [{ name = "list", mcp = "tools/list" }]
"#;
    assert_invalid(
        text,
        5,
        1,
        "runs its MCP server over stdio, which has no headers",
        "remove `headers`",
    );
}

/// A parity pass paced slower than one iteration in 100 s (its interval would not fit a
/// duration) or faster than 10 000/s is refused at the value, never a panic at run time.
#[test]
fn parity_rate_out_of_range() {
    for rate in ["1e-300", "0.001", "0", "-1", "1e9", "nan"] {
        assert_invalid(
            &format!("{SMALL}[parity]\nrate = {rate}\n"),
            12,
            8,
            "`rate` must be between 0.01 and 10000 iterations per second",
            "e.g. `rate = 20`",
        );
    }
    valid(&format!("{SMALL}[parity]\nrate = 0.01\n"));
}
