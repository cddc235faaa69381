//! The terminal summary of `harness run`: one row per path, repetition and step.

use super::format::{fault_line, ms};
use tabled::settings::Style;
use tabled::{Table, Tabled};

use crate::outcome::OutcomeClass;
use crate::record::{RunRecord, StepRecord, check_summary};
use crate::text::printable_lines;

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "path")]
    path: String,
    #[tabled(rename = "rep")]
    repetition: String,
    #[tabled(rename = "step")]
    step: String,
    #[tabled(rename = "count")]
    count: u64,
    #[tabled(rename = "rate/s")]
    rate: String,
    #[tabled(rename = "p50 ms")]
    p50: String,
    #[tabled(rename = "p95 ms")]
    p95: String,
    #[tabled(rename = "p99 ms")]
    p99: String,
    #[tabled(rename = "max ms")]
    max: String,
    #[tabled(rename = "errors")]
    errors: String,
}

/// One line on a Dagger run's spans: how many arrived of the steps the engine ran, and
/// the cache-hit ratio with the attribute it rests on.
fn telemetry_line(t: &crate::otlp::TelemetrySummary) -> String {
    let traces = match t.traced_steps {
        Some(steps) => format!(", spans of {} of {steps} engine steps", t.traces),
        None => String::new(),
    };
    let cache = match (t.cache_hit_ratio, &t.cache_attribute) {
        (Some(r), Some(attr)) => format!(", cache hits {:.0}% ({attr})", r * 100.0),
        (Some(r), None) => format!(", cache hits {:.0}%", r * 100.0),
        _ => String::new(),
    };
    let waited = t
        .waited_ms
        .map(|ms| format!(", waited {:.1} s for the last batch", ms as f64 / 1000.0))
        .unwrap_or_default();
    format!("telemetry: {} spans{traces}{cache}{waited}", t.spans)
}

/// A table of every step of every record (latencies of successful requests).
pub fn run_summary_table(records: &[&RunRecord]) -> String {
    let rows: Vec<Row> = records
        .iter()
        .flat_map(|r| r.steps.iter().map(move |s| row(r, s)))
        .collect();
    if rows.is_empty() {
        return "no runs were recorded".to_string();
    }
    let mut table = Table::new(rows);
    table.with(Style::rounded());
    let mut out = table.to_string();
    for record in records {
        let load = &record.load;
        let target = load
            .target_rate
            .map(|t| format!("target {t:.1}/s, "))
            .unwrap_or_default();
        let lag = load
            .dispatch_lag_p99_us
            .map(|l| format!(", generator lag p99 {} ms", ms(l)))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n{} r{}: {target}achieved {:.1}/s, {} dropped{lag}{}",
            record.path,
            record.repetition,
            load.achieved_rate,
            load.dropped,
            if record.complete {
                ""
            } else {
                "  [INCOMPLETE]"
            }
        ));
        if let Some(shortfall) = load.shortfall() {
            out.push_str(&format!("\n  warning: {shortfall}"));
        }
        for fault in &record.faults {
            out.push_str(&format!("\n  {}", fault_line(fault)));
        }
        if let Some(t) = &record.telemetry {
            out.push_str(&format!("\n  {}", telemetry_line(t)));
        }
        if let Some(m) = &record.metrics {
            for line in metrics_lines(m) {
                out.push_str(&format!("\n  {line}"));
            }
        }
        for step in &record.steps {
            for line in check_summary(&step.check_failures, step.count()) {
                out.push_str(&format!("\n  {}/{}: {line}", step.flow, step.step));
            }
        }
        for note in record
            .notes
            .iter()
            .filter(|n| n.starts_with("check failed: "))
        {
            out.push_str(&format!("\n  {note}"));
        }
        // How TLS failed: a `tls` count alone does not say which certificate problem.
        for note in record
            .notes
            .iter()
            .filter(|n| n.starts_with("failure: tls: "))
        {
            out.push_str(&format!("\n  {note}"));
        }
        for warning in &record.warnings {
            out.push_str(&format!("\n  warning: {warning}"));
        }
    }
    // Names and notes come from files: nothing hidden reaches the terminal.
    printable_lines(&out).into_owned()
}

/// One line per scraped endpoint and per `[[metric]]` query: what the service reported.
fn metrics_lines(m: &crate::metrics::MetricsRecord) -> Vec<String> {
    use super::reporter::quantity;
    let mut lines: Vec<String> = m
        .endpoints
        .iter()
        .map(|e| {
            let mut line = format!(
                "metrics {}: {} scrapes, {} failed",
                e.endpoint, e.scrapes, e.failed
            );
            if let Some(cpu) = e.cpu_seconds_per_1000_requests {
                line.push_str(&format!("; CPU {cpu:.3} s per 1 000 requests"));
            }
            if let Some(rss) = e.peak_rss_bytes {
                line.push_str(&format!("; peak RSS {}B", quantity(rss)));
            }
            line
        })
        .collect();
    lines.extend(m.queries.iter().map(|q| match q.value {
        Some(v) => format!("[[metric]] {}: {} ({})", q.name, quantity(v), q.promql),
        None => format!(
            "[[metric]] {}: no value ({})",
            q.name,
            q.failure.as_deref().unwrap_or("no data")
        ),
    }));
    lines
}

fn row(record: &RunRecord, step: &StepRecord) -> Row {
    let duration = record.load.duration_s;
    let count = step.count().saturating_sub(step.dropped_count());
    let has_ok = step.ok_count() > 0;
    let latency = |q: f64| {
        if has_ok {
            ms(step.percentile_us(q))
        } else {
            "-".to_string()
        }
    };
    Row {
        path: record.path.clone(),
        repetition: format!(
            "{}{}",
            record.repetition,
            if record.complete { "" } else { "*" }
        ),
        step: format!("{}/{}", step.flow, step.step),
        count,
        rate: if duration > 0.0 {
            format!("{:.1}", count as f64 / duration)
        } else {
            "-".into()
        },
        p50: latency(0.50),
        p95: latency(0.95),
        p99: latency(0.99),
        max: if has_ok {
            ms(step.ok.max())
        } else {
            "-".into()
        },
        errors: errors(step),
    }
}

fn errors(step: &StepRecord) -> String {
    let parts: Vec<String> = step
        .classes
        .iter()
        .filter(|(class, n)| **class != OutcomeClass::Ok && **n > 0)
        .map(|(class, n)| format!("{class}:{n}"))
        .collect();
    if parts.is_empty() {
        "0".to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_line_gives_every_figure_its_unit_and_says_when_the_generator_fell_behind() {
        let mut r = crate::record::run::tests::record();
        let text = run_summary_table(&[&r]);
        assert!(
            text.contains(
                "legacy r1: target 100.0/s, achieved 100.0/s, 30 dropped, generator lag p99 0.12 ms"
            ),
            "{text}"
        );
        assert!(!text.contains("could not keep up"), "{text}");
        r.load.achieved_rate = 19_827.0;
        r.load.target_rate = Some(1_000_000.0);
        let text = run_summary_table(&[&r]);
        assert!(
            text.contains(
                "\n  warning: the generator could not keep up: achieved 19827.0/s of 1000000.0/s (30 dropped)"
            ),
            "{text}"
        );
    }
}
