//! The standalone proxy's file format (`harness proxy --config FILE`).
//!
//! The file is read in two stages, like a scenario: the TOML as typed (unknown keys
//! refused), then a [`ProxyPlan`] of real addresses and faults checked against the mode.
//! Nothing listens until the whole file has validated; every problem is a
//! [`ProxyFileError`] with the file, line and column and a line saying how to fix it.
//!
//! ```toml
//! name = "executor"                    # the proxy's name in the Toxiproxy API; default "harness"
//! mode = "http"                        # http | tcp (required)
//! listen = "127.0.0.1:9100"            # default 127.0.0.1:0
//! upstream = "http://127.0.0.1:9000"   # tcp mode: "127.0.0.1:9000" (required)
//! seed = 1                             # default 1
//! control = "127.0.0.1:8474"           # the control API; default 127.0.0.1:0 (8474 with --toxiproxy)
//! tls = { ca_file = "ca.pem" }         # an https:// upstream's trust (default: system roots)
//! [[fault]]                            # zero or more, as in a scenario
//! ```

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::control::{ProxyInfo, ProxyMode};
use super::{DEFAULT_LISTEN, FaultSpec, Upstream};
// The `tls` table is the scenario format's, so both files take the same tls keys.
use crate::input;
use crate::scenario::{RawTls, tls_files};
use crate::tls::TlsConfig;
use crate::toml_diagnostics::{FileError, HELP_SEPARATOR, Problem};

/// A proxy file that could not be read or is not valid, worded like a scenario error.
pub type ProxyFileError = FileError;

/// The proxy name when the file gives none.
pub const DEFAULT_NAME: &str = "harness";

/// The seed when the file gives none.
pub const DEFAULT_SEED: u64 = 1;

/// The keys of a proxy file, for help lines.
const KEYS: &str =
    "`name`, `mode`, `listen`, `upstream`, `seed`, `control`, `tls` and `[[fault]]` tables";

/// The proxy file as typed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxyFile {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    mode: Option<Spanned<ProxyMode>>,
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    upstream: Option<Spanned<String>>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    control: Option<Spanned<String>>,
    #[serde(default)]
    tls: Option<Spanned<RawTls>>,
    #[serde(default)]
    fault: Vec<Spanned<FaultSpec>>,
}

/// A validated proxy file: everything needed to start, nothing started yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyPlan {
    /// The proxy's name, mode and upstream, as the control API shows them.
    pub info: ProxyInfo,
    /// Where the proxy listens.
    pub listen: SocketAddr,
    /// Where the control API listens, if the file says; `harness proxy` picks otherwise
    /// (127.0.0.1:0, or 127.0.0.1:8474 with `--toxiproxy`).
    pub control: Option<SocketAddr>,
    /// The seed of every fault decision.
    pub seed: u64,
    /// The faults in force at the start, checked against the mode.
    pub faults: Vec<FaultSpec>,
    /// How an `https://` upstream is trusted.
    pub tls: Option<TlsConfig>,
}

/// Reads and validates the proxy file at `file`.
pub fn load_plan(file: &Path) -> Result<ProxyPlan, ProxyFileError> {
    let text = input::read_text(file, input::PROXY_FILE).map_err(|error| ProxyFileError::Io {
        file: file.to_path_buf(),
        error,
    })?;
    let folder = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parse_plan_in(&text, folder).map_err(|problem| locate(file, &text, problem))
}

/// Validates the text of a proxy file in the current folder.
#[cfg(test)]
fn parse_plan(text: &str) -> Result<ProxyPlan, Problem> {
    parse_plan_in(text, Path::new("."))
}

