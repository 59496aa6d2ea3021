//! The offline inbox on the wire: what the control plane hands a reconnected client
//! to deliver, and what the client reports back.
//!
//! While no client serves a tunnel whose policy has an [`crate::policy::Inbox`], the
//! backend holds admitted public requests in arrival order and answers them itself.
//! When the client is back it takes them one at a time (`POST
//! /v1/tunnels/{id}/inbox/take`), sends each to its origin, and reports how that went
//! (`POST /v1/tunnels/{id}/inbox/deliveries`), which the request log records beside
//! the held request. Taking removes the request from the inbox, so a request is
//! delivered at most once even when a client dies mid-delivery; the log keeps it for
//! a replay.

use serde::{Deserialize, Serialize};

use crate::inspect::Outcome;
use crate::protocol::Headers;

/// Most response body bytes a delivery report carries (the control plane reads
/// bodies of at most 64 KiB, and the report is JSON with the body in base64).
pub const MAX_REPORTED_BODY_BYTES: usize = 16 * 1024;

/// A request the inbox held, as it goes to the origin: its headers are those the
/// origin would have got live (`X-Forwarded-*`, `X-Request-Id` of the held request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRequest {
    /// The held request's id (its record in the request log).
    pub request_id: String,
    /// The tunnel.
    pub tunnel_id: String,
    /// Arrival order within the tunnel's inbox, from 1.
    pub seq: u64,
    /// When it arrived, Unix milliseconds.
    pub received_ms: u64,
    /// When it is dropped undelivered, Unix seconds.
    pub expires_at: u64,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header lines for the origin.
    pub headers: Headers,
    /// The whole body.
    #[serde(with = "crate::b64")]
    pub body: Vec<u8>,
}

/// `POST /v1/tunnels/{id}/inbox/take` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    /// The oldest held request, now out of the inbox; `None` when it is empty.
    pub request: Option<HeldRequest>,
}

/// `POST /v1/tunnels/{id}/inbox/deliveries` body: how one delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryReport {
    /// The held request's id.
    pub request_id: String,
    /// Its method and path, for the record when the log no longer has the request.
    pub method: String,
    /// See [`HeldRequest::path`].
    pub path: String,
    /// How it ended: `completed`, or why no response came.
    pub outcome: Outcome,
    /// The origin's status, when it answered.
    #[serde(default)]
    pub status: Option<u16>,
    /// The origin's response headers.
    #[serde(default)]
    pub headers: Headers,
    /// The start of the origin's response body, at most [`MAX_REPORTED_BODY_BYTES`].
    #[serde(default, with = "crate::b64")]
    pub body: Vec<u8>,
    /// The response body's full size.
    #[serde(default)]
    pub body_size: u64,
    /// Why it failed, for people, when it did.
    #[serde(default)]
    pub error: Option<String>,
    /// When the client sent it to the origin, Unix milliseconds.
    pub started_ms: u64,
    /// When the origin's first byte came, if it did.
    #[serde(default)]
    pub first_byte_ms: Option<u64>,
    /// When the delivery ended.
    pub done_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_round_trip() {
        let held = HeldRequest {
            request_id: "r1".into(),
            tunnel_id: "t1".into(),
            seq: 3,
            received_ms: 10,
            expires_at: 20,
            method: "POST".into(),
            path: "/hook?x=1".into(),
            headers: vec![("x-request-id".into(), "r1".into())],
            body: vec![0, 159, 255],
        };
        let json = serde_json::to_string(&Taken {
            request: Some(held.clone()),
        })
        .unwrap();
        assert!(json.contains("\"body\":\"AJ//\""), "{json}");
        let back: Taken = serde_json::from_str(&json).unwrap();
        assert_eq!(back.request, Some(held));
        let empty: Taken = serde_json::from_str(r#"{"request":null}"#).unwrap();
        assert_eq!(empty.request, None);

        let report: DeliveryReport = serde_json::from_str(
            r#"{"request_id":"r1","method":"GET","path":"/","outcome":"origin_refused","started_ms":1,"done_ms":2}"#,
        )
        .unwrap();
        assert_eq!(report.outcome, Outcome::OriginRefused);
        assert!(report.body.is_empty() && report.status.is_none());
    }
}
