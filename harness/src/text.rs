//! Text from input files on its way to a terminal: which characters a name may hold, and
//! how any text is made safe to print.
//!
//! Names come from files a person wrote (a scenario's flows, steps, checks and faults, a
//! plan's phases, a proxy file's faults) and end up in terminal tables, CI logs and
//! reports. A name must therefore print as itself: a character that moves the cursor
//! (ESC starts an ANSI sequence, CR returns to the start of the line), reorders what
//! follows (the bidirectional controls, e.g. U+202E RIGHT-TO-LEFT OVERRIDE) or does not
//! show at all (U+200B ZERO WIDTH SPACE, U+200D ZERO WIDTH JOINER, U+FEFF) would let a
//! file rewrite what a reader sees. Such characters are [hidden](is_hidden):
//!
//! - every control character (Unicode Cc: C0 including TAB, CR, LF and ESC, DEL, C1);
//! - every format character (Unicode Cf: the bidirectional marks, embeddings, overrides
//!   and isolates, U+061C, the zero-width characters, U+2060..U+206F, U+FEFF, the soft
//!   hyphen, the tag characters, ...);
//! - the line and paragraph separators U+2028 and U+2029.
//!
//! Printable letters of any script stay allowed ("déploiement", "ワークフロー").
//! [`check_name`] refuses any hidden character, [`check_text`] (descriptions, free
//! text) allows line breaks and tabs besides. Output goes through [`printable`] or
//! [`printable_lines`] all the same, which write a hidden character as a visible escape
//! (`\u{1b}`, `\r`), so text from a record or result file that was never validated
//! cannot reach a terminal raw either.
//!
//! Besides: [`label_value`] escapes a value for a quoted Prometheus label or PromQL
//! string, and [`some_of`] shortens a long list for a message.

use std::borrow::Cow;
use std::fmt;

/// The format characters (Unicode general category Cf, Unicode 15.1), as inclusive
/// ranges; U+2065 (unassigned, inside the invisible-operator block) is included.
const FORMAT: [(u32, u32); 21] = [
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0x2028, 0x2029),
];

/// `value` escaped for a double-quoted Prometheus label value or PromQL string: `\`,
/// `"` and line feeds (the exposition formats and PromQL read these three).
pub fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// How many of a list are shown by [`some_of`].
pub const LIST_SHOWN: usize = 10;

/// The first [`LIST_SHOWN`] of `total` items, then how many more: `1, 3` or
/// `0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 15 more` (for segment indexes missing, say).
pub fn some_of(items: impl IntoIterator<Item = impl fmt::Display>, total: usize) -> String {
    let shown: Vec<String> = items
        .into_iter()
        .take(LIST_SHOWN)
        .map(|i| i.to_string())
        .collect();
    match total.saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Whether `c` does not print as itself: a control character, a format character
/// (bidirectional controls, zero-width characters, ...) or a line or paragraph separator.
pub fn is_hidden(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    let n = u32::from(c);
    n >= 0xAD && FORMAT.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n))
}

/// The first hidden character of a string: which, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hidden {
    /// The character.
    pub ch: char,
    /// Its 1-based position in characters.
    pub position: usize,
    /// Its byte offset in the string.
    pub offset: usize,
}

impl fmt::Display for Hidden {
    /// `U+001B (ESC, a control character) at character 5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = u32::from(self.ch);
        let kind = kind(self.ch);
        match short_name(self.ch) {
            Some(name) => write!(f, "U+{code:04X} ({name}, {kind})")?,
            None => write!(f, "U+{code:04X} ({kind})")?,
        }
        write!(f, " at character {}", self.position)
    }
}

/// What kind of hidden character `c` is, for messages.
fn kind(c: char) -> &'static str {
    match u32::from(c) {
        0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => "a bidirectional control",
        0x2028 | 0x2029 => "a line break",
        _ if c.is_control() => "a control character",
        _ => "an invisible format character",
    }
}

/// The usual abbreviation of the hidden characters people meet most.
fn short_name(c: char) -> Option<&'static str> {
    Some(match u32::from(c) {
        0x00 => "NUL",
        0x07 => "BEL",
        0x08 => "BS",
        0x09 => "TAB",
        0x0A => "LF",
        0x0B => "VT",
        0x0C => "FF",
        0x0D => "CR",
        0x1B => "ESC",
        0x7F => "DEL",
        0x85 => "NEL",
        0x9B => "CSI",
        0xAD => "SOFT HYPHEN",
        0x061C => "ALM",
        0x200B => "ZERO WIDTH SPACE",
        0x200C => "ZWNJ",
        0x200D => "ZWJ",
        0x200E => "LRM",
        0x200F => "RLM",
        0x2028 => "LINE SEPARATOR",
        0x2029 => "PARAGRAPH SEPARATOR",
        0x202A => "LRE",
        0x202B => "RLE",
        0x202C => "PDF",
        0x202D => "LRO",
        0x202E => "RLO",
        0x2060 => "WORD JOINER",
        0x2066 => "LRI",
        0x2067 => "RLI",
        0x2068 => "FSI",
        0x2069 => "PDI",
        0xFEFF => "BOM",
        _ => return None,
    })
}

/// The first character of `s` that `allowed` does not let through and that is hidden.
fn first_hidden(s: &str, allowed: impl Fn(&str, usize, char) -> bool) -> Result<(), Hidden> {
    match s
        .char_indices()
        .enumerate()
        .find(|(_, (offset, c))| is_hidden(*c) && !allowed(s, *offset, *c))
    {
        None => Ok(()),
        Some((index, (offset, ch))) => Err(Hidden {
            ch,
            position: index + 1,
            offset,
        }),
    }
}

