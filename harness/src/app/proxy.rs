//! `harness proxy`: fault proxies on their own, steered through a JSON control API that
//! speaks Toxiproxy's HTTP API (`--toxiproxy`: on 127.0.0.1:8474, like
//! `toxiproxy-server`) and the harness's fault dialect.
//!
//! The arguments become a [`ServePlan`] first: the proxy file (its format and validation
//! are `fault::file`'s; an error is reported like a scenario error, exit 2), the control
//! address, the token (`--token-env`; a control API beyond loopback without one is exit
//! 2). Nothing listens until the plan is whole.
//!
//! Once all listen, stdout gets `proxy: http://ADDR` (with a file) and
//! `control: http://ADDR`, one line each, for scripts to read; Ctrl-C (SIGINT) or
//! SIGTERM stops everything and exits 0.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{interrupt, runtime};
use crate::cli::ProxyArgs;
use crate::exit::{AppError, ExitStatus};
use crate::fault::control::{
    ControlServer, Guard, MAX_BODY, Recipe, Registry, Token, check_exposure,
};
use crate::fault::file::{DEFAULT_SEED, ProxyPlan, load_plan};
use crate::fault::{DEFAULT_LISTEN, ProxyOptions};
use crate::load::StopSignal;
use crate::tls::TlsConfig;

/// Toxiproxy's control port, which its clients default to.
const TOXIPROXY_CONTROL: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8474);

/// What `harness proxy` will serve, validated before anything listens.
#[derive(Debug)]
struct ServePlan {
    /// The proxy file and its proxy, if `--config` was given.
    file: Option<(PathBuf, ProxyPlan)>,
    /// Where the control API listens.
    control: SocketAddr,
    /// The bearer token every call needs, if any.
    token: Option<Token>,
    /// Further `Host` names the API answers to.
    hosts: Vec<String>,
    quiet: bool,
}

impl ServePlan {
    fn from_args(args: ProxyArgs) -> Result<Self, AppError> {
        let file = match &args.config {
            // A file error is reported like a scenario error (exit 2).
            Some(path) => Some((path.clone(), load_plan(path)?)),
            None => None,
        };
        let fallback = if args.toxiproxy {
            TOXIPROXY_CONTROL
        } else {
            DEFAULT_LISTEN
        };
        let control = args
            .control
            .or_else(|| file.as_ref().and_then(|(_, plan)| plan.control))
            .unwrap_or(fallback);
        let token = match &args.token_env {
            None => None,
            Some(var) => Some(read_token(var)?),
        };
        check_exposure(control, token.as_ref()).map_err(AppError::Usage)?;
        Ok(Self {
            file,
            control,
            token,
            hosts: args.allow_host,
            quiet: args.quiet,
        })
    }
}

/// The token in the environment variable `var`, or why there is none (exit 2).
fn read_token(var: &str) -> Result<Token, AppError> {
    std::env::var(var).ok().and_then(Token::new).ok_or_else(|| {
        AppError::Usage(format!(
            "--token-env {var}: the variable `{var}` is not set or is empty; set it first, e.g. `export {var}=$(openssl rand -hex 16)`"
        ))
    })
}

/// Runs the proxies and their control API until Ctrl-C or SIGTERM.
pub(super) fn proxy_command(args: ProxyArgs) -> Result<ExitStatus, AppError> {
    let plan = ServePlan::from_args(args)?;
    if let Some((_, file)) = &plan.file {
        if !file.listen.ip().is_loopback() {
            eprintln!(
                "warning: the proxy listens on {}, which other hosts can reach (use 127.0.0.1 unless you mean it)",
                file.listen
            );
        }
        if file.tls.as_ref().is_some_and(TlsConfig::is_insecure) {
            eprintln!(
                "warning: insecure_skip_verify = true: the proxy does not verify the upstream's TLS certificate"
            );
        }
    }
    let stop = interrupt::stop_signal();
    runtime()?.block_on(serve(plan, &stop))?;
    Ok(ExitStatus::Success)
}

/// The registry: the file's proxy started, or none yet.
fn registry(file: Option<&(PathBuf, ProxyPlan)>) -> Result<Registry, AppError> {
    let Some((path, plan)) = file else {
        return Ok(Registry::new(DEFAULT_SEED));
    };
    let recipe = Recipe {
        info: plan.info.clone(),
        listen: plan.listen,
        seed: plan.seed,
        // The API serves counts only; full attempt entries would cost memory nobody reads.
        options: ProxyOptions {
            log_capacity: 0,
            tls: plan.tls.clone(),
            ..ProxyOptions::default()
        },
    };
    Registry::with_file_proxy(recipe, plan.faults.clone()).map_err(|e| {
        AppError::Runtime(format!(
            "cannot start the proxy on {}: {e}; choose another `listen` in {}",
            plan.listen,
            path.display()
        ))
    })
}

