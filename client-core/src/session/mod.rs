//! The client side of one tunnel session as a deterministic state machine.
//!
//! It owns no socket and no clock. A driver feeds it what arrives
//! ([`ClientSession::handle_message`]) and the passing of time
//! ([`ClientSession::handle_timeout`]), gives it commands (answer a request, fail one),
//! and drains what it wants done: messages to send ([`ClientSession::poll_transmit`]),
//! things that happened ([`ClientSession::poll_event`]) and when to wake it next
//! ([`ClientSession::poll_timeout`]). Time is a [`Duration`] since any fixed origin the
//! driver picks, so tests run on a virtual clock.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::protocol::limits::{
    IDLE_TIMEOUT, KEEPALIVE_INTERVAL, MAX_CHUNK_BYTES, MAX_CONCURRENT_STREAMS,
    MAX_UPGRADED_STREAMS, MIN_CHUNK_BYTES, PROTOCOL_VERSION, RECONNECT_INITIAL, RECONNECT_MAX,
    RELEASE_GRACE,
};
use crate::protocol::{
    BodyChunk, ChunkReader, ChunkWriter, ClientFrame, CodecError, ErrorCode, ErrorFrame, HeadError,
    Headers, Message, ServerFrame, StreamId, check_head, decode, decode_binary_body, encode,
    encode_binary_body,
};

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

