//! The scenario hash: two runs are comparable only when their hashes agree.
//!
//! The hash is the hex SHA-256 of a canonical JSON form of what decides the load a service
//! sees: the seed, the load (with defaults applied, so writing a default out changes
//! nothing), the flows and steps as written (templates, never resolved values, so secrets
//! never enter it) and the reference platform's settings. Paths are left out on purpose:
//! the base and the candidate differ in their URL and headers but must share a hash.
//! The faults are in it (a run under faults measures something else); `[expect]` is not
//! (it judges, like the policy).
//! The repetition count and the `[policy]` are left out too: they decide how many runs
//! are made and how they are judged, not what one run measures, so tightening a threshold
//! or adding repetitions never orphans a stored baseline.
//! Struct fields serialise in declaration order and maps are sorted, so the key order in
//! the file does not matter.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::fault::FaultSpec;
use crate::reference::ReferenceConfig;

use super::checks::Check;
use super::model::{
    DaggerCall, DaggerOutput, Flow, HttpCall, LoadModel, Scenario, Spacing, Template,
};

/// Version of the canonical form; bump it when the form changes so that old and new
/// hashes never collide by accident.
const FORM: &str = "harness-scenario-hash/v3";

/// The hex SHA-256 of the canonical form of `scenario`.
pub fn scenario_hash(scenario: &Scenario) -> String {
    let form = Canonical {
        form: FORM,
        seed: scenario.seed,
        load: CanonicalLoad::from(scenario),
        flows: scenario.flows.iter().map(CanonicalFlow::from).collect(),
        reference: &scenario.reference,
        faults: &scenario.faults,
    };
    // Serialising plain structs, strings and numbers cannot fail; an empty form would
    // still hash deterministically.
    let bytes = serde_json::to_vec(&form).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct Canonical<'a> {
    form: &'static str,
    seed: u64,
    load: CanonicalLoad,
    flows: Vec<CanonicalFlow<'a>>,
    reference: &'a ReferenceConfig,
    faults: &'a [FaultSpec],
}

#[derive(Serialize)]
struct CanonicalLoad {
    model: &'static str,
    rate: Option<f64>,
    stages: Vec<(f64, Duration)>,
    spacing: Option<Spacing>,
    users: Option<u32>,
    think_time: Option<Duration>,
    ramp_up_rate: Option<f64>,
    duration: Duration,
    warmup: Duration,
    timeout: Duration,
    max_in_flight: usize,
}

impl From<&Scenario> for CanonicalLoad {
    fn from(s: &Scenario) -> Self {
        let l = &s.load;
        let mut c = Self {
            model: "open",
            rate: None,
            stages: Vec::new(),
            spacing: None,
            users: None,
            think_time: None,
            ramp_up_rate: None,
            duration: l.duration,
            warmup: l.warmup,
            timeout: l.timeout,
            max_in_flight: l.max_in_flight,
        };
        match &l.model {
            LoadModel::Open {
                rate,
                stages,
                spacing,
            } => {
                c.rate = Some(rate.per_second());
                c.stages = stages
                    .iter()
                    .map(|st| (st.rate.per_second(), st.over))
                    .collect();
                c.spacing = Some(*spacing);
            }
            LoadModel::Closed {
                users,
                think_time,
                ramp_up_rate,
            } => {
                c.model = "closed";
                c.users = Some(*users);
                c.think_time = Some(*think_time);
                c.ramp_up_rate = ramp_up_rate.map(|r| r.per_second());
            }
        }
        c
    }
}

#[derive(Serialize)]
struct CanonicalFlow<'a> {
    name: &'a str,
    weight: u32,
    steps: Vec<CanonicalStep<'a>>,
}

/// A step. The HTTP fields come first and the other kinds' actions are left out when
/// absent, so an HTTP scenario hashes as it did before command and Dagger steps existed.
#[derive(Serialize)]
struct CanonicalStep<'a> {
    name: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    http: Option<CanonicalHttp<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dagger: Option<CanonicalDagger<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expect_exit: Vec<i32>,
    /// Variable name to JSON pointer (or `header:<name>`).
    extract: BTreeMap<&'a str, String>,
    /// The checks, canonically (absent when none, so older scenarios hash as before).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    check: Vec<String>,
}

