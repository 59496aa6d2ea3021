//! What the live screen shows, as a pure state machine: the session driver and
//! `tunnel start` feed it events with the time as a parameter (a [`Duration`] since
//! the screen opened), and the view reads it. No terminal, no clock, no I/O here, so
//! every figure is tested with a virtual clock.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// Requests kept for the list (the screen shows as many as fit, newest first).
pub const MAX_ROWS: usize = 200;

/// The window that requests per minute and the percentiles are taken over.
pub const STATS_WINDOW: Duration = Duration::from_secs(60);

/// Durations kept for the percentiles; past this many in one window the oldest go.
pub const MAX_SAMPLES: usize = 10_000;

/// Messages kept (the lines `tunnel start` would have printed on stderr).
pub const MAX_NOTICES: usize = 20;

/// Longest message kept, in characters.
pub const MAX_NOTICE_CHARS: usize = 300;

/// The fixed facts of the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The CLI's version.
    pub version: String,
    /// The local service (`http://localhost:3000`).
    pub target: String,
    /// The server's base URL.
    pub server: String,
    /// The public URL, once the server gave one.
    pub public_url: Option<String>,
    /// The client id the API key belongs to, once known.
    pub account: Option<String>,
    /// The console's inspector page for this tunnel, once the tunnel exists.
    pub inspector: Option<String>,
}

/// Where the connection to the server stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Creating the tunnel or opening the WebSocket.
    Connecting,
    /// The server confirmed the tunnel is live.
    Online,
    /// Waiting before the next attempt, which is due at `at`.
    Reconnecting {
        /// When the next attempt starts.
        at: Duration,
        /// Why the last one failed.
        reason: String,
    },
}

/// A request's place in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowId(u64);

/// Where one request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowState {
    /// Waiting for the origin's answer.
    InFlight,
    /// Answered with `status`; the body (or an upgraded connection) still flows.
    Streaming(u16),
    /// Over.
    Done {
        /// The status the origin answered, if it got that far.
        status: Option<u16>,
        /// Why it ended without a normal end (`cancelled`, `error origin_timeout`).
        error: Option<String>,
        /// How long it took.
        took: Duration,
    },
}

/// One request in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    id: RowId,
    /// When it arrived.
    pub started: Duration,
    /// Its method.
    pub method: String,
    /// Its path and query.
    pub path: String,
    /// Where it stands.
    pub state: RowState,
}

/// The counters the header shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Requests and upgraded connections open now.
    pub open: usize,
    /// Requests ended since the screen opened.
    pub total: u64,
    /// Requests ended within the last [`STATS_WINDOW`].
    pub per_minute: usize,
    /// Median duration within the window.
    pub p50: Option<Duration>,
    /// 90th percentile duration within the window.
    pub p90: Option<Duration>,
}

/// The screen's state.
#[derive(Debug, Clone)]
pub struct Model {
    header: Header,
    connection: Connection,
    latency: Option<Duration>,
    /// The wall clock when `now` was zero, for the time of day on each row.
    opened_at: SystemTime,
    rows: VecDeque<Row>,
    next_row: u64,
    /// (ended at, took) of each request ended within the window, oldest first.
    samples: VecDeque<(Duration, Duration)>,
    total: u64,
    notices: VecDeque<(Duration, String)>,
}

impl Model {
    /// A screen opened at the wall-clock time `opened_at`.
    pub fn new(header: Header, opened_at: SystemTime) -> Self {
        Self {
            header,
            connection: Connection::Connecting,
            latency: None,
            opened_at,
            rows: VecDeque::new(),
            next_row: 0,
            samples: VecDeque::new(),
            total: 0,
            notices: VecDeque::new(),
        }
    }

