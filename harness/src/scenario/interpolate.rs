//! `${NAME}` interpolation in scenario strings.
//!
//! Syntax: `${NAME}` is replaced, `${NAME:-default}` is replaced by `default` when the
//! name is an environment variable that is unset or empty (as in a shell), `$${` is a
//! literal `${`, any other `$` is literal, and an unterminated `${` is an error. Names are
//! `[A-Za-z_][A-Za-z0-9_]*`; a default cannot hold `}`.
//! What a name means depends on where it is written: in a path's `base_url` and headers
//! only environment variables apply ([`interpolate_env`]); in a step, a name is a flow
//! variable when an earlier step extracts it, else an environment variable
//! ([`template`], with the decision left to the caller). Errors carry the byte range
//! inside the string so that the caller can point at the exact `${...}`.

use std::ops::Range;

use super::model::{Interpolated, Part, Template};

/// A piece of a string: literal text, or a reference to a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Literal text (with `$${` already turned into `${`).
    Text(String),
    /// `${name}` or `${name:-default}`, with its byte range in the string (the `${`
    /// and `}` included).
    Name(&'a str, Option<&'a str>, Range<usize>),
}

/// A problem inside one string, located by byte range within that string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterpolationError {
    /// Where in the string.
    pub range: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// What a name stands for, as decided by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Text substituted now (an environment variable's value).
    Text(String),
    /// A flow variable slot, filled in at run time.
    Slot(usize),
}

/// True for `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Decides what a `${name}` (at a byte range of the string) stands for.
pub(crate) type Binder<'b> =
    dyn FnMut(&str, Range<usize>) -> Result<Binding, InterpolationError> + 'b;

/// Splits `source` into literal text and `${name}` references.
pub(crate) fn split(source: &str) -> Result<Vec<Piece<'_>>, InterpolationError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = 0;
    while let Some(found) = source[rest..].find('$') {
        let dollar = rest + found;
        let after = &source[dollar + 1..];
        if after.starts_with("${") {
            // `$${` escapes a literal `${`.
            text.push_str(&source[rest..dollar]);
            text.push_str("${");
            rest = dollar + 3;
        } else if after.starts_with('{') {
            text.push_str(&source[rest..dollar]);
            let open = dollar + 2;
            let Some(length) = source[open..].find('}') else {
                return Err(InterpolationError {
                    range: dollar..source.len(),
                    message: "unterminated `${`: there is no closing `}`".into(),
                    help: "close the variable like `${NAME}`, or write `$${` for a literal `${`"
                        .into(),
                });
            };
            let inside = &source[open..open + length];
            let (name, default) = match inside.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inside, None),
            };
            let range = dollar..open + length + 1;
            if !is_name(name) {
                return Err(InterpolationError {
                    range,
                    message: format!("`${{{name}}}` is not a valid variable name"),
                    help: "a name starts with a letter or `_` and holds only letters, digits and `_`, like `${API_TOKEN}`; write `$${` for a literal `${`".into(),
                });
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Name(name, default, range.clone()));
            rest = range.end;
        } else {
            text.push_str(&source[rest..=dollar]);
            rest = dollar + 1;
        }
    }
    text.push_str(&source[rest..]);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Builds a [`Template`], asking `bind` what each `${name}` stands for.
pub(crate) fn template(
    source: &str,
    bind: &mut Binder<'_>,
) -> Result<Template, InterpolationError> {
    let mut parts: Vec<Part> = Vec::new();
    for piece in split(source)? {
        let part = match piece {
            Piece::Text(text) => Part::Literal(text),
            Piece::Name(name, default, range) => match (bind(name, range), default) {
                (Ok(Binding::Text(text)), Some(default)) if text.is_empty() => {
                    Part::Literal(default.to_owned())
                }
                (Ok(Binding::Text(text)), _) => Part::Literal(text),
                (Ok(Binding::Slot(slot)), _) => Part::Var(slot),
                (Err(_), Some(default)) => Part::Literal(default.to_owned()),
                (Err(e), None) => return Err(e),
            },
        };
        // Adjacent literals are merged so that rendering does the least work.
        match (parts.last_mut(), part) {
            (Some(Part::Literal(previous)), Part::Literal(text)) => previous.push_str(&text),
            (_, part) => parts.push(part),
        }
    }
    if parts.is_empty() {
        parts.push(Part::Literal(String::new()));
    }
    Ok(Template {
        source: source.to_string(),
        parts,
    })
}

