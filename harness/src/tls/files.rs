//! The files a `tls = { ... }` table names, read and checked before anything starts:
//! `ca_file` (PEM certificates that replace the system roots), `client_cert` and
//! `client_key` (PEM chain and PKCS#8, PKCS#1 or SEC1 key, for mTLS), and
//! `insecure_skip_verify`. Problems carry the byte span of the key they are about, so the
//! scenario or proxy file can point at it; messages show paths as written (they may hold
//! `${VAR}`s, whose values are not shown) and never a byte of a key.

use std::ops::Range;
use std::path::PathBuf;

use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::config::{BuildError, Roots, TlsConfig};

/// One file named in a `tls` table.
#[derive(Debug, Clone)]
pub struct TlsFile {
    /// The path as written (may hold `${VAR}`).
    pub written: String,
    /// The path to read: interpolated, relative paths resolved.
    pub path: PathBuf,
    /// Where the value is in the file.
    pub span: Range<usize>,
}

/// A `tls` table with its file paths resolved, not yet read.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// Where the table is, e.g. `paths.legacy.tls`, for messages.
    pub table: String,
    /// The table's span (for problems with no key of their own).
    pub span: Range<usize>,
    /// PEM certificates trusted instead of the system roots.
    pub ca_file: Option<TlsFile>,
    /// PEM certificate chain presented to the server.
    pub client_cert: Option<TlsFile>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<TlsFile>,
    /// The span of `insecure_skip_verify = true`, when it is set.
    pub insecure_skip_verify: Option<Range<usize>>,
}

/// A problem with a `tls` table, at a place in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFilesError {
    /// Where.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl TlsFilesError {
    fn new(span: Range<usize>, message: String, help: impl Into<String>) -> Self {
        Self {
            span,
            message,
            help: help.into(),
        }
    }
}

impl TlsFiles {
    /// Reads every file and builds the client config.
    pub fn load(&self) -> Result<TlsConfig, TlsFilesError> {
        let t = &self.table;
        if let (Some(_), Some(ca)) = (&self.insecure_skip_verify, &self.ca_file) {
            return Err(TlsFilesError::new(
                ca.span.clone(),
                format!("`{t}.ca_file` has no effect with `insecure_skip_verify = true`"),
                "keep one: `ca_file` to verify against that CA (recommended), or `insecure_skip_verify` to verify nothing",
            ));
        }
        let client_auth = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some((self.chain(cert)?, self.key(key)?)),
            (None, None) => None,
            (Some(one), None) | (None, Some(one)) => {
                let (has, lacks) = if self.client_cert.is_some() {
                    ("client_cert", "client_key")
                } else {
                    ("client_key", "client_cert")
                };
                return Err(TlsFilesError::new(
                    one.span.clone(),
                    format!("`{t}.{has}` needs `{lacks}`"),
                    "a client certificate (mTLS) needs both `client_cert` (PEM chain) and `client_key` (PEM key)",
                ));
            }
        };
        let roots = match (&self.ca_file, &self.insecure_skip_verify) {
            (Some(ca), _) => Roots::Only(self.roots(ca)?),
            (None, Some(_)) => Roots::SkipVerification,
            (None, None) => Roots::System,
        };
        TlsConfig::build(roots, client_auth, self.source()).map_err(|e| match e {
            BuildError::Roots(why) => TlsFilesError::new(
                self.span.clone(),
                format!("`{t}`: {why}"),
                "set `ca_file` to the CA that issued the server's certificate",
            ),
            BuildError::ClientAuth(e) => {
                let span = self.client_key.as_ref().map_or(self.span.clone(), |k| k.span.clone());
                TlsFilesError::new(
                    span,
                    format!("`{t}.client_key` cannot be used with `client_cert`: {e}"),
                    "give the key that belongs to the certificate (RSA, ECDSA P-256/P-384 or Ed25519)",
                )
            }
        })
    }

    /// What the config trusts and presents, as written.
    fn source(&self) -> String {
        let mut parts = Vec::new();
        match (&self.ca_file, &self.insecure_skip_verify) {
            (Some(ca), _) => parts.push(format!("ca_file {}", ca.written)),
            (None, Some(_)) => parts.push("insecure_skip_verify".to_string()),
            (None, None) => parts.push("system roots".to_string()),
        }
        if let Some(cert) = &self.client_cert {
            parts.push(format!("client_cert {}", cert.written));
        }
        parts.join(", ")
    }

    fn read(&self, key: &str, file: &TlsFile) -> Result<Vec<u8>, TlsFilesError> {
        crate::input::read(&file.path, crate::input::PEM).map_err(|e| {
            let reason = e.to_string();
            let reason = reason.split(" (os error").next().unwrap_or(&reason).to_string();
            TlsFilesError::new(
                file.span.clone(),
                format!("cannot read `{}.{key}` `{}`: {reason}", self.table, file.written),
                "a relative path is relative to the file's folder; fix the path, or the environment variable it uses",
            )
        })
    }

    fn certificates(
        &self,
        key: &str,
        file: &TlsFile,
    ) -> Result<Vec<CertificateDer<'static>>, TlsFilesError> {
        let bytes = self.read(key, file)?;
        let bad = |why: String| {
            TlsFilesError::new(
                file.span.clone(),
                format!("`{}.{key}` `{}` {why}", self.table, file.written),
                "give a PEM file with one or more `-----BEGIN CERTIFICATE-----` blocks",
            )
        };
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("is not valid PEM ({})", pem_reason(&e))))?;
        if certs.is_empty() {
            return Err(bad("holds no certificate".into()));
        }
        Ok(certs)
    }

    fn roots(&self, ca: &TlsFile) -> Result<RootCertStore, TlsFilesError> {
        let mut store = RootCertStore::empty();
        for (n, cert) in self.certificates("ca_file", ca)?.into_iter().enumerate() {
            store.add(cert).map_err(|e| {
                TlsFilesError::new(
                    ca.span.clone(),
                    format!(
                        "certificate {} of `{}.ca_file` `{}` cannot be a trust anchor: {e}",
                        n + 1,
                        self.table,
                        ca.written
                    ),
                    "give the PEM certificate of the CA that issued the server's certificate",
                )
            })?;
        }
        Ok(store)
    }

    fn chain(&self, cert: &TlsFile) -> Result<Vec<CertificateDer<'static>>, TlsFilesError> {
        self.certificates("client_cert", cert)
    }

    fn key(&self, key: &TlsFile) -> Result<PrivateKeyDer<'static>, TlsFilesError> {
        let bytes = self.read("client_key", key)?;
        // The reason never quotes the file: it holds a secret.
        PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
            let why = match e {
                pem::Error::NoItemsFound => "holds no private key".to_string(),
                other => format!("is not valid PEM ({})", pem_reason(&other)),
            };
            TlsFilesError::new(
                key.span.clone(),
                format!("`{}.client_key` `{}` {why}", self.table, key.written),
                "give a PEM key: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1)",
            )
        })
    }
}

