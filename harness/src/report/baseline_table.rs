//! Tables of stored baselines: `harness baseline list` and `harness baseline show`.

use super::format::{ms, percent};
use tabled::settings::Style;
use tabled::{Table, Tabled};

use crate::baseline::{Baseline, BaselineEntry, EntryStatus};
use crate::text::printable_lines;

#[derive(Tabled)]
struct ListLine {
    scenario: String,
    path: String,
    runs: String,
    created: String,
    requests: String,
    #[tabled(rename = "p50 ms")]
    p50: String,
    #[tabled(rename = "p95 ms")]
    p95: String,
    errors: String,
    status: String,
}

/// One line per baseline file; unusable files are shown with why.
pub fn baseline_list_table(entries: &[BaselineEntry]) -> String {
    if entries.is_empty() {
        return "no baselines yet: `harness baseline establish --plan ci/phases.toml` measures every phase scenario's base path, or run `harness run SCENARIO`, then `harness baseline save reports/.../runs/*.json`".into();
    }
    let lines: Vec<ListLine> = entries
        .iter()
        .map(|e| match &e.status {
            EntryStatus::Ok(f) => ListLine {
                scenario: e.scenario.clone(),
                path: e.path.clone(),
                runs: f.runs.to_string(),
                created: f.created_at.clone(),
                requests: f.total_requests.to_string(),
                p50: f.first_step_p50_us.map(ms).unwrap_or_else(|| "-".into()),
                p95: f.first_step_p95_us.map(ms).unwrap_or_else(|| "-".into()),
                errors: percent(f.error_rate),
                status: "ok".into(),
            },
            EntryStatus::Unusable(err) => ListLine {
                scenario: e.scenario.clone(),
                path: e.path.clone(),
                runs: "-".into(),
                created: "-".into(),
                requests: "-".into(),
                p50: "-".into(),
                p95: "-".into(),
                errors: "-".into(),
                status: format!("UNUSABLE: {}", first_line(&err.to_string())),
            },
        })
        .collect();
    let mut table = Table::new(lines);
    table.with(Style::rounded());
    printable_lines(&table.to_string()).into_owned()
}

#[derive(Tabled)]
struct StepLine {
    step: String,
    requests: u64,
    errors: String,
    #[tabled(rename = "p50 ms")]
    p50: String,
    #[tabled(rename = "p95 ms")]
    p95: String,
    #[tabled(rename = "p99 ms")]
    p99: String,
    #[tabled(rename = "noise p50/p95 (sd of ln)")]
    noise: String,
}

/// A baseline in detail: provenance, then one line per step with its noise.
pub fn baseline_show(b: &Baseline) -> String {
    let mut out = format!(
        "{} / {}: {} run(s), created {} by harness {}{}, policy {}\nscenario hash {}\nsource runs: {}\n",
        b.scenario.name,
        b.path,
        b.records.len(),
        b.provenance.created_at,
        b.provenance.harness_version,
        b.provenance
            .git_revision
            .as_deref()
            .map(|g| format!(" (git {g})"))
            .unwrap_or_default(),
        b.policy_version,
        b.scenario.hash,
        b.provenance.runs.join(", ")
    );
    let lines: Vec<StepLine> = b
        .summary
        .iter()
        .map(|s| {
            let noise = b
                .noise
                .steps
                .iter()
                .find(|n| n.flow == s.flow && n.step == s.step);
            let sd = |q: f64| {
                noise
                    .and_then(|n| n.log_sd(q))
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or_else(|| "-".into())
            };
            StepLine {
                step: format!("{}/{}", s.flow, s.step),
                requests: s.count,
                errors: percent(s.error_rate),
                p50: ms(s.p50_us),
                p95: ms(s.p95_us),
                p99: ms(s.p99_us),
                noise: format!(
                    "{} / {}{}",
                    sd(0.5),
                    sd(0.95),
                    noise
                        .map(|n| format!(" ({:?})", n.source).to_lowercase())
                        .unwrap_or_default()
                ),
            }
        })
        .collect();
    let mut table = Table::new(lines);
    table.with(Style::rounded());
    out.push_str(&table.to_string());
    if let Some(cal) = &b.noise.calibration {
        out.push_str(&format!("\ncalibration: {cal}"));
    }
    printable_lines(&out).into_owned()
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}