/// Resolves `source` with environment variables only (`base_url`, path headers).
pub(crate) fn interpolate_env(
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolationError> {
    let mut resolved = String::new();
    for piece in split(source)? {
        match piece {
            Piece::Text(text) => resolved.push_str(&text),
            Piece::Name(name, default, range) => match (env(name), default) {
                (Some(value), Some(default)) if value.is_empty() => resolved.push_str(default),
                (Some(value), _) => resolved.push_str(&value),
                (None, Some(default)) => resolved.push_str(default),
                (None, None) => {
                    return Err(InterpolationError {
                        range,
                        message: format!("environment variable `{name}` is not set"),
                        help: format!(
                            "export {name} before running (e.g. `export {name}=...`), or give a default: `${{{name}:-...}}`; only environment variables can be used here"
                        ),
                    });
                }
            },
        }
    }
    Ok(Interpolated {
        template: source.to_string(),
        resolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_string())
    }

    #[test]
    fn env_values_are_substituted_and_escapes_kept_literal() {
        let v = interpolate_env("Bearer ${TOKEN} costs $5 and $${NOT}", &env).expect("valid");
        assert_eq!(v.resolved, "Bearer s3cret costs $5 and ${NOT}");
        assert_eq!(v.template, "Bearer ${TOKEN} costs $5 and $${NOT}");
        assert!(v.has_secret());
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let env = |name: &str| match name {
            "TOKEN" => Some("s3cret".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let v = interpolate_env(
            "${TOKEN:-x}|${EMPTY:-e}|${UNSET:-http://127.0.0.1:1}|${UNSET:-}",
            &env,
        )
        .expect("valid");
        assert_eq!(v.resolved, "s3cret|e|http://127.0.0.1:1|");
        let e = split("${BAD NAME:-x}").expect_err("bad name");
        assert_eq!(e.range, 0..14);
        let mut bind = |name: &str, range: Range<usize>| {
            if name == "id" {
                Ok(Binding::Slot(0))
            } else {
                Err(InterpolationError {
                    range,
                    message: "unset".into(),
                    help: String::new(),
                })
            }
        };
        let t = template("/a/${id:-0}/${UNSET:-v}", &mut bind).expect("defaults");
        assert_eq!(
            t.parts,
            vec![
                Part::Literal("/a/".into()),
                Part::Var(0),
                Part::Literal("/v".into())
            ]
        );
        assert!(template("/a/${UNSET}", &mut bind).is_err());
    }

    #[test]
    fn unset_unterminated_and_bad_names_are_located() {
        let e = interpolate_env("a ${MISSING} b", &env).expect_err("unset");
        assert_eq!(e.range, 2..12);
        assert!(e.message.contains("`MISSING`"));
        let e = split("x ${open").expect_err("unterminated");
        assert_eq!(e.range, 2..8);
        let e = split("${a b}").expect_err("bad name");
        assert_eq!(e.range, 0..6);
        assert!(split("${}").is_err());
    }

    #[test]
    fn templates_merge_literals_and_keep_slots() {
        let mut bind = |name: &str, _: Range<usize>| {
            Ok(if name == "id" {
                Binding::Slot(0)
            } else {
                Binding::Text("v".into())
            })
        };
        let t = template("/a/${id}/${X}/b", &mut bind).expect("valid");
        assert_eq!(
            t.parts,
            vec![
                Part::Literal("/a/".into()),
                Part::Var(0),
                Part::Literal("/v/b".into())
            ]
        );
        assert_eq!(t.source, "/a/${id}/${X}/b");
        let empty = template("", &mut bind).expect("valid");
        assert_eq!(empty.parts, vec![Part::Literal(String::new())]);
    }
}
