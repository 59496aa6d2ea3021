//! The server half of one proxied exchange as a deterministic state machine, the
//! counterpart of the client's `client_core::session::ClientSession`.
//!
//! It owns no socket, no channel and no clock. A driver (the local stack's ingress,
//! tunnel-proxy on AWS) feeds it what the client answers ([`Exchange::handle_answer`]),
//! what the public side does ([`Exchange::handle_public_body`] on an upgraded stream,
//! [`Exchange::handle_public_gone`]), how the upload ended
//! ([`Exchange::handle_upload_end`]) and the passing of time
//! ([`Exchange::handle_timeout`]); it drains frames for the client
//! ([`Exchange::poll_transmit`]: CREDIT, CANCEL, request-side BODY), things for the
//! public client ([`Exchange::poll_event`]) and when to wake it
//! ([`Exchange::poll_timeout`]). Time is a [`Duration`] since any origin the driver
//! picks, so the tests run on a virtual clock.
//!
//! The states: waiting for the head → streaming the body (chunks released in order,
//! held and reordered where the transport reorders them) → done; or, after a 101,
//! upgraded: raw bytes both ways until both ends close. Any failure ends in
//! [`Event::Failed`] with an [`ExchangeError`], which names its [`Refusal`] page
//! (before the head went out) and its log outcome.
//!
//! [`Refusal`]: crate::handlers::admission::Refusal

mod error;
mod upload;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use client_core::protocol::{BodyChunk, ChunkWriter, ErrorFrame, Headers, ServerFrame, StreamId};
use client_core::session::SWITCHING_PROTOCOLS;

pub use error::{ExchangeError, Violation};
pub use upload::UploadStream;

/// Early chunks held while a missing one is awaited where the transport reorders
/// (AWS: each client message is its own invocation); more is a loss, not a race.
pub const REORDER_WINDOW: usize = 64;

/// The client's part of an exchange, as its frames deliver it.
#[derive(Debug)]
pub enum Answer {
    /// A RESPONSE frame.
    Head {
        /// Status.
        status: u16,
        /// Headers.
        headers: Headers,
        /// Inline body.
        body: Vec<u8>,
        /// No BODY frames follow.
        fin: bool,
    },
    /// A BODY frame.
    Body(BodyChunk),
    /// An ERROR frame for this stream.
    Error(ErrorFrame),
    /// A RESPONSE whose body the client put at the REQUEST's `answer_url`.
    Stored {
        /// Status.
        status: u16,
        /// Headers.
        headers: Headers,
    },
}

impl Answer {
    /// The answer a RESPONSE frame's fields are, for both deployments' drivers: a
    /// `stored` one names its head only (its body is at the `answer_url`; an inline
    /// body or `fin` beside it mean nothing).
    pub fn response(status: u16, headers: Headers, body: Vec<u8>, fin: bool, stored: bool) -> Self {
        if stored {
            Self::Stored { status, headers }
        } else {
            Self::Head {
                status,
                headers,
                body,
                fin,
            }
        }
    }
}

/// How one deployment runs its exchanges.
#[derive(Debug, Clone)]
pub struct ExchangeConfig {
    /// Largest chunk the server advertised in CONNECTED; a bigger one breaks the
    /// protocol. Request-side chunks of an upgraded stream are cut at it.
    pub max_chunk: usize,
    /// Response chunks the client may send ahead of CREDIT; 0: no credit (a
    /// transport with its own backpressure).
    pub window: u32,
    /// Early chunks held for reordering; 0: chunks must arrive in order.
    pub reorder: usize,
    /// How long the client may take to start answering.
    pub response_timeout: Duration,
    /// How long the client may go silent mid-body; `None`: no bound (the public
    /// client going away ends it).
    pub body_timeout: Option<Duration>,
    /// How long an upgraded stream may carry nothing either way.
    pub upgrade_idle: Duration,
}

/// Something for the public side.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The answer's head, with its first bytes; `fin` when nothing follows.
    Head {
        /// Status, 100..=999.
        status: u16,
        /// Headers as the client sent them.
        headers: Headers,
        /// Inline body.
        body: Vec<u8>,
        /// True when the exchange is complete.
        fin: bool,
    },
    /// The answer's head, its body stored whole where the REQUEST's `answer_url`
    /// put it (the driver reads it from there): the exchange is complete.
    Stored {
        /// Status, 100..=999, not 101.
        status: u16,
        /// Headers as the client sent them.
        headers: Headers,
    },
    /// The origin switched protocols (101): from now on raw bytes both ways.
    Upgraded {
        /// Headers as the client sent them.
        headers: Headers,
        /// The origin's first bytes.
        body: Vec<u8>,
    },
    /// More of the answer's body (or the origin's bytes, upgraded), in order.
    Body {
        /// The bytes.
        data: Vec<u8>,
        /// True on the last piece: the exchange is complete (upgraded: the origin
        /// closed, and the public side is closed too).
        fin: bool,
    },
    /// The exchange ended early; nothing else follows.
    Failed(ExchangeError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingHead,
    Body,
    Upgraded,
    Done,
    Failed,
}

