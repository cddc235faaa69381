//! The validated gate plan: the command line checked and turned into real types before
//! any socket opens.
//!
//! Paths become absolute UTF-8 strings here because the engine resolves host paths on
//! its own side and the SDK takes them as strings.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::cli::Args;

/// What `dagger-gate` will do, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePlan {
    /// The phase passed to `harness gate --phase` (1 to 4).
    pub phase: u8,
    /// The plan path relative to the source root, '/'-separated (used inside the container).
    pub plan: String,
    /// The absolute, canonical source directory on the host.
    pub source: String,
    /// The absolute host directory the reports are exported to.
    pub export: String,
    /// The deadline for the whole pipeline.
    pub timeout: Duration,
    /// The deadline for opening an engine session.
    pub connect_timeout: Duration,
}

/// A command line that cannot become a [`GatePlan`]; exits 2.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `--source` does not exist or cannot be resolved.
    #[error("--source {path}: {source}; pass the repository root")]
    Source {
        /// The path as typed.
        path: PathBuf,
        /// Why it could not be resolved.
        source: std::io::Error,
    },
    /// `--source` is a file.
    #[error("--source {0}: not a directory; pass the repository root")]
    SourceNotDirectory(PathBuf),
    /// `--plan` is absolute: host paths do not exist in the container.
    #[error("--plan {0}: must be relative to --source (the gate reads it inside the container)")]
    PlanAbsolute(PathBuf),
    /// `--plan` climbs out of the source tree, which is all the container sees.
    #[error("--plan {0}: must stay inside --source (no `..`)")]
    PlanEscapes(PathBuf),
    /// The plan file is not in the source tree.
    #[error(
        "--plan {plan}: no such file at {resolved}; pass a plan inside --source, e.g. --plan ci/phases.toml"
    )]
    PlanNotFound {
        /// The path as typed.
        plan: PathBuf,
        /// Where it was looked for.
        resolved: PathBuf,
    },
    /// `--export` cannot be made absolute.
    #[error("--export {path}: {source}")]
    Export {
        /// The path as typed.
        path: PathBuf,
        /// Why it could not be made absolute.
        source: std::io::Error,
    },
    /// A path the SDK must send as a string is not UTF-8.
    #[error("{flag} {path}: not valid UTF-8, which the Dagger API cannot carry")]
    NotUtf8 {
        /// The flag it came from.
        flag: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A zero timeout would fail every run.
    #[error("{0} must be greater than zero")]
    ZeroTimeout(&'static str),
}

impl GatePlan {
    /// Checks the command line: the source is a directory, the plan a file inside it.
    pub fn from_args(args: &Args) -> Result<Self, PlanError> {
        let source = args
            .source
            .canonicalize()
            .map_err(|source| PlanError::Source {
                path: args.source.clone(),
                source,
            })?;
        if !source.is_dir() {
            return Err(PlanError::SourceNotDirectory(args.source.clone()));
        }
        let plan = relative_plan(&args.plan)?;
        let resolved = source.join(&args.plan);
        if !resolved.is_file() {
            return Err(PlanError::PlanNotFound {
                plan: args.plan.clone(),
                resolved,
            });
        }
        let export = std::path::absolute(&args.export).map_err(|source| PlanError::Export {
            path: args.export.clone(),
            source,
        })?;
        let timeout = nonzero(args.timeout.into(), "--timeout")?;
        let connect_timeout = nonzero(args.connect_timeout.into(), "--connect-timeout")?;
        Ok(Self {
            phase: args.phase,
            plan,
            source: utf8(&source, "--source")?,
            export: utf8(&export, "--export")?,
            timeout,
            connect_timeout,
        })
    }
}

/// The plan as a '/'-separated path relative to the source root.
fn relative_plan(plan: &Path) -> Result<String, PlanError> {
    let mut parts = Vec::new();
    for component in plan.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or(PlanError::NotUtf8 {
                flag: "--plan",
                path: plan.to_path_buf(),
            })?),
            Component::CurDir => {}
            Component::ParentDir => return Err(PlanError::PlanEscapes(plan.to_path_buf())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PlanError::PlanAbsolute(plan.to_path_buf()));
            }
        }
    }
    Ok(parts.join("/"))
}

