//! The offline inbox: requests held while a tunnel's client is away, and their
//! delivery once it is back.
//!
//! Both ingresses call [`hold`] when a tunnel whose policy has an inbox has no client;
//! the control plane serves the client's side ([`take`], [`report`]): the client takes
//! the oldest held request, sends it to its origin, and reports how that went, which
//! lands in the request log beside the held request (`inbox_of`). Taking removes the
//! request from the inbox first, so no request reaches the origin twice.

use client_core::api::ApiErrorCode;
use client_core::inbox::{DeliveryReport, HeldRequest, MAX_REPORTED_BODY_BYTES, Taken};
use client_core::inspect::{Exchange, ExchangeSummary, Outcome};
use client_core::policy::{Inbox, MAX_INBOX_BODY_BYTES};
use client_core::protocol::Headers;

use super::inspect::{Recording, Replayer, is_request_id, new_request_id};
use super::{ApiFailure, Caller, tunnels};
use crate::Backend;
use crate::model::TunnelRecord;
use crate::store::StoreError;

/// What a captured held request says as its remote address when delivered.
pub const DELIVERY_REMOTE: &str = "inbox";

/// Seconds a public client is told to wait before retrying against a full inbox.
pub const FULL_RETRY_AFTER_SECS: u64 = 60;

/// An answer for the public, ready for either ingress to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Media type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
    /// Seconds for `Retry-After`, when the caller should come back.
    pub retry_after: Option<u64>,
    /// How the exchange is recorded.
    pub outcome: Outcome,
}

impl Answer {
    /// The answer's headers: its media type, and `Retry-After` when there is one.
    pub fn headers(&self) -> Headers {
        let mut h: Headers = vec![("content-type".into(), self.content_type.into())];
        if let Some(secs) = self.retry_after {
            h.push(("retry-after".into(), secs.to_string()));
        }
        h
    }
}

/// A public request as it would have gone to the origin, for [`hold`].
#[derive(Debug)]
pub struct Arrival<'a> {
    /// The tunnel (offline, with an inbox in its policy).
    pub tunnel: &'a TunnelRecord,
    /// The request's id (its log record, and `X-Request-Id` at the origin).
    pub request_id: &'a str,
    /// When it arrived, Unix milliseconds.
    pub received_ms: u64,
    /// Method.
    pub method: &'a str,
    /// Path and query, as the origin would see it (share token removed).
    pub path: &'a str,
    /// Headers as the origin would see them (`for_origin` applied).
    pub headers: Headers,
    /// The whole body.
    pub body: &'a [u8],
}

/// The tunnel's inbox settings, when it has one.
pub fn settings(tunnel: &TunnelRecord) -> Option<&Inbox> {
    tunnel.policy.as_ref().and_then(|p| p.inbox.as_ref())
}

