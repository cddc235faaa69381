//! Serde codec for `Histogram<u64>`: base64 (standard alphabet, padded) of the
//! HdrHistogram V2 + DEFLATE encoding, the form other HdrHistogram tools read.
//!
//! Use it as `#[serde(with = "crate::record::codec")]`. Decoding checks the bytes before
//! the hdrhistogram crate sees them: corrupt input (bad base64, wrong cookie, truncated or
//! oversized payloads, malformed counts) is a clean error, never a panic or a huge
//! allocation.

use std::borrow::Cow;
use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::read::ZlibDecoder;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    Deserializer as HdrDeserializer, Serializer as _, V2DeflateSerializer,
};
use serde::{Deserialize, Deserializer, Serializer, de};

/// Cookie of the plain V2 encoding.
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
/// Cookie of the V2 + DEFLATE encoding.
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9304 | 0x10;
/// Length of the V2 header before the counts.
const V2_HEADER_LEN: usize = 40;
/// Largest decoded V2 encoding accepted (a full 1 µs..1 h, 3-digit histogram is ~200 KiB).
const MAX_DECODED_LEN: usize = 16 << 20;

/// Start of every decoding error message, so a reader can tell them from layout errors.
pub(crate) const CORRUPT_PREFIX: &str = "corrupt histogram";

/// Why a histogram could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The text is not base64 (standard alphabet).
    #[error("corrupt histogram: not base64 ({0})")]
    Base64(#[from] base64::DecodeError),
    /// The bytes are not a V2 or V2 + DEFLATE HdrHistogram encoding.
    #[error("corrupt histogram: {0}")]
    Malformed(String),
    /// The hdrhistogram crate refused the encoding.
    #[error("corrupt histogram: {0}")]
    Refused(#[from] hdrhistogram::serialization::DeserializeError),
    /// Encoding failed (does not happen for in-memory buffers; kept for completeness).
    #[error("cannot encode histogram: {0}")]
    Encode(String),
}

fn malformed(what: impl Into<String>) -> CodecError {
    CodecError::Malformed(what.into())
}

/// Encodes `h` as base64 of its V2 + DEFLATE encoding.
pub fn encode(h: &Histogram<u64>) -> Result<String, CodecError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(STANDARD.encode(bytes))
}

/// Decodes base64 of a V2 + DEFLATE (or plain V2) encoding.
pub fn decode(text: &str) -> Result<Histogram<u64>, CodecError> {
    if text.len() > MAX_DECODED_LEN * 4 / 3 + 4 {
        return Err(malformed(format!(
            "{} characters of base64 is beyond any valid histogram",
            text.len()
        )));
    }
    let bytes = STANDARD.decode(text.trim())?;
    let v2: Cow<'_, [u8]> = match read_u32(&bytes, 0) {
        Some(V2_DEFLATE_COOKIE) => Cow::Owned(inflate(&bytes)?),
        Some(V2_COOKIE) => Cow::Borrowed(&bytes),
        Some(other) => return Err(malformed(format!("unknown cookie {other:#010x}"))),
        None => return Err(malformed("fewer than 4 bytes")),
    };
    check_v2(&v2)?;
    Ok(HdrDeserializer::new().deserialize(&mut &v2[..])?)
}

/// Inflates the DEFLATE payload of a V2 + DEFLATE encoding, with a size cap.
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
    let declared = read_u32(bytes, 4).ok_or_else(|| malformed("truncated header"))? as usize;
    let payload = bytes
        .get(8..)
        .ok_or_else(|| malformed("truncated header"))?;
    if payload.len() != declared {
        return Err(malformed(format!(
            "payload is {} bytes, header says {declared}",
            payload.len()
        )));
    }
    let mut out = Vec::new();
    // The cap stops a small input from inflating into gigabytes.
    ZlibDecoder::new(payload)
        .take(MAX_DECODED_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| malformed(format!("bad DEFLATE data ({e})")))?;
    if out.len() > MAX_DECODED_LEN {
        return Err(malformed("inflates beyond any valid histogram"));
    }
    Ok(out)
}

