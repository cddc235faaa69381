//! Latency ratio from repetitions: the Hodges–Lehmann shift estimate with the exact
//! distribution-free confidence interval of the Mann–Whitney test, on natural logs.
//!
//! Method (Hodges & Lehmann 1963, "Estimates of location based on rank tests";
//! Lehmann, "Nonparametrics: Statistical Methods Based on Ranks", 1975, ch. 2;
//! Hollander & Wolfe, "Nonparametric Statistical Methods", §4.3): with m base values
//! b_i and n candidate values c_j, form the N = m·n differences
//! d_ij = ln c_j − ln b_i. The shift estimate is their median. If D(1) ≤ … ≤ D(N) are
//! the sorted differences and k is the largest integer with P(U ≤ k − 1) ≤ α/2 under
//! the null distribution of the Mann–Whitney U statistic, then [D(k), D(N + 1 − k)] is a
//! confidence interval for the shift with exact coverage 1 − 2·P(U ≤ k − 1), for any
//! continuous distribution that differs between the sides only by the shift. Taking
//! `exp` turns the shift into a ratio.
//!
//! The k-th difference is found without materialising the N differences: a bisection
//! over the ordered bit patterns of f64 with an O(m + n) count per step, so memory stays
//! O(m + n) even for huge samples.

use super::Interval;
use super::normal::normal_cdf;

/// Largest m and n for which the null distribution of U is computed exactly.
///
/// Above it the normal approximation with continuity correction is used. At 50 × 50
/// the exact counts reach C(100, 50) ≈ 1.0e29, well inside `i128`.
pub const EXACT_LIMIT: usize = 50;

/// Latency ratio candidate/base from one quantile value per repetition.
///
/// `base` and `candidate` hold one value per run (for example each run's p95, in µs).
/// Returns the Hodges–Lehmann ratio with the exact Mann–Whitney interval (normal
/// approximation with continuity correction when m or n exceeds [`EXACT_LIMIT`]).
///
/// When m·n is too small to reach `confidence` (2 vs 2 reaches at most 66.7%, 3 vs 3
/// 90%, 4 vs 4 97.1%), the interval is widened to the full range [min d, max d] and
/// `confidence` holds the level actually achieved, 1 − 2/C(m + n, m); check it with
/// [`Interval::reaches`]. Otherwise `confidence` is the exact coverage, which is at
/// least the requested level.
///
/// Ties (for example quantiles quantised by a histogram) make the stated level
/// approximate, as for every rank method.
///
/// `None` when either side is empty, a value is not finite and positive, `confidence`
/// is not strictly between 0 and 1, or the ratio overflows f64.
pub fn ratio_from_repetitions(
    base: &[f64],
    candidate: &[f64],
    confidence: f64,
) -> Option<Interval> {
    if !super::valid_confidence(confidence) {
        return None;
    }
    let differences = Differences::new(base, candidate)?;
    let null = NullU::new(differences.m(), differences.n());
    let total = differences.total();

    let half_alpha = (1.0 - confidence) / 2.0;
    // k = 1 is the widest interval the data allow; use it when no k reaches the level.
    let k = null.critical_rank(half_alpha).unwrap_or(1);
    let achieved = (1.0 - 2.0 * null.cdf(k - 1)).clamp(0.0, 1.0);

    let estimate = differences.median();
    let low = differences.kth(k);
    let high = differences.kth(total + 1 - k);
    let interval = Interval {
        estimate: estimate.exp(),
        low: low.exp(),
        high: high.exp(),
        confidence: achieved,
    };
    let finite =
        interval.estimate.is_finite() && interval.low.is_finite() && interval.high.is_finite();
    finite.then_some(interval)
}

/// Exact one-sided Mann–Whitney p-value for H0: ratio ≤ `threshold` against
/// H1: candidate/base > `threshold`.
///
/// The candidate logs are shifted by ln `threshold` and U counts the pairs with
/// d_ij > ln `threshold`; the p-value is P(U ≥ U_obs) under the null (exact up to
/// [`EXACT_LIMIT`], normal approximation with continuity correction above). Pairs tied
/// with the threshold count against rejection, which is conservative. It equals the
/// p-value obtained by inverting [`ratio_from_repetitions`] with
/// [`super::p_value_above`].
///
/// `None` for the same inputs as [`ratio_from_repetitions`] or a threshold that is not
/// finite and positive.
pub fn mann_whitney_p_above(base: &[f64], candidate: &[f64], threshold: f64) -> Option<f64> {
    let (differences, log_threshold) = shifted(base, candidate, threshold)?;
    let total = differences.total();
    let exceeding = total - differences.count_le(log_threshold);
    Some(NullU::new(differences.m(), differences.n()).upper_tail(exceeding, total))
}

