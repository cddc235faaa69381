//! Number formats shared by the reporters.

/// Microseconds as milliseconds with two decimals, e.g. `8.41`.
pub fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// A share as a percentage with three decimals, e.g. `0.125%`.
pub fn percent(share: f64) -> String {
    format!("{:.3}%", share * 100.0)
}

/// One line stating a fault: what, where, how often, when, and what it hit.
pub fn fault_line(f: &crate::record::FaultRecord) -> String {
    let windows: Vec<String> = f
        .windows
        .iter()
        .map(|(a, b)| format!("{a:.1}–{b:.1} s"))
        .collect();
    format!(
        "fault `{}`: {} at the {}, probability {:.2} per {}, active {}; {} of {} attempts injected",
        f.name,
        f.kind,
        f.at,
        f.probability,
        f.per,
        if windows.is_empty() {
            "never (outside the run)".to_string()
        } else {
            windows.join(", ")
        },
        f.injected,
        f.attempts
    )
}
