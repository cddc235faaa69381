//! Byte counts written as humans write them (`1024`, `"64KiB"`, `"1.5MB"`), for
//! bandwidth rates and data limits of faults.
//!
//! Decimal units (`kB`, `MB`, `GB`) are powers of 1000 and binary units (`KiB`, `MiB`,
//! `GiB`) powers of 1024, as in IEC 80000-13; units are case-insensitive because a fault
//! file is no place to argue about `kb` versus `kB`. A trailing `/s` is accepted so that
//! `rate = "64KiB/s"` reads naturally.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A number of bytes, parsed from an integer or a string with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const UNITS: [(&str, u64); 8] = [
    ("", 1),
    ("b", 1),
    ("kb", 1_000),
    ("kib", 1 << 10),
    ("mb", 1_000_000),
    ("mib", 1 << 20),
    ("gb", 1_000_000_000),
    ("gib", 1 << 30),
];

impl ByteSize {
    /// The number of bytes.
    pub fn get(self) -> u64 {
        self.0
    }

    /// Parses `"1024"`, `"64KiB"`, `"1.5 MB"`, `"10kb/s"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hint = "write it like 1024, \"64KiB\" or \"1MB\"";
        let trimmed = text.trim();
        let trimmed = trimmed.strip_suffix("/s").unwrap_or(trimmed).trim_end();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        if number.is_empty() {
            return Err(format!("`{text}` is not a byte size; {hint}"));
        }
        let unit = unit.trim().to_ascii_lowercase();
        let Some((_, factor)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}`; use B, kB, KiB, MB, MiB, GB or GiB ({hint})"
            ));
        };
        if let Ok(whole) = number.parse::<u64>() {
            return whole
                .checked_mul(*factor)
                .map(Self)
                .ok_or_else(|| format!("`{text}` is too large for a byte size"));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a byte size; {hint}"))?;
        let bytes = (value * *factor as f64).round();
        // 2^64 is exactly representable, so this bound keeps the cast below lossless.
        if !(0.0..18_446_744_073_709_551_616.0).contains(&bytes) {
            return Err(format!("`{text}` is too large for a byte size"));
        }
        Ok(Self(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The largest binary unit that divides exactly keeps the text round-trippable.
        for (name, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= factor && self.0.is_multiple_of(factor) {
                return write!(f, "{}{name}", self.0 / factor);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count such as 1024, \"64KiB\" or \"1MB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("a byte count cannot be negative, got {v}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_decimal_and_binary_units() {
        assert_eq!(ByteSize::parse("1024"), Ok(ByteSize(1024)));
        assert_eq!(ByteSize::parse("12B"), Ok(ByteSize(12)));
        assert_eq!(ByteSize::parse("64KiB"), Ok(ByteSize(65_536)));
        assert_eq!(ByteSize::parse("64kib"), Ok(ByteSize(65_536)));
        assert_eq!(ByteSize::parse("2kB"), Ok(ByteSize(2_000)));
        assert_eq!(ByteSize::parse("1.5 MB"), Ok(ByteSize(1_500_000)));
        assert_eq!(ByteSize::parse("1MiB/s"), Ok(ByteSize(1 << 20)));
        assert_eq!(ByteSize::parse("3GiB"), Ok(ByteSize(3 << 30)));
    }

    #[test]
    fn refuses_nonsense_with_a_hint() {
        for bad in [
            "",
            "KiB",
            "fast",
            "12 parsecs",
            "-3",
            "1.2.3kB",
            "99999999999GiB",
        ] {
            let err = ByteSize::parse(bad).expect_err(bad);
            assert!(err.contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for n in [0, 1, 1000, 1024, 65_536, 3 << 20, 5 << 30, 1025] {
            let text = ByteSize(n).to_string();
            assert_eq!(ByteSize::parse(&text), Ok(ByteSize(n)), "{text}");
        }
    }
}
