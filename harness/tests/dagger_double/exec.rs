//! Execs, simulated: a container as a chain builds it, and what a program "prints".
//!
//! Nothing runs: `echo`, `true`, `false`, `seq` and a small `sh -c` (`echo ... [>&2]`,
//! `$VAR` from the container's environment, `exit N`, `pwd`, `ls`/`cat` of mounted host
//! folders, `seq`, `sleep S` which makes the exec take that long, `;`/`&&`); any other
//! program "prints" its argv.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// An exec's result.
#[derive(Debug, Clone, Default)]
pub(super) struct Exec {
    pub(super) argv: Vec<String>,
    pub(super) stdout: String,
    pub(super) stderr: String,
    pub(super) code: i32,
}

/// A container as the chain builds it.
#[derive(Debug, Clone, Default)]
pub(super) struct Container {
    pub(super) image: Option<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) mounts: Vec<(String, PathBuf)>,
    pub(super) workdir: Option<String>,
    /// The execs of the chain, in order: lazy until a field needs their result.
    pub(super) execs: Vec<PendingExec>,
}

/// A `withExec` not run yet (`core/telemetry.go` recordPending: the call returns at once,
/// its span marked pending; a later field forces it).
#[derive(Debug, Clone)]
pub(super) struct PendingExec {
    /// The call key of the `withExec`: its result is cached under it.
    pub(super) digest: String,
    pub(super) argv: Vec<String>,
    /// `expect: ANY`: a non-zero exit is a result, not an error.
    pub(super) expect_any: bool,
    /// The container the exec runs in (environment, mounts, workdir at that point).
    pub(super) context: Box<Container>,
}

impl Container {
    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The host path behind a container path, through the mounts.
    fn host_path(&self, path: &str) -> Option<PathBuf> {
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!(
                "{}/{path}",
                self.workdir.as_deref().unwrap_or("").trim_end_matches('/')
            )
        };
        self.mounts.iter().rev().find_map(|(at, host)| {
            let rest = path.strip_prefix(at.as_str())?;
            if rest.is_empty() {
                Some(host.clone())
            } else {
                rest.strip_prefix('/').map(|r| host.join(r))
            }
        })
    }
}

/// Simulates an exec in `container`; the second value is how long it "took".
pub(super) fn run(container: &Container, argv: Vec<String>) -> (Exec, Duration) {
    let mut exec = Exec {
        argv: argv.clone(),
        ..Exec::default()
    };
    let mut slept = Duration::ZERO;
    match argv.as_slice() {
        [sh, flag, script, ..] if (sh == "sh" || sh.ends_with("/sh")) && flag == "-c" => {
            shell(container, script, &mut exec, &mut slept);
        }
        [program, args @ ..] => match program.as_str() {
            "echo" => exec.stdout = format!("{}\n", args.join(" ")),
            "true" => {}
            "false" => exec.code = 1,
            "seq" => match seq(args) {
                Ok(out) => exec.stdout = out,
                Err(why) => {
                    exec.code = 1;
                    exec.stderr = why;
                }
            },
            _ => exec.stdout = format!("{}\n", argv.join(" ")),
        },
        [] => {
            exec.code = 1;
            exec.stderr = "no command given\n".into();
        }
    }
    (exec, slept)
}

/// A very small `sh -c`: commands separated by `;` or `&&`.
fn shell(container: &Container, script: &str, exec: &mut Exec, slept: &mut Duration) {
    let mut rest = script;
    loop {
        let (command, separator, after) = match (rest.find(';'), rest.find("&&")) {
            (Some(s), Some(a)) if a < s => (&rest[..a], "&&", &rest[a + 2..]),
            (Some(s), _) => (&rest[..s], ";", &rest[s + 1..]),
            (None, Some(a)) => (&rest[..a], "&&", &rest[a + 2..]),
            (None, None) => (rest, "", ""),
        };
        let words = words(container, command);
        let status = builtin(container, &words, exec, slept);
        match status {
            Flow::Exit(code) => {
                exec.code = code;
                return;
            }
            Flow::Status(code) => exec.code = code,
        }
        if separator.is_empty() || (separator == "&&" && exec.code != 0) {
            return;
        }
        rest = after;
    }
}

enum Flow {
    Status(i32),
    Exit(i32),
}

