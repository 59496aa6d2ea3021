//! Draws the [`Model`] with ratatui: a title bar, the header (where the tunnel
//! forwards, its inspector page, the server and account, the connection and its
//! latency, the counters), the latest message, and the requests, newest first.
//! Every line is cut to the width here, so 80 columns (or fewer) never wrap.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::model::{Connection, Model, Row, RowState, Stats};

/// Width of the labels before the header's values.
const LABEL: usize = 13;

/// Below this width the time column goes, so the path keeps some room.
pub const TIME_COLUMN_MIN_WIDTH: usize = 72;

const METHOD: usize = 7;
const STATUS: usize = 7;
const DURATION: usize = 8;
const TIME: usize = 8;

/// Draws the whole screen at `now`.
pub fn render(frame: &mut Frame<'_>, model: &Model, stats: &Stats, now: Duration) {
    let area = frame.area();
    let width = usize::from(area.width);
    let mut lines = header(model, stats, width, now);
    if let Some((_, text)) = model.notices().last() {
        lines.push(Line::from(Span::styled(
            fit(text, width),
            Style::new().fg(Color::Yellow),
        )));
    } else {
        lines.push(Line::default());
    }
    let with_time = width >= TIME_COLUMN_MIN_WIDTH;
    lines.push(columns_line(with_time, width));
    let room = usize::from(area.height).saturating_sub(lines.len());
    if model.rows().next().is_none() {
        lines.push(Line::from(Span::styled(
            fit("No requests yet: they appear here as they arrive.", width),
            Style::new().fg(Color::DarkGray),
        )));
    }
    for row in model.rows().take(room) {
        lines.push(request_line(model, row, with_time, width, now));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn header(model: &Model, stats: &Stats, width: usize, now: Duration) -> Vec<Line<'static>> {
    let h = model.header();
    let title = format!(" tunnel {}", h.version);
    let hint = "Ctrl-C or q to quit ";
    let gap = width.saturating_sub(title.chars().count() + hint.chars().count());
    let bar = if gap > 0 {
        format!("{title}{}{hint}", " ".repeat(gap))
    } else {
        fit(&title, width)
    };
    let bar_style = Style::new()
        .bg(Color::Blue)
        .fg(Color::White)
        .add_modifier(Modifier::BOLD);
    let value = width.saturating_sub(LABEL);
    let public = h
        .public_url
        .as_deref()
        .unwrap_or("(waiting for the server)");
    let forwarding = fit(&format!("{public} -> {}", h.target), value);
    let inspector = h.inspector.as_deref().unwrap_or("(once the tunnel exists)");
    let account = h.account.as_deref().unwrap_or("...");
    let (state, state_style) = connection(model, now);
    let latency = model
        .latency()
        .map_or_else(String::new, |l| format!("  latency {}", duration(l)));
    let counters = format!(
        "{} open · {} req/min · p50 {} · p90 {} · {} total",
        stats.open,
        stats.per_minute,
        stats.p50.map_or_else(|| "-".into(), duration),
        stats.p90.map_or_else(|| "-".into(), duration),
        stats.total
    );
    vec![
        Line::from(Span::styled(bar, bar_style)),
        labelled(
            "Forwarding",
            vec![Span::styled(
                forwarding,
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            )],
        ),
        labelled(
            "Inspector",
            vec![Span::styled(
                fit(inspector, value),
                Style::new().fg(Color::Cyan),
            )],
        ),
        labelled(
            "Server",
            vec![Span::raw(fit(
                &format!("{}  (account {account})", h.server),
                value,
            ))],
        ),
        labelled(
            "Status",
            vec![
                Span::styled(fit(&state, value), state_style),
                Span::raw(fit(&latency, value.saturating_sub(state.chars().count()))),
            ],
        ),
        labelled("Requests", vec![Span::raw(fit(&counters, value))]),
    ]
}

fn labelled(label: &str, mut value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!("{label:<LABEL$}"),
        Style::new().fg(Color::DarkGray),
    )];
    spans.append(&mut value);
    Line::from(spans)
}

fn connection(model: &Model, now: Duration) -> (String, Style) {
    match model.connection() {
        Connection::Connecting => ("connecting...".into(), Style::new().fg(Color::Yellow)),
        Connection::Online => (
            "online".into(),
            Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
        ),
        Connection::Reconnecting { at, .. } => {
            let wait = at.saturating_sub(now);
            (
                format!("reconnecting in {} s", wait.as_secs_f64().ceil()),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        }
    }
}

/// The width left for the path.
fn path_width(with_time: bool, width: usize) -> usize {
    let fixed = METHOD + 1 + 1 + STATUS + 1 + DURATION + if with_time { TIME + 1 } else { 0 };
    width.saturating_sub(fixed).max(1)
}

fn columns_line(with_time: bool, width: usize) -> Line<'static> {
    let path = path_width(with_time, width);
    let mut text = String::new();
    if with_time {
        text.push_str(&format!("{:<TIME$} ", "TIME"));
    }
    text.push_str(&format!(
        "{:<METHOD$} {:<path$} {:<STATUS$} {:>DURATION$}",
        "METHOD", "PATH", "STATUS", "DURATION"
    ));
    Line::from(Span::styled(
        fit(&text, width),
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
    ))
}

