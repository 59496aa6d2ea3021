//! The inspector from the terminal: `tunnel requests` (list, follow, show, export,
//! clear) and `tunnel replay`.
//!
//! The shapes and exports come from `client_core::inspect`, the same the web console
//! uses; this module picks the tunnel, makes the calls and prints.

use std::time::Duration;

use client_core::api::{ApiErrorCode, Tunnel};
use client_core::inspect::{
    Exchange, ExchangeSummary, Filter, ReplayEdits, redact_exchange, to_curl, to_har,
};

use crate::api::{Api, CallError};
use crate::commands::{CommandError, authorized_api};
use crate::config::Settings;
use crate::output;

/// The fewest characters a cut path keeps in `tunnel requests`.
pub const MIN_PATH_WIDTH: usize = 12;

/// How long `--follow` waits for the server before giving up on one attempt.
pub const FOLLOW_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What `tunnel requests` lists.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Tunnel id or domain; the most recent tunnel when absent.
    pub tunnel: Option<String>,
    /// Filters.
    pub filter: Filter,
    /// How many, newest first.
    pub limit: Option<u32>,
    /// Print the server's JSON.
    pub json: bool,
    /// Keep printing new exchanges as they come.
    pub follow: bool,
}

/// The export formats of `tunnel requests export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// HAR 1.2, JSON.
    Har,
    /// A `curl` command line.
    Curl,
}

/// Why an inspector command could not run, beyond API failures.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The command failed in the common ways.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// No tunnel named, and not exactly one to pick.
    #[error("{0}")]
    WhichTunnel(String),
    /// A `--header` that is not `Name: value`.
    #[error("--header {0:?} is not NAME:VALUE (e.g. --header 'X-Env: staging')")]
    BadHeader(String),
    /// `--body @FILE` could not be read.
    #[error("cannot read the body file {path}: {source}")]
    BodyFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The live feed broke off or could not be opened.
    #[error("the live feed at {url} failed: {reason}")]
    Feed {
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl From<CallError> for InspectError {
    fn from(e: CallError) -> Self {
        Self::Command(e.into())
    }
}

impl From<std::io::Error> for InspectError {
    fn from(e: std::io::Error) -> Self {
        Self::Command(e.into())
    }
}

/// The tunnel `wanted` names (its id or its domain), or the caller's most recent one
/// (the one `tunnel start` made last), said on stderr when there was a choice.
async fn pick_tunnel(api: &Api, wanted: Option<&str>) -> Result<Tunnel, InspectError> {
    let tunnels = api.call(|c| c.list_tunnels()).await?.tunnels;
    match wanted {
        Some(w) => tunnels
            .into_iter()
            .find(|t| t.tunnel_id == w || t.domain == w)
            .ok_or_else(|| {
                InspectError::WhichTunnel(format!(
                    "no tunnel {w:?} among yours (by id or domain); see `tunnel list`"
                ))
            }),
        None => {
            let n = tunnels.len();
            let newest = most_recent(tunnels).ok_or_else(|| {
                InspectError::WhichTunnel(
                    "you have no tunnels: start one with `tunnel start <port>`".into(),
                )
            })?;
            if n > 1 {
                eprintln!(
                    "{} (your most recent of {n} tunnels; name another: `tunnel requests <id or domain>`)",
                    newest.domain
                );
            }
            Ok(newest)
        }
    }
}

/// The tunnel a person means by "my most recent one": one a `tunnel start` serves now
/// before any offline one, then the newest (creation times are in seconds, so two made
/// in the same second tie; `max_by_key` then keeps the later listed).
fn most_recent(tunnels: Vec<Tunnel>) -> Option<Tunnel> {
    tunnels.into_iter().max_by_key(|t| {
        (
            t.status == client_core::api::TunnelStatus::Online,
            t.created_at,
        )
    })
}

/// One line per exchange: time, id, method, status, duration, path; fitted to
/// `width` when given (see [`request_line`]).
pub fn request_table(requests: &[ExchangeSummary], width: Option<usize>) -> String {
    if requests.is_empty() {
        return "no requests captured\n".to_owned();
    }
    let mut out = String::new();
    for s in requests {
        out.push_str(&request_line(s, width));
        out.push('\n');
    }
    out
}

/// One exchange as a line, like `tunnel start`'s log with the id to act on. The
/// columns before the path have fixed widths (lines printed one at a time, as
/// `--follow` does, still align); with `width`, the path is cut to what is left (at
/// least [`MIN_PATH_WIDTH`]) and a replay's note shortened, so a line never
/// wraps on a terminal of that width. Without it, everything is whole.
pub fn request_line(s: &ExchangeSummary, width: Option<usize>) -> String {
    let status = s
        .status
        .map_or_else(|| s.outcome.to_string(), |st| st.to_string());
    let duration = s
        .duration_ms
        .map_or_else(|| "-".to_owned(), |d| format!("{d}ms"));
    let head = format!(
        "{}  {}  {:<7} {:>5}  {:>7}  ",
        time_of_day(s.received_ms),
        s.request_id,
        s.method,
        status,
        duration,
    );
    let (note, short_note) = match (&s.replay_of, &s.inbox_of) {
        (Some(of), _) => (format!("  (replay of {of})"), "  (replay)"),
        (None, Some(of)) => (format!("  (delivery of held {of})"), "  (held)"),
        (None, None) => (String::new(), ""),
    };
    let whole = format!("{head}{}{note}", s.path);
    let Some(width) = width.filter(|&w| whole.chars().count() > w) else {
        return whole;
    };
    // The note gives way before the path goes below its minimum (`requests show`
    // has it in full).
    let room = width.saturating_sub(head.chars().count());
    let note = if room >= MIN_PATH_WIDTH + short_note.len() {
        short_note
    } else {
        ""
    };
    let room = room.saturating_sub(note.len()).max(MIN_PATH_WIDTH);
    format!("{head}{}{note}", crate::table::fit(&s.path, room))
}

fn time_of_day(ms: u64) -> String {
    let secs = ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms % 1000
    )
}

