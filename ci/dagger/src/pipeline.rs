//! What to run: the gate pipeline as plain data, apart from the SDK that runs it.
//!
//! [`PipelineSpec::for_gate`] is a pure function of the [`GatePlan`] and a run id, so the
//! image, mounts, caches, environment and commands are unit-tested here and the contract
//! tests only need to check that [`crate::runner`] sends this spec to the engine intact.

use std::fmt;

use crate::plan::GatePlan;

/// The build image: Debian bookworm with the current stable Rust toolchain.
pub const RUST_IMAGE: &str = "rust:1-bookworm";
/// The cache volume holding crates.io downloads across runs.
pub const REGISTRY_CACHE: &str = "harness-cargo-registry";
/// The cache volume holding `target/` across runs, so a rebuild is incremental.
pub const TARGET_CACHE: &str = "harness-cargo-target";
/// Where the source is mounted, and the working directory of every step.
pub const WORKDIR: &str = "/src";
/// What is not uploaded: build output, old reports and history are large and the gate
/// does not read them (reports/ would otherwise be exported back onto itself).
pub const SOURCE_EXCLUDES: [&str; 3] = ["target/", "reports/", ".git/"];
/// The environment variable that makes each gate run distinct to the engine's cache.
pub const RUN_ID_VAR: &str = "HARNESS_GATE_RUN_ID";

/// The whole pipeline: one container, built up step by step, then one export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSpec {
    /// The image the container starts from.
    pub image: String,
    /// The host directory mounted as the source tree.
    pub source: SourceMount,
    /// Cache volumes mounted into the container.
    pub caches: Vec<CacheMount>,
    /// The working directory of every step.
    pub workdir: String,
    /// Environment for every step.
    pub env: Vec<EnvVar>,
    /// Steps that must succeed; a failure stops the pipeline with an error.
    pub build_steps: Vec<ExecStep>,
    /// The last step; its exit code is the verdict and never fails the pipeline.
    pub verdict_step: ExecStep,
    /// The directory copied back to the host after the verdict step.
    pub export: ReportExport,
}

/// A host directory mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMount {
    /// Absolute host path.
    pub host_path: String,
    /// Mount point in the container.
    pub mount_path: String,
    /// Patterns not uploaded.
    pub exclude: Vec<String>,
}

/// A named cache volume mounted at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMount {
    /// The cache volume's key; the same key shares the cache across runs.
    pub key: String,
    /// Mount point in the container.
    pub path: String,
}

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// One command run in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecStep {
    /// Variables set just before this step (and so for every later one).
    pub env: Vec<EnvVar>,
    /// The argv, run without a shell.
    pub args: Vec<String>,
}

/// A container directory exported to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportExport {
    /// The directory in the container.
    pub container_path: String,
    /// The absolute host directory; existing files are kept, new ones added.
    pub host_path: String,
}

impl PipelineSpec {
    /// The gate pipeline for `plan`; `run_id` keeps the engine from replaying a cached
    /// verdict for an unchanged source tree (a gate measures the system now).
    pub fn for_gate(plan: &GatePlan, run_id: &str) -> Self {
        Self {
            image: RUST_IMAGE.into(),
            source: SourceMount {
                host_path: plan.source.clone(),
                mount_path: WORKDIR.into(),
                exclude: SOURCE_EXCLUDES.iter().map(|&p| p.into()).collect(),
            },
            caches: vec![
                CacheMount {
                    key: REGISTRY_CACHE.into(),
                    // CARGO_HOME of the official rust images is /usr/local/cargo.
                    path: "/usr/local/cargo/registry".into(),
                },
                CacheMount {
                    key: TARGET_CACHE.into(),
                    path: format!("{WORKDIR}/target"),
                },
            ],
            workdir: WORKDIR.into(),
            env: vec![var("CARGO_TERM_COLOR", "never")],
            build_steps: vec![
                step(&["cargo", "build", "--release", "-p", "harness"]),
                // The gate may exit before writing a report (bad plan): the export then
                // still finds the directory instead of failing on a missing path.
                step(&["mkdir", "-p", "reports"]),
            ],
            verdict_step: ExecStep {
                // Set only before the gate, so the build step stays cacheable.
                env: vec![var(RUN_ID_VAR, run_id)],
                args: [
                    "./target/release/harness",
                    "gate",
                    "--phase",
                    &plan.phase.to_string(),
                    "--plan",
                    &plan.plan,
                    "--quiet",
                ]
                .iter()
                .map(|&a| a.into())
                .collect(),
            },
            export: ReportExport {
                container_path: format!("{WORKDIR}/reports"),
                host_path: plan.export.clone(),
            },
        }
    }
}

