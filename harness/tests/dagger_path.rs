//! Dagger paths at the library level: a `DaggerExecutor` (dagger-sdk over the harness's
//! HTTP client) against the contract double of the engine's session endpoint. Every
//! outcome class a Dagger step can end with is produced by the double and checked here,
//! with what the double saw of the SDK's queries. One test uses a real engine, only when
//! one is configured.

mod dagger_double;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dagger_double::{Behaviour, Call, EngineDouble, TOKEN, chain_of, parse_query};
use harness::kinds::StepReply;
use harness::kinds::dagger::{DaggerEngine, DaggerExecutor, EngineLink};
use harness::kinds::http::HttpClient;
use harness::load::{IterationContext, OutcomeClass};
use harness::record::SharedRecorder;
use harness::scenario::{CachePolicy, DaggerTarget, Flow, Scenario, Step, Target, parse_str};

/// The value of `${API_TOKEN}` in the scenarios: it must never reach a sample.
const SECRET: &str = "sk-live-7f3a9c0e2b";
/// A step's timeout when the test does not care.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// A scenario with one Dagger path (`cache` = `use` or `bust`) and one flow of `steps`
/// (TOML inline tables, one per line), written next to a `data/` folder to mount.
fn scenario(dir: &Path, cache: &str, steps: &str) -> Scenario {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir data");
    std::fs::write(data.join("v.json"), r#"{"v":"from-the-mount"}"#).expect("write v.json");
    std::fs::write(data.join("notes.txt"), "n\n").expect("write notes.txt");
    let text = format!(
        r#"
name = "dagger-double"
seed = 7
[paths.dagger]
kind = "dagger"
connect_timeout = "2s"
cache = "{cache}"
[load]
model = "open"
rate = 1
duration = "1s"
[[flow]]
name = "f"
steps = [
{steps}
]
"#
    );
    parse_str(&text, &dir.join("scenario.toml"), &|name| {
        (name == "API_TOKEN").then(|| SECRET.to_owned())
    })
    .unwrap_or_else(|e| panic!("the test scenario is valid: {e}\n{text}"))
}

fn step<'a>(scenario: &'a Scenario, name: &str) -> &'a Step {
    scenario
        .steps()
        .map(|(_, s)| s)
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step `{name}`"))
}

fn flow(scenario: &Scenario) -> &Flow {
    scenario.flows.first().expect("a flow")
}

fn executor_at(base: &str, token: &str, cache: CachePolicy) -> DaggerExecutor {
    let link = EngineLink::new(HttpClient::new(8), base, token, STEP_TIMEOUT).expect("link");
    DaggerExecutor::new(link, cache, 0x5eed)
}

fn executor(double: &EngineDouble) -> DaggerExecutor {
    executor_at(&double.base_url(), TOKEN, CachePolicy::Use)
}

/// Runs `step` once with no flow variables set.
async fn run(executor: &DaggerExecutor, step: &Step, request_id: u64) -> StepReply {
    executor.run(step, &[None], request_id, STEP_TIMEOUT).await
}

fn text(reply: &StepReply) -> &str {
    std::str::from_utf8(&reply.body).expect("utf-8 body")
}