fn utf8(path: &Path, flag: &'static str) -> Result<String, PlanError> {
    path.to_str().map(str::to_owned).ok_or(PlanError::NotUtf8 {
        flag,
        path: path.to_path_buf(),
    })
}

fn nonzero(duration: Duration, flag: &'static str) -> Result<Duration, PlanError> {
    if duration.is_zero() {
        Err(PlanError::ZeroTimeout(flag))
    } else {
        Ok(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(source: &Path, extra: &[&str]) -> Args {
        let mut argv = vec!["dagger-gate", "--phase", "2", "--source"];
        let source = source.to_str().expect("temp dirs are UTF-8");
        argv.push(source);
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("ci")).expect("mkdir ci");
        std::fs::write(dir.path().join("ci/phases.toml"), "").expect("write plan");
        dir
    }

    #[test]
    fn defaults_resolve_to_absolute_paths() {
        let repo = repo();
        let plan = GatePlan::from_args(&args(repo.path(), &[])).expect("valid plan");
        assert_eq!(plan.phase, 2);
        assert_eq!(plan.plan, "ci/phases.toml");
        assert!(Path::new(&plan.source).is_absolute());
        assert!(plan.export.ends_with("/reports"));
        assert_eq!(plan.timeout, Duration::from_secs(3600));
        assert_eq!(plan.connect_timeout, Duration::from_secs(30));
    }

    #[test]
    fn plan_dot_slash_is_normalised() {
        let repo = repo();
        let plan = GatePlan::from_args(&args(repo.path(), &["--plan", "./ci/phases.toml"]))
            .expect("valid plan");
        assert_eq!(plan.plan, "ci/phases.toml");
    }

    #[test]
    fn missing_plan_names_where_it_looked() {
        let repo = repo();
        let error = GatePlan::from_args(&args(repo.path(), &["--plan", "ci/nope.toml"]))
            .expect_err("missing plan");
        assert!(matches!(error, PlanError::PlanNotFound { .. }));
        assert!(error.to_string().contains("ci/nope.toml"));
    }

    #[test]
    fn absolute_and_escaping_plans_are_refused() {
        let repo = repo();
        let error = GatePlan::from_args(&args(repo.path(), &["--plan", "/etc/passwd"]))
            .expect_err("absolute plan");
        assert!(matches!(error, PlanError::PlanAbsolute(_)));
        let error = GatePlan::from_args(&args(repo.path(), &["--plan", "../phases.toml"]))
            .expect_err("escaping plan");
        assert!(matches!(error, PlanError::PlanEscapes(_)));
    }

    #[test]
    fn source_must_be_a_directory() {
        let repo = repo();
        let file = repo.path().join("ci/phases.toml");
        let error = GatePlan::from_args(&args(&file, &[])).expect_err("file as source");
        assert!(matches!(error, PlanError::SourceNotDirectory(_)));
        let error = GatePlan::from_args(&args(&repo.path().join("absent"), &[]))
            .expect_err("missing source");
        assert!(matches!(error, PlanError::Source { .. }));
    }

    #[test]
    fn phases_outside_one_to_four_are_refused_before_anything_runs() {
        for phase in ["0", "5"] {
            let error = Args::try_parse_from(["dagger-gate", "--phase", phase])
                .expect_err("out-of-range phase");
            assert_eq!(error.exit_code(), 2);
        }
    }

    #[test]
    fn zero_timeout_is_refused() {
        let repo = repo();
        let error = GatePlan::from_args(&args(repo.path(), &["--timeout", "0s"]))
            .expect_err("zero timeout");
        assert!(matches!(error, PlanError::ZeroTimeout("--timeout")));
    }
}
