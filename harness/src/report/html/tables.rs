//! The decision table, the resilience expectations, the validity problems and the runs:
//! the numbers a reviewer signs off on, each row with its reason.

use super::{badge, escape};
use crate::compare::stats::Interval;
use crate::compare::{Comparison, ExpectationRow, Row, Unit};
use crate::report::ReportDocument;
use crate::report::format::percent;

/// The decision section: rows, then expectations, then validity.
pub(super) fn decision_section(c: &Comparison) -> String {
    let mut out = String::from("<section id=\"decision\">\n<h2>Decision</h2>\n");
    out.push_str(&format!(
        "<p class=\"note\">Latency rows compare the candidate/base ratio of a quantile of \
         successful requests; error rows the difference of error rates, in percentage \
         points. Intervals are at {:.0}% confidence.</p>\n",
        c.policy.confidence.get() * 100.0
    ));
    out.push_str(&decision_table(&c.rows));
    out.push_str("<h3>Resilience expectations</h3>\n");
    out.push_str(&expectations_table(&c.expectations));
    out.push_str("<h3>Validity</h3>\n");
    if c.invalid.is_empty() {
        out.push_str("<p class=\"valid\">Every validity check passed.</p>\n");
    } else {
        let items: String = c
            .invalid
            .iter()
            .map(|i| {
                format!(
                    "<li><code>{}</code>: {}</li>\n",
                    escape(i.check.as_str()),
                    escape(&i.message)
                )
            })
            .collect();
        out.push_str(&format!("<ul class=\"invalid\">\n{items}</ul>\n"));
    }
    out.push_str("</section>\n");
    out
}

/// `<th>`s of a header row.
fn header(columns: &[&str]) -> String {
    let cells: String = columns
        .iter()
        .map(|c| format!("<th scope=\"col\">{c}</th>"))
        .collect();
    format!("<thead><tr>{cells}</tr></thead>\n")
}

fn decision_table(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "<p>No decision rows: the two sides share no step.</p>\n".to_string();
    }
    let body: String = rows.iter().map(decision_row).collect();
    format!(
        "<div class=\"scroll\"><table class=\"decision\" id=\"decision-table\">\n{}<tbody>\n{body}</tbody></table></div>\n",
        header(&[
            "Step",
            "Metric",
            "Base",
            "Candidate",
            "Ratio / Δ",
            "Interval",
            "Thresholds",
            "Method",
            "Verdict",
            "Reason",
        ])
    )
}

fn decision_row(r: &Row) -> String {
    let (base, candidate, estimate, interval, thresholds) = match r.metric.unit() {
        Unit::Microseconds => (
            format!("{:.2} ms", r.base / 1_000.0),
            format!("{:.2} ms", r.candidate / 1_000.0),
            r.interval.map(|i| format!("×{:.3}", i.estimate)),
            r.interval.map(|i| format!("[{:.3}, {:.3}]", i.low, i.high)),
            format!(
                "GO ≤ {:.2}<br>ROLLBACK ≥ {:.2}",
                r.go_threshold, r.rollback_threshold
            ),
        ),
        Unit::Value => (
            crate::report::reporter::quantity(r.base),
            crate::report::reporter::quantity(r.candidate),
            r.interval.map(|i| format!("×{:.3}", i.estimate)),
            r.interval.map(|i| format!("[{:.3}, {:.3}]", i.low, i.high)),
            format!(
                "GO ≤ {:.2}<br>ROLLBACK ≥ {:.2}",
                r.go_threshold, r.rollback_threshold
            ),
        ),
        Unit::Share => (
            percent(r.base),
            percent(r.candidate),
            r.interval.map(|i| points(i.estimate)),
            r.interval
                .map(|i| format!("[{}, {}]", points(i.low), points(i.high))),
            format!(
                "GO ≤ {}<br>ROLLBACK ≥ {}",
                points(r.go_threshold),
                points(r.rollback_threshold)
            ),
        ),
    };
    let method = r.method.label();
    let holm = if r.rollback_proven {
        ", proven after Holm"
    } else {
        ""
    };
    format!(
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}{}</td><td class=\"num\">{thresholds}</td>\
         <td>{}<br><small>p(rollback) {:.3}, Holm {:.3}{holm}</small></td><td>{}</td>\
         <td class=\"reason\">{}</td></tr>\n",
        escape(&r.step),
        escape(&r.metric.label()),
        escape(&base),
        escape(&candidate),
        escape(estimate.as_deref().unwrap_or("—")),
        escape(interval.as_deref().unwrap_or("—")),
        achieved(r.interval.as_ref()),
        escape(&method),
        r.p_rollback,
        r.p_adjusted,
        badge(r.verdict),
        escape(&r.reason),
    )
}

