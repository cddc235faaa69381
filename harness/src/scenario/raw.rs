//! The scenario file as typed: the first of two stages.
//!
//! These types mirror the TOML file one to one. They reject unknown keys and wrong types
//! (the TOML parser then reports the exact place), and keep the byte span of every value
//! that a later cross-field check must point at. Nothing here knows about defaults or
//! rules between fields; `validate` turns a [`RawScenario`] into a
//! [`Scenario`](super::Scenario).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_spanned::Spanned;

use super::expect::ExpectSpec;
use crate::fault::FaultSpec;
use crate::policy::Policy;
use crate::reference::ReferenceConfig;
use crate::units::HumanDuration;

use super::checks::{RawCheck, RawExtract};
use super::model::{CachePolicy, DaggerOutput, PathKind, SessionScope, Spacing};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Spanned<String>,
    pub description: Option<Spanned<String>>,
    pub phases: Option<Vec<Spanned<i64>>>,
    pub component: Option<Spanned<String>>,
    pub seed: Option<u64>,
    pub base: Option<Spanned<String>>,
    pub candidate: Option<Spanned<String>>,
    pub paths: Spanned<Entries<RawPath>>,
    pub load: Spanned<RawLoad>,
    pub flow: Spanned<Vec<Spanned<RawFlow>>>,
    #[serde(default)]
    pub reference: ReferenceConfig,
    pub policy: Option<Spanned<Policy>>,
    #[serde(default)]
    pub fault: Vec<Spanned<FaultSpec>>,
    pub expect: Option<Spanned<ExpectSpec>>,
    pub dependency: Option<Spanned<RawDependency>>,
    pub parity: Option<Spanned<super::parity::RawParity>>,
    #[serde(default)]
    pub metric: Vec<Spanned<super::metric_rules::RawMetricRule>>,
    pub prometheus: Option<Spanned<super::metric_rules::RawPrometheusValue>>,
}

/// `[dependency]`: where the fault proxy listens and forwards when a running service's
/// dependency is faulted (the user points the service at `listen`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDependency {
    pub listen: Spanned<String>,
    pub upstream: Spanned<String>,
    pub request_id_header: Option<Spanned<String>>,
    pub tls: Option<Spanned<RawTls>>,
}

/// A `tls = { ... }` table: on an HTTP path, in `[dependency]`, in a proxy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub ca_file: Option<Spanned<String>>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    pub insecure_skip_verify: Option<Spanned<bool>>,
}

/// `[paths.<name>]`: one way to reach the service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPath {
    pub kind: Option<Spanned<PathKind>>,
    pub target: Option<Spanned<String>>,
    pub base_url: Option<Spanned<String>>,
    pub headers: Option<Spanned<Entries<String>>>,
    pub tls: Option<Spanned<RawTls>>,
    // kind = "command"
    pub workdir: Option<Spanned<String>>,
    pub env: Option<Spanned<Entries<String>>>,
    // kind = "dagger"
    pub connect_timeout: Option<Spanned<HumanDuration>>,
    pub telemetry: Option<Spanned<bool>>,
    pub cache: Option<Spanned<CachePolicy>>,
    // kind = "mcp" (with `headers`)
    pub url: Option<Spanned<String>>,
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    pub session: Option<Spanned<SessionScope>>,
    // any kind: the service's own Prometheus endpoints
    pub metrics: Option<Spanned<Vec<Spanned<String>>>>,
    pub metrics_series: Option<Spanned<Vec<Spanned<String>>>>,
    pub metric_labels: Option<Spanned<Entries<String>>>,
}

/// `[load]`: every key of both models; `validate` refuses the keys of the other model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoad {
    pub model: Spanned<RawModel>,
    // Numbers are read wide (f64, i64) and range-checked in `validate`, so that a zero or
    // negative value gets a message that names the key and says what would be valid.
    pub rate: Option<Spanned<f64>>,
    pub stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    pub spacing: Option<Spanned<Spacing>>,
    pub users: Option<Spanned<i64>>,
    pub think_time: Option<Spanned<HumanDuration>>,
    pub ramp_up_rate: Option<Spanned<f64>>,
    pub duration: Spanned<HumanDuration>,
    pub warmup: Option<Spanned<HumanDuration>>,
    pub repetitions: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<HumanDuration>>,
    pub max_in_flight: Option<Spanned<i64>>,
}

/// `model = "open" | "closed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawModel {
    Open,
    Closed,
}

/// One entry of `stages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub rate: Spanned<f64>,
    pub over: Spanned<HumanDuration>,
}

/// `[[flow]]`: its steps written out, or generated from recorded traffic (`replay` and
/// the keys that filter it; see `replay`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlow {
    pub name: Spanned<String>,
    pub weight: Option<Spanned<i64>>,
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
    pub replay: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub include: Option<Spanned<Vec<Spanned<String>>>>,
    pub exclude_headers: Option<Spanned<Vec<Spanned<String>>>>,
    pub max_steps: Option<Spanned<i64>>,
}

/// One entry of a flow's `steps` (or one recorded request, built by `replay`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub name: Spanned<String>,
    pub method: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: Entries<String>,
    pub expect_status: Option<Vec<Spanned<i64>>>,
    #[serde(default)]
    pub extract: Entries<RawExtract>,
    pub check: Option<Spanned<Vec<Spanned<RawCheck>>>>,
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    pub dagger: Option<Spanned<RawDaggerStep>>,
    pub expect_exit: Option<Spanned<Vec<Spanned<i64>>>>,
    pub safe: Option<bool>,
    // MCP: the method and its parameters
    pub mcp: Option<Spanned<String>>,
    pub tool: Option<Spanned<String>>,
    pub arguments: Option<Spanned<toml::Value>>,
    pub uri: Option<Spanned<String>>,
    pub prompt: Option<Spanned<String>>,
}

/// A step's `dagger = { ... }`: an exec in a container, or a module function call.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaggerStep {
    pub from: Option<Spanned<String>>,
    pub exec: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub env: Entries<String>,
    #[serde(default)]
    pub mounts: Entries<String>,
    pub workdir: Option<Spanned<String>>,
    pub output: Option<Spanned<DaggerOutput>>,
    pub call: Option<Spanned<String>>,
    #[serde(default)]
    pub args: Entries<String>,
    pub select: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A TOML table read as a list of (key, value) in file order, both with their spans.
///
/// File order keeps flow variable slots and header order as the author wrote them. The
/// TOML parser hands tables over sorted by key, so the order is restored from the spans.
#[derive(Debug)]
pub(crate) struct Entries<V>(pub Vec<(Spanned<String>, Spanned<V>)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = Entries<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Spanned<V>>()?;
                    entries.push((key, value));
                }
                entries.sort_by_key(|(key, _)| key.span().start);
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}