/// Starts the proxies and the control API, prints their URLs, waits for `stop`, stops all.
async fn serve(plan: ServePlan, stop: &StopSignal) -> Result<(), AppError> {
    let registry = Arc::new(registry(plan.file.as_ref())?);
    let listener = TcpListener::bind(plan.control).await.map_err(|e| {
        let hint = match &plan.file {
            _ if plan.control == TOXIPROXY_CONTROL => {
                " (is toxiproxy-server or another harness proxy running?)".to_owned()
            }
            Some((path, _)) => format!(" or `control` in {}", path.display()),
            None => String::new(),
        };
        AppError::Runtime(format!(
            "cannot start the control API on {}: {e}; choose another address with --control{hint}",
            plan.control
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Runtime(format!("the control API has no address: {e}")))?;
    let guard = Guard::new(addr, plan.token.clone(), plan.hosts.clone());
    let server = ControlServer::serve(listener, Arc::clone(&registry), guard)
        .map_err(|e| AppError::Runtime(format!("cannot serve the control API: {e}")))?;
    if let Some(name) = registry.default_name()
        && let Some(proxy) = registry.proxy_addr(name).await
    {
        println!("proxy: http://{proxy}");
    }
    println!("control: {}", server.url());
    if !plan.quiet {
        summary(&plan, &server);
    }
    stop.triggered().await;
    server.shutdown().await;
    registry.shutdown().await;
    Ok(())
}

/// What runs, on stderr.
fn summary(plan: &ServePlan, server: &ControlServer) {
    if let Some((_, file)) = &plan.file {
        let name = &file.info.name;
        eprintln!(
            "proxy `{name}` ({} mode) -> {} with {} fault(s), seed {}",
            file.info.mode,
            file.info.upstream,
            file.faults.len(),
            file.seed
        );
        eprintln!(
            "  native: GET|POST|PUT /faults, DELETE /faults/{{name}}, GET /attempts (also /proxies/{name}/faults, /proxies/{name}/attempts)"
        );
    }
    eprintln!(
        "Toxiproxy API on {}: GET|POST /proxies, POST /populate, GET|POST|PATCH|DELETE /proxies/{{name}}, /proxies/{{name}}/toxics, POST /reset, GET /version, GET /metrics",
        server.url()
    );
    let token = if plan.token.is_some() {
        "a bearer token on every call"
    } else {
        "no token"
    };
    eprintln!(
        "  locked down: loopback Host only (plus --allow-host), no foreign Origin, JSON bodies, bodies up to {MAX_BODY} bytes, {token}"
    );
    eprintln!("Ctrl-C stops.");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn args(config: Option<&Path>, toxiproxy: bool, control: Option<&str>) -> ProxyArgs {
        ProxyArgs {
            config: config.map(Path::to_path_buf),
            toxiproxy,
            control: control.map(|c| c.parse().expect("addr")),
            token_env: None,
            allow_host: Vec::new(),
            quiet: true,
        }
    }

    #[test]
    fn toxiproxy_mode_listens_on_8474_unless_told_otherwise() {
        let plan = ServePlan::from_args(args(None, true, None)).expect("plan");
        assert_eq!(plan.control, TOXIPROXY_CONTROL);
        let plan = ServePlan::from_args(args(None, true, Some("127.0.0.1:9999"))).expect("plan");
        assert_eq!(plan.control.port(), 9999);
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "mode = \"tcp\"\nupstream = \"127.0.0.1:1\"\n").expect("write");
        let plan = ServePlan::from_args(args(Some(&file), false, None)).expect("plan");
        assert_eq!(
            plan.control, DEFAULT_LISTEN,
            "a file alone keeps a picked port"
        );
        let plan = ServePlan::from_args(args(Some(&file), true, None)).expect("plan");
        assert_eq!(plan.control, TOXIPROXY_CONTROL);
    }

    #[test]
    fn beyond_loopback_without_a_token_is_bad_usage() {
        let e = ServePlan::from_args(args(None, true, Some("0.0.0.0:8474"))).expect_err("refused");
        assert_eq!(e.exit_status(), ExitStatus::BadInput);
        assert!(e.to_string().contains("--token-env"), "{e}");
    }
}
