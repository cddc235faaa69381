//! Functional parity through the binary, against a service nobody on this project wrote:
//! FastAPI on uvicorn (`thirdparty/parity_service.py`), whose answers carry what real
//! answers carry (a random id per order and per line, a timestamp, tags in a random
//! order) and whose Dagger path can regress on demand (`X-Defect`).
//!
//! Needs python3 with fastapi and uvicorn; without them each test says "skipped: <why>",
//! unless `HARNESS_REQUIRE_PYTHON_SERVICE` is set (`.ci/run` sets it), when that is a
//! failure.

mod common;

use std::path::{Path, PathBuf};

use common::harness;
use common::python::PythonService;
use serde_json::Value;

const SERVICE: &str = "parity_service.py";
const LEGACY_TOKEN: &str = "Bearer legacy-secret-3f9a1c";
const DAGGER_TOKEN: &str = "Bearer dagger-secret-77b2e0";

/// A scenario comparing the two paths of `url`, the Dagger path with `defect`; parity
/// alone decides; `parity` is appended to `[parity]`.
fn scenario(dir: &Path, url: &str, defect: &str, parity: &str) -> PathBuf {
    let text = format!(
        r#"
name = "parity-{defect}"
seed = 4
[paths.legacy]
base_url = "{url}"
headers = {{ "X-Path" = "legacy", Authorization = "${{PARITY_LEGACY_TOKEN}}" }}
[paths.dagger]
base_url = "{url}"
headers = {{ "X-Path" = "dagger", "X-Defect" = "{defect}", Authorization = "${{PARITY_DAGGER_TOKEN}}" }}
[load]
model = "open"
rate = 10
duration = "1s"
warmup = "0s"
repetitions = 2
timeout = "5s"
[[flow]]
name = "order"
steps = [
  {{ name = "create", method = "POST", path = "/orders", body = '{{"item":"widget"}}',
     headers = {{ "Content-Type" = "application/json" }}, expect_status = [201],
     extract = {{ id = "/id" }}, safe = false }},
  {{ name = "read", path = "/orders/${{id}}", expect_status = [200] }},
  {{ name = "report", path = "/orders/${{id}}/report", expect_status = [200] }},
]
[policy]
decide = ["parity"]
min_samples = 5
[parity]
samples = 40
rate = 40
min_samples = 30
redact = ["/owner_token"]
{parity}
"#
    );
    let file = dir.join(format!("parity-{defect}.toml"));
    std::fs::write(&file, text).expect("write scenario");
    file
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    comparison: Value,
    out: PathBuf,
}

/// `harness compare` of `file`; the Dagger path sends `dagger_token`.
fn compare(dir: &Path, file: &Path, dagger_token: &str) -> Outcome {
    let out = dir.join("out");
    let output = harness()
        .env("PARITY_LEGACY_TOKEN", LEGACY_TOKEN)
        .env("PARITY_DAGGER_TOKEN", dagger_token)
        .args(["compare", "--out"])
        .arg(&out)
        .arg(file)
        .output()
        .expect("harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    Outcome {
        code: output.status.code(),
        stdout,
        comparison: common::comparison(&out),
        out,
    }
}