/// Validates the text of a proxy file in `folder` (which relative `tls` paths are in).
pub fn parse_plan_in(text: &str, folder: &Path) -> Result<ProxyPlan, Problem> {
    let raw: RawProxyFile = toml::from_str(text).map_err(|e| toml_problem(&e))?;
    let Some(mode) = raw.mode else {
        return Err(Problem::new(
            0..0,
            "the proxy file needs `mode`",
            "add `mode = \"http\"` (per-request faults) or `mode = \"tcp\"` (per-connection faults)",
        ));
    };
    let mode = mode.into_inner();
    let Some(upstream) = raw.upstream else {
        return Err(Problem::new(
            0..0,
            "the proxy file needs `upstream`",
            match mode {
                ProxyMode::Http => "add e.g. `upstream = \"http://127.0.0.1:9000\"`",
                ProxyMode::Tcp => "add e.g. `upstream = \"127.0.0.1:9000\"`",
            },
        ));
    };
    check_upstream(&upstream, mode)?;
    let tls = proxy_tls(raw.tls.as_ref(), &upstream, folder)?;
    let name = match raw.name {
        None => DEFAULT_NAME.to_owned(),
        Some(name) => {
            let span = name.span();
            let name = name.into_inner();
            crate::toml_diagnostics::check_name(&name, span.clone(), "the proxy name")?;
            if name.trim().is_empty() || name.contains(['/', '%']) {
                return Err(Problem::new(
                    span,
                    format!("`name` = {name:?} cannot name a proxy in URLs"),
                    "use letters, digits, `-` and `_`, e.g. `name = \"executor\"`",
                ));
            }
            name
        }
    };
    let listen = address(raw.listen.as_ref(), "listen", "127.0.0.1:9100")?;
    let control = match raw.control.as_ref() {
        Some(_) => Some(address(raw.control.as_ref(), "control", "127.0.0.1:8474")?),
        None => None,
    };
    if control.is_some_and(|c| c == listen && listen.port() != 0) {
        let span = raw.control.as_ref().map_or(0..0, Spanned::span);
        return Err(Problem::new(
            span,
            format!("`control` and `listen` are both {listen}"),
            "give the control API another port, or leave `control` out to let the OS pick one",
        ));
    }
    let mut faults: Vec<FaultSpec> = Vec::with_capacity(raw.fault.len());
    for fault in raw.fault {
        let span = fault.span();
        let spec = fault.into_inner();
        if !mode.runs(spec.kind()) {
            let (article, other) = match mode {
                ProxyMode::Http => ("an", "tcp"),
                ProxyMode::Tcp => ("a", "http"),
            };
            let which = match &spec.name {
                Some(name) => format!("fault `{name}` (kind `{}`)", spec.kind()),
                None => format!("a fault of kind `{}`", spec.kind()),
            };
            return Err(Problem::new(
                span,
                format!("{which} does not run on a proxy with mode = \"{mode}\""),
                format!(
                    "use {article} {mode}-mode kind ({}), or set mode = \"{other}\"",
                    kinds(mode)
                ),
            ));
        }
        if faults.iter().any(|f| f.label() == spec.label()) {
            return Err(Problem::new(
                span,
                format!("a second fault is called `{}`", spec.label()),
                "give each fault a distinct `name`: the control API adds and removes faults by name",
            ));
        }
        faults.push(spec);
    }
    Ok(ProxyPlan {
        info: ProxyInfo {
            name,
            mode,
            upstream: upstream.into_inner(),
        },
        listen,
        control,
        seed: raw.seed.unwrap_or(DEFAULT_SEED),
        faults,
        tls,
    })
}

/// How an `https://` upstream is trusted: the `tls` table (file paths relative to
/// `folder`, `${VAR}` from the environment), else the system roots.
fn proxy_tls(
    raw: Option<&Spanned<RawTls>>,
    upstream: &Spanned<String>,
    folder: &Path,
) -> Result<Option<TlsConfig>, Problem> {
    let https = upstream
        .get_ref()
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    match (raw, https) {
        (None, false) => Ok(None),
        (Some(t), false) => Err(Problem::new(
            t.span(),
            "`tls` is set, but the upstream is not an https:// URL",
            "`tls` applies to an https:// upstream in http mode (a tcp-mode proxy relays TLS untouched): remove it, or write the upstream with https://",
        )),
        (None, true) => TlsConfig::system().map(Some).map_err(|why| {
            Problem::new(
                upstream.span(),
                why,
                "add `tls = { ca_file = \"ca.pem\" }` with the CA that issued the upstream's certificate",
            )
        }),
        (Some(t), true) => {
            let env = |name: &str| std::env::var(name).ok();
            let files = tls_files(t, "tls", folder, &env)
                .map_err(|e| Problem::new(e.0.span(), e.1.message, e.1.help))?;
            files
                .load()
                .map(Some)
                .map_err(|e| Problem::new(e.span, e.message, e.help))
        }
    }
}

/// The fault kinds of `mode`, for help lines.
fn kinds(mode: ProxyMode) -> String {
    mode.kinds("")
}

