//! The request inspector: capturing proxied exchanges, and the handlers that list,
//! show, clear and prepare replays of them.
//!
//! Capture is pure bookkeeping ([`Recording`]): a server feeds it the steps of an
//! exchange as they happen and stores what [`Recording::finish`] returns. Sending a
//! replay through a tunnel is the server's business, behind the [`Replayer`] port.

use async_trait::async_trait;
use client_core::api::ApiErrorCode;
use client_core::inspect::{
    BodyCapture, CapturedBody, Exchange, Filter, Message, Outcome, ReplayEdits, ReplayRequest,
    RequestPage, ResponseRecord, Timings, redact_exchange,
};
use client_core::protocol::Headers;

use super::{ApiFailure, Caller, tunnels};
use crate::Backend;
use crate::model::TunnelRecord;
use crate::store::{LogQuery, StoreError};

mod strip;

pub use strip::{body_bytes, strip_bodies, without_bodies};

/// Exchanges per page when the caller does not say.
pub const DEFAULT_PAGE: usize = 50;

/// Most exchanges per page.
pub const MAX_PAGE: usize = 200;

/// Random bytes after the time in a request id.
pub const REQUEST_ID_RANDOM_BYTES: usize = 6;

/// A new request id: the receipt time in milliseconds as 11 hex digits (enough until
/// the year 2527), then random hex. Ids sort by time, so a log keyed by them is in
/// arrival order and a cursor is just the last id seen. Two ids of one millisecond
/// sort at random: a server numbering its own arrivals uses [`RequestIds`].
pub fn new_request_id(now_ms: u64) -> String {
    request_id(now_ms, random_suffix())
}

fn request_id(ms: u64, suffix: u64) -> String {
    format!(
        "{ms:011x}{suffix:0width$x}",
        width = 2 * REQUEST_ID_RANDOM_BYTES
    )
}

/// A random suffix with its top bit clear, so [`RequestIds`] can count up from it
/// 2^47 times without carrying into the time.
fn random_suffix() -> u64 {
    // Unique, not secret: the thread's generator spares a system call per request.
    rand::Rng::r#gen::<u64>(&mut rand::thread_rng()) >> (64 - 8 * REQUEST_ID_RANDOM_BYTES + 1)
}

/// Request ids that sort in the order this process handed them out, even within one
/// millisecond: the log lists "newest first" by id, and a request that arrived after
/// another must not be listed behind it by the luck of a random suffix. Within a
/// millisecond the suffix counts up from a random start (as ULID's monotonic mode
/// does); a clock that steps back keeps the last time seen. Across processes (Lambda
/// sandboxes) ids stay unique by the random start, and their order within a
/// millisecond is as unknowable as which of two machines saw a request first.
#[derive(Debug, Default)]
pub struct RequestIds {
    /// The time and suffix of the last id handed out.
    last: std::sync::Mutex<(u64, u64)>,
}

impl RequestIds {
    /// The id of a request received at `now_ms`, after every id handed out before.
    pub fn next(&self, now_ms: u64) -> String {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (ms, suffix) = match *last {
            (ms, suffix) if now_ms <= ms && suffix < SUFFIX_MAX => (ms, suffix + 1),
            (ms, _) if now_ms <= ms => (ms + 1, random_suffix()),
            _ => (now_ms, random_suffix()),
        };
        *last = (ms, suffix);
        request_id(ms, suffix)
    }
}

/// Largest suffix an id can carry.
const SUFFIX_MAX: u64 = (1 << (8 * REQUEST_ID_RANDOM_BYTES)) - 1;

