//! Two answers compared as structured data: status, selected headers, and the body —
//! JSON field by field by pointer, anything else byte for byte. Pure.
//!
//! A difference names its *field*: the JSON pointer with array positions written `*`
//! (`/items/*/id`), so that the same field differing at any position is one field, and
//! its concrete pointer (`/items/3/id`) for examples. Fields covered by an `ignore` glob
//! are not compared; arrays matched by an `unordered` glob are compared as multisets.
//! When the statuses differ only the status is reported (the bodies of a 200 and a 503
//! say nothing about each other's fields).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scenario::{ParitySpec, PointerGlob};

/// What a path answered, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status or exit code.
    pub status: Option<u16>,
    /// The compared headers (lower-case names), in the spec's order.
    pub headers: Vec<(String, String)>,
    /// The body (stdout, a Dagger leaf).
    pub body: Vec<u8>,
}

/// How a field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// The other answer lacks the field.
    Missing,
    /// The other answer has a field the first lacks.
    Added,
    /// Both have it, with different values (or types).
    Changed,
}

impl DiffKind {
    /// `missing`, `added`, `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Missing => "missing",
            DiffKind::Added => "added",
            DiffKind::Changed => "changed",
        }
    }
}

/// One difference between a first answer (the base) and another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The field: a JSON pointer with array positions as `*`, or `(status)`,
    /// `(header NAME)`, `(body)`.
    pub field: String,
    /// The concrete pointer (positions kept), or the field for non-JSON parts.
    pub at: String,
    /// How it differs.
    pub kind: DiffKind,
    /// The first answer's value, as short text (none when missing there).
    pub first: Option<String>,
    /// The other answer's value.
    pub other: Option<String>,
}

/// Longest value text kept for an example.
pub const MAX_VALUE_CHARS: usize = 200;
/// Distinct (field, kind) differences listed per pair at most. The same field at many
/// positions is one difference (its first position is the example), so a long array of
/// random ids cannot crowd out another field; past the cap a [`MORE_FIELDS`]
/// difference says the answer differs in more fields than listed, so the sample can
/// never pass as equal.
pub const MAX_DIFFERENCES: usize = 256;
/// The field of the difference that stands for everything past [`MAX_DIFFERENCES`].
pub const MORE_FIELDS: &str = "(more fields)";

/// The differences between `first` and `other` under `spec`.
pub fn differences(first: &Answer, other: &Answer, spec: &ParitySpec) -> Vec<Difference> {
    let mut out = Vec::new();
    if first.status != other.status {
        out.push(Difference {
            field: "(status)".into(),
            at: "(status)".into(),
            kind: DiffKind::Changed,
            first: first.status.map(|s| s.to_string()),
            other: other.status.map(|s| s.to_string()),
        });
        return out;
    }
    for name in &spec.headers {
        let get = |a: &Answer| {
            a.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let (f, o) = (get(first), get(other));
        if f != o {
            let field = format!("(header {name})");
            out.push(Difference {
                at: field.clone(),
                field,
                kind: kind_of(f.is_some(), o.is_some()),
                first: f,
                other: o,
            });
        }
    }
    let parsed = |body: &[u8]| serde_json::from_slice::<Value>(body).ok();
    match (parsed(&first.body), parsed(&other.body)) {
        (Some(f), Some(o)) => {
            let mut walk = Walk {
                spec,
                out: &mut out,
                segments: Vec::new(),
                generic: Vec::new(),
                seen: std::collections::HashSet::new(),
                overflow: false,
            };
            walk.value(&f, &o);
            if walk.overflow {
                out.push(Difference {
                    field: MORE_FIELDS.into(),
                    at: MORE_FIELDS.into(),
                    kind: DiffKind::Changed,
                    first: None,
                    other: None,
                });
            }
        }
        _ if first.body != other.body => out.push(Difference {
            field: "(body)".into(),
            at: "(body)".into(),
            kind: DiffKind::Changed,
            first: Some(body_text(&first.body)),
            other: Some(body_text(&other.body)),
        }),
        _ => {}
    }
    out
}

fn kind_of(first: bool, other: bool) -> DiffKind {
    match (first, other) {
        (true, false) => DiffKind::Missing,
        (false, true) => DiffKind::Added,
        _ => DiffKind::Changed,
    }
}

/// A non-JSON body for an example: its text, cut, or its digest when it is not text.
fn body_text(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => short(text),
        Err(_) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(body);
            let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!("{} bytes, sha256:{hex}…", body.len())
        }
    }
}

/// `text` cut to [`MAX_VALUE_CHARS`] characters.
pub fn short(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn value_text(v: &Value) -> String {
    short(&v.to_string())
}

struct Walk<'a> {
    spec: &'a ParitySpec,
    out: &'a mut Vec<Difference>,
    /// The concrete pointer's segments.
    segments: Vec<String>,
    /// The same with array positions as `*`.
    generic: Vec<String>,
    /// The (field, kind) pairs listed so far.
    seen: std::collections::HashSet<(String, DiffKind)>,
    /// More than [`MAX_DIFFERENCES`] distinct differences: the walk stopped.
    overflow: bool,
}

