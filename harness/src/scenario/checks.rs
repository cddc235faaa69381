//! Checks on a step's answer (`check = [...]` in a step) and where extractions read from:
//! the types, their validation from the file, and their evaluation against an answer.
//!
//! A check has one subject and one test:
//! - `{ pointer = "/status", equals = "done" }` — a JSON pointer into the body, tested
//!   with `equals`, `not_equals`, `exists = true|false`, `matches = "regex"` (on the
//!   value as text) or numeric bounds `min` / `max` (inclusive);
//! - `{ header = "content-type", matches = "json" }` — an answer header, tested with
//!   `exists`, `equals`, `not_equals` or `matches`;
//! - `{ body_contains = "ok" }` — the raw body;
//! - `{ schema = "schemas/answer.json" }` — the body against a JSON Schema file (path
//!   relative to the scenario file), compiled once when the scenario is validated.
//!
//! Each check has a name (given with `name = "..."`, or made from its parts, e.g.
//! `/artifacts/0/name exists`) that reports use: "12 of 201 failed `/artifacts/0/name
//! exists`". Evaluation is pure and allocates only when a check fails.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use serde_spanned::Spanned;
use sha2::{Digest, Sha256};

use super::error::Problem;
use super::flows::is_json_pointer;

/// Where an extraction takes its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractSource {
    /// An RFC 6901 JSON pointer into the body (or a command's stdout).
    Pointer(String),
    /// An answer header (HTTP).
    Header(HeaderName),
}

impl fmt::Display for ExtractSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractSource::Pointer(p) => write!(f, "{p}"),
            ExtractSource::Header(h) => write!(f, "header:{h}"),
        }
    }
}

/// One check of a step's answer.
#[derive(Clone)]
pub struct Check {
    /// How reports call it.
    pub name: String,
    /// What it looks at and how it tests it.
    pub kind: CheckKind,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// What a check looks at.
#[derive(Clone)]
pub enum CheckKind {
    /// A value in the JSON body.
    Pointer {
        /// RFC 6901 pointer.
        pointer: String,
        /// The test.
        test: ValueTest,
    },
    /// An answer header.
    Header {
        /// Its name.
        name: HeaderName,
        /// The test (on the value as a JSON string).
        test: ValueTest,
    },
    /// The raw body contains this text.
    BodyContains(String),
    /// The JSON body is valid against this schema.
    Schema {
        /// The file, as written (for the name and reports).
        file: String,
        /// SHA-256 of the file's text: an edited schema changes the scenario hash.
        digest: String,
        /// The compiled schema.
        validator: Arc<jsonschema::Validator>,
    },
}

impl fmt::Debug for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckKind::Pointer { pointer, test } => write!(f, "Pointer({pointer} {test:?})"),
            CheckKind::Header { name, test } => write!(f, "Header({name} {test:?})"),
            CheckKind::BodyContains(text) => write!(f, "BodyContains({text:?})"),
            CheckKind::Schema { file, .. } => write!(f, "Schema({file})"),
        }
    }
}

/// A test of one value (JSON from the body, or a header as a JSON string).
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// Present and equal.
    Equals(Value),
    /// Absent, or present and different.
    NotEquals(Value),
    /// Present (`true`) or absent (`false`).
    Exists(bool),
    /// Present, and its text (a string as is, anything else as JSON) matches.
    Matches(Regex),
    /// Present, a number, within the inclusive bounds.
    Bounds {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
}

/// An answer as checks see it.
#[derive(Debug, Clone, Copy)]
pub struct AnswerView<'a> {
    /// The headers the step asked for.
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// The raw body.
    pub body: &'a [u8],
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<&'a Value>,
}

/// Why a check failed: what was expected and what was there (for the record's notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// What the check wanted.
    pub expected: String,
    /// What the answer had (shortened).
    pub actual: String,
}

/// The longest actual value kept in a failure sample.
const ACTUAL_CHARS: usize = 120;

