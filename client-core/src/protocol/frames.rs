//! The frames, one enum per direction.
//!
//! Both enums are tagged by `action` because API Gateway routes WebSocket messages on
//! `$request.body.action`; the same field names the frame kind everywhere else.

use serde::{Deserialize, Serialize};

/// Identifies one proxied exchange within a session. Chosen by the server.
pub type StreamId = u64;

/// Header lines in arrival order; repeated names stay repeated.
pub type Headers = Vec<(String, String)>;

fn is_false(b: &bool) -> bool {
    !*b
}

/// Frames the client sends to the server. Read by `frames_de` (one pass, see `tagged`):
/// a field added here goes there too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame of a session: binds this connection to a tunnel the caller owns.
    Connect {
        /// Protocol version the client speaks.
        version: u16,
        /// The tunnel to serve, created beforehand over the REST API.
        tunnel_id: String,
        /// The client reads binary BODY frames and would like to send them. Absent
        /// (false) in JSON from clients that predate the binary encoding.
        #[serde(default, skip_serializing_if = "is_false")]
        binary: bool,
        /// The client served this tunnel on an earlier connection (it reconnects
        /// after a drop or a renewal). Only counted (the reconnect metric); absent
        /// means false, so older clients and servers interoperate.
        #[serde(default, skip_serializing_if = "is_false")]
        resume: bool,
        /// The client carries HTTP upgrades (WebSocket): a REQUEST with `Upgrade` kept
        /// stays open, and after a RESPONSE with status 101 both bodies are the raw
        /// upgraded byte stream. Absent (false) from older clients, which get upgrade
        /// requests as plain requests.
        #[serde(default, skip_serializing_if = "is_false")]
        upgrade: bool,
        /// The client fetches a request body by URL (REQUEST's `body_url`) and may put
        /// a large answer's body at REQUEST's `answer_url` (RESPONSE's `stored`).
        /// Absent (false) from older clients, which get every body as BODY chunks.
        #[serde(default, skip_serializing_if = "is_false")]
        body_urls: bool,
    },
    /// Status and headers of the origin's answer to a REQUEST, maybe with its whole body.
    Response {
        /// The REQUEST this answers.
        id: StreamId,
        /// HTTP status code.
        status: u16,
        /// Response headers, in order.
        headers: Headers,
        /// The body when it fits in this frame; otherwise BODY frames follow.
        #[serde(default, skip_serializing_if = "Vec::is_empty", with = "crate::b64")]
        body: Vec<u8>,
        /// True when no BODY frames follow.
        fin: bool,
        /// The body was put at the REQUEST's `answer_url` (whole, before this frame
        /// was sent): no body here, `fin` true, no BODY frames follow.
        #[serde(default, skip_serializing_if = "is_false")]
        stored: bool,
        /// Echo of the REQUEST's `reply_to`, so a stateless relay knows where to send this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        /// Echo of the REQUEST's `secret`, proving the answer comes from the addressee.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A piece of a response body.
    Body(BodyChunk),
    /// The client could not answer a REQUEST (origin refused, timed out, ...).
    Error(ErrorFrame),
    /// Keep-alive probe; the peer answers PONG with the same nonce.
    Ping {
        /// Opaque value echoed back.
        nonce: u64,
    },
    /// Answer to a PING.
    Pong {
        /// The nonce of the PING being answered.
        nonce: u64,
    },
    /// Stop routing new requests to this connection; those in flight go on. The
    /// server answers RELEASED. Sent ahead of a reconnect (connection age cap).
    Release {},
}