/// Holds `arrival` in its tunnel's inbox and says what the public gets: the inbox's
/// answer, 413 for a body over [`MAX_INBOX_BODY_BYTES`], 503 when the inbox is full
/// or the store failed (nothing is held then).
pub async fn hold(b: &Backend, inbox: &Inbox, arrival: Arrival<'_>) -> Answer {
    let domain = &arrival.tunnel.domain;
    if arrival.body.len() > MAX_INBOX_BODY_BYTES {
        return too_large(arrival.tunnel);
    }
    let request = HeldRequest {
        request_id: arrival.request_id.to_owned(),
        tunnel_id: arrival.tunnel.tunnel_id.clone(),
        seq: 0,
        received_ms: arrival.received_ms,
        expires_at: arrival.received_ms / 1000 + inbox.ttl_secs(),
        method: arrival.method.to_owned(),
        path: arrival.path.to_owned(),
        headers: arrival.headers,
        body: arrival.body.to_vec(),
    };
    let now = arrival.received_ms / 1000;
    match b
        .store
        .hold_request(&request, inbox.max_requests(), now)
        .await
    {
        Ok(seq) => {
            tracing::info!(seq, "request held in the offline inbox");
            let (content_type, body) = inbox.reply();
            Answer {
                status: inbox.status(),
                content_type,
                body: body.into_bytes(),
                retry_after: None,
                outcome: Outcome::Held,
            }
        }
        Err(StoreError::InboxFull(max)) => page(
            503,
            Outcome::TunnelOffline,
            Some(FULL_RETRY_AFTER_SECS),
            &format!(
                "The tunnel {domain} is offline and its inbox already holds {max} requests, its limit. Try again later."
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot hold a request in the inbox");
            page(
                503,
                Outcome::TunnelOffline,
                Some(FULL_RETRY_AFTER_SECS),
                &format!(
                    "The tunnel {domain} is offline and its inbox could not take the request. Try again later."
                ),
            )
        }
    }
}

/// 413 for a body longer than an inbox holds ([`MAX_INBOX_BODY_BYTES`]).
pub fn too_large(tunnel: &TunnelRecord) -> Answer {
    page(
        413,
        Outcome::TooLarge,
        None,
        &format!(
            "The tunnel {} is offline, and its inbox holds request bodies of at most {MAX_INBOX_BODY_BYTES} bytes; this one is longer.",
            tunnel.domain
        ),
    )
}

fn page(status: u16, outcome: Outcome, retry_after: Option<u64>, detail: &str) -> Answer {
    let title = match status {
        413 => "Content Too Large",
        _ => "Service Unavailable",
    };
    Answer {
        status,
        content_type: "text/html; charset=utf-8",
        body: super::proxy::error_page(status, title, detail),
        retry_after,
        outcome,
    }
}

/// `POST /v1/tunnels/{id}/inbox/take`: the oldest held request, out of the inbox.
pub async fn take(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    now: u64,
) -> Result<Taken, ApiFailure> {
    let tunnel = tunnels::get_tunnel(b, caller, tunnel_id, now).await?;
    let request = b.store.take_held(&tunnel.tunnel_id, now).await?;
    Ok(Taken { request })
}

/// Furthest a reported time may lie ahead of the server's clock (clocks differ).
pub const MAX_CLOCK_SKEW_MS: u64 = 24 * 60 * 60 * 1000;

/// Refuses a report no delivery could give: it would make a record that misleads.
fn check_report(r: &DeliveryReport, now_ms: u64) -> Result<(), ApiFailure> {
    let bad = |why: String| Err(ApiFailure::new(422, ApiErrorCode::BadRequest, why));
    if !is_request_id(&r.request_id) {
        return bad(format!(
            "request_id {:?} is not a request id this service gave out",
            r.request_id
        ));
    }
    if r.body.len() > MAX_REPORTED_BODY_BYTES {
        return bad(format!(
            "a delivery report carries at most {MAX_REPORTED_BODY_BYTES} body bytes"
        ));
    }
    if r.status.is_some_and(|s| !(100..=599).contains(&s)) {
        return bad("status must be 100 to 599".into());
    }
    let latest = now_ms.saturating_add(MAX_CLOCK_SKEW_MS);
    let in_order = r.started_ms <= r.done_ms
        && r.first_byte_ms
            .is_none_or(|f| (r.started_ms..=r.done_ms).contains(&f));
    if !in_order || r.done_ms > latest {
        return bad(
            "times must satisfy started_ms <= first_byte_ms <= done_ms, none far in the future"
                .into(),
        );
    }
    if r.method.is_empty() || !r.path.starts_with('/') {
        return bad("method must be given and path must start with /".into());
    }
    Ok(())
}

/// `POST /v1/tunnels/{id}/inbox/deliveries`: records how a delivery went, as an
/// exchange linked to the held request's (`inbox_of`), and returns its summary.
pub async fn report(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    report: DeliveryReport,
    recorder: &dyn Replayer,
) -> Result<ExchangeSummary, ApiFailure> {
    let now_ms = client_core::clock::now_ms();
    let tunnel = tunnels::get_tunnel(b, caller, tunnel_id, now_ms / 1000).await?;
    check_report(&report, now_ms)?;
    // The held request as the log captured it (masked as the tunnel asks); a log
    // trimmed since still gets the delivery, with the method and path reported.
    let held: Option<Exchange> = b
        .store
        .get_exchange(&tunnel.tunnel_id, &report.request_id)
        .await?;
    let request_id = new_request_id(report.started_ms);
    let headers = held
        .as_ref()
        .map(|x| x.request.headers.clone())
        .unwrap_or_default();
    let mut recording = Recording::start(
        &tunnel,
        &request_id,
        &report.method,
        &report.path,
        DELIVERY_REMOTE,
        &headers,
        report.started_ms,
        b.config.capture_bytes,
    );
    recording.inbox_of(&report.request_id);
    if let Some(x) = &held {
        recording.request_body(&x.request.body.bytes);
    }
    recording.forwarded(report.started_ms);
    if let Some(status) = report.status {
        recording.response_head(
            status,
            &report.headers,
            report.first_byte_ms.unwrap_or(report.done_ms),
        );
        recording.response_body(&report.body);
    }
    let mut exchange = recording.finish(report.outcome, report.done_ms);
    // The client sent the start of the body; the record says how long it was.
    if let Some(r) = &mut exchange.response {
        r.body.size = r.body.size.max(report.body_size);
        r.body.truncated |= report.body_size > r.body.bytes.len() as u64;
    }
    if let Some(x) = &held {
        exchange.request.body.size = x.request.body.size;
        exchange.request.body.truncated = x.request.body.truncated;
    }
    recorder.record(b, &exchange).await?;
    tracing::info!(
        request_id = %exchange.request_id,
        inbox_of = %report.request_id,
        outcome = %report.outcome,
        status = report.status,
        "held request delivered"
    );
    Ok(ExchangeSummary::from(&exchange))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_says_its_type_and_when_to_retry() {
        let full = page(503, Outcome::TunnelOffline, Some(60), "full");
        assert_eq!(
            full.headers(),
            [
                (
                    "content-type".to_owned(),
                    "text/html; charset=utf-8".to_owned()
                ),
                ("retry-after".to_owned(), "60".to_owned())
            ]
        );
        let held = page(413, Outcome::TooLarge, None, "big");
        assert_eq!(held.headers().len(), 1);
    }

    fn report() -> DeliveryReport {
        DeliveryReport {
            request_id: new_request_id(1_000),
            method: "POST".into(),
            path: "/hook".into(),
            outcome: Outcome::Completed,
            status: Some(200),
            headers: Vec::new(),
            body: Vec::new(),
            body_size: 0,
            error: None,
            started_ms: 1_000,
            first_byte_ms: Some(1_001),
            done_ms: 1_002,
        }
    }

    #[test]
    fn reports_are_checked_at_their_edges() {
        const NOW: u64 = 10_000;
        let check = |r: &DeliveryReport| check_report(r, NOW).map_err(|f| f.status);
        assert_eq!(check(&report()), Ok(()));

        let mut r = report();
        r.body = vec![0; MAX_REPORTED_BODY_BYTES];
        assert_eq!(check(&r), Ok(()));
        r.body.push(0);
        assert_eq!(check(&r), Err(422));

        let mut r = report();
        r.done_ms = NOW + MAX_CLOCK_SKEW_MS;
        assert_eq!(check(&r), Ok(()));
        r.done_ms += 1;
        assert_eq!(check(&r), Err(422));

        for (status, ok) in [(100, true), (599, true), (99, false), (600, false)] {
            let mut r = report();
            r.status = Some(status);
            assert_eq!(check(&r).is_ok(), ok, "{status}");
        }
        let mut r = report();
        r.first_byte_ms = Some(r.done_ms + 1);
        assert_eq!(check(&r), Err(422));
        let mut r = report();
        r.started_ms = r.done_ms + 1;
        r.first_byte_ms = None;
        assert_eq!(check(&r), Err(422));
        let mut r = report();
        r.request_id = "not-an-id".into();
        assert_eq!(check(&r), Err(422));
        let mut r = report();
        r.path = "hook".into();
        assert_eq!(check(&r), Err(422));
    }
}