impl Check {
    /// What the check does, for the scenario hash: its subject and test, not its name.
    pub fn canonical(&self) -> String {
        match &self.kind {
            CheckKind::Pointer { pointer, test } => {
                format!("pointer {pointer} {}", test.describe())
            }
            CheckKind::Header { name, test } => format!("header {name} {}", test.describe()),
            CheckKind::BodyContains(text) => format!("body_contains {text:?}"),
            CheckKind::Schema { digest, .. } => format!("schema sha256:{digest}"),
        }
    }

    /// Whether the check needs the body (every kind but a header check).
    pub fn needs_body(&self) -> bool {
        !matches!(self.kind, CheckKind::Header { .. })
    }

    /// Whether the check needs the body parsed as JSON.
    pub fn needs_json(&self) -> bool {
        matches!(
            self.kind,
            CheckKind::Pointer { .. } | CheckKind::Schema { .. }
        )
    }

    /// The header the check reads, if it reads one.
    pub fn header(&self) -> Option<&HeaderName> {
        match &self.kind {
            CheckKind::Header { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Evaluates the check against `answer`.
    pub fn evaluate(&self, answer: &AnswerView<'_>) -> Result<(), CheckFailure> {
        match &self.kind {
            CheckKind::Pointer { pointer, test } => {
                let Some(json) = answer.json else {
                    return Err(CheckFailure {
                        expected: "a JSON body".into(),
                        actual: short(&String::from_utf8_lossy(answer.body)),
                    });
                };
                test.evaluate(json.pointer(pointer).filter(|v| !v.is_null()).cloned())
            }
            CheckKind::Header { name, test } => {
                let value = answer
                    .headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| Value::String(String::from_utf8_lossy(v.as_bytes()).into()));
                test.evaluate(value)
            }
            CheckKind::BodyContains(text) => {
                let found = contains(answer.body, text.as_bytes());
                if found {
                    Ok(())
                } else {
                    Err(CheckFailure {
                        expected: format!("the body contains {text:?}"),
                        actual: short(&String::from_utf8_lossy(answer.body)),
                    })
                }
            }
            CheckKind::Schema { validator, .. } => {
                let Some(json) = answer.json else {
                    return Err(CheckFailure {
                        expected: "a JSON body".into(),
                        actual: short(&String::from_utf8_lossy(answer.body)),
                    });
                };
                validator.validate(json).map_err(|e| CheckFailure {
                    expected: "valid against the schema".into(),
                    actual: short(&format!("{} at `{}`", e, e.instance_path())),
                })
            }
        }
    }
}

impl ValueTest {
    fn evaluate(&self, value: Option<Value>) -> Result<(), CheckFailure> {
        let shown = |v: &Option<Value>| match v {
            None => "absent".to_string(),
            Some(v) => short(&v.to_string()),
        };
        let passed = match (self, &value) {
            (ValueTest::Exists(want), v) => v.is_some() == *want,
            (ValueTest::Equals(want), Some(v)) => json_equal(v, want),
            (ValueTest::Equals(_), None) => false,
            (ValueTest::NotEquals(want), Some(v)) => !json_equal(v, want),
            (ValueTest::NotEquals(_), None) => true,
            (ValueTest::Matches(re), Some(v)) => re.is_match(&text_of(v)),
            (ValueTest::Matches(_), None) => false,
            (ValueTest::Bounds { min, max }, Some(v)) => v
                .as_f64()
                .is_some_and(|x| min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m)),
            (ValueTest::Bounds { .. }, None) => false,
        };
        if passed {
            Ok(())
        } else {
            Err(CheckFailure {
                expected: self.describe(),
                actual: shown(&value),
            })
        }
    }

    /// `equals "done"`, `exists`, `within [1, 100]`.
    fn describe(&self) -> String {
        match self {
            ValueTest::Equals(v) => format!("equals {v}"),
            ValueTest::NotEquals(v) => format!("not equals {v}"),
            ValueTest::Exists(true) => "exists".into(),
            ValueTest::Exists(false) => "absent".into(),
            ValueTest::Matches(re) => format!("matches /{}/", re.as_str()),
            ValueTest::Bounds { min, max } => match (min, max) {
                (Some(a), Some(b)) => format!("within [{a}, {b}]"),
                (Some(a), None) => format!("≥ {a}"),
                (None, Some(b)) => format!("≤ {b}"),
                (None, None) => "a number".into(),
            },
        }
    }
}

/// Numbers compare by value (1 equals 1.0), everything else structurally.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

/// A string as itself, anything else as JSON text.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short(text: &str) -> String {
    if text.chars().count() <= ACTUAL_CHARS {
        text.to_string()
    } else {
        let cut: String = text.chars().take(ACTUAL_CHARS).collect();
        format!("{cut}…")
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `check = [...]` entries as typed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub name: Option<Spanned<String>>,
    pub pointer: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
    pub body_contains: Option<Spanned<String>>,
    pub schema: Option<Spanned<String>>,
    pub equals: Option<Spanned<toml::Value>>,
    pub not_equals: Option<Spanned<toml::Value>>,
    pub exists: Option<Spanned<bool>>,
    pub matches: Option<Spanned<String>>,
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
}

/// An `extract` value as typed: a JSON pointer, or `{ header = "..." }` /
/// `{ pointer = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawExtract {
    /// A JSON pointer.
    Pointer(String),
    /// A table naming the source.
    Table(RawExtractTable),
}