/// True when `id` has the shape [`new_request_id`] gives (so it can be a cursor or a
/// key without further escaping).
pub fn is_request_id(id: &str) -> bool {
    id.len() == 11 + 2 * REQUEST_ID_RANDOM_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One exchange being captured.
#[derive(Debug)]
pub struct Recording {
    exchange: Exchange,
    request_body: BodyCapture,
    response_body: Option<BodyCapture>,
    cap: usize,
    redact: bool,
}

impl Recording {
    /// Starts capturing a public request that just arrived on `tunnel`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        tunnel: &TunnelRecord,
        request_id: &str,
        method: &str,
        path: &str,
        remote_addr: &str,
        headers: &Headers,
        received_ms: u64,
        cap: usize,
    ) -> Self {
        Self {
            exchange: Exchange {
                request_id: request_id.to_owned(),
                tunnel_id: tunnel.tunnel_id.clone(),
                replay_of: None,
                inbox_of: None,
                method: method.to_owned(),
                path: path.to_owned(),
                remote_addr: remote_addr.to_owned(),
                request: Message {
                    headers: headers.clone(),
                    body: CapturedBody::default(),
                },
                response: None,
                outcome: Outcome::Completed,
                timings: Timings {
                    received_ms,
                    ..Timings::default()
                },
            },
            request_body: CapturedBody::capture(cap),
            response_body: None,
            cap,
            redact: tunnel.redact_secrets,
        }
    }

    /// Marks this exchange as a replay of `request_id`.
    pub fn replay_of(&mut self, request_id: &str) {
        self.exchange.replay_of = Some(request_id.to_owned());
    }

    /// Marks this exchange as the delivery of held request `request_id`.
    pub fn inbox_of(&mut self, request_id: &str) {
        self.exchange.inbox_of = Some(request_id.to_owned());
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.exchange.request_id
    }

    /// When the request arrived, Unix milliseconds.
    pub fn received_ms(&self) -> u64 {
        self.exchange.timings.received_ms
    }

    /// The tunnel.
    pub fn tunnel_id(&self) -> &str {
        &self.exchange.tunnel_id
    }

    /// Keeps a tunnel share token out of the log, whatever the tunnel's redaction
    /// setting: it is the tunnel's credential, not the origin's, and HAR or curl
    /// exports get passed around. The `X-Tunnel-Token` header is masked (a replay then
    /// drops it); the path becomes `admitted_path`, what the origin saw, when the
    /// request was admitted, or keeps the parameter with its value masked when not.
    pub fn hide_share_token(&mut self, admitted_path: Option<&str>) {
        use client_core::inspect::REDACTED;
        use client_core::policy::{SHARE_TOKEN_HEADER, SHARE_TOKEN_PARAM};
        for (n, v) in &mut self.exchange.request.headers {
            if n.eq_ignore_ascii_case(SHARE_TOKEN_HEADER) {
                *v = REDACTED.to_owned();
            }
        }
        self.exchange.path = match admitted_path {
            Some(p) => p.to_owned(),
            None => {
                let (path, values) =
                    super::policy::take_query_param(&self.exchange.path, SHARE_TOKEN_PARAM);
                if values.is_empty() {
                    path
                } else {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    format!("{path}{sep}{SHARE_TOKEN_PARAM}={REDACTED}")
                }
            }
        };
    }

    /// More of the request body went by.
    pub fn request_body(&mut self, data: &[u8]) {
        self.request_body.push(data);
    }

    /// The request was sent into the tunnel.
    pub fn forwarded(&mut self, now_ms: u64) {
        self.exchange.timings.forwarded_ms = Some(now_ms);
    }

    /// The origin's response head came back.
    pub fn response_head(&mut self, status: u16, headers: &Headers, now_ms: u64) {
        self.exchange.timings.first_byte_ms = Some(now_ms);
        self.exchange.response = Some(ResponseRecord {
            status,
            headers: headers.clone(),
            body: CapturedBody::default(),
        });
        self.response_body = Some(CapturedBody::capture(self.cap));
    }

    /// More of the response body went by.
    pub fn response_body(&mut self, data: &[u8]) {
        if let Some(c) = &mut self.response_body {
            c.push(data);
        }
    }

    /// The exchange ended with `outcome`: the record to store, credentials masked
    /// unless the tunnel opted out.
    pub fn finish(mut self, outcome: Outcome, now_ms: u64) -> Exchange {
        self.exchange.outcome = outcome;
        self.exchange.timings.done_ms = Some(now_ms);
        self.exchange.request.body = self.request_body.finish();
        if let (Some(r), Some(c)) = (&mut self.exchange.response, self.response_body) {
            r.body = c.finish();
        }
        if self.redact {
            redact_exchange(&mut self.exchange);
        }
        self.exchange
    }
}

/// Sends a replay through a tunnel and captures it; each server provides its own,
/// since only it knows how to reach the tunnel's client.
#[async_trait]
pub trait Replayer: Send + Sync {
    /// Sends `request` through `tunnel` as a replay of `replay_of`, waits for the end of
    /// the exchange, stores it and returns it.
    async fn replay(
        &self,
        tunnel: &TunnelRecord,
        request: ReplayRequest,
        replay_of: &str,
    ) -> Result<Exchange, ApiFailure>;

    /// Stores an exchange the control plane made itself (an inbox delivery report)
    /// where the log's readers will see it. A server with a live feed publishes it
    /// there too.
    async fn record(&self, b: &Backend, exchange: &Exchange) -> Result<(), StoreError> {
        b.store
            .put_exchanges(vec![exchange.clone()], b.config.log_keep)
            .await
    }
}

/// Paging parameters of a list query (the filter reads the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Paging {
    cursor: Option<String>,
    limit: usize,
}

