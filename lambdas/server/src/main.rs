//! `tunnel-server`: runs the local stack. See the crate docs of `tunnel_server`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::time::Duration;
use tunnel_backend::auth::TokenSigner;
use tunnel_backend::store::EmbeddedStore;
use tunnel_backend::{Backend, Config, PublicUrls};
use tunnel_server::hub::Hub;
use tunnel_server::ingress::DEFAULT_MAX_BODY_BYTES;
use tunnel_server::startup::{
    LogFormat, checked_rate, data_dir, init_logs, listen, rate, shutdown_signal, token_key,
};

use tunnel_server::{State, serve};

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
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with certificates from an ACME CA (Let's Encrypt unless
    /// --acme-directory says otherwise), ordered as the base domain and each tunnel's
    /// host are first asked for; EMAIL is the contact the CA is given. Passing it
    /// agrees to the CA's terms of service. Needs --http-listen on port 80.
    #[arg(
        long,
        value_name = "EMAIL",
        conflicts_with = "tls_cert",
        requires = "http_listen"
    )]
    acme_email: Option<String>,
    /// The ACME CA's directory URL.
    #[arg(long, value_name = "URL", default_value = tunnel_server::acme::LETS_ENCRYPT, requires = "acme_email")]
    acme_directory: String,
    /// PEM root certificate to trust for the ACME CA's own HTTPS (a test CA such as
    /// Pebble; public CAs need none).
    #[arg(long, value_name = "PEM", requires = "acme_email")]
    acme_ca_root: Option<PathBuf>,
    /// With HTTPS (--tls-cert or --acme-email): also listen for plain HTTP here (e.g.
    /// 0.0.0.0:80), redirecting to HTTPS and answering ACME's challenges.
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<SocketAddr>,
    /// A public WebSocket carried through a tunnel is closed after this many seconds
    /// with no byte either way.
    #[arg(long, value_name = "SECS", default_value_t = client_core::protocol::limits::UPGRADE_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    upgrade_idle_timeout: u64,
    /// Also serve /metrics and /healthz (only those) on this address, e.g. for a
    /// Prometheus scraper on another interface than the service's.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Serve the web console built into DIR (scripts/console-build.sh DIR) at `/`,
    /// instead of the one built into a release binary.
    #[arg(long, value_name = "DIR")]
    console_dir: Option<PathBuf>,
    /// API base URL the console is told to use (its `/config.json`); by default the
    /// console calls the origin it was loaded from.
    #[arg(long, value_name = "URL", default_value = "")]
    console_api_url: String,
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
    init_logs(args.log_format);
    let data_dir = data_dir(args.data_dir)?;
    let key = token_key(&data_dir)?;
    let listener = listen(args.listen).await?;
    let local = listener.local_addr()?;
    if args.http_listen.is_some() && args.tls_cert.is_none() && args.acme_email.is_none() {
        bail!(
            "--http-listen redirects to HTTPS: add --acme-email EMAIL (certificates from Let's Encrypt) or --tls-cert/--tls-key"
        );
    }
    let fixed_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tunnel_server::tls::acceptor(cert, key)?),
        _ => None,
    };
    let https = fixed_tls.is_some() || args.acme_email.is_some();
    let console = match &args.console_dir {
        Some(dir) => Some(tunnel_server::console::Console::new(
            dir,
            &args.console_api_url,
        )?),
        None => tunnel_server::console::Console::embedded(&args.console_api_url),
    };
    if console.is_none() {
        if !args.console_api_url.is_empty() {
            bail!(
                "--console-api-url needs a console: this build has none built in, so add --console-dir DIR (built by scripts/console-build.sh DIR)"
            );
        }
        tracing::info!(
            "no web console in this build: serve one with --console-dir DIR (scripts/console-build.sh DIR), or use a release build (scripts/release.sh), which has it built in"
        );
    }
    let public_port = args.public_port.unwrap_or(local.port());
    let public = PublicUrls {
        scheme: if https { "https" } else { "http" }.into(),
        base_domain: args.domain.trim_matches('.').to_ascii_lowercase(),
        // The scheme's own port goes unsaid: https://NAME.example.com, not ...:443.
        port: Some(public_port).filter(|p| *p != if https { 443 } else { 80 }),
    };
    let store = Arc::new(
        EmbeddedStore::open(&data_dir)
            .with_context(|| format!("cannot open the store in {}", data_dir.display()))?,
    );
    let now = client_core::clock::now_secs();
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
        request_ids: Default::default(),
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
    let tls = match (fixed_tls, &args.acme_email) {
        (Some(acceptor), _) => Some(tunnel_server::tls::Tls::Fixed(acceptor)),
        (None, Some(email)) => {
            let acme = tunnel_server::acme::Acme::new(
                tunnel_server::acme::AcmeConfig {
                    email: email.clone(),
                    directory: args.acme_directory.clone(),
                    ca_root: args.acme_ca_root.clone(),
                    dir: data_dir.join("acme"),
                },
                tunnel_server::acme::tunnel_hosts(state.clone()),
            );
            Some(tunnel_server::tls::Tls::Acme(acme))
        }
        (None, None) => None,
    };
    if let Some(addr) = args.http_listen {
        let plain = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr}; pick another with --http-listen (binding port 80 needs root or CAP_NET_BIND_SERVICE)")
        })?;
        let challenges = match &tls {
            Some(tunnel_server::tls::Tls::Acme(acme)) => Some(acme.challenges.clone()),
            _ => None,
        };
        tracing::info!(address = %plain.local_addr()?, "redirecting plain HTTP to HTTPS");
        let handler = Arc::new(tunnel_server::redirect::Redirect {
            public: state.backend.config.public.clone(),
            challenges,
        });
        // Ends with the process: it holds no state of its own to drain.
        tokio::spawn(serve(plain, handler, std::future::pending()));
    }
    tracing::info!(data_dir = %data_dir.display(), base_domain = %args.domain, "tunnel-server ready");
    // The base URL alone on stdout: scripts and tests wait for this line.
    println!("{}://{local}", state.backend.config.public.scheme);
    std::io::stdout().flush()?;
    let inspector = state.inspector.clone();
    tunnel_server::serve_with_tls(listener, state, shutdown_signal(), tls).await;
    // The request log is written behind: what the drain's exchanges left in the
    // inspector's queue and in the store's memory goes to the file before exit.
    inspector.flush().await;
    match store.flush_log() {
        Ok(n) => tracing::info!(exchanges = n, "request log written"),
        Err(e) => {
            tracing::warn!(error = %e, "could not write the request log; its last second is lost")
        }
    }
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
        match store.sweep_expired(client_core::clock::now_secs()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(tunnels = n, "expired tunnels removed"),
            Err(e) => tracing::warn!(error = %e, "could not remove expired tunnels"),
        }
    }
}
