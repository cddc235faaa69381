//! How parity rows, examples and noise read, shared by the terminal, Markdown, JUnit
//! and HTML reports. Presentation only.

use crate::compare::ParityRow;
use crate::compare::parity::StepNoise;
use crate::parity::Example;

/// `3 of 60 (5.0% [1.7%, 14%])`.
pub(crate) fn rate(row: &ParityRow) -> String {
    let pct = |p: f64| {
        let v = p * 100.0;
        if v == 0.0 || v >= 10.0 {
            format!("{v:.0}%")
        } else {
            format!("{v:.1}%")
        }
    };
    format!(
        "{} of {} ({} [{}, {}])",
        row.differing,
        row.compared,
        pct(row.interval.estimate),
        pct(row.interval.low),
        pct(row.interval.high)
    )
}

/// A value for an example: the value, or `(absent)`.
pub(crate) fn value(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "(absent)".into())
}

/// `request 123, /items/3/id changed: base "a" | candidate "b"`.
pub(crate) fn example_line(e: &Example) -> String {
    format!(
        "request {}, {} {}: base {} | candidate {}",
        e.request_id,
        e.at,
        e.kind.as_str(),
        value(&e.base),
        value(&e.candidate)
    )
}

/// `execute-and-poll/execute: /created_at (59 of 59), /run_id (59 of 59)`, or `None`
/// when the step had no noise.
pub(crate) fn noise_line(n: &StepNoise) -> Option<String> {
    if n.fields.is_empty() {
        return None;
    }
    let fields: Vec<String> = n
        .fields
        .iter()
        .map(|f| format!("{} ({} of {})", f.field, f.count, n.pairs))
        .collect();
    Some(format!(
        "{}: {}{}",
        n.step,
        fields.join(", "),
        if n.separate_iterations {
            " (safe = false: two base answers of separate iterations)"
        } else {
            ""
        }
    ))
}
