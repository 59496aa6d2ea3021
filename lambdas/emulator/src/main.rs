//! `tunnel-emulator`: the AWS deployment on one port, running the real Lambda binaries
//! over DynamoDB at `--dynamodb-endpoint`. See the crate docs of `tunnel_emulator`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tunnel_aws::functions::env as fenv;
use tunnel_backend::PublicUrls;
use tunnel_emulator::deployment::{self, Concurrency, Emulator, EmulatorConfig};
use tunnel_server::startup::{
    LogFormat, checked_rate, data_dir, init_logs, listen, shutdown_signal, token_key,
};

/// The flags `tunnel-server` takes where they mean the same here (listen, data dir,
/// domain, public port, rates, logs), and the emulator's own.
#[derive(Debug, Parser)]
#[command(
    name = "tunnel-emulator",
    version,
    about = "The AWS deployment on one port: the real Lambda binaries behind emulated API \
             Gateway, Function URL and Lambda runtime, over DynamoDB at --dynamodb-endpoint"
)]
struct Args {
    /// DynamoDB endpoint (e.g. moto: http://127.0.0.1:5000).
    #[arg(long, value_name = "URL")]
    dynamodb_endpoint: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the session-token key is kept (default: $HOME/.tunnel/server).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Base domain of public URLs: tunnel NAME is reached at http://NAME.BASE:PORT.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Port shown in public URLs, when the public reaches this server through another
    /// port; defaults to the listening port.
    #[arg(long)]
    public_port: Option<u16>,
    /// Folder with the Lambda binaries (default: this binary's folder).
    #[arg(long, value_name = "DIR")]
    functions: Option<PathBuf>,
    /// Control-plane rate per client, PER_SECOND:BURST or off, given to the functions
    /// (TUNNEL_API_RATE) [default: 20:60].
    #[arg(long, value_name = "RATE", value_parser = checked_rate)]
    api_rate: Option<String>,
    /// Public-traffic rate per tunnel, PER_SECOND:BURST or off, given to the functions
    /// (TUNNEL_PUBLIC_RATE) [default: 2000:4000].
    #[arg(long, value_name = "RATE", value_parser = checked_rate)]
    public_rate: Option<String>,
    /// Registrations per source address, PER_SECOND:BURST or off, given to the
    /// functions (TUNNEL_REGISTER_RATE) [default: 0.2:10].
    #[arg(long, value_name = "RATE", value_parser = checked_rate)]
    register_rate: Option<String>,
    /// How long a tunnel no client serves is kept before it expires, seconds, given
    /// to the functions (TUNNEL_INACTIVE_TTL_SECS) [default: 7 days].
    #[arg(long, value_name = "SECS", default_value_t = tunnel_backend::model::INACTIVE_TUNNEL_TTL_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    inactive_ttl: u64,
    /// Log lines: `text` for people, `json` for log tools; `auto` is text on a terminal,
    /// JSON otherwise. Levels with RUST_LOG (default info; the functions' default warn).
    #[arg(long, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    /// WebSocket idle cap in seconds (AWS: 600).
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    ws_idle_timeout: u64,
    /// WebSocket connection lifetime cap in seconds (AWS: 7200).
    #[arg(long, value_name = "SECS", default_value_t = 7200,
          value_parser = clap::value_parser!(u64).range(1..))]
    ws_max_age: u64,
    /// Instances of each function (but the relay) at once, each a process. AWS has no
    /// per-function cap below the account's concurrency unless reserved concurrency is
    /// set; the default is kept low for one machine's sake.
    #[arg(long, value_name = "N", default_value_t = deployment::DEFAULT_FUNCTION_CONCURRENCY as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    lambda_concurrency: u32,
    /// Instances of tunnel-relay at once (AWS: its reserved concurrency,
    /// `relay_reserved_concurrency` in infra/).
    #[arg(long, value_name = "N", default_value_t = deployment::DEFAULT_RELAY_CONCURRENCY as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    relay_concurrency: u32,
    /// Invocations at once across all functions, the account's concurrency (AWS's
    /// default quota: 1,000 per Region).
    #[arg(long, value_name = "N", default_value_t = tunnel_emulator::limits::ACCOUNT_CONCURRENCY as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    account_concurrency: u32,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    init_logs(args.log_format);
    let data_dir = data_dir(args.data_dir)?;
    let key = token_key(&data_dir)?;
    let listener = listen(args.listen).await?;
    let local = listener.local_addr()?;
    let public = PublicUrls {
        scheme: "http".into(),
        base_domain: args.domain.trim_matches('.').to_ascii_lowercase(),
        port: Some(args.public_port.unwrap_or(local.port())),
    };
    let functions_dir = match args.functions {
        Some(d) => d,
        None => deployment::default_functions_dir()
            .context("cannot tell this binary's folder; pass --functions DIR")?,
    };
    let rates = [
        (fenv::API_RATE, args.api_rate),
        (fenv::PUBLIC_RATE, args.public_rate),
        (fenv::REGISTER_RATE, args.register_rate),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k, v?)))
    .chain([(fenv::INACTIVE_TTL_SECS, args.inactive_ttl.to_string())])
    .collect();
    let emulator = Emulator::start(EmulatorConfig {
        dynamodb_endpoint: args.dynamodb_endpoint,
        functions_dir,
        public,
        base_url: format!("http://{local}"),
        token_secret: String::from_utf8_lossy(&key).into_owned(),
        idle_timeout: Duration::from_secs(args.ws_idle_timeout),
        max_age: Duration::from_secs(args.ws_max_age),
        rates,
        concurrency: Concurrency {
            function: args.lambda_concurrency as usize,
            relay: args.relay_concurrency as usize,
            account: args.account_concurrency as usize,
        },
    })
    .await?;
    tracing::info!(data_dir = %data_dir.display(), base_domain = %args.domain, "AWS emulator ready");
    // The base URL alone on stdout: scripts and tests wait for this line.
    println!("http://{local}");
    std::io::stdout().flush()?;
    tunnel_server::serve(listener, Arc::new(emulator), shutdown_signal()).await;
    Ok(())
}
