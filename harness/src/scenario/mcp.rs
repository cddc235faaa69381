//! Validation of a step's MCP request: `mcp = "tools/call"` and its `tool`, `arguments`,
//! `uri` or `prompt`, and the `initialize` step every flow of a scenario with MCP paths
//! begins with.

use serde_spanned::Spanned;

use super::error::{Problem, closest};
use super::explain::key_span;
use super::flows::StepContext;
use super::model::{JsonTemplate, McpCall, PathKind, Step, StepAction};
use super::raw::RawStep;
use super::validate::Checker;
use crate::outcome::StepIndex;

/// The methods a step may call (`initialize` is the session step's, put in by validation).
pub(super) const METHODS: [&str; 4] = ["tools/list", "tools/call", "resources/read", "prompts/get"];

/// The name of the session step put first in every flow of a scenario with MCP paths.
pub const INITIALIZE_STEP: &str = "initialize";

/// The `initialize` step at `index`: on MCP paths the session setup, skipped elsewhere.
pub(super) fn initialize_step(index: StepIndex) -> Step {
    Step {
        name: INITIALIZE_STEP.into(),
        index,
        actions: vec![StepAction::Mcp(McpCall::Initialize)],
        expect_exit: Vec::new(),
        extract: Vec::new(),
        checks: Vec::new(),
        safe: true,
        keep_answer: false,
        keep_headers: Vec::new(),
    }
}

impl Checker<'_> {
    /// `mcp = "<method>"` with the keys that method needs, and none it does not use.
    pub(super) fn mcp_call(
        &self,
        s: &RawStep,
        method: &Spanned<String>,
        context: &StepContext<'_>,
    ) -> Result<McpCall, Problem> {
        let name = s.name.get_ref();
        let call = match method.get_ref().as_str() {
            "tools/list" => McpCall::ListTools,
            "tools/call" => McpCall::CallTool {
                tool: self.mcp_name(s.tool.as_ref(), method, "tool", "tool = \"run_workflow\"")?,
                arguments: self.mcp_arguments(s.arguments.as_ref(), context)?,
            },
            "resources/read" => {
                let Some(uri) = &s.uri else {
                    return Err(self.missing(
                        name,
                        method,
                        "uri",
                        "uri = \"workflow://${run_id}\"",
                    ));
                };
                McpCall::ReadResource {
                    uri: self.step_template(uri, context)?,
                }
            }
            "prompts/get" => McpCall::GetPrompt {
                prompt: self.mcp_name(
                    s.prompt.as_ref(),
                    method,
                    "prompt",
                    "prompt = \"summarise\"",
                )?,
                arguments: self.mcp_arguments(s.arguments.as_ref(), context)?,
            },
            other => {
                let help = match closest(other, METHODS) {
                    Some(near) => {
                        format!("did you mean `{near}`? use one of {}", METHODS.join(", "))
                    }
                    None if other == "initialize" => format!(
                        "every flow of a scenario with MCP paths already begins with an `initialize` step; use one of {}",
                        METHODS.join(", ")
                    ),
                    None => format!("use one of {}", METHODS.join(", ")),
                };
                return Err(Problem::new(
                    method.span(),
                    format!("`{other}` is not an MCP method a step can call"),
                    help,
                ));
            }
        };
        let used: &[&str] = match &call {
            McpCall::CallTool { .. } => &["tool", "arguments"],
            McpCall::ReadResource { .. } => &["uri"],
            McpCall::GetPrompt { .. } => &["prompt", "arguments"],
            McpCall::ListTools | McpCall::Initialize => &[],
        };
        let keys = [
            ("tool", s.tool.as_ref().map(Spanned::span)),
            ("arguments", s.arguments.as_ref().map(Spanned::span)),
            ("uri", s.uri.as_ref().map(Spanned::span)),
            ("prompt", s.prompt.as_ref().map(Spanned::span)),
        ];
        for (key, span) in keys {
            if let Some(span) = span
                && !used.contains(&key)
            {
                return Err(Problem::new(
                    key_span(self.text, &span),
                    format!(
                        "step `{name}` has `{key}`, which `mcp = \"{}\"` does not use",
                        method.get_ref()
                    ),
                    format!("remove `{key}`, or call the method that takes it"),
                ));
            }
        }
        Ok(call)
    }

    fn mcp_name(
        &self,
        raw: Option<&Spanned<String>>,
        method: &Spanned<String>,
        key: &str,
        example: &str,
    ) -> Result<String, Problem> {
        match raw {
            None => Err(Problem::new(
                method.span(),
                format!("`mcp = \"{}\"` needs `{key}`", method.get_ref()),
                format!("add it to the step, e.g. `{example}`"),
            )),
            Some(v) if v.get_ref().trim().is_empty() => Err(Problem::new(
                v.span(),
                format!("`{key}` cannot be empty"),
                format!("name it, e.g. `{example}`"),
            )),
            Some(v) => Ok(v.get_ref().clone()),
        }
    }

    fn missing(&self, name: &str, method: &Spanned<String>, key: &str, example: &str) -> Problem {
        Problem::new(
            method.span(),
            format!("step `{name}` calls `{}` without `{key}`", method.get_ref()),
            format!("add it to the step, e.g. `{example}`"),
        )
    }

    /// `arguments = { ... }`: a table whose strings may use flow variables.
    fn mcp_arguments(
        &self,
        raw: Option<&Spanned<toml::Value>>,
        context: &StepContext<'_>,
    ) -> Result<JsonTemplate, Problem> {
        let Some(raw) = raw else {
            return Ok(JsonTemplate::Object(Vec::new()));
        };
        if !raw.get_ref().is_table() {
            return Err(Problem::new(
                raw.span(),
                "`arguments` is not a table",
                "write the arguments as a table, e.g. `arguments = { workflow = \"${wf}\", steps = 3 }`",
            ));
        }
        self.json_template(raw.get_ref(), raw.span(), context)
    }

    /// A TOML value as a JSON template; strings are step templates located at `span`
    /// (the TOML parser keeps no spans inside a free-form value).
    fn json_template(
        &self,
        value: &toml::Value,
        span: std::ops::Range<usize>,
        context: &StepContext<'_>,
    ) -> Result<JsonTemplate, Problem> {
        Ok(match value {
            toml::Value::String(text) => JsonTemplate::String(
                self.step_template(&Spanned::new(span, text.clone()), context)?,
            ),
            toml::Value::Integer(i) => JsonTemplate::Value((*i).into()),
            toml::Value::Float(f) => JsonTemplate::Value(
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
            ),
            toml::Value::Boolean(b) => JsonTemplate::Value((*b).into()),
            toml::Value::Datetime(d) => JsonTemplate::Value(d.to_string().into()),
            toml::Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(|i| self.json_template(i, span.clone(), context))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(table) => JsonTemplate::Object(
                table
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.json_template(v, span.clone(), context)?)))
                    .collect::<Result<_, Problem>>()?,
            ),
        })
    }
}

/// True when the scenario's steps begin with the `initialize` step (it has MCP paths).
pub(super) fn has_session_step(kinds: &[PathKind]) -> bool {
    kinds.contains(&PathKind::Mcp)
}