/// Exact one-sided Mann–Whitney p-value for H0: ratio ≥ `threshold` against
/// H1: candidate/base < `threshold`.
///
/// The mirror image of [`mann_whitney_p_above`]; U counts the pairs with
/// d_ij < ln `threshold`.
pub fn mann_whitney_p_below(base: &[f64], candidate: &[f64], threshold: f64) -> Option<f64> {
    let (differences, log_threshold) = shifted(base, candidate, threshold)?;
    let below = differences.count_lt(log_threshold);
    Some(NullU::new(differences.m(), differences.n()).upper_tail(below, differences.total()))
}

/// The differences and ln `threshold`, validated.
fn shifted(base: &[f64], candidate: &[f64], threshold: f64) -> Option<(Differences, f64)> {
    if !(threshold.is_finite() && threshold > 0.0) {
        return None;
    }
    Some((Differences::new(base, candidate)?, threshold.ln()))
}

/// The null distribution of the Mann–Whitney U statistic for sample sizes m and n.
#[derive(Debug)]
enum NullU {
    /// Exact cumulative probabilities P(U ≤ u) for u = 0..=m·n.
    Exact(Vec<f64>),
    /// Normal approximation: mean m·n/2 and sd √(m·n·(m + n + 1)/12).
    Normal { mean: f64, sd: f64 },
}

impl NullU {
    /// The exact distribution when both sizes are at most [`EXACT_LIMIT`], else normal.
    fn new(m: usize, n: usize) -> Self {
        if m <= EXACT_LIMIT && n <= EXACT_LIMIT {
            let counts = exact_counts(m, n);
            let total: i128 = counts.iter().sum();
            let mut running = 0i128;
            let cdf = counts
                .iter()
                .map(|count| {
                    running += count;
                    running as f64 / total as f64
                })
                .collect();
            NullU::Exact(cdf)
        } else {
            let (m, n) = (m as f64, n as f64);
            NullU::Normal {
                mean: m * n / 2.0,
                sd: (m * n * (m + n + 1.0) / 12.0).sqrt(),
            }
        }
    }

    /// P(U ≤ u).
    fn cdf(&self, u: u128) -> f64 {
        match self {
            NullU::Exact(cdf) => match usize::try_from(u) {
                Ok(index) if index < cdf.len() => cdf[index],
                _ => 1.0,
            },
            NullU::Normal { mean, sd } => normal_cdf((u as f64 + 0.5 - mean) / sd),
        }
    }

    /// P(U ≥ u) for a statistic with maximum `total`, through the symmetry of U about
    /// total/2 so that small tails keep their precision.
    fn upper_tail(&self, u: u128, total: u128) -> f64 {
        if u == 0 {
            return 1.0;
        }
        self.cdf(total.saturating_sub(u))
    }

    /// The largest k ≥ 1 with P(U ≤ k − 1) ≤ `half_alpha`, or `None` when even k = 1
    /// fails. Binary search: the CDF is non-decreasing.
    fn critical_rank(&self, half_alpha: f64) -> Option<u128> {
        if self.cdf(0) > half_alpha {
            return None;
        }
        let (mut good, mut bad) = (1u128, self.max_u() + 2);
        while bad - good > 1 {
            let mid = good + (bad - good) / 2;
            if self.cdf(mid - 1) <= half_alpha {
                good = mid;
            } else {
                bad = mid;
            }
        }
        // k never passes the middle rank, so D(k) ≤ D(N + 1 − k).
        Some(good.min(self.max_u().div_ceil(2).max(1)))
    }

    /// m·n, the largest value U can take.
    fn max_u(&self) -> u128 {
        match self {
            NullU::Exact(cdf) => cdf.len().saturating_sub(1) as u128,
            // Recovered from the mean, which is exact in f64 for any realistic m·n.
            NullU::Normal { mean, .. } => (2.0 * mean).round() as u128,
        }
    }
}

