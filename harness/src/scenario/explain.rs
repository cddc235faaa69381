//! Turns TOML and serde messages into a message and a help line a person can act on.
//!
//! The TOML parser knows where a problem is but speaks serde ("invalid type: string
//! \"fast\", expected f64"). Here the common shapes of those messages are recognised and
//! rephrased, with an example of the key when it is known, and a "did you mean" when an
//! unknown key or value is a near miss of a known one.

use std::ops::Range;

use super::error::{Problem, closest};
use crate::toml_diagnostics::backticked;

pub(crate) use crate::toml_diagnostics::HELP_SEPARATOR;

/// A located, explained problem from a TOML parse or deserialisation error.
pub(crate) fn toml_problem(error: &toml::de::Error, text: &str) -> Problem {
    crate::toml_diagnostics::toml_problem(error, |raw, span| {
        let key = key_before(text, span.start);
        explain(raw, key.as_deref(), text, span)
    })
}

/// Message and help for a raw serde / TOML message.
fn explain(raw: &str, key: Option<&str>, text: &str, span: &Range<usize>) -> (String, String) {
    if let Some((message, help)) = raw.split_once(HELP_SEPARATOR) {
        return (message.to_string(), help.to_string());
    }
    if let Some(rest) = raw.strip_prefix("unknown field ") {
        return unknown_key(rest);
    }
    if let Some(rest) = raw.strip_prefix("unknown variant ") {
        return unknown_value(rest, key);
    }
    if let Some(rest) = raw.strip_prefix("missing field ") {
        let field = backticked(rest).into_iter().next().unwrap_or_default();
        return missing(field, span.is_empty());
    }
    if let Some(rest) = raw
        .strip_prefix("invalid type: ")
        .or_else(|| raw.strip_prefix("invalid value: "))
    {
        return wrong_type(rest, key);
    }
    if raw.starts_with("duplicate key") {
        let name = text.get(span.clone()).unwrap_or_default().trim();
        return (
            format!("duplicate key `{name}`"),
            "a key may appear only once in a table; remove or rename one of the two".into(),
        );
    }
    if raw.starts_with("a probability must lie between 0 and 1") {
        let message = raw.split_once("; ").map_or(raw, |(m, _)| m);
        let key = key.unwrap_or("probability");
        return (
            message.into(),
            format!("write a value between 0 and 1, e.g. `{key} = 0.3`"),
        );
    }
    if let Some((message, _)) = raw.split_once("; write") {
        // Messages of the unit types: "<what is wrong>; write it like ...".
        let help = match key.and_then(example) {
            Some(example) => format!("write it like `{example}`"),
            None => format!("write{}", &raw[message.len() + "; write".len()..]),
        };
        return (message.to_string(), help);
    }
    (
        raw.to_string(),
        "fix the TOML syntax here: strings need quotes, tables look like `[load]`, arrays like `[1, 2]` (see https://toml.io)".into(),
    )
}

/// "unknown field `ratee`, expected one of `model`, `rate`" → a suggestion.
fn unknown_key(rest: &str) -> (String, String) {
    let names = backticked(rest);
    let Some((key, allowed)) = names.split_first() else {
        return (format!("unknown key {rest}"), "remove it".into());
    };
    let message = format!("unknown key `{key}`");
    let list = allowed
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let help = match closest(key, allowed.iter().copied()) {
        Some(near) => format!("did you mean `{near}`? keys allowed here: {list}"),
        None if allowed.is_empty() => "remove it: this table takes no keys".into(),
        None => format!("remove it or use one of the keys allowed here: {list}"),
    };
    (message, help)
}

/// "unknown variant `poison`, expected `uniform` or `poisson`" → a suggestion.
fn unknown_value(rest: &str, key: Option<&str>) -> (String, String) {
    let names = backticked(rest);
    let Some((value, allowed)) = names.split_first() else {
        return (
            format!("unknown value {rest}"),
            "use one of the documented values".into(),
        );
    };
    let message = match key {
        Some(key) => format!("unknown value `{value}` for `{key}`"),
        None => format!("unknown value `{value}`"),
    };
    let list = allowed
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let help = match closest(value, allowed.iter().copied()) {
        Some(near) => format!("did you mean `{near}`? allowed values: {list}"),
        None => format!("use one of: {list}"),
    };
    (message, help)
}

