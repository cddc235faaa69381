//! Typed units used across scenarios, records and policies.
//!
//! Every unit validates itself while it is deserialised, so a bad value in a
//! scenario file is reported by the TOML parser with its exact line and column.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The longest span of time harness takes (a billion seconds, about 31.7 years): sums
/// of a few such spans (warmup + duration + drain, a deadline from now) never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(1_000_000_000);

/// A span of time written as a human string in files (`"250ms"`, `"30s"`, `"2m"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Parses `"250ms"`, `"1.5s"`, `"2m"`, `"1h 30m"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(
                "a duration cannot be empty; write it like \"250ms\", \"30s\" or \"2m\"".into(),
            );
        }
        // humantime does not accept fractions ("1.5s"); handle that common form here.
        if let Some(number) = fractional_seconds(trimmed) {
            let secs: f64 = number.parse().map_err(|_| {
                format!("`{text}` is not a duration; write it like \"250ms\", \"30s\" or \"2m\"")
            })?;
            if !(0.0..=MAX_DURATION.as_secs_f64()).contains(&secs) {
                return Err(too_long(text));
            }
            return Ok(Self(Duration::from_secs_f64(secs)));
        }
        let duration = humantime::parse_duration(trimmed).map_err(|e| {
            format!("`{text}` is not a duration ({e}); write it like \"250ms\", \"30s\" or \"2m\"")
        })?;
        if duration > MAX_DURATION {
            return Err(too_long(text));
        }
        Ok(Self(duration))
    }
}

fn too_long(text: &str) -> String {
    format!(
        "`{text}` is longer than the longest duration harness takes, {}",
        humantime::format_duration(MAX_DURATION)
    )
}

/// The number in `"1.5s"`: digits with one decimal point, then `s`.
fn fractional_seconds(text: &str) -> Option<&str> {
    let number = text.strip_suffix('s')?;
    let well_formed = number.contains('.')
        && number.chars().filter(|c| *c == '.').count() == 1
        && number.chars().all(|c| c.is_ascii_digit() || c == '.');
    well_formed.then_some(number)
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"250ms\", \"30s\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) has no unit; write the duration as a string such as \"{v}s\" or \"{v}ms\""
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) has no unit; write the duration as a string such as \"{v}s\""
                )))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A duration that must be greater than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NonZeroDuration(pub HumanDuration);

impl NonZeroDuration {
    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0.0
    }
}

impl<'de> Deserialize<'de> for NonZeroDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let d = HumanDuration::deserialize(deserializer)?;
        if d.0.is_zero() {
            return Err(de::Error::custom(
                "this duration must be greater than zero; write it like \"5s\"",
            ));
        }
        Ok(Self(d))
    }
}

/// Events per second; finite and greater than zero.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Rate(f64);

impl Rate {
    /// Largest rate a scenario may ask for, per second.
    pub const MAX: f64 = 10_000_000.0;

    /// A rate, if `per_second` is finite, positive and at most [`Rate::MAX`].
    pub fn new(per_second: f64) -> Result<Self, String> {
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(format!(
                "a rate must be a number of events per second greater than 0, got {per_second}; write e.g. `rate = 200`"
            ));
        }
        if per_second > Self::MAX {
            return Err(format!(
                "a rate of {per_second}/s is beyond the supported {}/s",
                Self::MAX
            ));
        }
        Ok(Self(per_second))
    }

    /// Events per second.
    pub fn per_second(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(deserializer)?;
        Rate::new(v).map_err(de::Error::custom)
    }
}

/// A probability in `0..=1`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Probability(f64);

impl Probability {
    /// A probability, if `p` lies in `0..=1`.
    pub fn new(p: f64) -> Result<Self, String> {
        if p.is_finite() && (0.0..=1.0).contains(&p) {
            Ok(Self(p))
        } else {
            Err(format!(
                "a probability must lie between 0 and 1, got {p}; write e.g. `probability = 0.3`"
            ))
        }
    }

    /// The value in `0..=1`.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(deserializer)?;
        Probability::new(v).map_err(de::Error::custom)
    }
}

/// A quantile in `0..1` (exclusive of 1 is not required: 1.0 is the maximum).
pub type Quantile = Probability;

#[cfg(test)]
mod tests {
    use super::*;

    /// Longer than a billion seconds is refused in both forms, so no sum of spans from a
    /// file (warmup + duration + drain, a deadline) can overflow.
    #[test]
    fn durations_past_the_longest_are_refused() {
        assert_eq!(
            HumanDuration::parse("1000000000s"),
            Ok(HumanDuration(MAX_DURATION))
        );
        for text in [
            "1000000001s",
            "18446744073709551615s",
            "1000000000.5s",
            "100y",
        ] {
            let error = HumanDuration::parse(text).expect_err(text);
            assert!(
                error.contains("longer than the longest duration"),
                "{error}"
            );
        }
    }

    #[test]
    fn durations_parse_common_forms() {
        assert_eq!(
            HumanDuration::parse("250ms").map(|d| d.0),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            HumanDuration::parse("30s").map(|d| d.0),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            HumanDuration::parse("2m").map(|d| d.0),
            Ok(Duration::from_secs(120))
        );
        assert_eq!(
            HumanDuration::parse("1.5s").map(|d| d.0),
            Ok(Duration::from_millis(1500))
        );
        assert!(HumanDuration::parse("fast").is_err());
        assert!(HumanDuration::parse("").is_err());
        assert!(HumanDuration::parse("-1s").is_err());
    }

    #[test]
    fn rates_and_probabilities_refuse_out_of_range_values() {
        assert!(Rate::new(0.0).is_err());
        assert!(Rate::new(-3.0).is_err());
        assert!(Rate::new(f64::NAN).is_err());
        assert!(Rate::new(200.0).is_ok());
        assert!(Probability::new(1.2).is_err());
        assert!(Probability::new(-0.1).is_err());
        assert!(Probability::new(0.3).is_ok());
    }
}