/// Checks a plain V2 encoding for what would make the hdrhistogram crate allocate wildly
/// (a lying length) or panic (a count that decodes to `i64::MIN`).
fn check_v2(v2: &[u8]) -> Result<(), CodecError> {
    if read_u32(v2, 0) != Some(V2_COOKIE) {
        return Err(malformed("the inflated data is not a V2 encoding"));
    }
    let declared = read_u32(v2, 4).ok_or_else(|| malformed("truncated header"))? as usize;
    let counts = v2
        .get(V2_HEADER_LEN..)
        .ok_or_else(|| malformed("truncated header"))?;
    if counts.len() != declared {
        return Err(malformed(format!(
            "counts are {} bytes, header says {declared}",
            counts.len()
        )));
    }
    let mut rest = counts;
    while !rest.is_empty() {
        let (value, used) = read_varint(rest).ok_or_else(|| malformed("truncated count"))?;
        // Zig-zag of u64::MAX is i64::MIN, whose negation overflows inside the decoder.
        if value == u64::MAX {
            return Err(malformed("count out of range"));
        }
        rest = &rest[used..];
    }
    Ok(())
}

/// A big-endian u32 at `at`.
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let chunk = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(chunk.try_into().ok()?))
}

/// One HdrHistogram varint (LEB128 of up to 9 bytes, the 9th contributing all 8 bits).
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Some((value | (u64::from(b) << 56), 9));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Serialises a histogram as a base64 string (for `#[serde(with = ...)]`).
pub fn serialize<S: Serializer>(h: &Histogram<u64>, serializer: S) -> Result<S::Ok, S::Error> {
    let text = encode(h).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

/// Deserialises a histogram from a base64 string (for `#[serde(with = ...)]`).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Histogram<u64>, D::Error> {
    let text = Cow::<'de, str>::deserialize(deserializer)?;
    decode(&text).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::histogram::latency_histogram;

    fn sample() -> Histogram<u64> {
        let mut h = latency_histogram();
        for v in [1, 2, 3, 250, 1_000, 5_000, 5_000, 70_000, 3_600_000_000] {
            h.saturating_record(v);
        }
        h
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let h = sample();
        let back = decode(&encode(&h).expect("encodes")).expect("decodes");
        assert_eq!(back, h);
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        let empty = latency_histogram();
        assert_eq!(
            decode(&encode(&empty).expect("encodes")).expect("decodes"),
            empty
        );
    }

    #[test]
    fn corrupt_base64_is_an_error() {
        let err = decode("not base64 at all!").expect_err("must fail");
        assert!(err.to_string().starts_with(CORRUPT_PREFIX), "{err}");
        assert!(decode("").is_err());
        assert!(decode("AAAA").is_err());
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let good = STANDARD
            .decode(encode(&sample()).expect("encodes"))
            .expect("base64");
        // Every truncation and every single-byte flip must fail cleanly or decode.
        for len in 0..good.len() {
            let _ = decode(&STANDARD.encode(&good[..len]));
        }
        for i in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                let _ = decode(&STANDARD.encode(&bad));
            }
        }
    }

    #[test]
    fn a_count_of_i64_min_is_refused() {
        // Plain V2: cookie, payload length 9, offset 0, 3 digits, low 1, high 2^20, ratio 1.0,
        // then one 9-byte varint of all ones (zig-zag i64::MIN).
        let mut v2 = Vec::new();
        v2.extend_from_slice(&V2_COOKIE.to_be_bytes());
        v2.extend_from_slice(&9u32.to_be_bytes());
        v2.extend_from_slice(&0u32.to_be_bytes());
        v2.extend_from_slice(&3u32.to_be_bytes());
        v2.extend_from_slice(&1u64.to_be_bytes());
        v2.extend_from_slice(&(1u64 << 20).to_be_bytes());
        v2.extend_from_slice(&1.0f64.to_be_bytes());
        v2.extend_from_slice(&[0xff; 9]);
        let err = decode(&STANDARD.encode(&v2)).expect_err("must fail");
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn a_lying_length_is_refused() {
        let mut good = STANDARD
            .decode(encode(&sample()).expect("encodes"))
            .expect("base64");
        good[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&STANDARD.encode(&good)).is_err());
    }
}
