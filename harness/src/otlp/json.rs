//! OTLP/JSON (`application/json`): the proto3 JSON mapping of `ExportTraceServiceRequest`.
//!
//! Field names are lowerCamelCase (the original snake_case names are accepted too), 64-bit
//! integers may be strings or numbers, enums may be numbers or their names, and `null`
//! stands for an absent field. Spans are streamed to the sink one at a time, as in
//! [`super::wire`], so memory does not grow with the number of spans in a body.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::wire::{AnyValue, DecodeError, KeyValue, SpanRecord};

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`, handing every span to `sink`.
///
/// Like [`super::wire::decode_export_request`], spans before an error have been handed
/// over already.
pub fn decode_export_request_json<F>(body: &[u8], sink: &mut F) -> Result<(), DecodeError>
where
    F: FnMut(&SpanRecord<'_>),
{
    let mut de = serde_json::Deserializer::from_slice(body);
    Level {
        kind: Kind::Request,
        sink,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| DecodeError::Json {
        line: e.line(),
        column: e.column(),
    })
}

/// The message levels above the spans.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Request,
    ResourceSpans,
    ScopeSpans,
}

impl Kind {
    /// The child list of interest under `key`, and the kind of its elements.
    fn child(self, key: &str) -> Option<Child> {
        match (self, key) {
            (Kind::Request, "resourceSpans" | "resource_spans") => {
                Some(Child::Messages(Kind::ResourceSpans))
            }
            (
                Kind::ResourceSpans,
                "scopeSpans"
                | "scope_spans"
                | "instrumentationLibrarySpans"
                | "instrumentation_library_spans",
            ) => Some(Child::Messages(Kind::ScopeSpans)),
            (Kind::ScopeSpans, "spans") => Some(Child::Spans),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Child {
    Messages(Kind),
    Spans,
}

/// One message of `kind`, streamed.
struct Level<'s, F> {
    kind: Kind,
    sink: &'s mut F,
}

impl<'de, F: FnMut(&SpanRecord<'_>)> DeserializeSeed<'de> for Level<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(&SpanRecord<'_>)> Visitor<'de> for Level<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an OTLP message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Self { kind, sink } = self;
        while let Some(key) = map.next_key::<String>()? {
            match kind.child(&key) {
                Some(child) => map.next_value_seed(List {
                    child,
                    sink: &mut *sink,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A repeated field (or `null`), streamed element by element.
struct List<'s, F> {
    child: Child,
    sink: &'s mut F,
}

impl<'de, F: FnMut(&SpanRecord<'_>)> DeserializeSeed<'de> for List<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, F: FnMut(&SpanRecord<'_>)> Visitor<'de> for List<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of OTLP messages or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Self { child, sink } = self;
        match child {
            Child::Messages(kind) => {
                while seq
                    .next_element_seed(Level {
                        kind,
                        sink: &mut *sink,
                    })?
                    .is_some()
                {}
            }
            Child::Spans => {
                while let Some(span) = seq.next_element::<JsonSpan>()? {
                    sink(&span.record());
                }
            }
        }
        Ok(())
    }
}

/// A span as OTLP/JSON spells it; unneeded fields are skipped by serde.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JsonSpan {
    #[serde(alias = "trace_id")]
    trace_id: Option<String>,
    name: Option<String>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<JsonU64>,
    #[serde(alias = "end_time_unix_nano")]
    end_time_unix_nano: Option<JsonU64>,
    attributes: Option<Vec<JsonKeyValue>>,
    status: Option<JsonStatus>,
}

impl JsonSpan {
    fn record(&self) -> SpanRecord<'_> {
        let mut span = SpanRecord {
            name: Cow::Borrowed(self.name.as_deref().unwrap_or_default()),
            start_time_unix_nano: self.start_time_unix_nano.map_or(0, |t| t.0),
            end_time_unix_nano: self.end_time_unix_nano.map_or(0, |t| t.0),
            status_code: self.status.as_ref().and_then(|s| s.code).map_or(0, |c| c.0),
            trace_id: self
                .trace_id
                .as_deref()
                .map_or(0, super::wire::trace_id_hex),
            ..SpanRecord::default()
        };
        for attribute in self.attributes.iter().flatten() {
            span.observe(&attribute.key_value());
        }
        span
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonKeyValue {
    key: Option<String>,
    value: Option<JsonAnyValue>,
}

impl JsonKeyValue {
    fn key_value(&self) -> KeyValue<'_> {
        KeyValue {
            key: Cow::Borrowed(self.key.as_deref().unwrap_or_default()),
            value: self
                .value
                .as_ref()
                .map_or(AnyValue::Empty, JsonAnyValue::any_value),
        }
    }
}

/// `AnyValue`; arrays, key/value lists and bytes are only recognised, not kept.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JsonAnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value")]
    int_value: Option<JsonI64>,
    #[serde(alias = "double_value")]
    double_value: Option<JsonF64>,
    #[serde(alias = "array_value")]
    array_value: Option<IgnoredAny>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<IgnoredAny>,
    #[serde(alias = "bytes_value")]
    bytes_value: Option<IgnoredAny>,
}

impl JsonAnyValue {
    fn any_value(&self) -> AnyValue<'_> {
        if let Some(s) = &self.string_value {
            AnyValue::String(Cow::Borrowed(s))
        } else if let Some(b) = self.bool_value {
            AnyValue::Bool(b)
        } else if let Some(i) = self.int_value {
            AnyValue::Int(i.0)
        } else if let Some(d) = self.double_value {
            AnyValue::Double(d.0)
        } else if self.array_value.is_some()
            || self.kvlist_value.is_some()
            || self.bytes_value.is_some()
        {
            AnyValue::Other
        } else {
            AnyValue::Empty
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonStatus {
    code: Option<JsonStatusCode>,
}

/// Implements `Deserialize` for a newtype through a visitor of the same type.
macro_rules! number_newtype {
    ($name:ident($inner:ty), $expecting:literal, $visitor:ident) => {
        #[derive(Debug, Clone, Copy, Default)]
        struct $name($inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any($visitor)
            }
        }

        struct $visitor;

        impl $visitor {
            fn expecting_text(f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
        }
    };
}

number_newtype!(
    JsonU64(u64),
    "an unsigned 64-bit integer or its decimal string",
    U64Visitor
);
number_newtype!(
    JsonI64(i64),
    "a 64-bit integer or its decimal string",
    I64Visitor
);
number_newtype!(
    JsonF64(f64),
    "a number, or NaN / Infinity / -Infinity as a string",
    F64Visitor
);
number_newtype!(
    JsonStatusCode(i32),
    "a status code number or name",
    StatusCodeVisitor
);

/// Out-of-range or unparsable numbers: a fixed message that does not echo the input.
fn bad_number<E: de::Error>() -> E {
    E::custom("invalid number")
}

impl Visitor<'_> for U64Visitor {
    type Value = JsonU64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting_text(f)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonU64, E> {
        Ok(JsonU64(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonU64, E> {
        u64::try_from(v).map(JsonU64).map_err(|_| bad_number())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonU64, E> {
        v.trim().parse().map(JsonU64).map_err(|_| bad_number())
    }
}

impl Visitor<'_> for I64Visitor {
    type Value = JsonI64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting_text(f)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonI64, E> {
        Ok(JsonI64(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonI64, E> {
        i64::try_from(v).map(JsonI64).map_err(|_| bad_number())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonI64, E> {
        v.trim().parse().map(JsonI64).map_err(|_| bad_number())
    }
}

impl Visitor<'_> for F64Visitor {
    type Value = JsonF64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting_text(f)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonF64, E> {
        Ok(JsonF64(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonF64, E> {
        Ok(JsonF64(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonF64, E> {
        Ok(JsonF64(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonF64, E> {
        match v {
            "NaN" => Ok(JsonF64(f64::NAN)),
            "Infinity" => Ok(JsonF64(f64::INFINITY)),
            "-Infinity" => Ok(JsonF64(f64::NEG_INFINITY)),
            _ => v.trim().parse().map(JsonF64).map_err(|_| bad_number()),
        }
    }
}

impl Visitor<'_> for StatusCodeVisitor {
    type Value = JsonStatusCode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Self::expecting_text(f)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonStatusCode, E> {
        Ok(JsonStatusCode(i32::try_from(v).unwrap_or(0)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonStatusCode, E> {
        Ok(JsonStatusCode(i32::try_from(v).unwrap_or(0)))
    }

    /// Enum names; unknown names read as unset, as unknown numbers do.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonStatusCode, E> {
        Ok(JsonStatusCode(match v {
            "STATUS_CODE_OK" => 1,
            "STATUS_CODE_ERROR" => 2,
            _ => 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::wire::{DAG_CACHED_ATTR, DAG_DIGEST_ATTR, DAG_PENDING_ATTR};
    use proptest::prelude::*;

    #[derive(Debug, PartialEq)]
    struct Seen {
        name: String,
        duration_us: u64,
        finished: bool,
        error: bool,
        operation: bool,
        cached: bool,
    }

    fn collect(body: &str) -> Result<Vec<Seen>, DecodeError> {
        let mut seen = Vec::new();
        decode_export_request_json(body.as_bytes(), &mut |span: &SpanRecord<'_>| {
            seen.push(Seen {
                name: span.name.to_string(),
                duration_us: span.duration_us(),
                finished: span.is_finished(),
                error: span.is_error(),
                operation: span.dag_digest,
                cached: span.dag_cached,
            });
        })?;
        Ok(seen)
    }

    #[test]
    fn decodes_the_proto3_json_mapping() -> Result<(), DecodeError> {
        let body = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[]}},"scopeSpans":[{{"scope":{{"name":"dagql"}},"spans":[
                {{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"withExec",
                  "kind":1,"startTimeUnixNano":"1000000","endTimeUnixNano":"4000000",
                  "attributes":[{{"key":"{DAG_DIGEST_ATTR}","value":{{"stringValue":"sha256:1"}}}},
                                {{"key":"{DAG_CACHED_ATTR}","value":{{"boolValue":true}}}},
                                {{"key":"n","value":{{"intValue":"42"}}}},
                                {{"key":"d","value":{{"doubleValue":1.5}}}},
                                {{"key":"a","value":{{"arrayValue":{{"values":[{{"stringValue":"x"}}]}}}}}}],
                  "status":{{"code":"STATUS_CODE_ERROR","message":"boom"}}}},
                {{"name":"open","startTimeUnixNano":5,"endTimeUnixNano":null,"status":{{}}}}
            ]}}]}}]}}"#
        );
        let seen = collect(&body)?;
        assert_eq!(
            seen,
            vec![
                Seen {
                    name: "withExec".into(),
                    duration_us: 3_000,
                    finished: true,
                    error: true,
                    operation: true,
                    cached: true,
                },
                Seen {
                    name: "open".into(),
                    duration_us: 0,
                    finished: false,
                    error: false,
                    operation: false,
                    cached: false,
                },
            ]
        );
        Ok(())
    }

    #[test]
    fn reads_the_trace_id_and_the_pending_flag() -> Result<(), DecodeError> {
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[
                {{"traceId":"8000000000000007000000000000002a","name":"Container.withExec",
                  "startTimeUnixNano":"1","endTimeUnixNano":"2",
                  "attributes":[{{"key":"{DAG_PENDING_ATTR}","value":{{"boolValue":true}}}}]}},
                {{"traceId":"not hex","name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2"}}
            ]}}]}}]}}"#
        );
        let mut seen = Vec::new();
        decode_export_request_json(body.as_bytes(), &mut |span: &SpanRecord<'_>| {
            seen.push((span.trace_id, span.pending));
        })?;
        let run = 0x8000_0000_0000_0007_u128 << 64;
        assert_eq!(seen, [(run | 42, true), (0, false)]);
        Ok(())
    }

    #[test]
    fn accepts_snake_case_names_nulls_and_numeric_status() -> Result<(), DecodeError> {
        let body = r#"{"resource_spans":[{"scope_spans":[{"spans":[
            {"name":"s","start_time_unix_nano":1000,"end_time_unix_nano":3000,"status":{"code":2}}]},
            {"spans":null}]}]}"#;
        let seen = collect(body)?;
        assert_eq!(seen.len(), 1);
        assert!(seen[0].error);
        assert_eq!(seen[0].duration_us, 2);
        assert_eq!(collect(r#"{"resourceSpans":null}"#)?, vec![]);
        assert_eq!(collect("{}")?, vec![]);
        Ok(())
    }

    #[test]
    fn refuses_bad_json_without_echoing_it() {
        for body in [
            "",
            "[]",
            "{",
            r#"{"resourceSpans":{}}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"secret-ish"}]}]}]}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":-1}]}]}]}"#,
            "{} trailing",
        ] {
            let err = collect(body).err();
            assert!(
                matches!(err, Some(DecodeError::Json { .. })),
                "{body:?} gave {err:?}"
            );
            let text = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(!text.contains("secret"), "{text}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() -> Result<(), DecodeError> {
        // Skipped values are walked without recursion; the spans' own structure is
        // shallow and refuses anything else at once.
        let deep = |open: &str, close: &str| open.repeat(100_000) + &close.repeat(100_000);
        let body = format!(r#"{{"x":{}}}"#, deep("[", "]"));
        assert_eq!(collect(&body)?, vec![]);
        let body = format!(r#"{{"resourceSpans":[{}]}}"#, deep("[", "]"));
        assert!(collect(&body).is_err());
        let attrs = format!(
            r#"[{{"key":"k","value":{{"arrayValue":{}}}}}]"#,
            deep("[", "]")
        );
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"name":"n","attributes":{attrs}}}]}}]}}]}}"#
        );
        assert_eq!(collect(&body)?.len(), 1);
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_export_request_json(&buf, &mut |_: &SpanRecord<'_>| {});
        }

        #[test]
        fn never_panics_on_json_like_text(body in r#"[\{\}\[\]":,a-zA-Z0-9 .-]{0,200}"#) {
            let _ = collect(&body);
        }
    }
}
