//! Exports of captured exchanges: a `curl` command line and a HAR 1.2 document.
//!
//! Both export what they are given: redact first ([`super::redact_exchange`]) when the
//! output leaves the owner's hands.

use serde_json::{Map, Value, json};

use super::http::{header, reason_phrase};
use super::model::{CapturedBody, Exchange, Timings};
use super::query;
use super::redact::REDACTED;
use crate::b64;
use crate::hop::HopByHop;

/// Bodies up to this size that are plain text go on the command line as one argument;
/// larger ones are piped in, as Linux caps one argument at 128 KiB.
const INLINE_BODY_MAX: usize = 64 * 1024;

/// The media type given for a body whose `Content-Type` is unknown.
const UNKNOWN_MIME: &str = "application/octet-stream";

/// The public URL of `path` on a tunnel whose public base URL is `base`.
fn public_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// A `curl` command line, safe for any POSIX shell, that sends the captured request to
/// the tunnel's public URL again.
///
/// - Method: `GET` without a body is curl's default; `HEAD` without a body is
///   `--head` (`-X HEAD` would make curl wait for a body that never comes); any other
///   is `-X METHOD`.
/// - Headers: one `-H` each, in order, except `Host` and `Content-Length` (curl sets
///   them from the URL and the body) and hop-by-hop headers, including those the
///   `Connection` header names. An empty value is written `-H 'Name;'`, curl's way to
///   send one. Redacted values are kept as [`REDACTED`], with a comment saying so.
/// - Body: text (UTF-8 with no control characters but tab and newline) up to 64 KiB
///   goes as `--data-raw '...'` (no `@file` reading). Anything else is piped in byte for
///   byte: `printf '<octal escapes>' | curl ... --data-binary @-`, which needs only the
///   shell's `printf`, no `base64` tool. When the request has no `Content-Type`,
///   `-H 'Content-Type:'` stops curl adding a form type of its own.
/// - A truncated body sends the captured part only, and a `#` comment line above the
///   command says so.
/// - `--globoff` when the URL holds `[]{}` (curl would glob them), `--path-as-is` when
///   the path has `.` or `..` segments (curl would squash them).
pub fn to_curl(exchange: &Exchange, public_base_url: &str) -> String {
    let url = public_url(public_base_url, &exchange.path);
    let headers = &exchange.request.headers;
    let body = &exchange.request.body;
    let method = exchange.method.as_str();

    let mut out = String::new();
    if body.truncated {
        out.push_str(&format!(
            "# warning: the request body was truncated when captured: this sends only its first {} of {} bytes\n",
            body.bytes.len(),
            body.size
        ));
    }
    let mut redacted: Vec<String> = Vec::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if value == REDACTED && !redacted.contains(&lower) {
            redacted.push(lower);
        }
    }
    if !redacted.is_empty() {
        out.push_str(&format!(
            "# note: the value of {} was redacted: put the real one back before running\n",
            redacted.join(", ")
        ));
    }

    let mut args: Vec<String> = Vec::new();
    let has_body = !body.bytes.is_empty();
    if method == "HEAD" && !has_body {
        args.push("--head".to_owned());
    } else if method != "GET" || has_body {
        args.push(format!("-X {}", sh_quote(method)));
    }
    if url.contains(['[', ']', '{', '}']) {
        args.push("--globoff".to_owned());
    }
    let path_only = exchange.path.split(['?', '#']).next().unwrap_or_default();
    if path_only.split('/').any(|seg| seg == "." || seg == "..") {
        args.push("--path-as-is".to_owned());
    }

    // Hop-by-hop headers describe one connection, and curl makes a new one.
    let hop = HopByHop::of(headers);
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("host")
            || name.eq_ignore_ascii_case("content-length")
            || hop.contains(name)
        {
            continue;
        }
        let line = if value.is_empty() {
            format!("{name};")
        } else {
            format!("{name}: {value}")
        };
        args.push(format!("-H {}", sh_quote(&line)));
    }

    let mut pipe = String::new();
    if has_body {
        if header(headers, "content-type").is_none() {
            args.push("-H 'Content-Type:'".to_owned());
        }
        match std::str::from_utf8(&body.bytes) {
            Ok(text) if body.bytes.len() <= INLINE_BODY_MAX && is_plain_text(text) => {
                args.push(format!("--data-raw {}", sh_quote(text)));
            }
            _ => {
                pipe = format!("printf '{}' | ", printf_format(&body.bytes));
                args.push("--data-binary @-".to_owned());
            }
        }
    }

    out.push_str(&pipe);
    out.push_str("curl ");
    out.push_str(&sh_quote(&url));
    for arg in args {
        out.push_str(" \\\n  ");
        out.push_str(&arg);
    }
    out.push('\n');
    out
}

