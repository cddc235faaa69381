//! A contract double of a Dagger engine's session endpoint, for the harness's Dagger paths.
//!
//! A real HTTP/1.1 server on 127.0.0.1 that speaks what dagger-sdk speaks (DESIGN.md §11):
//! `POST /query`, `Authorization: Basic base64(token + ":")` (anything else: 401 with an
//! empty body, as the engine answers), a JSON body `{"query": ..., "variables": null}`,
//! and a reply `{"data": ...}` or `{"data": null, "errors": [...]}`.
//!
//! It parses each query (GraphQL selection sets, arguments as GraphQL literals), records
//! it with its `x-harness-request-id`, and evaluates the chain the SDK builds the way the
//! engine would: `container.from.(withEnvVariable|withMountedDirectory|withWorkdir)*
//! .withExec(args, expect).stdout|stderr|exitCode`, `host.directory(path).id`, and two
//! module functions (`hello(name)` is a string, `greeting(name)` an object whose fields
//! are selected). An exec is simulated, not run: `echo`, `true`, `false` and a small
//! `sh -c` (`echo ... [>&2]`, `$VAR` from the container's environment, `exit N`, `pwd`,
//! `ls`/`cat` of mounted host folders, `sleep S` which delays the reply, `;`/`&&`); any
//! other program "prints" its argv. A non-zero exit fails the query with an `EXEC_ERROR`
//! unless the exec was given `expect: ANY`.
//!
//! [`Behaviour`] makes the double misbehave, switchable at any time: a 502 with a text
//! body, slow replies, dropped connections, `{"data": null}`, a reply that is not JSON,
//! a leaf of the wrong type, and the engine going away after some queries. [`stop`]
//! takes it away at once (the listener and every open connection are closed).
//!
//! [`stop`]: EngineDouble::stop

#![allow(dead_code)] // each test binary uses a different part of the double

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

/// The session token the double accepts unless told otherwise.
pub const TOKEN: &str = "double-session-token-5f1e";

/// How the double answers, switchable per test ([`EngineDouble::set`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// As the engine does.
    Engine,
    /// `502 Bad Gateway` with a `text/plain` body, as a proxy in front of the engine.
    BadGateway(String),
    /// As the engine does, after a delay.
    Slow(Duration),
    /// Read the request, then close the connection without an answer.
    Drop,
    /// `200 {"data": null}`: the SDK unwraps the missing data (it panics).
    NullData,
    /// `200` with a body that is not JSON.
    Malformed,
    /// `200` with the leaf a number where the schema has a string.
    WrongType,
    /// Answer this many queries as the engine does, then go away: the next query's
    /// connection is dropped, the listener closes and every open connection with it.
    GoneAfter(usize),
}

/// A GraphQL value as sent: strings, numbers, booleans, null, lists, objects; an enum
/// value (a bare word such as `ANY`) is kept as a string.
pub type Literal = Value;

/// One field of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The alias, when the SDK sent one.
    pub alias: Option<String>,
    /// The field name.
    pub name: String,
    /// The arguments, decoded.
    pub args: BTreeMap<String, Literal>,
    /// The fields selected on its result.
    pub selection: Vec<Node>,
}

impl Field {
    /// The key of this field in the reply.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// A string argument.
    pub fn str_arg(&self, name: &str) -> Option<&str> {
        self.args.get(name).and_then(Value::as_str)
    }

    /// A list-of-strings argument.
    pub fn strings_arg(&self, name: &str) -> Option<Vec<String>> {
        self.args.get(name)?.as_array().map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
    }
}

/// An entry of a selection set.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A field.
    Field(Field),
    /// `... on Type { ... }`: adds no level to the reply.
    Fragment {
        /// The type condition.
        on: String,
        /// What is selected inside.
        selection: Vec<Node>,
    },
}

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The `x-harness-request-id` header, when present and a number.
    pub request_id: Option<u64>,
    /// Whether `Authorization` carried the session token.
    pub authorized: bool,
    /// The GraphQL query (empty when refused before the body was read as JSON).
    pub query: String,
    /// The `variables` member of the body (`null` from the SDK).
    pub variables: Value,
    /// The fields of the query, root first (one per level, as the SDK sends them);
    /// empty when the query did not parse.
    pub chain: Vec<Field>,
}

