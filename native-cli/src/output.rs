//! What the commands print: tables for people, JSON for scripts.
//!
//! Everything here returns strings, so the shapes are tested without a terminal.

use std::io::Write as _;

use client_core::api::{Tunnel, TunnelStats};
use serde::Serialize;

use crate::table::{Column, table};

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

/// The tunnels as an aligned table with a header row, fitted to `width` columns when
/// given (a terminal's; `None` prints every value whole, for pipes). The ID gives way
/// first (the domain names a tunnel everywhere too), then the URL; a long domain is
/// cut last.
pub fn tunnel_table(tunnels: &[Tunnel], width: Option<usize>) -> String {
    if tunnels.is_empty() {
        return "no tunnels\n".to_owned();
    }
    let columns = [
        Column::droppable("ID", 0),
        Column::fixed("DOMAIN").cut_to(MIN_DOMAIN_WIDTH, 2),
        Column::fixed("STATUS"),
        Column::droppable("PUBLIC URL", 1),
    ];
    let rows: Vec<Vec<String>> = tunnels
        .iter()
        .map(|t| {
            vec![
                t.tunnel_id.clone(),
                t.domain.clone(),
                t.status.to_string(),
                t.public_url.clone(),
            ]
        })
        .collect();
    table(&columns, &rows, width)
}

/// The fewest characters a cut domain keeps: enough to tell most names apart.
pub const MIN_DOMAIN_WIDTH: usize = 12;

/// `tunnel status` for people, its tables fitted to `width` (see [`tunnel_table`]);
/// `now` (Unix seconds) turns "connected since" into an age.
pub fn status_text(status: &Status, now: u64, width: Option<usize>) -> String {
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
        let inner = width.map(|w| w.saturating_sub(INDENT.len()));
        out.push_str("tunnels:\n");
        for row in tunnel_table(&status.tunnels, inner).lines() {
            out.push_str(&format!("{INDENT}{row}\n"));
        }
        if let Some(first) = status.stats.first() {
            out.push_str(&format!("traffic, last {} s:\n", first.window_secs));
            for row in stats_table(&status.stats, now, inner).lines() {
                out.push_str(&format!("{INDENT}{row}\n"));
            }
        }
    }
    out
}

/// How far `tunnel status` indents its tables.
const INDENT: &str = "  ";

