//! The client side of one tunnel session as a deterministic state machine.
//!
//! It owns no socket and no clock. A driver feeds it what arrives
//! ([`ClientSession::handle_message`]) and the passing of time
//! ([`ClientSession::handle_timeout`]), gives it commands (answer a request, fail one),
//! and drains what it wants done: messages to send ([`ClientSession::poll_transmit`]),
//! things that happened ([`ClientSession::poll_event`]) and when to wake it next
//! ([`ClientSession::poll_timeout`]). Time is a [`Duration`] since any fixed origin the
//! driver picks, so tests run on a virtual clock.
//!
//! # Layout
//!
//! One job a file; the public API is all re-exported here.
//!
//! - `mod.rs`: [`ClientSession`], the handshake (CONNECT, CONNECTED, stream frames
//!   that overtook it), the dispatch of server frames, the queues the driver drains.
//! - `config.rs`: [`SessionConfig`].
//! - `event.rs`: what the driver is told ([`Event`], [`Connected`], [`RequestHead`],
//!   [`CloseReason`]).
//! - `error.rs`: [`CommandError`], a command that does not fit.
//! - `stream.rs`: streams as the server opens and feeds them (REQUEST, BODY, CREDIT).
//! - `respond.rs`: the driver's answers (`respond`, `respond_stored`, `send_body`,
//!   `fail`).
//! - `upgrade.rs`: upgrade requests and 101 streams ([`is_upgrade_request`]).
//! - `timers.rs`: keepalive, idle timeout, renewal and the latency probe.
//! - `backoff.rs`: [`Backoff`] between reconnect attempts.
//! - `tests/`: the machine on a virtual clock, one file a subject (exchange,
//!   handshake, timers, credit, binary, upgrade, urls).

mod backoff;
mod config;
mod error;
mod event;
mod respond;
mod stream;
mod timers;
mod upgrade;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::protocol::limits::{MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, PROTOCOL_VERSION};
use crate::protocol::{
    ClientFrame, ErrorCode, ErrorFrame, Message, ServerFrame, StreamId, decode, decode_binary_body,
    encode, encode_binary_body,
};

pub use backoff::Backoff;
pub use config::SessionConfig;
pub use error::{CodecErrorText, CommandError};
pub use event::{CloseReason, Connected, Event, RequestHead};
use stream::{Stream, Urls};
pub use upgrade::{SWITCHING_PROTOCOLS, is_upgrade_request};

#[derive(Debug)]
enum State {
    Handshaking,
    Live(Connected),
    Closed,
}

/// One tunnel session, client side.
#[derive(Debug)]
pub struct ClientSession {
    config: SessionConfig,
    state: State,
    streams: HashMap<StreamId, Stream>,
    transmit: VecDeque<Message>,
    events: VecDeque<Event>,
    last_heard: Duration,
    ping_sent: Option<u64>,
    next_nonce: u64,
    /// The PING whose PONG measures the round trip: its nonce and when it left.
    /// Unlike `ping_sent`, any other frame does not clear it.
    probe: Option<(u64, Duration)>,
    /// When the next latency probe is due (with `latency_probe`, once live).
    next_probe: Option<Duration>,
    /// The last measured round trip.
    latency: Option<Duration>,
    /// When to renew the connection, once CONNECTED said so.
    renew_at: Option<Duration>,
    /// RELEASE was sent.
    releasing: bool,
    /// When RELEASED arrived; the session ends a grace period later, once idle.
    released_at: Option<Duration>,
    /// The grace is over and the session ends with the last open stream.
    renew_pending: bool,
    /// Stream frames that arrived before CONNECTED, delivered right after it.
    early: VecDeque<ServerFrame>,
}

/// Stream frames held while CONNECTED is on its way. The server makes a tunnel
/// routable as it binds the connection, so a public request can overtake CONNECTED
/// (on AWS the two are even sent by different invocations); more than this many
/// before CONNECTED is not a race but a broken server.
pub const MAX_EARLY_FRAMES: usize = 64;

impl ClientSession {
    /// A session at `now` that opens with CONNECT.
    pub fn new(config: SessionConfig, now: Duration) -> Self {
        let mut session = Self {
            state: State::Handshaking,
            streams: HashMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            last_heard: now,
            ping_sent: None,
            next_nonce: 1,
            probe: None,
            next_probe: None,
            latency: None,
            renew_at: None,
            releasing: false,
            released_at: None,
            renew_pending: false,
            early: VecDeque::new(),
            config,
        };
        session.queue(&ClientFrame::Connect {
            version: PROTOCOL_VERSION,
            tunnel_id: session.config.tunnel_id.clone(),
            binary: session.config.binary,
            resume: session.config.resume,
            upgrade: session.config.upgrade,
            body_urls: session.config.body_urls,
        });
        session
    }

    /// The live tunnel, once CONNECTED arrived.
    pub fn connected(&self) -> Option<&Connected> {
        match &self.state {
            State::Live(c) => Some(c),
            _ => None,
        }
    }

    /// True after the session ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Handles a message from the server.
    pub fn handle_message(&mut self, now: Duration, message: &Message) {
        let decoded = match message {
            // Only a session that asked for binary BODY frames reads them; the server
            // may send them from the moment CONNECT arrives, even ahead of CONNECTED.
            Message::Binary(bytes) if self.config.binary => {
                decode_binary_body(bytes).map(ServerFrame::Body)
            }
            _ => decode::<ServerFrame>(message),
        };
        match decoded {
            Ok(frame) => self.handle_frame(now, frame),
            Err(e) => self.violation(format!("undecodable message: {e}")),
        }
    }

