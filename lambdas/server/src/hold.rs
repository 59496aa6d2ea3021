//! An admitted request for an offline tunnel with an inbox: read whole, held in the
//! inbox, and answered for (`tunnel_backend::handlers::inbox`).

use client_core::policy::MAX_INBOX_BODY_BYTES;
use http::{Request, Response, StatusCode};
use tunnel_backend::handlers::admission::Refusal;
use tunnel_backend::handlers::inbox;
use tunnel_backend::model::TunnelRecord;

use crate::answer::fail;
use crate::checked::CheckedBody;
use crate::heads::{copy_headers, origin_headers};
use crate::inspector::Capture;
use crate::upload::read_up_to;
use crate::{Body, State, full};

/// Holds an admitted request in the offline tunnel's inbox and answers for it.
pub(crate) async fn hold(
    state: &State,
    tunnel: &TunnelRecord,
    req: Request<CheckedBody>,
    remote_ip: &str,
    request_id: &str,
    received: u64,
    capture: &Capture,
) -> Response<Body> {
    let Some(settings) = inbox::settings(tunnel) else {
        return fail(
            Some(capture),
            &Refusal::Offline {
                domain: tunnel.domain.clone(),
            },
        );
    };
    let (parts, mut body) = req.into_parts();
    let (whole, rest, fin) = match read_up_to(&mut body, MAX_INBOX_BODY_BYTES).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(error = %e, "public client broke off the upload");
            return fail(Some(capture), &Refusal::BodyUnreadable);
        }
    };
    capture.request_body(&whole);
    state.metrics.bytes_in(whole.len());
    let headers = match origin_headers(
        state,
        &tunnel.domain,
        &parts.headers,
        Some(remote_ip),
        request_id,
    ) {
        Ok(h) => h,
        Err(refusal) => return fail(Some(capture), &refusal),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = if fin && rest.is_empty() {
        inbox::hold(
            &state.backend,
            settings,
            inbox::Arrival {
                tunnel,
                request_id,
                received_ms: received,
                method: parts.method.as_str(),
                path,
                headers,
                body: &whole,
            },
        )
        .await
    } else {
        inbox::too_large(tunnel)
    };
    let headers = answer.headers();
    capture.response_head(answer.status, &headers);
    capture.response_body(&answer.body);
    capture.outcome(answer.outcome);
    let mut r = Response::new(full(answer.body));
    *r.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::ACCEPTED);
    copy_headers(r.headers_mut(), headers);
    r
}
