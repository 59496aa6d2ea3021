//! Request inspection: the record of every proxied exchange, shared by the server (which
//! captures and stores it), the CLI and the web console (which list, show, export and
//! replay it).
//!
//! - [`model`]: the captured [`Exchange`] and its parts, and the list view
//!   ([`ExchangeSummary`], [`RequestPage`]).
//! - [`filter`]: list [`Filter`]s parsed from a query string.
//! - [`replay`]: [`ReplayEdits`] turning a captured request into a new one.
//! - [`redact`](mod@redact): masking of credential headers before an exchange is
//!   stored or shown.
//! - [`export`]: a POSIX-shell `curl` command line and a HAR 1.2 document.
//! - [`sse`]: a reader of the live feed's server-sent events.
//!
//! Nothing here reads a clock: every time is a Unix-milliseconds value the caller passes.

pub mod export;
pub mod filter;
pub mod model;
pub mod redact;
pub mod replay;
pub mod sse;

mod http;
mod query;

pub use export::{date_time_utc, to_curl, to_har};
pub use filter::{Filter, FilterError, PAGE_PARAMS};
pub use model::{
    BodyCapture, CapturedBody, Exchange, ExchangeSummary, Message, Outcome, RequestPage,
    ResponseRecord, Timings,
};
/// Form-encodes one query-string key or value.
pub use query::encode as encode_query;
pub use redact::{REDACTED, SECRET_HEADERS, redact, redact_exchange};
pub use replay::{ReplayEdits, ReplayError, ReplayRequest};

#[cfg(test)]
mod tests;
