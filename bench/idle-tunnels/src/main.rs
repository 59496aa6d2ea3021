//! `idle-tunnels`: opens N idle tunnels against a server on loopback, holds them, and
//! prints one JSON line with the server's resident memory before and after, so that
//! bench/run.sh can report the server's memory per idle tunnel.
//!
//! - `idle-tunnels tunnel`: N tunnels created over the REST API, then N WebSocket
//!   sessions each sending CONNECT and waiting for CONNECTED, as `tunnel start` does
//!   (without an origin: an idle tunnel forwards nothing).
//! - `idle-tunnels bore`: N bore 0.6 control connections, each sending `Hello` and
//!   waiting for the port the server opened for it, as `bore local` does.
//!
//! RSS is read from `/proc/PID/status` of the server; the delta is divided by N.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use client_core::api::{ApiErrorCode, CreateTunnel};
use client_core::protocol::limits::PROTOCOL_VERSION;
use client_core::protocol::{ClientFrame, Message, ServerFrame, decode_text, encode};
use futures_util::{SinkExt as _, StreamExt as _, stream};
use native_cli::api::Api;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Connections opened at once.
const CONCURRENCY: usize = 32;

/// Pause before reading RSS, so that the server's tasks settle.
const SETTLE: Duration = Duration::from_secs(2);

/// Keep-alive for held WebSocket sessions (the CLI's interval).
const PING_EVERY: Duration = Duration::from_secs(20);

#[derive(Debug, Parser)]
#[command(about = "Opens N idle tunnels and reports the server's RSS per tunnel")]
struct Args {
    /// How many tunnels.
    #[arg(long, short = 'n', default_value_t = 1000)]
    count: usize,
    /// The server's process id, whose RSS is read.
    #[arg(long)]
    server_pid: u32,
    /// Seconds to hold the tunnels open after measuring (0: close at once).
    #[arg(long, default_value_t = 0)]
    hold: u64,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Tunnels of tunnel-server (REST API + WebSocket sessions).
    Tunnel {
        /// The server's API URL.
        #[arg(long)]
        api_url: String,
        /// An API key (from `tunnel register`).
        #[arg(long, env = "TUNNEL_API_KEY")]
        api_key: String,
        /// Prefix of the tunnels' domains; a number follows.
        #[arg(long, default_value = "idle")]
        prefix: String,
    },
    /// Tunnels of `bore server` (its control port).
    Bore {
        /// The bore server's control address.
        #[arg(long, default_value = "127.0.0.1:7835")]
        addr: String,
    },
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let n = args.count;
    let pid = args.server_pid;
    let rss_start = rss_kib(pid)?;
    let started = Instant::now();
    let (rss_created, create_secs, rate_limited, held) = match &args.mode {
        Mode::Tunnel {
            api_url,
            api_key,
            prefix,
        } => {
            let api = Api::new(api_url, Some(api_key.clone()))?;
            let (ids, rate_limited) = create_tunnels(&api, prefix, n).await?;
            let create_secs = started.elapsed().as_secs_f64();
            tokio::time::sleep(SETTLE).await;
            let rss_created = rss_kib(pid)?;
            let token = retry(&api, |c| c.session_token()).await?.0;
            let url = native_cli::start::session_url(&token);
            let held = connect_tunnels(&url, ids).await?;
            (rss_created, create_secs, rate_limited, held)
        }
        Mode::Bore { addr } => {
            let held = connect_bore(addr, n).await?;
            (rss_start, 0.0, 0, held)
        }
    };
    let connect_secs = started.elapsed().as_secs_f64() - create_secs;
    tokio::time::sleep(SETTLE).await;
    let rss_connected = rss_kib(pid)?;
    let per = |from: u64| (rss_connected.saturating_sub(from) * 1024) as f64 / n as f64;
    println!(
        "{}",
        serde_json::json!({
            "mode": match args.mode { Mode::Tunnel { .. } => "tunnel", Mode::Bore { .. } => "bore" },
            "count": n,
            "rss_start_kib": rss_start,
            "rss_created_kib": rss_created,
            "rss_connected_kib": rss_connected,
            "per_tunnel_bytes": per(rss_start),
            "per_connection_bytes": per(rss_created),
            "create_secs": create_secs,
            "connect_secs": connect_secs,
            "rate_limited_retries": rate_limited,
        })
    );
    if args.hold > 0 {
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
    }
    for task in held {
        task.abort();
    }
    Ok(())
}