impl Walk<'_> {
    fn ignored(&self) -> bool {
        self.spec.ignore.iter().any(|g| g.covers(&self.segments))
    }

    fn matches(&self, globs: &[PointerGlob]) -> bool {
        globs.iter().any(|g| g.matches(&self.segments))
    }

    fn push(&mut self, kind: DiffKind, first: Option<&Value>, other: Option<&Value>) {
        let field = pointer(&self.generic);
        if self.seen.contains(&(field.clone(), kind)) {
            return;
        }
        if self.seen.len() >= MAX_DIFFERENCES {
            self.overflow = true;
            return;
        }
        self.seen.insert((field.clone(), kind));
        self.out.push(Difference {
            field,
            at: pointer(&self.segments),
            kind,
            first: first.map(value_text),
            other: other.map(value_text),
        });
    }

    fn enter(&mut self, concrete: String, generic: String) {
        self.segments.push(concrete);
        self.generic.push(generic);
    }

    fn leave(&mut self) {
        self.segments.pop();
        self.generic.pop();
    }

    fn value(&mut self, f: &Value, o: &Value) {
        if self.overflow || self.ignored() {
            return;
        }
        match (f, o) {
            (Value::Object(fm), Value::Object(om)) => {
                for (key, fv) in fm {
                    self.enter(key.clone(), key.clone());
                    match om.get(key) {
                        Some(ov) => self.value(fv, ov),
                        None if !self.ignored() => self.push(DiffKind::Missing, Some(fv), None),
                        None => {}
                    }
                    self.leave();
                }
                for (key, ov) in om.iter().filter(|(k, _)| !fm.contains_key(*k)) {
                    self.enter(key.clone(), key.clone());
                    if !self.ignored() {
                        self.push(DiffKind::Added, None, Some(ov));
                    }
                    self.leave();
                }
            }
            (Value::Array(fa), Value::Array(oa)) if self.matches(&self.spec.unordered) => {
                let same = same_multiset(fa, oa, self);
                if !same {
                    self.push(DiffKind::Changed, Some(f), Some(o));
                }
            }
            (Value::Array(fa), Value::Array(oa)) => {
                for i in 0..fa.len().max(oa.len()) {
                    self.enter(i.to_string(), "*".into());
                    match (fa.get(i), oa.get(i)) {
                        (Some(fv), Some(ov)) => self.value(fv, ov),
                        (Some(fv), None) if !self.ignored() => {
                            self.push(DiffKind::Missing, Some(fv), None)
                        }
                        (None, Some(ov)) if !self.ignored() => {
                            self.push(DiffKind::Added, None, Some(ov))
                        }
                        _ => {}
                    }
                    self.leave();
                }
            }
            _ if f != o => self.push(DiffKind::Changed, Some(f), Some(o)),
            _ => {}
        }
    }
}

/// Whether two arrays hold the same elements as multisets; elements are compared with
/// ignored fields left out (an `/items/*/id` ignore applies inside an unordered array).
fn same_multiset(fa: &[Value], oa: &[Value], walk: &Walk<'_>) -> bool {
    if fa.len() != oa.len() {
        return false;
    }
    let canonical = |items: &[Value]| -> Vec<String> {
        let mut keys: Vec<String> = items
            .iter()
            .map(|v| {
                let mut segments = walk.segments.clone();
                segments.push("*".into());
                canonical_text(v, &mut segments, &walk.spec.ignore)
            })
            .collect();
        keys.sort();
        keys
    };
    canonical(fa) == canonical(oa)
}

/// `v` as text with sorted keys and ignored fields (by glob, positions as `*`) left out.
fn canonical_text(v: &Value, at: &mut Vec<String>, ignore: &[PointerGlob]) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut parts = Vec::new();
            for k in keys {
                at.push(k.clone());
                if !ignore.iter().any(|g| g.covers(at)) {
                    parts.push(format!(
                        "{}:{}",
                        Value::String(k.clone()),
                        canonical_text(&map[k], at, ignore)
                    ));
                }
                at.pop();
            }
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            at.push("*".into());
            let parts: Vec<String> = items
                .iter()
                .map(|i| canonical_text(i, at, ignore))
                .collect();
            at.pop();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// A JSON pointer of `segments` (RFC 6901 escapes).