fn request_line(
    model: &Model,
    row: &Row,
    with_time: bool,
    width: usize,
    now: Duration,
) -> Line<'static> {
    let path = path_width(with_time, width);
    let (status, style, took) = match &row.state {
        RowState::InFlight => (
            "...".to_owned(),
            Style::new().fg(Color::Magenta),
            now.saturating_sub(row.started),
        ),
        RowState::Streaming(status) => (
            format!("{status}..."),
            status_style(*status),
            now.saturating_sub(row.started),
        ),
        RowState::Done {
            status: Some(status),
            took,
            ..
        } => (status.to_string(), status_style(*status), *took),
        RowState::Done {
            status: None,
            error,
            took,
        } => (
            short_error(error.as_deref()).to_owned(),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            *took,
        ),
    };
    let mut spans = Vec::new();
    if with_time {
        spans.push(Span::styled(
            format!("{} ", time_of_day(model.wall_time(row.started))),
            Style::new().fg(Color::DarkGray),
        ));
    }
    spans.push(Span::raw(format!("{:<METHOD$} ", fit(&row.method, METHOD))));
    spans.push(Span::raw(format!(
        "{:<path$} ",
        elide_middle(&row.path, path)
    )));
    spans.push(Span::styled(
        format!("{:<STATUS$} ", fit(&status, STATUS)),
        style,
    ));
    let took_style = if matches!(row.state, RowState::Done { .. }) {
        Style::new()
    } else {
        Style::new().fg(Color::Magenta)
    };
    spans.push(Span::styled(
        format!("{:>DURATION$}", duration(took)),
        took_style,
    ));
    Line::from(spans)
}

fn status_style(status: u16) -> Style {
    let color = match status {
        100..=199 => Color::Blue,
        200..=299 => Color::Green,
        300..=399 => Color::Cyan,
        400..=499 => Color::Yellow,
        _ => Color::Red,
    };
    Style::new().fg(color)
}

/// A few letters for a request that got no status: what the driver said.
fn short_error(error: Option<&str>) -> &'static str {
    match error {
        Some("cancelled") => "cancel",
        Some("connection lost") => "lost",
        Some(e) if e.contains("timeout") => "timeout",
        _ => "error",
    }
}