impl Call {
    /// The field names of the chain, root first.
    pub fn names(&self) -> Vec<&str> {
        self.chain.iter().map(|f| f.name.as_str()).collect()
    }

    /// The last field.
    pub fn leaf(&self) -> Option<&Field> {
        self.chain.last()
    }

    /// Every field of the chain called `name`, in order.
    pub fn fields(&self, name: &str) -> Vec<&Field> {
        self.chain.iter().filter(|f| f.name == name).collect()
    }

    /// The environment an exec of this query sees: `withEnvVariable` in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.fields("withEnvVariable")
            .into_iter()
            .filter_map(|f| {
                Some((
                    f.str_arg("name")?.to_owned(),
                    f.str_arg("value")?.to_owned(),
                ))
            })
            .collect()
    }

    /// The argv of this query's exec, if it has one.
    pub fn exec_args(&self) -> Option<Vec<String>> {
        self.fields("withExec").first()?.strings_arg("args")
    }
}

#[derive(Debug)]
struct State {
    token: String,
    behaviour: Mutex<Behaviour>,
    calls: Mutex<Vec<Call>>,
    /// Host folders by directory ID (`Directory:<n>`).
    dirs: Mutex<Vec<PathBuf>>,
    /// Queries answered (or refused) so far, for [`Behaviour::GoneAfter`].
    seen: AtomicUsize,
    stop: watch::Sender<bool>,
}

impl State {
    fn behaviour(&self) -> Behaviour {
        self.behaviour.lock().expect("behaviour lock").clone()
    }

    fn record(&self, call: Call) {
        self.calls.lock().expect("calls lock").push(call);
    }
}

/// A running double on `127.0.0.1:port`.
#[derive(Debug)]
pub struct EngineDouble {
    /// The port (what `DAGGER_SESSION_PORT` names).
    pub port: u16,
    state: Arc<State>,
    accept: Option<tokio::task::JoinHandle<()>>,
    /// The runtime it serves on, when started from synchronous code.
    runtime: Option<tokio::runtime::Runtime>,
}

impl EngineDouble {
    /// Starts a double that accepts [`TOKEN`], on the current runtime.
    pub async fn start() -> Self {
        Self::start_with(TOKEN, Behaviour::Engine).await
    }

    /// Starts a double that accepts `token` and behaves as told, on the current runtime.
    pub async fn start_with(token: &str, behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let (stop, _) = watch::channel(false);
        let state = Arc::new(State {
            token: token.to_owned(),
            behaviour: Mutex::new(behaviour),
            calls: Mutex::new(Vec::new()),
            dirs: Mutex::new(Vec::new()),
            seen: AtomicUsize::new(0),
            stop,
        });
        let accept = tokio::spawn(serve(listener, state.clone()));
        Self {
            port,
            state,
            accept: Some(accept),
            runtime: None,
        }
    }

    /// Starts a double on a runtime of its own, for tests that run the binary (the double
    /// keeps serving while the test thread waits on the child).
    pub fn start_in_background(token: &str, behaviour: Behaviour) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the double");
        let mut double = runtime.block_on(Self::start_with(token, behaviour));
        double.runtime = Some(runtime);
        double
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Changes how the double answers from the next request on.
    pub fn set(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().expect("behaviour lock") = behaviour;
    }

    /// Takes the engine away: the listener and every open connection close; once this
    /// returns, connecting to the port is refused.
    pub async fn stop(&mut self) {
        self.state.stop.send_replace(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }

    /// True once the double has gone away (by [`EngineDouble::stop`] or
    /// [`Behaviour::GoneAfter`]).
    pub fn is_gone(&self) -> bool {
        *self.state.stop.borrow()
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("calls lock").clone()
    }

    /// The requests that carried `request_id`.
    pub fn calls_for(&self, request_id: u64) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.request_id == Some(request_id))
            .collect()
    }

    /// The query texts received so far (for messages, and to see what the SDK sends).
    pub fn queries(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.query).collect()
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        self.state.calls.lock().expect("calls lock").clear();
    }
}

