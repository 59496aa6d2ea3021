//! An admitted request made what the origin is to get: its body checked whole when
//! the policy needs it, the tunnel's credentials taken out, the path as admitted.

use bytes::Bytes;
use client_core::protocol::Headers;
use http::{Request, Response};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use tunnel_backend::handlers::admission::{self, Admitted, Refusal};

use crate::Body;
use crate::answer::{fail, logged_refusal};
use crate::inspector::Capture;

/// A public request's body after admission: as it streams in, or read whole
/// (webhook verification needs all of it before anything is forwarded).
pub type CheckedBody = Either<Incoming, Full<Bytes>>;

/// Makes an admitted request what the origin is to get: the whole body checked when
/// the policy needs it ([`admission::check_body`]), the credentials meant for the
/// tunnel taken out, the path as admitted; the share token hidden from the record.
/// A refusal is answered here and recorded.
pub(crate) async fn apply(
    admitted: &Admitted,
    req: Request<Incoming>,
    headers: &Headers,
    received: u64,
    capture: &Capture,
) -> Result<Request<CheckedBody>, Response<Body>> {
    let (mut parts, body) = req.into_parts();
    let body = if admitted.needs_body_check {
        let whole = match read_at_most(body, admission::BODY_CHECK_READ_BYTES).await {
            Ok(whole) => whole,
            Err(e) => {
                tracing::debug!(error = %e, "public client broke off the upload");
                return Err(fail(Some(capture), &Refusal::BodyUnreadable));
            }
        };
        if let Err(refusal) = admission::check_body(admitted, headers, &whole, received) {
            if admitted.capture.hide_share_token {
                capture.hide_share_token(None);
            }
            capture.request_body(&whole);
            return Err(logged_refusal(&refusal, capture));
        }
        Either::Right(Full::new(whole))
    } else {
        Either::Left(body)
    };
    for name in &admitted.strip_headers {
        parts.headers.remove(*name);
    }
    if let Some(p) = &admitted.path {
        let mut uri = parts.uri.into_parts();
        uri.path_and_query = p.parse().ok();
        match http::Uri::from_parts(uri) {
            Ok(u) => parts.uri = u,
            Err(_) => return Err(fail(Some(capture), &Refusal::BadTarget)),
        }
    }
    if admitted.capture.hide_share_token {
        capture.hide_share_token(admitted.path.as_deref());
    }
    Ok(Request::from_parts(parts, body))
}

/// Reads up to `max` bytes of `body`; a longer body is cut there, which is enough for
/// the caller to see it is over its limit.
async fn read_at_most(mut body: Incoming, max: usize) -> Result<Bytes, hyper::Error> {
    let mut buf = Vec::new();
    while buf.len() < max {
        match body.frame().await {
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            None => break,
        }
    }
    buf.truncate(max);
    Ok(Bytes::from(buf))
}