/// `tunnel requests [TUNNEL]`.
pub async fn list(settings: &Settings, options: ListOptions) -> Result<(), InspectError> {
    let api = authorized_api(settings)?;
    let tunnel = pick_tunnel(&api, options.tunnel.as_deref()).await?;
    let page = api
        .call(|c| c.list_requests(&tunnel.tunnel_id, &options.filter, None, options.limit))
        .await?;
    if options.json && !options.follow {
        output::print(&output::json(&page))?;
        return Ok(());
    }
    if options.json {
        for s in page.requests.iter().rev() {
            output::print(&format!(
                "{}\n",
                serde_json::to_string(s).unwrap_or_default()
            ))?;
        }
    } else {
        // Oldest first when following, so new lines land at the bottom.
        let mut shown = page.requests.clone();
        if options.follow {
            shown.reverse();
        }
        output::print(&request_table(&shown, crate::table::terminal_width()))?;
    }
    if options.follow {
        follow(settings, &api, &tunnel, &options).await?;
    }
    Ok(())
}

/// Prints each new exchange of `tunnel` from the live feed until the process is
/// stopped; reconnects after the server ends a stream, resuming after the last id.
async fn follow(
    settings: &Settings,
    api: &Api,
    tunnel: &Tunnel,
    options: &ListOptions,
) -> Result<(), InspectError> {
    let key = settings.api_key.clone().unwrap_or_default();
    let query = options.filter.to_query();
    let url = format!(
        "{}{}{}",
        api.live_url(&tunnel.tunnel_id),
        if query.is_empty() { "" } else { "?" },
        query
    );
    let http = api
        .trust()
        .http(reqwest::Client::builder().connect_timeout(FOLLOW_CONNECT_TIMEOUT))
        .map_err(|reason| InspectError::Feed {
            url: url.clone(),
            reason,
        })?
        .build()
        .map_err(|e| InspectError::Feed {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let feed_error = |reason: String| InspectError::Feed {
        url: url.clone(),
        reason,
    };
    let mut last_id: Option<String> = None;
    let width = crate::table::terminal_width();
    loop {
        let mut request = http
            .get(&url)
            .bearer_auth(&key)
            .header("accept", "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| feed_error(e.to_string()))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(feed_error(format!("{status}: {body}")));
        }
        let mut events = client_core::inspect::sse::Parser::default();
        let mut retry = Duration::from_millis(client_core::inspect::sse::DEFAULT_RETRY_MS);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| feed_error(e.to_string()))?
        {
            for event in events.push(&chunk) {
                if let Some(ms) = event.retry_ms {
                    retry = Duration::from_millis(ms);
                }
                if event.event.as_deref() != Some("exchange") {
                    continue;
                }
                if let Some(id) = event.id {
                    last_id = Some(id);
                }
                let Ok(s) = serde_json::from_str::<ExchangeSummary>(&event.data) else {
                    continue;
                };
                let line = if options.json {
                    event.data.clone()
                } else {
                    request_line(&s, width)
                };
                output::print(&format!("{line}\n"))?;
            }
        }
        // The server ended this stream (a finite one on AWS, or a stream's age cap):
        // reopen it after the pause it asked for.
        tokio::time::sleep(retry).await;
    }
}

/// `tunnel requests show ID`: the whole exchange.
pub async fn show(settings: &Settings, request_id: &str, json: bool) -> Result<(), InspectError> {
    let api = authorized_api(settings)?;
    let x = api.call(|c| c.get_request(request_id)).await?;
    if json {
        output::print(&output::json(&x))?;
    } else {
        output::print(&exchange_text(&x))?;
    }
    Ok(())
}

/// An exchange for people: when, how long, from where, then request and response
/// heads, bodies as text when they are.
pub fn exchange_text(x: &Exchange) -> String {
    let mut out = format!(
        "{} {}  {}  outcome {}{}\n",
        x.method,
        x.path,
        x.request_id,
        x.outcome,
        match (&x.replay_of, &x.inbox_of) {
            (Some(of), _) => format!("  replay of {of}"),
            (None, Some(of)) => format!("  delivery of held {of}"),
            (None, None) => String::new(),
        }
    );
    let t = &x.timings;
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<10}{value}\n"));
    line("time:", utc_time(t.received_ms));
    line("duration:", duration_text(t));
    line("client:", x.remote_addr.clone());
    line("tunnel:", x.tunnel_id.clone());
    out.push_str("\n> request\n");
    for (n, v) in &x.request.headers {
        out.push_str(&format!("{n}: {v}\n"));
    }
    out.push_str(&body_text(&x.request.body));
    match &x.response {
        Some(r) => {
            out.push_str(&format!("\n< response {}\n", r.status));
            for (n, v) in &r.headers {
                out.push_str(&format!("{n}: {v}\n"));
            }
            out.push_str(&body_text(&r.body));
        }
        None => out.push_str("\n< no response\n"),
    }
    out
}