/// `{ header = "Mcp-Session-Id" }` or `{ pointer = "/id" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExtractTable {
    pub header: Option<String>,
    pub pointer: Option<String>,
}

const CHECK_HELP: &str = "a check is one of { pointer = \"/status\", equals = \"done\" } (or not_equals, exists = true, matches = \"regex\", min/max), { header = \"content-type\", matches = \"json\" }, { body_contains = \"text\" } or { schema = \"schemas/answer.json\" }";

/// Validates one check; `span` is the check's span, `dir` the scenario file's folder.
pub(crate) fn check(raw: &RawCheck, span: Range<usize>, dir: &Path) -> Result<Check, Problem> {
    let subjects = [
        raw.pointer.is_some(),
        raw.header.is_some(),
        raw.body_contains.is_some(),
        raw.schema.is_some(),
    ];
    if subjects.iter().filter(|s| **s).count() != 1 {
        return Err(Problem::new(
            span,
            "a check needs exactly one of `pointer`, `header`, `body_contains`, `schema`",
            CHECK_HELP,
        ));
    }
    let (kind, made_name) = if let Some(pointer) = &raw.pointer {
        if !is_json_pointer(pointer.get_ref()) {
            return Err(Problem::new(
                pointer.span(),
                format!("`{}` is not a JSON pointer", pointer.get_ref()),
                "a JSON pointer (RFC 6901) starts with `/`, e.g. `/status` or `/items/0/id`",
            ));
        }
        let test = value_test(raw, span.clone(), true)?;
        let name = format!("{} {}", pointer.get_ref(), test.describe());
        (
            CheckKind::Pointer {
                pointer: pointer.get_ref().clone(),
                test,
            },
            name,
        )
    } else if let Some(header) = &raw.header {
        let name = HeaderName::from_bytes(header.get_ref().trim().as_bytes()).map_err(|_| {
            Problem::new(
                header.span(),
                format!("`{}` is not a header name", header.get_ref()),
                "write the answer header to check, e.g. \"content-type\"",
            )
        })?;
        let test = value_test(raw, span.clone(), false)?;
        let made = format!("header {name} {}", test.describe());
        (CheckKind::Header { name, test }, made)
    } else if let Some(text) = &raw.body_contains {
        no_test(raw, span.clone(), "body_contains")?;
        (
            CheckKind::BodyContains(text.get_ref().clone()),
            format!("body contains {:?}", text.get_ref()),
        )
    } else if let Some(file) = &raw.schema {
        no_test(raw, span.clone(), "schema")?;
        let (validator, digest) = schema(file, dir)?;
        (
            CheckKind::Schema {
                file: file.get_ref().clone(),
                digest,
                validator: Arc::new(validator),
            },
            format!("schema {}", file.get_ref()),
        )
    } else {
        return Err(Problem::new(span, "a check needs a subject", CHECK_HELP));
    };
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(Problem::new(
                n.span(),
                "a check's name cannot be empty",
                "name it, or drop `name` to use the made-up one",
            ));
        }
        Some(n) => {
            crate::toml_diagnostics::check_name(n.get_ref(), n.span(), "check name")?;
            n.get_ref().clone()
        }
        None => {
            // The made-up name quotes the check's pointer or pattern; it must print too.
            crate::toml_diagnostics::check_name(&made_name, span.clone(), "the check's name")
                .map_err(|p| {
                    Problem::new(
                        p.span,
                        p.message,
                        format!("{}; or give the check a printable `name = \"...\"`", p.help),
                    )
                })?;
            made_name
        }
    };
    Ok(Check { name, kind })
}