    /// Handles a decoded frame from the server.
    pub fn handle_frame(&mut self, now: Duration, frame: ServerFrame) {
        if self.is_closed() {
            return;
        }
        self.last_heard = now;
        self.ping_sent = None;
        if matches!(self.state, State::Handshaking)
            && matches!(
                frame,
                ServerFrame::Request { .. }
                    | ServerFrame::Body(_)
                    | ServerFrame::Credit { .. }
                    | ServerFrame::Cancel { .. }
                    | ServerFrame::Error(ErrorFrame { id: Some(_), .. })
            )
        {
            if self.early.len() >= MAX_EARLY_FRAMES {
                return self.violation(format!(
                    "more than {MAX_EARLY_FRAMES} stream frames before CONNECTED"
                ));
            }
            self.early.push_back(frame);
            return;
        }
        match frame {
            ServerFrame::Connected {
                version,
                tunnel_id,
                domain,
                public_url,
                max_chunk,
                window,
                renew_after,
                binary,
            } => {
                let info = Connected {
                    tunnel_id,
                    domain,
                    public_url,
                    max_chunk,
                    window,
                    renew_after,
                    // Binary only if we asked: a server saying yes unasked is ignored.
                    binary: binary && self.config.binary,
                };
                self.on_connected(now, version, info);
            }
            ServerFrame::Request {
                id,
                method,
                path,
                headers,
                body,
                fin,
                reply_to,
                secret,
                body_url,
                answer_url,
            } => {
                let head = RequestHead {
                    method,
                    path,
                    headers,
                };
                let urls = Urls {
                    body: body_url,
                    answer: answer_url,
                };
                self.on_request(id, head, body, fin, (reply_to, secret), urls);
            }
            ServerFrame::Body(chunk) => self.on_body(chunk),
            ServerFrame::Credit { id, up_to } => self.on_credit(id, up_to),
            ServerFrame::Cancel { id } => {
                if self.streams.remove(&id).is_some() {
                    self.events.push_back(Event::Cancelled { id });
                    self.reap(id);
                }
            }
            ServerFrame::Error(ErrorFrame {
                id: None,
                code,
                message,
                ..
            }) => self.close(CloseReason::Server { code, message }),
            // A per-stream error from the server means it gave up on that exchange.
            ServerFrame::Error(ErrorFrame { id: Some(id), .. }) => {
                if self.streams.remove(&id).is_some() {
                    self.events.push_back(Event::Cancelled { id });
                }
            }
            ServerFrame::Ping { nonce } => self.queue(&ClientFrame::Pong { nonce }),
            ServerFrame::Pong { nonce } => {
                if let Some((sent, at)) = self.probe
                    && sent == nonce
                {
                    self.probe = None;
                    self.latency = Some(now.saturating_sub(at));
                }
            }
            ServerFrame::Released {} => {
                if self.releasing && self.released_at.is_none() {
                    self.released_at = Some(now);
                }
            }
        }
    }

    fn on_connected(&mut self, now: Duration, version: u16, info: Connected) {
        if !matches!(self.state, State::Handshaking) {
            return self.violation("CONNECTED twice".into());
        }
        if version != PROTOCOL_VERSION {
            return self.violation(format!(
                "server speaks version {version}, this client {PROTOCOL_VERSION}"
            ));
        }
        if info.tunnel_id != self.config.tunnel_id {
            return self.violation(format!("CONNECTED for another tunnel ({})", info.tunnel_id));
        }
        if !(MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&info.max_chunk) {
            return self.violation(format!("max_chunk {} out of range", info.max_chunk));
        }
        if info.renew_after > 0 {
            self.renew_at = Some(now + Duration::from_secs(info.renew_after.into()));
        }
        self.state = State::Live(info.clone());
        if self.config.latency_probe.is_some() {
            // The first figure as soon as the tunnel is live.
            self.next_probe = Some(now);
        }
        self.events.push_back(Event::Connected(info));
        while let Some(frame) = self.early.pop_front() {
            self.handle_frame(now, frame);
        }
    }

    /// Ends the session from this side.
    pub fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        self.streams.clear();
        self.events.push_back(Event::Closed(reason));
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmit.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn max_chunk(&self) -> usize {
        match &self.state {
            State::Live(c) => c.max_chunk,
            _ => MIN_CHUNK_BYTES,
        }
    }

    fn reap(&mut self, id: StreamId) {
        if self.streams.get(&id).is_some_and(Stream::done) {
            self.streams.remove(&id);
        }
        if self.renew_pending && self.streams.is_empty() {
            self.close(CloseReason::Renew);
        }
    }

    fn queue(&mut self, frame: &ClientFrame) {
        // Frames built here are small and well-formed; a failure is a bug worth seeing.
        if let Err(e) = self.queue_checked(frame) {
            self.violation(format!("cannot encode own frame: {e}"));
        }
    }

    fn queue_checked(&mut self, frame: &ClientFrame) -> Result<(), CommandError> {
        let message = match (frame, &self.state) {
            (ClientFrame::Body(chunk), State::Live(c)) if c.binary => {
                encode_binary_body(chunk).unwrap_or_else(|| encode(frame))?
            }
            _ => encode(frame)?,
        };
        self.transmit.push_back(message);
        Ok(())
    }

    fn violation(&mut self, message: String) {
        if self.is_closed() {
            return;
        }
        if let Ok(m) = encode(&ClientFrame::Error(ErrorFrame {
            id: None,
            code: ErrorCode::ProtocolViolation,
            message: message.clone(),
            reply_to: None,
            secret: None,
        })) {
            self.transmit.push_back(m);
        }
        self.close(CloseReason::Protocol(message));
    }
}

#[cfg(test)]
mod tests;
