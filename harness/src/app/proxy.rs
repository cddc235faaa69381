//! `harness proxy --config FILE`: the fault proxy on its own, with a JSON control API.
//!
//! The file format (and its validation into a [`ProxyPlan`]) is `fault::file`'s; here are
//! the command's edges: a file error is reported like a scenario error (exit code 2),
//! warnings go to stderr, and nothing listens until the whole file has validated.
//!
//! Once both listen, stdout gets exactly two lines, `proxy: http://ADDR` and
//! `control: http://ADDR`, for scripts to read; Ctrl-C (SIGINT) or SIGTERM stops both
//! and exits 0.

use std::path::Path;
use std::sync::Arc;

use super::{interrupt, runtime};
use crate::cli::ProxyArgs;
use crate::exit::{AppError, ExitStatus};
use crate::fault::control::{Control, ControlServer, ProxyMode};
use crate::fault::file::{ProxyPlan, load_plan};
use crate::fault::{FaultProxy, ProxyOptions};
use crate::load::StopSignal;
use crate::tls::TlsConfig;

/// Runs the proxy and its control API until Ctrl-C or SIGTERM.
pub(super) fn proxy_command(args: ProxyArgs) -> Result<ExitStatus, AppError> {
    // A file error is reported like a scenario error (exit 2).
    let plan = load_plan(&args.config)?;
    for (what, addr, risk) in [
        ("proxy", plan.listen, ""),
        (
            "control API",
            plan.control,
            "; it has no authentication, so anyone who reaches it can change the faults",
        ),
    ] {
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: the {what} listens on {addr}, which other hosts can reach{risk} (use 127.0.0.1 unless you mean it)"
            );
        }
    }
    if plan.tls.as_ref().is_some_and(TlsConfig::is_insecure) {
        eprintln!(
            "warning: insecure_skip_verify = true: the proxy does not verify the upstream's TLS certificate"
        );
    }
    let stop = interrupt::stop_signal();
    runtime()?.block_on(serve(plan, &args.config, &stop, args.quiet))?;
    Ok(ExitStatus::Success)
}

/// Starts the proxy and the control API, prints their URLs, waits for `stop`, stops both.
async fn serve(
    plan: ProxyPlan,
    file: &Path,
    stop: &StopSignal,
    quiet: bool,
) -> Result<(), AppError> {
    // The API serves counts only; full attempt entries would cost memory nobody reads.
    let options = ProxyOptions {
        log_capacity: 0,
        tls: plan.tls.clone(),
        ..ProxyOptions::default()
    };
    let upstream = plan.info.upstream.clone();
    let faults = plan.faults.clone();
    let started = match plan.info.mode {
        ProxyMode::Http => {
            FaultProxy::start_http_with(plan.listen, upstream, faults, plan.seed, options)
        }
        ProxyMode::Tcp => {
            FaultProxy::start_tcp_with(plan.listen, upstream, faults, plan.seed, options)
        }
    };
    let proxy = started.map_err(|e| {
        AppError::Runtime(format!(
            "cannot start the proxy on {}: {e}; choose another `listen` in {}",
            plan.listen,
            file.display()
        ))
    })?;
    let count = plan.faults.len();
    let control = Control::new(proxy, plan.info.clone(), plan.faults)
        .map_err(|e| AppError::Runtime(format!("cannot put the faults in force: {e}")))?;
    let control = Arc::new(control);
    let server = ControlServer::start(plan.control, Arc::clone(&control))
        .await
        .map_err(|e| {
            AppError::Runtime(format!(
                "cannot start the control API on {}: {e}; choose another `control` in {}",
                plan.control,
                file.display()
            ))
        })?;
    println!("proxy: {}", control.proxy().url());
    println!("control: {}", server.url());
    if !quiet {
        let name = &plan.info.name;
        eprintln!(
            "proxy `{name}` ({} mode) -> {} with {count} fault(s), seed {}",
            plan.info.mode, plan.info.upstream, plan.seed
        );
        eprintln!(
            "  control: GET|POST|PUT /faults, DELETE /faults/{{name}}, GET /attempts, GET /healthz"
        );
        eprintln!(
            "  Toxiproxy: GET /proxies, GET|POST /proxies/{name}/toxics, DELETE /proxies/{name}/toxics/{{toxic}}"
        );
        eprintln!("Ctrl-C stops.");
    }
    stop.triggered().await;
    server.shutdown().await;
    control.shutdown().await;
    Ok(())
}
