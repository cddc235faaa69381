//! Execution segments: one of N identical processes runs a deterministic share of the
//! plan, such that the N shares together are exactly the single-process plan.
//!
//! - **Open model:** arrival `k` of the seeded schedule (warmup included) belongs to
//!   segment `k mod N`. Every segment walks the whole schedule and the whole flow-choice
//!   stream, so the union of the segments' arrivals is the unsegmented schedule, and each
//!   arrival runs the flow it would have run.
//! - **Closed model:** user `u` belongs to segment `u mod N`, so segments differ by at
//!   most one user and the remainder goes to the lowest indexes. A segment's `j`-th user
//!   is user `j·N + i` of the whole plan: same seed, same flows.
//! - **Request ids:** a request's id is a function of its iteration (the arrival index,
//!   or the user and the user's iteration count) and its step, not of the order requests
//!   happened to start in. The fault proxy keys its per-request decisions on that id, so
//!   a request gets the same decision in a segment as unsegmented.

use std::fmt;

/// Segment `index` of `count` (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// This segment, `0..count`.
    pub index: u32,
    /// How many segments the plan is split into, at least 1.
    pub count: u32,
}

/// The most segments a plan may be split into.
pub const MAX_SEGMENTS: u32 = 10_000;

/// Bits of a request id that number the step within its iteration.
const STEP_BITS: u32 = 16;

impl Segment {
    /// The whole plan: one segment.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// A segment, checked: `count` in `1..=MAX_SEGMENTS`, `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 || count > MAX_SEGMENTS {
            return Err(format!(
                "the segment count must be between 1 and {MAX_SEGMENTS}, not {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "segment {index} of {count} does not exist: segments are numbered 0 to {} (as JOB_COMPLETION_INDEX is)",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// `I/N`, e.g. `0/4`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad =
            || format!("`{text}` is not a segment: write I/N with 0 ≤ I < N, e.g. --segment 0/4");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index = index.trim().parse::<u32>().map_err(|_| bad())?;
        let count = count.trim().parse::<u32>().map_err(|_| bad())?;
        Self::new(index, count)
    }

    /// True for the whole plan.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Whether arrival `k` of the open model's schedule is this segment's.
    pub fn owns_arrival(self, k: u64) -> bool {
        k % u64::from(self.count) == u64::from(self.index)
    }

    /// How many of `users` closed-model users are this segment's.
    pub fn users(self, users: u32) -> u32 {
        let (whole, rest) = (users / self.count, users % self.count);
        whole + u32::from(self.index < rest)
    }

    /// The plan-wide index of this segment's `j`-th user.
    pub fn global_user(self, j: u64) -> u64 {
        j.saturating_mul(u64::from(self.count))
            .saturating_add(u64::from(self.index))
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The open model's iteration key: the arrival's index in the schedule.
pub fn arrival_iteration(k: u64) -> u64 {
    k
}

/// The closed model's iteration key: plan-wide user `user`'s `n`-th iteration (0-based),
/// distinct for every user below 2²⁰ and iteration below 2²⁸ (request ids stay distinct
/// with steps below 2¹⁶, all a scenario can have).
pub fn user_iteration(user: u64, n: u64) -> u64 {
    (user & ((1 << 20) - 1)) << 28 | (n & ((1 << 28) - 1))
}

/// The request id of step `step` (its index in the scenario) of iteration `iteration`:
/// the same in every segment and unsegmented. Never 0.
pub fn request_id(iteration: u64, step: usize) -> u64 {
    let step = (step as u64) & ((1 << STEP_BITS) - 1);
    (iteration << STEP_BITS | step).wrapping_add(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_reads_index_over_count_and_refuses_the_rest() {
        assert_eq!(Segment::parse("2/4"), Ok(Segment { index: 2, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2", "1/10001"] {
            assert!(Segment::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Segment::parse("4/4")
                .expect_err("no segment 4 of 4")
                .contains("0 to 3")
        );
    }

    proptest! {
        #[test]
        fn every_arrival_belongs_to_exactly_one_segment(count in 1u32..64, k in any::<u64>()) {
            let owners = (0..count).filter(|&i| Segment::new(i, count).expect("a segment").owns_arrival(k)).count();
            prop_assert_eq!(owners, 1);
        }

        #[test]
        fn users_split_with_the_remainder_first(count in 1u32..64, users in 0u32..100_000) {
            let split: Vec<u32> = (0..count).map(|i| Segment::new(i, count).expect("a segment").users(users)).collect();
            prop_assert_eq!(split.iter().sum::<u32>(), users);
            prop_assert!(split.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
            // The segments' users, mapped back, are every user once.
            let mut all: Vec<u64> = (0..count)
                .flat_map(|i| {
                    let s = Segment::new(i, count).expect("a segment");
                    (0..u64::from(s.users(users))).map(move |j| s.global_user(j))
                })
                .collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..u64::from(users)).collect::<Vec<_>>());
        }

        #[test]
        fn request_ids_are_distinct_across_steps_and_iterations(
            a in 0u64..1 << 40, b in 0u64..1 << 40, s in 0usize..65536, t in 0usize..65536,
        ) {
            prop_assume!((a, s) != (b, t));
            prop_assert_ne!(request_id(a, s), request_id(b, t));
            prop_assert_ne!(request_id(a, s), 0);
        }

        #[test]
        fn closed_keys_are_distinct_per_user_and_iteration(
            u in 0u64..1 << 20, n in 0u64..1 << 28, v in 0u64..1 << 20, m in 0u64..1 << 28,
        ) {
            prop_assume!((u, n) != (v, m));
            prop_assert_ne!(request_id(user_iteration(u, n), 7), request_id(user_iteration(v, m), 7));
        }
    }
}
