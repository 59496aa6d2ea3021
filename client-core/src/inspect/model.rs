//! The captured exchange, its list view, list filters and replay edits.
//!
//! Every type serializes with snake_case field names; body bytes are base64 (standard
//! alphabet, padded) in JSON, as in the wire protocol. Optional fields are written as
//! `null` rather than left out, so a console sees every field of the shape.

use serde::{Deserialize, Serialize};

use super::http::{is_header_value, is_token};
use super::query;
use super::redact::REDACTED;
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

/// Which exchanges a list shows. Every criterion set must match; none set matches all.
///
/// As a query string: `method=GET&status=4xx&path_prefix=/api`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Only this method (compared case-insensitively; kept upper-case).
    #[serde(default)]
    pub method: Option<String>,
    /// Only responses of this status class, 1 to 5 (`4` is 4xx). Exchanges without a
    /// response never match a status class.
    #[serde(default)]
    pub status_class: Option<u8>,
    /// Only paths starting with this (case-sensitive, on the path as received, query
    /// string included).
    #[serde(default)]
    pub path_prefix: Option<String>,
}

/// Query parameters [`Filter::from_query`] passes over: they belong to the list's
/// paging, which shares the query string.
pub const PAGE_PARAMS: &[&str] = &["cursor", "limit"];

/// A query string that is not a valid [`Filter`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A parameter the filter does not know.
    #[error("unknown filter parameter \"{0}\": use method, status or path_prefix")]
    UnknownParam(String),
    /// A parameter given twice.
    #[error("filter parameter \"{0}\" is given more than once")]
    Repeated(String),
    /// A `%` escape that is malformed or decodes to invalid UTF-8.
    #[error("filter parameter \"{0}\" is not properly percent-encoded")]
    BadEncoding(String),
    /// `method` is not an HTTP method token.
    #[error("method must be an HTTP method such as GET or POST (got \"{0}\")")]
    BadMethod(String),
    /// `status` is not a status class.
    #[error("status must be one of 1xx, 2xx, 3xx, 4xx or 5xx (got \"{0}\")")]
    BadStatus(String),
    /// `path_prefix` does not start with `/`.
    #[error("path_prefix must start with / (got \"{0}\")")]
    BadPathPrefix(String),
}

impl Filter {
    /// True when `exchange` passes every criterion set.
    pub fn matches(&self, exchange: &Exchange) -> bool {
        self.matches_summary(&ExchangeSummary::from(exchange))
    }

    /// [`Self::matches`] on a list line, which holds every field a filter reads.
    pub fn matches_summary(&self, summary: &ExchangeSummary) -> bool {
        if let Some(method) = &self.method
            && !method.eq_ignore_ascii_case(&summary.method)
        {
            return false;
        }
        if let Some(class) = self.status_class
            && summary.status.is_none_or(|s| s / 100 != u16::from(class))
        {
            return false;
        }
        if let Some(prefix) = &self.path_prefix
            && !summary.path.starts_with(prefix.as_str())
        {
            return false;
        }
        true
    }

