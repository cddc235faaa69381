//! Problems in TOML files, located and rendered like the Rust compiler's errors.
//!
//! Every TOML format of the harness (scenarios, the phase plan, the proxy file) reports
//! a problem the same way: a [`Problem`] is a byte span, a message saying what is wrong
//! and a help line saying how to fix it; [`Diagnostic::locate`] turns it into the file,
//! the 1-based line and column and the offending source line, and `Display` renders
//! `file:line:column: message`, the line with a caret under the place, and the help.
//! Columns count characters, not bytes, and nothing here panics on any span. A value
//! quoted in a message and the source line are shown with hidden characters escaped
//! (`text`), and [`check_name`] is the one located check of the name rule.
//!
//! This is a bottom layer: it knows TOML and serde messages, not any one file format;
//! each format words its own explanations through [`toml_problem`].

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::text;

/// Separator between message and help in custom serde errors, so that the help survives
/// the trip through the TOML parser: `"what is wrong\nhelp: how to fix it"`.
pub const HELP_SEPARATOR: &str = "\nhelp: ";

/// A TOML file (a scenario, a proxy file) that could not be read or is not valid.
///
/// `Display` is the complete text for a terminal, `error: ` prefix included.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("error: cannot read {}: {}", file.display(), io_reason(error))]
    Io {
        /// The file, as given.
        file: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
    /// The file was read but is not valid.
    #[error("error: {0}")]
    Invalid(Box<Diagnostic>),
}

impl FileError {
    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            Self::Io { file, .. } => file,
            Self::Invalid(d) => &d.file,
        }
    }

    /// The located problem, when the file was read but did not validate.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            Self::Io { .. } => None,
            Self::Invalid(d) => Some(d),
        }
    }

    /// The located error for `problem` found in `text`, the contents of `file`.
    pub fn invalid(file: &Path, text: &str, problem: Problem) -> Self {
        Self::Invalid(Box::new(Diagnostic::locate(file, text, problem)))
    }
}

/// A problem found while parsing or validating, before it is located in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte range in the file text.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl Problem {
    /// A problem at `span`.
    pub fn new(span: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
            help: help.into(),
        }
    }

    /// A problem from a message of the form "what is wrong; how to fix it", with
    /// `fallback_help` when the text has no "; ".
    pub fn split(span: Range<usize>, text: &str, fallback_help: &str) -> Self {
        match text.split_once("; ") {
            Some((message, help)) => Self::new(span, message, help),
            None => Self::new(span, text, fallback_help),
        }
    }
}

/// A problem at a place in a file: what [`Problem`] becomes once located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// The line the problem is on, without its line break.
    pub source_line: String,
    /// How many characters the caret underline covers (at least 1).
    pub width: usize,
}

impl Diagnostic {
    /// Locates `problem` in `text`, the contents of `file`.
    pub fn locate(file: &Path, text: &str, problem: Problem) -> Self {
        let (line, column, source_line) = locate(text, problem.span.start);
        // The caret covers the span, but never beyond the end of its line, and at least one
        // character so that an empty span (end of file, a missing key) is still visible.
        let span_chars = text
            .get(clamp_to_char(text, problem.span.start)..clamp_to_char(text, problem.span.end))
            .map_or(0, |s| s.chars().take_while(|c| *c != '\n').count());
        let room = source_line.chars().count().saturating_sub(column - 1);
        let width = span_chars.min(room).max(1);
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: problem.message,
            help: problem.help,
            source_line,
            width,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len() + 1);
        // Messages may quote a value from the file: hidden characters are escaped.
        writeln!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            text::printable_lines(&self.message)
        )?;
        writeln!(f, "{gutter}|")?;
        writeln!(f, "{number} | {}", source_line(&self.source_line))?;
        let pad = " ".repeat(self.column.saturating_sub(1));
        writeln!(f, "{gutter}| {pad}{}", "^".repeat(self.width))?;
        let help = text::printable_lines(&self.help);
        let mut help = help.lines();
        if let Some(first) = help.next() {
            write!(f, "{gutter}= help: {first}")?;
            // Multi-line help (a TOML example) stays aligned under the first line.
            for more in help {
                write!(f, "\n{gutter}        {more}")?;
            }
        }
        Ok(())
    }
}

