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
mod shell {
    //! Runs the produced commands under `sh`, `bash` and `dash` (those present) with a
    //! fake `curl` first on PATH that records its arguments and standard input.

    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Run {
        args: Vec<String>,
        stdin: Vec<u8>,
    }

    fn scratch_dir() -> PathBuf {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "client-core-inspect-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn fake_curl(dir: &Path) {
        use std::os::unix::fs::PermissionsExt as _;
        let script = dir.join("curl");
        std::fs::write(
            &script,
            "#!/bin/sh\n\
             for a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$OUT/args\"\n\
             cat > \"$OUT/stdin\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn run(shell: &str, command: &str) -> Run {
        let dir = scratch_dir();
        fake_curl(&dir);
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // From a file: a large body makes the command longer than one argument may be.
        let script = dir.join("command.sh");
        std::fs::write(&script, command).unwrap();
        let status = Command::new(shell)
            .arg(&script)
            .env("PATH", path)
            .env("OUT", &dir)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{shell} failed on:\n{command}");
        let args = std::fs::read(dir.join("args")).unwrap();
        let args = args
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8(a.to_vec()).unwrap())
            .collect();
        let stdin = std::fs::read(dir.join("stdin")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        Run { args, stdin }
    }

    fn shells() -> Vec<&'static str> {
        ["sh", "bash", "dash"]
            .into_iter()
            .filter(|s| {
                Command::new(s)
                    .arg("-c")
                    .arg("true")
                    .status()
                    .is_ok_and(|st| st.success())
            })
            .collect()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn text_body_and_awkward_headers_survive_the_shell() {
        let body = "line 1\n\tit's $HOME `date` \\n %s 100% \"q\" é ✓\n@not-a-file";
        let x = request(
            "PUT",
            "/a b/[x]/../c?q='1'&r=$x",
            &[
                ("Host", "ignored"),
                ("X-Quote", "it's \"fine\" $PATH `id`"),
                ("X-Empty", ""),
                ("Transfer-Encoding", "chunked"),
                ("Accept", "*/*"),
            ],
            body.as_bytes(),
        );
        let command = to_curl(&x, BASE);
        for shell in shells() {
            let run = run(shell, &command);
            assert_eq!(
                run.args,
                strs(&[
                    "https://demo.tunnel.example/a b/[x]/../c?q='1'&r=$x",
                    "-X",
                    "PUT",
                    "--globoff",
                    "--path-as-is",
                    "-H",
                    "X-Quote: it's \"fine\" $PATH `id`",
                    "-H",
                    "X-Empty;",
                    "-H",
                    "Accept: */*",
                    "-H",
                    "Content-Type:",
                    "--data-raw",
                    body,
                ]),
                "{shell}"
            );
            assert!(run.stdin.is_empty());
        }
    }

    #[test]
    fn binary_body_is_piped_byte_for_byte() {
        let mut body: Vec<u8> = (0..=255u8).collect();
        body.extend_from_slice(b"%%s\\\\'\r\n\x00007");
        let x = request(
            "POST",
            "/upload",
            &[("Content-Type", "application/octet-stream")],
            &body,
        );
        let command = to_curl(&x, BASE);
        assert!(command.starts_with("printf '"), "{command}");
        for shell in shells() {
            let run = run(shell, &command);
            assert_eq!(
                run.args,
                strs(&[
                    "https://demo.tunnel.example/upload",
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/octet-stream",
                    "--data-binary",
                    "@-",
                ]),
                "{shell}"
            );
            assert_eq!(run.stdin, body, "{shell}");
        }
    }

    #[test]
    fn text_with_carriage_returns_or_large_is_piped() {
        let crlf = b"--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--\r\n".to_vec();
        let big: Vec<u8> = "x'%\\\n".repeat(20_000).into_bytes(); // 100,000 bytes
        for body in [crlf, big] {
            let x = request("PATCH", "/p", &[], &body);
            let command = to_curl(&x, BASE);
            for shell in shells() {
                let run = run(shell, &command);
                assert_eq!(
                    run.args,
                    strs(&[
                        "https://demo.tunnel.example/p",
                        "-X",
                        "PATCH",
                        "-H",
                        "Content-Type:",
                        "--data-binary",
                        "@-",
                    ])
                );
                assert_eq!(run.stdin, body, "{shell}");
            }
        }
    }

    /// With a real `curl` (skipped when there is none): the request it sends to a local
    /// listener is the captured one, head and body.
    #[test]
    fn real_curl_sends_the_captured_request() {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        if !Command::new("curl")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return;
        }
        let text = request(
            "DELETE",
            "/a/./b/[1]?x=%20y",
            &[("X-Empty", ""), ("X-Q", "it's"), ("Host", "other")],
            b"-not an option\n '@x'",
        );
        let mut binary = request("POST", "/bin", &[("Content-Type", "image/png")], b"");
        binary.request.body = CapturedBody::full((0..=255u8).rev().collect());
        for x in [text, binary] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let server = std::thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    head.push(line.trim_end().to_owned());
                }
                let length = head
                    .iter()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .map_or(0, |n| n.parse().unwrap());
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut stream = stream;
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .unwrap();
                (head, body)
            });
            let dir = scratch_dir();
            let script = dir.join("command.sh");
            std::fs::write(&script, to_curl(&x, &base)).unwrap();
            let status = Command::new("sh")
                .arg(&script)
                .env("NO_PROXY", "*")
                .env("no_proxy", "*")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            assert!(status.success());
            let (head, body) = server.join().unwrap();
            assert_eq!(head[0], format!("{} {} HTTP/1.1", x.method, x.path));
            assert_eq!(body, x.request.body.bytes);
            let has = |line: &str| head.iter().any(|l| l == line);
            if x.method == "DELETE" {
                assert!(has("X-Empty:") && has("X-Q: it's"), "{head:#?}");
                assert!(
                    !head
                        .iter()
                        .any(|l| l.to_ascii_lowercase().starts_with("content-type"))
                );
                assert!(!has("Host: other"));
            } else {
                assert!(has("Content-Type: image/png"), "{head:#?}");
            }
        }
    }

    #[test]
    fn truncated_body_is_flagged_and_sent_as_captured() {
        let mut x = request("POST", "/t", &[("Content-Type", "text/plain")], b"");
        x.request.body = CapturedBody {
            bytes: b"abc".to_vec(),
            size: 10,
            truncated: true,
        };
        let command = to_curl(&x, BASE);
        assert!(
            command.starts_with(
                "# warning: the request body was truncated when captured: this sends only its first 3 of 10 bytes\n"
            ),
            "{command}"
        );
        for shell in shells() {
            let run = run(shell, &command);
            assert_eq!(run.args.last().map(String::as_str), Some("abc"));
        }
    }
}