fn rows(c: &Value) -> Vec<(String, String, String)> {
    c["parity"]["rows"]
        .as_array()
        .expect("parity rows")
        .iter()
        .map(|r| {
            (
                r["step"].as_str().unwrap_or("").to_string(),
                r["field"].as_str().unwrap_or("").to_string(),
                r["verdict"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn noise(c: &Value, step: &str) -> Vec<String> {
    c["parity"]["noise"]
        .as_array()
        .expect("noise")
        .iter()
        .find(|n| n["step"] == step)
        .map(|n| {
            n["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|f| f["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn equal_paths_are_go_and_random_ids_timestamps_and_tag_order_are_only_noise() {
    let Some(service) = PythonService::start_or_skip(SERVICE, "fastapi, uvicorn") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(dir.path(), &service.url, "none", "");
    let o = compare(dir.path(), &file, LEGACY_TOKEN);
    let all: Vec<(String, String, String)> = rows(&o.comparison);
    assert_eq!(
        all.iter()
            .map(|r| (r.1.as_str(), r.2.as_str()))
            .collect::<Vec<_>>(),
        [("(every field)", "GO"); 3],
        "{all:?}"
    );
    assert_eq!(o.code, Some(0), "{}", o.stdout);
    // Learned as noise (never reported as differences): the random ids, the timestamp
    // (every order is another entity), the tags' order.
    let create = noise(&o.comparison, "order/create");
    for field in ["/id", "/created_at", "/lines/*/id", "/tags/*"] {
        assert!(
            create.contains(&field.to_string()),
            "{field} not noise: {create:?}"
        );
    }
    let read = noise(&o.comparison, "order/read");
    assert!(read.contains(&"/created_at".to_string()), "{read:?}");
    assert!(
        o.stdout.contains("noise (base vs base, not counted)"),
        "{}",
        o.stdout
    );
}

#[test]
fn a_dropped_field_rolls_back_with_examples_and_no_secret_reaches_a_report() {
    let Some(service) = PythonService::start_or_skip(SERVICE, "fastapi, uvicorn") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(dir.path(), &service.url, "dropped", "");
    let o = compare(dir.path(), &file, DAGGER_TOKEN);
    assert_eq!(o.code, Some(4), "{}", o.stdout);
    assert_eq!(o.comparison["verdict"], "ROLLBACK");
    let all = rows(&o.comparison);
    for step in ["order/create", "order/read"] {
        assert!(
            all.contains(&(step.into(), "/artifacts".into(), "ROLLBACK".into())),
            "{all:?}"
        );
    }
    assert!(
        o.comparison["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("critical functionality failure (parity)")),
        "{}",
        o.comparison["reason"]
    );
    let row = o.comparison["parity"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["field"] == "/artifacts")
        .expect("an artifacts row")
        .clone();
    assert_eq!(row["examples"].as_array().map(Vec::len), Some(3), "{row:#}");
    assert_eq!(row["examples"][0]["candidate"], Value::Null);
    assert!(
        o.stdout
            .contains("/artifacts missing: base [{\"name\":\"build.log\"}"),
        "{}",
        o.stdout
    );
    // The paths send different tokens, which the service echoes: a difference whose
    // values are redacted, in every file.
    let owner = all
        .iter()
        .find(|r| r.1 == "/owner_token")
        .expect("the tokens differ between the paths");
    assert_eq!(owner.2, "NO-GO");
    for name in [
        "result.json",
        "summary.md",
        "junit.xml",
        "report.html",
        "parity.json",
    ] {
        let text = std::fs::read_to_string(o.out.join(name)).expect("report file");
        for secret in [
            LEGACY_TOKEN,
            DAGGER_TOKEN,
            "legacy-secret-3f9a1c",
            "dagger-secret-77b2e0",
        ] {
            assert!(!text.contains(secret), "{secret} in {name}");
        }
    }
    let summary = std::fs::read_to_string(o.out.join("summary.md")).expect("summary.md");
    assert!(summary.contains("### Functional parity"), "{summary}");
    let junit = std::fs::read_to_string(o.out.join("junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("classname=\"parity-dropped/parity/order/create\" name=\"/artifacts\">"),
        "{junit}"
    );
}

#[test]
fn a_changed_value_holds_a_reordered_array_holds_unless_unordered_and_text_bodies_compare() {
    let Some(service) = PythonService::start_or_skip(SERVICE, "fastapi, uvicorn") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for (defect, extra, code, field, verdict) in [
        ("changed", "", 3, "/status", "NO-GO"),
        ("reordered", "", 3, "/steps/*", "NO-GO"),
        (
            "reordered",
            "unordered = [\"/steps\"]",
            0,
            "(every field)",
            "GO",
        ),
        ("text", "", 3, "(body)", "NO-GO"),
    ] {
        let case = dir.path().join(format!("{defect}-{code}"));
        std::fs::create_dir_all(&case).expect("mkdir");
        let file = scenario(&case, &service.url, defect, extra);
        let o = compare(&case, &file, LEGACY_TOKEN);
        let all = rows(&o.comparison);
        assert!(
            all.iter().any(|r| r.1 == field && r.2 == verdict),
            "{defect} {extra}: {all:?}"
        );
        assert!(
            !all.iter().any(|r| r.2 == "ROLLBACK"),
            "{defect}: nothing is missing, nothing critical: {all:?}"
        );
        assert_eq!(o.code, Some(code), "{defect} {extra}: {}", o.stdout);
    }
}

/// The shipped demos on the embedded reference platform (no Python needed): GO when the
/// paths answer alike, NO-GO on a reordered array, ROLLBACK on a dropped field.
#[test]
fn the_shipped_parity_scenarios_decide_go_no_go_and_rollback() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, code, reason) in [
        (
            "parity-go",
            0,
            "parity: no difference beyond noise on 2 step(s)",
        ),
        (
            "parity-reordered",
            3,
            "parity not shown: execute-and-poll/execute `/steps/*`",
        ),
        (
            "parity-dropped-field",
            4,
            "critical functionality failure (parity): execute-and-poll/execute `/artifacts`",
        ),
    ] {
        let out = dir.path().join(name);
        let output = harness()
            .env_remove("ORCH_URL")
            .args(["compare", "--quiet", "--repetitions", "1", "--out"])
            .arg(&out)
            .arg(root.join(format!("{name}.toml")))
            .output()
            .expect("harness runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(code), "{name}:\n{stdout}");
        let comparison = common::comparison(&out);
        let why = comparison["reason"].as_str().unwrap_or_default();
        assert!(why.starts_with(reason), "{name}: {why}");
        // Ids, run ids and timestamps are noise on every step, never rows.
        for row in comparison["parity"]["rows"].as_array().expect("rows") {
            let field = row["field"].as_str().unwrap_or_default();
            for noisy in ["/task_id", "/run_id", "/created_at", "/finished_at"] {
                assert_ne!(field, noisy, "{name}: noise reported as a difference");
            }
        }
    }
}