pub fn pointer(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> Answer {
        Answer {
            status: Some(200),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn spec(ignore: &[&str], unordered: &[&str]) -> ParitySpec {
        let globs = |l: &[&str]| {
            l.iter()
                .map(|p| PointerGlob::parse(p).expect("glob"))
                .collect()
        };
        ParitySpec {
            ignore: globs(ignore),
            unordered: globs(unordered),
            ..ParitySpec::default()
        }
    }

    fn fields(d: &[Difference]) -> Vec<(String, DiffKind)> {
        d.iter().map(|d| (d.field.clone(), d.kind)).collect()
    }

    #[test]
    fn fields_differ_by_pointer_with_positions_generalised() {
        let a = json(r#"{"id":"a1","items":[{"id":1,"n":"x"},{"id":2,"n":"y"}],"gone":true}"#);
        let b = json(r#"{"id":"b2","items":[{"id":1,"n":"x"},{"id":9,"n":"y"}],"new":0}"#);
        let d = differences(&a, &b, &spec(&[], &[]));
        assert_eq!(
            fields(&d),
            [
                ("/gone".to_string(), DiffKind::Missing),
                ("/id".to_string(), DiffKind::Changed),
                ("/items/*/id".to_string(), DiffKind::Changed),
                ("/new".to_string(), DiffKind::Added),
            ]
        );
        let item = &d[2];
        assert_eq!(item.at, "/items/1/id");
        assert_eq!(
            (item.first.as_deref(), item.other.as_deref()),
            (Some("2"), Some("9"))
        );
    }

    #[test]
    fn ignored_fields_and_what_lies_below_them_are_not_compared() {
        let a = json(r#"{"created_at":"t1","items":[{"id":1,"n":"x"}],"meta":{"a":1}}"#);
        let b = json(r#"{"created_at":"t2","items":[{"id":7,"n":"x"}]}"#);
        let d = differences(&a, &b, &spec(&["/created_at", "/items/*/id", "/meta"], &[]));
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn unordered_arrays_are_multisets_with_ignores_inside() {
        let s = spec(&["/steps/*/at"], &["/steps"]);
        let a = json(r#"{"steps":[{"n":"build","at":1},{"n":"test","at":2},{"n":"test","at":3}]}"#);
        let reordered =
            json(r#"{"steps":[{"n":"test","at":9},{"n":"build","at":8},{"n":"test","at":7}]}"#);
        assert!(differences(&a, &reordered, &s).is_empty());
        // A multiset counts: one `test` instead of two is a difference.
        let fewer =
            json(r#"{"steps":[{"n":"test","at":9},{"n":"build","at":8},{"n":"lint","at":7}]}"#);
        assert_eq!(
            fields(&differences(&a, &fewer, &s)),
            [("/steps".to_string(), DiffKind::Changed)]
        );
        // Without `unordered`, order matters.
        let ordered = spec(&["/steps/*/at"], &[]);
        assert!(!differences(&a, &reordered, &ordered).is_empty());
    }

    #[test]
    fn statuses_headers_and_non_json_bodies() {
        let mut s = spec(&[], &[]);
        s.headers = vec!["content-type".into()];
        let a = Answer {
            status: Some(200),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"plain text".to_vec(),
        };
        let mut b = a.clone();
        b.headers[0].1 = "text/plain".into();
        b.body = b"other text".to_vec();
        assert_eq!(
            fields(&differences(&a, &b, &s)),
            [
                ("(header content-type)".to_string(), DiffKind::Changed),
                ("(body)".to_string(), DiffKind::Changed)
            ]
        );
        let binary = Answer {
            body: vec![0xff, 0xfe, 0x00],
            ..a.clone()
        };
        let d = differences(&a, &binary, &spec(&[], &[]));
        assert!(
            d[0].other.as_deref().is_some_and(|t| t.contains("sha256:")),
            "{d:?}"
        );
        // Different statuses: only the status.
        let failed = Answer {
            status: Some(503),
            ..b.clone()
        };
        assert_eq!(
            fields(&differences(&a, &failed, &s)),
            [("(status)".to_string(), DiffKind::Changed)]
        );
    }

    #[test]
    fn a_wholly_different_answer_is_bounded() {
        let many: String = (0..500)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let a = json(&format!("{{{many}}}"));
        let d = differences(&a, &json("{}"), &spec(&[], &[]));
        assert_eq!(d.len(), MAX_DIFFERENCES + 1);
        assert_eq!(d.last().map(|d| d.field.as_str()), Some(MORE_FIELDS));
    }

    #[test]
    fn a_long_array_of_random_ids_cannot_crowd_out_a_dropped_field() {
        let items = |seed: u32| -> String {
            (0..1_000)
                .map(|i| format!("{{\"id\":\"{seed}-{i}\"}}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let a = json(&format!(r#"{{"items":[{}],"zz":1}}"#, items(1)));
        let b = json(&format!(r#"{{"items":[{}]}}"#, items(2)));
        let d = differences(&a, &b, &spec(&[], &[]));
        assert_eq!(
            fields(&d),
            [
                ("/items/*/id".to_string(), DiffKind::Changed),
                ("/zz".to_string(), DiffKind::Missing)
            ]
        );
    }
}