/// Text that survives a paste into a terminal unchanged: no control characters but tab
/// and newline (a carriage return would become a newline).
fn is_plain_text(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_control() && c != '\t' && c != '\n')
}

/// `s` as one POSIX shell word: bare when it is made of safe characters only, else in
/// single quotes, each `'` written `'\''`.
pub(crate) fn sh_quote(s: &str) -> String {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b);
    if !s.is_empty() && s.bytes().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A `printf` format (to go inside single quotes) that prints `bytes` exactly: printable
/// ASCII as is, `%` and `\` doubled, newline and tab as `\n` and `\t`, every other byte
/// (the quote, and a leading `-` that would read as an option) as a three-digit octal
/// escape, which POSIX `printf` supports.
fn printf_format(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            // A leading `-` would read as an option of printf.
            b'-' if i == 0 => out.push_str("\\055"),
            b'%' => out.push_str("%%"),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\'' => out.push_str("\\047"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out
}

/// A HAR 1.2 document (<http://www.softwareishard.com/blog/har-12-spec/>) of
/// `exchanges`, in the order given.
///
/// - `startedDateTime` is `received_ms` in UTC (`2024-02-29T12:00:00.123Z`).
/// - `httpVersion` is `HTTP/1.1`: the capture does not record the version.
/// - `timings`: `send` is receipt to forwarding into the tunnel, `wait` forwarding to
///   the first response byte, `receive` first byte to end; a missing step takes the
///   time of the next known one, so the three are never negative and add up to `time`
///   (receipt to end). `blocked`, `dns`, `connect` and `ssl` are `-1` (not applicable).
/// - Bodies: UTF-8 as `text`; anything else base64, flagged `"encoding": "base64"` in
///   `content` and `"_encoding": "base64"` in `postData` (HAR 1.2 has no encoding field
///   there, so it is a custom one). A truncated body carries `"_truncated": true` and a
///   `comment`; `size`/`bodySize` are always the full size.
/// - No response (`origin_refused`, `timeout`, ...): `status` 0, empty `statusText`
///   and `httpVersion`, `bodySize` -1, as browsers write a failed request.
/// - Custom entry fields: `_request_id`, `_tunnel_id`, `_remote_addr`, `_outcome`, and
///   `_replay_of` for a replay.
pub fn to_har(exchanges: &[Exchange], public_base_url: &str, creator_version: &str) -> Value {
    let entries: Vec<Value> = exchanges
        .iter()
        .map(|x| har_entry(x, public_base_url))
        .collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "tunnel", "version": creator_version },
            "entries": entries,
        }
    })
}

fn har_entry(x: &Exchange, base: &str) -> Value {
    let timings = har_timings(&x.timings);
    let time = timings.send + timings.wait + timings.receive;
    let mut entry = Map::new();
    entry.insert(
        "startedDateTime".into(),
        iso8601_utc(x.timings.received_ms).into(),
    );
    entry.insert("time".into(), time.into());
    entry.insert("request".into(), har_request(x, base));
    entry.insert("response".into(), har_response(x));
    entry.insert("cache".into(), json!({}));
    entry.insert(
        "timings".into(),
        json!({
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "ssl": -1,
            "send": timings.send,
            "wait": timings.wait,
            "receive": timings.receive,
        }),
    );
    entry.insert("_request_id".into(), x.request_id.clone().into());
    entry.insert("_tunnel_id".into(), x.tunnel_id.clone().into());
    entry.insert("_remote_addr".into(), x.remote_addr.clone().into());
    entry.insert("_outcome".into(), x.outcome.as_str().into());
    if let Some(of) = &x.replay_of {
        entry.insert("_replay_of".into(), of.clone().into());
    }
    Value::Object(entry)
}

struct HarTimings {
    send: u64,
    wait: u64,
    receive: u64,
}

fn har_timings(t: &Timings) -> HarTimings {
    let start = t.received_ms;
    let known_end = [t.done_ms, t.first_byte_ms, t.forwarded_ms]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or(start);
    let forwarded = t.forwarded_ms.unwrap_or(start).max(start);
    let end = t.done_ms.unwrap_or(known_end).max(forwarded);
    let first_byte = t.first_byte_ms.unwrap_or(end).clamp(forwarded, end);
    HarTimings {
        send: forwarded - start,
        wait: first_byte - forwarded,
        receive: end - first_byte,
    }
}

fn har_headers(headers: &[(String, String)]) -> Value {
    headers
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect()
}

fn name_value_pairs(query: &str) -> Vec<Value> {
    query::split(query)
        .map(|(name, value)| {
            json!({ "name": query::decode_lossy(name), "value": query::decode_lossy(value) })
        })
        .collect()
}

fn request_cookies(headers: &[(String, String)]) -> Vec<Value> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(name, value)| json!({ "name": name.trim(), "value": value.trim() }))
        .collect()
}

