//! Each TCP fault's effect on real traffic through the TCP proxy, measured on 127.0.0.1:
//! Toxiproxy's `timeout` (closing after its timeout, or never), `reset_peer` after its
//! timeout, `slicer`, per-chunk `tcp_latency`, `bandwidth`, `slow_close`, toxicity, the
//! `stream`, and several faults stacked on one connection; then the same TCP faults on
//! an HTTP proxy's client connections, and per-request faults composing there.
//! Tolerances are generous (the lower bounds are the fault's own, the upper bounds leave
//! room for a loaded machine).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::convert::Infallible;

use bytes::Bytes;
use harness::fault::{DEFAULT_LISTEN, FaultFile, FaultProxy};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream reading one command per connection and acting on it:
/// `send N` (N bytes at once, then close), `chunks K GAP_MS` (K chunks of 100 bytes, GAP
/// apart, then close), `echo` (send back everything, close when the client does).
async fn upstream() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // How many bytes each connection received, when it ends.
    let (received, counts) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let Ok(n) = stream.read(&mut buf).await else {
                    return;
                };
                let mut total = n as u64;
                let command = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
                let words: Vec<&str> = command.split_whitespace().collect();
                match words.as_slice() {
                    ["send", n] => {
                        let n: usize = n.parse().unwrap_or(0);
                        let _ = stream.write_all(&vec![b'x'; n]).await;
                    }
                    ["chunks", k, gap] => {
                        let (k, gap): (u64, u64) =
                            (k.parse().unwrap_or(0), gap.parse().unwrap_or(0));
                        for _ in 0..k {
                            let _ = stream.write_all(&[b'c'; 100]).await;
                            tokio::time::sleep(Duration::from_millis(gap)).await;
                        }
                    }
                    _ => {
                        let _ = stream.write_all(&buf[..n]).await;
                        while let Ok(n) = stream.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            total += n as u64;
                            let _ = stream.write_all(&buf[..n]).await;
                        }
                    }
                }
                let _ = received.send(total);
            });
        }
    });
    (addr, counts)
}

fn proxy(upstream: SocketAddr, faults: &str) -> FaultProxy {
    let faults = FaultFile::from_toml(faults).expect("faults").fault;
    FaultProxy::start_tcp(DEFAULT_LISTEN, upstream.to_string(), faults, 7).expect("proxy")
}

/// How a client's exchange ended.
#[derive(Debug)]
struct Seen {
    /// Bytes read.
    bytes: usize,
    /// Reads that returned data.
    reads: usize,
    /// When the first byte came, from the connect.
    first: Option<Duration>,
    /// When the stream ended, from the connect.
    ended: Duration,
    /// How it ended: `None` for a close (EOF), else the error's kind.
    error: Option<ErrorKind>,
}

/// Connects through `proxy`, sends `command`, reads until the end (at most `limit`).
async fn exchange(proxy: SocketAddr, command: &str, limit: Duration) -> Option<Seen> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(proxy).await.expect("connect");
    stream.write_all(command.as_bytes()).await.expect("send");
    let mut seen = Seen {
        bytes: 0,
        reads: 0,
        first: None,
        ended: Duration::ZERO,
        error: None,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let reading = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    seen.first.get_or_insert_with(|| started.elapsed());
                    seen.bytes += n;
                    seen.reads += 1;
                }
                Err(e) => {
                    seen.error = Some(e.kind());
                    break;
                }
            }
        }
    };
    tokio::time::timeout(limit, reading).await.ok()?;
    seen.ended = started.elapsed();
    Some(seen)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn timeout_drops_the_data_and_closes_after_its_timeout() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"timeout\"\ntimeout = \"500ms\"",
    );
    // The upstream echoes and stays open: the close is the fault's.
    let seen = exchange(proxy.addr(), "echo", Duration::from_secs(5))
        .await
        .expect("the connection closes");
    eprintln!(
        "timeout 500ms: closed after {:?}, {} bytes",
        seen.ended, seen.bytes
    );
    assert_eq!(seen.bytes, 0, "no data gets through");
    assert!(seen.ended >= ms(480) && seen.ended < ms(2000), "{seen:?}");
}

#[tokio::test]
async fn timeout_zero_never_closes_and_drops_everything() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(upstream, "[[fault]]\nkind = \"timeout\"\ntimeout = \"0s\"");
    let seen = exchange(proxy.addr(), "echo", ms(1500)).await;
    assert!(seen.is_none(), "still open after 1.5 s: {seen:?}");
}

