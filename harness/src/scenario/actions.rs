//! Validation of a step's `dagger = { ... }`: an exec in a container from an image, or a
//! module function called by name.

use std::collections::HashSet;

use serde_spanned::Spanned;

use super::error::Problem;
use super::explain::key_span;
use super::flows::StepContext;
use super::interpolate::is_name;
use super::model::{DaggerCall, DaggerExec, Template};
use super::raw::{Entries, RawDaggerStep};
use super::validate::Checker;

impl Checker<'_> {
    /// `dagger = { from, exec, ... }` or `dagger = { call, args, select }`.
    pub(super) fn dagger_call(
        &self,
        raw: &Spanned<RawDaggerStep>,
        context: &StepContext<'_>,
    ) -> Result<DaggerCall, Problem> {
        let d = raw.get_ref();
        match (&d.call, &d.from, &d.exec) {
            (Some(call), None, None) => self.function_call(d, call, context),
            (Some(call), _, _) => Err(Problem::new(
                key_span(self.text, &call.span()),
                "a Dagger step is either an exec (`from` and `exec`) or a function `call`, not both",
                "keep `call` (with `args` and `select`) or keep `from` and `exec`",
            )),
            (None, Some(from), Some(exec)) => self.exec_call(d, from, exec, context),
            (None, Some(from), None) => Err(Problem::new(
                key_span(self.text, &from.span()),
                "this Dagger step has `from` but no `exec`",
                "add the command to run in the container, e.g. `exec = [\"sh\", \"-c\", \"make test\"]`",
            )),
            (None, None, Some(exec)) => Err(Problem::new(
                key_span(self.text, &exec.span()),
                "this Dagger step has `exec` but no `from`",
                "add the image to run it in, e.g. `from = \"alpine:3.20\"`",
            )),
            (None, None, None) => Err(Problem::new(
                raw.span(),
                "this Dagger step says neither what to run nor what to call",
                "write `dagger = { from = \"alpine:3.20\", exec = [\"echo\", \"hi\"] }` or `dagger = { call = \"hello\" }`",
            )),
        }
    }

    fn exec_call(
        &self,
        d: &RawDaggerStep,
        from: &Spanned<String>,
        exec: &Spanned<Vec<Spanned<String>>>,
        context: &StepContext<'_>,
    ) -> Result<DaggerCall, Problem> {
        if from.get_ref().trim().is_empty() {
            return Err(Problem::new(
                from.span(),
                "`from` is empty",
                "name an image, e.g. `from = \"alpine:3.20\"`",
            ));
        }
        if let Some(args) = d.args.0.first() {
            return Err(Problem::new(
                args.0.span(),
                "`args` belongs to a function `call`, not to an exec",
                "pass values to the exec through `exec` or `env`",
            ));
        }
        if let Some(select) = &d.select {
            return Err(Problem::new(
                key_span(self.text, &select.span()),
                "`select` belongs to a function `call`, not to an exec",
                "an exec reads `output = \"stdout\" | \"stderr\" | \"exit_code\"`",
            ));
        }
        let mut env = Vec::new();
        for (name, value) in &d.env.0 {
            if !is_name(name.get_ref()) {
                return Err(Problem::new(
                    name.span(),
                    format!(
                        "`{}` cannot be an environment variable name",
                        name.get_ref()
                    ),
                    "a name starts with a letter or `_` and holds only letters, digits and `_`",
                ));
            }
            env.push((name.get_ref().clone(), self.step_template(value, context)?));
        }
        let mut mounts = Vec::new();
        for (target, host) in &d.mounts.0 {
            mounts.push((
                self.container_path(target, "mount point")?,
                self.host_dir(host)?,
            ));
        }
        let workdir = match &d.workdir {
            Some(w) => Some(self.container_path(w, "workdir")?),
            None => None,
        };
        Ok(DaggerCall::Exec(DaggerExec {
            from: self.step_template(from, context)?,
            env,
            mounts,
            workdir,
            exec: self.argv(exec, "exec", context)?,
            output: d.output.as_ref().map(|o| *o.get_ref()).unwrap_or_default(),
        }))
    }

    fn function_call(
        &self,
        d: &RawDaggerStep,
        call: &Spanned<String>,
        context: &StepContext<'_>,
    ) -> Result<DaggerCall, Problem> {
        let exec_only = [
            ("env", d.env.0.first().map(|(k, _)| k.span())),
            ("mounts", d.mounts.0.first().map(|(k, _)| k.span())),
            ("workdir", d.workdir.as_ref().map(Spanned::span)),
            ("output", d.output.as_ref().map(Spanned::span)),
        ];
        for (key, span) in exec_only {
            if let Some(span) = span {
                return Err(Problem::new(
                    key_span(self.text, &span),
                    format!(
                        "`{key}` belongs to an exec (`from` and `exec`), not to a function `call`"
                    ),
                    "pass values to the function through `args`, and read its result with `select`",
                ));
            }
        }
        let name = self.call_path(call)?;
        let args = self.call_args(&d.args, context)?;
        let mut select = Vec::new();
        if let Some(fields) = &d.select {
            for field in fields.get_ref() {
                select.push(self.graphql_name(field, "field")?);
            }
        }
        Ok(DaggerCall::Function { name, args, select })
    }

    fn call_args(
        &self,
        args: &Entries<String>,
        context: &StepContext<'_>,
    ) -> Result<Vec<(String, Template)>, Problem> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (name, value) in &args.0 {
            let arg = self.graphql_name(name, "argument")?;
            if !seen.insert(arg.clone()) {
                return Err(Problem::new(
                    name.span(),
                    format!("argument `{arg}` is given twice"),
                    "give each argument once",
                ));
            }
            out.push((arg, self.step_template(value, context)?));
        }
        Ok(out)
    }

    /// A function's path from the query root: `hello` (a function of the workspace's
    /// entrypoint module) or `myMod.fn` (a function of another module, reached through
    /// the module's field); every segment a GraphQL name. Kept as written, dots and all.
    fn call_path(&self, raw: &Spanned<String>) -> Result<String, Problem> {
        for segment in raw.get_ref().split('.') {
            if segment.is_empty() {
                return Err(Problem::new(
                    raw.span(),
                    format!("`{}` has an empty segment", raw.get_ref()),
                    "write `function` or `module.function`, e.g. `call = \"greeter.greet\"`",
                ));
            }
            self.graphql_name(&Spanned::new(raw.span(), segment.to_string()), "function")?;
        }
        Ok(raw.get_ref().clone())
    }

    /// A GraphQL name: `[_A-Za-z][_0-9A-Za-z]*` (Dagger functions in camelCase).
    fn graphql_name(&self, raw: &Spanned<String>, what: &str) -> Result<String, Problem> {
        let name = raw.get_ref();
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
        if valid {
            return Ok(name.clone());
        }
        Err(Problem::new(
            raw.span(),
            format!("`{name}` cannot be a {what} name"),
            format!(
                "write the {what} as the engine's API names it, in camelCase, e.g. `containerEcho` for `container-echo`"
            ),
        ))
    }

    /// An absolute path inside the container.
    fn container_path(&self, raw: &Spanned<String>, what: &str) -> Result<String, Problem> {
        let path = raw.get_ref();
        if path.starts_with('/') {
            return Ok(path.clone());
        }
        Err(Problem::new(
            raw.span(),
            format!("the {what} `{path}` is not an absolute path in the container"),
            format!(
                "write it from the container's root, e.g. `/{}`",
                path.trim_start_matches("./")
            ),
        ))
    }

    /// A host folder that exists (relative to the scenario file's folder).
    fn host_dir(&self, raw: &Spanned<String>) -> Result<std::path::PathBuf, Problem> {
        let dir = self.folder().join(raw.get_ref());
        if dir.is_dir() {
            return Ok(dir);
        }
        Err(Problem::new(
            raw.span(),
            format!("the host folder `{}` does not exist", raw.get_ref()),
            "name an existing folder; relative folders are relative to the scenario file",
        ))
    }
}
