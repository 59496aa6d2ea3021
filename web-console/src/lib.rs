//! The web console: log in, manage tunnels, inspect and replay their traffic.
//!
//! A Yew app of function components. The API types, the domain rules, the list
//! filters, replay edits and the curl/HAR exports are client-core's, compiled to wasm
//! with the rest: the console adds views, not logic.
//!
//! # Layout
//!
//! - [`app`]: the root component, the routes, and the login guard.
//! - [`pages`]: one component per route (login, tunnels, inspector, not found).
//! - [`components`]: the pieces pages are made of.
//! - [`hooks`]: session, API, timers, and the reducers behind the tunnel list and the
//!   inspector.
//! - [`services`]: fetch, `EventSource`, storage, clipboard, downloads, and the pure
//!   formatting helpers.
//!
//! `scripts/console-build.sh` builds it into static files; `tunnel-server
//! --console-dir DIR` serves them at `/` with a `config.json` saying where the API is.

pub mod app;
pub mod components;
pub mod hooks;
pub mod pages;
pub mod services;

pub use app::App;
