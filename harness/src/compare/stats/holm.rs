//! Holm–Bonferroni step-down correction for a family of tests.
//!
//! Reference: S. Holm (1979), "A simple sequentially rejective multiple test
//! procedure", Scandinavian Journal of Statistics 6:65–70. With M hypotheses and sorted
//! p-values p(1) ≤ … ≤ p(M), reject H(1), …, H(i) while p(i) ≤ α/(M − i + 1) and stop
//! at the first failure. The family-wise error rate stays at most α under any
//! dependence between the tests.

/// Which hypotheses Holm's step-down procedure rejects at family-wise level `alpha`.
///
/// The result is aligned with `p_values`. Tied p-values always get the same decision
/// (the thresholds grow along the order). A NaN p-value never rejects but still counts
/// in M, so it cannot make the others easier to reject. A NaN or non-positive `alpha`
/// rejects nothing.
pub fn holm(p_values: &[f64], alpha: f64) -> Vec<bool> {
    let mut rejected = vec![false; p_values.len()];
    if alpha.is_nan() || alpha <= 0.0 {
        return rejected;
    }
    let family = p_values.len() as f64;
    for (position, index) in ascending(p_values).into_iter().enumerate() {
        let p = p_values[index];
        if p.is_nan() || p > alpha / (family - position as f64) {
            break;
        }
        rejected[index] = true;
    }
    rejected
}

/// Holm-adjusted p-values, for reports: H_i is rejected at level α exactly when its
/// adjusted value is ≤ α (up to rounding at the boundary).
///
/// adjusted p(i) = max over j ≤ i of min(1, (M − j + 1)·p(j)). NaN stays NaN and does
/// not affect the others.
pub fn holm_adjusted(p_values: &[f64]) -> Vec<f64> {
    let mut adjusted = vec![f64::NAN; p_values.len()];
    let family = p_values.len() as f64;
    let mut running_max = 0.0f64;
    for (position, index) in ascending(p_values).into_iter().enumerate() {
        let p = p_values[index];
        if p.is_nan() {
            break;
        }
        running_max = running_max.max(((family - position as f64) * p).min(1.0));
        adjusted[index] = running_max;
    }
    adjusted
}

/// Indices of `p_values` in ascending order, NaN last, ties in their original order.
fn ascending(p_values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(
        |&a, &b| match (p_values[a].is_nan(), p_values[b].is_nan()) {
            (false, false) => p_values[a].total_cmp(&p_values[b]),
            (nan_a, nan_b) => nan_a.cmp(&nan_b),
        },
    );
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holm (1979)-style worked example: α = 0.05, M = 4, thresholds 0.0125, 0.0167,
    /// 0.025, 0.05. 0.01 and 0.015 pass, 0.03 > 0.025 stops, so 0.04 is kept too.
    #[test]
    fn known_vector() {
        let p = [0.04, 0.01, 0.03, 0.015];
        assert_eq!(holm(&p, 0.05), vec![false, true, false, true]);
        let adjusted = holm_adjusted(&p);
        let expected = [0.06, 0.04, 0.06, 0.045];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
    }

    #[test]
    fn all_rejected_and_none_rejected() {
        assert_eq!(holm(&[0.001, 0.002, 0.003], 0.05), vec![true; 3]);
        assert_eq!(holm(&[0.02, 0.03, 0.04], 0.05), vec![false; 3]);
        // Bonferroni would keep 0.02 and 0.04 (> 0.05/3); Holm rejects all: 0.01 ≤ 0.0167,
        // 0.02 ≤ 0.025, 0.04 ≤ 0.05.
        assert_eq!(holm(&[0.04, 0.02, 0.01], 0.05), vec![true; 3]);
    }

    #[test]
    fn ties_share_a_decision() {
        assert_eq!(holm(&[0.02, 0.02], 0.05), vec![true, true]);
        assert_eq!(holm(&[0.03, 0.03], 0.05), vec![false, false]);
        assert_eq!(holm(&[0.01, 0.0125, 0.0125, 0.0125], 0.05), vec![true; 4]);
    }

    #[test]
    fn nan_never_rejects_and_still_counts() {
        // M = 2: 0.03 > 0.05/2, although alone it would pass at 0.05.
        assert_eq!(holm(&[f64::NAN, 0.03], 0.05), vec![false, false]);
        assert_eq!(holm(&[f64::NAN, 0.01], 0.05), vec![false, true]);
        assert!(holm_adjusted(&[f64::NAN, 0.01])[0].is_nan());
        assert_eq!(holm(&[0.001], f64::NAN), vec![false]);
        assert_eq!(holm(&[0.001], 0.0), vec![false]);
        assert!(holm(&[], 0.05).is_empty());
    }
}