/// The one test of a pointer (`numbers`) or header check.
fn value_test(raw: &RawCheck, span: Range<usize>, numbers: bool) -> Result<ValueTest, Problem> {
    let bounds = raw.min.is_some() || raw.max.is_some();
    let tests = [
        raw.equals.is_some(),
        raw.not_equals.is_some(),
        raw.exists.is_some(),
        raw.matches.is_some(),
        bounds,
    ];
    if tests.iter().filter(|t| **t).count() != 1 {
        return Err(Problem::new(
            span,
            "a pointer or header check needs exactly one test: `equals`, `not_equals`, `exists`, `matches`, or `min`/`max`",
            "write one check per test, e.g. check = [{ pointer = \"/status\", equals = \"done\" }, { pointer = \"/id\", exists = true }]",
        ));
    }
    let json = |v: &Spanned<toml::Value>| -> Result<Value, Problem> {
        serde_json::to_value(v.get_ref()).map_err(|e| {
            Problem::new(
                v.span(),
                format!("this value cannot be compared with JSON: {e}"),
                "use a string, number, boolean, array or table",
            )
        })
    };
    if let Some(v) = &raw.equals {
        return Ok(ValueTest::Equals(json(v)?));
    }
    if let Some(v) = &raw.not_equals {
        return Ok(ValueTest::NotEquals(json(v)?));
    }
    if let Some(v) = &raw.exists {
        return Ok(ValueTest::Exists(*v.get_ref()));
    }
    if let Some(re) = &raw.matches {
        return Regex::new(re.get_ref())
            .map(ValueTest::Matches)
            .map_err(|e| {
                Problem::new(
                    re.span(),
                    format!("`{}` is not a regular expression: {e}", re.get_ref()),
                    "write a Rust regex (https://docs.rs/regex), e.g. \"^[0-9a-f-]{36}$\"",
                )
            });
    }
    if !numbers {
        return Err(Problem::new(
            span,
            "a header check cannot use `min` or `max`",
            "use `matches` on the header's text, e.g. matches = \"^[0-9]+$\"",
        ));
    }
    let min = raw.min.as_ref().map(|m| *m.get_ref());
    let max = raw.max.as_ref().map(|m| *m.get_ref());
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        return Err(Problem::new(
            span,
            format!("min ({a}) is above max ({b})"),
            "swap them",
        ));
    }
    Ok(ValueTest::Bounds { min, max })
}