fn queries(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| format!("  {:?} {}", c.request_id, c.query))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn an_exec_answers_its_stdout_through_env_mounts_and_workdir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "read", dagger = { from = "alpine:3.20", env = { GREETING = "hi there" }, mounts = { "/src" = "data" }, workdir = "/src", exec = ["sh", "-c", "echo $GREETING from; pwd; cat v.json"] } },"#,
    );
    let double = EngineDouble::start().await;
    let reply = run(&executor(&double), step(&s, "read"), 41).await;
    let calls = double.calls();
    eprintln!("what the SDK sent:\n{}", queries(&calls));
    assert_eq!(reply.failure, None, "{}", queries(&calls));
    assert_eq!(reply.status, Some(0), "an exec's status is its exit code");

    // The mount is a query of its own (the SDK resolves the ID first), then the pipeline.
    let data = dir.path().join("data");
    assert_eq!(calls.len(), 2, "{}", queries(&calls));
    assert_eq!(
        calls[0].query,
        format!(
            r#"query{{host{{directory(path:"{}"){{id}}}}}}"#,
            data.display()
        )
    );
    let exec = &calls[1];
    assert_eq!(
        exec.names(),
        [
            "container",
            "from",
            "withEnvVariable",
            "withMountedDirectory",
            "withWorkdir",
            "withExec",
            "stdout"
        ]
    );
    assert_eq!(
        exec.fields("from")[0].str_arg("address"),
        Some("alpine:3.20")
    );
    assert_eq!(
        exec.env(),
        [("GREETING".to_string(), "hi there".to_string())]
    );
    let mount = exec.fields("withMountedDirectory")[0];
    assert_eq!(mount.str_arg("path"), Some("/src"));
    assert_eq!(mount.str_arg("source"), Some("Directory:0"));
    assert_eq!(
        exec.exec_args().expect("args"),
        ["sh", "-c", "echo $GREETING from; pwd; cat v.json"]
    );
    // Every query of the step carries its request id, and the session token.
    assert!(
        calls
            .iter()
            .all(|c| c.request_id == Some(41) && c.authorized)
    );
    assert_eq!(calls[1].variables, serde_json::Value::Null);
    // The variable, the workdir and the mounted file all reached the exec.
    assert_eq!(
        text(&reply),
        "hi there from\n/src\n{\"v\":\"from-the-mount\"}"
    );
}

#[tokio::test]
async fn an_extraction_reads_the_stdout_and_feeds_the_next_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "read", dagger = { from = "alpine:3.20", mounts = { "/src" = "data" }, exec = ["sh", "-c", "cat /src/v.json"] }, extract = { v = "/v" } },
{ name = "use", dagger = { from = "alpine:3.20", exec = ["echo", "got ${v}"] } },"#,
    );
    let double = EngineDouble::start().await;
    let recorder = Arc::new(SharedRecorder::new(s.step_count(), Duration::ZERO, 1));
    let ctx = IterationContext::with_executor(
        Arc::new(executor(&double)),
        &s.flows,
        STEP_TIMEOUT,
        Instant::now(),
        recorder.clone(),
    );
    ctx.run(flow(&s), Instant::now(), None, 0).await;
    let recording = recorder.snapshot();
    let calls = double.calls();
    for (index, name) in [(0, "read"), (1, "use")] {
        assert_eq!(
            recording.steps[index].class_count(OutcomeClass::Ok),
            1,
            "step `{name}`:\n{}",
            queries(&calls)
        );
    }
    let last = calls.last().expect("a query");
    assert_eq!(
        last.exec_args().expect("args"),
        ["echo", "got from-the-mount"],
        "the second exec got the value the first step's stdout held at /v"
    );
    // Two steps, two request ids.
    let ids: std::collections::BTreeSet<_> = calls.iter().filter_map(|c| c.request_id).collect();
    assert_eq!(ids.len(), 2, "{}", queries(&calls));
}

#[tokio::test]
async fn a_failing_exec_is_exec_error_with_its_exit_code_and_a_redacted_stderr_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "build", dagger = { from = "alpine:3.20", env = { API_TOKEN = "${API_TOKEN}" }, exec = ["sh", "-c", "echo compiling; echo 'error: registry refused token' $API_TOKEN >&2; echo 'build failed' >&2; exit 3"] } },"#,
    );
    let double = EngineDouble::start().await;
    let executor = executor(&double);
    let reply = run(&executor, step(&s, "build"), 1).await;
    assert_eq!(reply.failure, Some(OutcomeClass::ExecError));
    assert_eq!(
        reply.status,
        Some(3),
        "the exit code is the outcome's status"
    );
    // The secret did reach the engine (it is the container's environment) ...
    let calls = double.calls();
    assert!(calls[0].env().iter().any(|(_, v)| v == SECRET));
    // ... but never a sample, which carries the stderr tail.
    let samples = executor.failure_samples();
    assert_eq!(samples.len(), 1, "{samples:?}");
    let sample = &samples[0];
    assert!(sample.contains("step `build`"), "{sample}");
    assert!(sample.contains("exec_error"), "{sample}");
    assert!(sample.contains("exit code 3"), "{sample}");
    assert!(
        sample.contains("error: registry refused token ***"),
        "{sample}"
    );
    assert!(sample.contains("build failed"), "{sample}");
    assert!(!sample.contains(SECRET), "{sample}");
    assert!(!sample.contains(TOKEN), "{sample}");
}

