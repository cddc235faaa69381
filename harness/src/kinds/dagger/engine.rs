//! Finding a Dagger engine without ever letting the SDK download one.
//!
//! `dagger-sdk` 1.0.0-beta.23 looks for an engine in this order:
//!
//! 1. `DAGGER_SESSION_PORT` and `DAGGER_SESSION_TOKEN` (a session opened by `dagger run`);
//! 2. the CLI named by `_EXPERIMENTAL_DAGGER_CLI_BIN`;
//! 3. a CLI in its cache (`$XDG_CACHE_HOME/dagger/dagger-<version>`, else
//!    `~/.cache/dagger/...`);
//! 4. a download from the network, which fails offline and is never what a gate should do.
//!
//! [`discover`] walks the same list over a snapshot of the environment and stops before
//! step 4: when nothing is found it says why. With [`PathPolicy::Use`] (the harness, which
//! starts `dagger session` itself) a `dagger` on `PATH` is a route of its own, tried after
//! `_EXPERIMENTAL_DAGGER_CLI_BIN`; with [`PathPolicy::HintOnly`] (the Dagger gate, whose
//! SDK `connect_opts` would try a download before it) it is only named in the hint.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

/// The CLI version the SDK looks for in its cache.
pub const SDK_CLI_VERSION: &str = dagger_sdk::core::DAGGER_ENGINE_VERSION;

/// The environment variables [`discover`] reads, captured once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineEnv {
    /// `DAGGER_SESSION_PORT`.
    pub session_port: Option<OsString>,
    /// `DAGGER_SESSION_TOKEN`.
    pub session_token: Option<OsString>,
    /// `_EXPERIMENTAL_DAGGER_CLI_BIN`.
    pub cli_bin: Option<OsString>,
    /// `XDG_CACHE_HOME`.
    pub xdg_cache_home: Option<OsString>,
    /// `HOME`.
    pub home: Option<OsString>,
    /// `PATH`, only to name a `dagger` found there in the hint.
    pub path: Option<OsString>,
}

impl EngineEnv {
    /// Reads the variables of this process.
    pub fn from_process() -> Self {
        Self {
            session_port: std::env::var_os("DAGGER_SESSION_PORT"),
            session_token: std::env::var_os("DAGGER_SESSION_TOKEN"),
            cli_bin: std::env::var_os("_EXPERIMENTAL_DAGGER_CLI_BIN"),
            xdg_cache_home: std::env::var_os("XDG_CACHE_HOME"),
            home: std::env::var_os("HOME"),
            path: std::env::var_os("PATH"),
        }
    }
}

/// How the SDK will reach an engine, once [`discover`] has vouched that it will not
/// fall through to a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineRoute {
    /// An open session on 127.0.0.1 (`dagger run`, or a CI service).
    Session(SessionEndpoint),
    /// The SDK starts `<cli> session` itself.
    Cli(PathBuf),
}

/// An engine session's address and credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionEndpoint {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The session token (the Basic-auth user name).
    pub token: String,
}

impl SessionEndpoint {
    /// `127.0.0.1:PORT`, for messages.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl fmt::Debug for SessionEndpoint {
    /// The token is a credential: it never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEndpoint")
            .field("port", &self.port)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Whether a `dagger` on `PATH` is a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPolicy {
    /// Use it (the caller starts the CLI's session itself).
    Use,
    /// Only name it in the hint (the caller goes through the SDK's own discovery).
    HintOnly,
}

/// Why no engine is reachable: the `<why>` of the "no Dagger engine" message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoEngine(pub String);

/// Picks the route the SDK will take, or says why there is none.
///
/// A half-set session (a port without a token, a port that is not a number) is refused
/// rather than skipped: the SDK would silently skip it and go on towards a download.
pub fn discover(env: &EngineEnv, path_policy: PathPolicy) -> Result<EngineRoute, NoEngine> {
    match (&env.session_port, &env.session_token) {
        (Some(port), Some(token)) => return session(port, token).map(EngineRoute::Session),
        (Some(_), None) => {
            return Err(NoEngine(
                "DAGGER_SESSION_PORT is set but DAGGER_SESSION_TOKEN is not".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(NoEngine(
                "DAGGER_SESSION_TOKEN is set but DAGGER_SESSION_PORT is not".into(),
            ));
        }
        (None, None) => {}
    }
    if let Some(bin) = env.cli_bin.as_deref().filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return if is_executable_file(&bin) {
            Ok(EngineRoute::Cli(bin))
        } else {
            Err(NoEngine(format!(
                "_EXPERIMENTAL_DAGGER_CLI_BIN={} is not an executable file",
                bin.display()
            )))
        };
    }
    let on_path = env.path.as_deref().and_then(|p| find_on_path(p, "dagger"));
    if let (PathPolicy::Use, Some(bin)) = (path_policy, &on_path) {
        return Ok(EngineRoute::Cli(bin.clone()));
    }
    let cached = sdk_cached_cli(env);
    if let Some(cached) = cached.as_deref().filter(|c| is_executable_file(c)) {
        return Ok(EngineRoute::Cli(cached.to_path_buf()));
    }
    let mut why =
        String::from("DAGGER_SESSION_PORT is not set, _EXPERIMENTAL_DAGGER_CLI_BIN is not set");
    if path_policy == PathPolicy::Use {
        why.push_str(", no `dagger` is on PATH");
    }
    match cached {
        Some(cached) => why.push_str(&format!(" and no CLI is cached at {}", cached.display())),
        None => why.push_str(" and the SDK's CLI cache cannot be located (HOME unset)"),
    }
    if let Some(on_path) = on_path {
        why.push_str(&format!(
            " (`dagger` is on PATH at {0}, but this SDK would try a download before using it: \
             run under `dagger run` or set _EXPERIMENTAL_DAGGER_CLI_BIN={0})",
            on_path.display()
        ));
    }
    Err(NoEngine(why))
}

fn session(port: &OsStr, token: &OsStr) -> Result<SessionEndpoint, NoEngine> {
    let port_text = port.to_string_lossy();
    let port = port_text
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| {
            NoEngine(format!(
                "DAGGER_SESSION_PORT={port_text:?} is not a TCP port number"
            ))
        })?;
    let token = token
        .to_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| NoEngine("DAGGER_SESSION_TOKEN is empty or not UTF-8".into()))?;
    Ok(SessionEndpoint {
        port,
        token: token.to_owned(),
    })
}

