//! A/A calibration: how often the policy would wrongly say NO-GO or ROLLBACK when both
//! sides are the same path. Computed by comparing disjoint groups of the A/A runs with
//! each other under the real decision rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::comparison::{Side, compare};
use super::noise::Noise;
use super::verdict::Verdict;
use crate::policy::Policy;
use crate::record::RunRecord;

/// Most splits evaluated; beyond it the splits are a deterministic subset.
const MAX_SPLITS: usize = 252;

/// False-decision rates of one way of comparing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FalseRates {
    /// Comparisons evaluated.
    pub comparisons: usize,
    /// Runs per side in each comparison.
    pub runs_per_side: usize,
    /// Share of comparisons that were not GO (a false NO-GO or worse).
    pub false_no_go: f64,
    /// Share of comparisons that said ROLLBACK.
    pub false_rollback: f64,
    /// Share that were INCONCLUSIVE (the runs themselves were not valid).
    pub inconclusive: f64,
    /// How often each row (`step metric`) was what kept a comparison from GO, most first:
    /// what to change (more requests, more repetitions, a wider margin) to calibrate well.
    pub blocking: Vec<(String, usize)>,
}

/// What `harness calibrate` reports and stores in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// A/A runs measured.
    pub runs: usize,
    /// Half against half of the runs (the repetition method when each half has enough).
    pub split_halves: Option<FalseRates>,
    /// One run against one other (the single-run method, widened by the measured noise).
    pub single_run: Option<FalseRates>,
}

/// Rates of wrong decisions among A/A `runs` under `policy`; `noise` is their own
/// between-run noise (used by single-run comparisons).
pub fn calibrate(runs: &[RunRecord], noise: &Noise, policy: &Policy) -> Calibration {
    let half = runs.len() / 2;
    let split_halves = (half >= 1).then(|| {
        let splits = halves(runs.len(), half);
        rates(
            splits.iter().map(|(a, b)| (pick(runs, a), pick(runs, b))),
            half,
            noise,
            policy,
        )
    });
    let pairs: Vec<(usize, usize)> = (0..runs.len())
        .flat_map(|i| (0..runs.len()).filter(move |&j| j > i).map(move |j| (i, j)))
        .collect();
    let single_run = (!pairs.is_empty()).then(|| {
        rates(
            pairs
                .iter()
                .map(|&(i, j)| (vec![runs[i].clone()], vec![runs[j].clone()])),
            1,
            noise,
            policy,
        )
    });
    Calibration {
        runs: runs.len(),
        split_halves,
        single_run,
    }
}

fn pick(runs: &[RunRecord], indices: &[usize]) -> Vec<RunRecord> {
    indices
        .iter()
        .filter_map(|&i| runs.get(i).cloned())
        .collect()
}

fn rates(
    comparisons: impl Iterator<Item = (Vec<RunRecord>, Vec<RunRecord>)>,
    runs_per_side: usize,
    noise: &Noise,
    policy: &Policy,
) -> FalseRates {
    let (mut n, mut not_go, mut rollback, mut inconclusive) = (0usize, 0usize, 0usize, 0usize);
    let mut blocking: BTreeMap<String, usize> = BTreeMap::new();
    for (a, b) in comparisons {
        let base = Side {
            label: "A".into(),
            records: a,
            noise: noise.clone(),
        };
        let candidate = Side {
            label: "A'".into(),
            records: b,
            noise: Noise::default(),
        };
        let comparison = compare(&base, &candidate, policy, Vec::new());
        let verdict = comparison.verdict;
        for row in comparison.rows.iter().filter(|r| r.verdict != Verdict::Go) {
            *blocking
                .entry(format!("{} {}", row.step, row.metric.label()))
                .or_insert(0) += 1;
        }
        n += 1;
        not_go += usize::from(verdict != Verdict::Go);
        rollback += usize::from(verdict == Verdict::Rollback);
        inconclusive += usize::from(verdict == Verdict::Inconclusive);
    }
    let share = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    FalseRates {
        comparisons: n,
        runs_per_side,
        false_no_go: share(not_go),
        false_rollback: share(rollback),
        inconclusive: share(inconclusive),
        blocking: {
            let mut rows: Vec<(String, usize)> = blocking.into_iter().collect();
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            rows
        },
    }
}

/// Disjoint pairs of `half`-sized groups of `0..n`, each unordered pair once, at most
/// [`MAX_SPLITS`] of them (lexicographic order, so deterministic).
fn halves(n: usize, half: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut out = Vec::new();
    if half == 0 || 2 * half > n {
        return out;
    }
    // Run 0 always sits in the first group, so each unordered pair appears once; the
    // other group is the first `half` runs of the complement.
    let mut group = vec![0];
    choose(1, n, half, &mut group, &mut |a: &[usize]| {
        let b: Vec<usize> = (0..n).filter(|i| !a.contains(i)).take(half).collect();
        out.push((a.to_vec(), b));
        out.len() < MAX_SPLITS
    });
    out
}

/// Visits every `k`-sized extension of `group` from `start..n`; stops when `visit` says so.
fn choose(
    start: usize,
    n: usize,
    k: usize,
    group: &mut Vec<usize>,
    visit: &mut impl FnMut(&[usize]) -> bool,
) -> bool {
    if group.len() == k {
        return visit(group);
    }
    for i in start..n {
        group.push(i);
        let go_on = choose(i + 1, n, k, group, visit);
        group.pop();
        if !go_on {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_disjoint_and_counted_once() {
        let splits = halves(4, 2);
        // {0,1}|{2,3}, {0,2}|{1,3}, {0,3}|{1,2}
        assert_eq!(splits.len(), 3);
        for (a, b) in &splits {
            assert!(a.iter().all(|i| !b.contains(i)));
        }
        assert_eq!(halves(10, 5).len(), 126);
        assert_eq!(
            halves(200, 100).len(),
            MAX_SPLITS,
            "large calibrations stop early"
        );
    }
}