#[tokio::test]
async fn an_accepted_exit_code_is_ok_and_answers_the_chosen_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "out", dagger = { from = "alpine:3.20", exec = ["sh", "-c", "echo partial; echo warned >&2; exit 3"] }, expect_exit = [0, 3] },
{ name = "err", dagger = { from = "alpine:3.20", exec = ["sh", "-c", "echo partial; echo warned >&2; exit 3"], output = "stderr" }, expect_exit = [0, 3] },
{ name = "other", dagger = { from = "alpine:3.20", exec = ["sh", "-c", "exit 4"] }, expect_exit = [0, 3] },"#,
    );
    let double = EngineDouble::start().await;
    let executor = executor(&double);
    let reply = run(&executor, step(&s, "out"), 1).await;
    assert_eq!((reply.failure, reply.status), (None, Some(3)));
    // The engine trims the output it puts in an EXEC_ERROR (core/exec_error.go).
    assert_eq!(text(&reply), "partial");
    let reply = run(&executor, step(&s, "err"), 2).await;
    assert_eq!((reply.failure, reply.status), (None, Some(3)));
    assert_eq!(
        text(&reply),
        "warned",
        "output = \"stderr\" answers the stderr"
    );
    let reply = run(&executor, step(&s, "other"), 3).await;
    assert_eq!(
        (reply.failure, reply.status),
        (Some(OutcomeClass::ExecError), Some(4))
    );
}

#[tokio::test]
async fn output_exit_code_asks_for_any_code_and_checks_it_against_expect_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "strict", dagger = { from = "alpine:3.20", exec = ["sh", "-c", "exit 3"], output = "exit_code" } },
{ name = "lenient", dagger = { from = "alpine:3.20", exec = ["sh", "-c", "exit 3"], output = "exit_code" }, expect_exit = [0, 3] },
{ name = "zero", dagger = { from = "alpine:3.20", exec = ["true"], output = "exit_code" } },"#,
    );
    let double = EngineDouble::start().await;
    let executor = executor(&double);
    let reply = run(&executor, step(&s, "strict"), 1).await;
    assert_eq!(
        (reply.failure, reply.status),
        (Some(OutcomeClass::ExecError), Some(3))
    );
    let reply = run(&executor, step(&s, "lenient"), 2).await;
    assert_eq!((reply.failure, reply.status), (None, Some(3)));
    let reply = run(&executor, step(&s, "zero"), 3).await;
    assert_eq!((reply.failure, reply.status), (None, Some(0)));
    for call in double.calls() {
        assert_eq!(call.leaf().map(|l| l.name.as_str()), Some("exitCode"));
        let with_exec = call.fields("withExec")[0];
        assert_eq!(
            with_exec.str_arg("expect"),
            Some("ANY"),
            "an exit code is only read with expect: ANY ({})",
            call.query
        );
    }
}