/// Where the SDK looks for its cached CLI, computed as the SDK does (XDG_CACHE_HOME if
/// set and not blank, else `~/.cache`).
fn sdk_cached_cli(env: &EngineEnv) -> Option<PathBuf> {
    let xdg = env
        .xdg_cache_home
        .as_deref()
        .and_then(OsStr::to_str)
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(PathBuf::from);
    let base = xdg.or_else(|| {
        env.home
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(|h| Path::new(h).join(".cache"))
    })?;
    Some(
        base.join("dagger")
            .join(format!("dagger-{SDK_CLI_VERSION}")),
    )
}

fn find_on_path(path: &OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(path: &Path) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn empty_home() -> (tempfile::TempDir, EngineEnv) {
        let home = tempfile::tempdir().expect("temp dir");
        let env = EngineEnv {
            home: Some(home.path().into()),
            path: Some(home.path().join("bin").into()),
            ..EngineEnv::default()
        };
        (home, env)
    }

    #[test]
    fn a_session_comes_first() {
        let (_home, mut env) = empty_home();
        env.session_port = Some("41234".into());
        env.session_token = Some("tok".into());
        env.cli_bin = Some("/nonexistent/dagger".into());
        let route = discover(&env, PathPolicy::HintOnly).expect("session");
        assert_eq!(
            route,
            EngineRoute::Session(SessionEndpoint {
                port: 41234,
                token: "tok".into()
            })
        );
    }

    #[test]
    fn half_a_session_is_refused_not_skipped() {
        let (_home, mut env) = empty_home();
        env.session_port = Some("41234".into());
        let why = discover(&env, PathPolicy::HintOnly).expect_err("no token");
        assert!(why.0.contains("DAGGER_SESSION_TOKEN is not"));
        env.session_token = Some("tok".into());
        env.session_port = Some("http".into());
        let why = discover(&env, PathPolicy::HintOnly).expect_err("bad port");
        assert!(why.0.contains("not a TCP port number"));
    }

    #[test]
    fn the_named_cli_must_exist() {
        let (home, mut env) = empty_home();
        env.cli_bin = Some(home.path().join("dagger").into());
        let why = discover(&env, PathPolicy::HintOnly).expect_err("missing CLI");
        assert!(why.0.contains("_EXPERIMENTAL_DAGGER_CLI_BIN="));
        executable(&home.path().join("dagger"));
        assert_eq!(
            discover(&env, PathPolicy::HintOnly),
            Ok(EngineRoute::Cli(home.path().join("dagger")))
        );
    }

    #[test]
    fn a_cli_in_the_sdk_cache_is_used_as_the_sdk_would() {
        let (home, env) = empty_home();
        let cached = home
            .path()
            .join(".cache/dagger")
            .join(format!("dagger-{SDK_CLI_VERSION}"));
        executable(&cached);
        assert_eq!(
            discover(&env, PathPolicy::HintOnly),
            Ok(EngineRoute::Cli(cached))
        );
    }

    #[test]
    fn xdg_cache_home_wins_over_home() {
        let (home, mut env) = empty_home();
        let xdg = home.path().join("xdg");
        env.xdg_cache_home = Some(xdg.clone().into());
        assert_eq!(
            sdk_cached_cli(&env),
            Some(xdg.join("dagger").join(format!("dagger-{SDK_CLI_VERSION}")))
        );
    }

    #[test]
    fn nothing_found_means_no_engine_never_a_download() {
        let (_home, env) = empty_home();
        let why = discover(&env, PathPolicy::HintOnly).expect_err("nothing");
        assert!(why.0.starts_with("DAGGER_SESSION_PORT is not set"));
        assert!(why.0.contains("no CLI is cached at"));
        assert!(!why.0.contains("PATH"));
    }

    #[test]
    fn a_dagger_on_path_is_named_in_the_hint() {
        let (home, env) = empty_home();
        executable(&home.path().join("bin/dagger"));
        let why = discover(&env, PathPolicy::HintOnly).expect_err("PATH is not a route");
        assert!(why.0.contains("`dagger` is on PATH at"));
    }

    #[test]
    fn the_harness_uses_a_dagger_on_path() {
        let (home, env) = empty_home();
        executable(&home.path().join("bin/dagger"));
        assert_eq!(
            discover(&env, PathPolicy::Use),
            Ok(EngineRoute::Cli(home.path().join("bin/dagger")))
        );
        let (_home, env) = empty_home();
        let why = discover(&env, PathPolicy::Use).expect_err("nothing");
        assert!(why.0.contains("no `dagger` is on PATH"), "{why}");
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let endpoint = SessionEndpoint {
            port: 1,
            token: "secret-token".into(),
        };
        assert!(!format!("{endpoint:?}").contains("secret-token"));
    }
}
