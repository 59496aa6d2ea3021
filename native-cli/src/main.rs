//! `tunnel`: see the library's documentation for how the pieces fit.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use client_core::domain::{DomainError, validate_subdomain};
use native_cli::config::{self, Overrides, Settings};
use native_cli::policy::{FlagError, PolicyFlags, RemoveFlags};
use native_cli::start::{self, StartOptions};
use native_cli::{commands, inspect};
use std::io::IsTerminal as _;
use tokio::sync::watch;

/// Serve a local HTTP service on a public URL.
#[derive(Debug, Parser)]
#[command(name = "tunnel", version, after_help = EXAMPLES)]
struct Cli {
    /// Base URL of the tunnel server's REST API [default: from the config file, else
    /// http://127.0.0.1:8080].
    #[arg(long, global = true, env = config::API_URL_ENV, value_name = "URL")]
    api_url: Option<String>,

    /// A PEM file of CA certificates to trust besides the public ones, for a server
    /// with a private CA [default: `ca_file` in the config file].
    #[arg(long, global = true, env = config::CA_FILE_ENV, value_name = "PEM")]
    ca_file: Option<std::path::PathBuf>,

    /// Log lines on stderr: `text` for people, `json` for log tools; `auto` is text on a
    /// terminal, JSON otherwise. Levels with RUST_LOG (default: warn for text, info for
    /// JSON, which then holds one line per forwarded request with its request id).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
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

/// Sets up `tracing` on stderr. The human-facing lines (the public URL, `--log`'s
/// request lines) stay on stdout and are not affected.
fn init_logs(format: LogFormat) {
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let default = if json { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second subscriber (tests that call main twice) is no error worth stopping for.
    let _ = if json {
        // The format tunnel-server and the Lambdas write too (no spans on the CLI's
        // lines, so the span list the stock default adds would never show).
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .event_format(client_core::json_log::JsonLine::new())
            .try_init()
    } else {
        logs.try_init()
    };
}

const EXAMPLES: &str = "\
Examples:
  tunnel --api-url https://tunnel.example.com register   new account; saves URL and key
  tunnel start 3000 --domain myapp                       https://myapp.<base domain> -> localhost:3000
  tunnel start 3000 --basic-auth alice:s3cret            only with a password
  tunnel policy myapp --allow-ip 10.0.0.0/8              change one check, keep the others
  tunnel requests                                        what reached your most recent tunnel
  tunnel replay REQUEST_ID -H 'X-Debug: 1'               send one again, edited
  tunnel stop myapp                                      remove a tunnel
  tunnel completions bash > ~/.local/share/bash-completion/completions/tunnel";

const POLICY_EXAMPLES: &str = "\
Examples:
  tunnel policy myapp                                   the checks in force
  tunnel policy myapp --allow-ip 10.0.0.0/8             replace the allow-list; basic auth and the rest stay
  tunnel policy myapp --basic-auth alice:n3w --no-share-token
  tunnel policy myapp --no-allow-ip                     every address may come in again

Secrets left out (password, share token, webhook secret) stay as they are.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Register a new client and save its API key.
    Register,
    /// Log in with an existing API key, or log out.
    #[command(subcommand)]
    Auth(Auth),
    /// Serve a local HTTP service on a public URL until Ctrl-C.
    Start {
        /// The local service: 3000, localhost:3000, 192.168.1.5:8000, [::1]:3000,
        /// http://HOST:PORT or https://HOST:PORT.
        target: Option<String>,
        /// Subdomain to ask for; a random one when absent.
        // Hyphen values are let through so that `--domain -app` meets the domain rules,
        // whose message says what is wrong with it, rather than clap's "unexpected -a".
        #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
        domain: Option<String>,
        /// Deprecated: write HOST:PORT as the target.
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// The Host the local service gets: rewrite (its own address), preserve (the
        /// public host) or a fixed NAME. The public host is in X-Forwarded-Host.
        #[arg(long, value_name = "rewrite|preserve|NAME", default_value = "rewrite",
              value_parser = client_core::target::HostHeader::parse)]
        host_header: client_core::target::HostHeader,
        /// Trust this PEM certificate (the dev server's own, or its CA) for an https://
        /// target, besides the system's roots.
        #[arg(long, value_name = "FILE", conflicts_with = "origin_insecure")]
        origin_ca: Option<std::path::PathBuf>,
        /// Do not verify an https:// target's certificate (a self-signed dev server).
        #[arg(long)]
        origin_insecure: bool,
        /// Print one line per proxied request (the default when stdout is a terminal).
        #[arg(long, conflicts_with = "quiet")]
        log: bool,
        /// Print no line per request, even on a terminal.
        #[arg(long)]
        quiet: bool,
        /// Keep credential headers (Authorization, Cookie, ...) unmasked in the request
        /// inspector; fixed when the tunnel is created.
        #[arg(long)]
        no_redact: bool,
        /// Seconds the local service may take to start answering before the public
        /// client gets 504 (at most 25: the gateway in front gives up at 29).
        #[arg(long, value_name = "SECS", default_value_t = native_cli::origin::ORIGIN_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..=native_cli::origin::ORIGIN_TIMEOUT.as_secs()))]
        origin_timeout: u64,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// Show or change a tunnel's access policy; flags change only the checks they name.
    #[command(after_help = POLICY_EXAMPLES)]
    Policy {
        /// The tunnel: its id or its domain.
        #[arg(value_name = "TUNNEL")]
        tunnel: String,
        #[command(flatten)]
        set: PolicyFlags,
        #[command(flatten)]
        remove: RemoveFlags,
    },
    /// List your tunnels.
    List {
        /// Print the server's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stop (delete) a tunnel, or all of yours with --all.
    #[command(
        after_help = "Without a name, asks before stopping all on a terminal; elsewhere needs --all."
    )]
    Stop {
        /// The tunnel to stop: its id or its domain.
        #[arg(value_name = "TUNNEL")]
        tunnel_id: Option<String>,
        /// Stop every tunnel of yours, including ones a running `tunnel start` serves.
        #[arg(long, conflicts_with = "tunnel_id")]
        all: bool,
    },
    /// Print shell completions for bash, zsh, fish, elvish or PowerShell.
    #[command(
        after_help = "bash: tunnel completions bash > ~/.local/share/bash-completion/completions/tunnel\n\
                            zsh:  tunnel completions zsh > ~/.zfunc/_tunnel  (with fpath+=~/.zfunc)\n\
                            fish: tunnel completions fish > ~/.config/fish/completions/tunnel.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `tunnel man | man -l -`.
    Man,
    /// Show the configuration, the server's reachability and your tunnels.
    Status {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the requests captured on a tunnel, newest first; or show, export or clear.
    #[command(args_conflicts_with_subcommands = true)]
    Requests {
        #[command(subcommand)]
        action: Option<RequestsAction>,
        #[command(flatten)]
        list: RequestsList,
    },
    /// Send a captured request again through its tunnel, with optional changes.
    Replay {
        /// The request id (from `tunnel requests`).
        request_id: String,
        /// Another method.
        #[arg(long, value_name = "METHOD")]
        method: Option<String>,
        /// Another path (and query), starting with /.
        #[arg(long, value_name = "PATH")]
        path: Option<String>,
        /// A header to set, replacing the captured one (repeatable).
        #[arg(long = "header", short = 'H', value_name = "NAME:VALUE")]
        headers: Vec<String>,
        /// A header to remove (repeatable).
        #[arg(long = "remove-header", value_name = "NAME")]
        remove_headers: Vec<String>,
        /// Another body: the text itself, or @FILE.
        #[arg(long, value_name = "TEXT|@FILE")]
        body: Option<String>,
        /// Print the new exchange as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct RequestsList {
    /// Tunnel id or domain; your most recent tunnel when absent.
    tunnel: Option<String>,
    /// Only this method.
    #[arg(long)]
    method: Option<String>,
    /// Only this status class: 1xx to 5xx.
    #[arg(long, value_name = "CLASS")]
    status: Option<String>,
    /// Only paths starting with this.
    #[arg(long, value_name = "PREFIX")]
    path_prefix: Option<String>,
    /// How many (1 to 200; the server's default page otherwise).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=200))]
    limit: Option<u32>,
    /// Print JSON (one page; with --follow, one exchange per line).
    #[arg(long)]
    json: bool,
    /// Keep printing new requests as they arrive, until Ctrl-C.
    #[arg(long, short = 'f')]
    follow: bool,
}

#[derive(Debug, Subcommand)]
enum RequestsAction {
    /// Show one request and its response in full.
    Show {
        /// The request id.
        request_id: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export one request as HAR 1.2 or a curl command line (credentials masked).
    Export {
        /// The request id.
        request_id: String,
        /// HAR 1.2 JSON.
        #[arg(long, conflicts_with = "curl", required_unless_present = "curl")]
        har: bool,
        /// A curl command line.
        #[arg(long)]
        curl: bool,
    },
    /// Empty a tunnel's request log.
    Clear {
        /// Tunnel id or domain; your most recent tunnel when absent.
        tunnel: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Auth {
    /// Check an API key with the server and save it.
    Login {
        /// The key; read from standard input when absent.
        #[arg(long, value_name = "KEY")]
        api_key: Option<String>,
    },
    /// Remove the saved API key (the API URL stays).
    Logout,
    /// Replace your API key with a new one (the old one, and its sessions, stop
    /// working at once) and save it.
    Rotate,
}

// One thread: a tunnel's work is I/O, and a multi-threaded runtime made each request
// cross threads several times (docs/benchmarks.md: less CPU and memory per request).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    // Which of --api-url and TUNNEL_API_URL gave the URL: clap merges the two, and a
    // message about an unreachable server names the one to change.
    let url_from_env =
        matches.value_source("api_url") == Some(clap::parser::ValueSource::EnvVariable);
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logs(cli.log_format);
    match run(cli, url_from_env).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // A bad --domain or target is a usage error, like the ones clap reports
            // with 2.
            if e.downcast_ref::<DomainError>().is_some()
                || e.downcast_ref::<FlagError>().is_some()
                || e.downcast_ref::<native_cli::target::TargetUsage>()
                    .is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn run(cli: Cli, url_from_env: bool) -> anyhow::Result<()> {
    // JSON logs are for a log tool reading stderr: no screen over them.
    let json_logs = cli.log_format == LogFormat::Json;
    // Generated from the definitions above; they need no config and no server.
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "tunnel", &mut std::io::stdout());
            return Ok(());
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            return Ok(());
        }
        _ => {}
    }
    if let Command::Start {
        domain: Some(domain),
        ..
    } = &cli.command
    {
        validate_subdomain(domain)?;
    }
    let path = config::default_config_path()?;
    let mut overrides = Overrides::from_env(cli.api_url);
    overrides.api_url_from_env = url_from_env;
    overrides.ca_file = cli.ca_file;
    let settings = Settings::load(path, overrides)?;
    match cli.command {
        Command::Register => commands::register(&settings).await?,
        Command::Auth(Auth::Login { api_key }) => commands::login(&settings, api_key).await?,
        Command::Auth(Auth::Logout) => commands::logout(&settings)?,
        Command::Auth(Auth::Rotate) => commands::rotate(&settings).await?,
        Command::Policy {
            tunnel,
            set,
            remove,
        } => native_cli::policy::policy(&settings, &tunnel, &set, &remove)
            .await
            .map_err(|e| match e {
                // Kept as itself, so it exits 2 as a usage error.
                native_cli::policy::PolicyCommandError::Flag(f) => anyhow::Error::from(f),
                other => other.into(),
            })?,
        Command::List { json } => commands::list(&settings, json).await?,
        Command::Stop { tunnel_id, all } => commands::stop(&settings, tunnel_id, all).await?,
        Command::Completions { .. } | Command::Man => unreachable!("answered above"),
        Command::Status { json } => commands::status(&settings, json).await?,
        Command::Requests { action, list } => requests(&settings, action, list).await?,
        Command::Replay {
            request_id,
            method,
            path,
            headers,
            remove_headers,
            body,
            json,
        } => {
            let options = inspect::ReplayOptions {
                method,
                path,
                headers,
                remove_headers,
                body,
                json,
            };
            inspect::replay(&settings, &request_id, &options).await?;
        }
        Command::Start {
            target,
            domain,
            host,
            host_header,
            origin_ca,
            origin_insecure,
            log,
            quiet,
            no_redact,
            origin_timeout,
            policy,
        } => {
            // Checked before any call, so a typo costs no tunnel and the message
            // names the flag.
            let policy = policy.checked_policy()?;
            let target = native_cli::target::resolve_target(target.as_deref(), host.as_deref())?;
            let origin_tls = native_cli::target::origin_tls(&target, origin_ca, origin_insecure)?;
            let api = commands::authorized_api(&settings)?;
            // A terminal gets the live screen; JSON logs, pipes, --log and --quiet lines.
            let screen = !log && !quiet && !json_logs && native_cli::screen::wanted();
            let options = StartOptions {
                target,
                origin_tls,
                host_header,
                domain,
                log_requests: log || (!quiet && std::io::stdout().is_terminal()),
                screen,
                redact_secrets: !no_redact,
                policy,
                origin_timeout: std::time::Duration::from_secs(origin_timeout),
            };
            let stop = stop_signal().context("cannot watch for Ctrl-C")?;
            start::start(&api, &options, stop).await?;
        }
    }
    Ok(())
}

async fn requests(
    settings: &Settings,
    action: Option<RequestsAction>,
    list: RequestsList,
) -> anyhow::Result<()> {
    match action {
        Some(RequestsAction::Show { request_id, json }) => {
            inspect::show(settings, &request_id, json).await?;
        }
        Some(RequestsAction::Export {
            request_id, har, ..
        }) => {
            let format = if har {
                inspect::ExportFormat::Har
            } else {
                inspect::ExportFormat::Curl
            };
            inspect::export(settings, &request_id, format).await?;
        }
        Some(RequestsAction::Clear { tunnel }) => {
            inspect::clear(settings, tunnel.as_deref()).await?;
        }
        None => {
            let mut query = Vec::new();
            for (k, v) in [
                ("method", &list.method),
                ("status", &list.status),
                ("path_prefix", &list.path_prefix),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", client_core::inspect::encode_query(v)));
                }
            }
            let filter = client_core::inspect::Filter::from_query(&query.join("&"))?;
            let options = inspect::ListOptions {
                tunnel: list.tunnel,
                filter,
                limit: list.limit,
                json: list.json,
                follow: list.follow,
            };
            inspect::list(settings, options).await?;
        }
    }
    Ok(())
}

/// Turns true at the first Ctrl-C (or SIGTERM). A second one exits at once, in case
/// the polite shutdown hangs.
fn stop_signal() -> std::io::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    let mut signals = Signals::new()?;
    tokio::spawn(async move {
        signals.recv().await;
        tx.send_replace(true);
        signals.recv().await;
        std::process::exit(130);
    });
    Ok(rx)
}

/// The signals that ask the tunnel to stop, installed up front so none is missed.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
