//! The `[[fault]]` table exactly as written, and its conversion to and from
//! [`FaultSpec`]: the place where keys are checked against the fault's kind.
//!
//! Every key is optional here and unknown keys are refused; the conversion then refuses
//! keys that do not belong to the kind, names missing ones with an example, and checks
//! values that depend on each other (a schedule, a delay, a header).

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_spanned::Spanned;

use super::byte_size::ByteSize;
use super::delay::{Delay, Distribution};
use super::kinds::{FaultKind, Layer, kind_list};
use super::schedule::Schedule;
use super::spec::{
    DEFAULT_CHUNK_SIZE, Direction, FaultAction, FaultSite, FaultSpec, RequestMatch, certain,
};
use crate::text;
use crate::toml_diagnostics::HELP_SEPARATOR;
use crate::units::{HumanDuration, NonZeroDuration, Probability};

/// An HTTP status accepted by `http_error`: 100..=599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
struct Status(u16);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(deserializer)?;
        match u16::try_from(v) {
            Ok(s) if (100..=599).contains(&s) => Ok(Self(s)),
            _ => Err(de::Error::custom(format!(
                "`status` must lie between 100 and 599, got {v}; write e.g. `status = 503`"
            ))),
        }
    }
}

/// The table exactly as written: every key optional except `kind`, unknown keys refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFault {
    #[serde(
        default,
        deserialize_with = "printable_name",
        skip_serializing_if = "Option::is_none"
    )]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<FaultSite>,
    kind: Option<FaultKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jitter: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    distribution: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probability: Option<Probability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration: Option<NonZeroDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeat: Option<NonZeroDuration>,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    matcher: Option<RequestMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bytes: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunk_delay: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunk_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    average_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size_variation: Option<ByteSize>,
}

/// A fault's `name`, refused at its value when a character would not print as itself (it
/// labels the fault in the attempt log, the control API, terminal tables and reports).
fn printable_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(deserializer)?;
    match name_problem(&name, HELP_SEPARATOR) {
        Some(why) => Err(de::Error::custom(why)),
        None => Ok(Some(name)),
    }
}

/// Why `name` cannot name a fault, with `separator` between what is wrong and the fix.
fn name_problem(name: &str, separator: &str) -> Option<String> {
    let hidden = text::check_name(name).err()?;
    Some(format!(
        "the fault name `{}` holds a character that does not print{separator}use printable characters; found {hidden}",
        text::printable(name)
    ))
}

/// Where a `[[fault]]` table's `name` and `start` are written: for the checks that look at
/// all the faults of a file at once (two faults with one name, a window outside the run),
/// which then point at the key rather than at the table.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FaultKeySpans {
    /// The `name` value.
    pub name: Option<Spanned<String>>,
    /// The `start` value.
    pub start: Option<Spanned<toml::Value>>,
}

/// The key spans of every `[[fault]]` of a TOML file that parsed, in file order; empty
/// when the text does not parse (the caller then falls back to the table's span).
pub(crate) fn fault_key_spans(text: &str) -> Vec<FaultKeySpans> {
    #[derive(Deserialize)]
    struct Faults {
        #[serde(default)]
        fault: Vec<FaultKeySpans>,
    }
    toml::from_str::<Faults>(text)
        .map(|f| f.fault)
        .unwrap_or_default()
}

impl RawFault {
    /// The kind-specific keys present in the table.
    fn present_own_keys(&self) -> Vec<&'static str> {
        let present = [
            ("status", self.status.is_some()),
            ("body", self.body.is_some()),
            ("headers", self.headers.is_some()),
            ("latency", self.latency.is_some()),
            ("jitter", self.jitter.is_some()),
            ("distribution", self.distribution.is_some()),
            ("rate", self.rate.is_some()),
            ("bytes", self.bytes.is_some()),
            ("chunk_delay", self.chunk_delay.is_some()),
            ("chunk_size", self.chunk_size.is_some()),
            ("delay", self.delay.is_some()),
            ("direction", self.direction.is_some()),
            ("timeout", self.timeout.is_some()),
            ("average_size", self.average_size.is_some()),
            ("size_variation", self.size_variation.is_some()),
        ];
        present
            .into_iter()
            .filter_map(|(key, here)| here.then_some(key))
            .collect()
    }
}