/// Unix milliseconds as `2026-12-05 08:00:19.123 UTC`.
fn utc_time(ms: u64) -> String {
    let iso = client_core::inspect::export::iso8601_utc(ms);
    format!("{} UTC", iso.trim_end_matches('Z').replacen('T', " ", 1))
}

/// The whole exchange's duration, and where its time went when the steps are known.
fn duration_text(t: &client_core::inspect::Timings) -> String {
    let Some(total) = t.duration_ms() else {
        return "still open".to_owned();
    };
    let after = |ms: Option<u64>| ms.map(|ms| ms.saturating_sub(t.received_ms));
    match (after(t.forwarded_ms), after(t.first_byte_ms)) {
        (Some(fwd), Some(first)) => {
            format!(
                "{total} ms (sent to your service after {fwd} ms, first byte back after {first} ms)"
            )
        }
        (Some(fwd), None) => format!("{total} ms (sent to your service after {fwd} ms, no answer)"),
        _ => format!("{total} ms (answered by the tunnel server, not sent to your service)"),
    }
}

fn body_text(body: &client_core::inspect::CapturedBody) -> String {
    if body.size == 0 {
        return String::new();
    }
    let cut = if body.truncated {
        format!(" (first {} shown)", body.bytes.len())
    } else {
        String::new()
    };
    match std::str::from_utf8(&body.bytes) {
        Ok(text) => format!("\n[{} bytes{cut}]\n{text}\n", body.size),
        Err(_) => format!("\n[{} bytes of binary{cut}]\n", body.size),
    }
}

