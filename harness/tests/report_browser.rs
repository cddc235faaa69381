//! The HTML report in a real browser: headless Chromium loads a report of a deterministic
//! comparison from a `file://` URL, its DOM holds the verdict and the decision table, and
//! a screenshot of it is a picture, not a blank page.
//!
//! Without Chromium on PATH the test prints `skipped: chromium not found` and passes,
//! unless `HARNESS_REQUIRE_CHROMIUM=1` (CI sets it once Chromium is installed), which
//! turns a missing browser into a failure. `HARNESS_WRITE_SCREENSHOT=<path>` copies the
//! screenshot there; normal runs write nothing outside their temporary directory. Cargo
//! runs tests in `harness/`, so give an absolute path; `docs/report-example.png` is made
//! with `HARNESS_WRITE_SCREENSHOT=$PWD/docs/report-example.png cargo test -p harness
//! --test report_browser` from the repository root.

mod common;

use std::fs::{self, File};
use std::io::{Cursor, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use harness::compare::{Noise, Side, compare, judge_expectations};
use harness::load::{Outcome, OutcomeClass};
use harness::policy::Policy;
use harness::record::{
    FaultRecord, LoadModelKind, LoadPlan, Recorder, RunMeta, RunRecord, ScenarioRef,
};
use harness::report::ReportDocument;
use harness::report::html::render_html;
use harness::resilience::{FaultWindow, Observation, PhaseStats};
use harness::scenario::ExpectSpec;
use harness::units::HumanDuration;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Longest a Chromium call may take before it is killed and the test fails.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);
/// Names Chromium goes by on PATH, in order of preference.
const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];
/// Warmup of every synthetic run, seconds.
const WARMUP_S: u64 = 2;
/// Measured window of every synthetic run, seconds.
const MEASURED_S: u64 = 60;
/// The fault window, seconds since the run started (warmup included).
const FAULT: (f64, f64) = (22.0, 32.0);

// ---------------------------------------------------------------------------------------
// A deterministic comparison
// ---------------------------------------------------------------------------------------

/// How one path behaves: latency centre and spread, and its error rate under the fault.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    median_ms: f64,
    /// Sigma of the log-normal latency.
    sigma: f64,
    /// Share of requests failing while the fault is active.
    fault_errors: f64,
}

const LEGACY: Behaviour = Behaviour {
    median_ms: 8.0,
    sigma: 0.35,
    fault_errors: 0.30,
};
const DAGGER: Behaviour = Behaviour {
    median_ms: 7.7,
    sigma: 0.45,
    fault_errors: 0.12,
};

/// One run of `path`: two steps at 50 requests/s each, a dependency fault from 22 s to 32 s
/// (run clock) that fails requests and slows the rest.
fn run(path: &str, b: Behaviour, repetition: u32, seed: u64) -> RunRecord {
    let warmup = Duration::from_secs(WARMUP_S);
    let mut recorder = Recorder::new(2, warmup);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut id = 0u64;
    for tick in 0..(WARMUP_S + MEASURED_S) * 50 {
        for step in 0..2u16 {
            id += 1;
            let intended = Duration::from_millis(tick * 20 + u64::from(step) * 10);
            let at = intended.as_secs_f64();
            let in_fault = (FAULT.0..FAULT.1).contains(&at);
            // Box–Muller: a standard normal from two uniforms, for a log-normal latency.
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let slow = if in_fault { 2.5 } else { 1.0 };
            let step_factor = if step == 0 { 1.0 } else { 1.6 };
            let ms = b.median_ms * step_factor * slow * (b.sigma * z).exp();
            let failed = in_fault && rng.random::<f64>() < b.fault_errors;
            recorder.record_sent(intended);
            recorder.record(&Outcome {
                step,
                intended,
                latency: Duration::from_micros((ms * 1_000.0) as u64),
                class: if failed {
                    OutcomeClass::Http5xx
                } else {
                    OutcomeClass::Ok
                },
                status: Some(if failed { 503 } else { 200 }),
                request_id: id,
            });
        }
    }
    let meta = RunMeta {
        scenario: ScenarioRef {
            name: "checkout-dependency-errors".into(),
            hash: "3f".repeat(32),
            file: "scenarios/checkout-dependency-errors.toml".into(),
        },
        path: path.into(),
        repetition,
        seed,
        started_at: SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_750_000_000 + u64::from(repetition) * 120),
        environment: common::records::environment(),
        load: LoadPlan {
            model: LoadModelKind::Open,
            target_rate: Some(100.0),
            achieved_rate: Some(100.0),
            users: None,
            duration: Duration::from_secs(MEASURED_S),
            warmup,
            max_in_flight: Some(256),
            dispatch_lag_p99_us: Some(150),
        },
        steps: vec![
            ("checkout".into(), "login".into()),
            ("checkout".into(), "pay".into()),
        ],
        complete: true,
        notes: vec![],
    };
    let mut record = RunRecord::build(recorder.finish(), meta);
    record.faults = vec![FaultRecord {
        name: "payments-503".into(),
        kind: "http_error".into(),
        at: "dependency".into(),
        probability: b.fault_errors,
        per: "request".into(),
        windows: vec![FAULT],
        attempts: 1_000,
        injected: (1_000.0 * b.fault_errors) as u64,
    }];
    record.resilience = vec![observation(b)];
    record
}

