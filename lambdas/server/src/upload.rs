//! A public request's body on its way through the tunnel.
//!
//! The head goes to the client at once, with whatever body is already at hand
//! ([`read_ready`]); the rest follows as BODY chunks from a task as it arrives
//! ([`Upload`]), so the origin sees a slow upload while it is still being sent and can
//! answer before it ends. The limit and the chunking are the shared machine's
//! (`tunnel_backend::handlers::exchange::UploadStream`). The upload lives only as long
//! as the exchange: an answer that is complete before the upload ends stops it
//! ([`Upload::abort`], when the exchange's machine says it is cut), and the public
//! connection is closed after the answer rather than read to its end.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use client_core::protocol::StreamId;
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use tunnel_backend::handlers::exchange::{ExchangeError, UploadEnd, UploadStream};

use crate::State;
use crate::hub::{Conn, SendError};
use crate::ingress::RequestBody;
use crate::inspector::Capture;

/// The body bytes at hand, up to `max` for the REQUEST frame, without waiting for
/// the network: what was read beyond `max` (to go first in BODY chunks), and whether
/// the body has ended. A body whose end is already here (a GET, a small POST that
/// came in one packet, a replay) travels whole in one frame when it fits, with its
/// length known to the origin; a body still arriving never holds the head back.
///
/// "At hand" includes what hyper has read but not yet handed over: it decodes body
/// bytes in the connection's task, which is also the one running this request, so
/// each time nothing is ready this yields once to let it, and stops at the first
/// yield that brings nothing new.
pub async fn read_ready<B: RequestBody>(
    body: &mut B,
    max: usize,
) -> Result<(Bytes, Bytes, bool), B::Error> {
    let mut buf = BytesMut::new();
    let mut ended = body.is_end_stream();
    let mut fresh = true;
    while !ended && buf.len() <= max {
        match body.frame().now_or_never() {
            None if fresh => {
                fresh = false;
                tokio::task::yield_now().await;
            }
            // Nothing more has arrived: the head goes now, the rest when it comes.
            None => break,
            Some(None) => ended = true,
            Some(Some(frame)) => {
                fresh = true;
                if let Ok(data) = frame?.into_data() {
                    buf.extend_from_slice(&data);
                }
                ended = body.is_end_stream();
            }
        }
    }
    Ok(split(buf.freeze(), max, ended))
}

/// Reads body frames until more than `max` bytes are at hand or the body ends, for a
/// request held whole (the offline inbox). Same answer as [`read_ready`].
pub async fn read_up_to<B: RequestBody>(
    body: &mut B,
    max: usize,
) -> Result<(Bytes, Bytes, bool), B::Error> {
    let mut buf = BytesMut::new();
    let mut ended = body.is_end_stream();
    while !ended && buf.len() <= max {
        match body.frame().await {
            None => ended = true,
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    buf.extend_from_slice(&data);
                }
                ended = body.is_end_stream();
            }
        }
    }
    Ok(split(buf.freeze(), max, ended))
}

/// `max` bytes for the head, the rest, and `fin` when nothing follows the head.
fn split(mut head: Bytes, max: usize, ended: bool) -> (Bytes, Bytes, bool) {
    let rest = head.split_off(head.len().min(max));
    let fin = ended && rest.is_empty();
    (head, rest, fin)
}

/// The rest of a request body, sent to the client as BODY chunks by a task of its own
/// while the exchange waits for (and streams) the answer. How it ends goes to the
/// exchange's machine, which says when it must stop ([`Upload::abort`]).
#[derive(Debug, Default)]
pub struct Upload {
    task: Option<JoinHandle<Result<(), ExchangeError>>>,
}

impl Upload {
    /// No upload: the body went whole with the head, or the stream is upgraded.
    pub fn none() -> Self {
        Self::default()
    }

    /// Starts sending `body` on stream `id` of `conn`: first `pending` (read already),
    /// then each piece as it arrives. `sent` bytes went with the head.
    #[allow(clippy::too_many_arguments)]
    pub fn start<B: RequestBody>(
        state: Arc<State>,
        conn: Arc<Conn>,
        id: StreamId,
        body: B,
        pending: Bytes,
        sent: u64,
        capture: Option<Capture>,
    ) -> Self {
        let stream = UploadStream::new(id, sent, state.max_body, state.backend.config.max_chunk);
        // On the request's span, so whatever the upload logs carries the request id.
        let task = pump(state, conn, stream, body, pending, capture).in_current_span();
        Self {
            task: Some(tokio::spawn(task)),
        }
    }

