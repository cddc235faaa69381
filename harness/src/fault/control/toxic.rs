//! The Toxiproxy dialect's types: Toxiproxy's toxics (`latency`, `bandwidth`,
//! `slow_close`, `timeout`, `reset_peer`, `slicer`, `limit_data`) mapped to the proxy's
//! own faults and back, so existing Toxiproxy clients can drive it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::answer::ApiError;
use super::{ProxyInfo, ProxyMode};
use crate::fault::{ByteSize, Delay, Direction, FaultAction, FaultSpec};
use crate::units::Probability;

/// Which way of a connection a toxic acts on, in Toxiproxy's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Stream {
    Downstream,
    Upstream,
}

impl Stream {
    /// Toxiproxy's reading: absent or empty is downstream.
    pub(super) fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text.unwrap_or("") {
            "" | "downstream" => Ok(Self::Downstream),
            "upstream" => Ok(Self::Upstream),
            other => Err(ApiError::bad_request(
                format!("stream `{other}` is invalid, it can be either upstream or downstream"),
                "write \"stream\": \"downstream\" (answers, the default) or \"upstream\" (requests)",
            )),
        }
    }

    pub(super) fn direction(self) -> Direction {
        match self {
            Self::Downstream => Direction::Downstream,
            Self::Upstream => Direction::Upstream,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Downstream => "downstream",
            Self::Upstream => "upstream",
        }
    }
}

/// A toxic as Toxiproxy shows it, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Toxic {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) stream: Stream,
    pub(super) toxicity: f64,
    pub(super) attributes: Map<String, Value>,
}

/// A toxic as a client sends it; `null` and `""` mean "the default", as in Toxiproxy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ToxicBody {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) stream: Option<String>,
    #[serde(default)]
    pub(super) toxicity: Option<f64>,
    #[serde(default)]
    pub(super) attributes: Option<Map<String, Value>>,
}

/// A Toxiproxy toxic type this proxy understands.
pub(super) struct ToxicType {
    pub(super) name: &'static str,
    pub(super) attributes: &'static [&'static str],
}

/// The toxic types with a fault behind them, in Toxiproxy's documentation order.
pub(super) const TOXIC_TYPES: [ToxicType; 7] = [
    ToxicType {
        name: "latency",
        attributes: &["latency", "jitter"],
    },
    ToxicType {
        name: "bandwidth",
        attributes: &["rate"],
    },
    ToxicType {
        name: "slow_close",
        attributes: &["delay"],
    },
    ToxicType {
        name: "timeout",
        attributes: &["timeout"],
    },
    ToxicType {
        name: "reset_peer",
        attributes: &["timeout"],
    },
    ToxicType {
        name: "slicer",
        attributes: &["average_size", "size_variation", "delay"],
    },
    ToxicType {
        name: "limit_data",
        attributes: &["bytes"],
    },
];