/// `12 ms`, `1.23 s`, `12.3 s`, `2m05s`: always within [`DURATION`] columns.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 10_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        let secs = d.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// `HH:MM:SS` in UTC, like the plain log lines.
fn time_of_day(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `text` cut to `width` characters, the last one `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `text` cut to `width` characters by taking out its middle: a path keeps both its
/// route and its last segment (the id, the query), which tell requests apart.
pub fn elide_middle(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if len <= width {
        return text.to_owned();
    }
    if width < 8 {
        return fit(text, width);
    }
    let head = (width - 1) / 2;
    let tail = width - 1 - head;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(len - tail));
    out
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::super::model::Header;
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    fn model() -> Model {
        let mut m = Model::new(
            Header {
                version: "9.9.9".into(),
                target: "http://localhost:3000".into(),
                server: "http://127.0.0.1:8080".into(),
                public_url: None,
                account: Some("cl_0123456789abcdef".into()),
                inspector: None,
            },
            // 12:00:00 UTC on some day.
            UNIX_EPOCH + Duration::from_secs(86_400 * 100 + 12 * 3600),
        );
        m.handle_tunnel(
            "http://myapp.localhost:8080",
            "http://127.0.0.1:8080/#/tunnels/tun_abc".into(),
        );
        m.handle_connected("http://myapp.localhost:8080");
        m.handle_latency(3 * MS);
        let a = m.handle_request_started(S, "GET", "/");
        m.handle_request_finished(S + 4 * MS, a, Some(200), None);
        let b = m.handle_request_started(2 * S, "POST", "/api/orders");
        m.handle_request_finished(2 * S + 120 * MS, b, Some(404), None);
        let long = format!("/api/v1/customers/{}/invoices?page=7", "x".repeat(80));
        let c = m.handle_request_started(3 * S, "DELETE", &long);
        m.handle_request_finished(3 * S + 30 * MS, c, None, Some("error origin_timeout"));
        m.handle_request_started(4 * S, "GET", "/slow");
        m
    }

    fn draw(m: &mut Model, width: u16, height: u16, now: Duration) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        let stats = m.poll_stats(now);
        terminal.draw(|f| render(f, m, &stats, now)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    fn line<'a>(screen: &'a [String], needle: &str) -> &'a str {
        screen
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", screen.join("\n")))
    }

    #[test]
    fn at_80_columns_everything_fits() {
        let mut m = model();
        let screen = draw(&mut m, 80, 16, 8 * S);
        assert!(
            screen[0].starts_with(" tunnel 9.9.9") && screen[0].ends_with("Ctrl-C or q to quit")
        );
        assert_eq!(
            line(&screen, "Forwarding"),
            "Forwarding   http://myapp.localhost:8080 -> http://localhost:3000"
        );
        assert_eq!(
            line(&screen, "Inspector"),
            "Inspector    http://127.0.0.1:8080/#/tunnels/tun_abc"
        );
        assert!(line(&screen, "Server").contains("account cl_0123456789abcdef"));
        assert_eq!(line(&screen, "Status"), "Status       online  latency 3 ms");
        assert_eq!(
            line(&screen, "Requests"),
            "Requests     1 open · 3 req/min · p50 30 ms · p90 120 ms · 3 total"
        );
        // Newest first; the slow one in flight for 4 s so far.
        let rows: Vec<&String> = screen
            .iter()
            .skip_while(|l| !l.starts_with("TIME"))
            .collect();
        assert!(rows[0].starts_with("TIME     METHOD  PATH"));
        assert_eq!(
            rows[1].as_str(),
            format!(
                "12:00:04 GET     /slow{}...{}4.00 s",
                " ".repeat(42),
                " ".repeat(7)
            )
        );
        assert!(rows[2].starts_with("12:00:03 DELETE  /api/v1/customers/xxx"));
        assert!(rows[2].contains("…") && rows[2].contains("invoices?page=7 timeout"));
        assert!(
            rows[3].contains("/api/orders")
                && rows[3].contains("404")
                && rows[3].ends_with("120 ms")
        );
        assert!(rows[4].ends_with(&format!("200{}4 ms", " ".repeat(9))));
        for l in &screen {
            assert!(l.chars().count() <= 80, "{l}");
        }
    }

    #[test]
    fn narrow_drops_the_time_and_wide_shows_whole_paths() {
        let mut m = model();
        let narrow = draw(&mut m, 60, 16, 8 * S);
        assert!(line(&narrow, "METHOD").starts_with("METHOD  PATH"));
        let slow = line(&narrow, "/slow");
        assert!(slow.starts_with("GET     /slow") && slow.ends_with("4.00 s"));
        assert!(line(&narrow, "Forwarding").ends_with('…'));
        for l in &narrow {
            assert!(l.chars().count() <= 60, "{l}");
        }
        let wide = draw(&mut m, 160, 16, 8 * S);
        let long = format!("/api/v1/customers/{}/invoices?page=7", "x".repeat(80));
        assert!(
            line(&wide, "DELETE").contains(&long),
            "whole at 160 columns"
        );
        assert!(line(&wide, "Forwarding").ends_with("-> http://localhost:3000"));
    }

    #[test]
    fn the_list_takes_what_height_there_is() {
        let mut m = model();
        let short = draw(&mut m, 80, 10, 8 * S);
        assert!(short.iter().any(|l| l.contains("/slow")));
        assert!(
            !short.iter().any(|l| l.ends_with("4 ms")),
            "older rows cut:\n{}",
            short.join("\n")
        );
        let empty = draw(
            &mut Model::new(Header::default(), UNIX_EPOCH),
            80,
            12,
            Duration::ZERO,
        );
        assert!(line(&empty, "Status").contains("connecting..."));
        assert!(line(&empty, "No requests yet").starts_with("No requests"));
    }

    #[test]
    fn reconnecting_counts_down_and_says_why() {
        let mut m = model();
        m.handle_connection_state(Connection::Reconnecting {
            at: 20 * S,
            reason: "connection lost".into(),
        });
        m.handle_notice(17 * S, "connection lost: reset; retrying in 3.0s");
        let screen = draw(&mut m, 80, 16, 17 * S + 200 * MS);
        assert!(line(&screen, "Status").contains("reconnecting in 3 s"));
        assert!(line(&screen, "retrying").starts_with("connection lost: reset"));
    }

    #[test]
    fn durations_fit_their_column() {
        for (d, s) in [
            (4 * MS, "4 ms"),
            (999 * MS, "999 ms"),
            (S, "1.00 s"),
            (12 * S + 340 * MS, "12.3 s"),
            (125 * S, "2m05s"),
        ] {
            assert_eq!(duration(d), s);
            assert!(s.len() <= DURATION);
        }
        assert_eq!(elide_middle("/abcdefghij", 9), "/abc…ghij");
        assert_eq!(elide_middle("/short", 9), "/short");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
