//! Every limit of the wire contract, named once.
//!
//! The figures that come from AWS API Gateway are the binding ones: a frame that fits
//! there fits everywhere.

use std::time::Duration;

/// Version carried in CONNECT; a server refuses versions it does not speak.
pub const PROTOCOL_VERSION: u16 = 1;

/// API Gateway WebSocket: the largest message it accepts (bigger closes with 1009).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// API Gateway WebSocket: the largest single frame. Our messages are sent unfragmented,
/// so every encoded message must fit in one frame.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// Raw body bytes per chunk in the JSON encoding. Base64 grows them by 4/3 (21,848
/// bytes), which leaves ~10 KiB of the 32 KiB frame for the envelope and headers.
pub const JSON_CHUNK_BYTES: usize = 16 * 1024;

/// The largest chunk a server may advertise: its base64 (87,382 bytes) plus a head at
/// the header limits still fits in one [`MAX_MESSAGE_BYTES`] message. A local stack,
/// free of API Gateway's 32 KiB frame limit, uses it for throughput.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// Smallest chunk a server may advertise; anything less is a misconfiguration.
pub const MIN_CHUNK_BYTES: usize = 1024;

/// Requests a single session carries at once. More is a misbehaving peer.
pub const MAX_CONCURRENT_STREAMS: usize = 1024;

/// Header lines per request or response head.
pub const MAX_HEADER_COUNT: usize = 128;

/// Total bytes of header names and values in one head.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Longest request target (path and query).
pub const MAX_PATH_BYTES: usize = 8 * 1024;

/// How often an idle client sends PING. Far below API Gateway's 10-minute idle cap.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// With nothing received for this long the connection is presumed dead.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// First reconnect delay.
pub const RECONNECT_INITIAL: Duration = Duration::from_millis(250);

/// Reconnect delays stop growing here.
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// BODY chunks of one response a client may send ahead of CREDIT on AWS: 16 chunks of
/// 16 KiB keep 256 KiB in flight per stream, so a 5 MB body needs at most 16 concurrent
/// relay invocations at any moment.
pub const CREDIT_WINDOW: u32 = 16;

/// After RELEASED, how long a connection keeps taking requests that were routed to it
/// just before: a proxy posts within milliseconds of its routing read.
pub const RELEASE_GRACE: Duration = Duration::from_secs(1);

/// Upgraded (WebSocket) streams one session carries at once. Each holds an origin
/// connection and a public connection open for as long as they talk, so far fewer
/// than [`MAX_CONCURRENT_STREAMS`]; the server answers 503 past it.
pub const MAX_UPGRADED_STREAMS: usize = 64;

/// An upgraded stream with no bytes either way for this long is closed by whichever
/// side notices. Well above the 20-60 s pings that browsers and WebSocket libraries
/// send, so only a dead conversation reaches it.
pub const UPGRADE_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Bodies of at least this many bytes, of a known length, travel through storage
/// (a presigned URL, on AWS S3) instead of as BODY chunks, where the session
/// negotiated it (CONNECT's `body_urls`). At list prices (docs/cost.md) a request
/// body's chunks cost $1 per million each (one `@connections` post), a response
/// body's about $2.33 (a message in, a relay invocation, a message out, an eighth of
/// a CREDIT); the S3 path costs a PUT and a GET ($5.40 per million) whatever the
/// size: even at 88 KiB (request) and 37 KiB (response). 128 KiB is past both, with
/// room for the two S3 round trips the path adds.
pub const STORED_BODY_MIN_BYTES: u64 = 128 * 1024;