    /// True when no criterion is set.
    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.status_class.is_none() && self.path_prefix.is_none()
    }

    /// Parses `method=GET&status=4xx&path_prefix=/api` (a leading `?` is allowed).
    ///
    /// Values are form-decoded (`+` and `%XX`). An empty value (`method=`) sets nothing,
    /// as an HTML form sends for an empty field. `status` takes `1xx` to `5xx` (`X` may
    /// be upper-case). The paging parameters of [`PAGE_PARAMS`] are passed over; any
    /// other parameter is an error, so a typo does not silently list everything.
    pub fn from_query(query: &str) -> Result<Filter, FilterError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut filter = Filter::default();
        let mut seen: Vec<String> = Vec::new();
        for (raw_key, raw_value) in query::split(query) {
            let key = query::decode(raw_key)
                .ok_or_else(|| FilterError::BadEncoding(raw_key.to_owned()))?;
            if PAGE_PARAMS.contains(&key.as_str()) {
                continue;
            }
            if !matches!(key.as_str(), "method" | "status" | "path_prefix") {
                return Err(FilterError::UnknownParam(key));
            }
            if seen.contains(&key) {
                return Err(FilterError::Repeated(key));
            }
            let value =
                query::decode(raw_value).ok_or_else(|| FilterError::BadEncoding(key.clone()))?;
            seen.push(key.clone());
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "method" => {
                    if !is_token(&value) {
                        return Err(FilterError::BadMethod(value));
                    }
                    filter.method = Some(value.to_ascii_uppercase());
                }
                "status" => filter.status_class = Some(parse_status_class(&value)?),
                _ => {
                    if !value.starts_with('/') {
                        return Err(FilterError::BadPathPrefix(value));
                    }
                    filter.path_prefix = Some(value);
                }
            }
        }
        Ok(filter)
    }

    /// The query string [`Self::from_query`] reads back into this filter (no leading
    /// `?`; empty for an empty filter).
    pub fn to_query(&self) -> String {
        let mut pairs = Vec::new();
        if let Some(method) = &self.method {
            pairs.push(format!("method={}", query::encode(method)));
        }
        if let Some(class) = self.status_class {
            pairs.push(format!("status={class}xx"));
        }
        if let Some(prefix) = &self.path_prefix {
            pairs.push(format!("path_prefix={}", query::encode(prefix)));
        }
        pairs.join("&")
    }
}

fn parse_status_class(value: &str) -> Result<u8, FilterError> {
    let bytes = value.as_bytes();
    match bytes {
        [d @ b'1'..=b'5', x1, x2]
            if x1.eq_ignore_ascii_case(&b'x') && x2.eq_ignore_ascii_case(&b'x') =>
        {
            Ok(d - b'0')
        }
        _ => Err(FilterError::BadStatus(value.to_owned())),
    }
}

/// Changes to make to a captured request before sending it again.
///
/// [`Self::apply`] does, in order: method and path replaced when given; headers whose
/// value is [`REDACTED`] dropped (a mask is not a credential: put the real one back with
/// `set_headers`); `remove_headers` removed; `set_headers` set; body replaced when given;
/// then the framing headers fixed, see [`Self::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayEdits {
    /// New method.
    #[serde(default)]
    pub method: Option<String>,
    /// New path and query string (origin form, starting with `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// Headers to set. Each name (case-insensitive) replaces every captured value of
    /// that name, at the place of the first; a name given twice here sends both values.
    #[serde(default)]
    pub set_headers: Headers,
    /// Names of headers to remove (case-insensitive). Applied before `set_headers`, so
    /// a name in both ends up set.
    #[serde(default)]
    pub remove_headers: Vec<String>,
    /// New body (base64 in JSON); `None` keeps the captured one.
    #[serde(default, with = "crate::b64::option")]
    pub body: Option<Vec<u8>>,
}

/// The request a replay sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query string.
    pub path: String,
    /// Header lines, in order.
    pub headers: Headers,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why a replay cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The captured body is only a prefix of the original, and no new body was given.
    #[error(
        "the captured request body is truncated ({captured} of {size} bytes); give a new body to replay it"
    )]
    TruncatedBody {
        /// Bytes captured.
        captured: u64,
        /// Bytes the original body had.
        size: u64,
    },
    /// The new method is not an HTTP method token.
    #[error("method must be an HTTP method such as GET or POST (got \"{0}\")")]
    BadMethod(String),
    /// The new path does not start with `/` or holds whitespace or control characters.
    #[error("path must start with / and hold no spaces or control characters (got \"{0}\")")]
    BadPath(String),
    /// A header name to set is not a token.
    #[error("header name \"{0}\" is not valid")]
    BadHeaderName(String),
    /// A header value to set holds CR, LF or another control character.
    #[error("the value of header \"{0}\" holds a line break or control character")]
    BadHeaderValue(String),
}

