//! Request bodies on their way to the origin, through a bounded channel per request.
//! A full channel stalls the driver (it takes no more from the session, so the order
//! of body pieces is kept, and stops reading the WebSocket) until the origin makes
//! room, or gives up on the request after the origin's timeout.

use bytes::Bytes;
use client_core::protocol::{ErrorCode, StreamId};
use tokio::sync::mpsc::{self, OwnedPermit, error::TrySendError};
use tokio::time::Instant;

use super::Driver;
use super::request_log::error_outcome;

/// Request body that the origin has no room for yet. While there is one, no more
/// events are taken from the session, so the order of body pieces is kept.
pub(super) struct Stalled {
    pub(super) id: StreamId,
    pub(super) data: Bytes,
    pub(super) fin: bool,
    pub(super) tx: mpsc::Sender<Bytes>,
    pub(super) since: Instant,
}

impl Driver<'_> {
    pub(super) fn pass_body(&mut self, id: StreamId, data: Bytes, fin: bool) {
        // No entry: the origin already answered or failed, and wants no more body.
        let Some(forward) = self.streams.get_mut(&id) else {
            return;
        };
        let Some(body) = &forward.body else { return };
        let tx = body.sender();
        if !data.is_empty() {
            match tx.try_send(data) {
                Ok(()) => {}
                Err(TrySendError::Full(data)) => {
                    self.stalled = Some(Stalled {
                        id,
                        data,
                        fin,
                        tx: tx.clone(),
                        since: Instant::now(),
                    });
                    return;
                }
                Err(TrySendError::Closed(_)) => {
                    forward.body = None;
                    return;
                }
            }
        }
        if fin && let Some(body) = forward.body.take() {
            body.finish();
        }
    }

    pub(super) fn unstall(&mut self, permit: Option<OwnedPermit<Bytes>>) {
        let Some(stalled) = self.stalled.take() else {
            return;
        };
        let receiving = match permit {
            Some(permit) => {
                permit.send(stalled.data);
                true
            }
            None => false,
        };
        if (stalled.fin || !receiving)
            && let Some(forward) = self.streams.get_mut(&stalled.id)
            && let Some(body) = forward.body.take()
        {
            // Not receiving: the origin's side is gone, so finished or cut is all one.
            body.finish();
        }
    }

    pub(super) fn give_up_stalled(&mut self) {
        let Some(stalled) = self.stalled.take() else {
            return;
        };
        let message = format!(
            "{} stopped reading the request body for {} s",
            self.origin.authority(),
            self.origin.timeout().as_secs_f32()
        );
        let _ = self
            .session
            .fail(stalled.id, ErrorCode::OriginTimeout, message);
        self.finish(stalled.id, error_outcome(ErrorCode::OriginTimeout), true);
    }
}

pub(super) async fn reserve(tx: Option<mpsc::Sender<Bytes>>) -> Option<OwnedPermit<Bytes>> {
    match tx {
        Some(tx) => tx.reserve_owned().await.ok(),
        None => std::future::pending().await,
    }
}
