//! The runtime-agnostic core shared by the `tunnel` CLI and the web console.
//!
//! Nothing here opens a socket, spawns a task or reads a clock: inputs come in as
//! values, outputs go out as values, and the same code builds for native targets and
//! for `wasm32-unknown-unknown`.
//!
//! # Layout
//!
//! - [`protocol`]: the wire contract between client and server: frames, their JSON
//!   encoding, body chunking, and every limit as a named constant.
//! - [`session`]: the client side of a tunnel session as a sans-IO state machine
//!   (`handle_*` in, `poll_*` out), plus the reconnect [`session::Backoff`].
//! - [`api`]: the REST control plane's types and a sans-IO client for it.
//! - [`advice`]: what a person does about each API error code, in the CLI's and the
//!   console's own words.
//! - [`domain`]: subdomain rules and random names.
//! - [`policy`]: per-tunnel access policy (basic auth, share token, IP allow-list,
//!   webhook signatures): its settings, their validation, and the redacted view.
//! - [`inbox`]: the offline inbox's wire types (a held request, a delivery report).
//! - [`inspect`]: the captured record of each proxied exchange, list filters, replay
//!   edits, credential redaction, and `curl` / HAR 1.2 exports.
//! - [`target`]: the local service a tunnel forwards to (`3000`, `localhost:3000`,
//!   `https://localhost:8443`, ...) and the `Host` the origin is sent.

pub mod advice;
pub mod api;
mod b64;
pub mod domain;
pub mod inbox;
pub mod inspect;
pub mod policy;
pub mod protocol;
pub mod session;
pub mod target;
