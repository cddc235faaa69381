//! A minimal, panic-free protobuf wire decoder for OTLP trace exports.
//!
//! It reads exactly the fields the receiver needs from an `ExportTraceServiceRequest`
//! (opentelemetry-proto `collector/trace/v1/trace_service.proto`, `trace/v1/trace.proto`,
//! `common/v1/common.proto`) and skips everything else:
//!
//! | message | field | number | wire type |
//! | --- | --- | --- | --- |
//! | `ExportTraceServiceRequest` | `resource_spans` | 1 | length-delimited |
//! | `ResourceSpans` | `scope_spans` | 2 | length-delimited |
//! | `ResourceSpans` | `instrumentation_library_spans` (pre-1.0 senders) | 1000 | length-delimited |
//! | `ScopeSpans` | `spans` | 2 | length-delimited |
//! | `Span` | `trace_id` | 1 | length-delimited (16 bytes) |
//! | `Span` | `name` | 5 | length-delimited |
//! | `Span` | `start_time_unix_nano` / `end_time_unix_nano` | 7 / 8 | fixed64 |
//! | `Span` | `attributes` (`KeyValue`) | 9 | length-delimited |
//! | `Span` | `status` (`Status`) | 15 | length-delimited |
//! | `Status` | `code` | 3 | varint |
//! | `KeyValue` | `key` / `value` (`AnyValue`) | 1 / 2 | length-delimited |
//! | `AnyValue` | `string_value` / `bool_value` / `int_value` / `double_value` | 1 / 2 / 3 / 4 | len / varint / varint / fixed64 |
//!
//! Spans are not collected: each decoded span is handed to a sink and dropped, so memory
//! does not grow with the number of spans in a request, and no length prefix is trusted
//! before it has been checked against the bytes actually present.

use std::borrow::Cow;

/// The attribute Dagger puts on spans that stand for a DAG operation (its digest).
pub const DAG_DIGEST_ATTR: &str = "dagger.io/dag.digest";
/// The attribute Dagger sets (bool `true`) when an operation's result came from cache.
pub const DAG_CACHED_ATTR: &str = "dagger.io/dag.cached";
/// The engine's cache outcome of an operation (engine 1.0 line): `hit`, `executed`,
/// `joined` (waited for the same operation run by another call) or `uncached` (cannot be
/// cached). Where present it decides over [`DAG_CACHED_ATTR`].
pub const CACHE_OUTCOME_ATTR: &str = "dagger.io/cache.outcome";
/// The attribute Dagger sets (bool `true`) on a lazy call whose work has not run yet
/// (`withExec` returns at once; the exec runs when a leaf such as `stdout` is read), so
/// its duration is routing time, not the operation's (engine `core/telemetry.go`).
pub const DAG_PENDING_ATTR: &str = "dagger.io/dag.pending";

/// A value of [`CACHE_OUTCOME_ATTR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Answered from the cache.
    Hit,
    /// Run.
    Executed,
    /// Waited for the same operation run by another call.
    Joined,
    /// Cannot be cached: says nothing about the cache.
    Uncached,
    /// A value this harness does not know.
    Other,
}

impl CacheOutcome {
    fn parse(value: &str) -> Self {
        match value {
            "hit" => CacheOutcome::Hit,
            "executed" => CacheOutcome::Executed,
            "joined" => CacheOutcome::Joined,
            "uncached" => CacheOutcome::Uncached,
            _ => CacheOutcome::Other,
        }
    }
}
/// `Status.code` value `STATUS_CODE_ERROR`.
pub const STATUS_CODE_ERROR: i32 = 2;

