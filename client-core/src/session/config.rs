//! A session's settings.

use std::time::Duration;

use crate::protocol::limits::{IDLE_TIMEOUT, KEEPALIVE_INTERVAL};

#[cfg(doc)]
use super::{ClientSession, Event};

/// Settings of one session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The tunnel this session serves.
    pub tunnel_id: String,
    /// Send PING after this long without hearing from the server.
    pub keepalive_interval: Duration,
    /// Give up on the connection after this long without hearing from the server.
    pub idle_timeout: Duration,
    /// Largest request body accepted from the server, in bytes.
    pub max_request_body: u64,
    /// Ask for binary BODY frames. A server that cannot carry them (API Gateway)
    /// leaves them off and the session stays all JSON.
    pub binary: bool,
    /// This tunnel was served on an earlier connection (sent in CONNECT).
    pub resume: bool,
    /// The driver can carry HTTP upgrades (WebSocket) to the origin (sent in CONNECT).
    pub upgrade: bool,
    /// The driver fetches request bodies and puts large response bodies by URL
    /// (sent in CONNECT as `body_urls`): it acts on [`Event::Request`]'s `body_url`
    /// and may answer with [`ClientSession::respond_stored`].
    pub body_urls: bool,
    /// Measure the round trip to the server this often with a PING, traffic or not
    /// (see [`ClientSession::latency`]); `None` measures only the keepalive PINGs.
    /// Each probe costs the server a frame (on AWS, an invocation), so only a
    /// driver that shows the figure asks for it.
    pub latency_probe: Option<Duration>,
}

impl SessionConfig {
    /// Defaults from the protocol limits for `tunnel_id`.
    pub fn new(tunnel_id: impl Into<String>) -> Self {
        Self {
            tunnel_id: tunnel_id.into(),
            keepalive_interval: KEEPALIVE_INTERVAL,
            idle_timeout: IDLE_TIMEOUT,
            max_request_body: u64::MAX,
            binary: true,
            resume: false,
            upgrade: true,
            body_urls: false,
            latency_probe: None,
        }
    }
}