/// How the upload beside the answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadState {
    /// None runs (the body went whole with the head), or it ended well.
    Finished,
    /// It still runs.
    Running,
    /// The exchange ended first: the driver stops it, the client heard CANCEL.
    Cut,
}

/// How an upload ended, for [`Exchange::handle_upload_end`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadEnd {
    /// Every byte was sent.
    Finished,
    /// It stopped early.
    Failed(ExchangeError),
}

/// One exchange's protocol state on the server.
#[derive(Debug)]
pub struct Exchange {
    id: StreamId,
    config: ExchangeConfig,
    phase: Phase,
    upgrade_asked: bool,
    /// The REQUEST carried an `answer_url`: a stored answer is allowed.
    answer_url: bool,
    upload: UploadState,
    /// When the answer (or its next part) is due; the idle deadline when upgraded.
    deadline: Option<Duration>,
    head: Option<Event>,
    next_seq: u32,
    pending: BTreeMap<u32, BodyChunk>,
    released: u32,
    /// The request side of an upgrade: closed at once when the origin declines, the
    /// public client's bytes once it switched.
    request: ChunkWriter,
    public_done: bool,
    cancel_sent: bool,
    transmit: VecDeque<ServerFrame>,
    events: VecDeque<Event>,
}

impl Exchange {
    /// Stream `id`, whose REQUEST went out at `now`. `upload` when BODY chunks of
    /// the request follow from a task beside it; `upgrade_asked` when the request
    /// asked the origin to switch protocols (its request side then stays open).
    pub fn new(
        id: StreamId,
        config: ExchangeConfig,
        upload: bool,
        upgrade_asked: bool,
        now: Duration,
    ) -> Self {
        let deadline = Some(now + config.response_timeout);
        Self {
            id,
            config,
            phase: Phase::AwaitingHead,
            upgrade_asked,
            answer_url: false,
            upload: if upload {
                UploadState::Running
            } else {
                UploadState::Finished
            },
            deadline,
            head: None,
            next_seq: 0,
            pending: BTreeMap::new(),
            released: 0,
            request: ChunkWriter::new(),
            public_done: false,
            cancel_sent: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The REQUEST carried an `answer_url`: the client may answer with its body
    /// stored there ([`Answer::Stored`]).
    pub fn offer_answer_url(&mut self) {
        self.answer_url = true;
    }

    /// The stream.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// True once the exchange is over, well or not.
    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed)
    }

    /// True while the answer's head is awaited.
    pub fn awaits_head(&self) -> bool {
        self.phase == Phase::AwaitingHead
    }

    /// True once the request side of an upgraded stream is closed (the public client
    /// closed, or the origin did and the public side went with it): nothing more is
    /// read from the public client.
    pub fn public_closed(&self) -> bool {
        self.public_done
    }

    /// True when the upload must stop: the exchange ended before it did.
    pub fn upload_cut(&self) -> bool {
        self.upload == UploadState::Cut
    }

    /// A part of the client's answer, at `now`.
    pub fn handle_answer(&mut self, answer: Answer, now: Duration) {
        if self.is_over() {
            // Late parts of an exchange already ended (a CANCEL crossing them).
            return;
        }
        let placed = match answer {
            Answer::Head {
                status,
                headers,
                body,
                fin,
            } => self.head(status, headers, body, fin),
            Answer::Body(chunk) => self.chunk(chunk),
            Answer::Error(e) => Err(ExchangeError::Origin(e)),
            Answer::Stored { status, headers } => self.stored(status, headers),
        };
        match placed {
            Ok(()) => {
                self.release();
                self.touch(now);
            }
            Err(e) => self.fail(e),
        }
    }

    /// Bytes from the public client of an upgraded stream (`fin`: it closed), at
    /// `now`. Ignored in any other state: a plain request's body goes through the
    /// [`UploadStream`].
    pub fn handle_public_body(&mut self, data: &[u8], fin: bool, now: Duration) {
        if self.phase != Phase::Upgraded || self.public_done {
            return;
        }
        self.public_done = fin;
        let chunks = self
            .request
            .write(self.id, data, fin, self.config.max_chunk);
        self.transmit
            .extend(chunks.into_iter().map(ServerFrame::Body));
        self.touch(now);
        self.complete_upgrade();
    }