/// A `body_contains` or `schema` check takes no test key.
fn no_test(raw: &RawCheck, span: Range<usize>, subject: &str) -> Result<(), Problem> {
    let any = raw.equals.is_some()
        || raw.not_equals.is_some()
        || raw.exists.is_some()
        || raw.matches.is_some()
        || raw.min.is_some()
        || raw.max.is_some();
    if any {
        return Err(Problem::new(
            span,
            format!("a `{subject}` check takes no test key"),
            CHECK_HELP,
        ));
    }
    Ok(())
}

/// Reads and compiles a JSON Schema file (relative to the scenario's folder); also the
/// SHA-256 of its text.
fn schema(file: &Spanned<String>, dir: &Path) -> Result<(jsonschema::Validator, String), Problem> {
    let path = dir.join(file.get_ref());
    let text = crate::input::read_text(&path, crate::input::SCHEMA).map_err(|e| {
        Problem::new(
            file.span(),
            format!(
                "cannot read the schema {}: {}",
                path.display(),
                crate::toml_diagnostics::io_reason(&e)
            ),
            "the path is relative to the scenario file's folder; check it",
        )
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Problem::new(
            file.span(),
            format!("the schema {} is not JSON: {e}", path.display()),
            "fix the schema file",
        )
    })?;
    let validator = jsonschema::validator_for(&value).map_err(|e| {
        Problem::new(
            file.span(),
            format!(
                "the schema {} is not a valid JSON Schema: {e}",
                path.display()
            ),
            "fix the schema file (https://json-schema.org)",
        )
    })?;
    let digest = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((validator, digest))
}

