//! What the commands print: tables for people, JSON for scripts.
//!
//! Everything here returns strings, so the shapes are tested without a terminal.

use std::io::Write as _;

use client_core::api::{Tunnel, TunnelStats};
use serde::Serialize;

/// What `tunnel status` reports; its JSON form is `tunnel status --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Where the config file is.
    pub config_path: String,
    /// The API in use.
    pub api_url: String,
    /// Whether an API key is set (file or environment).
    pub logged_in: bool,
    /// Whether the server answered at all.
    pub server_reachable: bool,
    /// The client the key belongs to, when the server accepted it.
    pub client_id: Option<String>,
    /// The client's tunnels.
    pub tunnels: Vec<Tunnel>,
    /// Each tunnel's connection and its traffic over the last minute, in the order
    /// of `tunnels` (a tunnel whose stats could not be read is left out).
    pub stats: Vec<TunnelStats>,
    /// What went wrong asking the server, for people; not part of the JSON.
    #[serde(skip)]
    pub problem: Option<String>,
}

/// The tunnels as an aligned table with a header row.
pub fn tunnel_table(tunnels: &[Tunnel]) -> String {
    if tunnels.is_empty() {
        return "no tunnels\n".to_owned();
    }
    let header = ["ID", "DOMAIN", "STATUS", "PUBLIC URL"];
    let rows: Vec<[String; 4]> = tunnels
        .iter()
        .map(|t| {
            [
                t.tunnel_id.clone(),
                t.domain.clone(),
                t.status.to_string(),
                t.public_url.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let [id, domain, status, url] = row;
        out.push_str(&format!(
            "{id:<w0$}  {domain:<w1$}  {status:<w2$}  {url}\n",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        ));
    }
    out
}

/// `tunnel status` for people.
pub fn status_text(status: &Status) -> String {
    let yes_no = |b: bool, yes: &str, no: &str| if b { yes } else { no }.to_owned();
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<11}{value}\n"));
    line("config:", status.config_path.clone());
    line("API URL:", status.api_url.clone());
    line(
        "API key:",
        yes_no(
            status.logged_in,
            "set",
            "not set (run `tunnel register` or `tunnel auth login`)",
        ),
    );
    line(
        "server:",
        yes_no(status.server_reachable, "reachable", "unreachable"),
    );
    if let Some(problem) = &status.problem {
        line("problem:", problem.clone());
    }
    line(
        "client id:",
        status.client_id.clone().unwrap_or_else(|| "-".into()),
    );
    if status.client_id.is_some() {
        out.push_str("tunnels:\n");
        for row in tunnel_table(&status.tunnels).lines() {
            out.push_str(&format!("  {row}\n"));
        }
        if let Some(first) = status.stats.first() {
            out.push_str(&format!("traffic, last {} s:\n", first.window_secs));
            for row in stats_table(&status.stats, client_core::clock::now_secs()).lines() {
                out.push_str(&format!("  {row}\n"));
            }
        }
    }
    out
}

/// Each tunnel's connection and traffic as an aligned table; `now` (Unix seconds)
/// turns "connected since" into an age.
pub fn stats_table(stats: &[TunnelStats], now: u64) -> String {
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v}ms"));
    let mut rows = vec![[
        "DOMAIN".to_owned(),
        "STATUS".into(),
        "FOR".into(),
        "REQS".into(),
        "ERRS".into(),
        "P50".into(),
        "P99".into(),
        "IN".into(),
        "OUT".into(),
        "HELD".into(),
        "URL".into(),
    ]];
    for s in stats {
        rows.push([
            s.domain.clone(),
            s.status.to_string(),
            s.connected_since
                .map_or_else(|| "-".to_owned(), |t| age(now.saturating_sub(t))),
            format!("{}{}", s.requests, if s.truncated { "+" } else { "" }),
            s.errors.to_string(),
            ms(s.p50_ms),
            ms(s.p99_ms),
            bytes(s.bytes_in),
            bytes(s.bytes_out),
            s.held.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            s.public_url.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..11)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, secs / 60 % 60),
    }
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n}B"),
        1024..1_048_576 => format!("{:.1}KiB", n as f64 / 1024.0),
        _ => format!("{:.1}MiB", n as f64 / 1_048_576.0),
    }
}

/// JSON, pretty-printed, with a final newline.
pub fn json<T: Serialize>(value: &T) -> String {
    // These plain structs always serialize.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `text` to stdout. A reader that went away (`tunnel list | head -1`) is not
/// an error worth reporting.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use client_core::api::TunnelStatus;

    use super::*;

    fn tunnel(id: &str, domain: &str, status: TunnelStatus) -> Tunnel {
        Tunnel {
            tunnel_id: id.into(),
            domain: domain.into(),
            public_url: format!("http://{domain}.localhost:8080"),
            status,
            created_at: 1,
            request_count: 0,
            redact_secrets: true,
            policy: None,
        }
    }

    #[test]
    fn table_aligns_columns() {
        let table = tunnel_table(&[
            tunnel("t1", "myapp", TunnelStatus::Online),
            tunnel("tunnel-22", "ab", TunnelStatus::Offline),
        ]);
        let lines: Vec<_> = table.lines().collect();
        assert_eq!(lines[0], "ID         DOMAIN  STATUS   PUBLIC URL");
        assert_eq!(
            lines[1],
            "t1         myapp   online   http://myapp.localhost:8080"
        );
        assert_eq!(
            lines[2],
            "tunnel-22  ab      offline  http://ab.localhost:8080"
        );
        assert_eq!(tunnel_table(&[]), "no tunnels\n");
    }

    #[test]
    fn status_json_has_exactly_the_documented_fields() {
        let status = Status {
            config_path: "/c".into(),
            api_url: "http://a".into(),
            logged_in: true,
            server_reachable: true,
            client_id: Some("c1".into()),
            tunnels: vec![tunnel("t1", "myapp", TunnelStatus::Online)],
            stats: vec![TunnelStats {
                tunnel_id: "t1".into(),
                domain: "myapp".into(),
                public_url: "http://myapp.localhost:8080".into(),
                status: TunnelStatus::Online,
                connected_since: Some(1_000),
                window_secs: 60,
                requests: 7,
                errors: 2,
                p50_ms: Some(3),
                p99_ms: Some(40),
                bytes_in: 10,
                bytes_out: 2048,
                truncated: false,
                held: Some(4),
            }],
            problem: Some("not in json".into()),
        };
        let value: serde_json::Value = serde_json::from_str(&json(&status)).unwrap();
        let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "api_url",
                "client_id",
                "config_path",
                "logged_in",
                "server_reachable",
                "stats",
                "tunnels"
            ]
        );
        assert_eq!(value["tunnels"][0]["status"], "online");
        assert_eq!(value["stats"][0]["requests"], 7);
        let text = status_text(&status);
        assert!(text.contains("client id: c1"));
        assert!(text.contains("traffic, last 60 s:"), "{text}");
        let table = stats_table(&status.stats, 1_090);
        let row = table.lines().nth(1).unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            [
                "myapp",
                "online",
                "1m30s",
                "7",
                "2",
                "3ms",
                "40ms",
                "10B",
                "2.0KiB",
                "4",
                "http://myapp.localhost:8080"
            ]
        );
    }
}