impl Drop for EngineDouble {
    fn drop(&mut self) {
        self.state.stop.send_replace(true);
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut stopped = state.stop.subscribe();
    loop {
        let stream = tokio::select! {
            _ = stopped.wait_for(|gone| *gone) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let state = state.clone();
        let mut stopped = state.stop.subscribe();
        tokio::spawn(async move {
            let service = hyper::service::service_fn({
                let state = state.clone();
                move |request| {
                    let state = state.clone();
                    async move { handle(&state, request).await }
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            // Going away closes the connection, answered or not.
            tokio::select! {
                _ = connection => {}
                _ = stopped.wait_for(|gone| *gone) => {}
            }
        });
    }
    // The listener is dropped here: connections are refused from now on.
}

/// The error that makes hyper close the connection without an answer.
#[derive(Debug)]
struct Hangup;

impl std::fmt::Display for Hangup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("engine double: hanging up")
    }
}

impl std::error::Error for Hangup {}

type Reply = Result<Response<Full<Bytes>>, Hangup>;

async fn handle(state: &State, request: Request<Incoming>) -> Reply {
    if request.method() != Method::POST || request.uri().path() != "/query" {
        return Ok(plain(StatusCode::NOT_FOUND, ""));
    }
    let request_id = request
        .headers()
        .get("x-harness-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let authorized = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| basic_auth_matches(v, &state.token));
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(|_| Hangup)?
        .to_bytes();
    let seen = state.seen.fetch_add(1, Ordering::SeqCst);
    let behaviour = state.behaviour();
    let mut call = Call {
        request_id,
        authorized,
        query: String::new(),
        variables: Value::Null,
        chain: Vec::new(),
    };
    if let Behaviour::GoneAfter(answered) = behaviour
        && seen >= answered
    {
        state.record(call);
        state.stop.send_replace(true);
        return Err(Hangup);
    }
    if !authorized {
        // The engine refuses a wrong or missing session token with a bare 401.
        state.record(call);
        return Ok(plain(StatusCode::UNAUTHORIZED, ""));
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            state.record(call);
            return Ok(graphql_errors(
                StatusCode::BAD_REQUEST,
                json!([{ "message": format!("body is not JSON: {e}") }]),
            ));
        }
    };
    call.query = parsed["query"].as_str().unwrap_or_default().to_owned();
    call.variables = parsed
        .get("variables")
        .cloned()
        .unwrap_or(Value::Bool(false));
    let chain = parse_query(&call.query).and_then(|nodes| chain_of(&nodes));
    if let Ok(chain) = &chain {
        call.chain = chain.clone();
    }
    state.record(call);
    match behaviour {
        Behaviour::BadGateway(text) => return Ok(text_reply(StatusCode::BAD_GATEWAY, text)),
        Behaviour::Drop => return Err(Hangup),
        Behaviour::NullData => return Ok(json_reply(StatusCode::OK, &json!({ "data": null }))),
        Behaviour::Malformed => {
            let mut response =
                text_reply(StatusCode::OK, "{\"data\": {\"container\": <html>".into());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, "application/json".parse().expect("header"));
            return Ok(response);
        }
        Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
        Behaviour::Engine | Behaviour::WrongType | Behaviour::GoneAfter(_) => {}
    }
    let chain = match chain {
        Ok(chain) => chain,
        Err(e) => {
            return Ok(graphql_errors(
                StatusCode::BAD_REQUEST,
                json!([{ "message": format!("cannot parse the query: {e}") }]),
            ));
        }
    };
    let evaluated = evaluate(state, &chain);
    if !evaluated.delay.is_zero() {
        tokio::time::sleep(evaluated.delay).await;
    }
    match evaluated.result {
        Ok(leaf) => {
            let leaf = if behaviour == Behaviour::WrongType {
                json!(42)
            } else {
                leaf
            };
            Ok(json_reply(
                StatusCode::OK,
                &json!({ "data": nest(&chain, leaf) }),
            ))
        }
        Err(error) => Ok(graphql_errors(StatusCode::OK, json!([error]))),
    }
}

/// `Basic base64(token + ":")`, decoded as the engine's Go `BasicAuth` does.
fn basic_auth_matches(header: &str, token: &str) -> bool {
    let Some(encoded) = header.strip_prefix("Basic ") else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .is_ok_and(|decoded| decoded == format!("{token}:").as_bytes())
}

/// A bare status with an empty body (what the engine sends with a 401).
fn plain(code: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = code;
    response
}

/// A `text/plain` answer, as a proxy's error page.
fn text_reply(code: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().expect("header"),
    );
    response
}

fn json_reply(code: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, "application/json".parse().expect("header"));
    response
}

