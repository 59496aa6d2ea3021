//! The session's streams as the server opens and feeds them: REQUEST opens one
//! (checked against the limits and what the session offered), BODY carries the
//! request body on, CREDIT lets held response chunks go. Answering them is
//! `respond.rs`.

use std::collections::VecDeque;

use crate::protocol::limits::MAX_CONCURRENT_STREAMS;
use crate::protocol::{BodyChunk, ChunkReader, ChunkWriter, ClientFrame, StreamId, check_head};

use super::upgrade::is_upgrade_request;
use super::{ClientSession, Event, RequestHead, State};

#[derive(Debug)]
pub(super) struct Stream {
    pub(super) request: ChunkReader,
    pub(super) response_started: bool,
    pub(super) response: ChunkWriter,
    pub(super) reply_to: Option<String>,
    pub(super) secret: Option<String>,
    /// Chunks numbered below this may be sent; `None` without flow control.
    pub(super) credit: Option<u32>,
    /// Chunks waiting for credit, in order.
    pub(super) held: VecDeque<BodyChunk>,
    /// The request asks to upgrade (an `Upgrade` header) and the session offered
    /// upgrades, so a 101 may answer it.
    pub(super) upgrade_requested: bool,
    /// Answered 101: both bodies are now the upgraded byte stream.
    pub(super) upgraded: bool,
    /// The server gave a place for the answer's body (and the session offered it).
    pub(super) storable: bool,
}

impl Stream {
    /// The exchange is over once the whole answer has gone out, whether or not the
    /// request body has ended: an origin that answered early (a 401 or 413 before
    /// the upload is through) wants no more of it, and the server stops sending it.
    /// Request chunks that were already on their way are late and dropped.
    pub(super) fn done(&self) -> bool {
        self.response.is_finished() && self.held.is_empty()
    }
}

/// REQUEST's body and answer URLs.
#[derive(Debug)]
pub(super) struct Urls {
    pub(super) body: Option<String>,
    pub(super) answer: Option<String>,
}

impl ClientSession {
    pub(super) fn on_request(
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

    pub(super) fn on_body(&mut self, chunk: BodyChunk) {
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

    pub(super) fn on_credit(&mut self, id: StreamId, up_to: u32) {
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
}
