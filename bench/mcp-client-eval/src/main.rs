//! Measures rmcp's streamable-HTTP client as a load client, against a raw HTTP client
//! sending the same JSON-RPC messages on one session.
//!
//! usage: mcp_client_eval overhead URL N   latency and client CPU per `tools/call`, A B A B
//!        mcp_client_eval faults URL N     N calls through a fault proxy: what reaches the caller
//! `TOOL` names the tool (default `run_workflow`; `fail` answers `isError` at once, which
//! isolates the client's own cost); its arguments are `{"workflow": "w<i>"}` for
//! `run_workflow` and `{}` otherwise.
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

fn tool() -> String {
    std::env::var("TOOL").unwrap_or_else(|_| "run_workflow".to_owned())
}

fn arguments(i: usize) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    if tool() == "run_workflow" {
        map.insert("workflow".to_owned(), format!("w{i}").into());
    }
    map
}

/// This process's user + system CPU seconds (Linux, 100 ticks a second).
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e6
}

async fn rmcp_calls(url: &str, n: usize) -> anyhow::Result<(Vec<Duration>, usize, Vec<String>)> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
    );
    let client = ClientConfig::default().serve(transport).await?;
    let mut times = Vec::with_capacity(n);
    let mut errors = Vec::new();
    let mut ok = 0;
    for i in 0..n {
        let mut params = CallToolRequestParams::new(tool());
        params.arguments = Some(arguments(i));
        let t = Instant::now();
        let r = client.call_tool(params).await;
        times.push(t.elapsed());
        match r {
            Ok(_) => ok += 1,
            Err(e) => errors.push(e.to_string()),
        }
    }
    let _ = client.cancel().await;
    Ok((times, ok, errors))
}

async fn raw_calls(url: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let init = serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}});
    let r = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await?;
    let sid = r.headers()["mcp-session-id"].to_str()?.to_owned();
    r.bytes().await?;
    http.post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .send()
        .await?
        .bytes()
        .await?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let body = serde_json::json!({"jsonrpc":"2.0","id":i+1,"method":"tools/call",
            "params":{"name":tool(),"arguments":arguments(i)}});
        let t = Instant::now();
        let r = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body)
            .send()
            .await?;
        r.bytes().await?;
        times.push(t.elapsed());
    }
    Ok(times)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = &args[2];
    let n: usize = args[3].parse()?;
    match args[1].as_str() {
        "overhead" => {
            for round in 0..2 {
                let c0 = cpu();
                let (r, _, _) = rmcp_calls(url, n).await?;
                let c1 = cpu();
                let raw = raw_calls(url, n).await?;
                let c2 = cpu();
                println!(
                    "round {round}: client CPU per call: rmcp {:.0} µs, raw reqwest {:.0} µs",
                    (c1 - c0) * 1e6 / n as f64,
                    (c2 - c1) * 1e6 / n as f64
                );
                println!(
                    "round {round}: rmcp p50 {:.0} µs p99 {:.0} µs | raw reqwest p50 {:.0} µs p99 {:.0} µs",
                    pct(r.clone(), 0.5),
                    pct(r, 0.99),
                    pct(raw.clone(), 0.5),
                    pct(raw, 0.99)
                );
            }
        }
        "faults" => {
            let (_, ok, errors) = rmcp_calls(url, n).await?;
            println!(
                "rmcp through faults: {ok} ok, {} errors of {n}",
                errors.len()
            );
            let mut kinds = std::collections::BTreeMap::<String, usize>::new();
            for e in &errors {
                *kinds.entry(e.chars().take(400).collect()).or_default() += 1;
            }
            for (k, c) in kinds {
                println!("  {c:5} × {k}");
            }
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
    Ok(())
}