/// A PEM error's kind, without any of the file's text.
fn pem_reason(error: &pem::Error) -> &'static str {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::Io(_) => "it could not be read",
        pem::Error::NoItemsFound => "nothing found",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "unreadable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &std::path::Path, name: &str, text: &str, at: usize) -> TlsFile {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        TlsFile {
            written: name.into(),
            path,
            span: at..at + 1,
        }
    }

    fn files() -> TlsFiles {
        TlsFiles {
            table: "paths.api.tls".into(),
            span: 0..1,
            ..TlsFiles::default()
        }
    }

    #[test]
    fn unreadable_and_empty_files_are_refused_at_their_key() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = TlsFiles {
            ca_file: Some(TlsFile {
                written: "nope.pem".into(),
                path: dir.path().join("nope.pem"),
                span: 5..9,
            }),
            ..files()
        };
        let e = missing.load().expect_err("missing file");
        assert_eq!(e.span, 5..9);
        assert!(
            e.message
                .contains("cannot read `paths.api.tls.ca_file` `nope.pem`"),
            "{e:?}"
        );
        let empty = TlsFiles {
            ca_file: Some(file(dir.path(), "empty.pem", "just text\n", 3)),
            ..files()
        };
        assert!(
            empty
                .load()
                .expect_err("no cert")
                .message
                .contains("holds no certificate")
        );
    }

    #[test]
    fn key_problems_never_quote_the_key() {
        let dir = tempfile::tempdir().expect("dir");
        let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBtYXRlcmlhbA@@\n-----END PRIVATE KEY-----\n";
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let bad_key = TlsFiles {
            client_cert: Some(file(dir.path(), "c.pem", &cert.cert.pem(), 1)),
            client_key: Some(file(dir.path(), "k.pem", secret, 20)),
            ..files()
        };
        let e = bad_key.load().expect_err("bad key");
        assert_eq!(e.span, 20..21);
        assert!(
            !e.message.contains("c2VjcmV0") && !e.help.contains("c2VjcmV0"),
            "{e:?}"
        );
        let lonely = TlsFiles {
            client_cert: Some(file(dir.path(), "c.pem", &cert.cert.pem(), 1)),
            ..files()
        };
        assert!(
            lonely
                .load()
                .expect_err("no key")
                .message
                .contains("needs `client_key`")
        );
    }

    #[test]
    fn a_ca_file_and_a_matching_client_pair_build() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("ca");
        let client = rcgen::generate_simple_self_signed(vec!["client".into()]).expect("client");
        let ok = TlsFiles {
            ca_file: Some(file(dir.path(), "ca.pem", &ca.cert.pem(), 1)),
            client_cert: Some(file(dir.path(), "c.pem", &client.cert.pem(), 2)),
            client_key: Some(file(
                dir.path(),
                "k.pem",
                &client.signing_key.serialize_pem(),
                3,
            )),
            ..files()
        };
        let config = ok.load().expect("valid");
        assert_eq!(config.source(), "ca_file ca.pem, client_cert c.pem");
        assert!(!config.is_insecure());
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).expect("other");
        let mismatched = TlsFiles {
            client_key: Some(file(
                dir.path(),
                "k2.pem",
                &other.signing_key.serialize_pem(),
                9,
            )),
            ..ok
        };
        let e = mismatched.load().expect_err("mismatch");
        assert_eq!(e.span, 9..10);
    }
}
