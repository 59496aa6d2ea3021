//! The driver's answers: a response head (maybe a 101) with the start of its body,
//! one whose body was stored by URL, more body under the server's CREDIT, or giving
//! up on a stream.

use crate::protocol::limits::MAX_UPGRADED_STREAMS;
use crate::protocol::{ClientFrame, ErrorCode, ErrorFrame, Headers, StreamId, check_head};

use super::stream::Stream;
use super::upgrade::SWITCHING_PROTOCOLS;
use super::{ClientSession, CommandError};

impl ClientSession {
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
}
