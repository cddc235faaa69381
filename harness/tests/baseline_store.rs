//! The baseline store end to end on a temp directory: build from synthetic run records,
//! save, load, list, and every way a file or a group of records is refused.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::baseline::{
    BASELINE_SCHEMA, Baseline, BaselineError, EntryStatus, NoiseSource, baseline_file, list,
};
use harness::load::{Outcome, OutcomeClass};
use harness::record::{Recorder, RunMeta, RunRecord};

const POLICY: &str = "policy/v1";

/// The shared test run, at 50/s for 3 s with two steps.
fn meta(path: &str, repetition: u32) -> RunMeta {
    let mut meta = common::records::meta(path, repetition);
    meta.load.target_rate = Some(50.0);
    meta.load.achieved_rate = Some(49.75);
    meta.load.duration = Duration::from_millis(2_999);
    meta.steps = vec![
        ("flow".into(), "execute".into()),
        ("flow".into(), "status".into()),
    ];
    meta
}

/// A run whose step 0 has 90 successes at `fast` µs and 10 at `slow` µs (so p50 = `fast`,
/// p95 = p99 = `slow`, exactly: both below 2048, where the histograms are exact), plus
/// `failures` 5xx; step 1 has 20 successes at 500 µs.
fn run_with(meta: RunMeta, fast: u64, slow: u64, failures: u64) -> RunRecord {
    let mut recorder = Recorder::new(2, Duration::ZERO);
    let mut id = 0u64;
    let mut record = |step, latency_us, class, status| {
        id += 1;
        let intended = Duration::from_millis(id * 10);
        recorder.record_sent(intended);
        recorder.record(&Outcome {
            step,
            intended,
            latency: Duration::from_micros(latency_us),
            class,
            status: Some(status),
            request_id: id,
        });
    };
    for i in 0..100 {
        let latency = if i < 90 { fast } else { slow };
        record(0, latency, OutcomeClass::Ok, 200);
    }
    for _ in 0..failures {
        record(0, 900, OutcomeClass::Http5xx, 503);
    }
    for _ in 0..20 {
        record(1, 500, OutcomeClass::Ok, 200);
    }
    RunRecord::build(recorder.finish(), meta)
}

fn run(path: &str, repetition: u32, fast: u64, slow: u64) -> RunRecord {
    run_with(meta(path, repetition), fast, slow, 2)
}

fn sources(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("runs/legacy-{i}.json")).collect()
}

fn three_runs(path: &str) -> Vec<RunRecord> {
    vec![
        run(path, 1, 1000, 1800),
        run(path, 2, 1100, 1900),
        run(path, 3, 1200, 2000),
    ]
}

fn baseline(path: &str) -> Baseline {
    Baseline::from_records(three_runs(path), sources(3), POLICY).expect("builds")
}

fn store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("baselines");
    (dir, root)
}

fn refused(records: Vec<RunRecord>) -> BaselineError {
    let n = records.len();
    Baseline::from_records(records, sources(n), POLICY).expect_err("must be refused")
}

#[test]
fn save_then_load_round_trips_exactly() {
    let (_dir, root) = store();
    let b = baseline("legacy");
    assert_eq!(b.schema, BASELINE_SCHEMA);
    assert_eq!(b.content_hash, b.compute_hash().expect("hash"));
    let file = b.save(&root, false).expect("saves");
    assert_eq!(file, root.join("demo").join("legacy.json"));
    assert_eq!(file, baseline_file(&root, "demo", "legacy"));
    let loaded = Baseline::load(&file).expect("loads");
    assert_eq!(loaded, b);
    assert_eq!(loaded.compute_hash().expect("hash"), loaded.content_hash);
    // Saving what was loaded writes the same bytes: floats, histograms and the hash are
    // stable through a round trip.
    let (_other, root2) = store();
    let file2 = loaded.save(&root2, false).expect("saves again");
    assert_eq!(
        fs::read(&file).expect("reads"),
        fs::read(&file2).expect("reads")
    );
    // No temp files are left behind.
    let names: Vec<_> = fs::read_dir(root.join("demo"))
        .expect("lists")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec!["legacy.json"]);
    assert_eq!(
        Baseline::load_for(&root, "demo", "legacy").expect("loads"),
        b
    );
}