#[tokio::test]
async fn reset_peer_resets_after_its_timeout_counted_from_the_first_data() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"reset_peer\"\ntimeout = \"300ms\"",
    );
    let seen = exchange(proxy.addr(), "echo", Duration::from_secs(5))
        .await
        .expect("the connection ends");
    eprintln!("reset_peer 300ms: {:?} after {:?}", seen.error, seen.ended);
    assert_eq!(seen.error, Some(ErrorKind::ConnectionReset), "{seen:?}");
    assert_eq!(seen.bytes, 0, "the answer is dropped");
    assert!(seen.ended >= ms(290) && seen.ended < ms(2000), "{seen:?}");

    let at_once = self::proxy(
        upstream,
        "[[fault]]\nkind = \"reset_peer\"\ntimeout = \"0s\"",
    );
    let seen = exchange(at_once.addr(), "echo", Duration::from_secs(5))
        .await
        .expect("the connection ends");
    assert_eq!(seen.error, Some(ErrorKind::ConnectionReset), "{seen:?}");
    assert!(seen.ended < ms(250), "{seen:?}");
}

#[tokio::test]
async fn slicer_delivers_the_same_bytes_in_many_small_reads() {
    let (upstream, _) = upstream().await;
    let plain = proxy(upstream, "");
    let whole = exchange(plain.addr(), "send 20000", Duration::from_secs(5))
        .await
        .expect("ends");
    let sliced = proxy(
        upstream,
        "[[fault]]\nkind = \"slicer\"\naverage_size = 100\nsize_variation = 50\ndelay = \"1ms\"",
    );
    let seen = exchange(sliced.addr(), "send 20000", Duration::from_secs(10))
        .await
        .expect("ends");
    eprintln!(
        "slicer 100±50 B, 1 ms: {} reads ({} without) for {} bytes in {:?}",
        seen.reads, whole.reads, seen.bytes, seen.ended
    );
    assert_eq!(seen.bytes, 20_000);
    assert!(
        seen.reads >= 50 && seen.reads > whole.reads * 10,
        "{seen:?}"
    );
    // About 200 pieces 1 ms apart.
    assert!(seen.ended >= ms(150), "{seen:?}");
}

#[tokio::test]
async fn latency_applies_per_chunk_and_pipelines() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"tcp_latency\"\nlatency = \"300ms\"",
    );
    // Five chunks 100 ms apart: each arrives 300 ms late, not 300 ms after the previous
    // (the last at 700 ms, not 1 500 ms); the close follows the last chunk.
    let seen = exchange(proxy.addr(), "chunks 5 100", Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!(
        "tcp_latency 300ms, 5 chunks 100 ms apart: first byte {:?}, end {:?}",
        seen.first, seen.ended
    );
    assert_eq!(seen.bytes, 500);
    assert!(seen.first.is_some_and(|f| f >= ms(290)), "{seen:?}");
    assert!(seen.ended >= ms(680) && seen.ended < ms(1200), "{seen:?}");
}

#[tokio::test]
async fn bandwidth_caps_the_rate() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"bandwidth\"\nrate = \"200kB\"",
    );
    let seen = exchange(proxy.addr(), "send 100000", Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!("bandwidth 200 kB/s, 100 kB: {:?}", seen.ended);
    assert_eq!(seen.bytes, 100_000);
    assert!(seen.ended >= ms(450) && seen.ended < ms(1500), "{seen:?}");
}

#[tokio::test]
async fn latency_and_bandwidth_stacked_both_apply() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"tcp_latency\"\nlatency = \"300ms\"\n\
         [[fault]]\nkind = \"bandwidth\"\nrate = \"100kB\"",
    );
    let seen = exchange(proxy.addr(), "send 50000", Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!(
        "tcp_latency 300ms + bandwidth 100 kB/s, 50 kB: {:?}",
        seen.ended
    );
    assert_eq!(seen.bytes, 50_000);
    // 300 ms of latency, then 500 ms at the rate.
    assert!(seen.ended >= ms(780) && seen.ended < ms(2000), "{seen:?}");
}

