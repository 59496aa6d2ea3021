//! `GET /v1/tunnels/{id}/stats`: a tunnel's connection state and its recent traffic,
//! computed from its request log, so both backends answer it the same way without a
//! metrics store of their own (`tunnel status` shows it).

use client_core::api::TunnelStats;
use client_core::inspect::{ExchangeSummary, Filter};

use super::{ApiFailure, Caller, inspect::MAX_PAGE, tunnels};
use crate::Backend;
use crate::store::LogQuery;

/// The window the counts cover.
pub const STATS_WINDOW_SECS: u64 = 60;

/// A tunnel's stats at `now_ms` (Unix milliseconds).
pub async fn tunnel_stats(
    b: &Backend,
    caller: &Caller,
    tunnel_id: &str,
    now_ms: u64,
) -> Result<TunnelStats, ApiFailure> {
    let t = tunnels::get_tunnel(b, caller, tunnel_id, now_ms / 1000).await?;
    let view = tunnels::view(b, &t, 0);
    let connected_since = match &t.connection_id {
        Some(c) => b.store.get_connection(c).await?.map(|r| r.connected_at),
        None => None,
    };
    let since = now_ms.saturating_sub(STATS_WINDOW_SECS * 1000);
    let filter = Filter::default();
    let mut recent: Vec<ExchangeSummary> = Vec::new();
    let mut seen = 0usize;
    let mut cursor: Option<String> = None;
    // Newest first: stop at the first exchange older than the window.
    let exhausted = 'pages: loop {
        let page = b
            .store
            .list_exchanges(LogQuery {
                tunnel_id: &t.tunnel_id,
                before: cursor.as_deref(),
                filter: &filter,
                limit: MAX_PAGE,
            })
            .await?;
        for x in page.exchanges {
            if x.received_ms < since {
                break 'pages false;
            }
            seen += 1;
            recent.push(x);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break true,
        }
    };
    let mut stats = summarize(&recent);
    stats.tunnel_id = view.tunnel_id;
    stats.domain = view.domain;
    stats.public_url = view.public_url;
    stats.status = view.status;
    stats.connected_since = connected_since;
    stats.truncated = exhausted && seen >= b.config.log_keep;
    // Read only for a tunnel with an inbox: on DynamoDB it is a query.
    if super::inbox::settings(&t).is_some() {
        stats.held = Some(b.store.count_held(&t.tunnel_id, now_ms / 1000).await?);
    }
    Ok(stats)
}

/// Counts and latency percentiles of `exchanges` (replays left out), with the
/// tunnel's fields left empty.
pub fn summarize(exchanges: &[ExchangeSummary]) -> TunnelStats {
    let mut stats = TunnelStats {
        tunnel_id: String::new(),
        domain: String::new(),
        public_url: String::new(),
        status: client_core::api::TunnelStatus::Offline,
        connected_since: None,
        window_secs: STATS_WINDOW_SECS,
        held: None,
        requests: 0,
        errors: 0,
        p50_ms: None,
        p99_ms: None,
        bytes_in: 0,
        bytes_out: 0,
        truncated: false,
    };
    let mut durations = Vec::new();
    for x in exchanges.iter().filter(|x| x.replay_of.is_none()) {
        stats.requests += 1;
        if x.status.is_none_or(|s| s >= 500) {
            stats.errors += 1;
        }
        stats.bytes_in += x.request_size;
        stats.bytes_out += x.response_size.unwrap_or(0);
        if let Some(d) = x.duration_ms {
            durations.push(d);
        }
    }
    durations.sort_unstable();
    stats.p50_ms = percentile(&durations, 50);
    stats.p99_ms = percentile(&durations, 99);
    stats
}

/// The nearest-rank `p`th percentile of `sorted`.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::inspect::Outcome;

    fn x(status: Option<u16>, ms: u64, replay: bool) -> ExchangeSummary {
        ExchangeSummary {
            request_id: String::new(),
            tunnel_id: "t".into(),
            replay_of: replay.then(|| "r".into()),
            inbox_of: None,
            method: "GET".into(),
            path: "/".into(),
            status,
            outcome: if status.is_some() {
                Outcome::Completed
            } else {
                Outcome::OriginRefused
            },
            received_ms: 0,
            duration_ms: Some(ms),
            request_size: 3,
            response_size: status.map(|_| 10),
        }
    }

    #[test]
    fn counts_errors_bytes_and_percentiles() {
        let mut all: Vec<_> = (1..=98).map(|ms| x(Some(200), ms, false)).collect();
        all.push(x(Some(503), 1000, false));
        all.push(x(None, 2000, false));
        all.push(x(Some(500), 5, true));
        let s = summarize(&all);
        assert_eq!(s.requests, 100);
        assert_eq!(s.errors, 2);
        assert_eq!(s.bytes_in, 300);
        assert_eq!(s.bytes_out, 990);
        assert_eq!(s.p50_ms, Some(50));
        assert_eq!(s.p99_ms, Some(1000));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 99), Some(7));
    }
}
