//! An exchange being captured for the request log by tunnel-proxy (and a replay),
//! and the ways its answer ends: stored before the answer's stream ends, so a frozen
//! sandbox cannot lose it; a store failure costs the record, not the answer.

use std::sync::Arc;

use client_core::clock::now_ms;
use client_core::inspect::{Exchange, Outcome as InspectOutcome};
use tokio::sync::oneshot;
use tunnel_backend::Backend;
use tunnel_backend::handlers::admission::{Refusal, Refused};
use tunnel_backend::handlers::inspect::Recording;
use tunnel_backend::model::TunnelRecord;
use tunnel_backend::telemetry;

use super::metered::{Tally, note};
use super::outcome::{Outcome, answer};
use super::proxy::Forward;

/// An exchange being captured, stored when it ends.
pub(super) struct Captured {
    pub(super) tally: Option<Arc<Tally>>,
    pub(super) recording: Recording,
    pub(super) store: Arc<dyn tunnel_backend::store::Store>,
    pub(super) keep: usize,
    pub(super) done: Option<oneshot::Sender<Exchange>>,
}

impl Captured {
    /// Starts capturing `f`, the request `request_id` to `tunnel`; `done` gets the
    /// exchange once stored (a replay's).
    pub(super) fn start(
        backend: &Backend,
        f: &Forward,
        tunnel: &TunnelRecord,
        request_id: &str,
        done: Option<oneshot::Sender<Exchange>>,
    ) -> Self {
        let mut recording = Recording::start(
            tunnel,
            request_id,
            &f.method,
            &f.path,
            &f.remote_addr,
            &f.headers,
            f.received_ms,
            backend.config.capture_bytes,
        );
        recording.request_body(&f.body);
        if let Some(of) = &f.replay_of {
            recording.replay_of(of);
        }
        Self {
            tally: f.tally.clone(),
            recording,
            store: backend.store.clone(),
            keep: backend.config.log_keep,
            done,
        }
    }
}

/// Answers a request admission refused. Where the refusal names the tunnel
/// ([`Refused::logged`]) it is captured with its answer (`start` starts the
/// capture); before that, nothing names a log to put it in, and it is only noted
/// for the metrics line.
pub(super) async fn refused_admission(
    r: Refused,
    tally: Option<&Arc<Tally>>,
    start: impl FnOnce(&TunnelRecord) -> Captured,
) -> Outcome {
    let Some(tunnel) = &r.logged else {
        if let (Some(t), Refusal::RateLimited { .. }) = (tally, &r.refusal) {
            t.rate_limited
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(kind) = r.refusal.error_kind() {
            note(tally, kind);
        }
        return answer(&r.refusal);
    };
    let mut capture = start(tunnel);
    if r.capture.hide_share_token {
        capture.recording.hide_share_token(None);
    }
    refused(&r.refusal, capture).await
}

/// Finishes and stores a capture. A store failure costs the record, not the answer.
pub(super) async fn end(capture: Option<Captured>, outcome: InspectOutcome) {
    let Some(c) = capture else { return };
    if let (Some(t), Some(kind)) = (&c.tally, telemetry::error_kind(outcome)) {
        t.error(kind);
    }
    let exchange = c.recording.finish(outcome, now_ms());
    // A replay's caller gets the exchange too: only then is a copy made.
    let done = c.done.map(|done| (done, exchange.clone()));
    let request_id = exchange.request_id.clone();
    if let Err(e) = c.store.put_exchanges(vec![exchange], c.keep).await {
        tracing::warn!(error = %e, %request_id, "cannot store captured request");
    }
    if let Some((done, exchange)) = done {
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