/// Makes an API call, waiting out rate limits. Returns the value and how many times it
/// was refused for the rate.
async fn retry<T: client_core::api::FromBody>(
    api: &Api,
    build: impl Fn(&client_core::api::ApiClient) -> client_core::api::Call<T>,
) -> Result<(T, u64)> {
    let mut limited = 0;
    loop {
        match api.call(&build).await {
            Ok(v) => return Ok((v, limited)),
            Err(e) if e.code() == Some(ApiErrorCode::RateLimited) => {
                limited += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn create_tunnels(api: &Api, prefix: &str, n: usize) -> Result<(Vec<String>, u64)> {
    let results: Vec<Result<(String, u64)>> = stream::iter(0..n)
        .map(|i| async move {
            let body = CreateTunnel {
                domain: Some(format!("{prefix}{i:06}")),
                redact_secrets: None,
                policy: None,
            };
            let (tunnel, limited) = retry(api, |c| c.create_tunnel_with(&body)).await?;
            Ok((tunnel.tunnel_id, limited))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut ids = Vec::with_capacity(n);
    let mut limited = 0;
    for r in results {
        let (id, l) = r?;
        ids.push(id);
        limited += l;
    }
    Ok((ids, limited))
}

/// Opens one session per tunnel and returns the tasks holding them.
async fn connect_tunnels(url: &str, ids: Vec<String>) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let results: Vec<Result<tokio::task::JoinHandle<()>>> = stream::iter(ids)
        .map(|tunnel_id| async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .context("WebSocket connect")?;
            let Message::Text(connect) = encode(&ClientFrame::Connect {
                version: PROTOCOL_VERSION,
                tunnel_id: tunnel_id.clone(),
                binary: true,
                resume: false,
                upgrade: false,
                body_urls: false,
            })?
            else {
                bail!("CONNECT did not encode as text");
            };
            ws.send(WsMessage::text(connect)).await?;
            loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Text(t))) => match decode_text::<ServerFrame>(t.as_str())? {
                        ServerFrame::Connected { .. } => break,
                        ServerFrame::Error(e) => bail!("tunnel {tunnel_id}: {}", e.message),
                        _ => {}
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => bail!("tunnel {tunnel_id}: closed before CONNECTED"),
                }
            }
            Ok(tokio::spawn(async move {
                let mut ping = tokio::time::interval(PING_EVERY);
                ping.tick().await;
                let mut nonce = 0;
                loop {
                    tokio::select! {
                        m = ws.next() => if !matches!(m, Some(Ok(_))) { return },
                        _ = ping.tick() => {
                            nonce += 1;
                            if let Ok(Message::Text(t)) = encode(&ClientFrame::Ping { nonce }) {
                                if ws.send(WsMessage::text(t)).await.is_err() { return }
                            }
                        }
                    }
                }
            }))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Opens `n` bore control connections (protocol of bore 0.6: JSON messages ended by a
/// NUL byte; no secret, so no challenge).
async fn connect_bore(addr: &str, n: usize) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let results: Vec<Result<tokio::task::JoinHandle<()>>> = stream::iter(0..n)
        .map(|_| async move {
            let mut conn = BufReader::new(TcpStream::connect(addr).await.context("bore connect")?);
            conn.write_all(b"{\"Hello\":0}\0").await?;
            let mut reply = Vec::new();
            conn.read_until(0, &mut reply).await?;
            let text = String::from_utf8_lossy(&reply);
            if !text.starts_with("{\"Hello\":") {
                bail!("bore server answered {text:?}");
            }
            Ok(tokio::spawn(async move {
                // Heartbeats arrive every 500 ms; read and drop them.
                let mut buf = Vec::new();
                while conn.read_until(0, &mut buf).await.is_ok_and(|read| read > 0) {
                    buf.clear();
                }
            }))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}
