//! Putting a response back in order.
//!
//! On AWS every message a client sends is a separate invocation of the relay, and
//! invocations run concurrently, so the RESPONSE head and its BODY chunks can reach the
//! proxy in any order. This buffer releases them in order, holding at most
//! [`REORDER_WINDOW`] early chunks.

use std::collections::BTreeMap;

use client_core::protocol::{BodyChunk, Headers};

/// Early chunks held while waiting for a missing one; more means the gap is not a
/// race but a loss.
pub const REORDER_WINDOW: usize = 64;

/// What is ready to go to the public client, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// Status, headers and the first bytes.
    Head {
        /// Status.
        status: u16,
        /// Headers.
        headers: Headers,
        /// Inline body.
        body: Vec<u8>,
        /// True when nothing follows.
        fin: bool,
    },
    /// More body.
    Data {
        /// Bytes.
        data: Vec<u8>,
        /// True on the last piece.
        fin: bool,
    },
}

/// A part that cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReorderError {
    /// A second head, or a chunk number seen before.
    #[error("duplicate part (chunk {0:?})")]
    Duplicate(Option<u32>),
    /// Too many chunks ahead of a missing one.
    #[error("more than {REORDER_WINDOW} chunks arrived ahead of a missing one")]
    WindowExceeded,
}

/// Reorders one response.
#[derive(Debug, Default)]
pub struct Reorder {
    head: Option<Ready>,
    head_released: bool,
    body_follows: bool,
    next_seq: u32,
    pending: BTreeMap<u32, BodyChunk>,
}

impl Reorder {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts the head.
    pub fn head(
        &mut self,
        status: u16,
        headers: Headers,
        body: Vec<u8>,
        fin: bool,
    ) -> Result<(), ReorderError> {
        if self.head.is_some() || self.head_released {
            return Err(ReorderError::Duplicate(None));
        }
        self.body_follows = !fin;
        self.head = Some(Ready::Head {
            status,
            headers,
            body,
            fin,
        });
        Ok(())
    }

    /// Accepts a chunk.
    pub fn chunk(&mut self, chunk: BodyChunk) -> Result<(), ReorderError> {
        if chunk.seq < self.next_seq || self.pending.contains_key(&chunk.seq) {
            return Err(ReorderError::Duplicate(Some(chunk.seq)));
        }
        if self.pending.len() >= REORDER_WINDOW {
            return Err(ReorderError::WindowExceeded);
        }
        self.pending.insert(chunk.seq, chunk);
        Ok(())
    }

    /// The next part in order, if it has arrived.
    pub fn poll(&mut self) -> Option<Ready> {
        if !self.head_released {
            let head = self.head.take()?;
            self.head_released = true;
            return Some(head);
        }
        if !self.body_follows {
            return None;
        }
        let chunk = self.pending.remove(&self.next_seq)?;
        self.next_seq += 1;
        if chunk.fin {
            self.body_follows = false;
        }
        Some(Ready::Data {
            data: chunk.data,
            fin: chunk.fin,
        })
    }

    /// True once the head and every chunk up to `fin` were released.
    pub fn is_done(&self) -> bool {
        self.head_released && !self.body_follows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(seq: u32, fin: bool) -> BodyChunk {
        BodyChunk {
            id: 1,
            seq,
            data: vec![seq as u8],
            fin,
            reply_to: None,
            secret: None,
        }
    }

    fn drain(r: &mut Reorder) -> Vec<Ready> {
        std::iter::from_fn(|| r.poll()).collect()
    }

    #[test]
    fn releases_in_order_whatever_the_arrival_order() {
        let mut r = Reorder::new();
        r.chunk(chunk(1, true)).unwrap();
        r.chunk(chunk(0, false)).unwrap();
        assert!(drain(&mut r).is_empty(), "nothing before the head");
        r.head(200, vec![], b"h".to_vec(), false).unwrap();
        let out = drain(&mut r);
        assert_eq!(out.len(), 3);
        assert!(matches!(&out[1], Ready::Data { data, fin: false } if data == &[0]));
        assert!(matches!(&out[2], Ready::Data { data, fin: true } if data == &[1]));
        assert!(r.is_done());
    }

    #[test]
    fn head_with_fin_is_the_whole_response() {
        let mut r = Reorder::new();
        r.head(204, vec![], vec![], true).unwrap();
        assert_eq!(drain(&mut r).len(), 1);
        assert!(r.is_done());
    }

    #[test]
    fn refuses_duplicates_and_an_overfull_window() {
        let mut r = Reorder::new();
        r.head(200, vec![], vec![], false).unwrap();
        assert_eq!(
            r.head(200, vec![], vec![], false),
            Err(ReorderError::Duplicate(None))
        );
        r.chunk(chunk(0, false)).unwrap();
        drain(&mut r);
        assert_eq!(
            r.chunk(chunk(0, false)),
            Err(ReorderError::Duplicate(Some(0)))
        );
        // Chunk 1 is missing: the window holds exactly REORDER_WINDOW early ones.
        for seq in 2..(2 + REORDER_WINDOW as u32) {
            r.chunk(chunk(seq, false)).unwrap();
        }
        assert_eq!(
            r.chunk(chunk(1000, false)),
            Err(ReorderError::WindowExceeded)
        );
    }
}