/// Frequencies of U = 0..=m·n over all C(m + n, m) orderings of two samples.
///
/// The count of orderings with U = u equals the number of partitions of u into at most
/// m parts, none larger than n: the coefficient of q^u in the Gaussian binomial
/// coefficient [m + n choose m]_q = Π_{i=1..m} (1 − q^(n+i)) / (1 − q^i) (Andrews, "The
/// Theory of Partitions", ch. 3). It is built one factor at a time; every partial
/// product is itself a Gaussian binomial, so all arithmetic is exact in integers, and
/// coefficients above degree m·n can be dropped because division by (1 − q^i) only
/// looks downwards.
fn exact_counts(m: usize, n: usize) -> Vec<i128> {
    let degree = m * n;
    let mut poly = vec![0i128; degree + 1];
    poly[0] = 1;
    for i in 1..=m {
        let shift = n + i;
        for u in (shift..=degree).rev() {
            poly[u] -= poly[u - shift];
        }
        for u in i..=degree {
            poly[u] += poly[u - i];
        }
    }
    poly
}

/// The sorted natural logs of both samples: the m·n pairwise differences, implicitly.
#[derive(Debug)]
struct Differences {
    base: Vec<f64>,
    candidate: Vec<f64>,
}

impl Differences {
    /// `None` when a side is empty or holds a value that is not finite and positive.
    fn new(base: &[f64], candidate: &[f64]) -> Option<Self> {
        Some(Self {
            base: sorted_logs(base)?,
            candidate: sorted_logs(candidate)?,
        })
    }

    fn m(&self) -> usize {
        self.base.len()
    }

    fn n(&self) -> usize {
        self.candidate.len()
    }

    /// N = m·n.
    fn total(&self) -> u128 {
        self.m() as u128 * self.n() as u128
    }

    /// Number of pairs with ln c_j − ln b_i ≤ t, by two pointers.
    ///
    /// Rounded subtraction is monotone in each argument, so for ascending c_j the first
    /// base index satisfying the bound never moves left.
    fn count_le(&self, t: f64) -> u128 {
        let m = self.m();
        let mut first = 0usize;
        let mut count = 0u128;
        for &c in &self.candidate {
            while first < m && c - self.base[first] > t {
                first += 1;
            }
            count += (m - first) as u128;
        }
        count
    }

    /// Number of pairs with ln c_j − ln b_i < t.
    fn count_lt(&self, t: f64) -> u128 {
        match ordered_key(t).checked_sub(1) {
            Some(below) => self.count_le(from_ordered_key(below)),
            None => 0,
        }
    }

    /// The k-th smallest difference, 1-based, with k clamped to 1..=N.
    ///
    /// Bisection over the ordered bit patterns of f64 for the smallest t with
    /// count_le(t) ≥ k: at most 64 steps, and the answer is exactly one of the
    /// differences because the count only steps up at differences.
    fn kth(&self, k: u128) -> f64 {
        let k = k.clamp(1, self.total());
        let (Some(&b_min), Some(&b_max)) = (self.base.first(), self.base.last()) else {
            return f64::NAN;
        };
        let (Some(&c_min), Some(&c_max)) = (self.candidate.first(), self.candidate.last()) else {
            return f64::NAN;
        };
        let mut low = ordered_key(c_min - b_max);
        let mut high = ordered_key(c_max - b_min);
        if self.count_le(from_ordered_key(low)) >= k {
            return from_ordered_key(low);
        }
        // Invariant: count_le(low) < k ≤ count_le(high).
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if self.count_le(from_ordered_key(mid)) >= k {
                high = mid;
            } else {
                low = mid;
            }
        }
        from_ordered_key(high)
    }

    /// The median of the differences: the Hodges–Lehmann estimate of the log shift.
    fn median(&self) -> f64 {
        let total = self.total();
        if total % 2 == 1 {
            self.kth(total.div_ceil(2))
        } else {
            let (lower, upper) = (self.kth(total / 2), self.kth(total / 2 + 1));
            lower + (upper - lower) / 2.0
        }
    }
}

/// Sorted natural logs, or `None` if empty or a value is not finite and positive.
fn sorted_logs(values: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() || !values.iter().all(|v| v.is_finite() && *v > 0.0) {
        return None;
    }
    let mut logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    logs.sort_by(f64::total_cmp);
    Some(logs)
}