#[tokio::test]
async fn module_functions_answer_their_value_or_a_selected_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "hello", dagger = { call = "hello", args = { name = "x" } } },
{ name = "message", dagger = { call = "greeting", args = { name = "ana" }, select = ["message"] } },
{ name = "length", dagger = { call = "greeting", args = { name = "ana" }, select = ["length"] } },
{ name = "json", dagger = { call = "greeting", args = { name = "ana" }, select = ["json"] }, extract = { who = "/name" } },
{ name = "missing", dagger = { call = "nope" } },"#,
    );
    let double = EngineDouble::start().await;
    let executor = executor(&double);
    let reply = run(&executor, step(&s, "hello"), 1).await;
    assert_eq!(
        (reply.failure, reply.status, text(&reply)),
        (None, None, "hello, x")
    );
    assert_eq!(double.calls()[0].query, r#"query{hello(name:"x")}"#);
    let reply = run(&executor, step(&s, "message"), 2).await;
    assert_eq!((reply.failure, text(&reply)), (None, "hello, ana"));
    assert_eq!(
        double.calls_for(2)[0].query,
        r#"query{greeting(name:"ana"){message}}"#
    );
    let reply = run(&executor, step(&s, "length"), 3).await;
    assert_eq!((reply.failure, text(&reply)), (None, "3"), "a number leaf");
    let reply = run(&executor, step(&s, "json"), 4).await;
    assert_eq!((reply.failure, text(&reply)), (None, r#"{"name":"ana"}"#));
    // A function the engine does not have: the engine refuses the query before running
    // anything (422, a validation error): a scenario bug, not a failing pipeline.
    let reply = run(&executor, step(&s, "missing"), 5).await;
    assert_eq!(
        (reply.failure, reply.status),
        (Some(OutcomeClass::QueryInvalid), None)
    );
    let samples = executor.failure_samples();
    assert!(
        samples
            .iter()
            .any(|s| s.contains("Cannot query field \"nope\"")),
        "{samples:?}"
    );
}

/// One exec step that succeeds against a well-behaved double.
fn echo_scenario(dir: &Path) -> Scenario {
    scenario(
        dir,
        "use",
        r#"{ name = "echo", dagger = { from = "alpine:3.20", exec = ["echo", "hi"] } },"#,
    )
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_auth_and_the_token_is_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = echo_scenario(dir.path());
    let double = EngineDouble::start().await;
    let wrong = executor_at(&double.base_url(), "not-the-token", CachePolicy::Use);
    let reply = run(&wrong, step(&s, "echo"), 9).await;
    assert_eq!(
        (reply.failure, reply.status),
        (Some(OutcomeClass::Auth), None)
    );
    let calls = double.calls();
    assert_eq!(calls.len(), 1);
    assert!(!calls[0].authorized);
    assert_eq!(calls[0].request_id, Some(9));
    let samples = wrong.failure_samples();
    assert!(
        samples.iter().any(|s| s.contains("HTTP 401")),
        "{samples:?}"
    );
    assert!(!samples.iter().any(|s| s.contains("not-the-token")));

    // The double refuses a request without the header the same way.
    let response = raw_post(
        double.port,
        None,
        r#"{"query":"query{version}","variables":null}"#,
    )
    .await;
    assert!(response.starts_with("http/1.1 401"), "{response}");
    assert!(
        response.contains("content-length: 0"),
        "an empty body: {response}"
    );
}

/// A bare HTTP/1.1 POST to `/query`, the whole answer as text.
async fn raw_post(port: u16, auth: Option<&str>, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let auth = auth
        .map(|a| format!("authorization: {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /query HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer.to_ascii_lowercase()
}

#[tokio::test]
async fn a_502_with_a_text_body_and_a_dropped_connection_are_transport() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = echo_scenario(dir.path());
    let double = EngineDouble::start().await;
    let executor = executor(&double);
    double.set(Behaviour::BadGateway(
        "upstream engine unavailable\n".into(),
    ));
    let reply = run(&executor, step(&s, "echo"), 1).await;
    assert_eq!(
        (reply.failure, reply.status),
        (Some(OutcomeClass::Transport), None)
    );
    double.set(Behaviour::Drop);
    let reply = run(&executor, step(&s, "echo"), 2).await;
    assert_eq!(
        (reply.failure, reply.status),
        (Some(OutcomeClass::Transport), None)
    );
    let samples = executor.failure_samples();
    assert!(samples[0].contains("HTTP 502"), "{samples:?}");
    // The engine is back: the next step is fine.
    double.set(Behaviour::Engine);
    let reply = run(&executor, step(&s, "echo"), 3).await;
    assert_eq!((reply.failure, text(&reply)), (None, "hi\n"));
}

#[tokio::test]
async fn an_answer_that_cannot_be_unpacked_is_unpack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = echo_scenario(dir.path());
    let double = EngineDouble::start().await;
    let executor = executor(&double);
    double.set(Behaviour::Malformed);
    let reply = run(&executor, step(&s, "echo"), 1).await;
    assert_eq!(
        reply.failure,
        Some(OutcomeClass::Unpack),
        "200 with a body that is not JSON"
    );
    double.set(Behaviour::WrongType);
    let reply = run(&executor, step(&s, "echo"), 2).await;
    assert_eq!(
        reply.failure,
        Some(OutcomeClass::Unpack),
        "a number where stdout is a string"
    );
}

#[tokio::test]
async fn null_data_makes_the_sdk_panic_and_the_panic_is_contained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = echo_scenario(dir.path());
    let double = EngineDouble::start().await;
    let executor = executor(&double);
    double.set(Behaviour::NullData);
    let reply = run(&executor, step(&s, "echo"), 1).await;
    assert_eq!(
        (reply.failure, reply.status),
        (Some(OutcomeClass::Panic), None)
    );
    let samples = executor.failure_samples();
    assert!(samples[0].contains("panicked"), "{samples:?}");
    double.set(Behaviour::Engine);
    let reply = run(&executor, step(&s, "echo"), 2).await;
    assert_eq!(reply.failure, None, "the executor goes on after a panic");
}

#[tokio::test]
async fn a_reply_slower_than_the_step_timeout_is_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "echo", dagger = { from = "alpine:3.20", exec = ["echo", "hi"] } },
{ name = "slow", dagger = { from = "alpine:3.20", exec = ["sh", "-c", "sleep 2; echo late"] } },"#,
    );
    let double = EngineDouble::start().await;
    let executor = executor(&double);
    let timeout = Duration::from_millis(300);
    double.set(Behaviour::Slow(Duration::from_secs(2)));
    let started = Instant::now();
    let reply = executor.run(step(&s, "echo"), &[None], 1, timeout).await;
    assert_eq!(reply.failure, Some(OutcomeClass::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // An exec that takes longer than the timeout on a prompt engine: the same.
    double.set(Behaviour::Engine);
    let reply = executor.run(step(&s, "slow"), &[None], 2, timeout).await;
    assert_eq!(reply.failure, Some(OutcomeClass::Timeout));
    let reply = executor.run(step(&s, "echo"), &[None], 3, timeout).await;
    assert_eq!(reply.failure, None);
}

#[tokio::test]
async fn no_engine_listening_is_connect_failed_and_so_is_an_engine_that_went_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = echo_scenario(dir.path());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let nowhere = executor_at(&format!("http://127.0.0.1:{port}"), TOKEN, CachePolicy::Use);
    let reply = run(&nowhere, step(&s, "echo"), 1).await;
    assert_eq!(
        (reply.failure, reply.status),
        (Some(OutcomeClass::ConnectFailed), None)
    );

    let mut double = EngineDouble::start().await;
    let executor = executor(&double);
    let reply = run(&executor, step(&s, "echo"), 2).await;
    assert_eq!(reply.failure, None);
    double.stop().await;
    for id in 3..6 {
        let reply = run(&executor, step(&s, "echo"), id).await;
        assert_eq!(
            reply.failure,
            Some(OutcomeClass::ConnectFailed),
            "request {id} after the engine went away"
        );
    }
}

