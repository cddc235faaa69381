//! The environment a run was measured in, reduced to stable fields, and its fingerprint:
//! two records compare only when their fingerprints agree.
//!
//! Every field invalidates a comparison of records made on different machines, because
//! each moves latency by more than the effects a gate must detect: the OS, architecture
//! and kernel set the cost of every syscall, socket and wake-up (a kernel upgrade alone
//! can move loopback p99 by tens of percent); the CPU model and the cores available set
//! the service's and the generator's speed; the harness version sets how the load is
//! generated and measured. So a stored baseline from another machine is never compared
//! with a run made now: when the base path is measured live in the same compare, the
//! decision is made on that live, interleaved pair and the baseline is only context; with
//! no live pair the comparison is INCONCLUSIVE, naming the fields that changed
//! ([`Environment::changes`]).
//!
//! Only facts about the machine and the harness are kept (OS, architecture, kernel release,
//! CPU model, logical cores, harness version). Nothing that could be a secret or identify a
//! person is read: no environment variables, no host name, no user name.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Stable facts about the machine and the harness that ran a measurement.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Environment {
    /// Operating system (`linux`, `macos`, ...).
    pub os: String,
    /// CPU architecture (`x86_64`, `aarch64`, ...).
    pub arch: String,
    /// Kernel release (`/proc/sys/kernel/osrelease`), `unknown` elsewhere.
    pub kernel: String,
    /// CPU model name (`/proc/cpuinfo`), `unknown` elsewhere.
    pub cpu_model: String,
    /// Logical cores this process may use (respects CPU affinity and cgroup quotas).
    pub logical_cores: u32,
    /// Version of the harness that measured.
    pub harness_version: String,
}

/// Placeholder for a fact that cannot be read on this platform.
const UNKNOWN: &str = "unknown";

impl Environment {
    /// Reads the environment of the current process.
    pub fn detect() -> Self {
        Self {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease")
                .unwrap_or_else(|| UNKNOWN.to_owned()),
            cpu_model: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|text| cpu_model(&text))
                .unwrap_or_else(|| UNKNOWN.to_owned()),
            logical_cores: std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                .unwrap_or(1),
            harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The compared fields, by name, in a fixed order.
    pub fn fields(&self) -> [(&'static str, String); 6] {
        [
            ("os", self.os.clone()),
            ("arch", self.arch.clone()),
            ("kernel", self.kernel.clone()),
            ("cpu_model", self.cpu_model.clone()),
            ("logical_cores", self.logical_cores.to_string()),
            ("harness_version", self.harness_version.clone()),
        ]
    }

    /// The fields that differ from `this` (self) to `to`, in field order.
    pub fn changes(&self, to: &Environment) -> Vec<EnvironmentChange> {
        self.fields()
            .into_iter()
            .zip(to.fields())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((field, before), (_, after))| EnvironmentChange {
                field,
                before,
                after,
            })
            .collect()
    }

    /// The changes to `to` for people: `kernel 6.1.0 → 6.8.0; logical_cores 8 → 2`, or
    /// `no field differs` when the environments are the same.
    pub fn describe_changes(&self, to: &Environment) -> String {
        let changes = self.changes(to);
        if changes.is_empty() {
            return "no field differs".to_owned();
        }
        changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Hex SHA-256 of the stable fields; equal fingerprints mean the same environment.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        // Field name and length prefixes keep the encoding unambiguous ("ab"+"c" != "a"+"bc").
        for (name, value) in self.fields() {
            hasher.update(name.as_bytes());
            hasher.update((value.len() as u64).to_be_bytes());
            hasher.update(value.as_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// One field that differs between two environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentChange {
    /// The field (`kernel`, `cpu_model`, ...).
    pub field: &'static str,
    /// Its value in the first environment.
    pub before: String,
    /// Its value in the second.
    pub after: String,
}

impl std::fmt::Display for EnvironmentChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plain = |v: &str| !v.is_empty() && !v.contains(char::is_whitespace);
        if plain(&self.before) && plain(&self.after) {
            write!(f, "{} {} → {}", self.field, self.before, self.after)
        } else {
            write!(f, "{} `{}` → `{}`", self.field, self.before, self.after)
        }
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The first `model name` of a `/proc/cpuinfo` text, whitespace collapsed.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.split_whitespace().collect::<Vec<_>>().join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Environment {
        Environment {
            os: "linux".into(),
            arch: "x86_64".into(),
            kernel: "6.1.0".into(),
            cpu_model: "Example CPU @ 3.00GHz".into(),
            logical_cores: 8,
            harness_version: "0.1.0".into(),
        }
    }

    #[test]
    fn detect_fills_every_field() {
        let env = Environment::detect();
        assert!(!env.os.is_empty() && !env.arch.is_empty());
        assert!(!env.kernel.is_empty() && !env.cpu_model.is_empty());
        assert!(env.logical_cores >= 1);
        assert_eq!(env.harness_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(env.fingerprint(), Environment::detect().fingerprint());
    }

    #[test]
    fn fingerprint_is_hex_sha256_and_changes_with_any_field() {
        let base = sample();
        let print = base.fingerprint();
        assert_eq!(print.len(), 64);
        assert!(print.chars().all(|c| c.is_ascii_hexdigit()));
        let variants = [
            Environment {
                kernel: "6.1.1".into(),
                ..sample()
            },
            Environment {
                logical_cores: 4,
                ..sample()
            },
            Environment {
                cpu_model: "Other".into(),
                ..sample()
            },
            Environment {
                harness_version: "0.2.0".into(),
                ..sample()
            },
            Environment {
                os: "linu".into(),
                arch: "xx86_64".into(),
                ..sample()
            },
        ];
        for v in variants {
            assert_ne!(v.fingerprint(), print, "{v:?}");
        }
    }

    #[test]
    fn changes_name_each_differing_field_in_order() {
        let after = Environment {
            kernel: "6.8.0".into(),
            logical_cores: 2,
            ..sample()
        };
        assert_eq!(
            sample().describe_changes(&after),
            "kernel 6.1.0 → 6.8.0; logical_cores 8 → 2"
        );
        let other_cpu = Environment {
            cpu_model: "AMD EPYC 7763".into(),
            ..sample()
        };
        assert_eq!(
            sample().describe_changes(&other_cpu),
            "cpu_model `Example CPU @ 3.00GHz` → `AMD EPYC 7763`"
        );
        assert_eq!(sample().describe_changes(&sample()), "no field differs");
        assert!(sample().changes(&sample()).is_empty());
    }

    #[test]
    fn cpu_model_reads_the_first_model_name() {
        let text = "processor\t: 0\nvendor_id\t: X\nmodel name\t: Example  CPU @ 3.00GHz\n\nprocessor\t: 1\nmodel name\t: Example  CPU @ 3.00GHz\n";
        assert_eq!(cpu_model(text).as_deref(), Some("Example CPU @ 3.00GHz"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }
}
