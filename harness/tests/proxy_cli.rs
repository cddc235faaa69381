//! `harness proxy --config FILE` through the real binary: a tiny upstream on 127.0.0.1,
//! the proxy as a child process, its URLs read from its standard output, and the control
//! API (native and Toxiproxy-style) changing what requests through the proxy see.
//! Timing assertions are lower bounds only.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;

/// An upstream answering `200 hello` to everything, until dropped.
struct Upstream {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(|_: Request<Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, task }
    }
}

/// The proxy as a child process; killed when dropped, so a failing test leaves nothing behind.
struct Proxy {
    child: Child,
    proxy: String,
    control: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Proxy {
    /// Starts `harness proxy --config FILE` and reads the two URL lines from its stdout.
    fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    /// [`Proxy::start`] with further arguments.
    fn start_with(config: &Path, args: &[&str]) -> Self {
        let (child, received) = common::child::spawn_with_lines(
            StdCommand::new(assert_cmd::cargo::cargo_bin("harness"))
                .args(["proxy", "--quiet", "--config"])
                .arg(config)
                .args(args)
                .stderr(Stdio::inherit()),
        );
        let mut proxy = Self {
            child,
            proxy: String::new(),
            control: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy.proxy.is_empty() || proxy.control.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = received
                .recv_timeout(left)
                .expect("the proxy prints its URLs within 10 s");
            if let Some(url) = line.strip_prefix("proxy: ") {
                proxy.proxy = url.to_owned();
            } else if let Some(url) = line.strip_prefix("control: ") {
                proxy.control = url.to_owned();
            }
        }
        proxy
    }

    /// Sends SIGINT, as Ctrl-C does, and returns the exit code.
    fn interrupt(mut self) -> Option<i32> {
        let sent = StdCommand::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the proxy must stop within 5 s of Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

type TestClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One exchange: status, headers and body as text.
async fn send(
    client: &TestClient,
    method: Method,
    url: String,
    body: &str,
) -> Result<(StatusCode, HeaderMap, String), String> {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

async fn call(client: &TestClient, method: Method, url: String, body: &str) -> (StatusCode, Value) {
    let (status, _, text) = send(client, method, url, body)
        .await
        .expect("control API answers");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_steers_a_running_http_proxy_and_ctrl_c_exits_0() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "proxy.toml",
        &format!(
            "name = \"executor\"\nmode = \"http\"\nupstream = \"http://{}\"\nseed = 1\n",
            upstream.addr
        ),
    );
    let running = Proxy::start(&config);
    let (proxy, control, client) = (running.proxy.clone(), running.control.clone(), client());
    let through = || send(&client, Method::GET, format!("{proxy}/work"), "");

    let (status, _, body) = through().await.expect("passes");
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
    let (status, _, body) = send(&client, Method::GET, format!("{control}/healthz"), "")
        .await
        .expect("healthz");
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));

    // Native API: a fault in, a 503 out, the fault removed, 200 again.
    let fault = r#"{"name":"e","kind":"http_error","status":503}"#;
    let (status, _) = call(&client, Method::POST, format!("{control}/faults"), fault).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, headers, _) = through().await.expect("answered by the fault");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("x-harness-fault"), "{headers:?}");
    let (status, faults) = call(&client, Method::GET, format!("{control}/faults"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(faults[0]["name"], "e");
    let (status, _) = call(&client, Method::POST, format!("{control}/faults"), fault).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(&client, Method::DELETE, format!("{control}/faults/e"), "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(through().await.expect("passes").0, StatusCode::OK);

    // Toxiproxy-style: a latency toxic delays the next request by at least its latency.
    let toxic = r#"{"name":"lat","type":"latency","attributes":{"latency":150}}"#;
    let toxics = format!("{control}/proxies/executor/toxics");
    let (status, added) = call(&client, Method::POST, toxics.clone(), toxic).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["stream"], "downstream");
    let started = Instant::now();
    assert_eq!(through().await.expect("delayed").0, StatusCode::OK);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(150), "took {took:?}");
    let (_, proxies) = call(&client, Method::GET, format!("{control}/proxies"), "").await;
    assert_eq!(proxies["executor"]["toxics"][0]["name"], "lat");
    assert_eq!(
        proxies["executor"]["listen"],
        proxy.trim_start_matches("http://")
    );
    let (status, _) = call(&client, Method::DELETE, format!("{toxics}/lat"), "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Bad bodies and toxics this mode cannot run: 400 with an error and a help line.
    let (status, error) = call(
        &client,
        Method::POST,
        format!("{control}/faults"),
        "{\"name\":",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a fault")),
        "{error}"
    );
    assert!(
        error["help"].as_str().is_some_and(|h| !h.is_empty()),
        "{error}"
    );
    let (status, error) = call(&client, Method::POST, toxics, r#"{"type":"noop"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["help"]
            .as_str()
            .is_some_and(|h| h.contains("`limit_data`")),
        "{error}"
    );

    let (_, attempts) = call(&client, Method::GET, format!("{control}/attempts"), "").await;
    assert_eq!(attempts["totals"]["attempts"], 4, "{attempts}");
    assert_eq!(attempts["totals"]["injected"], 2, "{attempts}");

    assert_eq!(running.interrupt(), Some(0), "Ctrl-C is a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_proxy_takes_toxiproxy_tcp_toxics() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "tcp.toml",
        &format!(
            "mode = \"tcp\"\nupstream = \"{}\"\n[[fault]]\nname = \"cut\"\nkind = \"reset_peer\"\nprobability = 0\n",
            upstream.addr
        ),
    );
    let running = Proxy::start(&config);
    let (proxy, control) = (running.proxy.clone(), running.control.clone());
    // A fresh client per request: a reset must meet a new connection, not a pooled one.
    let through = || async { send(&client(), Method::GET, format!("{proxy}/x"), "").await };
    assert_eq!(through().await.expect("passes").0, StatusCode::OK);
    let toxics = format!("{control}/proxies/harness/toxics");
    let (status, _) = call(
        &client(),
        Method::POST,
        toxics.clone(),
        r#"{"type":"reset_peer"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(through().await.is_err(), "the connection is reset");
    let (status, _) = call(
        &client(),
        Method::DELETE,
        format!("{toxics}/reset_peer_downstream"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(through().await.expect("passes again").0, StatusCode::OK);
    let (_, listed) = call(&client(), Method::GET, toxics, "").await;
    assert_eq!(
        listed[0]["name"], "cut",
        "faults from the file are toxics too"
    );
    assert_eq!(running.interrupt(), Some(0));
}

/// Sends one keep-alive GET on a raw connection and reads its answer's head.
fn open_exchange(addr: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    stream
        .write_all(format!("GET /x HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).expect("an answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_mode_beside_a_file_disables_its_http_proxy_cutting_connections() {
    use std::io::Read;
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "proxy.toml",
        &format!(
            "name = \"executor\"\nmode = \"http\"\nupstream = \"http://{}\"\n",
            upstream.addr
        ),
    );
    let running = Proxy::start_with(&config, &["--toxiproxy", "--control", "127.0.0.1:0"]);
    let (proxy, control) = (running.proxy.clone(), running.control.clone());
    let addr = proxy.trim_start_matches("http://").to_owned();
    let through = || async { send(&client(), Method::GET, format!("{proxy}/x"), "").await };
    assert_eq!(through().await.expect("passes").0, StatusCode::OK);

    let mut open = open_exchange(&addr);
    let (status, down) = call(
        &client(),
        Method::POST,
        format!("{control}/proxies/executor"),
        r#"{"enabled":false}"#,
    )
    .await;
    assert_eq!(
        (status, &down["enabled"]),
        (StatusCode::OK, &Value::Bool(false))
    );
    let mut rest = [0u8; 64];
    let cut = matches!(open.read(&mut rest), Ok(0) | Err(_));
    assert!(
        cut,
        "an established connection is cut when the proxy is disabled"
    );
    let refused = std::net::TcpStream::connect(&addr);
    assert!(refused.is_err(), "nothing listens while disabled");
    let (status, up) = call(
        &client(),
        Method::PATCH,
        format!("{control}/proxies/executor"),
        r#"{"enabled":true}"#,
    )
    .await;
    assert_eq!(
        (status, &up["listen"]),
        (StatusCode::OK, &Value::String(addr.clone()))
    );
    assert_eq!(through().await.expect("passes again").0, StatusCode::OK);

    // A TCP proxy created through the API runs beside the file's.
    let body = format!(
        r#"{{"name":"beside","listen":"127.0.0.1:0","upstream":"{}"}}"#,
        upstream.addr
    );
    let (status, created) =
        call(&client(), Method::POST, format!("{control}/proxies"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let beside = created["listen"].as_str().expect("listen").to_owned();
    let (status, _, text) = send(&client(), Method::GET, format!("http://{beside}/y"), "")
        .await
        .expect("through the TCP proxy");
    assert_eq!((status, text.as_str()), (StatusCode::OK, "hello"));
    let (_, faults) = call(
        &client(),
        Method::GET,
        format!("{control}/proxies/beside/faults"),
        "",
    )
    .await;
    assert_eq!(faults, serde_json::json!([]));
    let (_, version) = call(&client(), Method::GET, format!("{control}/version"), "").await;
    assert_eq!(version["version"], "2.12.0");
    assert_eq!(running.interrupt(), Some(0));
}

#[test]
fn a_bad_config_file_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "bad.toml",
        "mode = \"http\"\nupstream = \"http://127.0.0.1:9\"\nlisten = \"localhost:80\"\n",
    );
    let output = Command::cargo_bin("harness")
        .expect("the harness binary is built")
        .args(["proxy", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml:3:10: `listen`"), "{stderr}");
    assert!(stderr.contains("help: write it like"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "nothing listens when the file is bad"
    );
}
