//! Validation of `tls = { ... }` tables (HTTP paths and `[dependency]`): paths
//! interpolated (`${VAR}`) and resolved against the scenario's folder, then every file
//! read and checked (see [`crate::tls::TlsFiles`]), so a missing CA or an unreadable key
//! is reported at its key before anything starts.

use std::ops::Range;
use std::path::Path;

use serde_spanned::Spanned;

use super::error::Problem;
use super::explain::key_span;
use super::interpolate::{InterpolationError, interpolate_env};
use super::paths::is_https;
use super::raw::{RawDependency, RawTls};
use super::validate::{Checker, Env};
use crate::tls::{TlsConfig, TlsFile, TlsFiles, TlsFilesError};

impl Checker<'_> {
    /// The `tls` table at `raw`, called `table` in messages (`paths.legacy.tls`).
    pub(super) fn tls(&self, raw: &Spanned<RawTls>, table: &str) -> Result<TlsConfig, Problem> {
        let files = tls_files(raw, table, &self.folder(), self.env).map_err(|e| {
            let span = self.within(&e.0, &e.1.range);
            Problem::new(span, e.1.message, e.1.help)
        })?;
        files
            .load()
            .map_err(|e: TlsFilesError| Problem::new(e.span, e.message, e.help))
    }

    /// How the dependency proxy trusts an `https://` upstream: `[dependency] tls`, else
    /// the system roots; `None` for a plain upstream (where a `tls` table is refused).
    pub(super) fn dependency_tls(
        &self,
        raw: Option<&Spanned<RawDependency>>,
    ) -> Result<Option<TlsConfig>, Problem> {
        let Some(d) = raw.map(Spanned::get_ref) else {
            return Ok(None);
        };
        match (&d.tls, is_https(d.upstream.get_ref().trim())) {
            (Some(t), true) => self.tls(t, "dependency.tls").map(Some),
            (None, true) => self.system_tls(d.upstream.span()).map(Some),
            (Some(t), false) => Err(Problem::new(
                key_span(self.text, &t.span()),
                "[dependency] has `tls`, but its upstream is not an https:// URL",
                "`tls` applies to an https:// upstream: remove it, or write the upstream with https://",
            )),
            (None, false) => Ok(None),
        }
    }

    /// The trust of an `https://` URL without a `tls` table: the system roots; `span` is
    /// the URL's, where a machine without roots is reported.
    pub(super) fn system_tls(&self, span: Range<usize>) -> Result<TlsConfig, Problem> {
        TlsConfig::system().map_err(|why| {
            Problem::new(
                span,
                why,
                "add `tls = { ca_file = \"ca.pem\" }` with the CA that issued the server's certificate",
            )
        })
    }
}

/// An interpolation problem, with the value it is in.
pub(crate) type FileError = Box<(Spanned<String>, InterpolationError)>;

/// A `tls` table's files, interpolated and resolved against `folder`.
pub(crate) fn tls_files(
    raw: &Spanned<RawTls>,
    table: &str,
    folder: &Path,
    env: Env<'_>,
) -> Result<TlsFiles, FileError> {
    let file = |value: &Option<Spanned<String>>| -> Result<Option<TlsFile>, FileError> {
        match value {
            None => Ok(None),
            Some(v) => {
                let resolved =
                    interpolate_env(v.get_ref(), env).map_err(|e| Box::new((v.clone(), e)))?;
                Ok(Some(TlsFile {
                    written: v.get_ref().clone(),
                    path: folder.join(resolved.resolved),
                    span: v.span(),
                }))
            }
        }
    };
    let r = raw.get_ref();
    Ok(TlsFiles {
        table: table.to_owned(),
        span: raw.span(),
        ca_file: file(&r.ca_file)?,
        client_cert: file(&r.client_cert)?,
        client_key: file(&r.client_key)?,
        insecure_skip_verify: r
            .insecure_skip_verify
            .as_ref()
            .filter(|b| *b.get_ref())
            .map(Spanned::span),
    })
}
