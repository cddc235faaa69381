//! An export as OpenMetrics text, and the file node_exporter's textfile collector reads.
//!
//! One family per series name, in the order first built: `# HELP`, `# TYPE name gauge`,
//! its samples; label values escaped (`\\`, `\"`, `\n`); values in Rust's shortest
//! round-trip form, `NaN`, `+Inf` and `-Inf` as the format spells them; `# EOF` last.
//!
//! The same text is also the Prometheus text format 0.0.4 that the textfile collector
//! parses (it reads `# EOF` as a comment), with one exception: the collector refuses a
//! whole file whose samples carry timestamps, so the file is written
//! [`Timestamps::Omit`] and the collector stamps the samples when it is scraped.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::{Export, help};
use crate::atomic_file::{self, Existing};

/// Whether the samples carry the export's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamps {
    /// No timestamps: what node_exporter's textfile collector accepts.
    Omit,
    /// The export's time, in seconds with milliseconds, after each value.
    Include,
}

/// `export` as OpenMetrics text.
pub fn render(export: &Export, timestamps: Timestamps) -> String {
    let mut families: Vec<&str> = Vec::new();
    for sample in &export.samples {
        if !families.contains(&sample.name.as_str()) {
            families.push(&sample.name);
        }
    }
    let stamp = match timestamps {
        Timestamps::Omit => String::new(),
        Timestamps::Include => format!(" {}", seconds(export.timestamp_ms)),
    };
    let mut out = String::new();
    for family in families {
        if let Some(text) = help(family) {
            let _ = writeln!(out, "# HELP {family} {}", escape_help(text));
        }
        let _ = writeln!(out, "# TYPE {family} gauge");
        for sample in export.samples.iter().filter(|s| s.name == family) {
            out.push_str(family);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (name, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{name}=\"{}\"", crate::text::label_value(value));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}{stamp}", number(sample.value));
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Writes `export` to `file` for node_exporter's textfile collector: without timestamps,
/// atomically (the collector never reads half a file; its temp file is hidden and does
/// not end in `.prom`), replacing what was there.
pub fn write_textfile(file: &Path, export: &Export) -> io::Result<()> {
    let text = render(export, Timestamps::Omit);
    atomic_file::write(file, text.as_bytes(), Existing::Replace)
}

/// Help text with `\` and line feeds escaped (both formats read these two).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A value as the format spells it: shortest round-trip decimal, `NaN`, `+Inf`, `-Inf`.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        // Debug is the shortest form that reads back to the same f64 (`1.0`, `1e-7`).
        format!("{value:?}")
    }
}

/// Milliseconds since the epoch as seconds with three decimals, exactly.
fn seconds(ms: i64) -> String {
    let (whole, rest) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    format!("{whole}.{rest:03}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Sample;
    use crate::metrics::exposition::Exposition;

    fn export() -> Export {
        let sample = |name: &str, labels: &[(&str, &str)], value: f64| Sample {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        };
        Export {
            timestamp_ms: 1_700_000_000_042,
            samples: vec![
                sample("harness_verdict_code", &[("scenario", "a")], 2.0),
                sample("harness_row_estimate", &[("scenario", "a")], 1.25),
                sample(
                    "harness_verdict_code",
                    &[("scenario", "back\\slash \"quoted\"\nline")],
                    0.0,
                ),
                sample("harness_row_low", &[], f64::NAN),
                sample("harness_row_high", &[], f64::INFINITY),
                sample("harness_row_base", &[], f64::NEG_INFINITY),
                sample("harness_row_candidate", &[], 1e-7),
            ],
        }
    }

    #[test]
    fn families_are_grouped_escaped_and_end_with_eof() {
        let text = render(&export(), Timestamps::Omit);
        let expected = r#"# HELP harness_verdict_code The verdict of a scenario: 0 GO, 1 INCONCLUSIVE, 2 NO-GO, 3 ROLLBACK
# TYPE harness_verdict_code gauge
harness_verdict_code{scenario="a"} 2.0
harness_verdict_code{scenario="back\\slash \"quoted\"\nline"} 0.0
"#;
        assert!(text.starts_with(expected), "{text}");
        assert!(text.contains("harness_row_low NaN\n"));
        assert!(text.contains("harness_row_high +Inf\n"));
        assert!(text.contains("harness_row_base -Inf\n"));
        assert!(text.contains("harness_row_candidate 1e-7\n"));
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text.matches("# TYPE harness_verdict_code").count(), 1);
    }

    #[test]
    fn timestamps_are_seconds_and_only_when_asked() {
        let with = render(&export(), Timestamps::Include);
        assert!(with.contains("harness_verdict_code{scenario=\"a\"} 2.0 1700000000.042\n"));
        let without = render(&export(), Timestamps::Omit);
        for line in without.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line
                .rsplit_once('}')
                .unwrap_or_else(|| line.split_once(' ').expect("a name and a value"));
            assert_eq!(value.split_whitespace().count(), 1, "{line}");
        }
        assert_eq!(seconds(-1), "-1.999");
        assert_eq!(seconds(5), "0.005");
    }

    #[test]
    fn the_projects_own_parser_reads_back_every_value_and_label() {
        let e = export();
        for timestamps in [Timestamps::Omit, Timestamps::Include] {
            let parsed = Exposition::parse(&render(&e, timestamps)).expect("parses");
            assert_eq!(parsed.samples.len(), e.samples.len());
            for original in &e.samples {
                let back = parsed
                    .samples
                    .iter()
                    .find(|s| s.name == original.name && s.labels == original.labels)
                    .unwrap_or_else(|| panic!("{original:?} read back"));
                assert!(
                    back.value.to_bits() == original.value.to_bits()
                        || (back.value.is_nan() && original.value.is_nan()),
                    "{original:?} read back as {}",
                    back.value
                );
            }
        }
    }

    #[test]
    fn shortest_round_trip_numbers() {
        for v in [0.1, 1.0 / 3.0, 123_456_789.125, 1e300, -2.5e-12, 0.0] {
            assert_eq!(number(v).parse::<f64>().expect("reads"), v);
        }
        assert_eq!(number(3.0), "3.0");
    }

    #[test]
    fn the_textfile_is_written_atomically_without_timestamps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("textfile").join("harness.prom");
        write_textfile(&file, &export()).expect("written");
        let text = std::fs::read_to_string(&file).expect("read");
        assert_eq!(text, render(&export(), Timestamps::Omit));
        let names: Vec<_> = std::fs::read_dir(file.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("harness.prom")]);
    }
}