#[tokio::test]
async fn an_unset_flow_variable_is_check_failed_and_sends_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "first", dagger = { from = "alpine:3.20", exec = ["echo", "{}"] }, extract = { v = "/v" } },
{ name = "second", dagger = { from = "alpine:3.20", exec = ["echo", "${v}"] } },"#,
    );
    let double = EngineDouble::start().await;
    let reply = run(&executor(&double), step(&s, "second"), 1).await;
    assert_eq!(reply.failure, Some(OutcomeClass::CheckFailed));
    assert!(double.calls().is_empty(), "{:?}", double.queries());
}

#[tokio::test]
async fn cache_bust_gives_every_exec_its_own_value_and_cache_use_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = echo_scenario(dir.path());
    let double = EngineDouble::start().await;
    let bust = executor_at(&double.base_url(), TOKEN, CachePolicy::Bust);
    for id in 1..=3 {
        assert_eq!(run(&bust, step(&s, "echo"), id).await.failure, None);
    }
    let busts: Vec<String> = double
        .calls()
        .iter()
        .map(|c| {
            let env = c.env();
            assert_eq!(env.len(), 1, "{}", c.query);
            assert_eq!(env[0].0, "HARNESS_CACHE_BUST");
            env[0].1.clone()
        })
        .collect();
    let distinct: std::collections::BTreeSet<_> = busts.iter().collect();
    assert_eq!(distinct.len(), 3, "{busts:?}");
    // A second executor (another run) never repeats the first one's values.
    let other = DaggerExecutor::new(
        EngineLink::new(HttpClient::new(1), &double.base_url(), TOKEN, STEP_TIMEOUT).expect("link"),
        CachePolicy::Bust,
        0xbeef,
    );
    assert_eq!(run(&other, step(&s, "echo"), 4).await.failure, None);
    let last = double.calls_for(4)[0].env()[0].1.clone();
    assert!(!busts.contains(&last), "{last} in {busts:?}");

    double.clear();
    assert_eq!(
        run(&executor(&double), step(&s, "echo"), 5).await.failure,
        None
    );
    assert!(
        double.calls()[0].env().is_empty(),
        "cache = \"use\" adds nothing"
    );
}

