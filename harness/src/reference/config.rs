//! Settings of the embedded reference platform, as written in a scenario's `[reference]` table.

use serde::{Deserialize, Serialize};

use crate::units::{HumanDuration, Probability};

/// How the reference platform behaves; every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferenceConfig {
    /// The executor dependency's service time per call.
    pub executor_latency: HumanDuration,
    /// Uniform jitter added to the executor's service time (0..=jitter).
    pub executor_jitter: HumanDuration,
    /// Probability that the executor answers 503 on its own.
    pub executor_error_rate: Probability,
    /// Extra service time of the legacy path.
    pub legacy_overhead: HumanDuration,
    /// Extra service time of the Dagger path.
    pub dagger_overhead: HumanDuration,
    /// Probability that the legacy path fails (500) on its own.
    pub legacy_error_rate: Probability,
    /// Probability that the Dagger path fails (500) on its own.
    pub dagger_error_rate: Probability,
    /// Timeout of one call from the service to the executor.
    pub dependency_timeout: HumanDuration,
    /// The Dagger path's circuit breaker.
    pub breaker: BreakerConfig,
    /// The Dagger path's retry policy.
    pub retry: RetryConfig,
}

/// Circuit breaker of the Dagger path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open the breaker.
    pub failure_threshold: u32,
    /// How long the breaker stays open before letting a probe through.
    pub open_for: HumanDuration,
    /// Probes allowed while half-open; that many successes close the breaker.
    pub half_open_probes: u32,
}

/// Retry policy of the Dagger path: jittered exponential backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per request, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each retry, with full jitter.
    pub base_backoff: HumanDuration,
    /// Upper bound of one backoff.
    pub max_backoff: HumanDuration,
}

fn ms(n: u64) -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(n))
}

fn never() -> Probability {
    Probability::new(0.0).unwrap_or_else(|_| unreachable!("0 is a probability"))
}

impl Default for ReferenceConfig {
    fn default() -> Self {
        Self {
            executor_latency: ms(5),
            executor_jitter: ms(1),
            executor_error_rate: never(),
            legacy_overhead: ms(0),
            dagger_overhead: ms(0),
            legacy_error_rate: never(),
            dagger_error_rate: never(),
            dependency_timeout: ms(500),
            breaker: BreakerConfig::default(),
            retry: RetryConfig::default(),
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: ms(1000),
            half_open_probes: 1,
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_backoff: ms(10),
            max_backoff: ms(200),
        }
    }
}