fn graphql_errors(code: StatusCode, errors: Value) -> Response<Full<Bytes>> {
    json_reply(code, &json!({ "data": null, "errors": errors }))
}

/// Wraps the leaf in one object per field of the chain, keyed by alias or name.
fn nest(chain: &[Field], leaf: Value) -> Value {
    chain.iter().rev().fold(leaf, |inner, field| {
        let mut object = Map::new();
        object.insert(field.key().to_owned(), inner);
        Value::Object(object)
    })
}

// ---------------------------------------------------------------------------------------
// Evaluation: what the engine would answer.
// ---------------------------------------------------------------------------------------

/// An exec's result.
#[derive(Debug, Clone, Default)]
struct Exec {
    argv: Vec<String>,
    stdout: String,
    stderr: String,
    code: i32,
}

/// A container as the chain builds it.
#[derive(Debug, Clone, Default)]
struct Container {
    image: Option<String>,
    env: Vec<(String, String)>,
    mounts: Vec<(String, PathBuf)>,
    workdir: Option<String>,
    last: Option<Exec>,
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

/// What a field evaluates to.
#[derive(Debug, Clone)]
enum Object {
    Query,
    Container(Box<Container>),
    Host,
    Directory(PathBuf),
    Greeting(String),
    Leaf(Value),
}

impl Object {
    fn type_name(&self) -> &'static str {
        match self {
            Object::Query => "Query",
            Object::Container(_) => "Container",
            Object::Host => "Host",
            Object::Directory(_) => "Directory",
            Object::Greeting(_) => "Greeting",
            Object::Leaf(_) => "String",
        }
    }
}

struct Evaluated {
    result: Result<Value, Value>,
    delay: Duration,
}

fn evaluate(state: &State, chain: &[Field]) -> Evaluated {
    let mut delay = Duration::ZERO;
    let path: Vec<&str> = chain.iter().map(|f| f.key()).collect();
    let error = |message: String| json!({ "message": message, "path": path });
    let mut object = Object::Query;
    for field in chain {
        let next = step(state, object, field, &mut delay);
        object = match next {
            Ok(next) => next,
            Err(Failure::Message(message)) => {
                return Evaluated {
                    result: Err(error(message)),
                    delay,
                };
            }
            Err(Failure::Exec(exec)) => {
                return Evaluated {
                    result: Err(exec_error(&exec, &path)),
                    delay,
                };
            }
        };
    }
    let result = match object {
        Object::Leaf(value) => Ok(value),
        other => Err(error(format!(
            "field `{}` of type `{}` must have a selection of subfields",
            chain.last().map_or("", |f| f.name.as_str()),
            other.type_name()
        ))),
    };
    Evaluated { result, delay }
}

enum Failure {
    Message(String),
    Exec(Exec),
}