/// Checks that `upstream` has the form its mode needs, before any socket opens.
fn check_upstream(upstream: &Spanned<String>, mode: ProxyMode) -> Result<(), Problem> {
    let span = upstream.span();
    let text = upstream.get_ref();
    match mode {
        ProxyMode::Http => Upstream::parse(text).map(drop).map_err(|e| {
            Problem::split(
                span,
                &e.to_string(),
                "write it like \"http://127.0.0.1:9000\"",
            )
        }),
        ProxyMode::Tcp => {
            let port = text
                .rsplit_once(':')
                .filter(|(host, _)| !host.is_empty() && !text.contains("://"))
                .and_then(|(_, port)| port.parse::<u16>().ok());
            match port {
                Some(p) if p != 0 => Ok(()),
                _ => Err(Problem::new(
                    span,
                    format!("`upstream` = {text:?} is not host:port"),
                    "a tcp-mode proxy relays bytes to host:port; write it like \"127.0.0.1:9000\" (no http://)",
                )),
            }
        }
    }
}

/// `key` as a socket address, or the default loopback address with a port the OS picks.
fn address(
    value: Option<&Spanned<String>>,
    key: &str,
    example: &str,
) -> Result<SocketAddr, Problem> {
    let Some(value) = value else {
        return Ok(DEFAULT_LISTEN);
    };
    value.get_ref().trim().parse().map_err(|_| {
        Problem::new(
            value.span(),
            format!("`{key}` = {:?} is not an IP address and port", value.get_ref()),
            format!(
                "write it like `{key} = \"{example}\"` (port 0 lets the OS pick; host names are not resolved)"
            ),
        )
    })
}

/// A TOML or serde error as a problem with a help line.
fn toml_problem(error: &toml::de::Error) -> Problem {
    let problem = crate::toml_diagnostics::toml_problem(error, |message, _| {
        if let Some((message, help)) = message.split_once(HELP_SEPARATOR) {
            return (message.to_owned(), help.to_owned());
        }
        let help = if message.starts_with("unknown field") {
            format!(
                "remove the key or fix its spelling; the keys accepted here are listed (a proxy file takes {KEYS})"
            )
        } else if message.starts_with("unknown variant") {
            "use one of the values listed".to_owned()
        } else if message.starts_with("invalid type") {
            "write the value as in the example of `harness proxy --help`".to_owned()
        } else {
            "fix the TOML here (strings need quotes, see https://toml.io); `harness proxy --help` shows an example file".to_owned()
        };
        (message.to_owned(), help)
    });
    Problem::split(problem.span, &problem.message, &problem.help)
}

