//! Splitting bodies into BODY chunks and checking that chunks arrive in order.
//!
//! Both ends of a session use these, so sequence rules live in one place.

use super::frames::{BodyChunk, StreamId};

/// Splits outgoing body bytes into chunks of at most `max` bytes, numbering them.
#[derive(Debug)]
pub struct ChunkWriter {
    next_seq: u32,
    finished: bool,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    /// A writer whose first chunk is number 0.
    pub fn new() -> Self {
        Self {
            next_seq: 0,
            finished: false,
        }
    }

    /// True once a chunk flagged `fin` was produced.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Cuts `data` into chunks of at most `max` bytes; the last carries `fin`. An empty
    /// `data` with `fin` yields one empty final chunk; an empty one without yields none.
    pub fn write(&mut self, id: StreamId, data: &[u8], fin: bool, max: usize) -> Vec<BodyChunk> {
        let max = max.max(1);
        let mut out = Vec::with_capacity(data.len().div_ceil(max).max(1));
        let mut pieces = data.chunks(max).peekable();
        if pieces.peek().is_none() && fin {
            out.push(self.chunk(id, Vec::new(), true));
        }
        while let Some(piece) = pieces.next() {
            let last = pieces.peek().is_none();
            out.push(self.chunk(id, piece.to_vec(), fin && last));
        }
        out
    }

    /// Records that the body ended without a BODY frame (inline in its head).
    pub fn mark_finished(&mut self) {
        self.finished = true;
    }

    fn chunk(&mut self, id: StreamId, data: Vec<u8>, fin: bool) -> BodyChunk {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.finished |= fin;
        BodyChunk {
            id,
            seq,
            data,
            fin,
            reply_to: None,
            secret: None,
        }
    }
}

/// Checks the numbering of incoming chunks of one stream.
#[derive(Debug, Default)]
pub struct ChunkReader {
    next_seq: u32,
    finished: bool,
    received: u64,
}

/// An incoming chunk that breaks the sequence rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// A chunk other than the next expected one.
    #[error("stream {id}: expected chunk {expected}, got {got}")]
    OutOfOrder {
        /// The stream.
        id: StreamId,
        /// The number expected.
        expected: u32,
        /// The number received.
        got: u32,
    },
    /// A chunk after the one flagged `fin`.
    #[error("stream {id}: chunk after the final one")]
    AfterFin {
        /// The stream.
        id: StreamId,
    },
    /// More bytes than the receiver accepts for one body.
    #[error("stream {id}: body exceeds {max} bytes")]
    TooLarge {
        /// The stream.
        id: StreamId,
        /// The limit.
        max: u64,
    },
}

impl ChunkReader {
    /// A reader expecting chunk 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader for a body whose head frame already ended it (`fin` on the head).
    pub fn finished() -> Self {
        Self {
            finished: true,
            ..Self::default()
        }
    }

    /// True once the final chunk arrived.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Body bytes accepted so far (head-inline bytes are counted by [`Self::count`]).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Counts bytes that arrived outside BODY frames (inline in the head) against `max`.
    pub fn count(&mut self, id: StreamId, len: usize, max: u64) -> Result<(), SequenceError> {
        // Checked, not `+=`: a sum past u64::MAX (found by fuzz/chunk_reassembly with
        // caller-supplied lengths) panicked in debug builds and wrapped to a small
        // total in release, which a limit of u64::MAX would then have let through.
        match self.received.checked_add(len as u64) {
            Some(total) if total <= max => {
                self.received = total;
                Ok(())
            }
            _ => Err(SequenceError::TooLarge { id, max }),
        }
    }

    /// Accepts `chunk` if it is the next one and keeps the body within `max` bytes.
    pub fn accept(&mut self, chunk: &BodyChunk, max: u64) -> Result<(), SequenceError> {
        if self.finished {
            return Err(SequenceError::AfterFin { id: chunk.id });
        }
        if chunk.seq != self.next_seq {
            return Err(SequenceError::OutOfOrder {
                id: chunk.id,
                expected: self.next_seq,
                got: chunk.seq,
            });
        }
        self.count(chunk.id, chunk.data.len(), max)?;
        self.next_seq += 1;
        self.finished = chunk.fin;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_limit_and_flags_the_last() {
        let mut w = ChunkWriter::new();
        let chunks = w.write(7, &[1u8; 10], true, 4);
        let sizes: Vec<_> = chunks.iter().map(|c| c.data.len()).collect();
        assert_eq!(sizes, [4, 4, 2]);
        assert_eq!(
            chunks.iter().map(|c| c.fin).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert_eq!(chunks.iter().map(|c| c.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(w.is_finished());
    }

    #[test]
    fn exact_multiple_has_no_empty_tail() {
        let chunks = ChunkWriter::new().write(1, &[0u8; 8], true, 4);
        assert_eq!(chunks.len(), 2);
        assert!(chunks[1].fin);
    }

    #[test]
    fn empty_final_write_yields_one_empty_chunk() {
        let mut w = ChunkWriter::new();
        assert!(w.write(1, &[], false, 4).is_empty());
        let c = w.write(1, &[], true, 4);
        assert_eq!(c.len(), 1);
        assert!(c[0].fin && c[0].data.is_empty());
    }

    #[test]
    fn numbering_continues_across_writes() {
        let mut w = ChunkWriter::new();
        w.write(1, b"ab", false, 4);
        assert_eq!(w.write(1, b"cd", true, 4)[0].seq, 1);
    }

    #[test]
    fn reader_refuses_gaps_duplicates_and_late_chunks() {
        let chunks = ChunkWriter::new().write(3, &[9u8; 12], true, 4);
        let mut r = ChunkReader::new();
        r.accept(&chunks[0], 100).unwrap();
        assert_eq!(
            r.accept(&chunks[0], 100),
            Err(SequenceError::OutOfOrder {
                id: 3,
                expected: 1,
                got: 0
            })
        );
        assert!(matches!(
            r.accept(&chunks[2], 100),
            Err(SequenceError::OutOfOrder { .. })
        ));
        r.accept(&chunks[1], 100).unwrap();
        r.accept(&chunks[2], 100).unwrap();
        assert!(r.is_finished());
        assert_eq!(r.received(), 12);
        assert_eq!(
            r.accept(&chunks[2], 100),
            Err(SequenceError::AfterFin { id: 3 })
        );
    }

    // On 32-bit targets a usize cannot overflow the u64 total.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn counts_that_overflow_are_too_large_not_a_panic() {
        // Regression (fuzz/chunk_reassembly): the sum used to overflow.
        let mut r = ChunkReader::new();
        r.count(1, 10, u64::MAX).unwrap();
        assert_eq!(
            r.count(1, usize::MAX, u64::MAX),
            Err(SequenceError::TooLarge {
                id: 1,
                max: u64::MAX
            })
        );
        assert_eq!(
            r.received(),
            10,
            "a refused count leaves the total as it was"
        );
    }

    #[test]
    fn reader_limit_is_inclusive() {
        let chunks = ChunkWriter::new().write(1, &[0u8; 8], true, 4);
        let mut r = ChunkReader::new();
        r.accept(&chunks[0], 8).unwrap();
        r.accept(&chunks[1], 8).unwrap();
        let mut r = ChunkReader::new();
        r.accept(&chunks[0], 7).unwrap();
        assert_eq!(
            r.accept(&chunks[1], 7),
            Err(SequenceError::TooLarge { id: 1, max: 7 })
        );
    }
}
