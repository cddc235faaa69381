//! How a request is recognised downstream: the headers that carry its request id from
//! the load client, through the service, to the fault proxy in front of its dependency.
//!
//! Every HTTP request carries its id three ways, so that the proxy can join dependency
//! attempts to client requests whatever the service forwards:
//! - `x-harness-request-id: <id>` (decimal), for services that forward it;
//! - W3C `traceparent: 00-<trace id>-<span id>-00`, which instrumented services
//!   (OpenTelemetry and most tracing libraries) propagate on their outgoing calls. The
//!   trace id is fresh per request: its high 64 bits identify the run, its low 64 bits
//!   are the request id. The sampled flag is off, so a service does not record (or
//!   export) a trace per load-test request;
//! - optionally a header the scenario names (`[dependency] request_id_header`), for
//!   services that forward a correlation header of their own choosing.
//!
//! The proxy reads them in that order (the first that parses wins).

use http::HeaderName;
use http::HeaderValue;

/// The harness's own request-id header.
pub const REQUEST_ID_HEADER: &str = "x-harness-request-id";
/// The same, as a header name.
pub const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
/// The W3C Trace Context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// Length of a version-00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;

/// What a run's requests carry besides the request id itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// The high 64 bits of every trace id of the run (never zero).
    pub trace_prefix: u64,
    /// A further header carrying the request id (decimal), when the scenario names one.
    pub extra_header: Option<HeaderName>,
    /// Whether the traceparent's sampled flag is set. Off for services (a load test
    /// should not make them record a trace per request); on for Dagger engines, which
    /// sample children of a remote parent as the parent says (OpenTelemetry's default
    /// ParentBased sampler): an unsampled parent would silence every span of the query.
    pub sampled: bool,
}

impl Correlation {
    /// The correlation of one run of `path`: the trace prefix mixes the run's `seed`
    /// and the path (both paths of a repetition share the seed), so that two runs'
    /// trace ids differ; it is never zero (W3C forbids an all-zero trace id).
    pub fn for_run(seed: u64, path: &str, extra_header: Option<HeaderName>) -> Self {
        // FNV-1a over the path name: stable across builds, unlike the std hasher.
        let path_hash = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Self {
            trace_prefix: mix(seed ^ path_hash) | 1 << 63,
            extra_header,
            sampled: false,
        }
    }

    /// The `traceparent` value of request `request_id`.
    pub fn traceparent(&self, request_id: u64) -> [u8; TRACEPARENT_LEN] {
        let mut out = [0u8; TRACEPARENT_LEN];
        out[..3].copy_from_slice(b"00-");
        hex(self.trace_prefix, &mut out[3..19]);
        hex(request_id, &mut out[19..35]);
        out[35] = b'-';
        // The span id only has to be non-zero and differ between requests.
        hex(mix(request_id ^ self.trace_prefix) | 1, &mut out[36..52]);
        out[52..].copy_from_slice(if self.sampled { b"-01" } else { b"-00" });
        out
    }

    /// The same correlation with the sampled flag set (see [`Correlation::sampled`]).
    pub fn sampled(mut self) -> Self {
        self.sampled = true;
        self
    }
}

impl Default for Correlation {
    fn default() -> Self {
        Self::for_run(0, "", None)
    }
}

/// The request id carried by a request's headers: `x-harness-request-id`, then the
/// scenario's header (`extra`), then the low 64 bits of a version-00 `traceparent`'s
/// trace id. `None` when none parses.
pub fn request_id(headers: &http::HeaderMap, extra: Option<&HeaderName>) -> Option<u64> {
    let decimal = |v: &HeaderValue| v.to_str().ok()?.trim().parse::<u64>().ok();
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(decimal)
        .or_else(|| extra.and_then(|name| headers.get(name)).and_then(decimal))
        .or_else(|| {
            headers
                .get(TRACEPARENT_HEADER)
                .and_then(|v| id_from_traceparent(v.as_bytes()))
        })
}