/// A structural check of a HAR 1.2 document: every required field present with its
/// type, per <http://www.softwareishard.com/blog/har-12-spec/>. Returns the problems.
mod har_check {
    use serde_json::{Map, Value};

    pub(super) fn validate(doc: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        let Some(log) = obj(doc, "log", "", &mut errs) else {
            return errs;
        };
        if log.get("version").and_then(Value::as_str) != Some("1.2") {
            errs.push("log.version must be \"1.2\"".into());
        }
        if let Some(creator) = obj_field(log, "creator", "log", &mut errs) {
            string(creator, "name", "log.creator", &mut errs);
            string(creator, "version", "log.creator", &mut errs);
        }
        let Some(entries) = array(log, "entries", "log", &mut errs) else {
            return errs;
        };
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("log.entries[{i}]");
            let Some(entry) = entry.as_object() else {
                errs.push(format!("{at} must be an object"));
                continue;
            };
            entry_fields(entry, &at, &mut errs);
            for key in entry.keys() {
                let standard = [
                    "pageref",
                    "startedDateTime",
                    "time",
                    "request",
                    "response",
                    "cache",
                    "timings",
                    "serverIPAddress",
                    "connection",
                    "comment",
                ];
                if !standard.contains(&key.as_str()) && !key.starts_with('_') {
                    errs.push(format!("{at}.{key}: custom fields must start with _"));
                }
            }
        }
        errs
    }

    fn entry_fields(entry: &Map<String, Value>, at: &str, errs: &mut Vec<String>) {
        if let Some(started) = string(entry, "startedDateTime", at, errs)
            && !is_iso8601(started)
        {
            errs.push(format!("{at}.startedDateTime is not ISO 8601: {started}"));
        }
        let time = number(entry, "time", at, errs);
        if let Some(request) = obj_field(entry, "request", at, errs) {
            let at = format!("{at}.request");
            string(request, "method", &at, errs);
            string(request, "url", &at, errs);
            string(request, "httpVersion", &at, errs);
            cookies(request, &at, errs);
            pairs(request, "headers", &at, errs);
            pairs(request, "queryString", &at, errs);
            if let Some(post) = request.get("postData") {
                let at = format!("{at}.postData");
                match post.as_object() {
                    Some(post) => {
                        string(post, "mimeType", &at, errs);
                        if post.get("params").is_none() && post.get("text").is_none() {
                            errs.push(format!("{at} needs params or text"));
                        }
                        if post.contains_key("params") {
                            pairs(post, "params", &at, errs);
                        }
                        optional_string(post, "text", &at, errs);
                        optional_string(post, "comment", &at, errs);
                    }
                    None => errs.push(format!("{at} must be an object")),
                }
            }
            integer(request, "headersSize", &at, errs);
            integer(request, "bodySize", &at, errs);
        }
        if let Some(response) = obj_field(entry, "response", at, errs) {
            let at = format!("{at}.response");
            integer(response, "status", &at, errs);
            string(response, "statusText", &at, errs);
            string(response, "httpVersion", &at, errs);
            cookies(response, &at, errs);
            pairs(response, "headers", &at, errs);
            if let Some(content) = obj_field(response, "content", &at, errs) {
                let at = format!("{at}.content");
                integer(content, "size", &at, errs);
                string(content, "mimeType", &at, errs);
                optional_string(content, "text", &at, errs);
                optional_string(content, "comment", &at, errs);
                if let Some(encoding) = content.get("encoding") {
                    if encoding != "base64" {
                        errs.push(format!("{at}.encoding must be base64 here"));
                    }
                    if content.get("text").is_none() {
                        errs.push(format!("{at}: encoding without text"));
                    }
                }
            }
            string(response, "redirectURL", &at, errs);
            integer(response, "headersSize", &at, errs);
            integer(response, "bodySize", &at, errs);
        }
        obj_field(entry, "cache", at, errs);
        if let Some(timings) = obj_field(entry, "timings", at, errs) {
            let at = format!("{at}.timings");
            let mut sum = 0.0;
            for key in ["send", "wait", "receive"] {
                match number(timings, key, &at, errs) {
                    Some(v) if v < 0.0 => errs.push(format!("{at}.{key} must not be negative")),
                    Some(v) => sum += v,
                    None => {}
                }
            }
            for key in ["blocked", "dns", "connect", "ssl"] {
                if timings.contains_key(key) {
                    match number(timings, key, &at, errs) {
                        Some(v) if v < 0.0 && v != -1.0 => {
                            errs.push(format!("{at}.{key} must be -1 or non-negative"));
                        }
                        Some(v) if v >= 0.0 => sum += v,
                        _ => {}
                    }
                }
            }
            if let Some(time) = time
                && (time - sum).abs() > 1e-9
            {
                errs.push(format!("{at}: time {time} is not the sum of timings {sum}"));
            }
        }
    }

    fn is_iso8601(s: &str) -> bool {
        // YYYY-MM-DDThh:mm:ss(.fff)?(Z|±hh:mm)
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            b.get(r.clone())
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        };
        if !(digits(0..4)
            && b.get(4) == Some(&b'-')
            && digits(5..7)
            && b.get(7) == Some(&b'-')
            && digits(8..10)
            && b.get(10) == Some(&b'T')
            && digits(11..13)
            && b.get(13) == Some(&b':')
            && digits(14..16)
            && b.get(16) == Some(&b':')
            && digits(17..19))
        {
            return false;
        }
        let mut rest = &s[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return false;
            }
            rest = &frac[n..];
        }
        rest == "Z"
            || (rest.len() == 6
                && (rest.starts_with('+') || rest.starts_with('-'))
                && rest.as_bytes()[3] == b':')
    }

    fn cookies(obj: &Map<String, Value>, at: &str, errs: &mut Vec<String>) {
        let Some(list) = array(obj, "cookies", at, errs) else {
            return;
        };
        for (i, c) in list.iter().enumerate() {
            let at = format!("{at}.cookies[{i}]");
            match c.as_object() {
                Some(c) => {
                    string(c, "name", &at, errs);
                    string(c, "value", &at, errs);
                    for key in ["path", "domain", "expires", "comment"] {
                        optional_string(c, key, &at, errs);
                    }
                    for key in ["httpOnly", "secure"] {
                        if c.get(key).is_some_and(|v| !v.is_boolean()) {
                            errs.push(format!("{at}.{key} must be a boolean"));
                        }
                    }
                }
                None => errs.push(format!("{at} must be an object")),
            }
        }
    }

    fn pairs(obj: &Map<String, Value>, key: &str, at: &str, errs: &mut Vec<String>) {
        let Some(list) = array(obj, key, at, errs) else {
            return;
        };
        for (i, p) in list.iter().enumerate() {
            let at = format!("{at}.{key}[{i}]");
            match p.as_object() {
                Some(p) => {
                    string(p, "name", &at, errs);
                    if key == "params" {
                        optional_string(p, "value", &at, errs);
                    } else {
                        string(p, "value", &at, errs);
                    }
                }
                None => errs.push(format!("{at} must be an object")),
            }
        }
    }

    fn obj<'a>(
        v: &'a Value,
        key: &str,
        at: &str,
        errs: &mut Vec<String>,
    ) -> Option<&'a Map<String, Value>> {
        match v.as_object() {
            Some(o) => obj_field(o, key, at, errs),
            None => {
                errs.push(format!("{at}: the document must be an object"));
                None
            }
        }
    }

    fn obj_field<'a>(
        o: &'a Map<String, Value>,
        key: &str,
        at: &str,
        errs: &mut Vec<String>,
    ) -> Option<&'a Map<String, Value>> {
        let found = o.get(key).and_then(Value::as_object);
        if found.is_none() {
            errs.push(format!("{at}.{key} must be an object"));
        }
        found
    }

    fn array<'a>(
        o: &'a Map<String, Value>,
        key: &str,
        at: &str,
        errs: &mut Vec<String>,
    ) -> Option<&'a Vec<Value>> {
        let found = o.get(key).and_then(Value::as_array);
        if found.is_none() {
            errs.push(format!("{at}.{key} must be an array"));
        }
        found
    }

    fn string<'a>(
        o: &'a Map<String, Value>,
        key: &str,
        at: &str,
        errs: &mut Vec<String>,
    ) -> Option<&'a str> {
        let found = o.get(key).and_then(Value::as_str);
        if found.is_none() {
            errs.push(format!("{at}.{key} must be a string"));
        }
        found
    }

    fn optional_string(o: &Map<String, Value>, key: &str, at: &str, errs: &mut Vec<String>) {
        if o.get(key).is_some_and(|v| !v.is_string()) {
            errs.push(format!("{at}.{key} must be a string"));
        }
    }

    fn number(o: &Map<String, Value>, key: &str, at: &str, errs: &mut Vec<String>) -> Option<f64> {
        let found = o.get(key).and_then(Value::as_f64);
        if found.is_none() {
            errs.push(format!("{at}.{key} must be a number"));
        }
        found
    }

    fn integer(o: &Map<String, Value>, key: &str, at: &str, errs: &mut Vec<String>) {
        if !o.get(key).is_some_and(|v| v.is_i64() || v.is_u64()) {
            errs.push(format!("{at}.{key} must be an integer"));
        }
    }

    #[test]
    fn the_checker_catches_mistakes() {
        let bad = serde_json::json!({ "log": { "version": "1.1", "entries": [{
            "startedDateTime": "yesterday",
            "time": 5,
            "request": { "method": "GET" },
            "response": {},
            "timings": { "send": -1, "wait": 0, "receive": 0 },
            "outcome": "x",
        }]}});
        let errs = validate(&bad);
        for needle in [
            "log.version",
            "log.creator",
            "startedDateTime is not ISO 8601",
            "request.url",
            "request.headersSize",
            "response.status",
            "response.content",
            "entries[0].cache",
            "timings.send must not be negative",
            "custom fields must start with _",
        ] {
            assert!(
                errs.iter().any(|e| e.contains(needle)),
                "missing {needle} in {errs:#?}"
            );
        }
        assert!(is_iso8601("2009-07-24T19:20:30.45+01:00"));
        assert!(!is_iso8601("2009-07-24 19:20:30Z"));
    }
}

