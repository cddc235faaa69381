//! Settings of the embedded reference platform, as written in a scenario's `[reference]` table.
//!
//! A zero that makes the breaker or the retry policy meaningless is refused as the table
//! is read: `failure_threshold`, `half_open_probes` and `max_attempts` are at least 1,
//! `open_for` and `dependency_timeout` longer than zero.
//!
//! `legacy_cpu_per_call` and `dagger_cpu_per_call` are CPU time a path's execute request
//! burns on its serving thread; at most [`MAX_SPIN`] (one second), so a typo such as
//! `"2s"` for `"2ms"` cannot pin a core for the whole run.
//!
//! `mcp_sse` makes the `/mcp` endpoint answer as an SSE stream whenever the client accepts
//! one, so that both answer forms of the MCP transport can be load tested.
//!
//! `parity_defect` plants a deliberate difference in the Dagger path's answers, so that a
//! functional parity check can be shown to catch one; the legacy path never has it.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::cpu::MAX_SPIN;
use crate::toml_diagnostics::HELP_SEPARATOR;
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
    /// CPU time each execute request of the legacy path burns on its serving thread, in a
    /// busy loop; at most 1 s. Left out of the serialised form while zero, so scenarios
    /// without it keep their hash.
    #[serde(
        deserialize_with = "legacy_cpu_per_call",
        skip_serializing_if = "is_zero"
    )]
    pub legacy_cpu_per_call: HumanDuration,
    /// CPU time each execute request of the Dagger path burns on its serving thread, in a
    /// busy loop; at most 1 s. Left out of the serialised form while zero.
    #[serde(
        deserialize_with = "dagger_cpu_per_call",
        skip_serializing_if = "is_zero"
    )]
    pub dagger_cpu_per_call: HumanDuration,
    /// Probability that the legacy path fails (500) on its own.
    pub legacy_error_rate: Probability,
    /// Probability that the Dagger path fails (500) on its own.
    pub dagger_error_rate: Probability,
    /// Timeout of one call from the service to the executor; greater than zero.
    #[serde(deserialize_with = "dependency_timeout")]
    pub dependency_timeout: HumanDuration,
    /// The Dagger path's circuit breaker.
    pub breaker: BreakerConfig,
    /// The Dagger path's retry policy.
    pub retry: RetryConfig,
    /// A deliberate difference in the Dagger path's answers (default: none). Left out of
    /// the serialised form while `none`, so scenarios without it keep their hash.
    #[serde(skip_serializing_if = "ParityDefect::is_none")]
    pub parity_defect: ParityDefect,
    /// Whether the `/mcp` endpoint answers a request as an SSE stream when the client
    /// accepts one (default: one JSON object). Left out of the serialised form while
    /// false, so scenarios without it keep their hash.
    #[serde(skip_serializing_if = "is_false")]
    pub mcp_sse: bool,
}

/// A deliberate functional difference between the Dagger path's answers and the legacy
/// path's, written `parity_defect = "..."` in `[reference]`.
///
/// It touches the Dagger path's successful answers only (`202` of
/// `POST /api/workflows/execute`, `200` of `GET /api/tasks/{id}`); the legacy path, error
/// answers, statuses, headers and timing stay as they are. Fields that differ between
/// any two answers (`created_at`, `run_id`, `finished_at`, `task_id`) are noise, not a
/// defect, and `path` names the path on purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParityDefect {
    /// `"none"`: both paths answer alike (up to noise and `path`).
    #[default]
    None,
    /// `"dropped_field"`: the Dagger path's execute and task answers have no
    /// `"artifacts"` field at all.
    DroppedField,
    /// `"changed_value"`: the Dagger path's task answer says `"status":"succeeded"` where
    /// the legacy path says `"completed"`; its execute answer is unchanged.
    ChangedValue,
    /// `"reordered_array"`: the Dagger path's execute and task answers list `"steps"` in
    /// reverse order (`["test","build","checkout"]`), the same elements otherwise.
    ReorderedArray,
}

impl ParityDefect {
    /// Whether this is [`ParityDefect::None`].
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }
}