#[test]
fn the_baseline_holds_records_summary_and_provenance() {
    let b = baseline("legacy");
    assert_eq!(b.records.len(), 3);
    assert_eq!(
        (b.scenario.name.as_str(), b.path.as_str()),
        ("demo", "legacy")
    );
    assert_eq!(b.policy_version, POLICY);
    assert_eq!(b.provenance.runs, sources(3));
    assert_eq!(b.provenance.harness_version, env!("CARGO_PKG_VERSION"));
    assert!(
        b.provenance.created_at.ends_with('Z') && b.provenance.created_at.len() == 20,
        "{}",
        b.provenance.created_at
    );
    let s = &b.summary[0];
    assert_eq!((s.flow.as_str(), s.step.as_str()), ("flow", "execute"));
    assert_eq!(s.ok.len(), 300);
    assert_eq!(s.count, 306);
    assert_eq!(s.classes.get(&OutcomeClass::Http5xx), Some(&6));
    assert!((s.error_rate - 6.0 / 306.0).abs() < 1e-12);
    assert_eq!(s.p50_us, 1100);
    assert_eq!(s.p99_us, 2000);
    assert_eq!(b.summary[1].p50_us, 500);
    assert_eq!(b.total_requests(), 306 + 60);
}

#[test]
fn the_noise_model_of_five_runs_is_the_log_sd_of_their_quantiles() {
    let fast = [1000, 1100, 1200, 1300, 1500];
    let slow = [1800, 1900, 2000, 1700, 2040];
    let records: Vec<_> = (0..5)
        .map(|i| run("legacy", i as u32 + 1, fast[i], slow[i]))
        .collect();
    let b = Baseline::from_records(records, sources(5), POLICY).expect("builds");
    let step = &b.noise.steps[0];
    assert_eq!(step.runs, 5);
    assert_eq!(step.source, NoiseSource::Repetitions);
    // Computed by hand (Python `statistics.stdev` of the natural logs, n - 1).
    let p50_sd = 0.15554967037634285;
    let p95_sd = 0.0751862586853346;
    for (q, want) in [(0.50, p50_sd), (0.95, p95_sd), (0.99, p95_sd)] {
        let got = step.log_sd(q).expect("measured");
        assert!((got - want).abs() < 1e-12, "q {q}: {got} vs {want}");
    }
    let mean = step.quantiles[0].log_mean.expect("mean");
    assert!((mean - 7.096847500816924).abs() < 1e-12, "{mean}");
    // Step 1 is 500 µs in every run: no noise at all.
    assert_eq!(b.noise.steps[1].log_sd(0.5), Some(0.0));
    // One run measures no spread.
    let one = Baseline::from_records(vec![run("legacy", 1, 1000, 1800)], sources(1), POLICY)
        .expect("builds");
    assert_eq!(one.noise.steps[0].runs, 1);
    assert_eq!(one.noise.steps[0].log_sd(0.5), None);
}

#[test]
fn an_existing_file_is_not_overwritten_without_force() {
    let (_dir, root) = store();
    let file = baseline("legacy").save(&root, false).expect("saves");
    let before = fs::read(&file).expect("reads");
    let newer = Baseline::from_records(
        vec![run("legacy", 7, 1400, 1900), run("legacy", 8, 1450, 1950)],
        sources(2),
        POLICY,
    )
    .expect("builds");
    let err = newer.save(&root, false).expect_err("must be refused");
    assert!(matches!(err, BaselineError::Exists { .. }), "{err}");
    assert!(err.is_bad_input());
    let message = err.to_string();
    assert!(
        message.ends_with("baselines/demo/legacy.json exists; pass --force to replace it"),
        "{message}"
    );
    assert_eq!(fs::read(&file).expect("reads"), before);
    // With force it is replaced.
    newer.save(&root, true).expect("replaces");
    assert_eq!(Baseline::load(&file).expect("loads"), newer);
}