fn builtin(container: &Container, words: &[String], exec: &mut Exec, slept: &mut Duration) -> Flow {
    let Some((program, args)) = words.split_first() else {
        return Flow::Status(0);
    };
    let (args, to_stderr) = match args.split_last() {
        Some((last, before)) if last == ">&2" => (before, true),
        _ => (args, false),
    };
    let mut out = String::new();
    let status = match program.as_str() {
        "echo" => {
            out = format!("{}\n", args.join(" "));
            0
        }
        "pwd" => {
            out = format!("{}\n", container.workdir.as_deref().unwrap_or("/"));
            0
        }
        "true" | ":" => 0,
        "seq" => match seq(args) {
            Ok(text) => {
                out = text;
                0
            }
            Err(why) => {
                exec.stderr.push_str(&why);
                return Flow::Status(1);
            }
        },
        "false" => 1,
        "exit" => {
            let code = args.first().and_then(|c| c.parse().ok()).unwrap_or(0);
            return Flow::Exit(code);
        }
        "sleep" => {
            let seconds: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            *slept += Duration::from_secs_f64(seconds.max(0.0));
            0
        }
        "ls" | "cat" => {
            let target = args.first().map_or(".", String::as_str);
            match container.host_path(target) {
                Some(host) if program == "ls" && host.is_dir() => {
                    out = list(&host);
                    0
                }
                Some(host) if program == "cat" && host.is_file() => {
                    out = std::fs::read_to_string(&host).unwrap_or_default();
                    0
                }
                _ => {
                    exec.stderr
                        .push_str(&format!("{program}: {target}: No such file or directory\n"));
                    return Flow::Status(if program == "ls" { 2 } else { 1 });
                }
            }
        }
        other => {
            exec.stderr.push_str(&format!("sh: {other}: not found\n"));
            return Flow::Status(127);
        }
    };
    if to_stderr {
        exec.stderr.push_str(&out);
    } else {
        exec.stdout.push_str(&out);
    }
    Flow::Status(status)
}

fn list(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.iter().map(|n| format!("{n}\n")).collect()
}

/// Splits a shell command into words: quotes group, `$NAME` and `${NAME}` expand (not in
/// single quotes) from the container's environment.
fn words(container: &Container, command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (q, '$') if q != Some('\'') => {
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced && chars.peek() == Some(&'}') {
                    chars.next();
                }
                if name.is_empty() {
                    word.push('$');
                } else {
                    word.push_str(container.var(&name).unwrap_or(""));
                }
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `seq LAST` or `seq FIRST LAST`: the numbers, one a line (a program that prints a lot).
fn seq(args: &[String]) -> Result<String, String> {
    let numbers: Vec<i64> = args
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|_| format!("seq: invalid argument: '{a}'\n"))
        })
        .collect::<Result<_, _>>()?;
    let (first, last) = match numbers.as_slice() {
        [last] => (1, *last),
        [first, last] => (*first, *last),
        _ => return Err("seq: usage: seq [FIRST] LAST\n".into()),
    };
    let mut out = String::new();
    for n in first..=last {
        out.push_str(&n.to_string());
        out.push('\n');
    }
    Ok(out)
}

/// The most of an exec's output an `EXEC_ERROR` carries (`engine/engineutil/ref.go`
/// MaxExecErrorOutputBytes).
pub const MAX_EXEC_ERROR_OUTPUT_BYTES: usize = 100 * 1024;

/// An exec's stdout or stderr as an `EXEC_ERROR` carries it: `engine/engineutil/ref.go`
/// ReadSnapshotPath reads the last 100 KiB and, when it read that many, overwrites their
/// first bytes with `[omitting N bytes]...` (TruncationMessage; N = total - 102400, so 0
/// for exactly 100 KiB) as its `copy` does; `core/exec_error.go` then trims the white
/// space around it (`strings.TrimSpace`).
pub fn exec_error_output(output: &str) -> String {
    let bytes = output.as_bytes();
    let total = bytes.len();
    let mut contents = if total > MAX_EXEC_ERROR_OUTPUT_BYTES {
        bytes[total - MAX_EXEC_ERROR_OUTPUT_BYTES..].to_vec()
    } else {
        bytes.to_vec()
    };
    if contents.len() >= MAX_EXEC_ERROR_OUTPUT_BYTES {
        let message = format!(
            "[omitting {} bytes]...",
            total - MAX_EXEC_ERROR_OUTPUT_BYTES
        );
        let n = message.len().min(contents.len());
        contents[..n].copy_from_slice(&message.as_bytes()[..n]);
    }
    String::from_utf8_lossy(&contents).trim().to_owned()
}