    /// True while the upload runs.
    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// Resolves when the upload ends, once; never when there is none (or after).
    /// Cancel-safe: a `select!` may drop it and call it again.
    pub async fn ended(&mut self) -> UploadEnd {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let ended = task.await;
        self.task = None;
        end_of(ended)
    }

    /// How the upload ended, if it has.
    pub fn try_ended(&mut self) -> Option<UploadEnd> {
        let ended = self.task.as_mut()?.now_or_never()?;
        self.task = None;
        Some(end_of(ended))
    }

    /// Stops the upload if it still runs. Dropping the public body unread makes hyper
    /// close that connection once the answer is written.
    pub fn abort(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn end_of(ended: Result<Result<(), ExchangeError>, tokio::task::JoinError>) -> UploadEnd {
    match ended {
        Ok(Ok(())) => UploadEnd::Finished,
        Ok(Err(e)) => UploadEnd::Failed(e),
        Err(_) => UploadEnd::Failed(ExchangeError::TunnelGone),
    }
}

/// Sends the rest of a request body as BODY chunks.
async fn pump<B: RequestBody>(
    state: Arc<State>,
    conn: Arc<Conn>,
    mut stream: UploadStream,
    mut body: B,
    mut pending: Bytes,
    capture: Option<Capture>,
) -> Result<(), ExchangeError> {
    loop {
        let (data, fin) = if !pending.is_empty() {
            (std::mem::take(&mut pending), false)
        } else {
            match body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(d) => (d, body.is_end_stream()),
                    Err(_) => continue,
                },
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "public client broke off the upload");
                    return Err(ExchangeError::UploadBrokeOff);
                }
                None => (Bytes::new(), true),
            }
        };
        stream.handle_public_body(&data, fin)?;
        state.metrics.bytes_in(data.len());
        if let Some(c) = &capture {
            c.request_body(&data);
        }
        while let Some(frame) = stream.poll_transmit() {
            match conn.send_frame(&frame).await {
                Ok(()) => {}
                Err(SendError::Encode(e)) => {
                    tracing::error!(error = %e, "cannot encode frame");
                    return Err(ExchangeError::TunnelGone);
                }
                Err(SendError::Gone(_)) => return Err(ExchangeError::TunnelGone),
            }
        }
        if fin {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    #[tokio::test]
    async fn a_known_body_goes_whole_or_split_at_the_frame_size() {
        let mut small = Full::new(Bytes::from_static(b"hello"));
        let (head, rest, fin) = read_ready(&mut small, 16).await.unwrap();
        assert_eq!((&head[..], &rest[..], fin), (&b"hello"[..], &b""[..], true));

        // Exactly the frame size still fits; one byte more goes in BODY chunks.
        let mut edge = Full::new(Bytes::from(vec![1u8; 16]));
        let (head, rest, fin) = read_ready(&mut edge, 16).await.unwrap();
        assert_eq!((head.len(), rest.len(), fin), (16, 0, true));
        let mut over = Full::new(Bytes::from(vec![1u8; 17]));
        let (head, rest, fin) = read_ready(&mut over, 16).await.unwrap();
        assert_eq!((head.len(), rest.len(), fin), (16, 1, false));

        let mut empty = Full::new(Bytes::new());
        assert!(read_ready(&mut empty, 16).await.unwrap().2);
    }

    #[tokio::test]
    async fn a_body_still_arriving_does_not_hold_the_head() {
        // One piece is here, the next not yet: the head takes what is here and goes.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
            .await
            .unwrap();
        let mut body = StreamBody::new(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )));
        let (head, rest, fin) = read_ready(&mut body, 16).await.unwrap();
        assert_eq!((&head[..], rest.len(), fin), (&b"first"[..], 0, false));
        // Nothing at all at hand: an empty head, not a wait.
        let (head, _, fin) = read_ready(&mut body, 16).await.unwrap();
        assert!(head.is_empty() && !fin);
        drop(tx);
        let (head, _, fin) = read_ready(&mut body, 16).await.unwrap();
        assert!(head.is_empty() && fin, "the end, once known, is fin");
    }
}