impl ReplayEdits {
    /// The request to send for a replay of `exchange` with these edits.
    ///
    /// Framing: the replay sends the body whole, so every captured or set
    /// `Content-Length` and `Transfer-Encoding` is removed, and `content-length: <len>`
    /// is appended when the body is not empty, when the captured request declared a
    /// length or an encoding, or when the edits give a body (so a `POST` emptied on
    /// purpose says `content-length: 0`). A `GET` without a body stays without one.
    ///
    /// Fails when the captured body was truncated and no new body is given (sending a
    /// prefix would be a different request), and on edits that are not valid HTTP.
    pub fn apply(&self, exchange: &Exchange) -> Result<ReplayRequest, ReplayError> {
        let method = match &self.method {
            Some(method) if !is_token(method) => {
                return Err(ReplayError::BadMethod(method.clone()));
            }
            Some(method) => method.clone(),
            None => exchange.method.clone(),
        };
        let path = match &self.path {
            Some(path) if !is_origin_path(path) => return Err(ReplayError::BadPath(path.clone())),
            Some(path) => path.clone(),
            None => exchange.path.clone(),
        };
        for (name, value) in &self.set_headers {
            if !is_token(name) {
                return Err(ReplayError::BadHeaderName(name.clone()));
            }
            if !is_header_value(value) {
                return Err(ReplayError::BadHeaderValue(name.clone()));
            }
        }
        let captured = &exchange.request.body;
        let body = match &self.body {
            Some(body) => body.clone(),
            None if captured.truncated || captured.bytes.len() as u64 != captured.size => {
                return Err(ReplayError::TruncatedBody {
                    captured: captured.bytes.len() as u64,
                    size: captured.size,
                });
            }
            None => captured.bytes.clone(),
        };

        let is_framing = |name: &str| {
            name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
        };
        let declared_length = exchange.request.headers.iter().any(|(n, _)| is_framing(n));

        let mut headers: Headers = exchange
            .request
            .headers
            .iter()
            .filter(|(name, value)| {
                value != REDACTED
                    && !self
                        .remove_headers
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect();

        let mut done: Vec<&str> = Vec::new();
        for (name, _) in &self.set_headers {
            if done.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                continue;
            }
            done.push(name);
            let values = self
                .set_headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .cloned();
            match headers
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some(at) => {
                    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    let tail = headers.split_off(at.min(headers.len()));
                    headers.extend(values);
                    headers.extend(tail);
                }
                None => headers.extend(values),
            }
        }

        headers.retain(|(name, _)| !is_framing(name));
        if !body.is_empty() || declared_length || self.body.is_some() {
            headers.push(("content-length".to_owned(), body.len().to_string()));
        }

        Ok(ReplayRequest {
            method,
            path,
            headers,
            body,
        })
    }
}

