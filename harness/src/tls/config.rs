//! A validated TLS client setup and the connectors made from it.
//!
//! Roots come from the system store by default (`rustls-native-certs`): a platform team's
//! staging often uses a corporate CA that IT installs in the system store, and
//! `webpki-roots` (Mozilla's list compiled in) would refuse every such service. The store
//! is read once per process; `SSL_CERT_FILE` and `SSL_CERT_DIR` point it elsewhere. A
//! `ca_file` *replaces* the system roots: the run then trusts exactly that bundle, the
//! same on every machine, so a comparison does not depend on what a machine has installed.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::verify::SkipVerification;

/// Sessions a connector remembers for resumption (per server name, rustls keeps a few
/// TLS 1.3 tickets each).
const SESSION_CACHE: usize = 256;

/// Where a client's trust comes from.
#[derive(Debug)]
pub(super) enum Roots {
    /// The system store.
    System,
    /// Exactly these certificates (from `ca_file`).
    Only(RootCertStore),
    /// None: certificates are not verified (`insecure_skip_verify`).
    SkipVerification,
}

/// How a client talks TLS: its roots, its client certificate, whether it verifies at all.
/// Cheap to clone; never shows key material.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    insecure: bool,
    /// What it trusts and presents, as written (file names, never contents).
    source: String,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("source", &self.source)
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.insecure == other.insecure
    }
}

impl Eq for TlsConfig {}

/// The one crypto provider: ring. Both providers may be compiled in (other crates enable
/// aws-lc-rs), so it is always named rather than left to the process default.
pub(super) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system's roots, read once per process; the error says what was looked at.
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added > 0 {
                return Ok(Arc::new(store));
            }
            let why = found
                .errors
                .first()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            Err(format!(
                "the system trust store has no usable certificate{why}; install the \
                 ca-certificates package, point SSL_CERT_FILE at a PEM bundle, or set \
                 `ca_file` in the `tls` table"
            ))
        })
        .clone()
}

impl TlsConfig {
    /// The system's roots, no client certificate.
    pub fn system() -> Result<Self, String> {
        Self::build(Roots::System, None, "system roots".into()).map_err(|e| match e {
            BuildError::Roots(why) => why,
            BuildError::ClientAuth(e) => e.to_string(),
        })
    }

    /// Builds a config; `source` says what it was made from, for people.
    pub(super) fn build(
        roots: Roots,
        client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
        source: String,
    ) -> Result<Self, BuildError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(BuildError::ClientAuth)?;
        let insecure = matches!(roots, Roots::SkipVerification);
        let builder = match roots {
            Roots::System => {
                builder.with_root_certificates(system_roots().map_err(BuildError::Roots)?)
            }
            Roots::Only(store) => builder.with_root_certificates(store),
            Roots::SkipVerification => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipVerification::new(provider))),
        };
        let mut config = match client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(BuildError::ClientAuth)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            insecure,
            source,
        })
    }

    /// True when certificates are not verified (`insecure_skip_verify`).
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// What it trusts and presents, for people (file names as written).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A connector with a session cache of its own: the connections it opens resume
    /// each other's sessions, and nothing carries over from another client (so every
    /// run starts with the same cold handshakes).
    pub fn connector(&self) -> TlsConnector {
        let mut config = (*self.config).clone();
        config.resumption = Resumption::in_memory_sessions(SESSION_CACHE);
        TlsConnector(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

/// Why a config could not be built.
#[derive(Debug)]
pub(super) enum BuildError {
    /// The system store gave nothing usable.
    Roots(String),
    /// rustls refused the client certificate and key (or the protocol versions).
    ClientAuth(rustls::Error),
}

/// Opens TLS connections for one client; clones share the session cache.
#[derive(Clone)]
pub struct TlsConnector(pub(crate) tokio_rustls::TlsConnector);

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnector")
    }
}

/// The server name to send as SNI and to verify the certificate against: the URL's host
/// (brackets of an IPv6 literal removed).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|_| format!("`{host}` cannot be a TLS server name"))
}