/// `value`, or an error saying that `kind` needs `key` and how to write it.
fn required<T>(value: Option<T>, kind: FaultKind, key: &str, example: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("kind `{kind}` needs `{key}`; add e.g. `{example}`"))
}

fn delay_of(raw: &RawFault, kind: FaultKind) -> Result<Delay, String> {
    match (raw.latency, raw.distribution) {
        (Some(_), Some(_)) => Err(format!(
            "kind `{kind}` takes either `latency` (with optional `jitter`) or `distribution`, not both"
        )),
        (None, Some(d)) if raw.jitter.is_some() => Err(format!(
            "`jitter` goes with a fixed `latency`; a `distribution` has its spread built in ({})",
            match d {
                Distribution::Lognormal { .. } => "lognormal: `sigma`",
                Distribution::Pareto { .. } => "pareto: `shape`",
            }
        )),
        (None, Some(d)) => {
            d.validate()?;
            Ok(Delay::Random(d))
        }
        (Some(latency), None) => Ok(Delay::Fixed {
            latency: latency.get(),
            jitter: raw.jitter.map(HumanDuration::get).unwrap_or_default(),
        }),
        (None, None) => Err(format!(
            "kind `{kind}` needs `latency` (e.g. `latency = \"100ms\"`) or `distribution` (e.g. `distribution = {{ kind = \"lognormal\", median = \"50ms\", sigma = 0.5 }}`)"
        )),
    }
}

/// `slow_close` delays the close both ways unless told otherwise (its meaning before
/// Toxiproxy's one-stream toxics came).
const SLOW_CLOSE_DIRECTION: Direction = Direction::Both;

fn action_of(raw: &RawFault, kind: FaultKind) -> Result<FaultAction, String> {
    let direction = raw.direction.unwrap_or_default();
    Ok(match kind {
        FaultKind::Latency => FaultAction::Latency(delay_of(raw, kind)?),
        FaultKind::HttpError => {
            let headers = raw.headers.clone().unwrap_or_default();
            for (name, value) in &headers {
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`headers`: {name:?} is not a header name"))?;
                HeaderValue::from_str(value).map_err(|_| {
                    format!("`headers`: the value of {name:?} is not a valid header value")
                })?;
            }
            FaultAction::HttpError {
                status: required(raw.status, kind, "status", "status = 503")?.0,
                body: raw.body.clone().unwrap_or_default(),
                headers,
            }
        }
        FaultKind::Abort => FaultAction::Abort,
        FaultKind::Blackhole => FaultAction::Blackhole,
        FaultKind::Truncate => FaultAction::Truncate {
            bytes: required(raw.bytes, kind, "bytes", "bytes = 1024")?,
        },
        FaultKind::SlowBody => FaultAction::SlowBody {
            chunk_delay: required(
                raw.chunk_delay,
                kind,
                "chunk_delay",
                "chunk_delay = \"10ms\"",
            )?
            .get(),
            chunk_size: match raw.chunk_size {
                Some(ByteSize(0)) => return Err("`chunk_size` must be at least 1 byte".into()),
                Some(size) => size,
                None => DEFAULT_CHUNK_SIZE,
            },
        },
        FaultKind::TcpLatency => FaultAction::TcpLatency {
            delay: delay_of(raw, kind)?,
            direction,
        },
        FaultKind::Bandwidth => FaultAction::Bandwidth {
            rate: match required(raw.rate, kind, "rate", "rate = \"64KiB\"")? {
                ByteSize(0) => {
                    return Err(
                        "`rate` must be at least 1 byte per second; to stop traffic use `tcp_blackhole`".into(),
                    );
                }
                rate => rate,
            },
            direction,
        },
        FaultKind::ResetPeer => FaultAction::ResetPeer {
            timeout: raw.timeout.map(HumanDuration::get),
            direction,
        },
        FaultKind::TcpBlackhole => FaultAction::TcpBlackhole,
        FaultKind::SlowClose => FaultAction::SlowClose {
            delay: required(raw.delay, kind, "delay", "delay = \"500ms\"")?.get(),
            direction: raw.direction.unwrap_or(SLOW_CLOSE_DIRECTION),
        },
        FaultKind::Timeout => FaultAction::Timeout {
            timeout: raw.timeout.map(HumanDuration::get).filter(|t| !t.is_zero()),
            direction,
        },
        FaultKind::Slicer => {
            let average_size =
                required(raw.average_size, kind, "average_size", "average_size = 64")?;
            let size_variation = raw.size_variation.unwrap_or_default();
            if average_size.0 == 0 {
                return Err(
                    "`average_size` must be at least 1 byte; e.g. `average_size = 64`".into(),
                );
            }
            if size_variation >= average_size {
                return Err(format!(
                    "`size_variation` ({}) must be smaller than `average_size` ({}), or pieces could be empty",
                    size_variation.0, average_size.0
                ));
            }
            FaultAction::Slicer {
                average_size,
                size_variation,
                delay: raw.delay.map(HumanDuration::get).unwrap_or_default(),
                direction,
            }
        }
        FaultKind::LimitData => FaultAction::LimitData {
            bytes: required(raw.bytes, kind, "bytes", "bytes = 1024")?,
            direction,
        },
        FaultKind::Down => FaultAction::Down,
    })
}

