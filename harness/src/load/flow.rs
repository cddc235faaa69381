//! One iteration of a flow: its steps in order, each a timed request, with variables
//! extracted from JSON answers feeding later steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::events::{EventLog, RequestEvent};
use super::http::{HttpClient, OutgoingRequest};
use super::outcome::{Outcome, OutcomeClass};
use crate::record::SharedRecorder;
use crate::scenario::{Flow, Header, Step, Template};

/// Where a path's requests go: the base URL (scheme, authority, optional prefix) and
/// the path's headers, with secrets resolved (never printed).
#[derive(Clone)]
pub struct ResolvedTarget {
    base: String,
    headers: HeaderMap,
}

impl std::fmt::Debug for ResolvedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may hold secrets: show names only.
        f.debug_struct("ResolvedTarget")
            .field("base", &self.base)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a target could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The base URL is not an absolute `http://` URL.
    #[error("base URL `{0}` is not an absolute http:// URL")]
    BadUrl(String),
    /// A header value cannot be sent.
    #[error("the value of header `{0}` cannot be sent (control characters?)")]
    BadHeader(String),
}

impl ResolvedTarget {
    /// Prepares `base_url` (already interpolated) and `headers` for sending.
    pub fn new(base_url: &str, headers: &[Header]) -> Result<Self, TargetError> {
        let parsed: Uri = base_url
            .parse()
            .map_err(|_| TargetError::BadUrl(base_url.to_string()))?;
        if parsed.scheme_str() != Some("http") || parsed.authority().is_none() {
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
        })
    }

    /// The same headers, sent to `base_url` instead (e.g. through a fault proxy).
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
        })
    }

    /// The base URL (never holds a header secret; may hold an interpolated URL).
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// A step with whatever does not depend on variables computed once.
#[derive(Debug)]
struct PreparedStep {
    uri: Option<Uri>,
    body: Option<Bytes>,
    headers: HeaderMap,
    dynamic_headers: Vec<(HeaderName, Template)>,
}

/// Everything a worker needs to run iterations of one path.
#[derive(Debug)]
pub struct IterationContext {
    client: HttpClient,
    target: ResolvedTarget,
    timeout: Duration,
    epoch: Instant,
    ids: AtomicU64,
    recorder: Arc<SharedRecorder>,
    prepared: Vec<PreparedStep>,
    events: Option<Arc<EventLog>>,
}

impl IterationContext {
    /// A context for `flows` against `target`; `epoch` is the start of the run (warmup included).
    pub fn new(
        client: HttpClient,
        target: ResolvedTarget,
        flows: &[Flow],
        timeout: Duration,
        epoch: Instant,
        recorder: Arc<SharedRecorder>,
    ) -> Self {
        let prepared = flows
            .iter()
            .flat_map(|f| f.steps.iter())
            .map(|s| prepare(&target, s))
            .collect();
        Self {
            client,
            target,
            timeout,
            epoch,
            ids: AtomicU64::new(1),
            recorder,
            prepared,
            events: None,
        }
    }

    /// The recorder outcomes go to.
    pub fn recorder(&self) -> &SharedRecorder {
        &self.recorder
    }

    /// Also logs every first-step request into `log` (for resilience observations).
    pub fn with_event_log(mut self, log: Arc<EventLog>) -> Self {
        self.events = Some(log);
        self
    }

    /// The base URL requests go to.
    pub fn target_base(&self) -> &str {
        self.target.base()
    }

    /// The start of the run.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Records an arrival that could not start, as `dropped` on the flow's first step.
    pub fn record_dropped(&self, flow: &Flow, intended: Instant) {
        if let Some(step) = flow.steps.first() {
            let offset = intended.saturating_duration_since(self.epoch);
            self.recorder.record(&Outcome {
                step: step.index,
                intended: offset,
                latency: Duration::ZERO,
                class: OutcomeClass::Dropped,
                status: None,
                request_id: 0,
            });
        }
    }

    /// Runs the steps of `flow`; the first step's latency counts from `intended`
    /// (its arrival time), later steps from when they could start. A failed step
    /// ends the iteration.
    pub async fn run(&self, flow: &Flow, intended: Instant) {
        let mut vars: Vec<Option<String>> = vec![None; flow.vars.len()];
        let mut step_intended = intended;
        for (position, step) in flow.steps.iter().enumerate() {
            let ok = self
                .run_step(step, &mut vars, step_intended, position == 0)
                .await;
            if !ok {
                break;
            }
            step_intended = Instant::now();
        }
    }

