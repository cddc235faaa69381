//! The Kubernetes manifests of `deploy/k8s/`: `render.sh` for 4 segments, parsed as YAML
//! and checked by structure (an Indexed Job of 4 running the segment of its completion
//! index, the scenario byte for byte in its ConfigMap, secrets only by reference to the
//! Secret, the suspended merge Job), then validated against the Kubernetes schemas with
//! `kubernetes-validate --strict` where it is installed. Where it is not, that test says
//! "skipped: <why>", unless `HARNESS_REQUIRE_K8S_VALIDATE` is set (`.ci/run` sets it once
//! it installed `deploy/k8s/requirements.txt`), when it is a failure.
//! `deploy/k8s/validate.sh` checks N = 1, 4 and 16 the same way in CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_norway::Value;

/// The Kubernetes version the manifests are validated against (as in validate.sh).
const K8S_VERSION: &str = "1.31.0";
const SECRET: &str = "harness-target";
const CLAIM: &str = "harness-results";
const START_AT: &str = "2026-12-03T09:00:00Z";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn demo() -> PathBuf {
    repo().join("scenarios/demo.toml")
}

/// `sh deploy/k8s/render.sh` with the test's values, `extra` last (so it overrides), from
/// another folder than the repository (the script must not depend on where it runs).
fn render(scenario: &Path, segments: u32, extra: &[&str]) -> Output {
    let cwd = tempfile::tempdir().expect("a temporary folder");
    Command::new("sh")
        .arg(repo().join("deploy/k8s/render.sh"))
        .args(["--segments", &segments.to_string()])
        .arg("--scenario")
        .arg(scenario)
        .args(["--image", "registry.example.com/harness:0.1.0"])
        .args(["--namespace", "loadtest", "--results-claim", CLAIM])
        .args(["--secret", SECRET])
        .args(["--run-id", "test-run"])
        .args(extra)
        .current_dir(cwd.path())
        // A credential in the environment must never reach the manifests.
        .env("ORCH_AUTHORIZATION", "Bearer sentinel-from-the-environment")
        .output()
        .expect("sh runs render.sh")
}

/// The manifests for `segments` segments of `scenario` starting at `START_AT`, as text
/// (render.sh must succeed).
fn rendered(scenario: &Path, segments: u32) -> String {
    let out = render(scenario, segments, &["--start-at", START_AT]);
    assert!(
        out.status.success(),
        "render.sh failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the manifests are UTF-8")
}

/// Every YAML document of a stream.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("each document is YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The rendering's three documents: the ConfigMap, the segments Job, the merge Job.
fn parts(text: &str) -> (Value, Value, Value) {
    let docs = documents(text);
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, [Some("ConfigMap"), Some("Job"), Some("Job")]);
    let mut docs = docs.into_iter();
    let mut next = || docs.next().expect("three documents");
    (next(), next(), next())
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn four_segments_render_an_indexed_job_of_four_each_running_its_completion_index() {
    let (_, segments, _) = parts(&rendered(&demo(), 4));
    let spec = &segments["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_u64(), Some(4));
    assert_eq!(spec["parallelism"].as_u64(), Some(4));
    assert_eq!(spec["backoffLimit"].as_u64(), Some(0));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let container = &pod["containers"][0];
    assert_eq!(
        strings(&container["args"]),
        [
            "run",
            "/scenario/demo.toml",
            "--segment-from-env",
            "--segments",
            "4",
            "--start-at",
            START_AT,
            "--out",
            "/results/test-run/segment-$(JOB_COMPLETION_INDEX)",
            "--quiet",
        ]
    );
    assert_eq!(
        container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
    );
    let spread = &pod["topologySpreadConstraints"][0];
    assert_eq!(
        spread["topologyKey"].as_str(),
        Some("kubernetes.io/hostname")
    );
    assert_eq!(
        spread["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"].as_str(),
        Some("test-run")
    );
}

/// Without `--start-at`, the segments meet at a start barrier on the results volume, so
/// however long the pods take to be scheduled they start together.
#[test]
fn without_a_start_time_the_segments_meet_at_a_barrier_on_the_results_volume() {
    let out = render(&demo(), 4, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, segments, _) = parts(&String::from_utf8(out.stdout).expect("UTF-8"));
    let args = strings(&segments["spec"]["template"]["spec"]["containers"][0]["args"]);
    let at = args
        .iter()
        .position(|a| *a == "--start-barrier")
        .expect("--start-barrier");
    assert_eq!(args[at + 1], "/results/test-run/barrier");
    assert!(!args.contains(&"--start-at"), "{args:?}");
}

#[test]
fn every_pod_runs_non_root_read_only_without_capabilities_and_with_fixed_resources() {
    let (_, segments, merge) = parts(&rendered(&demo(), 4));
    for job in [&segments, &merge] {
        let pod = &job["spec"]["template"]["spec"];
        let name = job["metadata"]["name"].as_str().unwrap_or("?");
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{name}"
        );
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault"),
            "{name}"
        );
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{name}"
        );
        let container = &pod["containers"][0];
        let security = &container["securityContext"];
        assert_eq!(
            security["readOnlyRootFilesystem"].as_bool(),
            Some(true),
            "{name}"
        );
        assert_eq!(
            security["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{name}"
        );
        assert_eq!(
            strings(&security["capabilities"]["drop"]),
            ["ALL"],
            "{name}"
        );
        let resources = &container["resources"];
        assert!(resources["requests"].is_mapping(), "{name}: requests");
        assert_eq!(resources["requests"], resources["limits"], "{name}");
        assert_eq!(
            pod["volumes"][1]["persistentVolumeClaim"]["claimName"].as_str(),
            Some(CLAIM),
            "{name}"
        );
    }
}