/// The error for `problem` in `text`, the contents of `file`: file, line, column, caret.
fn locate(file: &Path, text: &str, problem: Problem) -> ProxyFileError {
    FileError::invalid(file, text, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        let error = parse_plan(text).expect_err("the file should be refused");
        locate(Path::new("p.toml"), text, error).to_string()
    }

    #[test]
    fn a_full_file_becomes_a_plan() {
        let plan = parse_plan(
            r#"
name = "executor"
mode = "http"
listen = "127.0.0.1:9100"
upstream = "http://127.0.0.1:9000"
seed = 7
control = "127.0.0.1:8474"
[[fault]]
name = "e"
kind = "http_error"
status = 503
"#,
        )
        .expect("valid");
        assert_eq!(plan.info.name, "executor");
        assert_eq!(plan.info.mode, ProxyMode::Http);
        assert_eq!(plan.listen.port(), 9100);
        assert_eq!(plan.control.map(|c| c.port()), Some(8474));
        assert_eq!(plan.seed, 7);
        assert_eq!(plan.faults.len(), 1);
    }

    #[test]
    fn defaults_are_loopback_port_zero_name_harness_seed_1() {
        let plan = parse_plan("mode = \"tcp\"\nupstream = \"db:5432\"\n").expect("valid");
        assert_eq!(plan.info.name, DEFAULT_NAME);
        assert_eq!(plan.listen, DEFAULT_LISTEN);
        assert_eq!(plan.control, None, "harness proxy picks");
        assert_eq!(plan.seed, DEFAULT_SEED);
    }

    #[test]
    fn errors_name_file_line_and_column_and_say_how_to_fix() {
        let e = problem(
            "mode = \"http\"\nupstream = \"http://127.0.0.1:1\"\nlisten = \"localhost:80\"\n",
        );
        assert!(e.contains("p.toml:3:10: `listen`"), "{e}");
        assert!(e.contains("help: write it like"), "{e}");
        let e = problem("mode = \"http\"\nupstream = \"http://127.0.0.1:1\"\nlistn = \"x\"\n");
        assert!(e.contains("p.toml:3:1: unknown field `listn`"), "{e}");
        let e = problem("mode = \"udp\"\n");
        assert!(e.contains("p.toml:1:8: unknown variant `udp`"), "{e}");
        let e = problem("mode = \"tcp\"\nupstream = \"http://127.0.0.1:1\"\n");
        assert!(e.contains("p.toml:2:12: `upstream`"), "{e}");
        let e = problem("upstream = \"127.0.0.1:1\"\n");
        assert!(e.contains("needs `mode`"), "{e}");
        let e = problem("mode = \"http\"\nupstream = \"127.0.0.1:1\"\n");
        assert!(e.contains("p.toml:2:12:"), "{e}");
        assert!(e.contains("http://"), "{e}");
    }

    #[test]
    fn faults_of_the_other_mode_and_twins_are_refused_at_the_fault() {
        let head = "mode = \"http\"\nupstream = \"http://127.0.0.1:1\"\n";
        let e = problem(&format!("{head}[[fault]]\nkind = \"down\"\n"));
        assert!(e.contains("p.toml:3:1:"), "{e}");
        assert!(
            e.contains("does not run on a proxy with mode = \"http\""),
            "{e}"
        );
        let e = problem(&format!(
            "{head}[[fault]]\nkind = \"abort\"\n[[fault]]\nkind = \"abort\"\nfirst_requests = 1\n"
        ));
        assert!(
            e.contains("p.toml:5:1: a second fault is called `abort`"),
            "{e}"
        );
        let e = problem(&format!(
            "{head}[[fault]]\nkind = \"http_error\"\nstatus = 700\n"
        ));
        assert!(e.contains("between 100 and 599"), "{e}");
    }

    #[test]
    fn names_that_would_not_print_are_refused_at_the_value() {
        let head = "mode = \"http\"\nupstream = \"http://127.0.0.1:1\"\n";
        let e = problem(&format!("{head}name = \"ex\\u001bec\"\n"));
        assert!(
            e.contains("p.toml:3:8: the proxy name `ex\\u{1b}ec` holds a character"),
            "{e}"
        );
        let e = problem(&format!(
            "{head}[[fault]]\nname = \"a\u{200d}b\"\nkind = \"abort\"\n"
        ));
        assert!(
            e.contains("p.toml:4:8: the fault name `a\\u{200d}b` holds a character"),
            "{e}"
        );
        assert!(
            e.contains("help: use printable characters; found U+200D (ZWJ"),
            "{e}"
        );
        assert!(!e.contains('\u{200d}'), "{e}");
    }

    #[test]
    fn the_same_fixed_port_twice_is_refused() {
        let e = problem(
            "mode = \"http\"\nupstream = \"http://127.0.0.1:1\"\nlisten = \"127.0.0.1:9100\"\ncontrol = \"127.0.0.1:9100\"\n",
        );
        assert!(e.contains("p.toml:4:11:"), "{e}");
    }

    #[test]
    fn an_https_upstream_takes_a_tls_table_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = rcgen::generate_simple_self_signed(vec!["executor".into()]).expect("ca");
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).expect("write");
        let head = "mode = \"http\"\nupstream = \"https://executor:8443\"\n";
        let plan = parse_plan_in(
            &format!("{head}tls = {{ ca_file = \"ca.pem\" }}\n"),
            dir.path(),
        )
        .expect("valid");
        assert_eq!(plan.tls.expect("tls").source(), "ca_file ca.pem");
        let text = format!("{head}tls = {{ ca_file = \"nope.pem\" }}\n");
        let error = parse_plan_in(&text, dir.path()).expect_err("missing file");
        let shown = locate(Path::new("p.toml"), &text, error).to_string();
        assert!(
            shown.contains("p.toml:3:19: cannot read `tls.ca_file` `nope.pem`"),
            "{shown}"
        );
        let plain =
            "mode = \"http\"\nupstream = \"http://x:1\"\ntls = { insecure_skip_verify = true }\n";
        let shown = problem(plain);
        assert!(shown.contains("not an https:// URL"), "{shown}");
    }
}