    /// The header's facts.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The connection's state.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The last measured round trip to the server.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// The requests, newest first.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().rev()
    }

    /// The messages, newest last, with when they came.
    pub fn notices(&self) -> impl Iterator<Item = &(Duration, String)> {
        self.notices.iter()
    }

    /// The wall-clock time of `at`.
    pub fn wall_time(&self, at: Duration) -> SystemTime {
        self.opened_at + at
    }

    /// The tunnel exists: its inspector page in the console is known.
    pub fn handle_tunnel(&mut self, public_url: &str, inspector: String) {
        self.header.public_url = Some(public_url.to_owned());
        self.header.inspector = Some(inspector);
    }

    /// The key's client id is known.
    pub fn handle_account(&mut self, client_id: String) {
        self.header.account = Some(client_id);
    }

    /// The connection changed state.
    pub fn handle_connection_state(&mut self, connection: Connection) {
        self.connection = connection;
    }

    /// The server confirmed the tunnel at `public_url`.
    pub fn handle_connected(&mut self, public_url: &str) {
        self.header.public_url = Some(public_url.to_owned());
        self.connection = Connection::Online;
    }

    /// A round trip to the server was measured.
    pub fn handle_latency(&mut self, latency: Duration) {
        self.latency = Some(latency);
    }

    /// A line `tunnel start` would have printed. Control characters (a colour code in
    /// a log line) are dropped: they would move the cursor over the screen.
    pub fn handle_notice(&mut self, now: Duration, text: &str) {
        let text = printable(text, MAX_NOTICE_CHARS);
        if text.trim().is_empty() {
            return;
        }
        if self.notices.len() == MAX_NOTICES {
            self.notices.pop_front();
        }
        self.notices.push_back((now, text));
    }

    /// A public request arrived.
    pub fn handle_request_started(&mut self, now: Duration, method: &str, path: &str) -> RowId {
        let id = RowId(self.next_row);
        self.next_row += 1;
        if self.rows.len() == MAX_ROWS {
            // The oldest ended one goes; with every one still open, the oldest.
            let at = self
                .rows
                .iter()
                .position(|r| matches!(r.state, RowState::Done { .. }))
                .unwrap_or(0);
            self.rows.remove(at);
        }
        self.rows.push_back(Row {
            id,
            started: now,
            method: printable(method, 16),
            path: printable(path, 2048),
            state: RowState::InFlight,
        });
        id
    }

    /// The origin answered `status`; the body may still flow.
    pub fn handle_response_head(&mut self, id: RowId, status: u16) {
        if let Some(row) = self.row_mut(id)
            && row.state == RowState::InFlight
        {
            row.state = RowState::Streaming(status);
        }
    }

    /// The request ended: with the origin's `status` (if it answered), and `error`
    /// when it did not end normally.
    pub fn handle_request_finished(
        &mut self,
        now: Duration,
        id: RowId,
        status: Option<u16>,
        error: Option<&str>,
    ) {
        let Some(row) = self.row_mut(id) else { return };
        if matches!(row.state, RowState::Done { .. }) {
            return;
        }
        let took = now.saturating_sub(row.started);
        row.state = RowState::Done {
            status,
            error: error.map(|e| printable(e, 64)),
            took,
        };
        self.total += 1;
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((now, took));
    }

    /// Every request still open ended with the connection that carried it.
    pub fn handle_connection_lost(&mut self, now: Duration) {
        let open: Vec<RowId> = self
            .rows
            .iter()
            .filter(|r| !matches!(r.state, RowState::Done { .. }))
            .map(|r| r.id)
            .collect();
        for id in open {
            let status = match self.row_mut(id).map(|r| &r.state) {
                Some(RowState::Streaming(status)) => Some(*status),
                _ => None,
            };
            self.handle_request_finished(now, id, status, Some("connection lost"));
        }
    }

    /// The counters at `now`; samples older than the window are forgotten.
    pub fn poll_stats(&mut self, now: Duration) -> Stats {
        while let Some(&(at, _)) = self.samples.front() {
            if now.saturating_sub(at) < STATS_WINDOW {
                break;
            }
            self.samples.pop_front();
        }
        let mut took: Vec<Duration> = self.samples.iter().map(|&(_, t)| t).collect();
        took.sort_unstable();
        Stats {
            open: self
                .rows
                .iter()
                .filter(|r| !matches!(r.state, RowState::Done { .. }))
                .count(),
            total: self.total,
            per_minute: took.len(),
            p50: percentile(&took, 50),
            p90: percentile(&took, 90),
        }
    }

    fn row_mut(&mut self, id: RowId) -> Option<&mut Row> {
        // Newest last, and an answer usually concerns a recent request.
        self.rows.iter_mut().rev().find(|r| r.id == id)
    }
}