fn response_cookies(headers: &[(String, String)]) -> Vec<Value> {
    let mut cookies = Vec::new();
    for (_, line) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
    {
        let mut parts = line.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
            continue;
        };
        let mut cookie = Map::new();
        cookie.insert("name".into(), name.trim().into());
        cookie.insert("value".into(), value.trim().into());
        for attr in parts {
            let (key, val) = attr.trim().split_once('=').unwrap_or((attr.trim(), ""));
            match key.to_ascii_lowercase().as_str() {
                "path" => {
                    cookie.insert("path".into(), val.into());
                }
                "domain" => {
                    cookie.insert("domain".into(), val.into());
                }
                "httponly" => {
                    cookie.insert("httpOnly".into(), true.into());
                }
                "secure" => {
                    cookie.insert("secure".into(), true.into());
                }
                _ => {}
            }
        }
        cookies.push(Value::Object(cookie));
    }
    cookies
}

/// Puts `body` into a HAR `postData` or `content` object: `text` (and `encoding_key`
/// when base64), plus the truncation marks.
fn put_body(obj: &mut Map<String, Value>, body: &CapturedBody, encoding_key: &str) {
    if !body.bytes.is_empty() {
        match std::str::from_utf8(&body.bytes) {
            Ok(text) => {
                obj.insert("text".into(), text.into());
            }
            Err(_) => {
                obj.insert("text".into(), b64::encode(&body.bytes).into());
                obj.insert(encoding_key.into(), "base64".into());
            }
        }
    }
    if body.truncated {
        obj.insert("_truncated".into(), true.into());
        obj.insert(
            "comment".into(),
            format!(
                "truncated when captured: first {} of {} bytes",
                body.bytes.len(),
                body.size
            )
            .into(),
        );
    }
}

fn har_request(x: &Exchange, base: &str) -> Value {
    let headers = &x.request.headers;
    let body = &x.request.body;
    let query_string = x
        .path
        .split_once('?')
        .map(|(_, q)| name_value_pairs(q))
        .unwrap_or_default();
    let mut request = Map::new();
    request.insert("method".into(), x.method.clone().into());
    request.insert("url".into(), public_url(base, &x.path).into());
    request.insert("httpVersion".into(), "HTTP/1.1".into());
    request.insert("cookies".into(), request_cookies(headers).into());
    request.insert("headers".into(), har_headers(headers));
    request.insert("queryString".into(), query_string.into());
    if !body.is_empty() {
        let mime = header(headers, "content-type").unwrap_or(UNKNOWN_MIME);
        let params = match std::str::from_utf8(&body.bytes) {
            Ok(text)
                if !body.truncated
                    && mime
                        .to_ascii_lowercase()
                        .starts_with("application/x-www-form-urlencoded") =>
            {
                name_value_pairs(text)
            }
            _ => Vec::new(),
        };
        let mut post = Map::new();
        post.insert("mimeType".into(), mime.into());
        post.insert("params".into(), params.into());
        put_body(&mut post, body, "_encoding");
        // HAR wants `text` when there are no params; an empty capture is still text.
        post.entry("text").or_insert_with(|| "".into());
        request.insert("postData".into(), Value::Object(post));
    }
    request.insert("headersSize".into(), (-1).into());
    request.insert("bodySize".into(), body.size.into());
    Value::Object(request)
}

fn har_response(x: &Exchange) -> Value {
    let Some(response) = &x.response else {
        return json!({
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": { "size": 0, "mimeType": UNKNOWN_MIME },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        });
    };
    let headers = &response.headers;
    let mut content = Map::new();
    content.insert("size".into(), response.body.size.into());
    content.insert(
        "mimeType".into(),
        header(headers, "content-type")
            .unwrap_or(UNKNOWN_MIME)
            .into(),
    );
    put_body(&mut content, &response.body, "encoding");
    json!({
        "status": response.status,
        "statusText": reason_phrase(response.status),
        "httpVersion": "HTTP/1.1",
        "cookies": response_cookies(headers),
        "headers": har_headers(headers),
        "content": Value::Object(content),
        "redirectURL": header(headers, "location").unwrap_or_default(),
        "headersSize": -1,
        "bodySize": response.body.size,
    })
}

/// Unix milliseconds as an ISO 8601 UTC timestamp with milliseconds.
/// Past the year 9999 (no real clock) it stays at the last millisecond of 9999, so the
/// year keeps its four digits.
pub fn iso8601_utc(ms: u64) -> String {
    let ms = ms.min(253_402_300_799_999);
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Unix seconds as a date and minute for people, `2026-12-12 08:05 UTC` (when an
/// inactive tunnel expires, in the CLI and the console).
pub fn date_time_utc(secs: u64) -> String {
    let iso = iso8601_utc(secs.saturating_mul(1000));
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
