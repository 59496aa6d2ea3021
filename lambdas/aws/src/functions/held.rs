//! An admitted request for a tunnel no client serves, whose inbox holds it: held,
//! answered with the inbox's receipt, and captured with that answer.

use client_core::clock::now_ms;
use client_core::protocol::Headers;
use http::StatusCode;
use tunnel_backend::Backend;
use tunnel_backend::handlers::admission::Refusal;
use tunnel_backend::handlers::inbox;
use tunnel_backend::model::TunnelRecord;

use super::captured::{Captured, ended, refuse};
use super::outcome::{Outcome, whole};

/// Holds the request in `tunnel`'s inbox, answers for it and stores the record; a
/// tunnel whose inbox is off is refused as offline.
#[allow(clippy::too_many_arguments)]
pub(super) async fn hold(
    backend: &Backend,
    tunnel: &TunnelRecord,
    request_id: &str,
    method: &str,
    path: &str,
    headers: Headers,
    body: &[u8],
    capture: Option<Captured>,
) -> Outcome {
    let Some(settings) = inbox::settings(tunnel) else {
        let refusal = Refusal::Offline {
            domain: tunnel.domain.clone(),
        };
        return refuse(capture, refusal).await;
    };
    let answer = inbox::hold(
        backend,
        settings,
        inbox::Arrival {
            tunnel,
            request_id,
            received_ms: capture
                .as_ref()
                .map_or_else(now_ms, |c| c.recording.received_ms()),
            method,
            path,
            headers,
            body,
        },
    )
    .await;
    let lines = answer.headers();
    let mut capture = capture;
    if let Some(c) = &mut capture {
        c.recording.response_head(answer.status, &lines, now_ms());
        c.recording.response_body(&answer.body);
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::ACCEPTED);
    ended(capture, answer.outcome, whole(status, lines, answer.body)).await
}
