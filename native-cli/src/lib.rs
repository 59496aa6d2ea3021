//! The `tunnel` command line client: registers with a tunnel server, manages tunnels,
//! and serves a local HTTP port on a public URL.
//!
//! It is a thin driver of `client-core`: the wire protocol, the session state machine,
//! the reconnect backoff and the REST calls all live there; this crate supplies
//! sockets, clocks, randomness, files and a terminal.
//!
//! # Layout
//!
//! - `main.rs`: the command line (clap) and exit codes; nothing else.
//! - [`config`]: the config file, its location, and precedence against the
//!   environment and flags.
//! - [`api`]: sends client-core's REST calls with reqwest and sorts failures into
//!   refusals and an unreachable server.
//! - [`commands`]: `register`, `auth`, `list`, `stop`, `status`.
//! - [`inbox`]: delivers what the offline inbox held, after each (re)connection.
//! - [`inspect`]: `requests` (list, follow, show, export, clear) and `replay`; what
//!   they print (a line per exchange, one exchange in full) in `inspect/text.rs`.
//! - [`start`]: `tunnel start`: creates the tunnel, reconnects with backoff, stops on
//!   Ctrl-C; its API calls retried with backoff in `start/retry.rs`, the tunnel kept
//!   or deleted on the way out in `start/leave.rs`.
//! - [`target`]: `tunnel start`'s target and `--host`, `--origin-ca`,
//!   `--origin-insecure`.
//! - [`tunnel`]: [`tunnel::run_session`], the driver of one WebSocket session; by
//!   job beside it, request bodies to the origin under backpressure
//!   (`tunnel/body.rs`), the log of each request (`tunnel/request_log.rs`) and how a
//!   session ends (`tunnel/end.rs`).
//! - [`screen`]: `tunnel start`'s live screen on a terminal: a pure model of what it
//!   shows (fed by the driver and `start`), its ratatui view, and the terminal's
//!   set-up and restoring.
//! - [`origin`]: forwards one request to the local origin with hyper and streams the
//!   answer back; the request body it reads, ended or cut, in `origin/body.rs`.
//! - [`stored`]: bodies by URL (AWS: presigned S3): a large request body fetched from
//!   REQUEST's `body_url`, a large answer of known length put at its `answer_url`.
//! - [`origin_tls`]: certificate checks for `https://` origins (`--origin-ca`,
//!   `--origin-insecure`).
//! - [`output`]: what `list` and `status` print, as tables or JSON.
//! - [`table`]: aligned tables that fit the terminal's width.
//! - [`policy`]: the access-policy flags `start` and `policy` share, and
//!   `tunnel policy` (show the checks in force, or change the ones named).
//! - [`trust`]: certificate verification: public roots plus `--ca-file`.

pub mod api;
pub mod commands;
pub mod config;
pub mod inbox;
pub mod inspect;
pub mod origin;
pub mod origin_tls;
pub mod output;
pub mod policy;
pub mod screen;
pub mod start;
pub mod stored;
pub mod table;
pub mod target;
pub mod trust;
pub mod tunnel;