impl TryFrom<RawFault> for FaultSpec {
    type Error = String;

    fn try_from(raw: RawFault) -> Result<Self, String> {
        let kinds = kind_list(FaultKind::ALL, "`");
        let kind = raw
            .kind
            .ok_or_else(|| format!("a fault needs `kind`, one of {kinds}"))?;
        for key in raw.present_own_keys() {
            if !kind.own_keys().contains(&key) {
                let owners: Vec<String> = FaultKind::ALL
                    .iter()
                    .filter(|k| k.own_keys().contains(&key))
                    .map(|k| format!("`{k}`"))
                    .collect();
                return Err(format!(
                    "`{key}` does not apply to kind `{kind}` (it belongs to kind {}); remove it or change `kind`",
                    owners.join(", ")
                ));
            }
        }
        let layer = kind.layer();
        if layer == Layer::Tcp {
            if raw.matcher.is_some() {
                return Err(format!(
                    "`match` applies to HTTP faults only; kind `{kind}` acts on whole TCP connections"
                ));
            }
            if raw.first_attempts.is_some() {
                return Err(format!(
                    "`first_attempts` needs request ids, which only HTTP faults see; for kind `{kind}` use `first_requests` (first connections)"
                ));
            }
        }
        if kind == FaultKind::Down && (raw.probability.is_some() || raw.first_requests.is_some()) {
            return Err(
                "kind `down` closes the listener for its whole window; it takes no `probability` or `first_requests`, only `start`, `duration` and `repeat`".into(),
            );
        }
        if raw.first_attempts == Some(0) {
            return Err("`first_attempts` must be at least 1 (attempts count from 1)".into());
        }
        if let Some(name) = &raw.name
            && name.trim().is_empty()
        {
            return Err("`name` cannot be empty; remove it to use the kind as the label".into());
        }
        if let Some(why) = raw.name.as_deref().and_then(|n| name_problem(n, "; ")) {
            return Err(why);
        }
        let schedule = Schedule {
            start: raw.start.map(HumanDuration::get).unwrap_or_default(),
            duration: raw.duration.map(NonZeroDuration::get),
            repeat: raw.repeat.map(NonZeroDuration::get),
        };
        schedule.validate()?;
        let matcher = raw.matcher.clone().unwrap_or_default();
        matcher.validate()?;
        let action = action_of(&raw, kind)?;
        Ok(Self {
            name: raw.name,
            at: raw.at.unwrap_or_default(),
            action,
            probability: raw.probability.unwrap_or_else(certain),
            first_attempts: raw.first_attempts,
            first_requests: raw.first_requests,
            schedule,
            matcher,
        })
    }
}