/// The request id in a version-00 `traceparent` value: the low 64 bits of its trace id.
pub fn id_from_traceparent(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.len() < TRACEPARENT_LEN
        || &value[..3] != b"00-"
        || value[35] != b'-'
        || value[52] != b'-'
    {
        return None;
    }
    let hex_part = |bytes: &[u8]| -> Option<u64> {
        u64::from_str_radix(std::str::from_utf8(bytes).ok()?, 16).ok()
    };
    // The whole value must be well-formed lowercase hex, as W3C requires.
    let lower_hex = |bytes: &[u8]| bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !(lower_hex(&value[3..35]) && lower_hex(&value[36..52]) && lower_hex(&value[53..55])) {
        return None;
    }
    hex_part(&value[19..35])
}

/// Lowercase hex of `value` into exactly 16 bytes.
fn hex(value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, slot) in out.iter_mut().enumerate().take(16) {
        let shift = 60 - 4 * i;
        *slot = DIGITS[((value >> shift) & 0xf) as usize];
    }
}

/// SplitMix64's finaliser: spreads neighbouring inputs over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_w3c_and_carries_the_request_id() {
        let c = Correlation::for_run(42, "dagger", None);
        let value = c.traceparent(1234);
        let text = std::str::from_utf8(&value).expect("ascii");
        assert_eq!(text.len(), 55);
        assert!(text.starts_with("00-") && text.ends_with("-00"), "{text}");
        assert!(text[3..19] != *"0000000000000000");
        assert_eq!(&text[19..35], "00000000000004d2");
        assert_ne!(&text[36..52], "0000000000000000");
        assert_eq!(id_from_traceparent(&value), Some(1234));
        // Another run: another trace id for the same request id.
        let other = Correlation::for_run(43, "dagger", None).traceparent(1234);
        assert_ne!(&value[3..19], &other[3..19]);
        let other_path = Correlation::for_run(42, "legacy", None).traceparent(1234);
        assert_ne!(&value[3..19], &other_path[3..19]);
        // Sampled (for Dagger engines): the same ids, the flag set, still joinable.
        let sampled = c.clone().sampled().traceparent(1234);
        assert_eq!(&sampled[..52], &value[..52]);
        assert_eq!(&sampled[52..], b"-01");
        assert_eq!(id_from_traceparent(&sampled), Some(1234));
    }

    #[test]
    fn a_propagated_traceparent_with_a_new_span_still_joins() {
        // A service continuing the trace keeps the trace id and makes its own span id,
        // and may set the sampled flag.
        let value = Correlation::for_run(7, "dagger", None).traceparent(99);
        let mut forwarded = value;
        forwarded[36..52].copy_from_slice(b"00f067aa0ba902b7");
        forwarded[53..55].copy_from_slice(b"01");
        assert_eq!(id_from_traceparent(&forwarded), Some(99));
    }

    #[test]
    fn malformed_traceparents_carry_nothing() {
        for bad in [
            &b""[..],
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(id_from_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn headers_are_read_in_order() {
        let mut headers = http::HeaderMap::new();
        let extra = HeaderName::from_static("x-correlation-id");
        assert_eq!(request_id(&headers, Some(&extra)), None);
        let trace = Correlation::for_run(1, "dagger", None).traceparent(3);
        headers.insert(
            TRACEPARENT_HEADER,
            HeaderValue::from_bytes(&trace).expect("valid"),
        );
        assert_eq!(request_id(&headers, Some(&extra)), Some(3));
        headers.insert(extra.clone(), HeaderValue::from_static("2"));
        assert_eq!(request_id(&headers, Some(&extra)), Some(2));
        assert_eq!(request_id(&headers, None), Some(3));
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static(" 1 "));
        assert_eq!(request_id(&headers, Some(&extra)), Some(1));
    }
}