/// A command that does not fit the session's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such stream is open (finished, cancelled or never seen).
    #[error("stream {0} is not open")]
    UnknownStream(StreamId),
    /// The response was already started, or finished.
    #[error("stream {0}: response already {1}")]
    WrongState(StreamId, &'static str),
    /// A 101 answer to a request that did not ask to upgrade, or from a session
    /// that did not offer upgrades in CONNECT.
    #[error("stream {0}: 101 Switching Protocols answers only an upgrade request")]
    NotAnUpgrade(StreamId),
    /// The session already carries [`MAX_UPGRADED_STREAMS`] upgraded streams.
    #[error("stream {0}: more than {MAX_UPGRADED_STREAMS} upgraded streams at once")]
    TooManyUpgrades(StreamId),
    /// [`ClientSession::respond_stored`] for a request that came with no
    /// `answer_url`, or a 101.
    #[error("stream {0}: no place to store this answer's body")]
    NotStorable(StreamId),
    /// The response head breaks a limit.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// An encoded frame would not fit in a message.
    #[error(transparent)]
    Codec(#[from] CodecErrorText),
}

/// A codec error kept as text so that [`CommandError`] stays `Clone` and `Eq`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecErrorText(String);

impl From<CodecError> for CommandError {
    fn from(e: CodecError) -> Self {
        CommandError::Codec(CodecErrorText(e.to_string()))
    }
}

#[derive(Debug)]
enum State {
    Handshaking,
    Live(Connected),
    Closed,
}

#[derive(Debug)]
struct Stream {
    request: ChunkReader,
    response_started: bool,
    response: ChunkWriter,
    reply_to: Option<String>,
    secret: Option<String>,
    /// Chunks numbered below this may be sent; `None` without flow control.
    credit: Option<u32>,
    /// Chunks waiting for credit, in order.
    held: VecDeque<BodyChunk>,
    /// The request asks to upgrade (an `Upgrade` header) and the session offered
    /// upgrades, so a 101 may answer it.
    upgrade_requested: bool,
    /// Answered 101: both bodies are now the upgraded byte stream.
    upgraded: bool,
    /// The server gave a place for the answer's body (and the session offered it).
    storable: bool,
}

impl Stream {
    /// The exchange is over once the whole answer has gone out, whether or not the
    /// request body has ended: an origin that answered early (a 401 or 413 before
    /// the upload is through) wants no more of it, and the server stops sending it.
    /// Request chunks that were already on their way are late and dropped.
    fn done(&self) -> bool {
        self.response.is_finished() && self.held.is_empty()
    }
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

    /// Upgraded (101) streams open now.
    pub fn upgraded_streams(&self) -> usize {
        self.streams.values().filter(|s| s.upgraded).count()
    }

    /// Whether `id` was answered 101 and now carries an upgraded byte stream.
    pub fn is_upgraded(&self, id: StreamId) -> bool {
        self.streams.get(&id).is_some_and(|s| s.upgraded)
    }

    /// The round trip to the server, from the last PING answered (a keepalive, or a
    /// probe every [`SessionConfig::latency_probe`]); `None` before the first.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
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

    fn on_request(
        &mut self,
        id: StreamId,
        head: RequestHead,
        body: Vec<u8>,
        fin: bool,
        (reply_to, secret): (Option<String>, Option<String>),
        urls: Urls,
    ) {
        if !matches!(self.state, State::Live(_)) {
            return self.violation("REQUEST before CONNECTED".into());
        }
        if self.streams.contains_key(&id) {
            return self.violation(format!("REQUEST reuses open stream {id}"));
        }
        if self.streams.len() >= MAX_CONCURRENT_STREAMS {
            return self.violation(format!(
                "more than {MAX_CONCURRENT_STREAMS} concurrent requests"
            ));
        }
        if let Err(e) = check_head(id, &head.path, &head.headers) {
            return self.violation(e.to_string());
        }
        if urls.body.is_some() && !self.config.body_urls {
            return self.violation(format!(
                "REQUEST {id} has a body_url this client did not offer"
            ));
        }
        if urls.body.is_some() && !(fin && body.is_empty()) {
            return self.violation(format!("REQUEST {id} has a body_url and a body"));
        }
        // Sent to every client by a server that offers it: one that did not set
        // `body_urls` answers with chunks, as before.
        let answer_url = urls.answer.filter(|_| self.config.body_urls);
        let mut request = if fin {
            ChunkReader::finished()
        } else {
            ChunkReader::new()
        };
        if let Err(e) = request.count(id, body.len(), self.config.max_request_body) {
            return self.violation(e.to_string());
        }
        let window = self.connected().map_or(0, |c| c.window);
        let upgrade_requested = self.config.upgrade && is_upgrade_request(&head.headers);
        self.streams.insert(
            id,
            Stream {
                request,
                response_started: false,
                response: ChunkWriter::new(),
                reply_to,
                secret,
                credit: (window > 0).then_some(window),
                held: VecDeque::new(),
                upgrade_requested,
                upgraded: false,
                storable: answer_url.is_some(),
            },
        );
        self.events.push_back(Event::Request {
            id,
            head,
            body,
            fin,
            body_url: urls.body,
            answer_url,
        });
    }

    fn on_body(&mut self, chunk: BodyChunk) {
        let max = self.config.max_request_body;
        // Chunks for a stream we dropped (cancelled, failed, or answered in full
        // before its upload ended) are late, not wrong.
        let Some(stream) = self.streams.get_mut(&chunk.id) else {
            return;
        };
        if let Err(e) = stream.request.accept(&chunk, max) {
            return self.violation(e.to_string());
        }
        let (id, fin) = (chunk.id, chunk.fin);
        self.events.push_back(Event::RequestBody {
            id,
            data: chunk.data,
            fin,
        });
        self.reap(id);
    }

    fn on_credit(&mut self, id: StreamId, up_to: u32) {
        // Credit for a finished or cancelled stream is late, not wrong.
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let credit = stream.credit.map_or(up_to, |c| c.max(up_to));
        stream.credit = Some(credit);
        let mut ready = Vec::new();
        while stream.held.front().is_some_and(|c| c.seq < credit) {
            ready.extend(stream.held.pop_front());
        }
        for chunk in ready {
            self.queue(&ClientFrame::Body(chunk));
        }
        self.reap(id);
    }

    /// Response body bytes of `id` waiting for CREDIT. A driver stops reading the
    /// origin while this is large, so memory stays bounded.
    pub fn held_bytes(&self, id: StreamId) -> usize {
        self.streams
            .get(&id)
            .map_or(0, |s| s.held.iter().map(|c| c.data.len()).sum())
    }

    /// Response body bytes of all streams waiting for CREDIT.
    pub fn held_total(&self) -> usize {
        self.streams
            .values()
            .flat_map(|s| s.held.iter())
            .map(|c| c.data.len())
            .sum()
    }

    /// Starts the response to `id` with its status and headers, and as much of the
    /// body as is at hand. `fin` says whether that is all of it.
    pub fn respond(
        &mut self,
        id: StreamId,
        status: u16,
        headers: Headers,
        body: &[u8],
        fin: bool,
    ) -> Result<(), CommandError> {
        let max_chunk = self.max_chunk();
        let upgraded_now = self.upgraded_streams();
        let stream = self.unanswered(id)?;
        check_head(id, "", &headers)?;
        if status == SWITCHING_PROTOCOLS {
            if !stream.upgrade_requested {
                return Err(CommandError::NotAnUpgrade(id));
            }
            if upgraded_now >= MAX_UPGRADED_STREAMS {
                return Err(CommandError::TooManyUpgrades(id));
            }
            stream.upgraded = true;
        }
        stream.response_started = true;
        let (inline, rest) = body.split_at(body.len().min(max_chunk));
        let head_fin = fin && rest.is_empty();
        let frame = ClientFrame::Response {
            id,
            status,
            headers,
            body: inline.to_vec(),
            fin: head_fin,
            stored: false,
            reply_to: stream.reply_to.clone(),
            secret: stream.secret.clone(),
        };
        if head_fin {
            stream.response.mark_finished();
        }
        self.queue_checked(&frame)?;
        if !rest.is_empty() {
            self.send_body(id, rest, fin)?;
        }
        self.reap(id);
        Ok(())
    }

    /// Answers `id` with status and headers whose body the driver has put, whole, at
    /// the request's `answer_url`: RESPONSE with `stored`, and nothing more.
    pub fn respond_stored(
        &mut self,
        id: StreamId,
        status: u16,
        headers: Headers,
    ) -> Result<(), CommandError> {
        let stream = self.unanswered(id)?;
        if !stream.storable || status == SWITCHING_PROTOCOLS {
            return Err(CommandError::NotStorable(id));
        }
        check_head(id, "", &headers)?;
        stream.response_started = true;
        stream.response.mark_finished();
        let frame = ClientFrame::Response {
            id,
            status,
            headers,
            body: Vec::new(),
            fin: true,
            stored: true,
            reply_to: stream.reply_to.clone(),
            secret: stream.secret.clone(),
        };
        self.queue_checked(&frame)?;
        self.reap(id);
        Ok(())
    }

    /// The stream `id`, while no answer to it has started: both ways of answering
    /// (`respond`, `respond_stored`) begin here.
    fn unanswered(&mut self, id: StreamId) -> Result<&mut Stream, CommandError> {
        let stream = self
            .streams
            .get_mut(&id)
            .ok_or(CommandError::UnknownStream(id))?;
        if stream.response_started {
            return Err(CommandError::WrongState(id, "started"));
        }
        Ok(stream)
    }

    /// Sends more of the response body of `id`; `fin` ends it.
    pub fn send_body(&mut self, id: StreamId, data: &[u8], fin: bool) -> Result<(), CommandError> {
        let max_chunk = self.max_chunk();
        let stream = self
            .streams
            .get_mut(&id)
            .ok_or(CommandError::UnknownStream(id))?;
        if !stream.response_started {
            return Err(CommandError::WrongState(id, "not started"));
        }
        if stream.response.is_finished() {
            return Err(CommandError::WrongState(id, "finished"));
        }
        let mut chunks = stream.response.write(id, data, fin, max_chunk);
        let mut ready = Vec::with_capacity(chunks.len());
        for mut chunk in chunks.drain(..) {
            chunk.reply_to.clone_from(&stream.reply_to);
            chunk.secret.clone_from(&stream.secret);
            let allowed = stream.held.is_empty() && stream.credit.is_none_or(|c| chunk.seq < c);
            if allowed {
                ready.push(chunk);
            } else {
                stream.held.push_back(chunk);
            }
        }
        for chunk in ready {
            self.queue_checked(&ClientFrame::Body(chunk))?;
        }
        self.reap(id);
        Ok(())
    }

    /// Gives up on `id`, telling the server why; it answers the public client.
    pub fn fail(
        &mut self,
        id: StreamId,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Result<(), CommandError> {
        let stream = self
            .streams
            .remove(&id)
            .ok_or(CommandError::UnknownStream(id))?;
        self.queue_checked(&ClientFrame::Error(ErrorFrame {
            id: Some(id),
            code,
            message: message.into(),
            reply_to: stream.reply_to,
            secret: stream.secret,
        }))?;
        self.reap(id);
        Ok(())
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

    /// Handles the passing of time: keep-alive and idle detection.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.is_closed() {
            return;
        }
        let silent = now.saturating_sub(self.last_heard);
        if silent >= self.config.idle_timeout {
            return self.close(CloseReason::IdleTimeout(silent));
        }
        // Renewal: RELEASE so no new request comes here, take what was already on its
        // way for a grace period, then end once the last stream is done.
        if self.renew_at.is_some_and(|at| now >= at) {
            self.renew_at = None;
            self.releasing = true;
            self.queue(&ClientFrame::Release {});
        }
        if self.released_at.is_some_and(|at| now >= at + RELEASE_GRACE) {
            self.released_at = None;
            self.renew_pending = true;
            if self.streams.is_empty() {
                return self.close(CloseReason::Renew);
            }
        }
        if silent >= self.config.keepalive_interval && self.ping_sent.is_none() {
            let nonce = self.ping(now);
            self.ping_sent = Some(nonce);
        } else if self.probe.is_none()
            && let Some(due) = self.next_probe
            && now >= due
        {
            self.ping(now);
        }
    }

    /// Sends a PING; the first one without an answer yet also measures the latency.
    fn ping(&mut self, now: Duration) -> u64 {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        if self.probe.is_none() {
            self.probe = Some((nonce, now));
            if let Some(every) = self.config.latency_probe {
                self.next_probe = Some(now + every);
            }
        }
        self.queue(&ClientFrame::Ping { nonce });
        nonce
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_closed() {
            return None;
        }
        let idle = self.last_heard + self.config.idle_timeout;
        let next = if self.ping_sent.is_some() {
            idle
        } else {
            idle.min(self.last_heard + self.config.keepalive_interval)
        };
        let next = self.renew_at.map_or(next, |at| next.min(at));
        let next = match self.next_probe {
            Some(due) if self.probe.is_none() => next.min(due),
            _ => next,
        };
        Some(
            self.released_at
                .map_or(next, |at| next.min(at + RELEASE_GRACE)),
        )
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

/// REQUEST's body and answer URLs.
#[derive(Debug)]
struct Urls {
    body: Option<String>,
    answer: Option<String>,
}

/// The status that turns a stream into an upgraded byte stream.
pub const SWITCHING_PROTOCOLS: u16 = 101;

/// Whether request headers ask to switch protocols: an `Upgrade` header and a
/// `Connection` header naming it, as RFC 9110 section 7.8 requires of an upgrade.
pub fn is_upgrade_request(headers: &Headers) -> bool {
    let has_upgrade = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("upgrade") && !v.trim().is_empty());
    let connection_names_it = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("connection")
            && v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    has_upgrade && connection_names_it
}

/// Delays between reconnect attempts: exponential, capped, with jitter so that many
/// clients dropped at once do not return at once.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(RECONNECT_INITIAL, RECONNECT_MAX)
    }
}

impl Backoff {
    /// Delays start near `initial` and never exceed `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt. `random` is any uniformly random value; the
    /// delay lies in the upper half of the current step ("equal jitter"), so it grows
    /// reliably while spreading clients apart.
    pub fn next_delay(&mut self, random: u64) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        let step = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        let span = (step - half).as_nanos().max(1) as u64;
        half + Duration::from_nanos(random % span)
    }

    /// Forget past failures: the next delay is short again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failed attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests;