/// Why a request body was refused.
///
/// Messages name the problem only, never the offending bytes: attribute values may hold
/// secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated protobuf message")]
    Truncated,
    /// A varint ran over 10 bytes or past 64 bits.
    #[error("malformed varint")]
    BadVarint,
    /// A field number of 0 or above 2^29 - 1.
    #[error("invalid protobuf field number")]
    BadFieldNumber,
    /// A wire type this decoder does not accept (groups, or 6 and 7).
    #[error("unsupported protobuf wire type {0}")]
    BadWireType(u8),
    /// A known field arrived with another wire type than its declaration.
    #[error("protobuf field {0} has an unexpected wire type")]
    WrongWireType(u32),
    /// The OTLP/JSON body is not valid JSON or not of the expected shape.
    #[error("invalid OTLP/JSON at line {line}, column {column}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
}

/// A decoded attribute value (`AnyValue`); arrays, key/value lists and bytes are not
/// needed and come out as [`AnyValue::Other`].
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue<'a> {
    /// No value set.
    Empty,
    /// `string_value` (invalid UTF-8 is replaced, not refused).
    String(Cow<'a, str>),
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// `array_value`, `kvlist_value` or `bytes_value`, skipped.
    Other,
}

/// A decoded span attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue<'a> {
    /// The attribute key.
    pub key: Cow<'a, str>,
    /// The attribute value.
    pub value: AnyValue<'a>,
}

/// What the receiver keeps of one span: its name, times, status and the two Dagger
/// facts read from its attributes. Attribute values themselves are not kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanRecord<'a> {
    /// The span name, untruncated (invalid UTF-8 replaced).
    pub name: Cow<'a, str>,
    /// Start, Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, Unix nanoseconds; 0 while the span is still running (live export).
    pub end_time_unix_nano: u64,
    /// `Status.code`: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// The span carries [`DAG_DIGEST_ATTR`]: it is a DAG operation.
    pub dag_digest: bool,
    /// The span carries [`DAG_CACHED_ATTR`] = `true`.
    pub dag_cached: bool,
    /// The span's [`CACHE_OUTCOME_ATTR`], when it carries one.
    pub cache_outcome: Option<CacheOutcome>,
    /// The span carries [`DAG_PENDING_ATTR`] = `true`: a lazy call that did no work.
    pub pending: bool,
    /// The trace id (big-endian, 0 when absent or not 16 bytes).
    pub trace_id: u128,
}

impl SpanRecord<'_> {
    /// Folds one attribute into the span's Dagger facts.
    pub fn observe(&mut self, attribute: &KeyValue<'_>) {
        match (attribute.key.as_ref(), &attribute.value) {
            (DAG_DIGEST_ATTR, AnyValue::String(digest)) => self.dag_digest = !digest.is_empty(),
            (DAG_CACHED_ATTR, AnyValue::Bool(cached)) => self.dag_cached = *cached,
            (DAG_PENDING_ATTR, AnyValue::Bool(pending)) => self.pending = *pending,
            (CACHE_OUTCOME_ATTR, AnyValue::String(outcome)) => {
                self.cache_outcome = Some(CacheOutcome::parse(outcome));
            }
            _ => {}
        }
    }

    /// Whether the operation was answered from the cache: its cache outcome where it has
    /// one (`hit`), else its `dag.cached` flag.
    pub fn cache_hit(&self) -> bool {
        match self.cache_outcome {
            Some(outcome) => outcome == CacheOutcome::Hit,
            None => self.dag_cached,
        }
    }

    /// Whether the operation says anything about the cache (`uncached` ones do not).
    pub fn cacheable(&self) -> bool {
        self.cache_outcome != Some(CacheOutcome::Uncached)
    }

    /// Whether the span has ended (live exporters also send spans that are still open).
    pub fn is_finished(&self) -> bool {
        self.end_time_unix_nano != 0
    }

    /// Duration in whole microseconds; 0 when the end precedes the start.
    pub fn duration_us(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
            / 1_000
    }

    /// Whether the span ended in error.
    pub fn is_error(&self) -> bool {
        self.status_code == STATUS_CODE_ERROR
    }
}

