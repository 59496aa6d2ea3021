//! What `tunnel requests` and `tunnel requests show` print: a line per exchange,
//! fitted to the terminal, and one exchange in full for people.

use client_core::inspect::{Exchange, ExchangeSummary};

/// The fewest characters a cut path keeps in `tunnel requests`.
pub const MIN_PATH_WIDTH: usize = 12;

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

#[cfg(test)]
mod tests {
    use super::*;

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
