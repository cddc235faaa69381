//! The content hash of a baseline: hex SHA-256 of the canonical JSON of every field except
//! `content_hash` itself.
//!
//! Canonical JSON here is compact (no whitespace), with object keys sorted by their bytes at
//! every level, strings escaped and numbers written as serde_json writes them. The hash is
//! taken over the JSON *value*, not the file's bytes, so re-indenting a file does not break
//! it while changing any value, key or array element does. With `float_roundtrip` on, a
//! float read back from a file is bit-identical to the one written, so save -> load gives
//! the same hash.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The field that holds the hash and is left out of it.
pub(crate) const HASH_FIELD: &str = "content_hash";

/// Hex SHA-256 of the canonical JSON of `value` without its top-level `content_hash`.
pub(crate) fn content_hash(value: &Value) -> String {
    let mut text = Vec::new();
    match value {
        Value::Object(map) => {
            text.push(b'{');
            let mut keys: Vec<&String> = map.keys().filter(|k| *k != HASH_FIELD).collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    text.push(b',');
                }
                write_string(key, &mut text);
                text.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, &mut text);
                }
            }
            text.push(b'}');
        }
        other => write_canonical(other, &mut text),
    }
    Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Appends the canonical form of `value` to `out`.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            // Sorted here rather than trusting the map: serde_json's `preserve_order`
            // feature (which any dependency may switch on) would keep file order instead.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (i, (key, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
    }
}

/// Appends `s` as a JSON string literal.
fn write_string(s: &str, out: &mut Vec<u8>) {
    // Serialising a &str into a Vec cannot fail; the fallback keeps this total anyway.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b": [1, 2.5, {"y": 1, "x": null}], "a": "s"}"#)
            .expect("json");
        let b: Value =
            serde_json::from_str(r#"{"a":"s","b":[1,2.5,{"x":null,"y":1}]}"#).expect("json");
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_eq!(content_hash(&a).len(), 64);
    }

    #[test]
    fn the_hash_field_is_left_out_and_every_value_counts() {
        let base = json!({"a": 1, "b": [true, "x"]});
        let with_hash = json!({"a": 1, "b": [true, "x"], "content_hash": "whatever"});
        assert_eq!(content_hash(&base), content_hash(&with_hash));
        for changed in [
            json!({"a": 2, "b": [true, "x"]}),
            json!({"a": 1, "b": ["x", true]}),
            json!({"a": 1, "b": [true, "x"], "c": null}),
            json!({"a": 1.0, "b": [true, "x"]}),
            // Only the top-level hash field is exempt.
            json!({"a": 1, "b": [true, "x", {"content_hash": 1}]}),
        ] {
            assert_ne!(content_hash(&base), content_hash(&changed), "{changed}");
        }
    }

    #[test]
    fn a_key_cannot_absorb_its_neighbour() {
        // Escaping keeps `"a\",\"b"` from reading like two keys.
        let tricky = json!({"a\",\"b": 1});
        let plain = json!({"a": 1, "b": 1});
        assert_ne!(content_hash(&tricky), content_hash(&plain));
    }
}