/// One field value, as the wire type gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// A cursor over one message's bytes.
#[derive(Debug)]
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Splits `n` bytes off the front, refusing lengths past the end.
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self.buf.split_at_checked(n).ok_or(DecodeError::Truncated)?;
        self.buf = tail;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in 0..10u32 {
            let [byte] = self.take(1)? else {
                return Err(DecodeError::Truncated);
            };
            // The tenth byte may only carry the 64th bit.
            if shift == 9 && *byte > 1 {
                return Err(DecodeError::BadVarint);
            }
            value |= u64::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::BadVarint)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| DecodeError::Truncated)
    }

    /// The next field, or `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|n| (1..=0x1fff_ffff).contains(n))
            .ok_or(DecodeError::BadFieldNumber)?;
        let value = match key & 0x7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.fixed::<4>()?;
                Value::Fixed32
            }
            other => return Err(DecodeError::BadWireType(other as u8)),
        };
        Ok(Some((number, value)))
    }
}

fn bytes(number: u32, value: Value<'_>) -> Result<&[u8], DecodeError> {
    match value {
        Value::Bytes(bytes) => Ok(bytes),
        _ => Err(DecodeError::WrongWireType(number)),
    }
}

fn varint(number: u32, value: Value<'_>) -> Result<u64, DecodeError> {
    match value {
        Value::Varint(v) => Ok(v),
        _ => Err(DecodeError::WrongWireType(number)),
    }
}

fn fixed64(number: u32, value: Value<'_>) -> Result<u64, DecodeError> {
    match value {
        Value::Fixed64(v) => Ok(v),
        _ => Err(DecodeError::WrongWireType(number)),
    }
}