/// The source line as shown: one character per character, so the caret stays aligned,
/// no hidden character that would upset a terminal (a control, a bidirectional override:
/// see [`text::is_hidden`]), and no byte-order mark (which `locate` does not count either).
fn source_line(line: &str) -> String {
    line.chars()
        .filter(|c| *c != '\u{feff}')
        .map(|c| {
            if c == '\t' {
                ' '
            } else if text::is_hidden(c) {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Refuses a name with a hidden character (see [`text::check_name`]): `what` says which
/// name (`flow name`), `span` is where its value is written.
pub fn check_name(value: &str, span: Range<usize>, what: &str) -> Result<(), Problem> {
    text::check_name(value).map_err(|hidden| {
        Problem::new(
            span,
            format!(
                "{what} `{}` holds a character that does not print",
                text::printable(value)
            ),
            format!(
                "use printable characters; found {hidden} (names show in terminals, CI logs and reports, where such a character can hide or rewrite text)"
            ),
        )
    })
}

/// Refuses free text (a description, a command) with a hidden character other than a
/// line break or a tab (see [`text::check_text`]).
pub fn check_text(value: &str, span: Range<usize>, what: &str) -> Result<(), Problem> {
    text::check_text(value).map_err(|hidden| {
        Problem::new(
            span,
            format!("{what} holds a character that does not print"),
            format!("use printable characters (line breaks and tabs are fine); found {hidden}"),
        )
    })
}

/// The largest char boundary of `text` at or before `offset` (clamped to the text).
fn clamp_to_char(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// 1-based line and column (in characters) of byte `offset`, and the text of that line.
pub fn locate(text: &str, offset: usize) -> (usize, usize, String) {
    let at = clamp_to_char(text, offset);
    let before = &text[..at];
    // A byte-order mark is invisible: columns on the first line count from after it.
    let first_line_start = if before.starts_with('\u{feff}') { 3 } else { 0 };
    let line_start = before.rfind('\n').map_or(first_line_start, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let source_line = text[line_start..line_end]
        .trim_end_matches('\r')
        .to_string();
    (line, column, source_line)
}

/// A [`Problem`] for a TOML parse or deserialisation error: its span (the start of the
/// file when the parser gives none) and the message and help that `explain` words from
/// the parser's trimmed message and that span.
pub fn toml_problem(
    error: &toml::de::Error,
    explain: impl FnOnce(&str, &Range<usize>) -> (String, String),
) -> Problem {
    let span = error.span().unwrap_or(0..0);
    let (message, help) = explain(error.message().trim(), &span);
    Problem::new(span, message, help)
}

/// What the operating system said about reading a file, without the "(os error N)"
/// suffix that helps nobody.
pub fn io_reason(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The words between backticks, in order: the key and the allowed keys of serde's
/// "unknown field `ratee`, expected one of `model`, `rate`".
pub fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Levenshtein distance in characters, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate closest to `word`, when it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_counts_lines_and_characters() {
        let text = "a = 1\nnäme = \"x\"\n";
        assert_eq!(locate(text, 0), (1, 1, "a = 1".to_string()));
        // "näme = " is 8 bytes but 7 characters.
        let at = text.find('"').expect("quote");
        assert_eq!(locate(text, at), (2, 8, "näme = \"x\"".to_string()));
        // At the very end, after the final newline: an empty third line.
        assert_eq!(locate(text, text.len()), (3, 1, String::new()));
        // Past the end and inside a multi-byte character: clamped, never a panic.
        assert_eq!(locate(text, 1000).0, 3);
        // Byte 8 is inside `ä` (bytes 7..9): it counts as the `ä`, column 2.
        assert_eq!(locate(text, 8).1, 2);
        assert_eq!(locate("", 5), (1, 1, String::new()));
        // A byte-order mark takes no column.
        assert_eq!(locate("\u{feff}a = 1", 4).1, 2);
    }

    #[test]
    fn multi_line_help_stays_aligned_and_the_line_is_printable() {
        let text = "a = 1\n\tb = \"x\"\n";
        let at = text.find('"').expect("quote");
        let d = Diagnostic::locate(
            Path::new("f.toml"),
            text,
            Problem::new(at..at + 3, "bad b", "write it like\nb = 1"),
        );
        assert_eq!((d.line, d.column, d.width), (2, 6, 3));
        let expected = "f.toml:2:6: bad b\n  |\n2 |  b = \"x\"\n  |      ^^^\n  = help: write it like\n          b = 1";
        assert_eq!(d.to_string(), expected);
    }

    #[test]
    fn hidden_characters_never_reach_the_rendering() {
        let text = "name = \"a\u{202e}b\"\n";
        let at = text.find('"').expect("quote");
        let problem = check_name("a\u{1b}[2J\u{202e}b", at..text.len() - 1, "flow name")
            .expect_err("refused");
        assert_eq!(
            problem.message,
            "flow name `a\\u{1b}[2J\\u{202e}b` holds a character that does not print"
        );
        assert!(
            problem.help.starts_with(
                "use printable characters; found U+001B (ESC, a control character) at character 2"
            ),
            "{}",
            problem.help
        );
        let mut raw = problem.clone();
        raw.message = "raw \u{1b}[31m\r in a message".into();
        let shown = Diagnostic::locate(Path::new("f.toml"), text, raw).to_string();
        assert!(
            !shown.chars().any(|c| text::is_hidden(c) && c != '\n'),
            "{shown:?}"
        );
        assert!(shown.contains("raw \\u{1b}[31m\\r in a message"), "{shown}");
        // The source line keeps one character per character, the caret stays aligned.
        assert!(shown.contains("1 | name = \"a\u{fffd}b\""), "{shown}");
        assert!(check_name("déploiement", 0..1, "flow name").is_ok());
        assert!(check_text("two\nlines", 0..1, "description").is_ok());
        assert!(check_text("a\u{1b}", 0..1, "description").is_err());
    }

    #[test]
    fn any_span_is_located_without_panic() {
        let text = "a = \"ä\"\r\nb = 2";
        for start in 0..text.len() + 3 {
            for end in 0..text.len() + 3 {
                let d =
                    Diagnostic::locate(Path::new("f"), text, Problem::new(start..end, "m", "h"));
                assert!(d.width >= 1);
                assert!(!d.source_line.ends_with('\r'));
            }
        }
    }

    #[test]
    fn messages_with_a_semicolon_split_into_message_and_help() {
        let p = Problem::split(0..1, "bad port; write it like \"x:1\"", "fallback");
        assert_eq!(
            (p.message.as_str(), p.help.as_str()),
            ("bad port", "write it like \"x:1\"")
        );
        let p = Problem::split(0..1, "bad port", "fallback");
        assert_eq!(p.help, "fallback");
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(edit_distance("ratee", "rate"), 1);
        assert_eq!(closest("ratee", ["rate", "users", "model"]), Some("rate"));
        assert_eq!(closest("Rate", ["rate", "users"]), Some("rate"));
        assert_eq!(closest("zzz", ["rate", "users"]), None);
        assert_eq!(
            backticked("unknown field `a`, expected `b`"),
            vec!["a", "b"]
        );
    }
}
