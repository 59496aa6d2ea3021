//! The live feed of a tunnel's captured exchanges, held open as server-sent events.
//!
//! The shared router answers the same route with a finite stream (what a Lambda can
//! do); here the stream stays open and each exchange is pushed as soon as it is stored.
//! A subscriber that reconnects with `Last-Event-ID` first gets what it missed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use client_core::clock::now_secs as unix_now;
use client_core::inspect::{ExchangeSummary, Filter};
use http::{HeaderValue, Response, header};
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::broadcast;
use tunnel_backend::api::{self, ApiRequest, ApiResponse, LIVE_RETRY_MS, live_event};
use tunnel_backend::handlers::inspect::{self, MAX_PAGE};
use tunnel_backend::handlers::{ApiFailure, tunnels};
use tunnel_backend::store::LogQuery;

use crate::{Body, State, control};

/// A comment line sent this often keeps idle proxies and browsers from closing the
/// stream.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Longest life of one stream; the browser reopens it with `Last-Event-ID`, so nothing
/// is lost, and a server shutting down is never held up long by one.
pub const MAX_STREAM_AGE: Duration = Duration::from_secs(300);

/// The tunnel id when `req` asks for a live feed.
pub fn feed_path(req: &ApiRequest) -> Option<String> {
    if req.method != "GET" {
        return None;
    }
    let segments: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        ["v1", "tunnels", id, "requests", "live"] => Some((*id).to_owned()),
        _ => None,
    }
}

/// Answers a live-feed request: an error, or an open event stream.
pub async fn serve(state: Arc<State>, req: ApiRequest, tunnel_id: String) -> Response<Body> {
    match open(&state, &req, &tunnel_id).await {
        Ok(body) => {
            let mut r = Response::new(body);
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(api::EVENT_STREAM),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(f) => control::json(ApiResponse::from_failure(&f)),
    }
}

async fn open(state: &Arc<State>, req: &ApiRequest, tunnel_id: &str) -> Result<Body, ApiFailure> {
    let b = &state.backend;
    let now = unix_now();
    let caller = api::live_caller(b, req, now).await?;
    let tunnel = tunnels::get_tunnel(b, &caller, tunnel_id, now).await?;
    let filter = Filter::from_query(&api::filter_query(&req.query))
        .map_err(|e| ApiFailure::bad_request(e.to_string()))?;
    // Subscribe before reading the backlog, so nothing falls between the two.
    let rx = state.inspector.subscribe();
    let after = req
        .last_event_id
        .clone()
        .or_else(|| api::query_param(&req.query, "after").map(str::to_owned))
        .filter(|id| inspect::is_request_id(id));
    let mut first = format!("retry: {LIVE_RETRY_MS}\n\n");
    let mut sent = std::collections::HashSet::new();
    if let Some(after) = &after {
        let page = b
            .store
            .list_exchanges(LogQuery {
                tunnel_id: &tunnel.tunnel_id,
                before: None,
                filter: &filter,
                limit: MAX_PAGE,
            })
            .await?;
        for s in page
            .exchanges
            .iter()
            .rev()
            .filter(|s| &s.request_id > after)
        {
            first.push_str(&live_event(s));
            sent.insert(s.request_id.clone());
        }
    }
    let feed = Feed {
        rx,
        tunnel_id: tunnel.tunnel_id,
        filter,
        backlog: sent,
        first: Some(first),
        deadline: tokio::time::Instant::now() + MAX_STREAM_AGE,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        feed.next()
            .await
            .map(|text| (Ok(Frame::data(Bytes::from(text))), feed))
    });
    Ok(http_body_util::StreamBody::new(stream).boxed_unsync())
}

struct Feed {
    rx: broadcast::Receiver<Arc<ExchangeSummary>>,
    tunnel_id: String,
    filter: Filter,
    /// Ids sent from the backlog, which the feed may bring again. Exchanges end out of
    /// order, so ids cannot be compared to find repeats.
    backlog: std::collections::HashSet<String>,
    first: Option<String>,
    deadline: tokio::time::Instant,
}

impl Feed {
    /// The next text to send; `None` ends the stream.
    async fn next(&mut self) -> Option<String> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            let received = tokio::select! {
                r = self.rx.recv() => r,
                () = tokio::time::sleep(KEEPALIVE) => return Some(": keep-alive\n\n".into()),
                () = tokio::time::sleep_until(self.deadline) => return None,
            };
            match received {
                Ok(s) => {
                    if s.tunnel_id != self.tunnel_id
                        || !self.filter.matches_summary(&s)
                        || self.backlog.remove(&s.request_id)
                    {
                        continue;
                    }
                    return Some(live_event(&s));
                }
                // Fell behind: end the stream; the browser reopens it from the last
                // id it got and the backlog fills the gap.
                Err(broadcast::error::RecvError::Lagged(_))
                | Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