/// Decodes an `ExportTraceServiceRequest`, handing every span to `sink` in order.
///
/// On error some spans may already have been handed over; decode once with a no-op sink
/// to validate first when a request must count all or nothing.
pub fn decode_export_request<F>(buf: &[u8], sink: &mut F) -> Result<(), DecodeError>
where
    F: FnMut(&SpanRecord<'_>),
{
    let mut reader = Reader::new(buf);
    while let Some((number, value)) = reader.field()? {
        if number == 1 {
            decode_resource_spans(bytes(number, value)?, sink)?;
        }
    }
    Ok(())
}

fn decode_resource_spans<F>(buf: &[u8], sink: &mut F) -> Result<(), DecodeError>
where
    F: FnMut(&SpanRecord<'_>),
{
    let mut reader = Reader::new(buf);
    while let Some((number, value)) = reader.field()? {
        if number == 2 || number == 1000 {
            decode_scope_spans(bytes(number, value)?, sink)?;
        }
    }
    Ok(())
}

fn decode_scope_spans<F>(buf: &[u8], sink: &mut F) -> Result<(), DecodeError>
where
    F: FnMut(&SpanRecord<'_>),
{
    let mut reader = Reader::new(buf);
    while let Some((number, value)) = reader.field()? {
        if number == 2 {
            sink(&decode_span(bytes(number, value)?)?);
        }
    }
    Ok(())
}

/// Decodes one `Span` message.
pub fn decode_span(buf: &[u8]) -> Result<SpanRecord<'_>, DecodeError> {
    let mut span = SpanRecord::default();
    let mut reader = Reader::new(buf);
    while let Some((number, value)) = reader.field()? {
        match number {
            1 => span.trace_id = trace_id(bytes(number, value)?),
            5 => span.name = String::from_utf8_lossy(bytes(number, value)?),
            7 => span.start_time_unix_nano = fixed64(number, value)?,
            8 => span.end_time_unix_nano = fixed64(number, value)?,
            9 => span.observe(&decode_key_value(bytes(number, value)?)?),
            15 => span.status_code = decode_status_code(bytes(number, value)?)?,
            _ => {}
        }
    }
    Ok(span)
}

/// A 16-byte trace id, big-endian; anything else is no trace id (0).
fn trace_id(bytes: &[u8]) -> u128 {
    <[u8; 16]>::try_from(bytes).map_or(0, u128::from_be_bytes)
}

/// A trace id as OTLP/JSON spells it (32 hex digits); anything else is 0.
pub fn trace_id_hex(text: &str) -> u128 {
    if text.len() != 32 {
        return 0;
    }
    u128::from_str_radix(text, 16).unwrap_or(0)
}

fn decode_status_code(buf: &[u8]) -> Result<i32, DecodeError> {
    let mut code = 0;
    let mut reader = Reader::new(buf);
    while let Some((number, value)) = reader.field()? {
        if number == 3 {
            // An enum is an int32 sent as a sign-extended varint; unknown codes are unset.
            code = i32::try_from(varint(number, value)? as i64).unwrap_or(0);
        }
    }
    Ok(code)
}

/// Decodes one `KeyValue` message.
pub fn decode_key_value(buf: &[u8]) -> Result<KeyValue<'_>, DecodeError> {
    let mut key = Cow::Borrowed("");
    let mut value = AnyValue::Empty;
    let mut reader = Reader::new(buf);
    while let Some((number, field)) = reader.field()? {
        match number {
            1 => key = String::from_utf8_lossy(bytes(number, field)?),
            2 => value = decode_any_value(bytes(number, field)?)?,
            _ => {}
        }
    }
    Ok(KeyValue { key, value })
}

/// Decodes one `AnyValue` message; of a oneof sent twice the last member wins.
pub fn decode_any_value(buf: &[u8]) -> Result<AnyValue<'_>, DecodeError> {
    let mut value = AnyValue::Empty;
    let mut reader = Reader::new(buf);
    while let Some((number, field)) = reader.field()? {
        value = match number {
            1 => AnyValue::String(String::from_utf8_lossy(bytes(number, field)?)),
            2 => AnyValue::Bool(varint(number, field)? != 0),
            3 => AnyValue::Int(varint(number, field)? as i64),
            4 => AnyValue::Double(f64::from_bits(fixed64(number, field)?)),
            5..=7 => {
                bytes(number, field)?;
                AnyValue::Other
            }
            _ => continue,
        };
    }
    Ok(value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A tiny protobuf encoder for tests.
    pub(crate) mod enc {
        pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }

        pub(crate) fn tag(out: &mut Vec<u8>, number: u32, wire: u8) {
            varint(out, (u64::from(number) << 3) | u64::from(wire));
        }

        pub(crate) fn bytes(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
            tag(out, number, 2);
            varint(out, payload.len() as u64);
            out.extend_from_slice(payload);
        }

        pub(crate) fn fixed64(out: &mut Vec<u8>, number: u32, v: u64) {
            tag(out, number, 1);
            out.extend_from_slice(&v.to_le_bytes());
        }

        pub(crate) fn uint(out: &mut Vec<u8>, number: u32, v: u64) {
            tag(out, number, 0);
            varint(out, v);
        }

        pub(crate) fn attr_str(key: &str, value: &str) -> Vec<u8> {
            let mut any = Vec::new();
            bytes(&mut any, 1, value.as_bytes());
            key_value(key, &any)
        }

        pub(crate) fn attr_bool(key: &str, value: bool) -> Vec<u8> {
            let mut any = Vec::new();
            uint(&mut any, 2, u64::from(value));
            key_value(key, &any)
        }

        fn key_value(key: &str, any: &[u8]) -> Vec<u8> {
            let mut kv = Vec::new();
            bytes(&mut kv, 1, key.as_bytes());
            bytes(&mut kv, 2, any);
            kv
        }

        pub(crate) fn span(
            name: &str,
            start: u64,
            end: u64,
            attrs: &[Vec<u8>],
            code: u64,
        ) -> Vec<u8> {
            let mut span = Vec::new();
            bytes(&mut span, 1, &[7; 16]);
            bytes(&mut span, 2, &[9; 8]);
            bytes(&mut span, 5, name.as_bytes());
            uint(&mut span, 6, 1);
            fixed64(&mut span, 7, start);
            fixed64(&mut span, 8, end);
            for attr in attrs {
                bytes(&mut span, 9, attr);
            }
            let mut status = Vec::new();
            bytes(&mut status, 2, b"message");
            uint(&mut status, 3, code);
            bytes(&mut span, 15, &status);
            span
        }

        pub(crate) fn request(spans: &[Vec<u8>]) -> Vec<u8> {
            let mut scope = Vec::new();
            bytes(&mut scope, 1, b"scope");
            for span in spans {
                bytes(&mut scope, 2, span);
            }
            let mut resource = Vec::new();
            bytes(&mut resource, 1, b"resource");
            bytes(&mut resource, 2, &scope);
            bytes(&mut resource, 3, b"schema");
            let mut request = Vec::new();
            bytes(&mut request, 1, &resource);
            request
        }
    }

    #[test]
    fn the_cache_outcome_attribute_is_read() {
        let mut span = SpanRecord::default();
        for (value, expected) in [
            ("hit", CacheOutcome::Hit),
            ("executed", CacheOutcome::Executed),
            ("joined", CacheOutcome::Joined),
            ("uncached", CacheOutcome::Uncached),
            ("later", CacheOutcome::Other),
        ] {
            span.observe(&KeyValue {
                key: Cow::Borrowed(CACHE_OUTCOME_ATTR),
                value: AnyValue::String(Cow::Borrowed(value)),
            });
            assert_eq!(span.cache_outcome, Some(expected), "{value}");
        }
    }

    fn collect(buf: &[u8]) -> Result<Vec<SpanRecord<'static>>, DecodeError> {
        let mut spans = Vec::new();
        decode_export_request(buf, &mut |span: &SpanRecord<'_>| {
            spans.push(SpanRecord {
                name: Cow::Owned(span.name.to_string()),
                start_time_unix_nano: span.start_time_unix_nano,
                end_time_unix_nano: span.end_time_unix_nano,
                status_code: span.status_code,
                dag_digest: span.dag_digest,
                dag_cached: span.dag_cached,
                cache_outcome: span.cache_outcome,
                pending: span.pending,
                trace_id: span.trace_id,
            });
        })?;
        Ok(spans)
    }

    fn sample() -> Vec<u8> {
        enc::request(&[
            enc::span(
                "exec go build",
                1_000_000,
                3_500_000,
                &[
                    enc::attr_str(DAG_DIGEST_ATTR, "sha256:abc"),
                    enc::attr_bool(DAG_CACHED_ATTR, true),
                    enc::attr_str("secret", "hunter2"),
                ],
                1,
            ),
            enc::span("Container.from", 10, 20_010, &[], STATUS_CODE_ERROR as u64),
        ])
    }

    #[test]
    fn decodes_names_times_facts_and_status() -> Result<(), DecodeError> {
        let spans = collect(&sample())?;
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].name, "exec go build");
        assert_eq!(spans[0].duration_us(), 2_500);
        assert!(spans[0].dag_digest && spans[0].dag_cached && !spans[0].is_error());
        assert_eq!(spans[1].name, "Container.from");
        assert_eq!(spans[1].duration_us(), 20);
        assert!(!spans[1].dag_digest && !spans[1].dag_cached && spans[1].is_error());
        Ok(())
    }

    #[test]
    fn decodes_every_any_value_kind() -> Result<(), DecodeError> {
        let mut any = Vec::new();
        enc::uint(&mut any, 3, (-5i64) as u64);
        assert_eq!(decode_any_value(&any)?, AnyValue::Int(-5));
        let mut any = Vec::new();
        enc::fixed64(&mut any, 4, 2.5f64.to_bits());
        assert_eq!(decode_any_value(&any)?, AnyValue::Double(2.5));
        let mut any = Vec::new();
        enc::bytes(&mut any, 5, &[]);
        assert_eq!(decode_any_value(&any)?, AnyValue::Other);
        assert_eq!(decode_any_value(&[])?, AnyValue::Empty);
        let kv = enc::attr_bool("k", false);
        let decoded = decode_key_value(&kv)?;
        assert_eq!(
            (decoded.key.as_ref(), decoded.value),
            ("k", AnyValue::Bool(false))
        );
        Ok(())
    }

    #[test]
    fn cached_must_be_a_true_bool_and_digest_a_string() {
        let mut span = SpanRecord::default();
        span.observe(&KeyValue {
            key: DAG_CACHED_ATTR.into(),
            value: AnyValue::String("true".into()),
        });
        span.observe(&KeyValue {
            key: DAG_DIGEST_ATTR.into(),
            value: AnyValue::Int(1),
        });
        assert!(!span.dag_cached && !span.dag_digest);
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() -> Result<(), DecodeError> {
        let mut buf = Vec::new();
        enc::uint(&mut buf, 99, 12345);
        enc::fixed64(&mut buf, 98, 1);
        enc::tag(&mut buf, 97, 5);
        buf.extend_from_slice(&[0; 4]);
        enc::bytes(&mut buf, 96, b"whatever");
        buf.extend_from_slice(&sample());
        assert_eq!(collect(&buf)?.len(), 2);
        Ok(())
    }

    #[test]
    fn accepts_the_pre_1_0_instrumentation_library_spans_field() -> Result<(), DecodeError> {
        let mut scope = Vec::new();
        enc::bytes(&mut scope, 2, &enc::span("old", 0, 1_000, &[], 0));
        let mut resource = Vec::new();
        enc::bytes(&mut resource, 1000, &scope);
        let mut request = Vec::new();
        enc::bytes(&mut request, 1, &resource);
        assert_eq!(collect(&request)?.len(), 1);
        Ok(())
    }

    #[test]
    fn empty_request_is_valid() {
        assert_eq!(collect(&[]), Ok(Vec::new()));
    }

    #[test]
    fn every_strict_prefix_is_refused() {
        let full = sample();
        for cut in 1..full.len() {
            assert!(
                collect(&full[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
    }

    #[test]
    fn refuses_malformed_input() {
        // A length prefix far past the end must not allocate or read out of bounds.
        let mut huge = Vec::new();
        enc::tag(&mut huge, 1, 2);
        enc::varint(&mut huge, u64::MAX >> 1);
        assert_eq!(collect(&huge), Err(DecodeError::Truncated));
        // Field number 0.
        assert_eq!(collect(&[0x02, 0x00]), Err(DecodeError::BadFieldNumber));
        // Groups and reserved wire types.
        assert_eq!(collect(&[0x0b]), Err(DecodeError::BadWireType(3)));
        assert_eq!(collect(&[0x0e]), Err(DecodeError::BadWireType(6)));
        // Eleven-byte varint and a tenth byte above 1.
        assert_eq!(
            collect(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ]),
            Err(DecodeError::BadVarint)
        );
        assert_eq!(
            collect(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02
            ]),
            Err(DecodeError::BadVarint)
        );
        // resource_spans sent as a varint.
        assert_eq!(collect(&[0x08, 0x01]), Err(DecodeError::WrongWireType(1)));
        // A span whose start time is a varint.
        let mut span = Vec::new();
        enc::uint(&mut span, 7, 5);
        assert_eq!(
            collect(&enc::request(&[span])),
            Err(DecodeError::WrongWireType(7))
        );
    }

    #[test]
    fn largest_varint_decodes() -> Result<(), DecodeError> {
        let mut buf = Vec::new();
        enc::varint(&mut buf, u64::MAX);
        assert_eq!(Reader::new(&buf).varint()?, u64::MAX);
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = collect(&buf);
        }

        #[test]
        fn never_panics_on_mutated_requests(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut buf = sample();
            for (index, byte) in flips {
                let at = index.index(buf.len());
                buf[at] = byte;
            }
            let _ = collect(&buf);
        }
    }
}