/// An order-preserving map from f64 (without NaN) to u64: negative numbers have their
/// bits flipped, non-negative ones get the top bit set.
fn ordered_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The inverse of [`ordered_key`].
fn from_ordered_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binomial(n: u128, k: u128) -> u128 {
        (0..k).fold(1u128, |acc, i| acc * (n - i) / (i + 1))
    }

    /// Hand count: U for m = n = 2 takes 0, 1, 2, 2, 3, 4 over the 6 orderings.
    #[test]
    fn exact_counts_match_hand_computed_cases() {
        assert_eq!(exact_counts(2, 2), vec![1, 1, 2, 1, 1]);
        assert_eq!(exact_counts(2, 3), vec![1, 1, 2, 2, 2, 1, 1]);
        assert_eq!(exact_counts(3, 3), vec![1, 1, 2, 3, 3, 3, 3, 2, 1, 1]);
        assert_eq!(exact_counts(1, 4), vec![1; 5]);
        assert_eq!(exact_counts(0, 3), vec![1]);
    }

    #[test]
    fn exact_counts_sum_to_the_number_of_orderings_and_are_symmetric() {
        for (m, n) in [(1, 1), (3, 7), (5, 5), (10, 4), (20, 30), (50, 50)] {
            let counts = exact_counts(m, n);
            let sum: i128 = counts.iter().sum();
            assert_eq!(
                sum as u128,
                binomial((m + n) as u128, m as u128),
                "m={m} n={n}"
            );
            assert!(counts.iter().all(|c| *c > 0));
            assert!(
                counts.iter().eq(counts.iter().rev()),
                "asymmetric for m={m} n={n}"
            );
            assert_eq!(counts, exact_counts(n, m));
        }
        // C(100, 50), the largest count the exact path can meet.
        let sum: i128 = exact_counts(50, 50).iter().sum();
        assert_eq!(sum, 100_891_344_545_564_193_334_812_497_256);
    }

    #[test]
    fn exact_cdf_ends_at_one() {
        let NullU::Exact(cdf) = NullU::new(7, 9) else {
            panic!("7 × 9 should be exact");
        };
        let last = cdf.last().copied().expect("non-empty");
        assert!((last - 1.0).abs() < 1e-15);
        assert!(cdf.windows(2).all(|w| w[0] <= w[1]));
    }

    /// Critical values from the exact distribution: for 5 vs 5 P(U ≤ 2) = 4/252 ≤ 0.025
    /// < P(U ≤ 3) = 7/252, so k = 3 and the coverage is 1 − 8/252 = 0.968.
    #[test]
    fn critical_rank_for_five_by_five_at_95() {
        let null = NullU::new(5, 5);
        assert_eq!(null.critical_rank(0.025), Some(3));
        assert!((1.0 - 2.0 * null.cdf(2) - (1.0 - 8.0 / 252.0)).abs() < 1e-15);
        assert_eq!(NullU::new(2, 2).critical_rank(0.025), None);
    }

    #[test]
    fn normal_approximation_is_close_to_exact_at_the_limit() {
        let exact = NullU::new(EXACT_LIMIT, EXACT_LIMIT);
        let normal = NullU::Normal {
            mean: 1250.0,
            sd: (2500.0_f64 * 101.0 / 12.0).sqrt(),
        };
        let (k_exact, k_normal) = (exact.critical_rank(0.025), normal.critical_rank(0.025));
        let (Some(a), Some(b)) = (k_exact, k_normal) else {
            panic!("both reach 95%");
        };
        assert!(a.abs_diff(b) <= 1, "exact {a} vs normal {b}");
    }

    #[test]
    fn ordered_keys_preserve_order() {
        let values = [-1e300, -2.0, -1e-300, -0.0, 0.0, 1e-300, 3.0, 1e300];
        let keys: Vec<u64> = values.iter().map(|v| ordered_key(*v)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for v in values {
            assert_eq!(from_ordered_key(ordered_key(v)).to_bits(), v.to_bits());
        }
    }

    proptest! {
        /// The bisection selection agrees with sorting all m·n differences.
        #[test]
        fn kth_matches_brute_force(
            base in prop::collection::vec(1.0f64..1e6, 1..12),
            candidate in prop::collection::vec(1.0f64..1e6, 1..12),
        ) {
            let differences = Differences::new(&base, &candidate).expect("valid");
            let mut all: Vec<f64> = differences
                .candidate
                .iter()
                .flat_map(|c| differences.base.iter().map(move |b| c - b))
                .collect();
            all.sort_by(f64::total_cmp);
            for (index, expected) in all.iter().enumerate() {
                prop_assert_eq!(differences.kth(index as u128 + 1), *expected);
            }
            let t = all[all.len() / 2];
            prop_assert_eq!(differences.count_le(t), all.iter().filter(|d| **d <= t).count() as u128);
            prop_assert_eq!(differences.count_lt(t), all.iter().filter(|d| **d < t).count() as u128);
        }
    }
}
