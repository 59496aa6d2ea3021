//! Tests of the exports: the curl command run by real shells, the HAR output checked
//! against the HAR 1.2 structure.

use serde_json::Value;

use super::export::{iso8601_utc, sh_quote};
use super::model::{CapturedBody, Exchange, Message, Outcome, ResponseRecord, Timings};
use super::redact::{REDACTED, redact_exchange};
use super::{to_curl, to_har};

const BASE: &str = "https://demo.tunnel.example/";

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Exchange {
    Exchange {
        request_id: "req-1".into(),
        tunnel_id: "tun-1".into(),
        replay_of: None,
        inbox_of: None,
        method: method.into(),
        path: path.into(),
        remote_addr: "198.51.100.7:41000".into(),
        request: Message {
            headers: h(headers),
            body: CapturedBody::full(body.to_vec()),
        },
        response: Some(ResponseRecord {
            status: 200,
            headers: h(&[("Content-Type", "text/plain; charset=utf-8")]),
            body: CapturedBody::full(b"ok".to_vec()),
        }),
        outcome: Outcome::Completed,
        timings: Timings {
            received_ms: 1_709_164_800_123,
            forwarded_ms: Some(1_709_164_800_125),
            first_byte_ms: Some(1_709_164_800_140),
            done_ms: Some(1_709_164_800_150),
        },
    }
}

#[test]
fn dates_for_people_are_utc_to_the_minute() {
    assert_eq!(crate::inspect::date_time_utc(0), "1970-01-01 00:00 UTC");
    assert_eq!(
        crate::inspect::date_time_utc(1_796_025_959),
        "2026-11-30 08:05 UTC"
    );
}

#[test]
fn timestamps_are_iso8601_utc() {
    assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(iso8601_utc(1_709_164_800_123), "2024-02-29T00:00:00.123Z");
    assert_eq!(iso8601_utc(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
    assert_eq!(iso8601_utc(1_735_689_599_001), "2024-12-31T23:59:59.001Z");
    assert_eq!(iso8601_utc(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
    assert_eq!(iso8601_utc(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
    assert_eq!(iso8601_utc(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    assert_eq!(iso8601_utc(u64::MAX), "9999-12-31T23:59:59.999Z");
}

#[test]
fn shell_quoting() {
    assert_eq!(sh_quote("GET"), "GET");
    assert_eq!(sh_quote("a/b.c:d=e,f@g%h+i-j_k"), "a/b.c:d=e,f@g%h+i-j_k");
    assert_eq!(sh_quote(""), "''");
    assert_eq!(sh_quote("a b"), "'a b'");
    assert_eq!(sh_quote("it's"), r"'it'\''s'");
    assert_eq!(sh_quote("$HOME `x` \\ \"q\""), "'$HOME `x` \\ \"q\"'");
}

#[test]
fn curl_text_shape() {
    let x = request(
        "POST",
        "/api/items?x=1&y=2",
        &[
            ("Host", "demo.tunnel.example"),
            ("Content-Type", "application/json"),
            ("Content-Length", "13"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "1"),
            ("Authorization", REDACTED),
        ],
        br#"{"a":"it's"}"#,
    );
    assert_eq!(
        to_curl(&x, BASE),
        "# note: the value of authorization was redacted: put the real one back before running\n\
         curl 'https://demo.tunnel.example/api/items?x=1&y=2' \\\n  \
         -X POST \\\n  \
         -H 'Content-Type: application/json' \\\n  \
         -H 'Authorization: [redacted]' \\\n  \
         --data-raw '{\"a\":\"it'\\''s\"}'\n"
    );
    let get = request("GET", "/", &[], b"");
    assert_eq!(
        to_curl(&get, "http://x.example"),
        "curl http://x.example/\n"
    );
    let head = request("HEAD", "/a", &[], b"");
    assert_eq!(to_curl(&head, "http://x"), "curl http://x/a \\\n  --head\n");
}

#[cfg(unix)]
mod shell;

mod har;
mod har_check;