#[test]
fn a_corrupt_file_is_kept_without_force_and_replaced_with_it() {
    let (_dir, root) = store();
    let file = baseline_file(&root, "demo", "legacy");
    fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    fs::write(&file, b"{ \"schema\": \"harness-baseline/v1\", \"recor").expect("writes");
    let before = fs::read(&file).expect("reads");
    let b = baseline("legacy");
    let err = b.save(&root, false).expect_err("must be refused");
    assert!(matches!(err, BaselineError::Exists { .. }), "{err}");
    assert_eq!(fs::read(&file).expect("reads"), before);
    b.save(&root, true).expect("replaces the corrupt file");
    assert_eq!(Baseline::load(&file).expect("loads"), b);
}

#[test]
fn an_interrupted_run_is_never_saved() {
    let mut interrupted = meta("legacy", 2);
    interrupted.complete = false;
    let records = vec![
        run("legacy", 1, 1000, 1800),
        run_with(interrupted, 1000, 1800, 0),
    ];
    let err = refused(records);
    assert!(matches!(err, BaselineError::Incomplete { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("runs/legacy-2.json"), "{message}");
    assert!(
        message.contains("an interrupted run is never saved as a baseline"),
        "{message}"
    );
    assert!(matches!(refused(vec![]), BaselineError::NoRecords));
}

#[test]
fn records_of_different_scenarios_paths_hashes_or_machines_are_refused() {
    let mut other_scenario = meta("legacy", 2);
    other_scenario.scenario.name = "other".into();
    let mut other_hash = meta("legacy", 2);
    other_hash.scenario.hash = "cd".repeat(32);
    for (second, what) in [
        (run_with(other_scenario, 1000, 1800, 0), "scenario"),
        (run_with(other_hash, 1000, 1800, 0), "scenario hash"),
        (run("dagger", 2, 1000, 1800), "path"),
    ] {
        let err = refused(vec![run("legacy", 1, 1000, 1800), second]);
        let message = err.to_string();
        assert!(
            matches!(err, BaselineError::Mixed { what: w, .. } if w == what),
            "{message}"
        );
        assert!(
            message.contains("runs/legacy-1.json") && message.contains("runs/legacy-2.json"),
            "{message}"
        );
    }
    let mut elsewhere = meta("legacy", 2);
    elsewhere.environment.cpu_model = "Other CPU".into();
    let err = refused(vec![
        run("legacy", 1, 1000, 1800),
        run_with(elsewhere, 1000, 1800, 0),
    ]);
    assert!(
        matches!(err, BaselineError::MixedEnvironment { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("cpu_model `Test CPU` → `Other CPU`")
            && message.contains("mixes no machines"),
        "{message}"
    );
}

#[test]
fn the_same_run_twice_is_refused() {
    let r = run("legacy", 1, 1000, 1800);
    let err = refused(vec![r.clone(), run("legacy", 2, 1000, 1800), r]);
    assert!(matches!(err, BaselineError::Duplicate { .. }), "{err}");
    assert!(err.to_string().contains("runs/legacy-3.json"), "{err}");
}

#[test]
fn a_name_that_cannot_be_a_file_name_is_refused() {
    let mut bad = meta("legacy", 1);
    bad.scenario.name = "../escape".into();
    let err = refused(vec![run_with(bad, 1000, 1800, 0)]);
    assert!(matches!(err, BaselineError::InvalidName { .. }), "{err}");
}

/// Replaces the first `"count": N` in the file's text with N + 1: still valid JSON.
fn bump_first_count(text: &str) -> String {
    let key = "\"count\": ";
    let start = text.find(key).expect("a count") + key.len();
    let end = start
        + text[start..]
            .find(|c: char| !c.is_ascii_digit())
            .expect("digits end");
    let n: u64 = text[start..end].parse().expect("a number");
    format!("{}{}{}", &text[..start], n + 1, &text[end..])
}

#[test]
fn a_hand_edited_file_is_refused_and_left_untouched() {
    let (_dir, root) = store();
    let file = baseline("legacy").save(&root, false).expect("saves");
    let text = fs::read_to_string(&file).expect("reads");
    let edited = bump_first_count(&text);
    assert_ne!(edited, text);
    fs::write(&file, &edited).expect("writes");
    let err = Baseline::load(&file).expect_err("must be refused");
    assert!(matches!(err, BaselineError::HashMismatch { .. }), "{err}");
    assert!(err.is_bad_input());
    let message = err.to_string();
    assert!(
        message.contains(&file.display().to_string())
            && message.contains("harness baseline save")
            && message.contains("--force"),
        "{message}"
    );
    assert_eq!(fs::read_to_string(&file).expect("reads"), edited);
    // Re-indenting is not an edit: the hash covers values, not whitespace.
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    fs::write(&file, serde_json::to_vec(&value).expect("compact")).expect("writes");
    Baseline::load(&file).expect("a re-indented file still loads");
}

#[test]
fn a_truncated_file_is_refused() {
    let (_dir, root) = store();
    let file = baseline("legacy").save(&root, false).expect("saves");
    let bytes = fs::read(&file).expect("reads");
    for cut in [bytes.len() / 2, bytes.len() - 2, 0] {
        fs::write(&file, &bytes[..cut]).expect("writes");
        let err = Baseline::load(&file).expect_err("must be refused");
        assert!(
            matches!(err, BaselineError::Truncated { .. }),
            "cut {cut}: {err}"
        );
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn a_run_record_given_as_a_baseline_gets_a_hint() {
    let (dir, _root) = store();
    let file = dir.path().join("runs/legacy-1.json");
    run("legacy", 1, 1000, 1800)
        .write_atomic(&file)
        .expect("writes");
    let err = Baseline::load(&file).expect_err("must be refused");
    assert!(matches!(err, BaselineError::WrongSchema { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("this is a run record") && message.contains("harness baseline save"),
        "{message}"
    );
}

#[test]
fn missing_unreadable_and_malformed_files_are_distinct_errors() {
    let (dir, _root) = store();
    let missing = dir.path().join("nope.json");
    assert!(matches!(
        Baseline::load(&missing),
        Err(BaselineError::NotFound { .. })
    ));
    let file = dir.path().join("x.json");
    fs::write(&file, "not json at all").expect("writes");
    let err = Baseline::load(&file).expect_err("must be refused");
    assert!(matches!(err, BaselineError::NotJson { .. }), "{err}");
    fs::write(&file, "[1, 2]").expect("writes");
    let err = Baseline::load(&file).expect_err("must be refused");
    assert!(matches!(err, BaselineError::WrongSchema { .. }), "{err}");
    // A valid baseline whose hash field was removed.
    let mut value = serde_json::to_value(baseline("legacy")).expect("value");
    value
        .as_object_mut()
        .expect("object")
        .remove("content_hash");
    fs::write(&file, serde_json::to_vec(&value).expect("bytes")).expect("writes");
    let err = Baseline::load(&file).expect_err("must be refused");
    assert!(matches!(err, BaselineError::Invalid { .. }), "{err}");
    assert!(
        Baseline::load(dir.path()).is_err(),
        "a directory is no baseline"
    );
}

#[test]
fn a_write_failure_is_not_bad_input() {
    let (dir, _root) = store();
    // A regular file where the store's directory should be.
    let root = dir.path().join("occupied");
    fs::write(&root, b"x").expect("writes");
    let err = baseline("legacy")
        .save(&root, false)
        .expect_err("must fail");
    assert!(matches!(err, BaselineError::Write { .. }), "{err}");
    assert!(!err.is_bad_input());
}

#[test]
fn list_shows_good_and_corrupt_baselines() {
    let (_dir, root) = store();
    baseline("legacy").save(&root, false).expect("saves");
    let dagger = baseline("dagger").save(&root, false).expect("saves");
    let text = fs::read_to_string(&dagger).expect("reads");
    fs::write(&dagger, bump_first_count(&text)).expect("writes");
    // A copy in the wrong place, and files that are not baselines.
    let misplaced = baseline_file(&root, "other", "legacy");
    fs::create_dir_all(misplaced.parent().expect("parent")).expect("mkdir");
    fs::copy(baseline_file(&root, "demo", "legacy"), &misplaced).expect("copies");
    fs::write(root.join("README.md"), "# baselines").expect("writes");
    fs::write(root.join("demo").join("notes.txt"), "hi").expect("writes");

    let entries = list(&root).expect("lists");
    let keys: Vec<_> = entries
        .iter()
        .map(|e| (e.scenario.as_str(), e.path.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![("demo", "dagger"), ("demo", "legacy"), ("other", "legacy")]
    );
    assert!(
        matches!(
            &entries[0].status,
            EntryStatus::Unusable(BaselineError::HashMismatch { .. })
        ),
        "{:?}",
        entries[0].status
    );
    match &entries[1].status {
        EntryStatus::Ok(facts) => {
            assert_eq!(facts.runs, 3);
            assert_eq!(facts.total_requests, 366);
            assert_eq!(facts.first_step_p50_us, Some(1100));
            // Pooled: 270 fast, then 10 each at 1800, 1900, 2000 µs; rank 285 is 1900.
            assert_eq!(facts.first_step_p95_us, Some(1900));
            assert!((facts.error_rate - 6.0 / 366.0).abs() < 1e-12);
            assert_eq!(facts.harness_version, env!("CARGO_PKG_VERSION"));
            assert_eq!(facts.policy_version, POLICY);
        }
        other => panic!("demo/legacy should load: {other:?}"),
    }
    assert!(
        matches!(
            &entries[2].status,
            EntryStatus::Unusable(BaselineError::Misplaced { .. })
        ),
        "{:?}",
        entries[2].status
    );
}

#[test]
fn list_of_a_missing_store_is_empty() {
    let (_dir, root) = store();
    assert!(list(&root).expect("lists").is_empty());
    assert!(
        list(Path::new("/nonexistent/baselines"))
            .expect("lists")
            .is_empty()
    );
}

#[test]
fn calibration_replaces_the_noise_model() {
    let (_dir, root) = store();
    let mut b = baseline("legacy");
    let aa = vec![
        run("legacy", 11, 1000, 1800),
        run("legacy", 12, 1000, 1800),
        run("legacy", 13, 1000, 1800),
    ];
    let names = vec![
        "aa-1.json".to_owned(),
        "aa-2.json".into(),
        "aa-3.json".into(),
    ];
    let rates = serde_json::json!({"false_rollback": 0.0, "false_go": 0.01});
    let hash_before = b.content_hash.clone();
    b.set_noise_from_calibration(&aa, &names, Some(rates.clone()))
        .expect("calibrates");
    assert_ne!(b.content_hash, hash_before);
    assert_eq!(b.content_hash, b.compute_hash().expect("hash"));
    let step = &b.noise.steps[0];
    assert_eq!((step.source, step.runs), (NoiseSource::Calibration, 3));
    assert_eq!(step.log_sd(0.5), Some(0.0));
    assert_eq!(b.noise.calibration, Some(rates));
    assert_eq!(b.provenance.calibration_runs, names);
    let file = b.save(&root, false).expect("saves");
    assert_eq!(Baseline::load(&file).expect("loads"), b);

    // A/A runs of another path or too few runs are refused.
    let err = b
        .set_noise_from_calibration(&three_runs("dagger"), &names, None)
        .expect_err("must be refused");
    assert!(
        matches!(err, BaselineError::CalibrationMismatch { what: "path", .. }),
        "{err}"
    );
    let err = b
        .set_noise_from_calibration(&aa[..1], &names, None)
        .expect_err("must be refused");
    assert!(
        matches!(err, BaselineError::TooFewCalibrationRuns { .. }),
        "{err}"
    );
}

#[test]
fn a_changed_baseline_is_saved_with_a_fresh_hash() {
    let (_dir, root) = store();
    let mut b = baseline("legacy");
    b.policy_version = "policy/v2".into();
    let file = b.save(&root, false).expect("saves");
    let loaded = Baseline::load(&file).expect("loads the consistent file");
    assert_eq!(loaded.policy_version, "policy/v2");
    assert_ne!(loaded.content_hash, b.content_hash);
}