fn step(
    state: &State,
    object: Object,
    field: &Field,
    delay: &mut Duration,
) -> Result<Object, Failure> {
    let missing =
        |arg: &str| Failure::Message(format!("argument `{arg}` of `{}` is required", field.name));
    let name = field.name.as_str();
    Ok(match object {
        Object::Query => match name {
            "container" => Object::Container(Box::default()),
            "host" => Object::Host,
            "hello" => {
                let who = field.str_arg("name").unwrap_or("world");
                Object::Leaf(json!(format!("hello, {who}")))
            }
            "greeting" => Object::Greeting(
                field
                    .str_arg("name")
                    .ok_or_else(|| missing("name"))?
                    .to_owned(),
            ),
            _ => return Err(no_field(name, "Query")),
        },
        Object::Host => match name {
            "directory" => {
                let path = field.str_arg("path").ok_or_else(|| missing("path"))?;
                Object::Directory(PathBuf::from(path))
            }
            _ => return Err(no_field(name, "Host")),
        },
        Object::Directory(path) => match name {
            "id" => {
                if !path.is_dir() {
                    return Err(Failure::Message(format!(
                        "lstat {}: no such file or directory",
                        path.display()
                    )));
                }
                let mut dirs = state.dirs.lock().expect("dirs lock");
                dirs.push(path);
                Object::Leaf(json!(format!("Directory:{}", dirs.len() - 1)))
            }
            _ => return Err(no_field(name, "Directory")),
        },
        Object::Greeting(who) => match name {
            "message" => Object::Leaf(json!(format!("hello, {who}"))),
            "length" => Object::Leaf(json!(who.chars().count())),
            "json" => Object::Leaf(json!(json!({ "name": who }).to_string())),
            _ => return Err(no_field(name, "Greeting")),
        },
        Object::Container(mut c) => {
            match name {
                "from" => {
                    c.image = Some(
                        field
                            .str_arg("address")
                            .ok_or_else(|| missing("address"))?
                            .to_owned(),
                    )
                }
                "withEnvVariable" => {
                    let var = field.str_arg("name").ok_or_else(|| missing("name"))?;
                    let value = field.str_arg("value").ok_or_else(|| missing("value"))?;
                    c.env.push((var.to_owned(), value.to_owned()));
                }
                "withWorkdir" => {
                    c.workdir = Some(
                        field
                            .str_arg("path")
                            .ok_or_else(|| missing("path"))?
                            .to_owned(),
                    )
                }
                "withMountedDirectory" => {
                    let at = field.str_arg("path").ok_or_else(|| missing("path"))?;
                    let id = field.str_arg("source").ok_or_else(|| missing("source"))?;
                    let host = id
                        .strip_prefix("Directory:")
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|n| state.dirs.lock().expect("dirs lock").get(n).cloned())
                        .ok_or_else(|| Failure::Message(format!("invalid ID `{id}`")))?;
                    c.mounts.push((at.trim_end_matches('/').to_owned(), host));
                }
                "withExec" => {
                    let argv = field.strings_arg("args").ok_or_else(|| missing("args"))?;
                    if c.image.is_none() {
                        return Err(Failure::Message(
                            "no command can run in a container without an image: call `from` first"
                                .into(),
                        ));
                    }
                    let (exec, slept) = run(&c, argv);
                    *delay += slept;
                    let expect_any = field.str_arg("expect") == Some("ANY");
                    if exec.code != 0 && !expect_any {
                        return Err(Failure::Exec(exec));
                    }
                    c.last = Some(exec);
                }
                "stdout" | "stderr" | "exitCode" => {
                    let Some(last) = &c.last else {
                        return Err(Failure::Message("no command has been set".into()));
                    };
                    return Ok(Object::Leaf(match name {
                        "stdout" => json!(last.stdout),
                        "stderr" => json!(last.stderr),
                        _ => json!(last.code),
                    }));
                }
                "id" | "sync" => return Ok(Object::Leaf(json!("Container:double"))),
                _ => return Err(no_field(name, "Container")),
            }
            Object::Container(c)
        }
        Object::Leaf(_) => {
            return Err(Failure::Message(format!(
                "field `{name}` cannot be selected on a scalar"
            )));
        }
    })
}

fn no_field(name: &str, on: &str) -> Failure {
    Failure::Message(format!("Cannot query field \"{name}\" on type \"{on}\"."))
}

/// The engine's error for an exec that exited with a code nobody accepted.
fn exec_error(exec: &Exec, path: &[&str]) -> Value {
    json!({
        "message": format!(
            "process \"{}\" did not complete successfully: exit code: {}",
            exec.argv.join(" "),
            exec.code
        ),
        "path": path,
        "extensions": {
            "_type": "EXEC_ERROR",
            "cmd": exec.argv,
            "exitCode": exec.code,
            "stdout": exec.stdout,
            "stderr": exec.stderr,
        }
    })
}