fn paging(query: &str) -> Result<Paging, ApiFailure> {
    let mut p = Paging {
        cursor: None,
        limit: DEFAULT_PAGE,
    };
    for pair in query.split('&').filter(|s| !s.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "cursor" if !value.is_empty() => {
                if !is_request_id(value) {
                    return Err(ApiFailure::bad_request(
                        "cursor is not one this API gave out; pass next_cursor from the previous page as is",
                    ));
                }
                p.cursor = Some(value.to_owned());
            }
            "limit" if !value.is_empty() => {
                p.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiFailure::bad_request(format!(
                            "limit must be a whole number from 1 to {MAX_PAGE} (got {value:?})"
                        ))
                    })?;
            }
            _ => {}
        }
    }
    Ok(p)
}

/// `GET /v1/tunnels/{id}/requests?cursor=&limit=&method=&status=&path_prefix=`:
/// a page of the tunnel's log, newest first.
pub async fn list_requests(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    query: &str,
    now: u64,
) -> Result<RequestPage, ApiFailure> {
    let tunnel = tunnels::get_tunnel(b, caller, tunnel_id, now).await?;
    let filter = Filter::from_query(query).map_err(|e| ApiFailure::bad_request(e.to_string()))?;
    let paging = paging(query)?;
    let page = b
        .store
        .list_exchanges(LogQuery {
            tunnel_id: &tunnel.tunnel_id,
            before: paging.cursor.as_deref(),
            filter: &filter,
            limit: paging.limit,
        })
        .await?;
    Ok(RequestPage {
        requests: page.exchanges,
        next_cursor: page.next,
    })
}

/// `GET /v1/requests/{id}`: one whole exchange of one of the caller's tunnels (an
/// expired tunnel's log is gone with it).
///
/// The exchange is looked up in the caller's own tunnels' logs only, newest tunnel
/// first: a request id of another client's tunnel is never read, and a store may key
/// its log on (tunnel, request) with no index by request id (the DynamoDB one does:
/// an index would double every log write).
pub async fn get_request(
    b: &Backend,
    caller: &Caller,
    request_id: &str,
    now: u64,
) -> Result<Exchange, ApiFailure> {
    let not_found = || ApiFailure::not_found("request", request_id);
    if !is_request_id(request_id) {
        return Err(not_found());
    }
    for tunnel in b
        .store
        .list_tunnels(&caller.client_id, now)
        .await?
        .iter()
        .rev()
    {
        if let Some(x) = b.store.get_exchange(&tunnel.tunnel_id, request_id).await? {
            return Ok(x);
        }
    }
    Err(not_found())
}

/// `DELETE /v1/tunnels/{id}/requests`: empties the tunnel's log.
pub async fn clear_requests(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    now: u64,
) -> Result<(), ApiFailure> {
    let tunnel = tunnels::get_tunnel(b, caller, tunnel_id, now).await?;
    b.store.clear_exchanges(&tunnel.tunnel_id).await?;
    Ok(())
}