/// A run id unique to this process and moment.
pub fn run_id_now() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        // A clock before 1970 still yields a distinct id through the pid.
        .unwrap_or_default();
    format!("{nanos}-{}", std::process::id())
}

fn var(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: value.into(),
    }
}

fn step(args: &[&str]) -> ExecStep {
    ExecStep {
        env: Vec::new(),
        args: args.iter().map(|&a| a.into()).collect(),
    }
}

impl fmt::Display for PipelineSpec {
    /// One line per stage, for the CI log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "image    {}", self.image)?;
        writeln!(
            f,
            "source   {} -> {} (excluding {})",
            self.source.host_path,
            self.source.mount_path,
            self.source.exclude.join(", ")
        )?;
        for cache in &self.caches {
            writeln!(f, "cache    {} -> {}", cache.key, cache.path)?;
        }
        for step in &self.build_steps {
            writeln!(f, "run      {}", step.args.join(" "))?;
        }
        writeln!(f, "verdict  {}", self.verdict_step.args.join(" "))?;
        write!(
            f,
            "export   {} -> {}",
            self.export.container_path, self.export.host_path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn plan() -> GatePlan {
        GatePlan {
            phase: 2,
            plan: "ci/phases.toml".into(),
            source: "/work/repo".into(),
            export: "/work/repo/reports".into(),
            timeout: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn builds_in_the_rust_image_with_both_caches() {
        let spec = PipelineSpec::for_gate(&plan(), "run-1");
        assert_eq!(spec.image, "rust:1-bookworm");
        let caches: Vec<_> = spec
            .caches
            .iter()
            .map(|c| (c.key.as_str(), c.path.as_str()))
            .collect();
        assert_eq!(
            caches,
            [
                ("harness-cargo-registry", "/usr/local/cargo/registry"),
                ("harness-cargo-target", "/src/target"),
            ]
        );
        assert_eq!(spec.workdir, "/src");
    }

    #[test]
    fn uploads_the_source_without_build_output_reports_or_history() {
        let spec = PipelineSpec::for_gate(&plan(), "run-1");
        assert_eq!(spec.source.host_path, "/work/repo");
        assert_eq!(spec.source.mount_path, "/src");
        assert_eq!(spec.source.exclude, ["target/", "reports/", ".git/"]);
    }

    #[test]
    fn builds_the_harness_then_runs_the_gate_for_the_phase() {
        let spec = PipelineSpec::for_gate(&plan(), "run-1");
        assert_eq!(
            spec.build_steps[0].args,
            ["cargo", "build", "--release", "-p", "harness"]
        );
        assert_eq!(
            spec.verdict_step.args,
            [
                "./target/release/harness",
                "gate",
                "--phase",
                "2",
                "--plan",
                "ci/phases.toml",
                "--quiet"
            ]
        );
    }

    #[test]
    fn only_the_gate_sees_the_run_id() {
        let spec = PipelineSpec::for_gate(&plan(), "run-1");
        assert!(spec.build_steps.iter().all(|s| s.env.is_empty()));
        assert!(spec.env.iter().all(|v| v.name != RUN_ID_VAR));
        assert_eq!(spec.verdict_step.env, [var(RUN_ID_VAR, "run-1")]);
    }

    #[test]
    fn exports_reports_to_the_host_folder() {
        let spec = PipelineSpec::for_gate(&plan(), "run-1");
        assert_eq!(spec.export.container_path, "/src/reports");
        assert_eq!(spec.export.host_path, "/work/repo/reports");
    }

    #[test]
    fn display_lists_every_stage() {
        let text = PipelineSpec::for_gate(&plan(), "run-1").to_string();
        assert!(text.contains("image    rust:1-bookworm"));
        assert!(text.contains("cache    harness-cargo-target -> /src/target"));
        assert!(text.contains("verdict  ./target/release/harness gate --phase 2"));
        assert!(text.ends_with("export   /src/reports -> /work/repo/reports"));
    }
}
