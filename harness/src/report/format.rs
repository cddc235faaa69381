//! Number formats shared by the reporters.

/// Microseconds as milliseconds with two decimals, e.g. `8.41`.
pub fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// A share as a percentage with three decimals, e.g. `0.125%`.
pub fn percent(share: f64) -> String {
    format!("{:.3}%", share * 100.0)
}
