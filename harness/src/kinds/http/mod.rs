//! HTTP paths: where requests go (base URL and headers, secrets resolved) and how a
//! step becomes a request and its answer a reply.
//!
//! The client itself ([`client`], over [`h1`] and [`stream`]) is the load generator's
//! transport; the Dagger kind sends its queries through it too.

pub mod client;
mod h1;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

pub use client::{Answer, HttpClient, OutgoingRequest};

use super::{DriveSetup, PathError, PathExecutor, ReadyPath, StepReply};
use crate::outcome::OutcomeClass;
use crate::scenario::{ExtractSource, Flow, Header, PathSpec, Step, Template};
use crate::tls::TlsConfig;

/// Where a path's requests go: the base URL (scheme, authority, optional prefix), the
/// path's headers, with secrets resolved (never printed), and for `https://` how to
/// trust the server.
#[derive(Clone)]
pub struct ResolvedTarget {
    base: String,
    headers: HeaderMap,
    tls: Option<TlsConfig>,
}

impl std::fmt::Debug for ResolvedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may hold secrets: show names only.
        f.debug_struct("ResolvedTarget")
            .field("base", &self.base)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why a target could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The base URL is not an absolute `http://` or `https://` URL.
    #[error("base URL `{0}` is not an absolute http:// or https:// URL")]
    BadUrl(String),
    /// A header value cannot be sent.
    #[error("the value of header `{0}` cannot be sent (control characters?)")]
    BadHeader(String),
}

