//! The environment a run was measured in, reduced to stable fields, and its fingerprint:
//! two records compare only when their fingerprints agree.
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

    /// Hex SHA-256 of the stable fields; equal fingerprints mean the same environment.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        // Field name and length prefixes keep the encoding unambiguous ("ab"+"c" != "a"+"bc").
        let cores = self.logical_cores.to_string();
        for (name, value) in [
            ("os", self.os.as_str()),
            ("arch", self.arch.as_str()),
            ("kernel", self.kernel.as_str()),
            ("cpu_model", self.cpu_model.as_str()),
            ("logical_cores", cores.as_str()),
            ("harness_version", self.harness_version.as_str()),
        ] {
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
    fn cpu_model_reads_the_first_model_name() {
        let text = "processor\t: 0\nvendor_id\t: X\nmodel name\t: Example  CPU @ 3.00GHz\n\nprocessor\t: 1\nmodel name\t: Example  CPU @ 3.00GHz\n";
        assert_eq!(cpu_model(text).as_deref(), Some("Example CPU @ 3.00GHz"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }
}
