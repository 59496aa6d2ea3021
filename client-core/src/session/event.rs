//! What the session tells its driver: the tunnel went live, a request (and its body)
//! arrived or was cancelled, the session ended and why.

use std::time::Duration;

use crate::protocol::{ErrorCode, Headers, StreamId};

#[cfg(doc)]
use super::ClientSession;

/// What the server told us when the tunnel went live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The tunnel served.
    pub tunnel_id: String,
    /// Its subdomain.
    pub domain: String,
    /// Where the public reaches it.
    pub public_url: String,
    /// Largest body chunk either side sends.
    pub max_chunk: usize,
    /// BODY chunks a response may run ahead of CREDIT; 0 for no limit.
    pub window: u32,
    /// Seconds after which to renew the connection when idle; 0 never.
    pub renew_after: u32,
    /// The server reads binary BODY frames: ours go out that way.
    pub binary: bool,
}

/// The head of a public request to forward to the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, in order.
    pub headers: Headers,
}

/// Something the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The tunnel is live.
    Connected(Connected),
    /// A new public request; `body` holds its start (maybe all of it when `fin`).
    Request {
        /// The stream to answer on.
        id: StreamId,
        /// Method, path, headers.
        head: RequestHead,
        /// First body bytes.
        body: Vec<u8>,
        /// True when the body is complete.
        fin: bool,
        /// Where the whole body is to be fetched instead (then `body` is empty and
        /// `fin` true); only where the session offered `body_urls`.
        body_url: Option<String>,
        /// Where a large answer's body may be put, for
        /// [`ClientSession::respond_stored`]; only where the session offered
        /// `body_urls` and the server gave one.
        answer_url: Option<String>,
    },
    /// More request body.
    RequestBody {
        /// The stream.
        id: StreamId,
        /// The bytes.
        data: Vec<u8>,
        /// True on the last piece.
        fin: bool,
    },
    /// The public client went away; drop the exchange.
    Cancelled {
        /// The stream.
        id: StreamId,
    },
    /// The session is over; the driver should close the socket and maybe reconnect.
    Closed(CloseReason),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The server refused or ended the session.
    #[error("server: {message}")]
    Server {
        /// Its reason.
        code: ErrorCode,
        /// Its words.
        message: String,
    },
    /// Nothing arrived within the idle timeout.
    #[error("no word from the server for {0:?}")]
    IdleTimeout(Duration),
    /// The server broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The driver closed it.
    #[error("closed locally")]
    Local,
    /// The connection reached the age the server asked to renew at, with nothing in
    /// flight: reconnect right away.
    #[error("renewing the connection ahead of its age cap")]
    Renew,
}