/// Frames the server sends to the client. Read by `frames_de`, as [`ClientFrame`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answer to CONNECT: the tunnel is live.
    Connected {
        /// Protocol version the server speaks.
        version: u16,
        /// The tunnel now served by this connection.
        tunnel_id: String,
        /// Its subdomain.
        domain: String,
        /// Where the public reaches it.
        public_url: String,
        /// Largest body chunk, in raw bytes, either side may send in one frame.
        max_chunk: usize,
        /// BODY chunks of one response the client may send ahead of CREDIT; 0 means
        /// no limit (a transport with its own backpressure, like the local stack).
        #[serde(default)]
        window: u32,
        /// Seconds after which the client should replace this connection at its next
        /// idle moment, ahead of a cap on connection age (API Gateway: 2 h); 0 never.
        #[serde(default)]
        renew_after: u32,
        /// The server reads binary BODY frames from this connection: only when CONNECT
        /// asked for them and the transport carries them (not API Gateway).
        #[serde(default, skip_serializing_if = "is_false")]
        binary: bool,
    },
    /// A public HTTP request for the origin, maybe with its whole body.
    Request {
        /// Names this exchange in every later frame.
        id: StreamId,
        /// HTTP method.
        method: String,
        /// Path and query string, as received.
        path: String,
        /// Request headers, in order.
        headers: Headers,
        /// The body when it fits in this frame; otherwise BODY frames follow.
        #[serde(default, skip_serializing_if = "Vec::is_empty", with = "crate::b64")]
        body: Vec<u8>,
        /// True when no BODY frames follow.
        fin: bool,
        /// Where a relay should send the answer (AWS return channel); echoed back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        /// Per-request secret the answer must carry; echoed back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// Where the whole body is to be fetched (an HTTPS GET, a presigned S3 URL),
        /// instead of from `body` and BODY frames: then `body` is empty and `fin`
        /// true. Sent only to a client whose CONNECT set `body_urls`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body_url: Option<String>,
        /// Where the client may put a large answer's body (an HTTPS PUT with its
        /// length, a presigned S3 URL) and answer RESPONSE with `stored`. Ignored by
        /// clients that did not set `body_urls`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer_url: Option<String>,
    },
    /// A piece of a request body.
    Body(BodyChunk),
    /// More room for a response body: BODY chunks numbered below `up_to` may be sent.
    /// Where every client message is a separate function invocation (AWS), this keeps
    /// a large body from outrunning the relay's concurrency.
    Credit {
        /// The exchange.
        id: StreamId,
        /// Chunks numbered below this may be sent.
        up_to: u32,
    },
    /// The public client went away: stop working on this exchange.
    Cancel {
        /// The exchange to drop.
        id: StreamId,
    },
    /// The server refuses something; without an `id` it ends the session.
    Error(ErrorFrame),
    /// Keep-alive probe; the peer answers PONG with the same nonce.
    Ping {
        /// Opaque value echoed back.
        nonce: u64,
    },
    /// Answer to a PING.
    Pong {
        /// The nonce of the PING being answered.
        nonce: u64,
    },
    /// Answer to RELEASE: no new request will be routed to this connection.
    Released {},
}

/// A piece of a body. Chunks of one stream are numbered from 0 with no gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyChunk {
    /// The exchange this body belongs to.
    pub id: StreamId,
    /// Position of this chunk, from 0.
    pub seq: u32,
    /// The bytes.
    #[serde(with = "crate::b64")]
    pub data: Vec<u8>,
    /// True on the last chunk.
    pub fin: bool,
    /// Echo of the REQUEST's `reply_to` (response bodies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Echo of the REQUEST's `secret` (response bodies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// What went wrong, for one exchange or for the whole session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// The exchange concerned; `None` for the whole session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<StreamId>,
    /// Machine-readable kind.
    pub code: ErrorCode,
    /// What a person should know or do.
    pub message: String,
    /// Echo of the REQUEST's `reply_to`, when answering one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Echo of the REQUEST's `secret`, when answering one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Kinds of protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The origin refused the connection (nothing listening on the local port).
    OriginRefused,
    /// The origin took too long to answer.
    OriginTimeout,
    /// The origin answered with something that is not HTTP, or broke off.
    OriginFailed,
    /// The peer broke the protocol (bad sequence, unknown stream, oversized frame).
    ProtocolViolation,
    /// CONNECT named a version this server does not speak.
    UnsupportedVersion,
    /// CONNECT named a tunnel that does not exist or is not the caller's.
    UnknownTunnel,
    /// Another connection already serves the tunnel.
    TunnelInUse,
    /// The connection is not authorized.
    Unauthorized,
    /// The body is larger than the server accepts.
    BodyTooLarge,
    /// Something failed on the server.
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order (for tests and fuzz targets that go through
    /// them all).
    pub const ALL: [Self; 10] = [
        Self::OriginRefused,
        Self::OriginTimeout,
        Self::OriginFailed,
        Self::ProtocolViolation,
        Self::UnsupportedVersion,
        Self::UnknownTunnel,
        Self::TunnelInUse,
        Self::Unauthorized,
        Self::BodyTooLarge,
        Self::Internal,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_listed_once_and_reads_back() {
        // Exhaustive: a new code does not build until it has a place here; ALL must hold
        // it at that place.
        let place = |c: ErrorCode| match c {
            ErrorCode::OriginRefused => 0,
            ErrorCode::OriginTimeout => 1,
            ErrorCode::OriginFailed => 2,
            ErrorCode::ProtocolViolation => 3,
            ErrorCode::UnsupportedVersion => 4,
            ErrorCode::UnknownTunnel => 5,
            ErrorCode::TunnelInUse => 6,
            ErrorCode::Unauthorized => 7,
            ErrorCode::BodyTooLarge => 8,
            ErrorCode::Internal => 9,
        };
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(place(code), i, "{code:?}");
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
        }
    }
}
