//! The answers the ingress gives itself: a refusal's page, noted in the capture
//! when there is one.

use http::{Response, StatusCode};
use tunnel_backend::handlers::admission::Refusal;

use crate::heads::copy_headers;
use crate::inspector::Capture;
use crate::{Body, full};

/// The answer to `refusal`.
pub(crate) fn answer_for(refusal: &Refusal) -> Response<Body> {
    let page = refusal.page();
    let mut r = Response::new(full(page.body));
    *r.status_mut() = StatusCode::from_u16(page.status).unwrap_or(StatusCode::BAD_GATEWAY);
    copy_headers(r.headers_mut(), page.headers);
    r
}

/// The answer to `refusal`, its outcome noted in `capture`.
pub(crate) fn fail(capture: Option<&Capture>, refusal: &Refusal) -> Response<Body> {
    if let Some(c) = capture {
        c.outcome(refusal.outcome());
    }
    answer_for(refusal)
}

/// The answer to a request refused before anything of it was forwarded, recorded
/// whole: the caller's request and the refusal it got.
pub(crate) fn logged_refusal(refusal: &Refusal, capture: &Capture) -> Response<Body> {
    let page = refusal.page();
    capture.response_head(page.status, &page.headers);
    capture.response_body(&page.body);
    capture.outcome(refusal.outcome());
    answer_for(refusal)
}