/// What the fault showed of a path: the Dagger path's breaker opens, legacy's never does.
fn observation(b: Behaviour) -> Observation {
    let phase = |error_rate: f64, p50: u64, p99: u64| PhaseStats {
        requests: 1_000,
        errors: (1_000.0 * error_rate) as u64,
        error_rate,
        p50: Some(Duration::from_millis(p50)),
        p99: Some(Duration::from_millis(p99)),
    };
    let breaker = b.fault_errors < 0.2;
    Observation {
        window: FaultWindow {
            name: "payments-503".into(),
            start: Duration::from_secs_f64(FAULT.0),
            end: Duration::from_secs_f64(FAULT.1),
        },
        before: phase(0.0, 8, 30),
        during: phase(b.fault_errors, 20, 80),
        after: phase(0.0, 8, 31),
        amplification: Some(if breaker { 0.4 } else { 2.8 }),
        amplification_before: Some(1.0),
        time_to_open: breaker.then_some(Duration::from_millis(600)),
        fail_fast_p50: breaker.then_some(Duration::from_micros(400)),
        fail_fast_p99: breaker.then_some(Duration::from_micros(1_900)),
        probe_rate: breaker.then_some(0.5),
        time_to_recover: Some(Duration::from_millis(if breaker { 1_200 } else { 3_400 })),
        injected_failures: 100,
        service_failures: if breaker { 20 } else { 200 },
        unattributed_attempts: 0,
        attempts_during: 120,
        amplification_unattributed: Some(1.0),
        breaker_openings: 1,
        retries_during: None,
    }
}

fn side(label: &str, records: Vec<RunRecord>) -> Side {
    Side {
        label: label.into(),
        records,
        noise: Noise::default(),
    }
}

/// The base side, with quiet run-to-run noise as a baseline's model would give it.
fn base_side(label: &str, records: Vec<RunRecord>) -> Side {
    Side {
        noise: common::records::quiet_noise(&records),
        ..side(label, records)
    }
}

/// Five runs a side; the candidate is faster at the median, slower in the tail (NO-GO).
fn document() -> ReportDocument {
    let base: Vec<RunRecord> = (1..=5)
        .map(|r| run("legacy", LEGACY, r, 100 + u64::from(r)))
        .collect();
    let candidate: Vec<RunRecord> = (1..=5)
        .map(|r| run("dagger", DAGGER, r, 200 + u64::from(r)))
        .collect();
    let spec = ExpectSpec {
        circuit_opens_within: Some(HumanDuration(Duration::from_secs(1))),
        recovers_within: Some(HumanDuration(Duration::from_secs(2))),
        critical: vec!["circuit_opens_within".into()],
        ..ExpectSpec::default()
    };
    let all: Vec<RunRecord> = base.iter().chain(&candidate).cloned().collect();
    let expectations = judge_expectations(&spec, &all, &["dagger".to_string()], Some("legacy"));
    let comparison = compare(
        &base_side("legacy, live", base.clone()),
        &side("dagger, live", candidate.clone()),
        &Policy::default(),
        Vec::new(),
    )
    .with_expectations(expectations);
    let mut doc = ReportDocument::new(
        comparison,
        base,
        candidate,
        "harness compare scenarios/checkout-dependency-errors.toml --repetitions 5".into(),
        vec!["scenarios/checkout-dependency-errors.toml".into()],
    );
    // Stamped with a fixed time so that the page is the same on every run.
    doc.generated_at = "2025-06-15T16:00:00Z".into();
    doc
}

