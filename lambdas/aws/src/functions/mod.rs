//! What every Lambda function shares: reading its configuration from the environment,
//! JSON logs for CloudWatch, and one module per kind of trigger. Each binary in
//! `src/bin/` is a few lines over these.

pub mod answer;
pub mod captured;
pub mod channel;
pub mod deliver;
pub mod held;
pub mod incoming;
pub mod metered;
pub mod outcome;
pub mod proxy;
pub mod reconnect;
pub mod relay;
pub mod replay;
pub mod rest;
pub mod stored_body;
pub mod upload;
pub mod url_head;
pub mod websocket;

use std::sync::Arc;

use tunnel_backend::auth::TokenSigner;
use tunnel_backend::{Backend, Config, PublicUrls};

use crate::config::{ConfigError, DynamoConfig};
use crate::connections::ApiGatewayConnections;
use crate::store::DynamoStore;

/// Every Lambda function, named as its binary in `src/bin/`. Terraform defines exactly
/// these; the emulator runs exactly these.
pub const FUNCTIONS: &[&str] = &[
    "register-client",
    "get-client",
    "issue-token",
    "create-tunnel",
    "list-tunnels",
    "delete-tunnel",
    "inspect-requests",
    "replay-request",
    "authorize-connection",
    "tunnel-connect",
    "tunnel-disconnect",
    "tunnel-relay",
    "tunnel-proxy",
];

/// The functions that use the request log's bucket, and the S3 actions each needs
/// (from the `Store` methods their handlers call: `put_exchanges` puts an exchange
/// too large for its item, `get_exchange` reads one, `clear_exchanges` deletes them).
/// Only these get `TUNNEL_LOG_BUCKET` and a grant on the bucket's `log/` prefix;
/// Terraform and the emulator follow this list, and the infra check compares.
pub const LOG_BUCKET_ACCESS: &[(&str, &[&str])] = &[
    ("tunnel-proxy", &["PutObject"]),
    // the original's capture; the replay's
    ("replay-request", &["GetObject", "PutObject"]),
    // show; an inbox delivery report's capture; clear
    (
        "inspect-requests",
        &["GetObject", "PutObject", "DeleteObject"],
    ),
    // deleting a tunnel clears its log
    ("delete-tunnel", &["DeleteObject"]),
];

/// The functions that forward requests, and the S3 actions each needs on the stored
/// bodies (`stored_body::BODY_PREFIX` in the log bucket): `put_request` and
/// `open_response` call PutObject and GetObject, and the presigned URLs they hand
/// the client (its GET of the request body, its PUT of the answer) act with the
/// signer's rights, so the signer must hold those too. No delete: the bucket's
/// lifecycle rule expires them. Terraform follows this list; the infra check compares.
pub const BODY_BUCKET_ACCESS: &[(&str, &[&str])] = &[
    ("tunnel-proxy", &["GetObject", "PutObject"]),
    ("replay-request", &["GetObject", "PutObject"]),
];

/// The WebSocket API's routes (route key, function). Client frames are routed on their
/// `action` field; anything else goes to `$default`.
pub const WS_ROUTES: &[(&str, &str)] = &[
    ("$connect", "authorize-connection"),
    ("$disconnect", "tunnel-disconnect"),
    ("connect", "tunnel-connect"),
    ("release", "tunnel-connect"),
    ("response", "tunnel-relay"),
    ("body", "tunnel-relay"),
    ("error", "tunnel-relay"),
    ("ping", "tunnel-relay"),
    ("pong", "tunnel-relay"),
    ("channel", "tunnel-relay"),
    ("$default", "tunnel-relay"),
];

/// Environment variables the functions read besides the store's (see
/// [`crate::config::env`]). Terraform sets exactly these.
pub mod env {
    /// Domain tunnels live under, e.g. `tunnel.example.com`.
    pub const BASE_DOMAIN: &str = "TUNNEL_BASE_DOMAIN";
    /// Scheme of public URLs; `https` when unset.
    pub const PUBLIC_SCHEME: &str = "TUNNEL_PUBLIC_SCHEME";
    /// Port of public URLs when not the scheme's default.
    pub const PUBLIC_PORT: &str = "TUNNEL_PUBLIC_PORT";
    /// The WebSocket API's URL, given to clients with their session token.
    pub const WS_URL: &str = "TUNNEL_WS_URL";
    /// The WebSocket API's management (`@connections`) endpoint.
    pub const WS_MANAGEMENT_ENDPOINT: &str = "TUNNEL_WS_MANAGEMENT_ENDPOINT";
    /// Secret that signs session tokens (at least 32 bytes).
    pub const TOKEN_SECRET: &str = "TUNNEL_TOKEN_SECRET";
    /// The WebSocket API's cap on connection age in seconds (AWS: 7200), from which
    /// clients are told when to renew.
    pub const WS_MAX_AGE_SECS: &str = "TUNNEL_WS_MAX_AGE_SECS";
    /// Control-plane rate per client, `PER_SECOND:BURST` or `off` (default 20:60).
    pub const API_RATE: &str = "TUNNEL_API_RATE";
    /// Public-traffic rate per tunnel, `PER_SECOND:BURST` or `off` (default 2000:4000).
    pub const PUBLIC_RATE: &str = "TUNNEL_PUBLIC_RATE";
    /// Registrations per source address, `PER_SECOND:BURST` or `off` (default 0.2:10).
    pub const REGISTER_RATE: &str = "TUNNEL_REGISTER_RATE";
    /// Seconds a tunnel no client serves is kept before it expires (default
    /// `INACTIVE_TUNNEL_TTL_SECS`, 7 days; shorter only in tests).
    pub const INACTIVE_TTL_SECS: &str = "TUNNEL_INACTIVE_TTL_SECS";
}

