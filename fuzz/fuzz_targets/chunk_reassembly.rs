//! Chunk reassembly: a body cut by `ChunkWriter`, its chunks delivered to a
//! `ChunkReader` in a fuzzer-chosen order with duplicates, forgeries and inline
//! counts. The reader must follow the sequence rules exactly (from 0, no gaps, nothing
//! after `fin`, within the limit), never panic, and what it accepts must be a prefix
//! of the body; delivered in order, all of it.

#![no_main]

use arbitrary::Arbitrary;
use client_core::protocol::{BodyChunk, ChunkReader, ChunkWriter, SequenceError};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Step {
    /// Deliver the writer's chunk at this index (modulo the count).
    Deliver(u16),
    /// Deliver a chunk that no writer made.
    Forge { seq: u32, len: u16, fin: bool },
    /// Count bytes that came inline in a head (any size a caller might pass).
    Count(u64),
}

#[derive(Debug, Arbitrary)]
struct Input {
    body: Vec<u8>,
    /// How the body is handed to the writer: lengths of successive writes.
    writes: Vec<u8>,
    max_chunk: u8,
    limit: u32,
    steps: Vec<Step>,
    in_order: bool,
}

/// The reader's answer as the rules say it should be.
#[derive(Debug, Default)]
struct Model {
    next: u32,
    finished: bool,
    received: u64,
}

impl Model {
    fn accept(&mut self, c: &BodyChunk, max: u64) -> Result<(), SequenceError> {
        if self.finished {
            return Err(SequenceError::AfterFin { id: c.id });
        }
        if c.seq != self.next {
            return Err(SequenceError::OutOfOrder {
                id: c.id,
                expected: self.next,
                got: c.seq,
            });
        }
        self.count(c.id, c.data.len() as u64, max)?;
        self.next += 1;
        self.finished = c.fin;
        Ok(())
    }

    fn count(&mut self, id: u64, len: u64, max: u64) -> Result<(), SequenceError> {
        match self.received.checked_add(len) {
            Some(total) if total <= max => {
                self.received = total;
                Ok(())
            }
            _ => Err(SequenceError::TooLarge { id, max }),
        }
    }
}

fuzz_target!(|input: Input| {
    const ID: u64 = 7;
    let max_chunk = usize::from(input.max_chunk).max(1);
    let mut writer = ChunkWriter::new();
    let mut chunks = Vec::new();
    let mut rest = &input.body[..];
    for &n in &input.writes {
        let (piece, tail) = rest.split_at(usize::from(n).min(rest.len()));
        chunks.extend(writer.write(ID, piece, false, max_chunk));
        rest = tail;
    }
    chunks.extend(writer.write(ID, rest, true, max_chunk));
    assert!(writer.is_finished());

    // The writer: numbered from 0, none over the size, only the last final, the
    // pieces make the body.
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c.seq as usize, i);
        assert!(c.data.len() <= max_chunk);
        assert_eq!(c.fin, i + 1 == chunks.len());
        assert!(
            !c.data.is_empty() || c.fin,
            "only a final chunk may be empty"
        );
    }
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
    assert_eq!(joined, input.body);

    let limit = u64::from(input.limit);
    if input.in_order {
        let mut reader = ChunkReader::new();
        let all = chunks.iter().try_for_each(|c| reader.accept(c, limit));
        if input.body.len() as u64 <= limit {
            all.expect("in-order chunks within the limit are accepted");
            assert!(reader.is_finished());
            assert_eq!(reader.received(), input.body.len() as u64);
        } else {
            assert!(matches!(all, Err(SequenceError::TooLarge { .. })));
        }
    }

    let mut reader = ChunkReader::new();
    let mut model = Model::default();
    let mut accepted = Vec::new();
    for step in &input.steps {
        let (got, want, data) = match step {
            Step::Deliver(i) => {
                let c = &chunks[usize::from(*i) % chunks.len()];
                (reader.accept(c, limit), model.accept(c, limit), Some(c))
            }
            Step::Forge { seq, len, fin } => {
                let c = BodyChunk {
                    id: ID,
                    seq: *seq,
                    data: vec![0xAA; usize::from(*len)],
                    fin: *fin,
                    reply_to: None,
                    secret: None,
                };
                (reader.accept(&c, limit), model.accept(&c, limit), None)
            }
            Step::Count(len) => {
                let len = usize::try_from(*len).unwrap_or(usize::MAX);
                (
                    reader.count(ID, len, limit),
                    model.count(ID, len as u64, limit),
                    None,
                )
            }
        };
        assert_eq!(got, want, "{step:?}");
        // A receiver drops the stream on its first error; nothing after it counts.
        if got.is_err() {
            break;
        }
        if let Some(c) = data {
            accepted.extend_from_slice(&c.data);
        } else if matches!(step, Step::Forge { .. }) {
            // A forged chunk was accepted: the prefix property no longer applies.
            accepted.clear();
            break;
        }
        assert_eq!(reader.is_finished(), model.finished);
        assert_eq!(reader.received(), model.received);
    }
    assert!(input.body.starts_with(&accepted));
});
