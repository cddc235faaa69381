//! The JSON bodies of the service's successful answers, written by hand: the demo serves
//! hundreds of answers a second per path, and a few `push_str` calls into one buffer cost
//! less than building and serialising a value.
//!
//! Both paths answer with the same shape:
//!
//! - `POST /api/workflows/execute` (202): `{"task_id","path","attempts","workflow",
//!   "created_at","run_id","artifacts","steps"}`
//! - `GET /api/tasks/{id}` (200): `{"task_id","status","artifacts","steps","finished_at"}`
//!
//! `created_at`, `finished_at` (RFC 3339 UTC with milliseconds, the time of the answer)
//! and `run_id` (16 hex digits) differ from one answer to the next: they are noise. A
//! [`ParityDefect`] changes the Dagger path's answers only.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Deserialize;

use super::config::ParityDefect;
use super::metrics::ServicePath;

/// What the service reports when a request names no workflow.
pub(crate) const UNKNOWN_WORKFLOW: &str = "unknown";

/// The artifacts every task produces.
const ARTIFACTS: &str =
    r#"[{"name":"build.log","kind":"log"},{"name":"test-report.xml","kind":"report"}]"#;
/// The steps every task runs, in order.
const STEPS: &str = r#"["checkout","build","test"]"#;
/// [`STEPS`] reversed, for [`ParityDefect::ReorderedArray`].
const STEPS_REVERSED: &str = r#"["test","build","checkout"]"#;

/// How one path's answers look: the legacy path's always plain, the Dagger path's with
/// the configured defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    artifacts: bool,
    status: &'static str,
    steps: &'static str,
}

impl Shape {
    /// The shape of `path`'s answers when the Dagger path carries `defect`.
    pub(crate) fn of(path: ServicePath, defect: ParityDefect) -> Self {
        let defect = match path {
            ServicePath::Legacy => ParityDefect::None,
            ServicePath::Dagger => defect,
        };
        Self {
            artifacts: defect != ParityDefect::DroppedField,
            status: if defect == ParityDefect::ChangedValue {
                "succeeded"
            } else {
                "completed"
            },
            steps: if defect == ParityDefect::ReorderedArray {
                STEPS_REVERSED
            } else {
                STEPS
            },
        }
    }

    fn artifacts_and_steps(self, out: &mut String) {
        if self.artifacts {
            out.push_str(",\"artifacts\":");
            out.push_str(ARTIFACTS);
        }
        out.push_str(",\"steps\":");
        out.push_str(self.steps);
    }
}

/// What one execute answer says beyond its shape.
pub(crate) struct Execution<'a> {
    /// The issued task id (`task-` plus hex: no escaping needed).
    pub(crate) task_id: &'a str,
    pub(crate) path: ServicePath,
    pub(crate) attempts: u32,
    /// The client's workflow name, escaped here.
    pub(crate) workflow: &'a str,
    pub(crate) run_id: u64,
}

/// The body of a 202 answer to `POST /api/workflows/execute`, stamped `created_at = now`.
pub(crate) fn execute_body(e: &Execution<'_>, shape: Shape, now: SystemTime) -> String {
    let mut out = String::with_capacity(320 + e.workflow.len());
    out.push_str("{\"task_id\":\"");
    out.push_str(e.task_id);
    out.push_str("\",\"path\":\"");
    out.push_str(e.path.label());
    // Writing into a String cannot fail.
    let _ = write!(out, "\",\"attempts\":{},\"workflow\":", e.attempts);
    push_json_string(&mut out, e.workflow);
    let _ = write!(
        out,
        ",\"created_at\":\"{}\",\"run_id\":\"{:016x}\"",
        humantime::format_rfc3339_millis(now),
        e.run_id
    );
    shape.artifacts_and_steps(&mut out);
    out.push('}');
    out
}

/// The body of a 200 answer to `GET /api/tasks/{id}` for a known `task_id` (`task-` plus
/// hex), stamped `finished_at = now`.
pub(crate) fn task_body(task_id: &str, shape: Shape, now: SystemTime) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"task_id\":\"");
    out.push_str(task_id);
    out.push_str("\",\"status\":\"");
    out.push_str(shape.status);
    out.push('"');
    shape.artifacts_and_steps(&mut out);
    let _ = write!(
        out,
        ",\"finished_at\":\"{}\"}}",
        humantime::format_rfc3339_millis(now)
    );
    out
}