/// `POST /v1/requests/{id}/replay`: builds the edited request and has `replayer` send it.
pub async fn replay_request(
    b: &Backend,
    caller: &Caller,
    request_id: &str,
    edits: &ReplayEdits,
    replayer: &dyn Replayer,
    now: u64,
) -> Result<Exchange, ApiFailure> {
    let original = get_request(b, caller, request_id, now).await?;
    let request = edits
        .apply(&original)
        .map_err(|e| ApiFailure::new(422, ApiErrorCode::BadRequest, e.to_string()))?;
    let tunnel = tunnels::get_tunnel(b, caller, &original.tunnel_id, now).await?;
    replayer.replay(&tunnel, request, request_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel(redact: bool) -> TunnelRecord {
        TunnelRecord {
            tunnel_id: "t1".into(),
            client_id: "c1".into(),
            domain: "app".into(),
            created_at: 1,
            connection_id: None,
            redact_secrets: redact,
            policy: None,
            expires_at: None,
        }
    }

    #[test]
    fn request_ids_sort_by_time_and_are_recognised() {
        let a = new_request_id(1_700_000_000_000);
        let b = new_request_id(1_700_000_000_001);
        assert!(a < b);
        assert!(is_request_id(&a) && is_request_id(&b));
        assert!(!is_request_id("../etc"));
        assert!(!is_request_id(&a[1..]));
        assert!(!is_request_id(&a.to_ascii_uppercase().replace('0', "G")));
    }

    #[test]
    fn ids_of_one_millisecond_sort_in_the_order_they_were_handed_out() {
        let ids = RequestIds::default();
        let issued: Vec<String> = (0..1000).map(|_| ids.next(1_700_000_000_000)).collect();
        let mut sorted = issued.clone();
        sorted.sort();
        assert_eq!(issued, sorted);
        assert!(issued.iter().all(|id| is_request_id(id)));
        assert!(issued[999].starts_with(&format!("{:011x}", 1_700_000_000_000u64)));
    }

    #[test]
    fn a_clock_stepping_back_does_not_reorder_ids() {
        let ids = RequestIds::default();
        let a = ids.next(2_000);
        let b = ids.next(1_000);
        assert!(a < b);
        assert!(b.starts_with(&format!("{:011x}", 2_000u64)));
        assert!(ids.next(3_000).starts_with(&format!("{:011x}", 3_000u64)));
    }

    #[test]
    fn a_suffix_at_its_largest_moves_on_to_the_next_millisecond() {
        let ids = RequestIds {
            last: std::sync::Mutex::new((5_000, SUFFIX_MAX - 1)),
        };
        let a = ids.next(5_000);
        assert!(a.ends_with(&"f".repeat(2 * REQUEST_ID_RANDOM_BYTES)));
        let b = ids.next(5_000);
        assert!(a < b && is_request_id(&b));
        assert!(b.starts_with(&format!("{:011x}", 5_001u64)));
    }

    #[test]
    fn a_random_suffix_leaves_room_to_count() {
        for _ in 0..1000 {
            assert!(random_suffix() < 1 << (8 * REQUEST_ID_RANDOM_BYTES - 1));
        }
    }

    #[test]
    fn a_recording_captures_bodies_up_to_the_cap_and_redacts() {
        let headers = vec![
            ("authorization".to_owned(), "Bearer s3cret".to_owned()),
            ("accept".to_owned(), "*/*".to_owned()),
        ];
        let mut r = Recording::start(
            &tunnel(true),
            "id",
            "POST",
            "/x",
            "1.2.3.4:5",
            &headers,
            10,
            4,
        );
        r.request_body(b"abc");
        r.request_body(b"def");
        r.forwarded(11);
        r.response_head(201, &vec![("set-cookie".into(), "a=b".into())], 12);
        r.response_body(b"ok");
        let x = r.finish(Outcome::Completed, 13);
        assert_eq!(x.request.body.bytes, b"abcd");
        assert_eq!(x.request.body.size, 6);
        assert!(x.request.body.truncated);
        let resp = x.response.as_ref().expect("response");
        assert_eq!((resp.status, resp.body.bytes.as_slice()), (201, &b"ok"[..]));
        assert!(!resp.body.truncated);
        assert_eq!(x.request.headers[0].1, client_core::inspect::REDACTED);
        assert_eq!(resp.headers[0].1, client_core::inspect::REDACTED);
        assert_eq!(x.timings.duration_ms(), Some(3));

        let r = Recording::start(&tunnel(false), "id", "GET", "/", "", &headers, 10, 4);
        let x = r.finish(Outcome::OriginRefused, 20);
        assert_eq!(x.request.headers[0].1, "Bearer s3cret", "opted out");
        assert!(x.response.is_none());
    }

    #[test]
    fn share_tokens_stay_out_of_the_log_even_when_not_redacting() {
        use client_core::inspect::REDACTED;
        let headers = vec![("X-Tunnel-Token".to_owned(), "tok-secret".to_owned())];
        // (path received, admitted path, path logged)
        let cases = [
            ("/a?tunnel_token=tok-secret&b=1", Some("/a?b=1"), "/a?b=1"),
            (
                "/a?tunnel_token=tok-wrong&b=1",
                None,
                "/a?b=1&tunnel_token=[redacted]",
            ),
            (
                "/a?tunnel_token=tok-wrong",
                None,
                "/a?tunnel_token=[redacted]",
            ),
            ("/a", None, "/a"),
        ];
        for (path, admitted, logged) in cases {
            let mut r = Recording::start(&tunnel(false), "id", "GET", path, "", &headers, 0, 10);
            r.hide_share_token(admitted);
            let x = r.finish(Outcome::Refused, 1);
            assert_eq!(x.path, logged, "{path}");
            assert_eq!(x.request.headers[0].1, REDACTED);
        }
    }

    #[test]
    fn paging_is_checked() {
        assert_eq!(paging("").expect("empty").limit, DEFAULT_PAGE);
        assert_eq!(
            paging(&format!("limit={MAX_PAGE}")).expect("edge").limit,
            MAX_PAGE
        );
        assert!(paging(&format!("limit={}", MAX_PAGE + 1)).is_err());
        assert!(paging("limit=0").is_err());
        assert!(paging("cursor=nope").is_err());
        let id = new_request_id(5);
        assert_eq!(
            paging(&format!("method=GET&cursor={id}"))
                .expect("cursor")
                .cursor,
            Some(id)
        );
    }
}