/// Validates an extraction's source.
pub(crate) fn extract_source(raw: &Spanned<RawExtract>) -> Result<ExtractSource, Problem> {
    let bad_pointer = |p: &str| {
        Problem::new(
            raw.span(),
            format!("`{p}` is not a JSON pointer"),
            "a JSON pointer (RFC 6901) is empty (the whole answer) or starts with `/`, e.g. `/task_id` or `/items/0/id`; write `~0` for `~` and `~1` for `/`",
        )
    };
    match raw.get_ref() {
        RawExtract::Pointer(p) if is_json_pointer(p) => Ok(ExtractSource::Pointer(p.clone())),
        RawExtract::Pointer(p) => Err(bad_pointer(p)),
        RawExtract::Table(RawExtractTable {
            header: Some(h),
            pointer: None,
        }) => HeaderName::from_bytes(h.trim().as_bytes())
            .map(ExtractSource::Header)
            .map_err(|_| {
                Problem::new(
                    raw.span(),
                    format!("`{h}` is not a header name"),
                    "name the answer header, e.g. { header = \"Mcp-Session-Id\" }",
                )
            }),
        RawExtract::Table(RawExtractTable {
            header: None,
            pointer: Some(p),
        }) if is_json_pointer(p) => Ok(ExtractSource::Pointer(p.clone())),
        RawExtract::Table(RawExtractTable {
            header: None,
            pointer: Some(p),
        }) => Err(bad_pointer(p)),
        RawExtract::Table(_) => Err(Problem::new(
            raw.span(),
            "an extraction reads one thing: a JSON pointer or a header",
            "write `var = \"/pointer\"`, `var = { pointer = \"/pointer\" }` or `var = { header = \"Location\" }`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(body: &'a [u8], json: Option<&'a Value>) -> AnswerView<'a> {
        AnswerView {
            headers: &[],
            body,
            json,
        }
    }

    fn pointer(pointer: &str, test: ValueTest) -> Check {
        Check {
            name: "c".into(),
            kind: CheckKind::Pointer {
                pointer: pointer.into(),
                test,
            },
        }
    }

    #[test]
    fn value_tests() {
        let body = br#"{"status":"done","n":7,"items":[{"name":"a"}],"nothing":null}"#;
        let json: Value = serde_json::from_slice(body).expect("json");
        let v = view(body, Some(&json));
        let ok = |c: Check| c.evaluate(&v).is_ok();
        assert!(ok(pointer(
            "/status",
            ValueTest::Equals(Value::from("done"))
        )));
        assert!(!ok(pointer(
            "/status",
            ValueTest::Equals(Value::from("failed"))
        )));
        assert!(ok(pointer(
            "/status",
            ValueTest::NotEquals(Value::from("failed"))
        )));
        assert!(ok(pointer(
            "/missing",
            ValueTest::NotEquals(Value::from("x"))
        )));
        assert!(ok(pointer("/n", ValueTest::Equals(Value::from(7.0)))));
        assert!(ok(pointer("/items/0/name", ValueTest::Exists(true))));
        assert!(!ok(pointer("/items/1/name", ValueTest::Exists(true))));
        assert!(
            ok(pointer("/nothing", ValueTest::Exists(false))),
            "null is absent"
        );
        let re = Regex::new("^d").expect("regex");
        assert!(ok(pointer("/status", ValueTest::Matches(re.clone()))));
        assert!(ok(pointer(
            "/n",
            ValueTest::Matches(Regex::new("^7$").expect("regex"))
        )));
        let bounds = |min, max| ValueTest::Bounds { min, max };
        assert!(ok(pointer("/n", bounds(Some(1.0), Some(7.0)))));
        assert!(!ok(pointer("/n", bounds(Some(8.0), None))));
        assert!(!ok(pointer("/status", bounds(None, Some(9.0)))));
        let failure = pointer("/status", ValueTest::Equals(Value::from("failed")))
            .evaluate(&v)
            .expect_err("fails");
        assert_eq!(failure.expected, "equals \"failed\"");
        assert_eq!(failure.actual, "\"done\"");
        // Not JSON at all: every pointer check fails and says so.
        let text = view(b"<html>", None);
        let failure = pointer("/status", ValueTest::Exists(true))
            .evaluate(&text)
            .expect_err("not json");
        assert_eq!(failure.expected, "a JSON body");
    }

    #[test]
    fn header_and_body_checks() {
        let headers = [(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        )];
        let v = AnswerView {
            headers: &headers,
            body: b"all ok here",
            json: None,
        };
        let header = |name: &'static str, test| Check {
            name: "h".into(),
            kind: CheckKind::Header {
                name: HeaderName::from_static(name),
                test,
            },
        };
        let re = Regex::new("json").expect("regex");
        assert!(
            header("content-type", ValueTest::Matches(re))
                .evaluate(&v)
                .is_ok()
        );
        assert!(
            header("etag", ValueTest::Exists(true))
                .evaluate(&v)
                .is_err()
        );
        let body = |text: &str| Check {
            name: "b".into(),
            kind: CheckKind::BodyContains(text.into()),
        };
        assert!(body("ok").evaluate(&v).is_ok());
        assert!(body("error").evaluate(&v).is_err());
        // A long body is shortened in the sample.
        let long = vec![b'x'; 1000];
        let failure = body("y")
            .evaluate(&AnswerView {
                headers: &[],
                body: &long,
                json: None,
            })
            .expect_err("absent");
        assert!(failure.actual.chars().count() <= ACTUAL_CHARS + 1);
    }

    #[test]
    fn schemas_validate_bodies() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["artifacts"],
            "properties": { "artifacts": { "type": "array", "minItems": 1 } }
        });
        let check = Check {
            name: "s".into(),
            kind: CheckKind::Schema {
                file: "s.json".into(),
                digest: String::new(),
                validator: Arc::new(jsonschema::validator_for(&schema).expect("schema")),
            },
        };
        let good = serde_json::json!({ "artifacts": ["a"] });
        let bad = serde_json::json!({ "status": "done" });
        assert!(check.evaluate(&view(b"", Some(&good))).is_ok());
        let failure = check.evaluate(&view(b"", Some(&bad))).expect_err("invalid");
        assert!(failure.actual.contains("artifacts"), "{failure:?}");
    }
}
