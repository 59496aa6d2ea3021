//! An exchange being captured for the request log by tunnel-proxy (and a replay),
//! and the ways its answer ends: stored before the answer's stream ends, so a frozen
//! sandbox cannot lose it; a store failure costs the record, not the answer.

use std::sync::Arc;

use client_core::clock::now_ms;
use client_core::inspect::{Exchange, Outcome as InspectOutcome};
use tokio::sync::oneshot;
use tunnel_backend::handlers::admission::Refusal;
use tunnel_backend::handlers::inspect::Recording;
use tunnel_backend::telemetry;

use super::metered::Tally;
use super::proxy::{Outcome, answer};

/// An exchange being captured, stored when it ends.
pub(super) struct Captured {
    pub(super) tally: Option<Arc<Tally>>,
    pub(super) recording: Recording,
    pub(super) store: Arc<dyn tunnel_backend::store::Store>,
    pub(super) keep: usize,
    pub(super) done: Option<oneshot::Sender<Exchange>>,
}

/// Finishes and stores a capture. A store failure costs the record, not the answer.
pub(super) async fn end(capture: Option<Captured>, outcome: InspectOutcome) {
    let Some(c) = capture else { return };
    if let (Some(t), Some(kind)) = (&c.tally, telemetry::error_kind(outcome)) {
        t.error(kind);
    }
    let exchange = c.recording.finish(outcome, now_ms());
    if let Err(e) = c
        .store
        .put_exchanges(std::slice::from_ref(&exchange), c.keep)
        .await
    {
        tracing::warn!(error = %e, request_id = %exchange.request_id, "cannot store captured request");
    }
    if let Some(done) = c.done {
        let _ = done.send(exchange);
    }
}

/// Answers a request refused before it was forwarded, and stores it in the request
/// log whole: the caller's request and the refusal it got.
pub(super) async fn refused(refusal: &Refusal, mut capture: Captured) -> Outcome {
    let page = refusal.page();
    capture
        .recording
        .response_head(page.status, &page.headers, now_ms());
    capture.recording.response_body(&page.body);
    ended(Some(capture), refusal.outcome(), answer(refusal)).await
}

/// [`end`] with `refusal`'s outcome, then its answer.
pub(super) async fn refuse(capture: Option<Captured>, refusal: Refusal) -> Outcome {
    ended(capture, refusal.outcome(), answer(&refusal)).await
}

/// [`end`], then `response`.
pub(super) async fn ended(
    capture: Option<Captured>,
    outcome: InspectOutcome,
    response: Outcome,
) -> Outcome {
    end(capture, outcome).await;
    response
}