    async fn run_step(
        &self,
        step: &Step,
        vars: &mut [Option<String>],
        intended: Instant,
        first: bool,
    ) -> bool {
        let request_id = self.ids.fetch_add(1, Ordering::Relaxed);
        let offset = intended.saturating_duration_since(self.epoch);
        self.recorder.record_sent(offset);
        let (class, status) = match self.build(step, vars, request_id) {
            None => (OutcomeClass::CheckFailed, None),
            Some(request) => {
                let answer = self.client.send(request, self.timeout).await;
                match (answer.failure, answer.status) {
                    (Some(class), status) => (class, status),
                    (None, Some(status)) if !step.accepts(status) => {
                        (OutcomeClass::for_unexpected_status(status), Some(status))
                    }
                    (None, status) => {
                        if extract(step, &answer.body, vars) {
                            (OutcomeClass::Ok, status)
                        } else {
                            (OutcomeClass::CheckFailed, status)
                        }
                    }
                }
            }
        };
        let latency = Instant::now().saturating_duration_since(intended);
        self.recorder.record(&Outcome {
            step: step.index,
            intended: offset,
            latency,
            class,
            status,
            request_id,
        });
        if first && let Some(log) = &self.events {
            log.push(RequestEvent {
                request_id,
                at: offset,
                latency,
                class,
            });
        }
        class == OutcomeClass::Ok
    }

    fn build(
        &self,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
    ) -> Option<OutgoingRequest> {
        let prepared = self.prepared.get(usize::from(step.index))?;
        let uri = match &prepared.uri {
            Some(uri) => uri.clone(),
            None => format!("{}{}", self.target.base, step.path.render(vars)?)
                .parse()
                .ok()?,
        };
        let body = match (&prepared.body, &step.body) {
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
            method: step.method.clone(),
            uri,
            headers,
            body,
            request_id,
        })
    }
}

fn prepare(target: &ResolvedTarget, step: &Step) -> PreparedStep {
    let uri = if step.path.is_static() {
        step.path
            .render(&[])
            .and_then(|p| format!("{}{}", target.base, p).parse().ok())
    } else {
        None
    };
    let body = match &step.body {
        Some(t) if t.is_static() => t.render(&[]).map(Bytes::from),
        None => Some(Bytes::new()),
        Some(_) => None,
    };
    let mut headers = target.headers.clone();
    let mut dynamic_headers = Vec::new();
    for (name, template) in &step.headers {
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
    PreparedStep {
        uri,
        body,
        headers,
        dynamic_headers,
    }
}

/// Takes the step's extractions from a JSON body; false when one is missing.
fn extract(step: &Step, body: &[u8], vars: &mut [Option<String>]) -> bool {
    if step.extract.is_empty() {
        return true;
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    for extraction in &step.extract {
        let value = match json.pointer(&extraction.pointer) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => return false,
            Some(other) => other.to_string(),
        };
        match vars.get_mut(extraction.slot) {
            Some(slot) => *slot = Some(value),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Extraction;

    fn step_with_extract(pointer: &str) -> Step {
        Step {
            name: "s".into(),
            index: 0,
            method: http::Method::GET,
            path: Template::literal("/"),
            body: None,
            headers: vec![],
            expect_status: vec![],
            extract: vec![Extraction {
                slot: 0,
                pointer: pointer.into(),
            }],
        }
    }

    #[test]
    fn extraction_takes_strings_and_numbers_and_fails_on_missing_values() {
        let mut vars = vec![None];
        assert!(extract(
            &step_with_extract("/id"),
            br#"{"id":"t-1"}"#,
            &mut vars
        ));
        assert_eq!(vars[0].as_deref(), Some("t-1"));
        assert!(extract(&step_with_extract("/n"), br#"{"n":7}"#, &mut vars));
        assert_eq!(vars[0].as_deref(), Some("7"));
        assert!(!extract(
            &step_with_extract("/missing"),
            br#"{"n":7}"#,
            &mut vars
        ));
        assert!(!extract(&step_with_extract("/n"), b"not json", &mut vars));
    }

    #[test]
    fn targets_refuse_non_http_urls_and_keep_secrets_out_of_debug() {
        assert!(ResolvedTarget::new("ftp://x", &[]).is_err());
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
