//! The captured exchange and its list view.
//!
//! Every type serializes with snake_case field names; body bytes are base64 (standard
//! alphabet, padded) in JSON, as in the wire protocol. Optional fields are written as
//! `null` rather than left out, so a console sees every field of the shape.

use serde::{Deserialize, Serialize};

use crate::protocol::Headers;

/// One proxied HTTP exchange as the server captured it: the public request, the
/// origin's response if one came, how it ended and when each step happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// Names this exchange; unique per server.
    pub request_id: String,
    /// The tunnel it went through.
    pub tunnel_id: String,
    /// When this exchange is a replay, the `request_id` of the exchange replayed.
    #[serde(default)]
    pub replay_of: Option<String>,
    /// When this exchange is the delivery of a request the offline inbox held, the
    /// `request_id` of the held one.
    #[serde(default)]
    pub inbox_of: Option<String>,
    /// HTTP method, as received.
    pub method: String,
    /// Path and query string, as received (origin form, e.g. `/api/items?page=2`).
    pub path: String,
    /// The public client's address (`ip:port`, or whatever the edge reports).
    pub remote_addr: String,
    /// The public request's headers and body.
    pub request: Message,
    /// The origin's response; `None` when none came (see [`Self::outcome`]).
    #[serde(default)]
    pub response: Option<ResponseRecord>,
    /// How the exchange ended.
    pub outcome: Outcome,
    /// When each step happened.
    pub timings: Timings,
}

/// A request's headers and body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Header lines in arrival order; repeated names stay repeated.
    pub headers: Headers,
    /// The body, up to the capture cap.
    pub body: CapturedBody,
}

/// The origin's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseRecord {
    /// HTTP status code.
    pub status: u16,
    /// Header lines in arrival order; repeated names stay repeated.
    pub headers: Headers,
    /// The body, up to the capture cap.
    pub body: CapturedBody,
}

/// A body kept up to a cap, with the size of the whole.
///
/// Build one with [`CapturedBody::capture`] while the body streams by, or with
/// [`CapturedBody::full`] when it is all at hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedBody {
    /// The first bytes of the body, at most the cap (base64 in JSON).
    #[serde(with = "crate::b64")]
    pub bytes: Vec<u8>,
    /// The size of the whole body as seen, even past the cap.
    pub size: u64,
    /// True when `bytes` holds less than `size`: the body went past the cap.
    pub truncated: bool,
}

impl CapturedBody {
    /// A capture that keeps at most `cap` bytes; feed it with [`BodyCapture::push`].
    pub fn capture(cap: usize) -> BodyCapture {
        BodyCapture {
            cap,
            body: CapturedBody::default(),
        }
    }

    /// A body kept whole.
    pub fn full(bytes: Vec<u8>) -> Self {
        Self {
            size: bytes.len() as u64,
            bytes,
            truncated: false,
        }
    }

    /// True for a body of no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

/// A body being captured: keeps at most its cap, counts everything.
#[derive(Debug, Clone)]
pub struct BodyCapture {
    cap: usize,
    body: CapturedBody,
}

impl BodyCapture {
    /// Adds the next piece of the body.
    pub fn push(&mut self, data: &[u8]) {
        let room = self.cap.saturating_sub(self.body.bytes.len());
        let keep = room.min(data.len());
        self.body.bytes.extend_from_slice(&data[..keep]);
        self.body.size = self.body.size.saturating_add(data.len() as u64);
        self.body.truncated = self.body.size > self.body.bytes.len() as u64;
    }

    /// The body so far.
    pub fn body(&self) -> &CapturedBody {
        &self.body
    }

    /// The captured body.
    pub fn finish(self) -> CapturedBody {
        self.body
    }
}

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The origin's response was delivered to the public client.
    Completed,
    /// The origin refused the connection (nothing listening on the local port).
    OriginRefused,
    /// The origin took too long to answer.
    OriginTimeout,
    /// The origin answered with something that is not HTTP, or broke off.
    OriginFailed,
    /// The public client went away before the exchange ended.
    ClientDisconnected,
    /// No tunnel client was connected.
    TunnelOffline,
    /// The tunnel client never answered in time.
    Timeout,
    /// A body was larger than the server accepts.
    TooLarge,
    /// A policy refused the request before it was forwarded.
    Refused,
    /// The tunnel's client was offline and the request was held in its inbox; the
    /// public got the inbox's answer and the delivery is recorded apart (`inbox_of`).
    Held,
}

impl Outcome {
    /// Every outcome, in declaration order (for tests and fuzz targets that go through
    /// them all).
    pub const ALL: [Self; 10] = [
        Self::Completed,
        Self::OriginRefused,
        Self::OriginTimeout,
        Self::OriginFailed,
        Self::ClientDisconnected,
        Self::TunnelOffline,
        Self::Timeout,
        Self::TooLarge,
        Self::Refused,
        Self::Held,
    ];