/// Seconds before a connection's age cap at which clients renew it (at most half the
/// cap, for the short caps of tests).
pub const RENEW_MARGIN_SECS: u32 = 300;

/// When clients should renew, for a connection age cap of `max_age` seconds.
pub fn renew_after(max_age: u32) -> u32 {
    max_age - RENEW_MARGIN_SECS.min(max_age / 2)
}

fn var(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Invalid {
            var: name,
            reason: "not valid UTF-8".into(),
        }),
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name)?.ok_or(ConfigError::Missing(name))
}

/// Builds the handlers' ports from the environment, once per sandbox.
pub fn backend_from_env() -> Result<Backend, ConfigError> {
    let dynamo = DynamoConfig::from_env()?;
    let connections = ApiGatewayConnections::new(
        &required(env::WS_MANAGEMENT_ENDPOINT)?,
        &dynamo.region,
        dynamo.credentials.clone(),
    );
    let port = match var(env::PUBLIC_PORT)? {
        Some(p) => Some(p.parse().map_err(|_| ConfigError::Invalid {
            var: env::PUBLIC_PORT,
            reason: format!("{p:?} is not a port number"),
        })?),
        None => None,
    };
    let public = PublicUrls {
        scheme: var(env::PUBLIC_SCHEME)?.unwrap_or_else(|| "https".into()),
        base_domain: required(env::BASE_DOMAIN)?,
        port,
    };
    let signer = TokenSigner::new(required(env::TOKEN_SECRET)?.into_bytes()).ok_or(
        ConfigError::Invalid {
            var: env::TOKEN_SECRET,
            reason: format!(
                "shorter than {} bytes",
                tunnel_backend::auth::MIN_TOKEN_SECRET_BYTES
            ),
        },
    )?;
    let mut config = Config::new(public, Some(required(env::WS_URL)?));
    // Every client message is a relay invocation here: pace response bodies.
    config.window = client_core::protocol::limits::CREDIT_WINDOW;
    let max_age = match var(env::WS_MAX_AGE_SECS)? {
        Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
            var: env::WS_MAX_AGE_SECS,
            reason: format!("{v:?} is not a number of seconds"),
        })?,
        None => 7_200,
    };
    config.renew_after = renew_after(max_age);
    if let Some(v) = var(env::INACTIVE_TTL_SECS)? {
        config.inactive_ttl_secs =
            v.parse()
                .ok()
                .filter(|&s: &u64| s > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    var: env::INACTIVE_TTL_SECS,
                    reason: format!("{v:?} is not a positive number of seconds"),
                })?;
    }
    for (name, slot) in [
        (env::API_RATE, &mut config.control_rate),
        (env::PUBLIC_RATE, &mut config.public_rate),
        (env::REGISTER_RATE, &mut config.register_rate),
    ] {
        if let Some(text) = var(name)? {
            *slot =
                tunnel_backend::limits::Rate::parse(&text).map_err(|e| ConfigError::Invalid {
                    var: name,
                    reason: e.to_string(),
                })?;
        }
    }
    // With the request log's bucket where this function has one (TUNNEL_LOG_BUCKET).
    let store = DynamoStore::from_config(&dynamo);
    Ok(Backend {
        store: Arc::new(store.clone()),
        connections: Arc::new(connections),
        config,
        signer,
        // Per warm sandbox: a burst spread over many sandboxes passes each one's
        // bucket. API Gateway's stage throttling (infra/apigateway.tf) caps the total.
        limiter: Arc::new(tunnel_backend::limits::MemoryLimiter::default()),
        // Shared by every sandbox: a guessing loop spread over many must still stop.
        failures: Arc::new(crate::limiter::DynamoLimiter::new(store)),
    })
}

/// The value of the header `name` in an event's headers, where it is text.
fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// JSON log lines, which CloudWatch Logs Insights can query; level from `RUST_LOG`.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // The current span carries a proxied request's id.
        .with_current_span(true)
        .with_span_list(false)
        .event_format(client_core::json_log::JsonLine::without_time())
        .init();
}
