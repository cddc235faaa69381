//! The inputs of a resilience observation: client requests, upstream attempts and fault
//! windows, all timed from the start of the run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::outcome::OutcomeClass;

/// One client request as the harness saw it (the first step of each iteration is enough).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEvent {
    /// The value of the `x-harness-request-id` header it carried.
    pub request_id: u64,
    /// Intended start, since run start (the schedule's time, free of coordinated omission).
    pub at: Duration,
    /// From intended start to the end of the answer (or of the failure).
    pub latency: Duration,
    /// How it ended.
    pub class: OutcomeClass,
}

/// One attempt that reached the fault proxy (placed between the service and its dependency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamEvent {
    /// The request id the attempt carried; `None` when the service did not propagate it.
    pub request_id: Option<u64>,
    /// 1 = first time this id was seen, 2 = first retry, ...
    pub attempt: u32,
    /// When the attempt arrived at the proxy, since run start.
    pub at: Duration,
    /// The proxy injected a fault into this attempt.
    pub injected: bool,
    /// The attempt reached the real dependency.
    pub forwarded: bool,
}

/// Everything a run's resilience observations were computed from, kept in a segment's
/// record so that `harness merge` recomputes them over all segments' requests.
///
/// The events are rows, times in nanoseconds since the run started: a client request
/// `[request_id, at_ns, latency_ns, "class"]`, an attempt `[request_id or null, attempt,
/// at_ns, injected, forwarded]`. Each list is stored as base64 of the DEFLATE of its JSON
/// rows (as the histograms are), so a minute at 1 000 requests a second costs about 2 MB
/// of record rather than tens of megabytes of indented JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The fault windows.
    pub windows: Vec<FaultWindow>,
    /// The client requests (each iteration's first real step).
    #[serde(with = "client_rows")]
    pub client: Vec<ClientEvent>,
    /// The attempts the proxy saw.
    #[serde(with = "upstream_rows")]
    pub upstream: Vec<UpstreamEvent>,
    /// When the run ended, since its start.
    pub run_end: Duration,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The most bytes a list of rows may inflate to when read (a corrupt or hostile record
/// must not exhaust memory).
const MAX_ROWS_BYTES: u64 = 1 << 30;

/// `rows` as base64 of the DEFLATE of their JSON.
fn pack<T: Serialize>(rows: &T) -> Result<String, String> {
    use base64::Engine;
    use std::io::Write;
    let json = serde_json::to_vec(rows).map_err(|e| e.to_string())?;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&json).map_err(|e| e.to_string())?;
    let packed = encoder.finish().map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(packed))
}

/// The rows [`pack`] wrote.
fn unpack<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    use base64::Engine;
    use std::io::Read;
    let packed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("evidence rows are not base64 ({e})"))?;
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(packed.as_slice())
        .take(MAX_ROWS_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("evidence rows are not DEFLATE ({e})"))?;
    if json.len() as u64 > MAX_ROWS_BYTES {
        return Err(format!(
            "evidence rows inflate beyond {MAX_ROWS_BYTES} bytes"
        ));
    }
    serde_json::from_slice(&json).map_err(|e| format!("evidence rows are not rows ({e})"))
}

mod client_rows {
    use super::{ClientEvent, Deserialize, Duration, OutcomeClass, nanos, pack, unpack};
    use serde::{Deserializer, Serializer, de::Error as _, ser::Error as _};

    type Row = (u64, u64, u64, OutcomeClass);

    pub(super) fn serialize<S: Serializer>(
        events: &[ClientEvent],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let rows: Vec<Row> = events
            .iter()
            .map(|e| (e.request_id, nanos(e.at), nanos(e.latency), e.class))
            .collect();
        s.serialize_str(&pack(&rows).map_err(S::Error::custom)?)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<ClientEvent>, D::Error> {
        let text = String::deserialize(d)?;
        let rows: Vec<Row> = unpack(&text).map_err(D::Error::custom)?;
        Ok(rows
            .into_iter()
            .map(|(request_id, at, latency, class)| ClientEvent {
                request_id,
                at: Duration::from_nanos(at),
                latency: Duration::from_nanos(latency),
                class,
            })
            .collect())
    }
}

mod upstream_rows {
    use super::{Deserialize, Duration, UpstreamEvent, nanos, pack, unpack};
    use serde::{Deserializer, Serializer, de::Error as _, ser::Error as _};

    type Row = (Option<u64>, u32, u64, bool, bool);

    pub(super) fn serialize<S: Serializer>(
        events: &[UpstreamEvent],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let rows: Vec<Row> = events
            .iter()
            .map(|e| {
                (
                    e.request_id,
                    e.attempt,
                    nanos(e.at),
                    e.injected,
                    e.forwarded,
                )
            })
            .collect();
        s.serialize_str(&pack(&rows).map_err(S::Error::custom)?)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<UpstreamEvent>, D::Error> {
        let text = String::deserialize(d)?;
        let rows: Vec<Row> = unpack(&text).map_err(D::Error::custom)?;
        Ok(rows
            .into_iter()
            .map(
                |(request_id, attempt, at, injected, forwarded)| UpstreamEvent {
                    request_id,
                    attempt,
                    at: Duration::from_nanos(at),
                    injected,
                    forwarded,
                },
            )
            .collect())
    }
}

/// A fault window (start inclusive, end exclusive), since run start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The fault's name in the scenario (for reports).
    pub name: String,
    /// When the fault became active.
    pub start: Duration,
    /// When the fault stopped (exclusive).
    pub end: Duration,
}

impl FaultWindow {
    /// The window's length; zero when `end` is not after `start`.
    pub fn length(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_rows_round_trip_exactly_and_a_corrupt_list_is_refused() {
        let evidence = Evidence {
            windows: vec![FaultWindow {
                name: "outage".into(),
                start: Duration::from_secs(2),
                end: Duration::from_secs(4),
            }],
            client: vec![ClientEvent {
                request_id: 65_537,
                at: Duration::from_nanos(2_000_000_123),
                latency: Duration::from_micros(1_234),
                class: OutcomeClass::Http5xx,
            }],
            upstream: vec![
                UpstreamEvent {
                    request_id: Some(65_537),
                    attempt: 2,
                    at: Duration::from_nanos(2_000_100_000),
                    injected: true,
                    forwarded: false,
                },
                UpstreamEvent {
                    request_id: None,
                    attempt: 1,
                    at: Duration::from_millis(3),
                    injected: false,
                    forwarded: true,
                },
            ],
            run_end: Duration::from_millis(6_001),
        };
        let json = serde_json::to_string(&evidence).expect("serialises");
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        let client: Vec<serde_json::Value> =
            unpack(value["client"].as_str().expect("packed rows")).expect("unpacks");
        assert_eq!(
            serde_json::to_string(&client).expect("rows"),
            r#"[[65537,2000000123,1234000,"http_5xx"]]"#
        );
        let back: Evidence = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, evidence);
        // A corrupt list is an error, not a panic.
        let corrupt = json.replace(value["client"].as_str().expect("rows"), "not-base64!");
        assert!(serde_json::from_str::<Evidence>(&corrupt).is_err());
    }
}