    /// The snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::OriginRefused => "origin_refused",
            Outcome::OriginTimeout => "origin_timeout",
            Outcome::OriginFailed => "origin_failed",
            Outcome::ClientDisconnected => "client_disconnected",
            Outcome::TunnelOffline => "tunnel_offline",
            Outcome::Timeout => "timeout",
            Outcome::TooLarge => "too_large",
            Outcome::Refused => "refused",
            Outcome::Held => "held",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When each step of an exchange happened, in Unix milliseconds (the caller's clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// The public request's head arrived.
    pub received_ms: u64,
    /// The request was sent into the tunnel; `None` if it never was.
    #[serde(default)]
    pub forwarded_ms: Option<u64>,
    /// The first byte of the origin's response came back; `None` if none did.
    #[serde(default)]
    pub first_byte_ms: Option<u64>,
    /// The exchange ended (response delivered, or failure answered); `None` while open.
    #[serde(default)]
    pub done_ms: Option<u64>,
}

impl Timings {
    /// From receipt to end, when it has ended.
    pub fn duration_ms(&self) -> Option<u64> {
        self.done_ms
            .map(|done| done.saturating_sub(self.received_ms))
    }
}

/// One line of the request list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeSummary {
    /// See [`Exchange::request_id`].
    pub request_id: String,
    /// See [`Exchange::tunnel_id`].
    pub tunnel_id: String,
    /// See [`Exchange::replay_of`].
    #[serde(default)]
    pub replay_of: Option<String>,
    /// See [`Exchange::inbox_of`].
    #[serde(default)]
    pub inbox_of: Option<String>,
    /// See [`Exchange::method`].
    pub method: String,
    /// See [`Exchange::path`].
    pub path: String,
    /// The response status; `None` when no response came.
    #[serde(default)]
    pub status: Option<u16>,
    /// See [`Exchange::outcome`].
    pub outcome: Outcome,
    /// See [`Timings::received_ms`].
    pub received_ms: u64,
    /// See [`Timings::duration_ms`].
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Full size of the request body, in bytes.
    pub request_size: u64,
    /// Full size of the response body, in bytes; `None` when no response came.
    #[serde(default)]
    pub response_size: Option<u64>,
}

impl From<&Exchange> for ExchangeSummary {
    fn from(x: &Exchange) -> Self {
        Self {
            request_id: x.request_id.clone(),
            tunnel_id: x.tunnel_id.clone(),
            replay_of: x.replay_of.clone(),
            inbox_of: x.inbox_of.clone(),
            method: x.method.clone(),
            path: x.path.clone(),
            status: x.response.as_ref().map(|r| r.status),
            outcome: x.outcome,
            received_ms: x.timings.received_ms,
            duration_ms: x.timings.duration_ms(),
            request_size: x.request.body.size,
            response_size: x.response.as_ref().map(|r| r.body.size),
        }
    }
}