pub(super) fn toxic_type_names() -> String {
    TOXIC_TYPES
        .iter()
        .map(|t| format!("`{}`", t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A whole number ≥ 0 from `attributes[key]`; absent is 0, as in Toxiproxy.
pub(super) fn attribute(toxic: &Toxic, key: &str, unit: &str) -> Result<u64, ApiError> {
    match toxic.attributes.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value.as_u64().ok_or_else(|| {
            ApiError::bad_request(
                format!(
                    "attribute `{key}` of toxic `{}` must be a whole number of {unit} (0 or more), got {value}",
                    toxic.name
                ),
                format!("write e.g. \"attributes\": {{\"{key}\": 100}}"),
            )
        }),
    }
}

/// The fault a Toxiproxy toxic becomes. On an HTTP-mode proxy the TCP faults act on the
/// client connection's bytes, except `latency`, which becomes the per-request `latency`
/// there (before forwarding, whatever the `stream`), so that it reaches every keep-alive
/// connection at once. On a TCP proxy every toxic added or removed reaches the open
/// connections too, as in Toxiproxy; on an HTTP proxy only the client connections that
/// had a TCP fault when they opened follow (the others are served without the relay).
///
/// | toxic (attributes, defaults 0)                        | fault                                   |
/// |-------------------------------------------------------|-----------------------------------------|
/// | `latency` (latency, jitter ms)                        | `tcp_latency` in `stream` (http: `latency`) |
/// | `bandwidth` (rate KB/s)                               | `bandwidth`, rate × 1000 B/s            |
/// | `slow_close` (delay ms)                               | `slow_close` in `stream`                |
/// | `timeout` (timeout ms)                                | `timeout` in `stream` (0: never closes) |
/// | `reset_peer` (timeout ms)                             | `reset_peer` in `stream`, after timeout |
/// | `slicer` (average_size, size_variation bytes, delay µs) | `slicer` in `stream`                  |
/// | `limit_data` (bytes)                                  | `limit_data` in `stream`                |
///
/// `toxicity` becomes `probability`, drawn once per connection and toxic. Toxics stack
/// in the order added, per stream, as in Toxiproxy. One approximation: Toxiproxy's
/// jitter is ± around the latency while ours is added on top, so `latency ± jitter`
/// becomes `latency − jitter` (at least 0) plus up to `2 × jitter`, the same range (when
/// the jitter exceeds the latency, Toxiproxy's negative draws count as 0 and ours are
/// spread over what is left). `bandwidth` with rate 0 (no limit in Toxiproxy) and a
/// `slicer` whose `size_variation` is not below its `average_size` (which Toxiproxy's
/// documentation forbids) are refused.
pub(super) fn fault_of_toxic(toxic: &Toxic, info: &ProxyInfo) -> Result<FaultSpec, ApiError> {
    let kind = toxic.kind.as_str();
    let unsupported = || {
        ApiError::bad_request(
            format!("toxic type `{kind}` is not supported"),
            format!(
                "use one of {}; other faults go through POST /faults",
                toxic_type_names()
            ),
        )
    };
    let Some(known) = TOXIC_TYPES.iter().find(|t| t.name == kind) else {
        return Err(unsupported());
    };
    if let Some(unknown) = toxic
        .attributes
        .keys()
        .find(|key| !known.attributes.contains(&key.as_str()))
    {
        let accepted: Vec<String> = known.attributes.iter().map(|a| format!("`{a}`")).collect();
        return Err(ApiError::bad_request(
            format!("toxic type `{kind}` has no attribute `{unknown}`"),
            format!("its attributes are {}", accepted.join(", ")),
        ));
    }
    let ms = |key: &str| attribute(toxic, key, "milliseconds").map(Duration::from_millis);
    let direction = toxic.stream.direction();
    let action = match kind {
        "latency" => {
            let (latency, jitter) = (
                attribute(toxic, "latency", "milliseconds")?,
                attribute(toxic, "jitter", "milliseconds")?,
            );
            let low = latency.saturating_sub(jitter);
            let delay = Delay::Fixed {
                latency: Duration::from_millis(low),
                jitter: Duration::from_millis(latency.saturating_add(jitter) - low),
            };
            match info.mode {
                // Per request, so it reaches keep-alive connections opened before it.
                ProxyMode::Http => FaultAction::Latency(delay),
                ProxyMode::Tcp => FaultAction::TcpLatency { delay, direction },
            }
        }
        "bandwidth" => {
            let rate = attribute(toxic, "rate", "KB per second")?;
            let bytes = rate.checked_mul(1000).filter(|b| *b > 0).ok_or_else(|| {
                ApiError::bad_request(
                    format!("toxic `{}`: rate {rate} KB/s cannot be applied", toxic.name),
                    "give a rate of at least 1 (KB/s); to lift the limit, delete the toxic",
                )
            })?;
            FaultAction::Bandwidth {
                rate: ByteSize(bytes),
                direction,
            }
        }
        "slow_close" => FaultAction::SlowClose {
            delay: ms("delay")?,
            direction,
        },
        "timeout" => FaultAction::Timeout {
            timeout: Some(ms("timeout")?).filter(|t| !t.is_zero()),
            direction,
        },
        "reset_peer" => FaultAction::ResetPeer {
            timeout: Some(ms("timeout")?),
            direction,
        },
        "slicer" => {
            let average = attribute(toxic, "average_size", "bytes")?;
            let variation = attribute(toxic, "size_variation", "bytes")?;
            if average == 0 || variation >= average {
                return Err(ApiError::bad_request(
                    format!(
                        "toxic `{}`: slicer needs 0 <= size_variation < average_size, got size_variation {variation} and average_size {average}",
                        toxic.name
                    ),
                    r#"write e.g. "attributes": {"average_size": 64, "size_variation": 32, "delay": 10}"#,
                ));
            }
            FaultAction::Slicer {
                average_size: ByteSize(average),
                size_variation: ByteSize(variation),
                delay: Duration::from_micros(attribute(toxic, "delay", "microseconds")?),
                direction,
            }
        }
        "limit_data" => FaultAction::LimitData {
            bytes: ByteSize(attribute(toxic, "bytes", "bytes")?),
            direction,
        },
        // Only reached if TOXIC_TYPES names a type without an arm here.
        _ => return Err(unsupported()),
    };
    let mut spec = FaultSpec::new(action);
    spec.name = Some(toxic.name.clone());
    spec.probability = Probability::new(toxic.toxicity).map_err(|_| {
        ApiError::bad_request(
            format!(
                "toxicity {} of toxic `{}` must lie between 0 and 1",
                toxic.toxicity, toxic.name
            ),
            "write e.g. \"toxicity\": 0.5 (the chance that a connection is affected)",
        )
    })?;
    spec.validate().map_err(|why| {
        ApiError::bad_request(
            format!("toxic `{}`: {why}", toxic.name),
            "change the attributes",
        )
    })?;
    Ok(spec)
}

/// A fault added through `/faults` (or the file) as a Toxiproxy client sees it: its own
/// kind as the type and its keys as attributes.
pub(super) fn native_toxic(spec: &FaultSpec) -> Value {
    let mut attributes = match serde_json::to_value(spec) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for key in ["name", "kind", "probability", "at"] {
        attributes.remove(key);
    }
    let stream = match spec.action {
        FaultAction::TcpLatency { direction, .. }
        | FaultAction::Bandwidth { direction, .. }
        | FaultAction::LimitData { direction, .. }
        | FaultAction::SlowClose { direction, .. }
        | FaultAction::Timeout { direction, .. }
        | FaultAction::ResetPeer { direction, .. }
        | FaultAction::Slicer { direction, .. }
            if direction == Direction::Upstream =>
        {
            Stream::Upstream
        }
        _ => Stream::Downstream,
    };
    json!({
        "name": spec.label(),
        "type": spec.kind().as_str(),
        "stream": stream,
        "toxicity": spec.probability.get(),
        "attributes": attributes,
    })
}
