//! The request body's way to the client: the bytes after the head, cut into BODY
//! chunks, counted against the deployment's limit.
//!
//! Both drivers run the upload beside the answer (a task of its own), so it is a
//! machine of its own; how it ends is told to the [`super::Exchange`]
//! ([`super::Exchange::handle_upload_end`]), which decides whether the client must
//! hear CANCEL.

use std::collections::VecDeque;

use client_core::protocol::{ChunkWriter, ServerFrame, StreamId};

use super::ExchangeError;

/// The rest of one request body after its head.
#[derive(Debug)]
pub struct UploadStream {
    id: StreamId,
    max_body: u64,
    max_chunk: usize,
    sent: u64,
    writer: ChunkWriter,
    transmit: VecDeque<ServerFrame>,
}

impl UploadStream {
    /// The upload of stream `id`, whose head carried `sent` bytes of a body that may
    /// total `max_body`, in chunks of at most `max_chunk`.
    pub fn new(id: StreamId, sent: u64, max_body: u64, max_chunk: usize) -> Self {
        Self {
            id,
            max_body,
            max_chunk,
            sent,
            writer: ChunkWriter::new(),
            transmit: VecDeque::new(),
        }
    }

    /// More body from the public client; `fin` on its end. Past the limit nothing is
    /// queued and the upload is over ([`ExchangeError::UploadTooLarge`]).
    pub fn handle_public_body(&mut self, data: &[u8], fin: bool) -> Result<(), ExchangeError> {
        // Checked: a sum past u64::MAX is over any limit, not a wrap to a small total.
        match self.sent.checked_add(data.len() as u64) {
            Some(total) if total <= self.max_body => self.sent = total,
            _ => {
                return Err(ExchangeError::UploadTooLarge { max: self.max_body });
            }
        }
        let chunks = self.writer.write(self.id, data, fin, self.max_chunk);
        self.transmit
            .extend(chunks.into_iter().map(ServerFrame::Body));
        Ok(())
    }

    /// The next frame for the client.
    pub fn poll_transmit(&mut self) -> Option<ServerFrame> {
        self.transmit.pop_front()
    }

    /// True once the last chunk was queued.
    pub fn is_finished(&self) -> bool {
        self.writer.is_finished()
    }

    /// Body bytes counted so far, the head's included.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}