/// Appends `s` as a JSON string literal: quotes, backslashes and control characters
/// escaped, everything else (valid UTF-8 already) as is.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// The `workflow` field of a JSON object body when it is a string; `None` for anything
/// else (no body, not JSON, not an object, no such field, another type, a repeated key).
pub(crate) fn workflow_of(body: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Fields<'a> {
        #[serde(borrow, default)]
        workflow: Option<Cow<'a, str>>,
    }
    // serde would also read a struct from an array (`["x"]`); only an object counts.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<Fields<'_>>(body).ok()?.workflow
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::time::{Duration, UNIX_EPOCH};

    const DEFECTS: [ParityDefect; 4] = [
        ParityDefect::None,
        ParityDefect::DroppedField,
        ParityDefect::ChangedValue,
        ParityDefect::ReorderedArray,
    ];

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    fn execute(path: ServicePath, defect: ParityDefect, workflow: &str, run_id: u64) -> Value {
        let body = execute_body(
            &Execution {
                task_id: "task-00000000002a",
                path,
                attempts: 2,
                workflow,
                run_id,
            },
            Shape::of(path, defect),
            at(1_700_000_000_123),
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn task(path: ServicePath, defect: ParityDefect) -> Value {
        let body = task_body(
            "task-00000000002a",
            Shape::of(path, defect),
            at(1_700_000_000_456),
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn answers_have_the_documented_shape_and_values() {
        let e = execute(
            ServicePath::Legacy,
            ParityDefect::None,
            "build-and-test",
            0xab,
        );
        assert_eq!(
            e,
            json!({
                "task_id": "task-00000000002a",
                "path": "legacy",
                "attempts": 2,
                "workflow": "build-and-test",
                "created_at": "2023-11-14T22:13:20.123Z",
                "run_id": "00000000000000ab",
                "artifacts": [
                    {"name": "build.log", "kind": "log"},
                    {"name": "test-report.xml", "kind": "report"}
                ],
                "steps": ["checkout", "build", "test"],
            })
        );
        assert_eq!(
            task(ServicePath::Legacy, ParityDefect::None),
            json!({
                "task_id": "task-00000000002a",
                "status": "completed",
                "artifacts": [
                    {"name": "build.log", "kind": "log"},
                    {"name": "test-report.xml", "kind": "report"}
                ],
                "steps": ["checkout", "build", "test"],
                "finished_at": "2023-11-14T22:13:20.456Z",
            })
        );
        let reversed: Value = serde_json::from_str(STEPS_REVERSED).expect("JSON");
        let mut steps: Vec<Value> = serde_json::from_str(STEPS).expect("JSON");
        steps.reverse();
        assert_eq!(reversed, Value::Array(steps));
    }

    #[test]
    fn without_a_defect_both_paths_answer_alike_but_for_path() {
        let mut legacy = execute(ServicePath::Legacy, ParityDefect::None, "w", 1);
        let mut dagger = execute(ServicePath::Dagger, ParityDefect::None, "w", 1);
        assert_eq!(dagger["path"], "dagger");
        legacy["path"] = Value::Null;
        dagger["path"] = Value::Null;
        assert_eq!(legacy, dagger);
        assert_eq!(keys(&legacy), keys(&dagger), "same field order");
        assert_eq!(
            task(ServicePath::Legacy, ParityDefect::None),
            task(ServicePath::Dagger, ParityDefect::None)
        );
    }

    #[test]
    fn the_legacy_path_never_carries_a_defect() {
        let plain_execute = execute(ServicePath::Legacy, ParityDefect::None, "w", 1);
        let plain_task = task(ServicePath::Legacy, ParityDefect::None);
        for defect in DEFECTS {
            assert_eq!(
                execute(ServicePath::Legacy, defect, "w", 1),
                plain_execute,
                "{defect:?}"
            );
            assert_eq!(task(ServicePath::Legacy, defect), plain_task, "{defect:?}");
        }
    }

    /// The fields of the Dagger path's answers that differ from the legacy path's (besides
    /// `path`), each as (field, legacy value, Dagger value).
    fn differences(legacy: &Value, dagger: &Value) -> Vec<(String, Value, Value)> {
        let (l, d) = (
            legacy.as_object().expect("obj"),
            dagger.as_object().expect("obj"),
        );
        let mut names: Vec<&String> = l.keys().chain(d.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|k| *k != "path" && l.get(*k) != d.get(*k))
            .map(|k| {
                let get = |m: &serde_json::Map<String, Value>| m.get(k).cloned();
                (
                    k.clone(),
                    get(l).unwrap_or(Value::Null),
                    get(d).unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    #[test]
    fn each_defect_changes_exactly_what_it_says_on_the_dagger_path() {
        let artifacts = json!([
            {"name": "build.log", "kind": "log"},
            {"name": "test-report.xml", "kind": "report"}
        ]);
        let steps = json!(["checkout", "build", "test"]);
        let reversed = json!(["test", "build", "checkout"]);
        let cases = [
            (ParityDefect::None, vec![], vec![]),
            (
                ParityDefect::DroppedField,
                vec![("artifacts", artifacts.clone(), Value::Null)],
                vec![("artifacts", artifacts.clone(), Value::Null)],
            ),
            (
                ParityDefect::ChangedValue,
                vec![],
                vec![("status", json!("completed"), json!("succeeded"))],
            ),
            (
                ParityDefect::ReorderedArray,
                vec![("steps", steps.clone(), reversed.clone())],
                vec![("steps", steps, reversed)],
            ),
        ];
        for (defect, on_execute, on_task) in cases {
            let own = |v: Vec<(&str, Value, Value)>| -> Vec<(String, Value, Value)> {
                v.into_iter()
                    .map(|(k, a, b)| (k.to_owned(), a, b))
                    .collect()
            };
            let legacy = execute(ServicePath::Legacy, defect, "w", 7);
            let dagger = execute(ServicePath::Dagger, defect, "w", 7);
            assert_eq!(differences(&legacy, &dagger), own(on_execute), "{defect:?}");
            let legacy = task(ServicePath::Legacy, defect);
            let dagger = task(ServicePath::Dagger, defect);
            assert_eq!(differences(&legacy, &dagger), own(on_task), "{defect:?}");
            if defect == ParityDefect::DroppedField {
                assert!(dagger.get("artifacts").is_none(), "absent, not null");
            }
        }
    }

    #[test]
    fn noise_fields_follow_the_clock_and_the_run_id() {
        let body = |run_id, millis| {
            let text = execute_body(
                &Execution {
                    task_id: "task-000000000001",
                    path: ServicePath::Dagger,
                    attempts: 1,
                    workflow: "w",
                    run_id,
                },
                Shape::of(ServicePath::Dagger, ParityDefect::None),
                at(millis),
            );
            serde_json::from_str::<Value>(&text).expect("JSON")
        };
        let (a, b) = (body(1, 1_000), body(u64::MAX, 2_001));
        assert_eq!(a["created_at"], "1970-01-01T00:00:01.000Z");
        assert_eq!(b["created_at"], "1970-01-01T00:00:02.001Z");
        assert_eq!(b["run_id"], "ffffffffffffffff");
        assert_ne!(a["run_id"], b["run_id"]);
    }

    #[test]
    fn workflow_names_from_the_client_are_escaped() {
        for name in [
            "",
            "plain",
            "quote\" backslash\\ slash/",
            "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "ünïcödé ✓ 🚀",
            "</script><script>",
            "\",\"path\":\"legacy",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, name);
            let back: String = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            assert_eq!(back, name);
            assert!(!out.bytes().any(|b| b < 0x20), "raw control byte in {out}");
            let answer = execute(ServicePath::Legacy, ParityDefect::None, name, 1);
            assert_eq!(answer["workflow"], name);
            assert_eq!(answer["path"], "legacy");
        }
    }

    #[test]
    fn the_workflow_is_read_from_a_json_object_only() {
        let read = |body: &str| workflow_of(body.as_bytes()).map(Cow::into_owned);
        assert_eq!(read(r#"{"workflow":"build"}"#).as_deref(), Some("build"));
        assert_eq!(
            read(" \n{\"other\":[1,{\"a\":null}],\"workflow\":\"a\\\"b\\u00e9\"}").as_deref(),
            Some("a\"bé")
        );
        for bad in [
            "",
            "not json",
            "{",
            r#"{"workflow":5}"#,
            r#"{"workflow":null}"#,
            r#"{"workflow":["x"]}"#,
            r#"{"other":"x"}"#,
            r#"["x"]"#,
            r#""x""#,
            r#"{"workflow":"a","workflow":"b"}"#,
            r#"{"workflow":"a"} trailing"#,
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
        assert_eq!(workflow_of(b"{\"workflow\":\"\xff\"}"), None, "not UTF-8");
    }
}