/// `tunnel requests export ID --har|--curl`. Credentials are masked in what leaves
/// the machine, whatever the tunnel's setting.
pub async fn export(
    settings: &Settings,
    request_id: &str,
    format: ExportFormat,
) -> Result<(), InspectError> {
    let api = authorized_api(settings)?;
    let mut x = api.call(|c| c.get_request(request_id)).await?;
    redact_exchange(&mut x);
    let tunnel = api.call(|c| c.get_tunnel(&x.tunnel_id)).await?;
    let text = match format {
        ExportFormat::Curl => format!("{}\n", to_curl(&x, &tunnel.public_url)),
        ExportFormat::Har => output::json(&to_har(
            std::slice::from_ref(&x),
            &tunnel.public_url,
            env!("CARGO_PKG_VERSION"),
        )),
    };
    output::print(&text)?;
    Ok(())
}

/// `tunnel requests clear [TUNNEL]`.
pub async fn clear(settings: &Settings, tunnel: Option<&str>) -> Result<(), InspectError> {
    let api = authorized_api(settings)?;
    let tunnel = pick_tunnel(&api, tunnel).await?;
    api.call_empty(|c| c.clear_requests(&tunnel.tunnel_id))
        .await?;
    eprintln!("cleared the request log of {}", tunnel.domain);
    Ok(())
}

/// What `tunnel replay` changes.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// New method.
    pub method: Option<String>,
    /// New path.
    pub path: Option<String>,
    /// `Name: value` headers to set.
    pub headers: Vec<String>,
    /// Header names to remove.
    pub remove_headers: Vec<String>,
    /// New body: text, or `@FILE`.
    pub body: Option<String>,
    /// Print the new exchange as JSON.
    pub json: bool,
}

/// Builds the edits a replay sends from the command line's options.
pub fn edits(options: &ReplayOptions) -> Result<ReplayEdits, InspectError> {
    let mut set_headers = Vec::new();
    for h in &options.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| InspectError::BadHeader(h.clone()))?;
        if name.trim().is_empty() {
            return Err(InspectError::BadHeader(h.clone()));
        }
        set_headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let body = match options.body.as_deref() {
        None => None,
        Some(b) => match b.strip_prefix('@') {
            Some(path) => Some(
                std::fs::read(path).map_err(|source| InspectError::BodyFile {
                    path: path.to_owned(),
                    source,
                })?,
            ),
            None => Some(b.as_bytes().to_vec()),
        },
    };
    Ok(ReplayEdits {
        method: options.method.clone(),
        path: options.path.clone(),
        set_headers,
        remove_headers: options.remove_headers.clone(),
        body,
    })
}