#[tokio::test]
async fn slow_close_delays_the_close() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"slow_close\"\ndelay = \"400ms\"",
    );
    let seen = exchange(proxy.addr(), "send 10", Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!(
        "slow_close 400ms: data at {:?}, close at {:?}",
        seen.first, seen.ended
    );
    assert!(seen.first.is_some_and(|f| f < ms(200)), "{seen:?}");
    assert!(seen.ended >= ms(390) && seen.ended < ms(2000), "{seen:?}");
}

#[tokio::test]
async fn limit_data_after_a_slicer_still_counts_every_byte() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"slicer\"\naverage_size = 10\n\
         [[fault]]\nkind = \"limit_data\"\nbytes = 555",
    );
    let seen = exchange(proxy.addr(), "send 5000", Duration::from_secs(5))
        .await
        .expect("ends");
    assert_eq!(seen.bytes, 555, "{seen:?}");
}

#[tokio::test]
async fn upstream_stream_faults_act_on_the_request() {
    let (upstream, mut counts) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"limit_data\"\nbytes = 4\ndirection = \"upstream\"",
    );
    // The limit closes the whole connection once 4 bytes went up, as in Toxiproxy.
    exchange(proxy.addr(), "echo and more", Duration::from_secs(5))
        .await
        .expect("the connection closes");
    let received = tokio::time::timeout(Duration::from_secs(2), counts.recv())
        .await
        .expect("the upstream connection ended");
    assert_eq!(received, Some(4));
}

#[tokio::test]
async fn toxicity_hits_about_its_share_of_connections() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(
        upstream,
        "[[fault]]\nkind = \"reset_peer\"\nprobability = 0.5",
    );
    let mut reset = 0;
    for _ in 0..40 {
        let seen = exchange(proxy.addr(), "send 10", Duration::from_secs(5))
            .await
            .expect("ends");
        reset += usize::from(seen.bytes == 0);
    }
    eprintln!("toxicity 0.5: {reset} of 40 connections reset");
    assert!((8..=32).contains(&reset), "{reset}");
}

/// An HTTP upstream: `GET /bytes/N` answers N bytes, anything else `hello`.
async fn http_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let body = match req.uri().path().strip_prefix("/bytes/") {
                        Some(n) => vec![b'b'; n.parse().unwrap_or(0)],
                        None => b"hello".to_vec(),
                    };
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn http_proxy(upstream: SocketAddr, faults: &str) -> FaultProxy {
    let faults = FaultFile::from_toml(faults).expect("faults").fault;
    FaultProxy::start_http(DEFAULT_LISTEN, format!("http://{upstream}"), faults, 7).expect("proxy")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
}