/// "missing field `load`" → what to add.
fn missing(field: &str, top_level: bool) -> (String, String) {
    match field {
        "load" => (
            "missing [load] table".into(),
            "add a [load] table, e.g.\n[load]\nmodel = \"open\"\nrate = 200\nduration = \"5s\"".into(),
        ),
        "paths" => (
            "missing [paths]: a scenario needs at least one path".into(),
            "add a path, e.g.\n[paths.legacy]\ntarget = \"reference\"".into(),
        ),
        "flow" => (
            "missing [[flow]]: a scenario needs at least one flow".into(),
            "add a flow, e.g.\n[[flow]]\nname = \"get\"\nsteps = [{ name = \"get\", path = \"/\" }]".into(),
        ),
        "name" if !top_level => (
            "missing `name`".into(),
            "add `name = \"...\"`: every flow and step needs a name, unique among its siblings".into(),
        ),
        "name" => (
            "missing `name`".into(),
            "add `name = \"demo\"` at the top of the file (lower-case letters, digits, `-` and `_`: it names files)"
                .into(),
        ),
        _ => {
            let help = match example(field) {
                Some(example) => format!("add `{example}`"),
                None => format!("add `{field} = ...`"),
            };
            (format!("missing `{field}`"), help)
        }
    }
}

/// "string \"fast\", expected f64" → "expected a number, found string \"fast\"".
fn wrong_type(rest: &str, key: Option<&str>) -> (String, String) {
    let (found, expected) = rest
        .rsplit_once(", expected ")
        .unwrap_or((rest, "another type"));
    let expected = plain_type(expected);
    let found = match found {
        "map" => "a table",
        "sequence" => "an array",
        other => other,
    };
    if found == "a table" && expected == "an array" {
        // `[flow]` written where `[[flow]]` (an array of tables) was meant.
        return (
            format!(
                "expected an array, found a table{}",
                key.map(|k| format!(" for `{k}`")).unwrap_or_default()
            ),
            "write each entry of an array of tables with double brackets, e.g. `[[flow]]`".into(),
        );
    }
    let message = match key {
        Some(key) => format!("`{key}` must be {expected}, found {found}"),
        None => format!("expected {expected}, found {found}"),
    };
    let help = match key.and_then(example) {
        Some(example) => format!("write it like `{example}`"),
        None => format!("write {expected} here"),
    };
    (message, help)
}

/// Serde's type names in words.
fn plain_type(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".into(),
        "i64" | "i32" | "i16" | "i8" => "a whole number".into(),
        "u64" | "u32" | "u16" | "u8" | "usize" => "a whole number, 0 or more".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        other if other.starts_with("struct ") => "a table".into(),
        other => other.into(),
    }
}

/// An example line for a key of the scenario format.
pub(crate) fn example(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "name = \"demo\"",
        "description" => "description = \"what this scenario exercises\"",
        "phases" => "phases = [1, 2]",
        "component" => "component = \"workflow_engine\"",
        "seed" => "seed = 42",
        "base" => "base = \"legacy\"",
        "candidate" => "candidate = \"dagger\"",
        "target" => "target = \"reference\"",
        "base_url" => "base_url = \"http://127.0.0.1:8080\"",
        "headers" => "headers = { \"X-Feature-Flag\" = \"true\" }",
        "model" => "model = \"open\"",
        "rate" => "rate = 200",
        "stages" => "stages = [{ rate = 400, over = \"10s\" }]",
        "over" => "over = \"10s\"",
        "spacing" => "spacing = \"uniform\"",
        "users" => "users = 10",
        "think_time" => "think_time = \"100ms\"",
        "ramp_up_rate" => "ramp_up_rate = 5",
        "duration" => "duration = \"5s\"",
        "warmup" => "warmup = \"1s\"",
        "repetitions" => "repetitions = 5",
        "timeout" => "timeout = \"2s\"",
        "max_in_flight" => "max_in_flight = 10000",
        "weight" => "weight = 1",
        "steps" => "steps = [{ name = \"get\", path = \"/\" }]",
        "replay" => "replay = \"traffic/session.har\"",
        "host" => "host = \"api.example.com\"",
        "include" => "include = [\"/api/\"]",
        "exclude_headers" => "exclude_headers = [\"cookie\", \"authorization\"]",
        "max_steps" => "max_steps = 200",
        "method" => "method = \"POST\"",
        "path" => "path = \"/api/tasks\"",
        "body" => "body = '{\"workflow\":\"build-and-test\"}'",
        "expect_status" => "expect_status = [200]",
        "extract" => "extract = { task_id = \"/task_id\" }",
        "executor_latency"
        | "executor_jitter"
        | "legacy_overhead"
        | "dagger_overhead"
        | "legacy_cpu_per_call"
        | "dagger_cpu_per_call"
        | "dependency_timeout"
        | "open_for"
        | "base_backoff"
        | "max_backoff" => {
            return duration_example(key);
        }
        _ => return None,
    })
}

