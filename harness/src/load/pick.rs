//! Choosing a flow for an iteration by weight, from a seeded generator.

use rand::Rng;

use crate::scenario::Flow;

/// Cumulative weights of the scenario's flows.
#[derive(Debug, Clone)]
pub struct FlowPicker {
    cumulative: Vec<u64>,
}

impl FlowPicker {
    /// A picker over `flows` (weights are validated ≥ 1).
    pub fn new(flows: &[Flow]) -> Self {
        let mut total = 0u64;
        let cumulative = flows
            .iter()
            .map(|f| {
                total += u64::from(f.weight.max(1));
                total
            })
            .collect();
        Self { cumulative }
    }

    /// Index of the chosen flow.
    pub fn pick(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        if self.cumulative.len() <= 1 || total == 0 {
            return 0;
        }
        let draw = rng.random_range(0..total);
        self.cumulative.partition_point(|&c| c <= draw)
    }
}