/// One page of the request list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestPage {
    /// The exchanges on this page, in the order the server lists them.
    pub requests: Vec<ExchangeSummary>,
    /// Opaque cursor for the next page; `None` on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Exchanges to test with, shared by this module's tests and its neighbours'.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub(crate) fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    pub(crate) fn exchange(method: &str, path: &str, status: Option<u16>) -> Exchange {
        Exchange {
            request_id: "r1".into(),
            tunnel_id: "t1".into(),
            replay_of: None,
            inbox_of: None,
            method: method.into(),
            path: path.into(),
            remote_addr: "203.0.113.9:5000".into(),
            request: Message {
                headers: headers(&[("Host", "x.example"), ("Accept", "*/*")]),
                body: CapturedBody::default(),
            },
            response: status.map(|status| ResponseRecord {
                status,
                headers: headers(&[("content-type", "text/plain")]),
                body: CapturedBody::full(b"hi".to_vec()),
            }),
            outcome: if status.is_some() {
                Outcome::Completed
            } else {
                Outcome::OriginRefused
            },
            timings: Timings {
                received_ms: 1_000,
                forwarded_ms: Some(1_002),
                first_byte_ms: status.map(|_| 1_010),
                done_ms: Some(1_015),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn capture_keeps_up_to_the_cap_and_counts_all() {
        // Exactly the cap: whole, not truncated.
        let mut c = CapturedBody::capture(4);
        c.push(b"ab");
        c.push(b"cd");
        assert_eq!(c.body().size, 4);
        let body = c.finish();
        assert_eq!(body, CapturedBody::full(b"abcd".to_vec()));
        assert!(!body.truncated);

        // Cap + 1: the last byte dropped, counted, flagged.
        let mut c = CapturedBody::capture(4);
        c.push(b"abc");
        c.push(b"de");
        let body = c.finish();
        assert_eq!(body.bytes, b"abcd");
        assert_eq!(body.size, 5);
        assert!(body.truncated);

        // Pieces past the cap are still counted; an empty push changes nothing.
        let mut c = CapturedBody::capture(2);
        c.push(b"");
        assert!(!c.body().truncated);
        c.push(b"xyz");
        c.push(b"1234");
        c.push(b"");
        let body = c.finish();
        assert_eq!(
            (body.bytes.as_slice(), body.size, body.truncated),
            (&b"xy"[..], 7, true)
        );

        // A zero cap keeps nothing; an empty body is not truncated.
        let mut c = CapturedBody::capture(0);
        assert_eq!(c.body(), &CapturedBody::default());
        c.push(b"a");
        assert_eq!(
            c.finish(),
            CapturedBody {
                bytes: vec![],
                size: 1,
                truncated: true
            }
        );
        assert!(CapturedBody::default().is_empty());
    }

    #[test]
    fn exchange_round_trips_through_json() {
        let mut x = exchange("POST", "/api/items?a=1", Some(201));
        x.replay_of = Some("r0".into());
        x.request.body = CapturedBody {
            bytes: vec![0, 159, 146, 150, 255],
            size: 10,
            truncated: true,
        };
        let text = serde_json::to_string(&x).unwrap();
        assert!(text.contains(r#""bytes":"AJ+Slv8=""#), "{text}");
        assert!(text.contains(r#""outcome":"completed""#), "{text}");
        assert!(
            text.contains(r#""headers":[["Host","x.example"],["Accept","*/*"]]"#),
            "{text}"
        );
        let back: Exchange = serde_json::from_str(&text).unwrap();
        assert_eq!(back, x);

        let refused = exchange("GET", "/", None);
        let value = serde_json::to_value(&refused).unwrap();
        assert_eq!(value["response"], serde_json::Value::Null);
        assert_eq!(value["outcome"], "origin_refused");
        assert_eq!(value["timings"]["first_byte_ms"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<Exchange>(value).unwrap(), refused);
    }

    #[test]
    fn outcomes_are_snake_case() {
        let all = [
            (Outcome::Completed, "completed"),
            (Outcome::OriginRefused, "origin_refused"),
            (Outcome::OriginTimeout, "origin_timeout"),
            (Outcome::OriginFailed, "origin_failed"),
            (Outcome::ClientDisconnected, "client_disconnected"),
            (Outcome::TunnelOffline, "tunnel_offline"),
            (Outcome::Timeout, "timeout"),
            (Outcome::TooLarge, "too_large"),
            (Outcome::Refused, "refused"),
            (Outcome::Held, "held"),
        ];
        assert_eq!(all.map(|(o, _)| o), Outcome::ALL);
        // Exhaustive: a new outcome does not build until it has a place here; ALL must
        // hold it at that place.
        let place = |o: Outcome| match o {
            Outcome::Completed => 0,
            Outcome::OriginRefused => 1,
            Outcome::OriginTimeout => 2,
            Outcome::OriginFailed => 3,
            Outcome::ClientDisconnected => 4,
            Outcome::TunnelOffline => 5,
            Outcome::Timeout => 6,
            Outcome::TooLarge => 7,
            Outcome::Refused => 8,
            Outcome::Held => 9,
        };
        for (i, o) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(place(o), i, "{o:?}");
        }
        for (outcome, name) in all {
            assert_eq!(serde_json::to_value(outcome).unwrap(), name);
            assert_eq!(outcome.to_string(), name);
            let back: Outcome = serde_json::from_value(name.into()).unwrap();
            assert_eq!(back, outcome);
        }
    }

    #[test]
    fn summary_takes_sizes_status_and_duration() {
        let mut x = exchange("PUT", "/a", Some(404));
        x.request.body = CapturedBody {
            bytes: b"ab".to_vec(),
            size: 9,
            truncated: true,
        };
        let s = ExchangeSummary::from(&x);
        assert_eq!(s.status, Some(404));
        assert_eq!(s.duration_ms, Some(15));
        assert_eq!(s.request_size, 9);
        assert_eq!(s.response_size, Some(2));
        assert_eq!(s.received_ms, 1_000);

        let mut open = exchange("GET", "/", None);
        open.timings.done_ms = None;
        let s = ExchangeSummary::from(&open);
        assert_eq!(
            (s.status, s.duration_ms, s.response_size),
            (None, None, None)
        );
        assert_eq!(s.outcome, Outcome::OriginRefused);

        let page = RequestPage {
            requests: vec![s],
            next_cursor: Some("c2".into()),
        };
        let back: RequestPage =
            serde_json::from_str(&serde_json::to_string(&page).unwrap()).unwrap();
        assert_eq!(back, page);
    }
}
