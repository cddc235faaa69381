//! `[parity]`: the format of functional parity between the base and the candidate path.
//!
//! ```toml
//! [parity]
//! samples = 100                    # sampled iterations, in a pass of their own
//! rate = 20                        # iterations per second of that pass
//! ignore = ["/created_at", "/items/*/id"]   # JSON pointers; `*` is any one segment
//! unordered = ["/steps"]           # arrays compared as multisets
//! critical = ["/artifacts"]        # a difference here is ROLLBACK
//! missing_is_critical = true       # a field the candidate lacks is ROLLBACK (default)
//! headers = ["content-type"]       # answer headers compared besides status and body
//! redact = ["/token"]              # values never shown in examples
//! min_samples = 30                 # GO needs this many compared samples per step
//! margin = 0.0                     # GO when differences beyond noise are proven ≤ this rate
//! ```

use serde::Deserialize;
use serde_spanned::Spanned;

use super::error::Problem;

/// `[parity]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawParity {
    pub samples: Option<Spanned<i64>>,
    pub rate: Option<Spanned<f64>>,
    #[serde(default)]
    pub ignore: Vec<Spanned<String>>,
    #[serde(default)]
    pub unordered: Vec<Spanned<String>>,
    #[serde(default)]
    pub critical: Vec<Spanned<String>>,
    pub missing_is_critical: Option<bool>,
    #[serde(default)]
    pub headers: Vec<Spanned<String>>,
    #[serde(default)]
    pub redact: Vec<Spanned<String>>,
    pub min_samples: Option<Spanned<i64>>,
    pub margin: Option<Spanned<f64>>,
}

/// Functional parity: how the base and the candidate path's answers are compared.
#[derive(Debug, Clone, PartialEq)]
pub struct ParitySpec {
    /// Sampled iterations (each flow's steps on base twice and candidate once).
    pub samples: u32,
    /// Iterations per second of the parity pass.
    pub rate: f64,
    /// Fields never compared.
    pub ignore: Vec<PointerGlob>,
    /// Arrays compared as multisets.
    pub unordered: Vec<PointerGlob>,
    /// Fields whose difference is a critical functionality failure (ROLLBACK).
    pub critical: Vec<PointerGlob>,
    /// A field the candidate lacks is critical.
    pub missing_is_critical: bool,
    /// Answer headers compared (lower case).
    pub headers: Vec<String>,
    /// Fields whose values never appear in examples.
    pub redact: Vec<PointerGlob>,
    /// Compared samples a step needs before it can be GO.
    pub min_samples: u32,
    /// The rate of differences beyond noise a GO tolerates (proven by the interval's upper
    /// bound); 0 means none at all.
    pub margin: f64,
}

impl Default for ParitySpec {
    fn default() -> Self {
        Self {
            samples: 100,
            rate: 20.0,
            ignore: Vec::new(),
            unordered: Vec::new(),
            critical: Vec::new(),
            missing_is_critical: true,
            headers: Vec::new(),
            redact: Vec::new(),
            min_samples: 30,
            margin: 0.0,
        }
    }
}

/// A JSON pointer whose segments may be `*` (any one segment): `/items/*/id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerGlob {
    text: String,
    segments: Vec<String>,
}

impl PointerGlob {
    /// Parses `/a/*/b` (RFC 6901 escapes `~0` and `~1` apply; the empty pointer is the
    /// whole answer).
    pub fn parse(text: &str) -> Result<Self, String> {
        if !(text.is_empty() || text.starts_with('/')) {
            return Err(format!("`{text}` is not a JSON pointer"));
        }
        Ok(Self {
            text: text.to_string(),
            segments: split_pointer(text),
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the concrete pointer `segments` is this glob or lies below it.
    pub fn covers(&self, segments: &[String]) -> bool {
        segments.len() >= self.segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(glob, seg)| glob == "*" || glob == seg)
    }

    /// Whether the concrete pointer `segments` is exactly this glob.
    pub fn matches(&self, segments: &[String]) -> bool {
        segments.len() == self.segments.len() && self.covers(segments)
    }
}

/// The unescaped segments of a JSON pointer.
pub fn split_pointer(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

impl RawParity {
    /// The validated spec; errors are located at the offending value.
    pub(crate) fn check(&self) -> Result<ParitySpec, Problem> {
        let defaults = ParitySpec::default();
        let count = |v: &Option<Spanned<i64>>, what: &str, default: u32| match v {
            None => Ok(default),
            Some(n) => u32::try_from(*n.get_ref())
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Problem::new(
                        n.span(),
                        format!("`{what}` must be a positive whole number"),
                        format!("e.g. `{what} = {default}`"),
                    )
                }),
        };
        let samples = count(&self.samples, "samples", defaults.samples)?;
        let min_samples = count(&self.min_samples, "min_samples", defaults.min_samples)?;
        let rate = match &self.rate {
            None => defaults.rate,
            Some(r) if (0.01..=10_000.0).contains(r.get_ref()) => *r.get_ref(),
            Some(r) => {
                return Err(Problem::new(
                    r.span(),
                    "`rate` must be between 0.01 and 10000 iterations per second",
                    "e.g. `rate = 20`",
                ));
            }
        };
        let margin = match &self.margin {
            None => defaults.margin,
            Some(m) if (0.0..1.0).contains(m.get_ref()) => *m.get_ref(),
            Some(m) => {
                return Err(Problem::new(
                    m.span(),
                    "`margin` is a rate of differences, from 0 up to (not including) 1",
                    "e.g. `margin = 0.01` tolerates one answer in a hundred differing",
                ));
            }
        };
        let globs = |list: &[Spanned<String>], key: &str| -> Result<Vec<PointerGlob>, Problem> {
            list.iter()
                .map(|p| {
                    PointerGlob::parse(p.get_ref()).map_err(|why| {
                        Problem::new(
                            p.span(),
                            format!("{why} in `{key}`"),
                            "write a JSON pointer from the answer's root, e.g. `/created_at` or `/items/*/id`",
                        )
                    })
                })
                .collect()
        };
        let mut headers = Vec::new();
        for h in &self.headers {
            if http::HeaderName::from_bytes(h.get_ref().as_bytes()).is_err() {
                return Err(Problem::new(
                    h.span(),
                    format!("`{}` is not a header name", h.get_ref()),
                    "e.g. `headers = [\"content-type\"]`",
                ));
            }
            headers.push(h.get_ref().to_ascii_lowercase());
        }
        Ok(ParitySpec {
            samples,
            rate,
            ignore: globs(&self.ignore, "ignore")?,
            unordered: globs(&self.unordered, "unordered")?,
            critical: globs(&self.critical, "critical")?,
            missing_is_critical: self.missing_is_critical.unwrap_or(true),
            headers,
            redact: globs(&self.redact, "redact")?,
            min_samples,
            margin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        split_pointer(p)
    }

    #[test]
    fn globs_match_one_segment_per_star_and_cover_what_lies_below() {
        let g = PointerGlob::parse("/items/*/id").expect("glob");
        assert!(g.matches(&segs("/items/3/id")));
        assert!(!g.matches(&segs("/items/3/name")));
        assert!(g.covers(&segs("/items/3/id/extra")));
        assert!(!g.covers(&segs("/items")));
        let escaped = PointerGlob::parse("/a~1b/~0c").expect("glob");
        assert!(escaped.matches(&["a/b".to_string(), "~c".to_string()]));
        assert!(PointerGlob::parse("created_at").is_err());
        assert!(PointerGlob::parse("").expect("root").covers(&segs("/x")));
    }
}