#[tokio::test]
async fn on_an_http_proxy_a_latency_listed_first_delays_a_later_http_error() {
    let upstream = http_upstream().await;
    let proxy = http_proxy(
        upstream,
        "[[fault]]\nkind = \"latency\"\nlatency = \"200ms\"\n\
         [[fault]]\nkind = \"latency\"\nlatency = \"100ms\"\n\
         [[fault]]\nkind = \"http_error\"\nstatus = 503\n\
         [[fault]]\nkind = \"abort\"",
    );
    let started = Instant::now();
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    stream.write_all(get("/x").as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    eprintln!("latency 200ms + latency 100ms + http_error 503: {took:?}");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(took >= ms(290) && took < ms(2000), "{took:?}");
}

#[tokio::test]
async fn on_an_http_proxy_tcp_faults_shape_the_client_connection() {
    let upstream = http_upstream().await;
    // bandwidth: 50 kB at 100 kB/s.
    let proxy = http_proxy(
        upstream,
        "[[fault]]\nkind = \"bandwidth\"\nrate = \"100kB\"",
    );
    let seen = exchange(proxy.addr(), &get("/bytes/50000"), Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!("http mode, bandwidth 100 kB/s, 50 kB: {:?}", seen.ended);
    assert!(seen.bytes > 50_000, "{seen:?}");
    assert!(seen.ended >= ms(450) && seen.ended < ms(2000), "{seen:?}");

    // slicer: many small reads of the same answer.
    let proxy = http_proxy(
        upstream,
        "[[fault]]\nkind = \"slicer\"\naverage_size = 100\ndelay = \"1ms\"",
    );
    let seen = exchange(proxy.addr(), &get("/bytes/10000"), Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!(
        "http mode, slicer: {} reads for {} bytes",
        seen.reads, seen.bytes
    );
    assert!(seen.bytes > 10_000 && seen.reads >= 30, "{seen:?}");

    // limit_data: the answer is cut at 100 bytes (head included).
    let proxy = http_proxy(upstream, "[[fault]]\nkind = \"limit_data\"\nbytes = 100");
    let seen = exchange(proxy.addr(), &get("/bytes/10000"), Duration::from_secs(5))
        .await
        .expect("ends");
    assert_eq!(seen.bytes, 100, "{seen:?}");

    // timeout: nothing comes back, the connection closes after 300 ms (kept alive: a
    // server's own close would pass through at once, as in Toxiproxy).
    let proxy = http_proxy(
        upstream,
        "[[fault]]\nkind = \"timeout\"\ntimeout = \"300ms\"",
    );
    let keep_alive = "GET /x HTTP/1.1\r\nhost: x\r\n\r\n";
    let seen = exchange(proxy.addr(), keep_alive, Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!("http mode, timeout 300ms: closed after {:?}", seen.ended);
    assert_eq!(seen.bytes, 0, "{seen:?}");
    assert!(seen.ended >= ms(290) && seen.ended < ms(2000), "{seen:?}");

    // reset_peer: the answer's first bytes arm it, the reset follows 200 ms later.
    let proxy = http_proxy(
        upstream,
        "[[fault]]\nkind = \"reset_peer\"\ntimeout = \"200ms\"",
    );
    let seen = exchange(proxy.addr(), &get("/x"), Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!(
        "http mode, reset_peer 200ms: {:?} after {:?}",
        seen.error, seen.ended
    );
    assert_eq!(seen.error, Some(ErrorKind::ConnectionReset), "{seen:?}");
    assert!(seen.ended >= ms(190) && seen.ended < ms(2000), "{seen:?}");

    // tcp_latency and slow_close stacked with a per-request latency: all three apply.
    let proxy = http_proxy(
        upstream,
        "[[fault]]\nkind = \"latency\"\nlatency = \"100ms\"\n\
         [[fault]]\nkind = \"tcp_latency\"\nlatency = \"150ms\"\n\
         [[fault]]\nkind = \"slow_close\"\ndelay = \"200ms\"",
    );
    let seen = exchange(proxy.addr(), &get("/x"), Duration::from_secs(5))
        .await
        .expect("ends");
    eprintln!(
        "http mode, latency 100ms + tcp_latency 150ms + slow_close 200ms: first byte {:?}, close {:?}",
        seen.first, seen.ended
    );
    assert!(seen.first.is_some_and(|f| f >= ms(240)), "{seen:?}");
    assert!(seen.ended >= ms(440) && seen.ended < ms(2500), "{seen:?}");
}

/// One echo round trip on an open connection: how long it took.
async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Duration {
    let started = Instant::now();
    stream.write_all(message).await.expect("send");
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).await.expect("echo");
    assert_eq!(back, message);
    started.elapsed()
}

#[tokio::test]
async fn faults_added_and_removed_reach_connections_already_open() {
    let (upstream, _) = upstream().await;
    let proxy = proxy(upstream, "");
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    let before = round_trip(&mut stream, b"echo").await;
    let latency = FaultFile::from_toml("[[fault]]\nkind = \"tcp_latency\"\nlatency = \"300ms\"")
        .expect("faults")
        .fault;
    proxy.set_faults(latency).expect("set");
    tokio::time::sleep(ms(20)).await;
    let slowed = round_trip(&mut stream, b"ping").await;
    proxy.set_faults(Vec::new()).expect("clear");
    tokio::time::sleep(ms(20)).await;
    let after = round_trip(&mut stream, b"pong").await;
    eprintln!("open connection: {before:?}, with tcp_latency 300ms {slowed:?}, removed {after:?}");
    assert!(slowed >= ms(290) && slowed < ms(2000), "{slowed:?}");
    assert!(after < ms(200), "{after:?}");

    // A timeout added to the open connection closes it after its timeout.
    let timeout = FaultFile::from_toml("[[fault]]\nkind = \"timeout\"\ntimeout = \"300ms\"")
        .expect("faults")
        .fault;
    let started = Instant::now();
    proxy.set_faults(timeout).expect("set");
    stream.write_all(b"lost").await.expect("send");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("closed within 5 s");
    let closed = started.elapsed();
    eprintln!("timeout 300ms added to an open connection: closed after {closed:?}");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(closed >= ms(290) && closed < ms(2000), "{closed:?}");
}
