//! The backend of the tunnel service as plain async functions over two ports.
//!
//! The same handlers serve both deployments: the AWS Lambda functions wrap them in
//! `lambda_runtime`, and the local stack (`tunnel-server`) calls them from its HTTP and
//! WebSocket listeners. Everything they persist goes through [`store::Store`]; everything
//! they send to a client's WebSocket goes through [`connections::Connections`].
//!
//! # Layout
//!
//! - [`handlers`]: one module per planned function (clients, tunnels, the WebSocket
//!   connection lifecycle, the public proxy's lookups and pages); `handlers::admission`
//!   is the one pipeline both ingresses run a public request through (resolve, rate
//!   limit, policy, body size, forward or hold) and every refusal's page;
//!   `handlers::exchange` is the server half of the protocol for one stream (answer
//!   in order, end, cancel, credit, upgrade, timeouts) as a sans-IO machine both
//!   ingresses drive; `handlers::policy` keeps an access policy (`policy/stored.rs`),
//!   checks a public request against it (`policy/check.rs`) and merges a change
//!   into it (`policy/merge.rs`); `handlers::inbox` holds requests while a tunnel
//!   is offline, `handlers::inspect` captures exchanges and serves the request log
//!   and replays (`inspect/strip.rs`: what a log keeps past its body budgets),
//!   `handlers::stats` a tunnel's state and recent traffic from its log,
//!   `handlers::webhook` the senders' signature checks.
//! - [`api`]: the REST control plane as one router over the handlers.
//! - [`store`]: the `Store` port, the embedded (redb) adapter with its in-memory
//!   routing table of tunnels and domain claims (`embedded/routes.rs`), its request
//!   log in memory written behind to the file (`embedded/memlog/`, sans-IO, with
//!   `body_rate.rs`, how fast bodies may go into the file;
//!   `logfile.rs`, the table and its writer thread; `log_codec.rs`, the compact row
//!   encoding; `log_migrate.rs`, an older data dir's log moved on open), its offline
//!   inboxes (`embedded/inbox.rs`), a tunnel's expiry, sweep and removal with all it
//!   holds (`embedded/lifecycle.rs`), and the contract suite every adapter must pass.
//! - [`connections`]: the `Connections` port.
//! - [`auth`]: API keys (hashed, constant-time checked) and HS256 session tokens.
//! - [`auth_limit`]: failed authentications limited per source address (REST and
//!   WebSocket connect).
//! - [`model`]: the stored records, and when an inactive tunnel expires.
//! - [`limits`]: token buckets, and the `Limiter` port that keeps them.
//! - [`config`]: what a deployment configures (public URLs, token lifetime, chunk size).
//! - [`telemetry`]: the metric names both backends emit, and CloudWatch EMF lines.

pub mod api;
pub mod auth;
pub mod auth_limit;
pub mod config;
pub mod connections;
pub mod handlers;
pub mod limits;
pub mod model;
pub mod store;
pub mod telemetry;

use std::sync::Arc;

pub use config::{Config, PublicUrls};

/// The ports and settings every handler needs.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Persistence.
    pub store: Arc<dyn store::Store>,
    /// Sending to client WebSockets.
    pub connections: Arc<dyn connections::Connections>,
    /// Deployment settings.
    pub config: Config,
    /// Signs and checks session tokens.
    pub signer: auth::TokenSigner,
    /// Rate-limit buckets.
    pub limiter: Arc<dyn limits::Limiter>,
    /// The buckets of failed authentications per source address
    /// ([`auth_limit`]), which every process serving the API must share: memory on
    /// the local stack, DynamoDB on AWS.
    pub failures: Arc<dyn limits::Limiter>,
}