/// A difference of rates in signed percentage points, e.g. `+0.120 pp`.
fn points(share: f64) -> String {
    format!("{:+.3} pp", share * 100.0)
}

/// The confidence an interval achieved, on a line of its own under it.
fn achieved(i: Option<&Interval>) -> String {
    i.map(|i| format!("<br><small>{:.0}% confidence</small>", i.confidence * 100.0))
        .unwrap_or_default()
}

fn expectations_table(rows: &[ExpectationRow]) -> String {
    if rows.is_empty() {
        return "<p>The scenario sets no resilience expectations.</p>\n".to_string();
    }
    let body: String = rows
        .iter()
        .map(|e| {
            let other = match &e.other_path {
                Some((path, value)) => escape(&format!("{path}: {value}")),
                None => "—".to_string(),
            };
            format!(
                "<tr><td>{}</td><td>{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td>{other}</td><td class=\"num\">{}</td><td>{}</td><td class=\"reason\">{}</td></tr>\n",
                escape(&e.path),
                escape(&e.expectation),
                if e.critical {
                    " <span class=\"tag\">critical</span>"
                } else {
                    ""
                },
                escape(&e.threshold),
                escape(&e.observed),
                e.windows,
                badge(e.verdict),
                escape(&e.reason),
            )
        })
        .collect();
    format!(
        "<div class=\"scroll\"><table class=\"expectations\">\n{}<tbody>\n{body}</tbody></table></div>\n",
        header(&[
            "Path",
            "Expectation",
            "Threshold",
            "Observed (worst)",
            "Other path",
            "Windows",
            "Verdict",
            "Reason",
        ])
    )
}

/// Every run behind the comparison, base first.
pub(super) fn runs_table(doc: &ReportDocument) -> String {
    let runs = doc
        .base_runs
        .iter()
        .map(|r| ("base", r))
        .chain(doc.candidate_runs.iter().map(|r| ("candidate", r)));
    let body: String = runs
        .map(|(side, r)| {
            let target = r
                .load
                .target_rate
                .map(|t| format!("{t:.1}"))
                .unwrap_or_else(|| "—".to_string());
            format!(
                "<tr><td>{side}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td>{}</td><td>{}</td><td class=\"num\">{} / {:.1}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{:.1} + {:.1} s</td><td>{}</td></tr>\n",
                escape(&r.path),
                r.repetition,
                r.seed,
                escape(&r.started_at),
                if r.complete {
                    "yes"
                } else {
                    "<strong>no</strong>"
                },
                escape(&target),
                r.load.achieved_rate,
                r.load.sent,
                r.load.dropped,
                r.load.warmup_s,
                r.load.duration_s,
                escape(&r.notes.join("; ")),
            )
        })
        .collect();
    if body.is_empty() {
        return "<p>No runs.</p>\n".to_string();
    }
    format!(
        "<div class=\"scroll\"><table class=\"runs\">\n{}<tbody>\n{body}</tbody></table></div>\n",
        header(&[
            "Side",
            "Path",
            "Run",
            "Seed",
            "Started",
            "Complete",
            "Rate target / achieved",
            "Sent",
            "Dropped",
            "Warmup + measured",
            "Notes",
        ])
    )
}
