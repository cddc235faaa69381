//! A minimal HTTP/1.1 hello-world for the benchmarks in `bench/` (see `BENCHMARKS.md`).
//!
//! ```text
//! bench_server [--addr 127.0.0.1:0] [--threads N] [--stall-every 5s --stall-for 1s]
//!              [--tls CERT KEY]
//! ```
//!
//! Answers every request with `200 OK` and a 13-byte body, keep-alive. The first line on
//! stdout is the bound address (`127.0.0.1:PORT`), for scripts to read.
//!
//! With `--stall-every P --stall-for S`, the service stalls for the first `S` of every
//! period `P` (counted from start-up): a request that arrives, or is still unanswered,
//! inside a stall window is answered only when the window ends. That is the "stalling
//! service" of the coordinated-omission test.
//!
//! `--threads 1` (the default) runs a current-thread runtime; `--threads N` a
//! multi-threaded one with `N` workers.
//!
//! `--tls CERT KEY` serves HTTPS (rustls with ring, TLS 1.3 or 1.2, ALPN `http/1.1`)
//! with the PEM certificate chain and key given (`bench_cert` writes a pair).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const BODY: &[u8] = b"Hello, World!";

#[derive(Debug, Clone, Copy)]
struct Stall {
    every: Duration,
    length: Duration,
}

impl Stall {
    /// When the stall window that `now` falls in ends, if it falls in one.
    fn window_end(&self, start: Instant, now: Instant) -> Option<Instant> {
        let since = now.saturating_duration_since(start).as_nanos();
        let every = self.every.as_nanos().max(1);
        let into = since % every;
        (into < self.length.as_nanos()).then(|| {
            let period_start = since - into;
            let end = period_start + self.length.as_nanos();
            start + Duration::from_nanos(u64::try_from(end).unwrap_or(u64::MAX))
        })
    }
}

#[derive(Debug)]
struct Options {
    addr: SocketAddr,
    threads: usize,
    stall: Option<Stall>,
    /// PEM certificate chain and key: serve HTTPS.
    tls: Option<(PathBuf, PathBuf)>,
}

fn usage(problem: &str) -> ! {
    eprintln!("bench_server: {problem}");
    eprintln!(
        "usage: bench_server [--addr 127.0.0.1:0] [--threads N] [--stall-every 5s --stall-for 1s] [--tls CERT KEY]"
    );
    std::process::exit(2);
}

fn parse_args() -> Options {
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut threads = 1usize;
    let mut every = None;
    let mut length = None;
    let mut tls = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            usage(&format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--tls" => {
                let Some(key) = args.next() else {
                    usage("--tls needs CERT and KEY")
                };
                tls = Some((PathBuf::from(value), PathBuf::from(key)));
            }
            "--addr" => {
                addr = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad address {value:?}")))
            }
            "--threads" => {
                threads = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .unwrap_or_else(|| usage(&format!("bad thread count {value:?}")))
            }
            "--stall-every" => {
                every = Some(
                    humantime::parse_duration(&value)
                        .unwrap_or_else(|_| usage(&format!("bad duration {value:?}"))),
                )
            }
            "--stall-for" => {
                length = Some(
                    humantime::parse_duration(&value)
                        .unwrap_or_else(|_| usage(&format!("bad duration {value:?}"))),
                )
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    let stall = match (every, length) {
        (None, None) => None,
        (Some(every), Some(length)) if !every.is_zero() && length < every => {
            Some(Stall { every, length })
        }
        (Some(_), Some(_)) => usage("--stall-for must be shorter than --stall-every"),
        _ => usage("--stall-every and --stall-for go together"),
    };
    Options {
        addr,
        threads,
        stall,
        tls,
    }
}

/// The TLS acceptor for `--tls CERT KEY`.
fn acceptor(cert: &PathBuf, key: &PathBuf) -> Result<TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("cannot use the certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve(options: Options) -> std::io::Result<()> {
    let tls = match &options.tls {
        Some((cert, key)) => Some(acceptor(cert, key).map_err(std::io::Error::other)?),
        None => None,
    };
    let listener = TcpListener::bind(options.addr).await?;
    println!("{}", listener.local_addr()?);
    let start = Instant::now();
    let stall = options.stall;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<Incoming>| async move {
                if let Some(stall) = stall
                    && let Some(end) = stall.window_end(start, Instant::now())
                {
                    tokio::time::sleep_until(end.into()).await;
                }
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
            });
            let builder = http1::Builder::new();
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(tls) => {
                    let Ok(stream) = tls.accept(stream).await else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

fn main() {
    let options = parse_args();
    let runtime = if options.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .enable_all()
            .build()
    };
    let runtime = runtime.unwrap_or_else(|e| {
        eprintln!("bench_server: cannot start the runtime: {e}");
        std::process::exit(1);
    });
    if let Err(e) = runtime.block_on(serve(options)) {
        eprintln!("bench_server: {e}");
        std::process::exit(1);
    }
}