/// Each tunnel's connection and traffic as an aligned table; `now` (Unix seconds)
/// turns "connected since" into an age. Fitted to `width` as [`table`] does: the URL
/// gives way first (the tunnels table shows it), then the status (likewise), the
/// inbox, a long domain is cut, then the byte counts and p99 go.
pub fn stats_table(stats: &[TunnelStats], now: u64, width: Option<usize>) -> String {
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v}ms"));
    let columns = [
        Column::fixed("DOMAIN").cut_to(MIN_DOMAIN_WIDTH, 3),
        Column::droppable("STATUS", 1),
        Column::fixed("FOR"),
        Column::fixed("REQS"),
        Column::fixed("ERRS"),
        Column::fixed("P50"),
        Column::droppable("P99", 6),
        Column::droppable("IN", 5),
        Column::droppable("OUT", 4),
        Column::droppable("HELD", 2),
        Column::droppable("URL", 0),
    ];
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|s| {
            vec![
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
            ]
        })
        .collect();
    table(&columns, &rows, width)
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
            expires_at: None,
        }
    }

    #[test]
    fn table_aligns_columns() {
        let table = tunnel_table(
            &[
                tunnel("t1", "myapp", TunnelStatus::Online),
                tunnel("tunnel-22", "ab", TunnelStatus::Offline),
            ],
            None,
        );
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
        assert_eq!(tunnel_table(&[], Some(80)), "no tunnels\n");
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
        let text = status_text(&status, 1_090, None);
        assert!(text.contains("client id: c1"));
        assert!(text.contains("traffic, last 60 s:"), "{text}");
        let table = stats_table(&status.stats, 1_090, None);
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

    /// A tunnel as the server names them: a 20-hex id, a random 18-character domain.
    fn real_tunnel(domain: &str) -> Tunnel {
        tunnel("9f3c2a7b1e5d4c6a8b0f", domain, TunnelStatus::Online)
    }

    fn stats(domain: &str) -> TunnelStats {
        TunnelStats {
            tunnel_id: "9f3c2a7b1e5d4c6a8b0f".into(),
            domain: domain.into(),
            public_url: format!("http://{domain}.localhost:8080"),
            status: TunnelStatus::Online,
            connected_since: Some(1_000),
            window_secs: 60,
            requests: 1234,
            errors: 12,
            p50_ms: Some(1234),
            p99_ms: Some(12345),
            bytes_in: 2_000_000,
            bytes_out: 3_000_000,
            truncated: true,
            held: Some(100),
        }
    }

    fn widest(text: &str) -> usize {
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    fn headers(text: &str) -> Vec<&str> {
        text.lines()
            .next()
            .unwrap()
            .split("  ")
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect()
    }

    #[test]
    fn tables_fit_80_columns_by_leaving_out_what_is_shown_elsewhere() {
        let tunnels = [real_tunnel("brave-otter-3f9a1c"), real_tunnel("myapp")];
        // A pipe gets every value whole, wider than 80.
        let whole = tunnel_table(&tunnels, None);
        assert!(widest(&whole) > 80, "{whole}");
        assert!(whole.contains("9f3c2a7b1e5d4c6a8b0f"));
        // 80 columns: the id gives way, the domain and URL stay whole.
        let fitted = tunnel_table(&tunnels, Some(80));
        assert!(widest(&fitted) <= 80, "{fitted}");
        assert_eq!(headers(&fitted), ["DOMAIN", "STATUS", "PUBLIC URL"]);
        assert!(
            fitted.contains("http://brave-otter-3f9a1c.localhost:8080"),
            "{fitted}"
        );
        // Wide enough: the same as whole.
        assert_eq!(tunnel_table(&tunnels, Some(widest(&whole))), whole);
        assert_ne!(tunnel_table(&tunnels, Some(widest(&whole) - 1)), whole);

        let traffic = [stats("brave-otter-3f9a1c"), stats("myapp")];
        let whole = stats_table(&traffic, 5_000, None);
        assert!(widest(&whole) > 120, "{whole}");
        let fitted = stats_table(&traffic, 5_000, Some(78));
        assert!(widest(&fitted) <= 78, "{fitted}");
        assert_eq!(
            headers(&fitted),
            [
                "DOMAIN", "FOR", "REQS", "ERRS", "P50", "P99", "IN", "OUT", "HELD"
            ]
        );
        assert!(fitted.contains("brave-otter-3f9a1c  1h6m"), "{fitted}");
        // Narrower: more gives way, in the documented order: the domain is cut before
        // the byte counts go.
        let narrow = stats_table(&traffic, 5_000, Some(56));
        assert!(widest(&narrow) <= 56, "{narrow}");
        assert_eq!(
            headers(&narrow),
            ["DOMAIN", "FOR", "REQS", "ERRS", "P50", "P99", "IN"]
        );
        assert!(narrow.contains("brave-otter…  1h6m"), "{narrow}");
        // One narrower, IN goes too, and the room it leaves gives the domain back.
        let narrower = stats_table(&traffic, 5_000, Some(55));
        assert_eq!(
            headers(&narrower),
            ["DOMAIN", "FOR", "REQS", "ERRS", "P50", "P99"]
        );
        assert!(narrower.contains("brave-otter-3f9a1c  1h6m"), "{narrower}");
    }

    #[test]
    fn a_long_domain_is_cut_last_and_never_below_its_minimum() {
        let long = "a-very-long-subdomain-name-for-a-demo-of-cutting";
        let tunnels = [real_tunnel(long)];
        let fitted = tunnel_table(&tunnels, Some(40));
        assert!(widest(&fitted) <= 40, "{fitted}");
        assert_eq!(headers(&fitted), ["DOMAIN", "STATUS"]);
        let row = fitted.lines().nth(1).unwrap();
        assert!(
            row.starts_with("a-very-long-subdomain-name-for-…  online"),
            "{row}"
        );
        // Narrower than the columns that cannot give: the domain stops at its minimum.
        let tiny = tunnel_table(&tunnels, Some(10));
        let row = tiny.lines().nth(1).unwrap();
        let domain = row.split("  ").next().unwrap();
        assert_eq!(domain.chars().count(), MIN_DOMAIN_WIDTH, "{tiny}");
        assert!(domain.ends_with('…'));
    }

    #[test]
    fn every_width_from_the_narrowest_fits() {
        let tunnels = [real_tunnel("brave-otter-3f9a1c"), real_tunnel("x")];
        let traffic = [stats("brave-otter-3f9a1c"), stats("x")];
        // Down to what cannot give (the stats' fixed columns and a cut domain: 39).
        for width in 30..=200 {
            let t = tunnel_table(&tunnels, Some(width));
            assert!(widest(&t) <= width, "{width}:\n{t}");
            let s = stats_table(&traffic, 5_000, Some(width));
            assert!(widest(&s) <= width.max(39), "{width}:\n{s}");
        }
    }
}