/// Examples for the reference platform's durations.
fn duration_example(key: &str) -> Option<&'static str> {
    Some(match key {
        "executor_latency" => "executor_latency = \"5ms\"",
        "executor_jitter" => "executor_jitter = \"1ms\"",
        "legacy_overhead" => "legacy_overhead = \"2ms\"",
        "dagger_overhead" => "dagger_overhead = \"2ms\"",
        "legacy_cpu_per_call" => "legacy_cpu_per_call = \"2ms\"",
        "dagger_cpu_per_call" => "dagger_cpu_per_call = \"2ms\"",
        "dependency_timeout" => "dependency_timeout = \"500ms\"",
        "open_for" => "open_for = \"1s\"",
        "base_backoff" => "base_backoff = \"10ms\"",
        "max_backoff" => "max_backoff = \"200ms\"",
        _ => return None,
    })
}

/// The key written before the value at byte `start` (`rate` in `rate = -5`), if the value
/// is the right-hand side of a `key = value` on the same line.
pub(crate) fn key_before(text: &str, start: usize) -> Option<String> {
    let mut at = start.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line = text[..at].rsplit('\n').next()?;
    let left = line.trim_end().strip_suffix('=')?.trim_end();
    if let Some(quoted) = left.strip_suffix('"') {
        let open = quoted.rfind('"')?;
        return Some(quoted[open + 1..].to_string());
    }
    let key: String = left
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

/// The span of the key written before the value at `value` (`users` in `users = 10`),
/// or the value's own span when the file has another shape there.
pub(crate) fn key_span(text: &str, value: &Range<usize>) -> Range<usize> {
    let Some(before) = text.get(..value.start) else {
        return value.clone();
    };
    let Some(left) = before.trim_end().strip_suffix('=') else {
        return value.clone();
    };
    let left = left.trim_end();
    let end = left.len();
    let start = left
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '"')
        .last()
        .map_or(end, |(i, _)| i);
    if start == end {
        value.clone()
    } else {
        start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_before_values() {
        let text = "[load]\nrate = -5\nx = { \"A-B\" = 1 }";
        let at = text.find("-5").expect("value");
        assert_eq!(key_before(text, at).as_deref(), Some("rate"));
        assert_eq!(key_span(text, &(at..at + 2)), 7..11);
        let at = text.find('1').expect("value");
        assert_eq!(key_before(text, at).as_deref(), Some("A-B"));
        assert_eq!(key_before(text, 0), None);
        assert_eq!(key_span(text, &(0..1)), 0..1);
    }

    #[test]
    fn serde_messages_are_rephrased() {
        let (m, h) = explain(
            "unknown field `ratee`, expected one of `model`, `rate`",
            None,
            "",
            &(0..0),
        );
        assert_eq!(m, "unknown key `ratee`");
        assert!(h.starts_with("did you mean `rate`?"), "{h}");
        let (m, h) = explain(
            "invalid type: string \"fast\", expected f64",
            Some("rate"),
            "",
            &(0..0),
        );
        assert_eq!(m, "`rate` must be a number, found string \"fast\"");
        assert_eq!(h, "write it like `rate = 200`");
        let (m, _) = explain("missing field `load`", None, "", &(0..0));
        assert_eq!(m, "missing [load] table");
    }
}
