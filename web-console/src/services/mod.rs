//! Everything that talks to the browser or the server, and the pure helpers the views
//! use. Components call these; nothing here renders.
//!
//! - [`http`]: one request over `fetch`.
//! - [`api`]: the REST calls, typed by client-core, with 401 turned into a logout.
//! - [`config`]: the runtime `config.json` (where the API is).
//! - [`session`]: the session token in `sessionStorage`.
//! - [`live`]: the live feed of new exchanges (`EventSource`).
//! - [`browser`]: clipboard, file download, the clock.
//! - [`format`]: bodies, sizes, durations and times as text (pure, tested natively).
//! - [`edits`]: the edit-and-replay form to [`client_core::inspect::ReplayEdits`].
//! - [`policy_form`]: the access-policy form to [`client_core::policy::Policy`]: the
//!   form and its save (`mod.rs`), each field group read into the change
//!   (`fields.rs`), the preview of the policy once saved (`preview.rs`).

pub mod api;
pub mod browser;
pub mod config;
pub mod edits;
pub mod format;
pub mod http;
pub mod live;
pub mod policy_form;
pub mod session;