#[derive(Serialize)]
struct CanonicalHttp<'a> {
    method: &'a str,
    path: &'a str,
    body: Option<&'a str>,
    /// Header order carries no meaning, so it is sorted away.
    headers: BTreeMap<&'a str, &'a str>,
    expect_status: Vec<u16>,
}

/// A Dagger step as written; host folders are left out (they differ between machines),
/// their mount points stay.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum CanonicalDagger<'a> {
    Exec {
        from: &'a str,
        env: BTreeMap<&'a str, &'a str>,
        mounts: Vec<&'a str>,
        workdir: Option<&'a str>,
        exec: Vec<&'a str>,
        output: DaggerOutput,
    },
    Function {
        name: &'a str,
        args: BTreeMap<&'a str, &'a str>,
        select: Vec<&'a str>,
    },
}

/// An MCP step as written: the method and its parameters.
fn canonical_mcp(call: &crate::scenario::McpCall) -> serde_json::Value {
    use crate::scenario::McpCall;
    let mut value = serde_json::json!({ "method": call.method() });
    match call {
        McpCall::Initialize | McpCall::ListTools => {}
        McpCall::CallTool { tool, arguments } => {
            value["tool"] = tool.as_str().into();
            value["arguments"] = arguments.written();
        }
        McpCall::ReadResource { uri } => value["uri"] = uri.source.as_str().into(),
        McpCall::GetPrompt { prompt, arguments } => {
            value["prompt"] = prompt.as_str().into();
            value["arguments"] = arguments.written();
        }
    }
    value
}

fn sources(templates: &[Template]) -> Vec<&str> {
    templates.iter().map(|t| t.source.as_str()).collect()
}

fn source_map(pairs: &[(String, Template)]) -> BTreeMap<&str, &str> {
    pairs
        .iter()
        .map(|(k, t)| (k.as_str(), t.source.as_str()))
        .collect()
}

impl<'a> From<&'a HttpCall> for CanonicalHttp<'a> {
    fn from(h: &'a HttpCall) -> Self {
        let mut expect_status = h.expect_status.clone();
        expect_status.sort_unstable();
        Self {
            method: h.method.as_str(),
            path: &h.path.source,
            body: h.body.as_ref().map(|b| b.source.as_str()),
            headers: h
                .headers
                .iter()
                .map(|(n, t)| (n.as_str(), t.source.as_str()))
                .collect(),
            expect_status,
        }
    }
}

impl<'a> From<&'a DaggerCall> for CanonicalDagger<'a> {
    fn from(d: &'a DaggerCall) -> Self {
        match d {
            DaggerCall::Exec(e) => CanonicalDagger::Exec {
                from: &e.from.source,
                env: source_map(&e.env),
                mounts: e.mounts.iter().map(|(at, _)| at.as_str()).collect(),
                workdir: e.workdir.as_deref(),
                exec: sources(&e.exec),
                output: e.output,
            },
            DaggerCall::Function { name, args, select } => CanonicalDagger::Function {
                name,
                args: source_map(args),
                select: select.iter().map(String::as_str).collect(),
            },
        }
    }
}

impl<'a> From<&'a Flow> for CanonicalFlow<'a> {
    fn from(f: &'a Flow) -> Self {
        let steps = f
            .steps
            .iter()
            .map(|s| {
                let mut expect_exit = s.expect_exit.clone();
                expect_exit.sort_unstable();
                CanonicalStep {
                    name: &s.name,
                    http: s.http().map(CanonicalHttp::from),
                    command: s.command().map(sources),
                    dagger: s.dagger().map(CanonicalDagger::from),
                    mcp: s.mcp().map(canonical_mcp),
                    expect_exit,
                    extract: s
                        .extract
                        .iter()
                        .map(|e| {
                            (
                                f.vars.get(e.slot).map_or("", String::as_str),
                                e.source.to_string(),
                            )
                        })
                        .collect(),
                    check: s.checks.iter().map(Check::canonical).collect(),
                }
            })
            .collect();
        Self {
            name: &f.name,
            weight: f.weight,
            steps,
        }
    }
}
