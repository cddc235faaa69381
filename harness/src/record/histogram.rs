//! The latency histograms every record shares: their bounds (1 µs ..= 1 hour) and
//! precision (3 significant digits), microseconds saturated to the top, and adding one
//! histogram into another without ever failing.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Lowest latency the histograms distinguish, in µs.
pub const LATENCY_LOW_US: u64 = 1;
/// Highest latency the histograms track, in µs (1 hour); larger values are saturated.
pub const LATENCY_HIGH_US: u64 = 3_600_000_000;
/// Significant digits of the latency histograms.
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram with the recorder's bounds and precision.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LATENCY_LOW_US, LATENCY_HIGH_US, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// A duration in whole microseconds, saturated to [`LATENCY_HIGH_US`].
#[inline]
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(LATENCY_HIGH_US)
}

/// Adds `from` into `into` without ever failing: if the ranges do not fit, values are
/// re-recorded one by one and saturated at the top.
pub fn add_histogram(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        for value in from.iter_recorded() {
            into.saturating_record_n(value.value_iterated_to(), value.count_at_value());
        }
    }
}