/// Simulates an exec in `container`; the second value is how long it "took".
fn run(container: &Container, argv: Vec<String>) -> (Exec, Duration) {
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

// ---------------------------------------------------------------------------------------
// Parsing: the GraphQL the SDK writes.
// ---------------------------------------------------------------------------------------

/// Parses `query{...}` (the word `query` is optional) into its selection set.
pub fn parse_query(text: &str) -> Result<Vec<Node>, String> {
    let mut parser = Parser {
        text: text.as_bytes(),
        at: 0,
    };
    parser.space();
    if parser.peek_word() == Some("query") {
        parser.word()?;
        parser.space();
    }
    let selection = parser.selection_set()?;
    parser.space();
    if parser.at != parser.text.len() {
        return Err(format!(
            "unexpected text after the query at byte {}",
            parser.at
        ));
    }
    Ok(selection)
}

/// The chain of fields of a selection set with one field per level (fragments skipped).
pub fn chain_of(nodes: &[Node]) -> Result<Vec<Field>, String> {
    let mut chain = Vec::new();
    let mut level = nodes;
    loop {
        match level {
            [] => return Ok(chain),
            [Node::Fragment { selection, .. }] => level = selection,
            [Node::Field(field)] => {
                chain.push(Field {
                    selection: Vec::new(),
                    ..field.clone()
                });
                level = &field.selection;
            }
            _ => return Err("the double answers one field per level, as the SDK asks".into()),
        }
    }
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    /// Skips white space and commas (insignificant in GraphQL).
    fn space(&mut self) {
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || c == b',')
        {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.space();
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!(
                "expected `{}` at byte {}, found {:?}",
                c as char,
                self.at,
                self.peek().map(char::from)
            ))
        }
    }

    fn peek_word(&self) -> Option<&str> {
        let end = self.text[self.at..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
            .map_or(self.text.len(), |n| self.at + n);
        (end > self.at).then(|| std::str::from_utf8(&self.text[self.at..end]).unwrap_or(""))
    }

    fn word(&mut self) -> Result<String, String> {
        self.space();
        let word = self
            .peek_word()
            .filter(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
            .ok_or_else(|| format!("expected a name at byte {}", self.at))?
            .to_owned();
        self.at += word.len();
        Ok(word)
    }

    fn selection_set(&mut self) -> Result<Vec<Node>, String> {
        self.expect(b'{')?;
        let mut nodes = Vec::new();
        loop {
            self.space();
            match self.peek() {
                Some(b'}') => {
                    self.at += 1;
                    return Ok(nodes);
                }
                None => return Err("unterminated selection set".into()),
                Some(b'.') => {
                    if !self.text[self.at..].starts_with(b"...") {
                        return Err(format!("stray `.` at byte {}", self.at));
                    }
                    self.at += 3;
                    if self.word()? != "on" {
                        return Err("only inline fragments `... on Type` are understood".into());
                    }
                    let on = self.word()?;
                    let selection = self.selection_set()?;
                    nodes.push(Node::Fragment { on, selection });
                }
                Some(_) => nodes.push(Node::Field(self.field()?)),
            }
        }
    }

    fn field(&mut self) -> Result<Field, String> {
        let first = self.word()?;
        self.space();
        let (alias, name) = if self.peek() == Some(b':') {
            self.at += 1;
            (Some(first), self.word()?)
        } else {
            (None, first)
        };
        self.space();
        let mut args = BTreeMap::new();
        if self.peek() == Some(b'(') {
            self.at += 1;
            loop {
                self.space();
                if self.peek() == Some(b')') {
                    self.at += 1;
                    break;
                }
                let arg = self.word()?;
                self.expect(b':')?;
                let value = self.value()?;
                if args.insert(arg.clone(), value).is_some() {
                    return Err(format!("argument `{arg}` given twice"));
                }
            }
        }
        self.space();
        let selection = if self.peek() == Some(b'{') {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            args,
            selection,
        })
    }

    fn value(&mut self) -> Result<Value, String> {
        self.space();
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.space();
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        return Ok(Value::Array(items));
                    }
                    if self.peek().is_none() {
                        return Err("unterminated list".into());
                    }
                    items.push(self.value()?);
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut object = Map::new();
                loop {
                    self.space();
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        return Ok(Value::Object(object));
                    }
                    let key = self.word()?;
                    self.expect(b':')?;
                    object.insert(key, self.value()?);
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.at;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.text[start..self.at]).unwrap_or("");
                serde_json::from_str(text).map_err(|e| format!("bad number `{text}`: {e}"))
            }
            Some(_) => {
                let word = self.word()?;
                Ok(match word.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => Value::String(word), // an enum value
                })
            }
            None => Err("expected a value, found the end".into()),
        }
    }

    /// A string literal, escapes as in JSON (how the SDK writes them).
    fn string(&mut self) -> Result<Value, String> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek() {
                None => return Err("unterminated string".into()),
                Some(b'\\') => self.at += 2,
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(_) => self.at += 1,
            }
        }
        let literal = std::str::from_utf8(&self.text[start..self.at]).map_err(|e| e.to_string())?;
        serde_json::from_str::<String>(literal)
            .map(Value::String)
            .map_err(|e| format!("bad string {literal}: {e}"))
    }
}