fn is_origin_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|b| b > 0x20 && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn exchange(method: &str, path: &str, status: Option<u16>) -> Exchange {
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

    #[test]
    fn filter_parses_query_strings() {
        assert_eq!(Filter::from_query("").unwrap(), Filter::default());
        assert_eq!(Filter::from_query("?").unwrap(), Filter::default());
        let f = Filter::from_query("?method=get&status=4xx&path_prefix=%2Fapi%20v1").unwrap();
        assert_eq!(f.method.as_deref(), Some("GET"));
        assert_eq!(f.status_class, Some(4));
        assert_eq!(f.path_prefix.as_deref(), Some("/api v1"));
        assert_eq!(Filter::from_query(&f.to_query()).unwrap(), f);
        assert_eq!(Filter::default().to_query(), "");

        // Edges of the status classes, either case of X.
        assert_eq!(
            Filter::from_query("status=1xx").unwrap().status_class,
            Some(1)
        );
        assert_eq!(
            Filter::from_query("status=5XX").unwrap().status_class,
            Some(5)
        );
        for bad in ["0xx", "6xx", "404", "4x", "4xxx", "xx", "4", "four"] {
            let err = Filter::from_query(&format!("status={bad}")).unwrap_err();
            assert_eq!(err, FilterError::BadStatus(bad.into()));
            assert_eq!(
                err.to_string(),
                format!("status must be one of 1xx, 2xx, 3xx, 4xx or 5xx (got \"{bad}\")")
            );
        }

        // Empty values set nothing; paging parameters are passed over.
        let f = Filter::from_query("method=&status=&cursor=abc&limit=50&&path_prefix=/x").unwrap();
        assert_eq!(
            f,
            Filter {
                path_prefix: Some("/x".into()),
                ..Filter::default()
            }
        );

        // Errors name the problem.
        assert_eq!(
            Filter::from_query("stauts=4xx").unwrap_err().to_string(),
            "unknown filter parameter \"stauts\": use method, status or path_prefix"
        );
        assert_eq!(
            Filter::from_query("method=GET&method=POST").unwrap_err(),
            FilterError::Repeated("method".into())
        );
        assert_eq!(
            Filter::from_query("method=GE%20T").unwrap_err(),
            FilterError::BadMethod("GE T".into())
        );
        assert_eq!(
            Filter::from_query("path_prefix=api")
                .unwrap_err()
                .to_string(),
            "path_prefix must start with / (got \"api\")"
        );
        assert_eq!(
            Filter::from_query("path_prefix=%zz").unwrap_err(),
            FilterError::BadEncoding("path_prefix".into())
        );
    }

    #[test]
    fn filter_matches_every_criterion() {
        let ok = exchange("GET", "/api/items?x=1", Some(200));
        let missing = exchange("POST", "/apix", Some(404));
        let refused = exchange("GET", "/api", None);
        let f = |q: &str| Filter::from_query(q).unwrap();

        assert!(f("").matches(&ok) && f("").matches(&refused));
        assert!(f("method=get").matches(&ok));
        assert!(!f("method=POST").matches(&ok));
        assert!(f("status=2xx").matches(&ok));
        assert!(!f("status=2xx").matches(&missing));
        assert!(f("status=4xx").matches(&missing));
        // No response: no status class matches.
        for class in 1..=5 {
            assert!(!f(&format!("status={class}xx")).matches(&refused));
        }
        // Prefix is a plain string prefix on the path as received.
        assert!(f("path_prefix=/api").matches(&ok));
        assert!(f("path_prefix=/api").matches(&missing));
        assert!(f("path_prefix=/api/").matches(&ok));
        assert!(!f("path_prefix=/api/").matches(&missing));
        assert!(f("path_prefix=/api/items%3Fx%3D1").matches(&ok));
        assert!(!f("path_prefix=/API").matches(&ok));
        // All together.
        assert!(f("method=GET&status=2xx&path_prefix=/api").matches(&ok));
        assert!(!f("method=GET&status=4xx&path_prefix=/api").matches(&ok));
    }

    fn post(body: &[u8]) -> Exchange {
        let mut x = exchange("POST", "/submit", Some(200));
        x.request.headers = headers(&[
            ("Host", "x.example"),
            ("Authorization", REDACTED),
            ("X-Trace", "a"),
            ("Content-Type", "text/plain"),
            ("x-trace", "b"),
            ("Content-Length", &body.len().to_string()),
        ]);
        x.request.body = CapturedBody::full(body.to_vec());
        x
    }

    #[test]
    fn replay_without_edits_sends_the_capture() {
        let r = ReplayEdits::default().apply(&post(b"hello")).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/submit");
        assert_eq!(r.body, b"hello");
        // The redacted header is dropped; content-length recomputed at the end.
        assert_eq!(
            r.headers,
            headers(&[
                ("Host", "x.example"),
                ("X-Trace", "a"),
                ("Content-Type", "text/plain"),
                ("x-trace", "b"),
                ("content-length", "5"),
            ])
        );

        // A GET without a body gets no content-length.
        let r = ReplayEdits::default()
            .apply(&exchange("GET", "/", Some(200)))
            .unwrap();
        assert!(!r.headers.iter().any(|(n, _)| n == "content-length"));
    }

    #[test]
    fn replay_edits_replace_remove_and_recompute() {
        let edits = ReplayEdits {
            method: Some("PUT".into()),
            path: Some("/other?q=1".into()),
            set_headers: headers(&[
                ("x-TRACE", "new"),
                ("authorization", "Bearer real"),
                ("X-Trace", "new2"),
                ("Content-Length", "999"),
            ]),
            remove_headers: vec!["HOST".into(), "content-type".into()],
            body: Some(b"{}".to_vec()),
        };
        let r = edits.apply(&post(b"hello")).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("PUT", "/other?q=1"));
        assert_eq!(r.body, b"{}");
        assert_eq!(
            r.headers,
            headers(&[
                ("x-TRACE", "new"),
                ("X-Trace", "new2"),
                ("authorization", "Bearer real"),
                ("content-length", "2"),
            ])
        );

        // Emptying a POST body on purpose says so.
        let edits = ReplayEdits {
            body: Some(vec![]),
            ..ReplayEdits::default()
        };
        let r = edits.apply(&post(b"hello")).unwrap();
        assert_eq!(
            r.headers.last(),
            Some(&("content-length".to_owned(), "0".to_owned()))
        );

        // Chunked framing becomes a length.
        let mut chunked = post(b"abc");
        chunked
            .request
            .headers
            .retain(|(n, _)| n != "Content-Length");
        chunked
            .request
            .headers
            .push(("Transfer-Encoding".into(), "chunked".into()));
        let r = ReplayEdits::default().apply(&chunked).unwrap();
        assert!(
            !r.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        );
        assert_eq!(
            r.headers.last(),
            Some(&("content-length".to_owned(), "3".to_owned()))
        );

        // Remove and set the same name: set wins.
        let edits = ReplayEdits {
            set_headers: headers(&[("x-trace", "z")]),
            remove_headers: vec!["X-Trace".into()],
            ..ReplayEdits::default()
        };
        let r = edits.apply(&post(b"")).unwrap();
        assert_eq!(
            r.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("x-trace"))
                .count(),
            1
        );
    }

    #[test]
    fn replay_refuses_truncated_bodies_and_bad_edits() {
        let mut x = post(b"hello");
        x.request.body = CapturedBody {
            bytes: b"he".to_vec(),
            size: 5,
            truncated: true,
        };
        assert_eq!(
            ReplayEdits::default().apply(&x).unwrap_err(),
            ReplayError::TruncatedBody {
                captured: 2,
                size: 5
            }
        );
        // A new body lifts the refusal.
        let edits = ReplayEdits {
            body: Some(b"whole".to_vec()),
            ..ReplayEdits::default()
        };
        assert_eq!(edits.apply(&x).unwrap().body, b"whole");

        let bad = |edits: ReplayEdits| edits.apply(&post(b"")).unwrap_err();
        assert_eq!(
            bad(ReplayEdits {
                method: Some("GE T".into()),
                ..ReplayEdits::default()
            }),
            ReplayError::BadMethod("GE T".into())
        );
        assert_eq!(
            bad(ReplayEdits {
                path: Some("x".into()),
                ..ReplayEdits::default()
            }),
            ReplayError::BadPath("x".into())
        );
        assert_eq!(
            bad(ReplayEdits {
                path: Some("/a b".into()),
                ..ReplayEdits::default()
            }),
            ReplayError::BadPath("/a b".into())
        );
        assert_eq!(
            bad(ReplayEdits {
                set_headers: headers(&[("a b", "1")]),
                ..ReplayEdits::default()
            }),
            ReplayError::BadHeaderName("a b".into())
        );
        assert_eq!(
            bad(ReplayEdits {
                set_headers: headers(&[("x", "1\r\nInjected: yes")]),
                ..ReplayEdits::default()
            }),
            ReplayError::BadHeaderValue("x".into())
        );
    }

    #[test]
    fn replay_edits_json_body_is_base64() {
        let edits: ReplayEdits = serde_json::from_str(r#"{"body":"AP8="}"#).unwrap();
        assert_eq!(edits.body.as_deref(), Some(&[0u8, 255][..]));
        assert!(edits.set_headers.is_empty() && edits.method.is_none());
        let edits: ReplayEdits = serde_json::from_str(r#"{"body":null}"#).unwrap();
        assert_eq!(edits.body, None);
        let text = serde_json::to_string(&ReplayEdits {
            body: Some(vec![0, 255]),
            set_headers: headers(&[("a", "b")]),
            ..ReplayEdits::default()
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"method":null,"path":null,"set_headers":[["a","b"]],"remove_headers":[],"body":"AP8="}"#
        );
        assert!(serde_json::from_str::<ReplayEdits>(r#"{"body":"!!"}"#).is_err());
    }
}
