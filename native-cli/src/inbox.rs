//! Delivering what the offline inbox held while this client was away.
//!
//! After each (re)connection the client takes held requests one at a time, oldest
//! first, sends each to the origin and reports how it went; the server records the
//! report beside the held request. Taking removes a request from the inbox before
//! it is sent, so a client that dies mid-delivery loses that one delivery (the log
//! still has the request, for a replay) rather than sending it twice.

use std::time::Duration;

use bytes::Bytes;
use client_core::clock::now_ms;
use client_core::inbox::{DeliveryReport, HeldRequest, MAX_REPORTED_BODY_BYTES};
use client_core::inspect::Outcome;
use client_core::protocol::ErrorCode;
use client_core::session::RequestHead;
use tokio::sync::mpsc;

use crate::api::{Api, CallError};
use crate::origin::{ForwardBody, Origin, OriginReply, Reply};

/// A second look at the inbox this long after a connection's first drain: a request
/// the server began to hold just before the connection was attached lands after the
/// first look.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Takes, delivers and reports held requests until the inbox is empty; returns how
/// many were delivered. A failed report is logged and the drain goes on: the request
/// reached the origin, which is what matters most.
pub async fn drain(api: &Api, origin: &Origin, tunnel_id: &str) -> Result<u64, CallError> {
    let mut delivered = 0;
    while let Some(held) = api.call(|c| c.take_held(tunnel_id)).await?.request {
        let report = deliver(origin, held).await;
        delivered += 1;
        let line = format!(
            "delivered held {} {} -> {}  {}",
            report.method,
            report.path.split('?').next().unwrap_or_default(),
            report
                .status
                .map_or_else(|| report.outcome.to_string(), |s| s.to_string()),
            report.request_id
        );
        tracing::info!(
            request_id = %report.request_id,
            outcome = %report.outcome,
            status = report.status,
            "held request delivered"
        );
        eprintln!("{line}");
        if let Err(e) = api.call(|c| c.report_delivery(tunnel_id, &report)).await {
            tracing::warn!(error = %e, request_id = %report.request_id, "cannot report a delivery");
        }
    }
    Ok(delivered)
}

/// Sends one held request to the origin and says how it went.
pub async fn deliver(origin: &Origin, held: HeldRequest) -> DeliveryReport {
    let started_ms = now_ms();
    let mut report = DeliveryReport {
        request_id: held.request_id,
        method: held.method.clone(),
        path: held.path.clone(),
        outcome: Outcome::Completed,
        status: None,
        headers: Vec::new(),
        body: Vec::new(),
        body_size: 0,
        error: None,
        started_ms,
        first_byte_ms: None,
        done_ms: started_ms,
    };
    let head = RequestHead {
        method: held.method,
        path: held.path,
        headers: held.headers,
    };
    let (tx, mut rx) = mpsc::channel::<OriginReply>(8);
    let forward = origin
        .clone()
        // The report goes over REST: no answer URL, the answer is read here.
        .forward(
            0,
            head,
            ForwardBody::whole(Bytes::from(held.body)),
            None,
            tx,
        );
    let collect = async {
        while let Some(OriginReply { reply, .. }) = rx.recv().await {
            match reply {
                Reply::Head {
                    status,
                    headers,
                    body,
                    fin,
                } => {
                    report.first_byte_ms = Some(now_ms());
                    report.status = Some(status);
                    report.headers = headers;
                    keep(&mut report, &body);
                    if fin {
                        break;
                    }
                }
                Reply::Body { data, fin } => {
                    keep(&mut report, &data);
                    if fin {
                        break;
                    }
                }
                // Never without an answer URL.
                Reply::Stored { status, headers } => {
                    report.first_byte_ms = Some(now_ms());
                    report.status = Some(status);
                    report.headers = headers;
                    break;
                }
                Reply::Fail { code, message } => {
                    report.outcome = match code {
                        ErrorCode::OriginRefused => Outcome::OriginRefused,
                        ErrorCode::OriginTimeout => Outcome::OriginTimeout,
                        _ => Outcome::OriginFailed,
                    };
                    report.error = Some(message);
                    break;
                }
            }
        }
    };
    tokio::join!(forward, collect);
    report.done_ms = now_ms().max(report.first_byte_ms.unwrap_or(started_ms));
    report
}

/// Counts a piece of the response body and keeps its start for the report.
fn keep(report: &mut DeliveryReport, data: &[u8]) {
    report.body_size += data.len() as u64;
    let room = MAX_REPORTED_BODY_BYTES.saturating_sub(report.body.len());
    report.body.extend_from_slice(&data[..data.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keeps_the_body_start_and_counts_all_of_it() {
        let mut report = DeliveryReport {
            request_id: "r".into(),
            method: "GET".into(),
            path: "/".into(),
            outcome: Outcome::Completed,
            status: Some(200),
            headers: Vec::new(),
            body: Vec::new(),
            body_size: 0,
            error: None,
            started_ms: 0,
            first_byte_ms: None,
            done_ms: 0,
        };
        keep(&mut report, &vec![1; MAX_REPORTED_BODY_BYTES - 1]);
        keep(&mut report, &[2, 3]);
        keep(&mut report, &[4]);
        assert_eq!(report.body.len(), MAX_REPORTED_BODY_BYTES);
        assert_eq!(report.body.last(), Some(&2));
        assert_eq!(report.body_size, MAX_REPORTED_BODY_BYTES as u64 + 2);
    }
}
