//! An HTTPS server on 127.0.0.1 for the TLS tests: a CA and certificates made with rcgen
//! in the test, HTTP/1.1 answered by hand (so a test can make the server send a TLS
//! KeyUpdate or `close_notify` while a connection is idle), and counts of TCP
//! connections, completed handshakes and resumed handshakes, taken on the server side.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use rustls::{HandshakeKind, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A certificate authority made for one test.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub pem: String,
}

/// A certificate and its key, PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).expect("params");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.pem.as_bytes()).expect("CA der")
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// What the server does on a connection after each answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AfterAnswer {
    /// Nothing: keep-alive.
    #[default]
    Nothing,
    /// 100 ms later, a TLS KeyUpdate: the idle connection becomes readable without
    /// carrying data or closing.
    KeyUpdate,
    /// `close_notify`, then the connection ends.
    CloseNotify,
}

/// Counts taken by the server.
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicUsize,
    pub handshakes: AtomicUsize,
    pub resumed: AtomicUsize,
    pub requests: AtomicUsize,
}

impl Stats {
    pub fn get(&self) -> (usize, usize, usize) {
        (
            self.accepted.load(Ordering::SeqCst),
            self.handshakes.load(Ordering::SeqCst),
            self.resumed.load(Ordering::SeqCst),
        )
    }
}

/// A running server; stops when dropped.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    /// Serves `leaf` on 127.0.0.1; with `client_ca`, only clients presenting a
    /// certificate from it are served (mTLS). GET answers `hello`; POST echoes its body;
    /// a path starting with `/slow` answers after 300 ms.
    pub async fn start(leaf: &Leaf, client_ca: Option<&Ca>, after: AfterAnswer) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca.der()).expect("client CA");
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let chain = vec![CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).expect("cert")];
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
        let mut config = builder.with_single_cert(chain, key).expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stats = Arc::new(Stats::default());
        let counts = Arc::clone(&stats);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    counts.handshakes.fetch_add(1, Ordering::SeqCst);
                    if stream.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed) {
                        counts.resumed.fetch_add(1, Ordering::SeqCst);
                    }
                    serve(stream, &counts, after).await;
                });
            }
        });
        Self { addr, stats, task }
    }

    /// `https://<host>:<port>`.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.addr.port())
    }
}

/// Answers requests on one connection until it ends.
async fn serve(mut stream: TlsStream<TcpStream>, stats: &Stats, after: AfterAnswer) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        if head
            .split_whitespace()
            .nth(1)
            .is_some_and(|p| p.starts_with("/slow"))
        {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let answer = if head.starts_with("post") {
            body
        } else {
            b"hello".to_vec()
        };
        let mut out = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        )
        .into_bytes();
        out.extend_from_slice(&answer);
        if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        stats.requests.fetch_add(1, Ordering::SeqCst);
        match after {
            AfterAnswer::Nothing => {}
            AfterAnswer::KeyUpdate => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if stream.get_mut().1.refresh_traffic_keys().is_err()
                    || stream.flush().await.is_err()
                {
                    return;
                }
            }
            AfterAnswer::CloseNotify => {
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}
