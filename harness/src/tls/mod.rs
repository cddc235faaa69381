//! HTTPS: which servers a client trusts, which certificate it presents, and how a failed
//! handshake is put into words.
//!
//! The load client and the fault proxy's upstream share one [`TlsConfig`] type, made from
//! the `tls = { ... }` table of a path, a `[dependency]` or a proxy file
//! ([`TlsFiles::load`]), or from the system's roots alone ([`TlsConfig::system`]). Every
//! handshake uses rustls with the ring provider (no OpenSSL), offers ALPN `http/1.1` and
//! sends the URL's host as SNI.

mod config;
mod describe;
mod files;
mod verify;

pub use config::{TlsConfig, TlsConnector, server_name};
pub use describe::{describe_io, describe_tls};
pub use files::{TlsFile, TlsFiles, TlsFilesError};
