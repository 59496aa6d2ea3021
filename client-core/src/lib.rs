//! The runtime-agnostic core shared by the `tunnel` CLI and the web console.
//!
//! Nothing here opens a socket or spawns a task, and nothing but [`clock`] (and the
//! log line's timestamp, `json_log`) reads a clock: inputs come in as values, outputs
//! go out as values, and the same code builds for native targets and for
//! `wasm32-unknown-unknown` ([`clock`] and `json_log` are native only).
//!
//! # Layout
//!
//! - [`clock`]: the one `now_ms`/`now_secs` of every native driver (CLI, backends).
//! - [`protocol`]: the wire contract between client and server: frames, their JSON
//!   encoding, body chunking, and every limit as a named constant.
//! - [`session`]: the client side of a tunnel session as a sans-IO state machine
//!   (`handle_*` in, `poll_*` out), plus the reconnect [`session::Backoff`].
//! - [`api`]: the REST control plane's types and a sans-IO client for it: the
//!   client (`api/mod.rs`), the resources (`api/resources.rs`), the request, answer
//!   and [`api::Call`] (`api/call.rs`), and the error body and [`api::ApiError`]
//!   (`api/error.rs`).
//! - [`advice`]: what a person does about each API error code, in the CLI's and the
//!   console's own words.
//! - [`domain`]: subdomain rules and random names.
//! - [`hop`]: the hop-by-hop headers every hop of the tunnel drops, one list.
//! - `json_log` (feature `json-log`, native binaries only): the JSON log line of the
//!   CLI, `tunnel-server` and the Lambdas, `tracing-subscriber`'s JSON format byte for
//!   byte at less CPU. A formatter: it writes to what the subscriber gives it.
//! - [`policy`]: per-tunnel access policy (basic auth, share token, IP allow-list,
//!   webhook signatures, offline inbox): its settings, their validation, and the
//!   redacted view (`policy/mod.rs`); the allow-list's networks (`policy/cidr.rs`),
//!   the inbox's settings (`policy/inbox.rs`), why a policy is refused, by field
//!   (`policy/error.rs`), a change field by field (`policy/patch.rs`), and the
//!   webhook schemes (`policy/webhook.rs`).
//! - [`inbox`]: the offline inbox's wire types (a held request, a delivery report).
//! - [`inspect`]: the captured record of each proxied exchange, list filters, replay
//!   edits, credential redaction, and `curl` / HAR 1.2 exports.
//! - [`target`]: the local service a tunnel forwards to (`3000`, `localhost:3000`,
//!   `https://localhost:8443`, ...) and the `Host` the origin is sent.

pub mod advice;
pub mod api;
mod b64;
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub mod clock;
pub mod domain;
pub mod hop;
pub mod inbox;
pub mod inspect;
#[cfg(feature = "json-log")]
pub mod json_log;
pub mod policy;
pub mod protocol;
pub mod session;
pub mod target;