impl<'de> Deserialize<'de> for FaultSpec {
    /// A `[[fault]]` table: read as written, then converted, so every error is a serde
    /// error with the table's place.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawFault::deserialize(deserializer)?;
        FaultSpec::try_from(raw).map_err(de::Error::custom)
    }
}

impl Serialize for FaultSpec {
    /// The `[[fault]]` table form: durations as strings, defaults left out.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawFault::from(self.clone()).serialize(serializer)
    }
}

impl FaultSpec {
    /// Checks a spec built in code by the same rules as a spec read from a file.
    pub fn validate(&self) -> Result<(), String> {
        FaultSpec::try_from(RawFault::from(self.clone())).map(drop)
    }
}

fn human(d: Duration) -> HumanDuration {
    HumanDuration(d)
}

impl From<FaultSpec> for RawFault {
    fn from(spec: FaultSpec) -> Self {
        let mut raw = RawFault {
            name: spec.name,
            at: Some(spec.at),
            kind: Some(spec.action.kind()),
            probability: (spec.probability.get() != 1.0).then_some(spec.probability),
            first_attempts: spec.first_attempts,
            first_requests: spec.first_requests,
            start: (!spec.schedule.start.is_zero()).then(|| human(spec.schedule.start)),
            duration: spec.schedule.duration.map(|d| NonZeroDuration(human(d))),
            repeat: spec.schedule.repeat.map(|d| NonZeroDuration(human(d))),
            matcher: (!spec.matcher.is_empty()).then_some(spec.matcher),
            ..RawFault::default()
        };
        let put_delay = |raw: &mut RawFault, delay: Delay| match delay {
            Delay::Fixed { latency, jitter } => {
                raw.latency = Some(human(latency));
                raw.jitter = (!jitter.is_zero()).then(|| human(jitter));
            }
            Delay::Random(d) => raw.distribution = Some(d),
        };
        let direction = |d: Direction| (d != Direction::default()).then_some(d);
        match spec.action {
            FaultAction::Latency(delay) => put_delay(&mut raw, delay),
            FaultAction::HttpError {
                status,
                body,
                headers,
            } => {
                raw.status = Some(Status(status));
                raw.body = (!body.is_empty()).then_some(body);
                raw.headers = (!headers.is_empty()).then_some(headers);
            }
            FaultAction::Truncate { bytes } => raw.bytes = Some(bytes),
            FaultAction::SlowBody {
                chunk_delay,
                chunk_size,
            } => {
                raw.chunk_delay = Some(human(chunk_delay));
                raw.chunk_size = Some(chunk_size);
            }
            FaultAction::TcpLatency {
                delay,
                direction: d,
            } => {
                put_delay(&mut raw, delay);
                raw.direction = direction(d);
            }
            FaultAction::Bandwidth { rate, direction: d } => {
                raw.rate = Some(rate);
                raw.direction = direction(d);
            }
            FaultAction::SlowClose {
                delay,
                direction: d,
            } => {
                raw.delay = Some(human(delay));
                raw.direction = (d != SLOW_CLOSE_DIRECTION).then_some(d);
            }
            FaultAction::ResetPeer {
                timeout,
                direction: d,
            } => {
                raw.timeout = timeout.map(human);
                raw.direction = direction(d);
            }
            FaultAction::Timeout {
                timeout,
                direction: d,
            } => {
                raw.timeout = timeout.map(human);
                raw.direction = direction(d);
            }
            FaultAction::Slicer {
                average_size,
                size_variation,
                delay,
                direction: d,
            } => {
                raw.average_size = Some(average_size);
                raw.size_variation = (size_variation.0 != 0).then_some(size_variation);
                raw.delay = (!delay.is_zero()).then(|| human(delay));
                raw.direction = direction(d);
            }
            FaultAction::LimitData {
                bytes,
                direction: d,
            } => {
                raw.bytes = Some(bytes);
                raw.direction = direction(d);
            }
            FaultAction::Abort
            | FaultAction::Blackhole
            | FaultAction::TcpBlackhole
            | FaultAction::Down => {}
        }
        raw
    }
}