/// `tunnel replay ID`: sends the request again and prints what came back.
pub async fn replay(
    settings: &Settings,
    request_id: &str,
    options: &ReplayOptions,
) -> Result<(), InspectError> {
    let edits = edits(options)?;
    let api = authorized_api(settings)?;
    let x = match api.call(|c| c.replay(request_id, &edits)).await {
        Ok(x) => x,
        Err(e) if e.code() == Some(ApiErrorCode::NotFound) => {
            return Err(InspectError::WhichTunnel(format!(
                "no captured request {request_id:?} among your tunnels' logs; list them with `tunnel requests`"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if options.json {
        output::print(&output::json(&x))?;
    } else {
        let line = request_line(&ExchangeSummary::from(&x), crate::table::terminal_width());
        output::print(&format!("{line}\n"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_parse_headers_and_bodies() {
        let e = edits(&ReplayOptions {
            method: Some("PUT".into()),
            headers: vec!["X-Env: staging".into(), "x-empty:".into()],
            body: Some("hello".into()),
            ..ReplayOptions::default()
        })
        .unwrap();
        assert_eq!(
            e.set_headers,
            vec![
                ("X-Env".to_owned(), "staging".to_owned()),
                ("x-empty".to_owned(), String::new())
            ]
        );
        assert_eq!(e.body.as_deref(), Some(&b"hello"[..]));
        assert!(matches!(
            edits(&ReplayOptions {
                headers: vec!["no colon".into()],
                ..ReplayOptions::default()
            }),
            Err(InspectError::BadHeader(_))
        ));
        assert!(matches!(
            edits(&ReplayOptions {
                body: Some("@/nonexistent/file".into()),
                ..ReplayOptions::default()
            }),
            Err(InspectError::BodyFile { .. })
        ));
    }

    fn summary() -> ExchangeSummary {
        ExchangeSummary {
            request_id: "0190a1b2c3d4e5f6a7b8c9d".into(),
            tunnel_id: "t".into(),
            replay_of: Some("orig".into()),
            inbox_of: None,
            method: "POST".into(),
            path: "/hook".into(),
            status: Some(201),
            outcome: client_core::inspect::Outcome::Completed,
            received_ms: 3_723_004,
            duration_ms: Some(12),
            request_size: 1,
            response_size: Some(2),
        }
    }

    #[test]
    fn a_line_names_what_to_act_on() {
        let s = summary();
        let line = request_line(&s, None);
        assert!(
            line.starts_with("01:02:03.004  0190a1b2c3d4e5f6a7b8c9d  POST"),
            "{line}"
        );
        assert!(line.contains("201") && line.contains("12ms") && line.contains("/hook"));
        assert!(line.ends_with("(replay of orig)"));
    }

    #[test]
    fn a_line_fits_the_terminal_by_cutting_the_path() {
        let mut s = summary();
        s.path = format!("/api/v1/items/{}?page=2", "x".repeat(80));
        let whole = request_line(&s, None);
        assert!(whole.ends_with("?page=2  (replay of orig)"), "{whole}");
        // Room for a short note and a path of its minimum: both.
        let room = 63 + MIN_PATH_WIDTH + "  (replay)".len();
        let cut = request_line(&s, Some(room));
        assert_eq!(cut.chars().count(), room, "{cut}");
        assert!(cut.ends_with("…  (replay)"), "{cut}");
        // One less: the note gives way to the path.
        let cut = request_line(&s, Some(room - 1));
        assert_eq!(cut.chars().count(), room - 1, "{cut}");
        assert!(cut.ends_with('…'), "{cut}");
        let cut = request_line(&s, Some(80));
        assert_eq!(cut.chars().count(), 80, "{cut}");
        assert!(
            cut.starts_with("01:02:03.004  0190a1b2c3d4e5f6a7b8c9d  POST"),
            "{cut}"
        );
        // A line that fits is left whole, at exactly its length too.
        s.path = "/hook".into();
        let whole = request_line(&s, None);
        assert_eq!(request_line(&s, Some(whole.chars().count())), whole);
        // Narrower than the fixed columns: the path keeps its minimum.
        s.path = "/a/rather/long/path/indeed".into();
        s.replay_of = None;
        let tiny = request_line(&s, Some(20));
        let path = tiny.rsplit("  ").next().unwrap();
        assert_eq!(path.chars().count(), MIN_PATH_WIDTH, "{tiny}");
        assert_eq!(path, "/a/rather/l…");
    }

    #[test]
    fn show_has_the_time_duration_and_client() {
        let x = Exchange {
            request_id: "0190a1b2c3d4e5f6a7b8c9d".into(),
            tunnel_id: "9f3c2a7b1e5d4c6a8b0f".into(),
            replay_of: None,
            inbox_of: None,
            method: "GET".into(),
            path: "/slow".into(),
            remote_addr: "203.0.113.7:51234".into(),
            request: client_core::inspect::Message::default(),
            response: Some(client_core::inspect::ResponseRecord {
                status: 200,
                ..Default::default()
            }),
            outcome: client_core::inspect::Outcome::Completed,
            timings: client_core::inspect::Timings {
                received_ms: 1_764_921_619_123,
                forwarded_ms: Some(1_764_921_619_125),
                first_byte_ms: Some(1_764_921_619_600),
                done_ms: Some(1_764_921_619_640),
            },
        };
        let text = exchange_text(&x);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "time:     2025-12-05 08:00:19.123 UTC", "{text}");
        assert_eq!(
            lines[2],
            "duration: 517 ms (sent to your service after 2 ms, first byte back after 477 ms)"
        );
        assert_eq!(lines[3], "client:   203.0.113.7:51234");
        assert_eq!(lines[4], "tunnel:   9f3c2a7b1e5d4c6a8b0f");
        assert!(text.contains("< response 200"), "{text}");

        let mut open = x;
        open.timings.done_ms = None;
        assert!(exchange_text(&open).contains("duration: still open\n"));
        open.timings = client_core::inspect::Timings {
            received_ms: 5,
            forwarded_ms: None,
            first_byte_ms: None,
            done_ms: Some(6),
        };
        assert!(exchange_text(&open).contains("1 ms (answered by the tunnel server"));
    }
}
