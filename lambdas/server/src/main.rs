//! `tunnel-server`: runs the local stack. See the crate docs of `tunnel_server`.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::time::Duration;
use tunnel_backend::auth::{MIN_TOKEN_SECRET_BYTES, TokenSigner};
use tunnel_backend::store::EmbeddedStore;
use tunnel_backend::{Backend, Config, PublicUrls};
use tunnel_server::hub::Hub;
use tunnel_server::ingress::DEFAULT_MAX_BODY_BYTES;

use tunnel_server::{State, emulate, serve};

/// File in the data dir holding the session-token signing key.
const TOKEN_KEY_FILE: &str = "token.key";

#[derive(Debug, Parser)]
#[command(
    name = "tunnel-server",
    version,
    about = "The tunnel service on one port: REST API, WebSocket endpoint and public ingress"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where registrations and tunnels are kept (default: $HOME/.tunnel/server).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Base domain of public URLs: tunnel NAME is reached at http://NAME.BASE:PORT.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Port shown in public URLs, when the public reaches this server through another
    /// port (a reverse proxy); defaults to the listening port.
    #[arg(long)]
    public_port: Option<u16>,
    /// Largest public request body, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body: u64,
    /// Bytes of each request and response body the request inspector keeps (0: none).
    #[arg(long, value_name = "BYTES", default_value_t = tunnel_backend::config::DEFAULT_CAPTURE_BYTES)]
    capture_bytes: usize,
    /// Control-plane rate per client, PER_SECOND:BURST or off; 429 past it
    /// [default: 20:60].
    #[arg(long, value_name = "RATE", value_parser = checked_rate)]
    api_rate: Option<String>,
    /// Public-traffic rate per tunnel, PER_SECOND:BURST or off; 429 past it
    /// [default: 2000:4000].
    #[arg(long, value_name = "RATE", value_parser = checked_rate)]
    public_rate: Option<String>,
    /// Registrations per source address, PER_SECOND:BURST or off [default: 0.2:10].
    #[arg(long, value_name = "RATE", value_parser = checked_rate)]
    register_rate: Option<String>,
    /// Requests kept in each tunnel's log (the oldest go first).
    #[arg(long, value_name = "N", default_value_t = tunnel_backend::config::DEFAULT_LOG_KEEP as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    log_keep: u32,
    /// How long a tunnel no client serves is kept (with its domain, policy, inbox and
    /// request log) before it expires, seconds [default: 7 days].
    #[arg(long, value_name = "SECS", default_value_t = tunnel_backend::model::INACTIVE_TUNNEL_TTL_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    inactive_ttl: u64,
    /// Log lines: `text` for people, `json` for log tools; `auto` is text on a terminal,
    /// JSON otherwise. Levels with RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    /// PEM certificate chain: serve HTTPS (and wss) instead of HTTP. Use a certificate
    /// for both the base domain and `*.<base domain>`.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        conflicts_with = "emulate_aws"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Run the AWS deployment instead: the real Lambda binaries behind emulated API
    /// Gateway, Function URL and Lambda runtime, over DynamoDB at --dynamodb-endpoint.
    #[arg(long, requires = "dynamodb_endpoint")]
    emulate_aws: bool,
    /// DynamoDB endpoint for --emulate-aws (e.g. moto: http://127.0.0.1:5000).
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// Folder with the Lambda binaries (default: this binary's folder).
    #[arg(long)]
    functions: Option<PathBuf>,
    /// A public WebSocket carried through a tunnel is closed after this many seconds
    /// with no byte either way.
    #[arg(long, value_name = "SECS", default_value_t = client_core::protocol::limits::UPGRADE_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    upgrade_idle_timeout: u64,
    /// WebSocket idle cap in seconds, for --emulate-aws (AWS: 600).
    #[arg(long, default_value_t = 600)]
    ws_idle_timeout: u64,
    /// WebSocket connection lifetime cap in seconds, for --emulate-aws (AWS: 7200).
    #[arg(long, default_value_t = 7200)]
    ws_max_age: u64,
    /// For --emulate-aws: instances of each function (but the relay) at once, each a
    /// process. AWS has no per-function cap below the account's concurrency unless
    /// reserved concurrency is set; the default is kept low for one machine's sake.
    #[arg(long, value_name = "N", default_value_t = emulate::DEFAULT_FUNCTION_CONCURRENCY as u32,
          value_parser = clap::value_parser!(u32).range(1..), requires = "emulate_aws")]
    lambda_concurrency: u32,
    /// For --emulate-aws: instances of tunnel-relay at once (AWS: its reserved
    /// concurrency, `relay_reserved_concurrency` in infra/).
    #[arg(long, value_name = "N", default_value_t = emulate::DEFAULT_RELAY_CONCURRENCY as u32,
          value_parser = clap::value_parser!(u32).range(1..), requires = "emulate_aws")]
    relay_concurrency: u32,
    /// For --emulate-aws: invocations at once across all functions, the account's
    /// concurrency (AWS's default quota: 1,000 per Region).
    #[arg(long, value_name = "N", default_value_t = tunnel_emulator::limits::ACCOUNT_CONCURRENCY as u32,
          value_parser = clap::value_parser!(u32).range(1..), requires = "emulate_aws")]
    account_concurrency: u32,
    /// Also serve /metrics and /healthz (only those) on this address, e.g. for a
    /// Prometheus scraper on another interface than the service's.
    #[arg(long, value_name = "ADDR", conflicts_with = "emulate_aws")]
    metrics_listen: Option<SocketAddr>,
    /// Serve the web console built into DIR (scripts/console-build.sh DIR) at `/`.
    #[arg(long, value_name = "DIR")]
    console_dir: Option<PathBuf>,
    /// API base URL the console is told to use (its `/config.json`); by default the
    /// console calls the origin it was loaded from.
    #[arg(long, value_name = "URL", default_value = "", requires = "console_dir")]
    console_api_url: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A `--*-rate` value, checked and kept as written (the AWS emulator passes it on to
/// the functions' environment as is).
fn checked_rate(text: &str) -> Result<String, tunnel_backend::limits::BadRate> {
    tunnel_backend::limits::Rate::parse(text).map(|_| text.to_owned())
}

/// The rate a checked `--*-rate` value names (`None`: off).
fn rate(text: &str) -> Option<tunnel_backend::limits::Rate> {
    tunnel_backend::limits::Rate::parse(text).ok().flatten()
}

/// Reads the signing key, making one on first run. Kept on disk so tokens issued
/// before a restart stay valid.
fn token_key(dir: &Path) -> Result<Vec<u8>> {
    let path = dir.join(TOKEN_KEY_FILE);
    match std::fs::read(&path) {
        Ok(key) if key.len() >= MIN_TOKEN_SECRET_BYTES => return Ok(key),
        Ok(_) => bail!(
            "{} is too short; delete it to make a new one",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let key = tunnel_backend::auth::random_id(MIN_TOKEN_SECRET_BYTES).into_bytes();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(&key)?;
    file.sync_all()?;
    Ok(key)
}

fn default_data_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .context("HOME is not set; pass --data-dir DIR to say where to keep the server's data")?;
    Ok(PathBuf::from(home).join(".tunnel").join("server"))
}

/// Allocations from this size up get pages of their own, returned when freed.
pub const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;

/// Pins glibc's mmap threshold. By default glibc raises it to the largest block ever
/// freed (up to 32 MiB), so after some traffic the bodies and 1 MiB captures that pass
/// through are carved from the heap, and the heap stays at its high-water mark: the
/// soak test left RSS at 455 MiB against 88 MiB after its warm-up. Pinned, the same
/// run ends at 44 MiB against 32 (docs/reliability.md). mimalloc, also tried, held
/// 141 MiB after the warm-up and 162 MiB after the run.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn pin_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter, and runs before any thread
    // starts (first thing in main, before the tokio runtime).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}

fn main() -> Result<()> {
    pin_mmap_threshold();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run())
}

async fn run() -> Result<()> {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let json = match args.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        // The current span carries the request id of every line about a request.
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    let key = token_key(&data_dir)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; pick another with --listen",
                args.listen
            )
        })?;
    let local = listener.local_addr()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tunnel_server::tls::acceptor(cert, key)?),
        _ => None,
    };
    let console = match &args.console_dir {
        Some(dir) => Some(tunnel_server::console::Console::new(
            dir,
            &args.console_api_url,
        )?),
        None => None,
    };
    let public = PublicUrls {
        scheme: if tls.is_some() { "https" } else { "http" }.into(),
        base_domain: args.domain.trim_matches('.').to_ascii_lowercase(),
        port: Some(args.public_port.unwrap_or(local.port())),
    };
    if args.emulate_aws {
        let functions_dir = match args.functions {
            Some(d) => d,
            None => emulate::default_functions_dir()
                .context("cannot tell this binary's folder; pass --functions DIR")?,
        };
        let emulator = emulate::Emulator::start(emulate::EmulatorConfig {
            dynamodb_endpoint: args.dynamodb_endpoint.unwrap_or_default(),
            functions_dir,
            public,
            base_url: format!("http://{local}"),
            token_secret: String::from_utf8_lossy(&key).into_owned(),
            idle_timeout: Duration::from_secs(args.ws_idle_timeout),
            max_age: Duration::from_secs(args.ws_max_age),
            rates: [
                (tunnel_aws::functions::env::API_RATE, &args.api_rate),
                (tunnel_aws::functions::env::PUBLIC_RATE, &args.public_rate),
                (
                    tunnel_aws::functions::env::REGISTER_RATE,
                    &args.register_rate,
                ),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.clone()?)))
            .chain([(
                tunnel_aws::functions::env::INACTIVE_TTL_SECS,
                args.inactive_ttl.to_string(),
            )])
            .collect(),
            concurrency: emulate::Concurrency {
                function: args.lambda_concurrency as usize,
                relay: args.relay_concurrency as usize,
                account: args.account_concurrency as usize,
            },
        })
        .await?;
        tracing::info!("AWS emulator ready");
        println!("http://{local}");
        std::io::stdout().flush()?;
        serve(listener, Arc::new(emulator), shutdown_signal()).await;
        return Ok(());
    }
    let store = Arc::new(
        EmbeddedStore::open(&data_dir)
            .with_context(|| format!("cannot open the store in {}", data_dir.display()))?,
    );
    let now = tunnel_backend::unix_now();
    store.detach_all(now.saturating_add(args.inactive_ttl))?;
    store.sweep_expired(now)?;
    let signer = TokenSigner::new(key).context("token key too short")?;
    let hub = Arc::new(Hub::new());
    let mut config = Config::new(public, None);
    // No API Gateway frame limit here: the largest chunk the protocol allows.
    config.max_chunk = client_core::protocol::limits::MAX_CHUNK_BYTES;
    config.capture_bytes = args.capture_bytes;
    config.log_keep = args.log_keep as usize;
    config.inactive_ttl_secs = args.inactive_ttl;
    if let Some(r) = &args.api_rate {
        config.control_rate = rate(r);
    }
    if let Some(r) = &args.public_rate {
        config.public_rate = rate(r);
    }
    if let Some(r) = &args.register_rate {
        config.register_rate = rate(r);
    }
    let limiter = Arc::new(tunnel_backend::limits::MemoryLimiter::default());
    let backend = Backend {
        store: store.clone(),
        connections: hub.clone(),
        config,
        signer,
        limiter: limiter.clone(),
        // One process: its memory is shared by every request it serves.
        failures: limiter,
    };
    let inspector =
        tunnel_server::inspector::Inspector::start(backend.store.clone(), backend.config.log_keep);
    tokio::spawn(sweep_expired(store.clone()));
    let state = Arc::new(State {
        backend,
        hub,
        max_body: args.max_body,
        upgrade_idle: Duration::from_secs(args.upgrade_idle_timeout),
        started: std::time::Instant::now(),
        metrics: Arc::default(),
        inspector,
        console,
    });
    if let Some(addr) = args.metrics_listen {
        let probes = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr}; pick another with --metrics-listen")
        })?;
        tracing::info!(address = %probes.local_addr()?, "serving /metrics and /healthz");
        let handler = Arc::new(tunnel_server::control::ProbeOnly(state.clone()));
        // Ends with the process: it holds no state of its own to drain.
        tokio::spawn(serve(probes, handler, std::future::pending()));
    }
    tracing::info!(data_dir = %data_dir.display(), base_domain = %args.domain, "tunnel-server ready");
    // The base URL alone on stdout: scripts and tests wait for this line.
    println!("{}://{local}", state.backend.config.public.scheme);
    std::io::stdout().flush()?;
    tunnel_server::serve_with_tls(listener, state, shutdown_signal(), tls).await;
    Ok(())
}

/// Removes expired tunnels with what they held, every
/// [`EXPIRY_SWEEP_INTERVAL_SECS`](tunnel_backend::store::EXPIRY_SWEEP_INTERVAL_SECS);
/// reads ignore them in between, so this only reclaims space.
async fn sweep_expired(store: Arc<EmbeddedStore>) {
    let period = Duration::from_secs(tunnel_backend::store::EXPIRY_SWEEP_INTERVAL_SECS);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        match store.sweep_expired(tunnel_backend::unix_now()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(tunnels = n, "expired tunnels removed"),
            Err(e) => tracing::warn!(error = %e, "could not remove expired tunnels"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