impl ResolvedTarget {
    /// Prepares `base_url` (already interpolated) and `headers` for sending; an
    /// `https://` URL trusts the system roots unless [`ResolvedTarget::with_tls`] says
    /// otherwise.
    pub fn new(base_url: &str, headers: &[Header]) -> Result<Self, TargetError> {
        let parsed: Uri = base_url
            .parse()
            .map_err(|_| TargetError::BadUrl(base_url.to_string()))?;
        let web = matches!(parsed.scheme_str(), Some("http" | "https"));
        if !web || parsed.authority().is_none() {
            return Err(TargetError::BadUrl(base_url.to_string()));
        }
        let mut map = HeaderMap::new();
        for header in headers {
            let value = HeaderValue::from_str(&header.value.resolved)
                .map_err(|_| TargetError::BadHeader(header.name.to_string()))?;
            map.append(header.name.clone(), value);
        }
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            headers: map,
            tls: None,
        })
    }

    /// The same target, trusting servers as `tls` says (for `https://`).
    pub fn with_tls(mut self, tls: Option<TlsConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// How `https://` servers are trusted, when that was set.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }

    /// The client this target's requests need: TLS as configured, `max_idle`
    /// connections kept.
    pub fn client(&self, max_idle: usize) -> HttpClient {
        match &self.tls {
            Some(tls) if self.base.starts_with("https://") => HttpClient::with_tls(max_idle, tls),
            _ => HttpClient::new(max_idle),
        }
    }

    /// The same headers, sent to the plain `http://` `base_url` instead (a fault proxy,
    /// which makes the TLS connection itself).
    pub fn with_base(&self, base_url: &str) -> Result<Self, TargetError> {
        let parsed: Uri = base_url
            .parse()
            .map_err(|_| TargetError::BadUrl(base_url.to_string()))?;
        if parsed.scheme_str() != Some("http") || parsed.authority().is_none() {
            return Err(TargetError::BadUrl(base_url.to_string()));
        }
        // Keep the original path prefix: the proxy forwards paths as they are.
        let prefix = self
            .base
            .parse::<Uri>()
            .ok()
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        Ok(Self {
            base: format!("{}{prefix}", base_url.trim_end_matches('/')),
            headers: self.headers.clone(),
            tls: None,
        })
    }

    /// The path's headers (values may be secrets).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The base URL (never holds a header secret; may hold an interpolated URL).
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// A step with whatever does not depend on variables computed once.
#[derive(Debug, Default)]
struct PreparedStep {
    uri: Option<Uri>,
    body: Option<Bytes>,
    headers: HeaderMap,
    dynamic_headers: Vec<(HeaderName, Template)>,
    /// Whether anything reads the answer's body (an extraction or a check).
    keep_body: bool,
    /// The answer headers extractions and checks read.
    keep_headers: Option<Arc<[HeaderName]>>,
}

/// Runs the steps of an HTTP path: one request each, through a pooled client.
#[derive(Debug)]
pub struct HttpExecutor {
    client: HttpClient,
    target: ResolvedTarget,
    prepared: Vec<PreparedStep>,
}

impl HttpExecutor {
    /// Prepares every step of `flows` for `target`.
    pub fn new(client: HttpClient, target: ResolvedTarget, flows: &[Flow]) -> Self {
        let prepared = flows
            .iter()
            .flat_map(|f| f.steps.iter())
            .map(|s| prepare(&target, s))
            .collect();
        Self {
            client,
            target,
            prepared,
        }
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        self.target.base()
    }

    /// How TLS failed so far (for the record's notes); the store is emptied.
    pub fn failure_samples(&self) -> Vec<String> {
        self.client.failure_samples()
    }

    /// Sends the step's request; an unexpected status is a failure.
    pub(super) async fn run(
        &self,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        let Some(request) = self.build(step, vars, request_id) else {
            return StepReply::failed(OutcomeClass::CheckFailed, None);
        };
        let answer = self.client.send(request, timeout).await;
        match (answer.failure, answer.status) {
            (Some(class), status) => StepReply::failed(class, status),
            (None, Some(status)) if !step.accepts(status) => {
                StepReply::failed(OutcomeClass::for_unexpected_status(status), Some(status))
            }
            (None, status) => StepReply {
                failure: None,
                status,
                headers: answer.headers,
                body: answer.body,
            },
        }
    }

    fn build(
        &self,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
    ) -> Option<OutgoingRequest> {
        let prepared = self.prepared.get(usize::from(step.index))?;
        let call = step.http()?;
        let uri = match &prepared.uri {
            Some(uri) => uri.clone(),
            None => format!("{}{}", self.target.base, call.path.render(vars)?)
                .parse()
                .ok()?,
        };
        let body = match (&prepared.body, &call.body) {
            (Some(body), _) => body.clone(),
            (None, Some(template)) => Bytes::from(template.render(vars)?),
            (None, None) => Bytes::new(),
        };
        let mut headers = prepared.headers.clone();
        for (name, template) in &prepared.dynamic_headers {
            headers.insert(
                name.clone(),
                HeaderValue::from_str(&template.render(vars)?).ok()?,
            );
        }
        Some(OutgoingRequest {
            method: call.method.clone(),
            uri,
            headers,
            body,
            request_id,
            keep_body: prepared.keep_body,
            keep_headers: prepared.keep_headers.clone(),
        })
    }
}

#[async_trait::async_trait]
impl PathExecutor for HttpExecutor {
    async fn run(
        &self,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        HttpExecutor::run(self, step, vars, request_id, timeout).await
    }

    fn failure_samples(&self) -> Vec<String> {
        HttpExecutor::failure_samples(self)
    }

    fn base_url(&self) -> Option<&str> {
        Some(self.base())
    }
}

/// An HTTP path (`base_url`, or `target = "reference"`): its target, checked once.
#[derive(Debug)]
pub struct HttpPath {
    target: ResolvedTarget,
}

impl HttpPath {
    /// The path `spec`, its requests going to `base_url` (already interpolated).
    pub fn new(spec: &PathSpec, base_url: &str) -> Result<Self, PathError> {
        let target = ResolvedTarget::new(base_url, &spec.headers)
            .map_err(|e| PathError::Target(Box::new(e)))?;
        Ok(Self {
            target: target.with_tls(spec.tls.clone()),
        })
    }
}

impl ReadyPath for HttpPath {
    fn upstream(&self) -> Option<String> {
        Some(self.target.base().to_owned())
    }

    fn upstream_tls(&self) -> Option<&TlsConfig> {
        self.target.tls()
    }

    fn executor(&self, drive: &DriveSetup<'_>) -> Result<Arc<dyn PathExecutor>, PathError> {
        let target = match &drive.proxy_url {
            Some(url) => self
                .target
                .with_base(url)
                .map_err(|e| PathError::Target(Box::new(e)))?,
            None => self.target.clone(),
        };
        let client = target
            .client(drive.max_idle)
            .with_correlation(drive.correlation.clone());
        Ok(Arc::new(HttpExecutor::new(client, target, drive.flows)))
    }
}

fn prepare(target: &ResolvedTarget, step: &Step) -> PreparedStep {
    let Some(call) = step.http() else {
        return PreparedStep::default();
    };
    let uri = if call.path.is_static() {
        call.path
            .render(&[])
            .and_then(|p| format!("{}{}", target.base, p).parse().ok())
    } else {
        None
    };
    let body = match &call.body {
        Some(t) if t.is_static() => t.render(&[]).map(Bytes::from),
        None => Some(Bytes::new()),
        Some(_) => None,
    };
    let mut headers = target.headers.clone();
    let mut dynamic_headers = Vec::new();
    for (name, template) in &call.headers {
        match template
            .render(&[])
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            Some(value) if template.is_static() => {
                headers.insert(name.clone(), value);
            }
            _ => dynamic_headers.push((name.clone(), template.clone())),
        }
    }
    let mut keep_headers: Vec<HeaderName> = Vec::new();
    let read = step
        .extract
        .iter()
        .filter_map(|e| match &e.source {
            ExtractSource::Header(name) => Some(name),
            ExtractSource::Pointer(_) => None,
        })
        .chain(step.checks.iter().filter_map(|c| c.header()))
        .chain(&step.keep_headers);
    for name in read {
        if !keep_headers.contains(name) {
            keep_headers.push(name.clone());
        }
    }
    let keep_body = step.keep_answer
        || step
            .extract
            .iter()
            .any(|e| matches!(e.source, ExtractSource::Pointer(_)))
        || step.checks.iter().any(|c| c.needs_body());
    PreparedStep {
        uri,
        body,
        headers,
        dynamic_headers,
        keep_body,
        keep_headers: (!keep_headers.is_empty()).then(|| keep_headers.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_refuse_non_http_urls_and_keep_secrets_out_of_debug() {
        assert!(ResolvedTarget::new("ftp://x", &[]).is_err());
        assert!(ResolvedTarget::new("https://x", &[]).is_ok());
        assert!(ResolvedTarget::new("/relative", &[]).is_err());
        let header = Header {
            name: HeaderName::from_static("authorization"),
            value: crate::scenario::Interpolated {
                template: "Bearer ${TOKEN}".into(),
                resolved: "Bearer s3cr3t".into(),
            },
        };
        let target =
            ResolvedTarget::new("http://127.0.0.1:1/api/", &[header]).expect("valid target");
        assert_eq!(target.base(), "http://127.0.0.1:1/api");
        assert!(!format!("{target:?}").contains("s3cr3t"));
    }
}