    /// The public client went away: the client stops working on the exchange.
    pub fn handle_public_gone(&mut self) {
        if !self.is_over() {
            self.fail(ExchangeError::PublicGone);
        }
    }

    /// The client's connection closed (its answers can no longer come).
    pub fn handle_tunnel_gone(&mut self) {
        if !self.is_over() {
            self.fail(ExchangeError::Disconnected);
        }
    }

    /// How the upload beside the answer ended. A failure ends the exchange.
    pub fn handle_upload_end(&mut self, end: UploadEnd) {
        if self.upload != UploadState::Running {
            return;
        }
        match end {
            UploadEnd::Finished => self.upload = UploadState::Finished,
            UploadEnd::Failed(e) => {
                self.upload = UploadState::Finished;
                if !self.is_over() {
                    self.fail(e);
                }
            }
        }
    }

    /// When [`Self::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_over() { None } else { self.deadline }
    }

    /// Time passed: at or past the deadline the exchange fails.
    pub fn handle_timeout(&mut self, now: Duration) {
        let Some(due) = self.poll_timeout() else {
            return;
        };
        if now < due {
            return;
        }
        let e = match self.phase {
            Phase::AwaitingHead => ExchangeError::Timeout {
                secs: self.config.response_timeout.as_secs(),
            },
            Phase::Upgraded => ExchangeError::UpgradeIdle {
                secs: self.config.upgrade_idle.as_secs(),
            },
            _ => ExchangeError::Timeout {
                secs: self.config.body_timeout.unwrap_or_default().as_secs(),
            },
        };
        self.fail(e);
    }

    /// The next frame for the client.
    pub fn poll_transmit(&mut self) -> Option<ServerFrame> {
        self.transmit.pop_front()
    }

    /// The next thing for the public side.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn head(
        &mut self,
        status: u16,
        headers: Headers,
        body: Vec<u8>,
        fin: bool,
    ) -> Result<(), ExchangeError> {
        if self.phase != Phase::AwaitingHead || self.head.is_some() {
            return Err(ExchangeError::Broken(Violation::SecondHead));
        }
        if !(100..=999).contains(&status) {
            return Err(ExchangeError::Broken(Violation::InvalidStatus(status)));
        }
        if status == SWITCHING_PROTOCOLS {
            if !self.upgrade_asked || fin {
                return Err(ExchangeError::Broken(Violation::UnaskedSwitch));
            }
            self.head = Some(Event::Upgraded { headers, body });
            return Ok(());
        }
        self.head = Some(Event::Head {
            status,
            headers,
            body,
            fin,
        });
        Ok(())
    }

    /// A head whose body is stored: complete, like a `fin` head with no body.
    fn stored(&mut self, status: u16, headers: Headers) -> Result<(), ExchangeError> {
        if !self.answer_url {
            return Err(ExchangeError::Broken(Violation::UnofferedStore));
        }
        if self.phase != Phase::AwaitingHead || self.head.is_some() {
            return Err(ExchangeError::Broken(Violation::SecondHead));
        }
        if !(100..=999).contains(&status) {
            return Err(ExchangeError::Broken(Violation::InvalidStatus(status)));
        }
        if status == SWITCHING_PROTOCOLS {
            return Err(ExchangeError::Broken(Violation::UnaskedSwitch));
        }
        self.head = Some(Event::Stored { status, headers });
        Ok(())
    }

    fn chunk(&mut self, chunk: BodyChunk) -> Result<(), ExchangeError> {
        let broken = |v| Err(ExchangeError::Broken(v));
        if chunk.data.len() > self.config.max_chunk {
            return broken(Violation::Oversized {
                len: chunk.data.len(),
                max: self.config.max_chunk,
            });
        }
        let strict = self.config.reorder == 0;
        if self.phase == Phase::AwaitingHead && self.head.is_none() && strict {
            return broken(Violation::BodyBeforeHead);
        }
        if chunk.seq < self.next_seq || self.pending.contains_key(&chunk.seq) {
            return broken(Violation::Duplicate(chunk.seq));
        }
        if strict && chunk.seq != self.next_seq {
            return broken(Violation::OutOfOrder {
                expected: self.next_seq,
                got: chunk.seq,
            });
        }
        // Held, not released at once: counted against the reorder window.
        let early = chunk.seq != self.next_seq || self.phase == Phase::AwaitingHead;
        if !early {
            // The common case, in order: straight out, nothing held.
            self.deliver(chunk);
            return Ok(());
        }
        if self.pending.len() >= self.config.reorder {
            return broken(Violation::WindowExceeded(self.config.reorder));
        }
        self.pending.insert(chunk.seq, chunk);
        Ok(())
    }

    /// Moves what is in order from the held parts to the events.
    fn release(&mut self) {
        if self.phase == Phase::AwaitingHead {
            let Some(head) = self.head.take() else {
                return;
            };
            match &head {
                Event::Upgraded { .. } => self.phase = Phase::Upgraded,
                Event::Head { .. } | Event::Stored { .. } => {
                    let fin = matches!(head, Event::Head { fin: true, .. } | Event::Stored { .. });
                    if self.upgrade_asked {
                        // The origin declined the upgrade: close the request side
                        // left open for it.
                        self.public_done = true;
                        let close = self.request.write(self.id, &[], true, 1);
                        self.transmit
                            .extend(close.into_iter().map(ServerFrame::Body));
                    }
                    self.phase = if fin { Phase::Done } else { Phase::Body };
                }
                Event::Body { .. } | Event::Failed(_) => {}
            }
            self.events.push_back(head);
            if self.phase == Phase::Done {
                self.finish();
                return;
            }
        }
        while let Some(chunk) = self.pending.remove(&self.next_seq) {
            if self.deliver(chunk) {
                return;
            }
        }
    }

    /// Releases the next chunk in order; true when it was the last.
    fn deliver(&mut self, chunk: BodyChunk) -> bool {
        self.next_seq += 1;
        let fin = chunk.fin;
        if fin && !self.pending.is_empty() {
            // Chunks past the last: the answer is broken, and the public side must
            // not be told it is complete first (nothing may follow a finished body).
            self.fail(ExchangeError::Broken(Violation::AfterFin));
            return true;
        }
        self.events.push_back(Event::Body {
            data: chunk.data,
            fin,
        });
        self.credit();
        if !fin {
            return false;
        }
        if self.phase == Phase::Upgraded {
            self.close_public_side();
        } else {
            self.phase = Phase::Done;
            self.finish();
        }
        true
    }

    /// Every half window, room for a whole window past what was released, so the
    /// client rarely waits.
    fn credit(&mut self) {
        self.released += 1;
        let window = self.config.window;
        if window == 0 || self.phase == Phase::Upgraded {
            return;
        }
        if self.released.is_multiple_of((window / 2).max(1)) {
            self.transmit.push_back(ServerFrame::Credit {
                id: self.id,
                up_to: self.released + window,
            });
        }
    }

    /// The origin closed an upgraded stream; a tunnel cannot tell that from a
    /// half-close, and a WebSocket has no use for one, so the public side ends too.
    fn close_public_side(&mut self) {
        self.next_seq = u32::MAX;
        if !self.public_done {
            self.public_done = true;
            let close = self.request.write(self.id, &[], true, 1);
            self.transmit
                .extend(close.into_iter().map(ServerFrame::Body));
        }
        self.complete_upgrade();
    }

    fn complete_upgrade(&mut self) {
        if self.public_done && self.next_seq == u32::MAX {
            self.phase = Phase::Done;
            self.finish();
        }
    }

    /// The exchange completed; an upload still running is cut, and the client told.
    fn finish(&mut self) {
        if self.upload == UploadState::Running {
            self.upload = UploadState::Cut;
            self.cancel();
        }
    }

    fn fail(&mut self, e: ExchangeError) {
        self.phase = Phase::Failed;
        // A client still waiting for the rest of the request body must hear it ends.
        let cut = self.upload == UploadState::Running;
        if cut {
            self.upload = UploadState::Cut;
        }
        if cut || e.cancels() {
            self.cancel();
        }
        self.head = None;
        self.pending.clear();
        self.events.push_back(Event::Failed(e));
    }

    fn cancel(&mut self) {
        if !self.cancel_sent {
            self.cancel_sent = true;
            self.transmit.push_back(ServerFrame::Cancel { id: self.id });
        }
    }

    /// Something arrived: the next deadline counts from now.
    fn touch(&mut self, now: Duration) {
        self.deadline = match self.phase {
            Phase::AwaitingHead => self.deadline,
            Phase::Body => self.config.body_timeout.map(|t| now + t),
            Phase::Upgraded => Some(now + self.config.upgrade_idle),
            Phase::Done | Phase::Failed => None,
        };
    }
}