#[test]
fn the_config_map_holds_the_scenario_byte_for_byte() {
    let (config_map, segments, _) = parts(&rendered(&demo(), 4));
    let file = std::fs::read_to_string(demo()).expect("scenarios/demo.toml");
    assert_eq!(
        config_map["data"]["demo.toml"].as_str(),
        Some(file.as_str())
    );
    assert_eq!(config_map["immutable"].as_bool(), Some(true));
    assert_eq!(
        segments["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
        config_map["metadata"]["name"]
    );

    // Files a block scalar keeps exactly only with the right indicators.
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, content) in [
        ("no-final-newline.toml", "name = \"edge\"\nseed = 1"),
        ("blank-lines-at-end.toml", "name = \"edge\"\n\n\n"),
        ("indented-first-line.toml", "  # note\nname = \"edge\"\n"),
        (
            "blanks.toml",
            "\n   \nname = \"edge\"\n\tx = \"  é ✓  \"  \n",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, content).expect("write the scenario");
        let (config_map, _, _) = parts(&rendered(&file, 1));
        assert_eq!(config_map["data"][name].as_str(), Some(content), "{name}");
    }
}

#[test]
fn secrets_come_from_the_secret_by_reference_and_never_appear_in_the_manifests() {
    let text = rendered(&demo(), 4);
    assert!(!text.contains("sentinel-from-the-environment"));
    let docs = documents(&text);
    assert!(docs.iter().all(|d| d["kind"].as_str() != Some("Secret")));
    for job in &docs[1..] {
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["envFrom"][0]["secretRef"]["name"].as_str(),
            Some(SECRET)
        );
        for env in container["env"].as_sequence().into_iter().flatten() {
            assert!(env.get("value").is_none(), "a literal env value: {env:?}");
        }
    }
}

#[test]
fn render_refuses_a_scenario_with_a_literal_credential() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("leak.toml");
    std::fs::write(
        &file,
        "name = \"leak\"\n[paths.a]\nheaders = { Authorization = \"Bearer abcdefghijklmnopqrstuvwxyz0123\" }\n",
    )
    .expect("write the scenario");
    let out = render(&file, 4, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing rendered");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("leak.toml:3 looks like a literal credential") && stderr.contains(SECRET),
        "{stderr}"
    );
}

#[test]
fn the_merge_job_waits_suspended_then_merges_every_segment_and_compares() {
    let (_, _, merge) = parts(&rendered(&demo(), 4));
    assert_eq!(merge["spec"]["suspend"].as_bool(), Some(true));
    let script = merge["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .expect("the merge script");
    let dirs: Vec<_> = (0..4).map(|i| format!("\"$run/segment-{i}\"")).collect();
    assert!(
        script.contains(&format!(
            "harness merge --out \"$run/merged\" {}\n",
            dirs.join(" ")
        )),
        "{script}"
    );
    assert!(script.contains("merged/runs/legacy-r*.json"), "{script}");
    assert!(script.contains("merged/runs/dagger-r*.json"), "{script}");
    assert!(script.contains("--out \"$out\""), "{script}");
    assert!(script.contains("out=\"$run/compare/demo\""), "{script}");
    // Kubernetes expands $(NAME) in args: the script must hold none.
    assert!(!script.contains("$("), "{script}");
}

#[cfg(unix)]
#[test]
fn render_sh_is_executable_as_the_readme_runs_it() {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(repo().join("deploy/k8s/render.sh"))
        .expect("deploy/k8s/render.sh")
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "deploy/k8s/render.sh is not executable");
}

/// `kubernetes-validate` from `KUBERNETES_VALIDATE` or `PATH`, or why there is none.
fn kubernetes_validate() -> Result<PathBuf, String> {
    let candidate = std::env::var_os("KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubernetes-validate"));
    match Command::new(&candidate).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(candidate),
        Ok(out) => Err(format!(
            "{} --version failed: {}",
            candidate.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!(
            "{} cannot run ({e}): pip install -r deploy/k8s/requirements.txt",
            candidate.display()
        )),
    }
}

#[test]
fn four_segments_pass_kubernetes_validate_strict() {
    let validator = match kubernetes_validate() {
        Ok(path) => path,
        Err(why) if std::env::var_os("HARNESS_REQUIRE_K8S_VALIDATE").is_some() => {
            panic!("HARNESS_REQUIRE_K8S_VALIDATE is set, but {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("harness-4.yaml");
    std::fs::write(&file, rendered(&demo(), 4)).expect("write the manifests");
    let out = Command::new(&validator)
        .args(["--strict", "--kubernetes-version", K8S_VERSION])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubernetes-validate: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report.matches(" passed for resource ").count(),
        3,
        "{report}"
    );
}