/// A name prints as itself: no hidden character at all.
pub fn check_name(s: &str) -> Result<(), Hidden> {
    first_hidden(s, |_, _, _| false)
}

/// Free text (a description, a rollback action, a hook command) may also break lines and
/// hold tabs: LF, TAB and a CR right before an LF are allowed, no other hidden character.
pub fn check_text(s: &str) -> Result<(), Hidden> {
    first_hidden(s, |s, offset, c| match c {
        '\n' | '\t' => true,
        '\r' => s[offset + 1..].starts_with('\n'),
        _ => false,
    })
}

/// `s` with every hidden character written as a visible escape (`\n`, `\r`, `\t`,
/// `\u{1b}`, `\u{202e}`): for one line of terminal or CI-log output. Borrowed when there
/// is nothing to escape.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Like [`printable`], but line breaks (LF) are kept: for output of several lines, such
/// as a rendered table.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_lines: bool) -> Cow<'_, str> {
    let keep = |c: char| !is_hidden(c) || (keep_lines && c == '\n');
    if s.chars().all(keep) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            c if keep(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                use fmt::Write as _;
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bidi_and_invisible_characters_are_hidden() {
        for c in [
            '\0',
            '\u{1b}',
            '\r',
            '\n',
            '\t',
            '\u{7f}',
            '\u{85}',
            '\u{9b}',
            '\u{ad}',
            '\u{61c}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2028}',
            '\u{2029}',
            '\u{2060}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0041}',
        ] {
            assert!(is_hidden(c), "U+{:04X}", u32::from(c));
        }
        for c in [
            'a', 'é', 'ワ', ' ', '-', '/', '→', '😀', '\u{a0}', '\u{301}', '\u{fffd}',
        ] {
            assert!(!is_hidden(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn names_refuse_every_hidden_character_and_say_which_and_where() {
        assert_eq!(check_name("execute-and-poll"), Ok(()));
        assert_eq!(check_name("déploiement"), Ok(()));
        assert_eq!(check_name("ワークフロー"), Ok(()));
        assert_eq!(check_name("with spaces / and: punctuation"), Ok(()));
        let ansi = check_name("red\u{1b}[31m").expect_err("ESC");
        assert_eq!((ansi.ch, ansi.position, ansi.offset), ('\u{1b}', 4, 3));
        assert_eq!(
            ansi.to_string(),
            "U+001B (ESC, a control character) at character 4"
        );
        let crlf = check_name("a\r\nb").expect_err("CR");
        assert_eq!(
            crlf.to_string(),
            "U+000D (CR, a control character) at character 2"
        );
        let rlo = check_name("é\u{202e}txt.exe").expect_err("RLO");
        assert_eq!((rlo.position, rlo.offset), (2, 2));
        assert_eq!(
            rlo.to_string(),
            "U+202E (RLO, a bidirectional control) at character 2"
        );
        let zwj = check_name("a\u{200d}b").expect_err("ZWJ");
        assert_eq!(
            zwj.to_string(),
            "U+200D (ZWJ, an invisible format character) at character 2"
        );
        let tag = check_name("x\u{e0041}").expect_err("tag");
        assert_eq!(
            tag.to_string(),
            "U+E0041 (an invisible format character) at character 2"
        );
        assert!(check_name("tab\there").is_err());
        assert!(check_name("line\u{2028}break").is_err());
    }

    #[test]
    fn text_also_allows_line_breaks_and_tabs() {
        assert_eq!(check_text("one\ntwo\r\nthree\tfour"), Ok(()));
        assert_eq!(check_text("déploiement\n"), Ok(()));
        assert_eq!(
            check_text("a\rb").expect_err("lone CR").position,
            2,
            "a lone CR returns the cursor"
        );
        assert!(check_text("a\r").is_err());
        assert!(check_text("\u{1b}[2J").is_err());
        assert!(check_text("a\u{202e}b").is_err());
    }

    #[test]
    fn printable_escapes_what_is_hidden_and_borrows_otherwise() {
        assert!(matches!(printable("déploiement ワ"), Cow::Borrowed(_)));
        assert_eq!(printable("red\u{1b}[31m"), "red\\u{1b}[31m");
        assert_eq!(printable("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(printable("\u{202e}exe.txt"), "\\u{202e}exe.txt");
        assert_eq!(printable("a\u{200d}b\u{feff}"), "a\\u{200d}b\\u{feff}");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable_lines("a\nb\u{1b}\r\n"), "a\nb\\u{1b}\\r\n");
        assert!(matches!(printable_lines("a\nb"), Cow::Borrowed(_)));
        // Whatever the input, the output has no hidden character left (lines kept).
        let all: String = (0u32..0x3000)
            .chain(0xE0000..0xE0080)
            .filter_map(char::from_u32)
            .collect();
        assert!(!printable(&all).chars().any(is_hidden));
        assert!(
            !printable_lines(&all)
                .chars()
                .any(|c| is_hidden(c) && c != '\n')
        );
    }

    #[test]
    fn some_of_a_long_list_says_how_many_more() {
        assert_eq!(some_of([1, 3], 2), "1, 3");
        assert_eq!(
            some_of(0..25, 25),
            "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 15 more"
        );
        assert_eq!(
            some_of(0..u32::MAX, u32::MAX as usize),
            format!("0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and {} more", u32::MAX - 10)
        );
    }
}