fn har_examples() -> Vec<Exchange> {
    // Binary request and response bodies.
    let mut binary = request(
        "POST",
        "/upload",
        &[("Content-Type", "application/octet-stream")],
        &[0, 1, 2, 0xff, 0xfe],
    );
    binary.response = Some(ResponseRecord {
        status: 201,
        headers: h(&[
            ("Content-Type", "image/png"),
            ("Location", "/files/1"),
            ("Set-Cookie", "sid=abc; Path=/; HttpOnly; Secure"),
        ]),
        body: CapturedBody::full(vec![0x89, b'P', b'N', b'G', 0, 0xff]),
    });

    // Empty bodies both ways.
    let mut empty = request("GET", "/empty", &[], b"");
    empty.response = Some(ResponseRecord {
        status: 204,
        headers: vec![],
        body: CapturedBody::default(),
    });

    // No response: the origin refused; never a first byte.
    let mut refused = request("GET", "/down", &[("Accept", "text/html")], b"");
    refused.response = None;
    refused.outcome = Outcome::OriginRefused;
    refused.timings.first_byte_ms = None;

    // Redacted credentials, a replay, a truncated form body.
    let mut secret = request(
        "POST",
        "/login",
        &[
            ("Authorization", "Bearer s3cret"),
            ("Cookie", "a=1; b=2"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"",
    );
    secret.request.body = CapturedBody {
        bytes: b"user=me&pass=x".to_vec(),
        size: 40,
        truncated: true,
    };
    secret.replay_of = Some("req-0".into());
    secret.response = Some(ResponseRecord {
        status: 302,
        headers: h(&[("Set-Cookie", "sid=new"), ("Location", "/home")]),
        body: CapturedBody::default(),
    });
    redact_exchange(&mut secret);

    // Query string with repeats, percent-encoding and odd pieces; form body.
    let form = request(
        "PUT",
        "/search?q=caf%C3%A9+au+lait&tag=a&tag=b&empty=&flag&bad=%zz&sp=a%20b",
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        b"x=1&y=%2F",
    );

    // Still open: no first byte, no end; and a timeout (forwarded, never answered).
    let mut open = request("GET", "/slow", &[], b"");
    open.response = None;
    open.outcome = Outcome::Timeout;
    open.timings.first_byte_ms = None;
    open.timings.done_ms = Some(open.timings.received_ms + 30_000);
    let mut unsent = request("GET", "/offline", &[], b"");
    unsent.response = None;
    unsent.outcome = Outcome::TunnelOffline;
    unsent.timings = Timings {
        received_ms: 5,
        forwarded_ms: None,
        first_byte_ms: None,
        done_ms: None,
    };

    vec![binary, empty, refused, secret, form, open, unsent]
}

#[test]
fn har_is_valid_for_every_kind_of_exchange() {
    let exchanges = har_examples();
    let har = to_har(&exchanges, BASE, "0.1.0");
    let errs = har_check::validate(&har);
    assert!(errs.is_empty(), "{errs:#?}\n{har:#}");
    // It survives a trip through text as a HAR reader gets it.
    let text = serde_json::to_string(&har).unwrap();
    assert!(har_check::validate(&serde_json::from_str::<Value>(&text).unwrap()).is_empty());
    assert!(har_check::validate(&to_har(&[], BASE, "x")).is_empty());

    let log = &har["log"];
    assert_eq!(
        log["creator"],
        serde_json::json!({"name": "tunnel", "version": "0.1.0"})
    );
    let e = &log["entries"];

    // Binary bodies.
    let binary = &e[0];
    assert_eq!(binary["startedDateTime"], "2024-02-29T00:00:00.123Z");
    assert_eq!(binary["time"], 27);
    assert_eq!(binary["timings"]["send"], 2);
    assert_eq!(binary["timings"]["wait"], 15);
    assert_eq!(binary["timings"]["receive"], 10);
    assert_eq!(
        binary["request"]["url"],
        "https://demo.tunnel.example/upload"
    );
    assert_eq!(binary["request"]["postData"]["text"], "AAEC//4=");
    assert_eq!(binary["request"]["postData"]["_encoding"], "base64");
    assert_eq!(binary["request"]["bodySize"], 5);
    let content = &binary["response"]["content"];
    assert_eq!(content["encoding"], "base64");
    assert_eq!(content["text"], "iVBORwD/");
    assert_eq!(content["size"], 6);
    assert_eq!(content["mimeType"], "image/png");
    assert_eq!(binary["response"]["statusText"], "Created");
    assert_eq!(binary["response"]["redirectURL"], "/files/1");
    assert_eq!(
        binary["response"]["cookies"],
        serde_json::json!([{"name": "sid", "value": "abc", "path": "/", "httpOnly": true, "secure": true}])
    );
    assert_eq!(binary["_outcome"], "completed");
    assert!(binary.get("_replay_of").is_none());

    // Empty bodies: no postData, no content text.
    let empty = &e[1];
    assert!(empty["request"].get("postData").is_none());
    assert_eq!(empty["request"]["bodySize"], 0);
    assert_eq!(empty["response"]["content"]["size"], 0);
    assert!(empty["response"]["content"].get("text").is_none());
    assert_eq!(empty["response"]["statusText"], "No Content");

    // No response.
    let refused = &e[2];
    assert_eq!(refused["response"]["status"], 0);
    assert_eq!(refused["response"]["bodySize"], -1);
    assert_eq!(refused["_outcome"], "origin_refused");
    assert_eq!(refused["timings"]["wait"], 25);
    assert_eq!(refused["timings"]["receive"], 0);

    // Redacted, replayed, truncated.
    let secret = &e[3];
    let headers = &secret["request"]["headers"];
    assert_eq!(
        headers[0],
        serde_json::json!({"name": "Authorization", "value": REDACTED})
    );
    assert_eq!(headers[1]["value"], REDACTED);
    assert_eq!(secret["request"]["cookies"], serde_json::json!([]));
    assert_eq!(secret["response"]["cookies"], serde_json::json!([]));
    assert!(!text.contains("s3cret") && !text.contains("a=1") && !text.contains("sid=new"));
    assert_eq!(secret["_replay_of"], "req-0");
    let post = &secret["request"]["postData"];
    assert_eq!(post["text"], "user=me&pass=x");
    assert_eq!(post["_truncated"], true);
    assert_eq!(
        post["comment"],
        "truncated when captured: first 14 of 40 bytes"
    );
    assert_eq!(post["params"], serde_json::json!([]));
    assert_eq!(secret["request"]["bodySize"], 40);

    // Query string, form params.
    let form = &e[4];
    assert_eq!(
        form["request"]["queryString"],
        serde_json::json!([
            {"name": "q", "value": "café au lait"},
            {"name": "tag", "value": "a"},
            {"name": "tag", "value": "b"},
            {"name": "empty", "value": ""},
            {"name": "flag", "value": ""},
            {"name": "bad", "value": "%zz"},
            {"name": "sp", "value": "a b"},
        ])
    );
    assert_eq!(
        form["request"]["url"],
        "https://demo.tunnel.example/search?q=caf%C3%A9+au+lait&tag=a&tag=b&empty=&flag&bad=%zz&sp=a%20b"
    );
    assert_eq!(
        form["request"]["postData"]["params"],
        serde_json::json!([{"name": "x", "value": "1"}, {"name": "y", "value": "/"}])
    );
    assert_eq!(form["request"]["postData"]["text"], "x=1&y=%2F");

    // Timeout: the whole wait after forwarding; unsent: all zero.
    assert_eq!(e[5]["timings"]["wait"], 29_998);
    assert_eq!(e[5]["time"], 30_000);
    assert_eq!(e[6]["time"], 0);
    assert_eq!(e[6]["startedDateTime"], "1970-01-01T00:00:00.005Z");
}

#[test]
fn har_timings_never_go_negative() {
    // Out-of-order or partial clocks still give non-negative timings that sum to time.
    let cases = [
        (10, Some(5), Some(3), Some(1)),
        (10, None, Some(20), None),
        (10, Some(30), None, Some(20)),
        (10, None, None, Some(12)),
        (u64::MAX - 1, Some(u64::MAX), None, None),
    ];
    for (received_ms, forwarded_ms, first_byte_ms, done_ms) in cases {
        let mut x = request("GET", "/", &[], b"");
        x.timings = Timings {
            received_ms,
            forwarded_ms,
            first_byte_ms,
            done_ms,
        };
        let har = to_har(&[x], BASE, "v");
        let errs = har_check::validate(&har);
        assert!(
            errs.is_empty(),
            "{:?}: {errs:#?}",
            (received_ms, forwarded_ms, first_byte_ms, done_ms)
        );
    }
}
