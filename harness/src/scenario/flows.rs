//! Validation of `[[flow]]` and its steps: names, methods, request templates and the flow
//! variables that steps extract and later steps use.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use http::HeaderValue;
use serde_spanned::Spanned;

use crate::outcome::StepIndex;
use crate::toml_diagnostics::check_name;

use super::checks::{Check, ExtractSource, RawExtract, check, extract_source};
use super::error::{Problem, closest, locate};
use super::explain::key_span;
use super::interpolate::{Binding, InterpolationError, is_name, template};
use super::model::{Extraction, Flow, HttpCall, PathKind, Step, StepAction, Template};
use super::raw::{RawFlow, RawStep};
use super::replay::FlowSteps;
use super::validate::Checker;

/// The HTTP methods a step may use.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

impl Checker<'_> {
    /// Every `[[flow]]`: at least one, unique names, weights; steps get global indices.
    pub(super) fn flows(
        &self,
        raw: &Spanned<Vec<Spanned<RawFlow>>>,
        kinds: &[PathKind],
    ) -> Result<Vec<Flow>, Problem> {
        if raw.get_ref().is_empty() {
            return Err(Problem::new(
                raw.span(),
                "a scenario needs at least one flow",
                "add a flow, e.g.\n[[flow]]\nname = \"get\"\nsteps = [{ name = \"get\", path = \"/\" }]",
            ));
        }
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        let mut flows = Vec::new();
        let mut next_index = 0usize;
        for flow in raw.get_ref() {
            let f = flow.get_ref();
            let name = f.name.get_ref();
            if name.trim().is_empty() {
                return Err(Problem::new(
                    f.name.span(),
                    "a flow name cannot be empty",
                    "name the flow, e.g. `name = \"execute-and-poll\"`",
                ));
            }
            check_name(name, f.name.span(), "flow name")?;
            if let Some(first) = seen.insert(name, f.name.span()) {
                let (line, _, _) = locate(self.text, first.start);
                return Err(Problem::new(
                    f.name.span(),
                    format!("flow name `{name}` is used twice"),
                    format!("the first is on line {line}; give each flow its own name"),
                ));
            }
            let weight = match &f.weight {
                Some(w) => self.int(
                    w,
                    1..=i64::from(u32::MAX),
                    "weight",
                    "a flow's weight is a whole number of at least 1, e.g. `weight = 3`",
                )?,
                None => 1,
            };
            flows.push(self.flow(
                flow,
                u32::try_from(weight).unwrap_or(1),
                &mut next_index,
                kinds,
            )?);
        }
        Ok(flows)
    }

    /// One flow: its steps (written out, or generated from recorded traffic) in order,
    /// with the variables each step may use.
    fn flow(
        &self,
        flow: &Spanned<RawFlow>,
        weight: u32,
        next_index: &mut usize,
        kinds: &[PathKind],
    ) -> Result<Flow, Problem> {
        let f = flow.get_ref();
        let flow_name = f.name.get_ref();
        let source = self.flow_steps(f, flow.span(), kinds)?;
        let (raw_steps, replayed) = match &source {
            FlowSteps::Written(written) => (written.get_ref().as_slice(), None),
            FlowSteps::Replayed(replayed) => (replayed.steps.as_slice(), Some(replayed)),
        };
        if raw_steps.is_empty() {
            let span = f.steps.as_ref().map_or(f.name.span(), Spanned::span);
            return Err(Problem::new(
                span,
                format!("flow `{flow_name}` has no steps"),
                "add at least one step, e.g. `steps = [{ name = \"get\", path = \"/\" }]`",
            ));
        }
        let mut progress = Progress {
            seen: HashMap::new(),
            vars: Vec::new(),
            next_index,
        };
        let mut steps = Vec::new();
        if super::mcp::has_session_step(kinds) {
            if let Some(clash) = raw_steps
                .iter()
                .find(|s| s.get_ref().name.get_ref() == super::mcp::INITIALIZE_STEP)
            {
                return Err(Problem::new(
                    clash.get_ref().name.span(),
                    format!(
                        "step name `initialize` in flow `{flow_name}` is taken: every flow of a scenario with MCP paths begins with an `initialize` step (the session's setup)"
                    ),
                    "give the step another name",
                ));
            }
            let index = StepIndex::try_from(*progress.next_index).map_err(|_| {
                Problem::new(
                    f.name.span(),
                    "too many steps",
                    "split the scenario into several files",
                )
            })?;
            *progress.next_index += 1;
            steps.push(super::mcp::initialize_step(index));
        }
        for position in 0..raw_steps.len() {
            let step = self
                .flow_step(flow_name, raw_steps, position, &mut progress, kinds)
                .map_err(|problem| match replayed {
                    Some(replayed) => replayed.locate(position, problem),
                    None => problem,
                })?;
            steps.push(step);
        }
        Ok(Flow {
            name: flow_name.clone(),
            weight,
            steps,
            vars: progress.vars,
        })
    }

    /// Step `position` of a flow's raw steps, with its extractions and checks.
    fn flow_step<'s>(
        &self,
        flow_name: &str,
        raw_steps: &'s [Spanned<RawStep>],
        position: usize,
        progress: &mut Progress<'s, '_>,
        kinds: &[PathKind],
    ) -> Result<Step, Problem> {
        let step = &raw_steps[position];
        let s = step.get_ref();
        let name = s.name.get_ref();
        if name.trim().is_empty() {
            return Err(Problem::new(
                s.name.span(),
                "a step name cannot be empty",
                "name the step, e.g. `name = \"execute\"`",
            ));
        }
        check_name(name, s.name.span(), "step name")?;
        if let Some(first) = progress.seen.insert(name, s.name.span()) {
            let (line, _, _) = locate(self.text, first.start);
            return Err(Problem::new(
                s.name.span(),
                format!("step name `{name}` is used twice in flow `{flow_name}`"),
                format!("the first is on line {line}; give each step of a flow its own name"),
            ));
        }
        let index = StepIndex::try_from(*progress.next_index).map_err(|_| {
            Problem::new(
                s.name.span(),
                format!(
                    "too many steps: a scenario holds at most {} steps",
                    usize::from(StepIndex::MAX) + 1
                ),
                "split the scenario into several files",
            )
        })?;
        *progress.next_index += 1;
        let context = StepContext {
            flow: flow_name,
            steps: raw_steps,
            position,
            vars: &progress.vars,
        };
        let built = self.step(s, step.span(), index, &context, kinds)?;
        let mut extract = Vec::new();
        for (var, source) in &s.extract.0 {
            extract.push(self.extraction(var, source, kinds, &mut progress.vars)?);
        }
        let checks = self.checks(s, kinds)?;
        Ok(Step {
            extract,
            checks,
            ..built
        })
    }

    /// One step, without its extractions (added by `flow` once the actions are built).
    fn step(
        &self,
        s: &RawStep,
        span: Range<usize>,
        index: StepIndex,
        context: &StepContext<'_>,
        kinds: &[PathKind],
    ) -> Result<Step, Problem> {
        let actions = self.actions(s, context)?;
        self.actions_match_kinds(s, span, kinds, &actions)?;
        let expect_exit = match &s.expect_exit {
            Some(codes) => self.exit_codes(codes)?,
            None => Vec::new(),
        };
        Ok(Step {
            name: s.name.get_ref().clone(),
            index,
            actions,
            expect_exit,
            extract: Vec::new(),
            checks: Vec::new(),
            safe: s.safe.unwrap_or(true),
            keep_answer: false,
            keep_headers: Vec::new(),
        })
    }

    /// The step's actions, one per kind whose key the raw step has (`path` for HTTP,
    /// `command`, `dagger`), in [`PathKind::ALL`] order.
    fn actions(&self, s: &RawStep, context: &StepContext<'_>) -> Result<Vec<StepAction>, Problem> {
        let mut actions = Vec::new();
        if let Some(path) = &s.path {
            actions.push(StepAction::Http(self.http_call(s, path, context)?));
        }
        if let Some(argv) = &s.command {
            actions.push(StepAction::Command(self.argv(argv, "command", context)?));
        }
        if let Some(d) = &s.dagger {
            actions.push(StepAction::Dagger(self.dagger_call(d, context)?));
        }
        if let Some(method) = &s.mcp {
            actions.push(StepAction::Mcp(self.mcp_call(s, method, context)?));
        } else {
            let stray = [
                ("tool", s.tool.as_ref().map(Spanned::span)),
                ("arguments", s.arguments.as_ref().map(Spanned::span)),
                ("uri", s.uri.as_ref().map(Spanned::span)),
                ("prompt", s.prompt.as_ref().map(Spanned::span)),
            ];
            if let Some((key, Some(span))) = stray.into_iter().find(|(_, span)| span.is_some()) {
                return Err(Problem::new(
                    key_span(self.text, &span),
                    format!("step `{}` has `{key}` but no `mcp`", s.name.get_ref()),
                    format!(
                        "`{key}` belongs to MCP steps: add e.g. `mcp = \"tools/call\"`, or remove it"
                    ),
                ));
            }
        }
        Ok(actions)
    }

    /// The HTTP request of a step that has a `path`.
    fn http_call(
        &self,
        s: &RawStep,
        raw_path: &Spanned<String>,
        context: &StepContext<'_>,
    ) -> Result<HttpCall, Problem> {
        let method = match &s.method {
            Some(m) => self.method(m)?,
            None => http::Method::GET,
        };
        if !raw_path.get_ref().starts_with('/') {
            return Err(Problem::new(
                raw_path.span(),
                format!("path `{}` must start with `/`", raw_path.get_ref()),
                "write the path relative to the base URL, e.g. `path = \"/api/tasks\"`",
            ));
        }
        let path = self.step_template(raw_path, context)?;
        if http::uri::PathAndQuery::try_from(placeholder_render(&path).as_str()).is_err() {
            return Err(Problem::new(
                raw_path.span(),
                format!("path `{}` is not a valid request path", raw_path.get_ref()),
                "percent-encode spaces and special characters, e.g. `%20` for a space",
            ));
        }
        let body = match &s.body {
            Some(b) => Some(self.step_template(b, context)?),
            None => None,
        };
        let mut seen = HashMap::new();
        let mut headers = Vec::new();
        for (key, value) in &s.headers.0 {
            let name = self.header_name(key, &mut seen)?;
            let value_template = self.step_template(value, context)?;
            if HeaderValue::from_str(&placeholder_render(&value_template)).is_err() {
                return Err(Problem::new(
                    value.span(),
                    format!("the value of header `{name}` is not a valid header value"),
                    "header values are visible ASCII text without line breaks; check the value and any environment variable it uses",
                ));
            }
            headers.push((name, value_template));
        }
        let mut expect_status: Vec<u16> = Vec::new();
        for status in s.expect_status.as_deref().unwrap_or_default() {
            let code = self.int(
                status,
                100..=599,
                "a status code",
                "HTTP statuses lie in 100..=599, e.g. `expect_status = [200, 202]`",
            )?;
            let code = u16::try_from(code).unwrap_or(200);
            if !expect_status.contains(&code) {
                expect_status.push(code);
            }
        }
        Ok(HttpCall {
            method,
            path,
            body,
            headers,
            expect_status,
        })
    }

    /// An argv: at least the program, every part a step template.
    pub(super) fn argv(
        &self,
        raw: &Spanned<Vec<Spanned<String>>>,
        key: &str,
        context: &StepContext<'_>,
    ) -> Result<Vec<Template>, Problem> {
        match raw.get_ref().first() {
            None => {
                return Err(Problem::new(
                    raw.span(),
                    format!("`{key}` is empty"),
                    format!(
                        "give the program and its arguments, e.g. `{key} = [\"sh\", \"-c\", \"make test\"]`"
                    ),
                ));
            }
            Some(program) if program.get_ref().trim().is_empty() => {
                return Err(Problem::new(
                    program.span(),
                    format!("the program of `{key}` is empty"),
                    "name the program first, e.g. `\"sh\"`",
                ));
            }
            Some(_) => {}
        }
        raw.get_ref()
            .iter()
            .map(|part| self.step_template(part, context))
            .collect()
    }

    /// Exit codes in 0..=255, without repeats.
    fn exit_codes(&self, raw: &Spanned<Vec<Spanned<i64>>>) -> Result<Vec<i32>, Problem> {
        let mut codes = Vec::new();
        for code in raw.get_ref() {
            let value = self.int(
                code,
                0..=255,
                "an exit code",
                "exit codes lie in 0..=255, e.g. `expect_exit = [0, 1]`",
            )?;
            let value = i32::try_from(value).unwrap_or(0);
            if !codes.contains(&value) {
                codes.push(value);
            }
        }
        Ok(codes)
    }

    /// Every kind of path the scenario has needs its action in every step, and a step
    /// has no action that no path would run.
    fn actions_match_kinds(
        &self,
        s: &RawStep,
        span: Range<usize>,
        kinds: &[PathKind],
        actions: &[StepAction],
    ) -> Result<(), Problem> {
        let name = s.name.get_ref();
        for kind in PathKind::ALL {
            let (key, example) = action_key(kind);
            let has = actions.iter().any(|a| a.kind() == kind);
            let needed = kinds.contains(&kind);
            if needed && !has {
                return Err(Problem::new(
                    span.clone(),
                    format!(
                        "step `{name}` has no `{key}`, which the scenario's {} path(s) need",
                        kind.as_str()
                    ),
                    format!("add it to the step, e.g. `{example}`"),
                ));
            }
            if has && !needed {
                let span = action_span(s, kind).unwrap_or_else(|| s.name.span());
                return Err(Problem::new(
                    key_span(self.text, &span),
                    format!(
                        "step `{name}` has `{key}`, but no path of the scenario is of kind `{}`",
                        kind.as_str()
                    ),
                    match kind {
                        PathKind::Http => format!(
                            "remove `{key}` from the step, or add an HTTP path (with `target` or `base_url`)"
                        ),
                        other => format!(
                            "remove `{key}` from the step, or add a path with `kind = \"{}\"`",
                            other.as_str()
                        ),
                    },
                ));
            }
        }
        if !kinds.contains(&PathKind::Http) {
            let http_only = [
                ("method", s.method.as_ref().map(Spanned::span)),
                ("body", s.body.as_ref().map(Spanned::span)),
            ];
            for (key, span) in http_only {
                if let Some(span) = span {
                    return Err(Problem::new(
                        key_span(self.text, &span),
                        format!("step `{name}` has `{key}`, but the scenario has no HTTP path"),
                        format!("remove `{key}`: it only applies to HTTP requests"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A standard HTTP method, written in upper case.
    fn method(&self, m: &Spanned<String>) -> Result<http::Method, Problem> {
        let written = m.get_ref();
        if METHODS.contains(&written.as_str()) {
            return http::Method::from_bytes(written.as_bytes()).map_err(|_| {
                Problem::new(
                    m.span(),
                    format!("`{written}` is not an HTTP method"),
                    "use GET, POST, ...",
                )
            });
        }
        let upper = written.to_ascii_uppercase();
        let help = if METHODS.contains(&upper.as_str()) {
            format!("methods are upper case: write `method = \"{upper}\"`")
        } else if let Some(near) = closest(&upper, METHODS) {
            format!("did you mean `{near}`? use one of {}", METHODS.join(", "))
        } else {
            format!("use one of {}", METHODS.join(", "))
        };
        Err(Problem::new(
            m.span(),
            format!("`{written}` is not an HTTP method"),
            help,
        ))
    }

    /// A step string: `${x}` is a flow variable when an earlier step extracts `x`, else an
    /// environment variable, else an error that says which of the two to add.
    pub(super) fn step_template(
        &self,
        value: &Spanned<String>,
        context: &StepContext<'_>,
    ) -> Result<Template, Problem> {
        let mut bind = |name: &str, range: Range<usize>| -> Result<Binding, InterpolationError> {
            if let Some(slot) = context.vars.iter().position(|v| v == name) {
                return Ok(Binding::Slot(slot));
            }
            if let Some(text) = (self.env)(name) {
                return Ok(Binding::Text(text));
            }
            Err(context.undefined(name, range))
        };
        template(value.get_ref(), &mut bind).map_err(|e| self.located(value, e))
    }

    /// `name = "/pointer"` or `name = { header = "..." }`: a variable slot (new or
    /// reused) filled from the answer.
    fn extraction(
        &self,
        var: &Spanned<String>,
        raw: &Spanned<RawExtract>,
        kinds: &[PathKind],
        vars: &mut Vec<String>,
    ) -> Result<Extraction, Problem> {
        let name = var.get_ref();
        if !is_name(name) {
            return Err(Problem::new(
                var.span(),
                format!("`{name}` cannot be a variable name"),
                "a variable name starts with a letter or `_` and holds only letters, digits and `_`, e.g. `task_id`",
            ));
        }
        let source = extract_source(raw)?;
        if matches!(source, ExtractSource::Header(_)) {
            only_http(kinds, raw.span(), "a header extraction")?;
        }
        let slot = match vars.iter().position(|v| v == name) {
            Some(slot) => slot,
            None => {
                vars.push(name.clone());
                vars.len() - 1
            }
        };
        Ok(Extraction {
            slot,
            name: name.clone(),
            source,
        })
    }

    /// `check = [...]`: each check validated, header checks only with HTTP paths.
    fn checks(&self, s: &RawStep, kinds: &[PathKind]) -> Result<Vec<Check>, Problem> {
        let Some(raw) = &s.check else {
            return Ok(Vec::new());
        };
        let dir = self.source.parent().unwrap_or(Path::new("."));
        raw.get_ref()
            .iter()
            .map(|c| {
                let built = check(c.get_ref(), c.span(), dir)?;
                if built.header().is_some() {
                    only_http(kinds, c.span(), "a header check")?;
                }
                Ok(built)
            })
            .collect()
    }
}

/// What the steps of a flow built so far have claimed: their names, their variables
/// and the scenario-wide step indices.
struct Progress<'s, 'n> {
    seen: HashMap<&'s str, Range<usize>>,
    vars: Vec<String>,
    next_index: &'n mut usize,
}

/// What a step's strings may refer to.
pub(super) struct StepContext<'a> {
    flow: &'a str,
    steps: &'a [Spanned<RawStep>],
    position: usize,
    vars: &'a [String],
}

impl StepContext<'_> {
    /// The error for a name that is neither an earlier extraction nor set in the environment.
    fn undefined(&self, name: &str, range: Range<usize>) -> InterpolationError {
        let this = self
            .steps
            .get(self.position)
            .map_or("", |s| s.get_ref().name.get_ref().as_str());
        let extracts = |s: &Spanned<RawStep>| {
            s.get_ref()
                .extract
                .0
                .iter()
                .any(|(k, _)| k.get_ref() == name)
        };
        let later = self
            .steps
            .iter()
            .enumerate()
            .skip(self.position)
            .find(|(_, s)| extracts(s));
        let (message, help) = match later {
            Some((i, _)) if i == self.position => (
                format!(
                    "step `{this}` uses `${{{name}}}`, but `{name}` is extracted from this same step's answer"
                ),
                format!(
                    "use `${{{name}}}` in a later step of flow `{}`, or export {name}",
                    self.flow
                ),
            ),
            Some((_, s)) => {
                let extractor = s.get_ref().name.get_ref();
                (
                    format!(
                        "variable `{name}` is used before it is extracted: step `{extractor}` extracts it after step `{this}`"
                    ),
                    format!(
                        "move step `{extractor}` before step `{this}` in flow `{}`, or export {name}",
                        self.flow
                    ),
                )
            }
            None => (
                format!(
                    "undefined variable `{name}`: no earlier step of flow `{}` extracts it and no environment variable `{name}` is set",
                    self.flow
                ),
                format!(
                    "add `extract = {{ {name} = \"/pointer\" }}` to an earlier step or export {name}"
                ),
            ),
        };
        InterpolationError {
            range,
            message,
            help,
        }
    }
}

/// The template with every variable replaced by a harmless stand-in, to check that the
/// literal parts form a valid path or header value.
fn placeholder_render(t: &Template) -> String {
    let vars = vec![Some("x".to_string()); t.parts.len()];
    t.render(&vars).unwrap_or_default()
}

/// True for an RFC 6901 JSON pointer: empty, or `/`-separated tokens where `~` is only
/// followed by `0` or `1`.
pub(crate) fn is_json_pointer(p: &str) -> bool {
    if p.is_empty() {
        return true;
    }
    if !p.starts_with('/') {
        return false;
    }
    let bytes = p.as_bytes();
    bytes
        .iter()
        .enumerate()
        .all(|(i, b)| *b != b'~' || matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}

/// The step key that holds the action of `kind` in the scenario file, and an example.
fn action_key(kind: PathKind) -> (&'static str, &'static str) {
    match kind {
        PathKind::Http => ("path", "path = \"/api/workflows/execute\""),
        PathKind::Command => ("command", "command = [\"sh\", \"-c\", \"make test\"]"),
        PathKind::Dagger => (
            "dagger",
            "dagger = { from = \"alpine:3.20\", exec = [\"sh\", \"-c\", \"make test\"] }",
        ),
        PathKind::Mcp => ("mcp", "mcp = \"tools/call\", tool = \"run_workflow\""),
    }
}

/// Where the raw step's action of `kind` is written, when it is.
fn action_span(s: &RawStep, kind: PathKind) -> Option<Range<usize>> {
    match kind {
        PathKind::Http => s.path.as_ref().map(Spanned::span),
        PathKind::Command => s.command.as_ref().map(Spanned::span),
        PathKind::Dagger => s.dagger.as_ref().map(Spanned::span),
        PathKind::Mcp => s.mcp.as_ref().map(Spanned::span),
    }
}

/// Headers exist only on HTTP answers: refuse `what` when a path of another kind runs
/// the step.
fn only_http(kinds: &[PathKind], span: Range<usize>, what: &str) -> Result<(), Problem> {
    match kinds.iter().find(|k| **k != PathKind::Http) {
        None => Ok(()),
        Some(kind) => Err(Problem::new(
            span,
            format!("{what} reads an HTTP header, and this scenario has a {kind:?} path"),
            "read the value from the body with a JSON pointer, or keep header checks to scenarios whose paths are all HTTP",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointers_follow_rfc_6901() {
        for good in ["", "/", "/task_id", "/items/0/id", "/a~0b/c~1d"] {
            assert!(is_json_pointer(good), "{good}");
        }
        for bad in ["task_id", "/a~", "/a~2", "#/a"] {
            assert!(!is_json_pointer(bad), "{bad}");
        }
    }
}