// ---------------------------------------------------------------------------------------
// Chromium
// ---------------------------------------------------------------------------------------

/// The first Chromium on PATH.
fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    BROWSERS.iter().find_map(|name| {
        dirs.iter().map(|d| d.join(name)).find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Runs headless Chromium with `args`, stdout to `stdout`; kills it (and the renderer
/// processes it started, which share its process group) after [`CHROMIUM_TIMEOUT`].
fn chromium(binary: &Path, profile: &Path, args: &[String], stdout: &Path) -> ExitStatus {
    let stderr_path = stdout.with_extension("stderr");
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(stdout).expect("creates the stdout file"))
        .stderr(File::create(&stderr_path).expect("creates the stderr file"))
        .process_group(0)
        .spawn()
        .expect("starts chromium");
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("waits for chromium") {
            return status;
        }
        if Instant::now() >= deadline {
            // Its own group: this ends Chromium's helpers too, and nothing else.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium took longer than {CHROMIUM_TIMEOUT:?} with {args:?}; stderr:\n{}",
                fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Width, height and number of distinct colours of a PNG.
fn png_summary(bytes: &[u8]) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let pixel = info.line_size / info.width.max(1) as usize;
    let mut colours = std::collections::HashSet::new();
    for row in buf[..info.buffer_size()].chunks(info.line_size) {
        for px in row.chunks(pixel.max(1)) {
            colours.insert(px.to_vec());
            if colours.len() > 64 {
                return (info.width, info.height, colours.len());
            }
        }
    }
    (info.width, info.height, colours.len())
}

#[test]
fn the_report_renders_in_chromium() {
    let doc = document();
    let html = render_html(&doc);
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.html");
    fs::write(&report, &html).expect("writes the report");

    let Some(binary) = find_chromium() else {
        if std::env::var("HARNESS_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
            panic!("HARNESS_REQUIRE_CHROMIUM=1 but no chromium on PATH ({BROWSERS:?})");
        }
        println!("skipped: chromium not found");
        return;
    };
    let url = url::Url::from_file_path(&report)
        .expect("an absolute path")
        .to_string();
    let profile = dir.path().join("profile");

    // 1. The DOM Chromium built from the file holds the verdict and the decision table.
    let dom_path = dir.path().join("dom.html");
    let status = chromium(
        &binary,
        &profile,
        &["--dump-dom".into(), url.clone()],
        &dom_path,
    );
    assert!(status.success(), "chromium --dump-dom failed: {status}");
    let dom = fs::read_to_string(&dom_path).expect("reads the DOM");
    let verdict = doc.comparison.verdict.as_str();
    assert!(
        dom.contains(&format!("<span class=\"verdict-word\">{verdict}</span>")),
        "verdict {verdict} not in the DOM:\n{}",
        &dom[..dom.len().min(2_000)]
    );
    assert!(
        dom.contains("id=\"decision-table\""),
        "no decision table in the DOM"
    );
    for row in &doc.comparison.rows {
        assert!(
            dom.contains(&row.reason),
            "row `{}` not in the DOM",
            row.reason
        );
    }
    assert_eq!(
        dom.matches("<svg").count(),
        4,
        "two spectra and two timelines"
    );

    // 2. A screenshot of it is a picture of a page, not a blank one.
    let png_path = dir.path().join("report.png");
    let status = chromium(
        &binary,
        &profile,
        &[
            format!("--screenshot={}", png_path.display()),
            "--window-size=1280,2000".into(),
            url,
        ],
        &dir.path().join("screenshot.out"),
    );
    assert!(status.success(), "chromium --screenshot failed: {status}");
    let mut bytes = Vec::new();
    File::open(&png_path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .expect("chromium wrote the screenshot");
    assert!(
        bytes.len() > 20_000,
        "screenshot of {} bytes is too small",
        bytes.len()
    );
    let (width, height, colours) = png_summary(&bytes);
    assert!(
        width >= 1_000 && height >= 1_500,
        "screenshot is {width}×{height}"
    );
    assert!(colours > 16, "screenshot has {colours} colour(s): blank");

    if let Some(target) = std::env::var_os("HARNESS_WRITE_SCREENSHOT") {
        let target = PathBuf::from(target);
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).expect("creates the screenshot's folder");
        }
        fs::write(&target, &bytes).expect("writes the screenshot");
        println!("screenshot written to {}", target.display());
    }
}