/// The nearest-rank `p`th percentile of `sorted`.
fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// `text` without control characters or ANSI escape sequences, at most `max` chars.
fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters... final byte in @..~
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
        if out.chars().count() >= max {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const S: Duration = Duration::from_secs(1);

    fn model() -> Model {
        Model::new(Header::default(), SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn a_request_shows_in_flight_then_answered_then_done() {
        let mut m = model();
        let id = m.handle_request_started(S, "GET", "/slow");
        let row = m.rows().next().unwrap();
        assert_eq!(row.state, RowState::InFlight);
        assert_eq!(m.poll_stats(2 * S).open, 1);
        m.handle_response_head(id, 200);
        assert_eq!(m.rows().next().unwrap().state, RowState::Streaming(200));
        m.handle_request_finished(5 * S, id, Some(200), None);
        assert_eq!(
            m.rows().next().unwrap().state,
            RowState::Done {
                status: Some(200),
                error: None,
                took: 4 * S
            }
        );
        let stats = m.poll_stats(5 * S);
        assert_eq!((stats.open, stats.total, stats.per_minute), (0, 1, 1));
        assert_eq!(stats.p50, Some(4 * S));
        // A second end of the same request (the driver's clean-up) changes nothing.
        m.handle_request_finished(9 * S, id, None, Some("cancelled"));
        assert_eq!(m.poll_stats(9 * S).total, 1);
    }

    #[test]
    fn rate_and_percentiles_follow_the_window() {
        let mut m = model();
        // 10 requests taking 1..=10 ms, ending at t = 1 s .. 10 s.
        for i in 1..=10u32 {
            let end = S * i;
            let id = m.handle_request_started(end - MS * i, "GET", "/");
            m.handle_request_finished(end, id, Some(200), None);
        }
        let stats = m.poll_stats(10 * S);
        assert_eq!(stats.per_minute, 10);
        assert_eq!(stats.p50, Some(5 * MS));
        assert_eq!(stats.p90, Some(9 * MS));
        // 60 s after the first ended, it leaves the window; at the edge it is in.
        assert_eq!(m.poll_stats(S + STATS_WINDOW - MS).per_minute, 10);
        let stats = m.poll_stats(S + STATS_WINDOW);
        assert_eq!(stats.per_minute, 9);
        assert_eq!(stats.p50, Some(6 * MS));
        assert_eq!(stats.p90, Some(10 * MS));
        let stats = m.poll_stats(10 * S + STATS_WINDOW);
        assert_eq!(stats.per_minute, 0);
        assert_eq!((stats.p50, stats.p90), (None, None));
        assert_eq!(stats.total, 10, "the total is since the screen opened");
    }

    #[test]
    fn percentiles_of_one_and_of_uneven_counts() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7 * MS], 90), Some(7 * MS));
        let three = [MS, 2 * MS, 30 * MS];
        assert_eq!(percentile(&three, 50), Some(2 * MS));
        assert_eq!(percentile(&three, 90), Some(30 * MS));
    }

    #[test]
    fn rows_and_samples_are_bounded() {
        let mut m = model();
        let first = m.handle_request_started(Duration::ZERO, "GET", "/open");
        for i in 0..MAX_ROWS as u64 + 5 {
            let id = m.handle_request_started(Duration::ZERO, "GET", &format!("/{i}"));
            m.handle_request_finished(MS, id, Some(204), None);
        }
        assert_eq!(m.rows().count(), MAX_ROWS);
        assert!(
            m.rows().any(|r| r.path == "/open"),
            "ended requests go before an open one"
        );
        m.handle_request_finished(S, first, Some(200), None);
        assert_eq!(m.poll_stats(S).open, 0);

        let mut m = model();
        for _ in 0..MAX_SAMPLES + 3 {
            let id = m.handle_request_started(Duration::ZERO, "GET", "/");
            m.handle_request_finished(MS, id, Some(200), None);
        }
        let stats = m.poll_stats(MS);
        assert_eq!(stats.per_minute, MAX_SAMPLES);
        assert_eq!(stats.total, MAX_SAMPLES as u64 + 3);
    }

    #[test]
    fn a_lost_connection_ends_what_it_carried() {
        let mut m = model();
        let a = m.handle_request_started(Duration::ZERO, "GET", "/a");
        let b = m.handle_request_started(Duration::ZERO, "GET", "/ws");
        m.handle_response_head(b, 101);
        let c = m.handle_request_started(Duration::ZERO, "GET", "/c");
        m.handle_request_finished(MS, c, Some(200), None);
        m.handle_connection_lost(S);
        let states: Vec<_> = m.rows().map(|r| r.state.clone()).collect();
        let lost = |status| RowState::Done {
            status,
            error: Some("connection lost".into()),
            took: S,
        };
        assert_eq!(states[1], lost(Some(101)));
        assert_eq!(states[2], lost(None));
        assert_eq!(m.poll_stats(S).open, 0);
        let _ = a;
    }

    #[test]
    fn notices_are_bounded_and_cannot_drive_the_terminal() {
        let mut m = model();
        m.handle_notice(S, "\u{1b}[33mWARN\u{1b}[0m cannot\tdrain\u{7}");
        m.handle_notice(S, "   ");
        assert_eq!(
            m.notices().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
            ["WARN cannot drain"]
        );
        for i in 0..MAX_NOTICES {
            m.handle_notice(S, &format!("n{i}"));
        }
        assert_eq!(m.notices().count(), MAX_NOTICES);
        m.handle_notice(S, &"x".repeat(MAX_NOTICE_CHARS * 2));
        assert_eq!(
            m.notices().last().unwrap().1.chars().count(),
            MAX_NOTICE_CHARS
        );
        let id = m.handle_request_started(S, "GET", "/a\u{1b}[2Jb");
        assert_eq!(m.rows().next().unwrap().path, "/ab");
        let _ = id;
    }

    #[test]
    fn connection_states() {
        let mut m = model();
        assert_eq!(m.connection(), &Connection::Connecting);
        m.handle_connected("http://a.localhost:8080");
        assert_eq!(m.connection(), &Connection::Online);
        assert_eq!(
            m.header().public_url.as_deref(),
            Some("http://a.localhost:8080")
        );
        m.handle_connection_state(Connection::Reconnecting {
            at: 3 * S,
            reason: "connection lost".into(),
        });
        assert!(matches!(m.connection(), Connection::Reconnecting { .. }));
        m.handle_latency(12 * MS);
        assert_eq!(m.latency(), Some(12 * MS));
    }
}