/// Circuit breaker of the Dagger path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open the breaker; at least 1.
    #[serde(deserialize_with = "failure_threshold")]
    pub failure_threshold: u32,
    /// How long the breaker stays open before letting a probe through; greater than zero.
    #[serde(deserialize_with = "open_for")]
    pub open_for: HumanDuration,
    /// Probes allowed while half-open; that many successes close the breaker. At least 1.
    #[serde(deserialize_with = "half_open_probes")]
    pub half_open_probes: u32,
}

/// Retry policy of the Dagger path: jittered exponential backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per request, the first included (1 = no retry); at least 1.
    #[serde(deserialize_with = "max_attempts")]
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each retry, with full jitter.
    pub base_backoff: HumanDuration,
    /// Upper bound of one backoff.
    pub max_backoff: HumanDuration,
}

// A zero that would make the breaker or the retry policy meaningless is refused when the
// file is read, at the value (the TOML parser locates a serde error there). The backoffs
// may be zero: retrying at once is a policy.

fn failure_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    at_least_one(
        d,
        "breaker.failure_threshold",
        "it is how many consecutive failed calls open the breaker; write e.g. `breaker = { failure_threshold = 5 }` (1 opens on the first failure)",
    )
}

fn half_open_probes<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    at_least_one(
        d,
        "breaker.half_open_probes",
        "a half-open breaker lets this many probes through and closes after as many successes, so with none it could never close; write e.g. `breaker = { half_open_probes = 1 }`",
    )
}

fn max_attempts<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    at_least_one(
        d,
        "retry.max_attempts",
        "it counts attempts per request, the first included; write `retry = { max_attempts = 1 }` for no retry, or e.g. `max_attempts = 3`",
    )
}

fn open_for<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    positive(
        d,
        "breaker.open_for",
        "an open breaker that reopens at once lets every call through: it is no breaker; write e.g. `breaker = { open_for = \"1s\" }`",
    )
}

fn dependency_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    positive(
        d,
        "dependency_timeout",
        "every call to the executor would time out at once; write e.g. `dependency_timeout = \"500ms\"`",
    )
}

fn legacy_cpu_per_call<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    cpu_per_call(d, "legacy_cpu_per_call")
}

fn dagger_cpu_per_call<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    cpu_per_call(d, "dagger_cpu_per_call")
}

/// A CPU cost per call: at most [`MAX_SPIN`], since each call spins that long on a thread.
fn cpu_per_call<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<HumanDuration, D::Error> {
    let v = HumanDuration::deserialize(d)?;
    if v.get() > MAX_SPIN {
        return Err(de::Error::custom(format!(
            "[reference] {key} must be at most 1s, got {v}{HELP_SEPARATOR}it is CPU time that every execute request of the path burns on the thread serving it; write e.g. `{key} = \"2ms\"`"
        )));
    }
    Ok(v)
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_zero(v: &HumanDuration) -> bool {
    v.get().is_zero()
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D, key: &str, help: &str) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom(format!(
            "[reference] {key} must be at least 1, got 0{HELP_SEPARATOR}{help}"
        )));
    }
    Ok(n)
}

