//! Between-run noise of a latency quantile, on the log scale.
//!
//! Latency noise is multiplicative (a busy host slows every request by a factor), so it
//! is measured as the spread of natural logs: a log standard deviation of 0.05 means
//! runs typically differ by about 5%.

/// Sample standard deviation (n − 1 denominator) of the natural logs of the positive,
/// finite values in `values`.
///
/// Zero, negative, NaN and infinite values are skipped, since a log quantile cannot be
/// formed from them. `None` with fewer than two usable values.
pub fn log_sd(values: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.ln())
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let count = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / count;
    // Two passes: subtracting the mean first avoids the cancellation of Σx² − n·x̄².
    let squares: f64 = logs.iter().map(|x| (x - mean) * (x - mean)).sum();
    Some((squares / (count - 1.0)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // ln e = 1, ln e³ = 3: mean 2, sample variance ((−1)² + 1²)/1 = 2.
        let sd = log_sd(&[1f64.exp(), 3f64.exp()]).expect("two values");
        assert!((sd - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(log_sd(&[250.0, 250.0, 250.0]), Some(0.0));
        // Scale-free: multiplying every value by 1000 changes nothing.
        let a = log_sd(&[1.0, 2.0, 4.0]).expect("three values");
        let b = log_sd(&[1000.0, 2000.0, 4000.0]).expect("three values");
        assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn unusable_values_are_skipped() {
        assert_eq!(log_sd(&[]), None);
        assert_eq!(log_sd(&[5.0]), None);
        assert_eq!(log_sd(&[5.0, 0.0, -1.0, f64::NAN, f64::INFINITY]), None);
        assert_eq!(log_sd(&[5.0, 0.0, 5.0]), Some(0.0));
    }
}