#[tokio::test]
async fn the_double_parses_the_sdk_query_shapes() {
    let nodes = parse_query(
        r#"query{container{from(address:"alpine:3.20"){withExec(args:["sh", "-c", "echo \"a\\b\""], expect:ANY){exitCode}}}}"#,
    )
    .expect("parses");
    let chain = chain_of(&nodes).expect("a chain");
    let names: Vec<_> = chain.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["container", "from", "withExec", "exitCode"]);
    assert_eq!(
        chain[2].strings_arg("args").expect("args"),
        ["sh", "-c", "echo \"a\\b\""]
    );
    assert_eq!(chain[2].str_arg("expect"), Some("ANY"));
    let nodes =
        parse_query(r#"query{node(id:"x"){... on Container{alias:stdout}}}"#).expect("parses");
    let chain = chain_of(&nodes).expect("a chain");
    assert_eq!(chain[1].key(), "alias");
    assert!(parse_query("query{a{b}").is_err());
}

/// Only with a real engine in the environment (`DAGGER_SESSION_PORT` and
/// `DAGGER_SESSION_TOKEN`, as `dagger run` sets them, or `_EXPERIMENTAL_DAGGER_CLI_BIN`).
#[tokio::test]
async fn a_real_engine_runs_an_alpine_echo_when_one_is_configured() {
    let configured = std::env::var_os("DAGGER_SESSION_PORT").is_some()
        || std::env::var_os("_EXPERIMENTAL_DAGGER_CLI_BIN").is_some();
    if !configured {
        println!(
            "skipped: no Dagger engine configured (set DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN, e.g. under `dagger run`, or _EXPERIMENTAL_DAGGER_CLI_BIN)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "use",
        r#"{ name = "echo", dagger = { from = "alpine:3.20", exec = ["echo", "hello from a real engine"] } },"#,
    );
    let Some(Target::Dagger(target)) = s.path("dagger").map(|p| &p.target) else {
        panic!("the scenario has a Dagger path");
    };
    let target = DaggerTarget {
        connect_timeout: Duration::from_secs(120),
        ..target.clone()
    };
    let engine = DaggerEngine::open(&s, &target)
        .await
        .unwrap_or_else(|why| panic!("an engine is configured but cannot be opened: {why}"));
    let link = EngineLink::new(
        HttpClient::new(2),
        &engine.base_url(),
        engine.token(),
        Duration::from_secs(300),
    )
    .expect("link");
    let executor = DaggerExecutor::new(link, CachePolicy::Use, 1);
    let reply = executor
        .run(step(&s, "echo"), &[None], 1, Duration::from_secs(300))
        .await;
    let samples = executor.failure_samples();
    engine.close().await;
    assert_eq!(reply.failure, None, "{samples:?}");
    assert_eq!(reply.status, Some(0));
    assert_eq!(text(&reply), "hello from a real engine\n");
}