fn positive<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
    help: &str,
) -> Result<HumanDuration, D::Error> {
    let v = HumanDuration::deserialize(d)?;
    if v.get().is_zero() {
        return Err(de::Error::custom(format!(
            "[reference] {key} must be greater than 0{HELP_SEPARATOR}{help}"
        )));
    }
    Ok(v)
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
            legacy_cpu_per_call: ms(0),
            dagger_cpu_per_call: ms(0),
            legacy_error_rate: never(),
            dagger_error_rate: never(),
            dependency_timeout: ms(500),
            breaker: BreakerConfig::default(),
            retry: RetryConfig::default(),
            parity_defect: ParityDefect::None,
            mcp_sse: false,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ReferenceConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn zeros_that_make_the_breaker_or_retry_meaningless_are_refused() {
        for (text, key) in [
            (
                "breaker = { failure_threshold = 0 }",
                "breaker.failure_threshold",
            ),
            (
                "breaker = { half_open_probes = 0 }",
                "breaker.half_open_probes",
            ),
            ("breaker = { open_for = \"0s\" }", "breaker.open_for"),
            ("retry = { max_attempts = 0 }", "retry.max_attempts"),
            ("dependency_timeout = \"0ms\"", "dependency_timeout"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(&format!("[reference] {key} must be")), "{e}");
            assert!(e.contains(HELP_SEPARATOR), "{e}");
        }
        let ok = parse(
            "breaker = { failure_threshold = 1, half_open_probes = 1, open_for = \"1ms\" }\nretry = { max_attempts = 1, base_backoff = \"0s\", max_backoff = \"0s\" }",
        )
        .expect("ones and zero backoffs are fine");
        assert_eq!(ok.retry.max_attempts, 1);
        assert_eq!(parse("").expect("defaults"), ReferenceConfig::default());
    }

    #[test]
    fn cpu_per_call_is_at_most_one_second_and_serialised_only_when_set() {
        for key in ["legacy_cpu_per_call", "dagger_cpu_per_call"] {
            let e = parse(&format!("{key} = \"1001ms\"")).expect_err(key);
            assert!(
                e.contains(&format!("[reference] {key} must be at most 1s, got 1s 1ms")),
                "{e}"
            );
            assert!(e.contains(HELP_SEPARATOR), "{e}");
            assert!(e.contains(&format!("`{key} = \"2ms\"`")), "{e}");
            let e = parse(&format!("{key} = 2")).expect_err(key);
            assert!(e.contains("duration"), "{e}");
        }
        let config = parse("dagger_cpu_per_call = \"1s\"\nlegacy_cpu_per_call = \"250us\"")
            .expect("the cap itself is fine");
        assert_eq!(config.dagger_cpu_per_call.get(), MAX_SPIN);
        assert_eq!(
            config.legacy_cpu_per_call.get(),
            std::time::Duration::from_micros(250)
        );
        assert_eq!(parse("").expect("defaults").dagger_cpu_per_call, ms(0));

        let plain = serde_json::to_string(&ReferenceConfig::default()).expect("serialise");
        assert!(!plain.contains("cpu_per_call"), "{plain}");
        let text = serde_json::to_string(&config).expect("serialise");
        assert!(text.contains(r#""dagger_cpu_per_call":"1s""#), "{text}");
        assert!(text.contains(r#""legacy_cpu_per_call":"250us""#), "{text}");
    }

    #[test]
    fn parity_defect_reads_every_variant_and_refuses_others() {
        assert_eq!(
            parse("").expect("default").parity_defect,
            ParityDefect::None
        );
        for (text, defect) in [
            ("none", ParityDefect::None),
            ("dropped_field", ParityDefect::DroppedField),
            ("changed_value", ParityDefect::ChangedValue),
            ("reordered_array", ParityDefect::ReorderedArray),
        ] {
            let config = parse(&format!("parity_defect = \"{text}\"")).expect(text);
            assert_eq!(config.parity_defect, defect);
        }
        let e = parse("parity_defect = \"dropped\"").expect_err("unknown variant");
        assert!(e.contains("dropped_field"), "names the variants: {e}");
        assert!(parse("parity_defect = true").is_err());
    }

    #[test]
    fn parity_defect_is_serialised_only_when_set() {
        let plain = serde_json::to_string(&ReferenceConfig::default()).expect("serialise");
        assert!(!plain.contains("parity_defect"), "{plain}");
        let set = ReferenceConfig {
            parity_defect: ParityDefect::ReorderedArray,
            ..ReferenceConfig::default()
        };
        let text = serde_json::to_string(&set).expect("serialise");
        assert!(
            text.contains(r#""parity_defect":"reordered_array""#),
            "{text}"
        );
    }

    #[test]
    fn mcp_sse_is_read_and_serialised_only_when_set() {
        assert!(!ReferenceConfig::default().mcp_sse);
        assert!(parse("mcp_sse = true").expect("parses").mcp_sse);
        assert!(parse("mcp_sse = \"yes\"").is_err());
        let plain = serde_json::to_string(&ReferenceConfig::default()).expect("serialise");
        assert!(
            !plain.contains("mcp_sse"),
            "hash unchanged without it: {plain}"
        );
        let set = ReferenceConfig {
            mcp_sse: true,
            ..ReferenceConfig::default()
        };
        let text = serde_json::to_string(&set).expect("serialise");
        assert!(text.contains(r#""mcp_sse":true"#), "{text}");
    }
}
