//! Bad input at the edges of the local stack, table-driven: the control plane's
//! domain rules and body limit, the public HTTP edge (raw bytes over TCP, so nothing
//! tidies the request up first), and the WebSocket edge. Each case is a clear status
//! or error and nothing crashes or hangs; after every table the server still answers.
//! The observed results are listed in docs/reliability.md.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use client_core::protocol::{ClientFrame, ErrorCode, ErrorFrame, ServerFrame};
use e2e::{Origin, READY_TIMEOUT, RunningTunnel, Server, User};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;

/// Public request body limit the server runs with here.
const MAX_BODY: usize = 1024;

/// A server with a small body limit and no rate limits (the tables send many
/// requests), a registered user, an echo origin and a tunnel to it.
struct Stack {
    _dir: tempfile::TempDir,
    server: Server,
    user: User,
    key: String,
    origin: Origin,
    tunnel: RunningTunnel,
    host: String,
}

impl Stack {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let max_body = MAX_BODY.to_string();
        let server = Server::start_with(
            &dir.path().join("data"),
            &[
                "--max-body",
                &max_body,
                "--public-rate",
                "off",
                "--api-rate",
                "off",
            ],
        )
        .await;
        let user = User::new(dir.path(), &server);
        let key = user.register().await;
        let origin = Origin::start().await;
        let tunnel = user
            .start(&[&origin.port.to_string(), "--domain", "badinput"])
            .await;
        let host = server.host_of("badinput");
        Self {
            _dir: dir,
            server,
            user,
            key,
            origin,
            tunnel,
            host,
        }
    }

    /// Sends `request` (with `{host}` replaced) as raw bytes; see [`exchange`].
    async fn raw(&self, request: &[u8]) -> Reply {
        // On bytes, not text: some requests here are deliberately not UTF-8.
        let mut out = Vec::with_capacity(request.len());
        let mut rest = request;
        while !rest.is_empty() {
            if let Some(tail) = rest.strip_prefix(b"{host}".as_slice()) {
                out.extend_from_slice(self.host.as_bytes());
                rest = tail;
            } else {
                out.push(rest[0]);
                rest = &rest[1..];
            }
        }
        exchange(self.server.port, &out).await
    }

    /// The server still serves an ordinary request through the tunnel.
    async fn still_serves(&self) {
        let r = self
            .raw(b"GET /alive HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
}

/// What came back on one raw connection.
#[derive(Debug)]
struct Reply {
    /// Status of the first response; 0 when none came.
    status: u16,
    /// Everything read, as text.
    text: String,
    /// Status lines read: more than one means a second request was answered.
    responses: usize,
}

impl Reply {
    /// The origin's `x-echo-headers`: the headers it saw, lower-cased names.
    fn origin_headers(&self) -> Vec<(String, String)> {
        let line = self
            .text
            .lines()
            .find_map(|l| l.strip_prefix("x-echo-headers: "))
            .unwrap_or_else(|| panic!("no echo headers: {self:?}"));
        serde_json::from_str(line).unwrap()
    }

    fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}

/// Writes `request` and reads until the server closes the connection (each request
/// here asks to close, or is one the server closes after). Writing and reading run
/// together, so an answer sent before the whole request was read is still seen.
async fn exchange(port: u16, request: &[u8]) -> Reply {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let request = request.to_vec();
    let writer = tokio::spawn(async move {
        // The server may answer and close before taking everything: not an error here.
        let _ = wr.write_all(&request).await;
        wr
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(READY_TIMEOUT, async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    drop(writer.await);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let responses = text.matches("HTTP/1.1 ").count();
    Reply {
        status,
        text,
        responses,
    }
}

/// A request head with `lines` after the Host line, asking to close.
fn head(method: &str, target: &str, lines: &[String]) -> Vec<u8> {
    let mut h = format!("{method} {target} HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\n");
    for l in lines {
        h.push_str(l);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_and_reserved_subdomains_and_oversized_api_bodies_are_400_and_413() {
    let s = Stack::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/tunnels", s.server.url);
    // (requested domain, words the message must hold)
    let cases: &[(&str, &str)] = &[
        ("ab", "too short"),
        ("", "too short"),
        ("   ", "too short"),
        (&"a".repeat(64), "too long"),
        ("Bad_Name", "'B' at position 0"),
        ("my.app", "'.' at position 2"),
        ("my app", "' ' at position 2"),
        ("ünïcode", "'ü' at position 0"),
        ("xn--nxasmq6b\u{0}", "'\\0'"),
        ("-edge", "starts or ends with '-'"),
        ("edge-", "starts or ends with '-'"),
        ("www", "reserved"),
        ("api", "reserved"),
        ("console", "reserved"),
        ("localhost", "reserved"),
    ];
    for (domain, words) in cases {
        let r = http
            .post(&url)
            .bearer_auth(&s.key)
            .json(&json!({ "domain": domain }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{domain:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "invalid_domain",
            "{domain:?}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(words),
            "{domain:?}: {message:?} lacks {words:?}"
        );
    }

    // A control-plane body one byte over its limit: 413 naming the limit. One byte
    // over, so the server has read it all when it answers and closes (unread bytes
    // would turn the close into a reset that can swallow the answer).
    let limit = tunnel_backend::api::MAX_API_BODY_BYTES;
    let envelope = r#"{"domain":"big","pad":""}"#.len();
    let body = format!(
        r#"{{"domain":"big","pad":"{}"}}"#,
        "x".repeat(limit + 1 - envelope)
    );
    assert_eq!(body.len(), limit + 1);
    let request = format!(
        "POST /v1/tunnels HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        s.server.port,
        s.key,
        body.len()
    );
    let r = exchange(s.server.port, request.as_bytes()).await;
    assert_eq!(r.status, 413, "{}", head_of(&r.text));
    let answer: Value = serde_json::from_str(r.body()).unwrap();
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains(&limit.to_string()), "{message}");
    s.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_requests_with_bad_heads_bodies_or_framing_get_clear_statuses() {
    let s = Stack::start().await;
    let hop_secret = "X-Hop-Secret";
    let at_limit = "b".repeat(MAX_BODY);
    let over_limit = "b".repeat(MAX_BODY + 1);
    let chunked_over = format!("{:x}\r\n{over_limit}\r\n0\r\n\r\n", over_limit.len());
    let many_headers: Vec<String> = (0..101).map(|i| format!("x-h{i}: v")).collect();
    let wide_headers: Vec<String> = (0..90)
        .map(|i| format!("x-h{i}: {}", "w".repeat(200)))
        .collect();
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: {host}\r\n\r\n";

    // (name, raw request, status, words the answer must hold)
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        // CR, LF and other controls in header names or values.
        (
            "CR inside a header value",
            head("GET", "/", &["X-A: a\rInjected: 1".into()]),
            400,
            "",
        ),
        (
            "CR inside a header name",
            head("GET", "/", &["X-\rA: 1".into()]),
            400,
            "",
        ),
        (
            "LF inside a header name",
            head("GET", "/", &["X-\nA: 1".into()]),
            400,
            "",
        ),
        (
            "NUL in a header value",
            head("GET", "/", &["X-A: a\0b".into()]),
            400,
            "",
        ),
        (
            "DEL in a header value",
            head("GET", "/", &["X-A: a\x7fb".into()]),
            400,
            "",
        ),
        (
            "obsolete line folding",
            head("GET", "/", &["X-A: a".into(), " folded".into()]),
            400,
            "",
        ),
        (
            "space before the colon",
            head("GET", "/", &["X-A : 1".into()]),
            400,
            "",
        ),
        (
            "non-ASCII byte in a header value",
            bytes(&[
                b"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nX-A: caf\xe9\r\n\r\n",
            ]),
            400,
            "printable ASCII only",
        ),
        (
            "UTF-8 in a header value",
            head("GET", "/", &["X-A: caf\u{e9}".into()]),
            400,
            "printable ASCII only",
        ),
        (
            "non-ASCII header name",
            head("GET", "/", &["X-\u{e9}: 1".into()]),
            400,
            "",
        ),
        // Bodies over the limit.
        (
            "Content-Length over the limit",
            head("POST", "/", &[format!("Content-Length: {}", MAX_BODY + 1)]),
            413,
            "limit of 1024 bytes",
        ),
        (
            "chunked body over the limit",
            bytes(&[
                &head("POST", "/", &["Transfer-Encoding: chunked".into()]),
                chunked_over.as_bytes(),
            ]),
            413,
            "limit of 1024 bytes",
        ),
        (
            "body exactly at the limit",
            bytes(&[
                &head("POST", "/", &[format!("Content-Length: {MAX_BODY}")]),
                at_limit.as_bytes(),
            ]),
            200,
            &at_limit,
        ),
        // Framing that could smuggle a request.
        (
            "two different Content-Lengths",
            head("POST", "/", &["Content-Length: 3".into(), "Content-Length: 4".into()]),
            400,
            "",
        ),
        (
            "a Content-Length list that disagrees",
            head("POST", "/", &["Content-Length: 3, 4".into()]),
            400,
            "",
        ),
        (
            "a signed Content-Length",
            head("POST", "/", &["Content-Length: +3".into()]),
            400,
            "",
        ),
        (
            "Transfer-Encoding that does not end in chunked",
            head(
                "POST",
                "/",
                &["Transfer-Encoding: chunked, gzip".into(), "Content-Length: 3".into()],
            ),
            400,
            "",
        ),
        (
            "an unknown Transfer-Encoding",
            head("POST", "/", &["Transfer-Encoding: xchunked".into()]),
            400,
            "",
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            b"POST / HTTP/1.0\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n".to_vec(),
            400,
            "",
        ),
        (
            "a bad chunk size",
            bytes(&[
                &head("POST", "/", &["Transfer-Encoding: chunked".into()]),
                b"zz\r\nhello\r\n0\r\n\r\n",
            ]),
            400,
            "could not be read",
        ),
        // Absurd header counts and sizes.
        ("101 header lines", head("GET", "/", &many_headers), 431, ""),
        (
            "one 17 KiB header",
            head("GET", "/", &[format!("X-Big: {}", "v".repeat(17 * 1024))]),
            431,
            "exceed the limit of 16384",
        ),
        (
            "90 headers of 200 bytes",
            head("GET", "/", &wide_headers),
            431,
            "exceed the limit of 16384",
        ),
        (
            "a 9 KiB target",
            head("GET", &format!("/{}", "p".repeat(9 * 1024)), &[]),
            414,
            "exceeds the limit of 8192",
        ),
        (
            "a target of quotes, 8 KiB encoded twice over",
            head("GET", &format!("/{}", "\"".repeat(5000)), &[]),
            414,
            "exceeds the limit of 8192",
        ),
        (
            "a 70 KB target",
            head("GET", &format!("/{}", "p".repeat(70_000)), &[]),
            414,
            "",
        ),
        (
            "a 140 KB method",
            head(&"M".repeat(140_000), "/", &[]),
            431,
            "too large to carry through the tunnel",
        ),
    ];
    for (name, request, status, words) in &cases {
        let r = s.raw(request).await;
        assert_eq!(r.status, *status, "{name}: {}", head_of(&r.text));
        assert!(
            r.text.contains(words),
            "{name}: {:?} lacks {words:?}",
            r.text
        );
    }
    s.still_serves().await;

    // A bare LF ends a header line (RFC 9112 lets a recipient read it so): the text
    // after it becomes a header of its own, never part of a value.
    let r = s
        .raw(b"GET /lf HTTP/1.1\nHost: {host}\nConnection: close\nX-A: a\nInjected: 1\n\n")
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = r.origin_headers();
    assert!(seen.contains(&("x-a".into(), "a".into())), "{seen:?}");
    assert!(seen.contains(&("injected".into(), "1".into())), "{seen:?}");
    assert!(seen.iter().all(|(_, v)| !v.contains(['\r', '\n'])));

    // Hop-by-hop headers, and the ones Connection names, stop at the server.
    let r = s
        .raw(&bytes(&[
            format!(
                "POST /hop HTTP/1.1\r\nHost: {{host}}\r\nConnection: close, {hop_secret}\r\n\
                 Keep-Alive: timeout=5\r\n{hop_secret}: s\r\nUpgrade: h2c\r\n\
                 Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\n\
                 Transfer-Encoding: chunked\r\nX-End-To-End: kept\r\n\r\n"
            )
            .as_bytes(),
            b"5\r\nhello\r\n0\r\n\r\n",
        ]))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body(), "hello");
    let seen = r.origin_headers();
    for hop in [
        "connection",
        "keep-alive",
        "x-hop-secret",
        "upgrade",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
    ] {
        assert!(
            seen.iter().all(|(n, _)| n != hop),
            "{hop} reached the origin: {seen:?}"
        );
    }
    assert!(
        seen.contains(&("x-end-to-end".into(), "kept".into())),
        "{seen:?}"
    );

    // A WebSocket upgrade reaches the origin as one (Upgrade and Connection kept,
    // since the tunnel carries WebSockets); an origin that declines it with a plain
    // answer gets that answer to the caller, not a 101.
    let r = s
        .raw(
            b"GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = r.origin_headers();
    assert!(
        seen.contains(&("upgrade".into(), "websocket".into()))
            && seen.contains(&("connection".into(), "upgrade".into())),
        "{seen:?}"
    );

    // Content-Length with Transfer-Encoding, in either order, and a second request
    // hidden after the chunked body. hyper follows RFC 9112 section 6.3: chunked
    // wins, Content-Length is dropped, the connection is closed after the answer. So
    // the origin gets the de-chunked body with a length of its own, and the hidden
    // request is never read.
    for (order, framing) in [
        (
            "CL then TE",
            "Content-Length: 4\r\nTransfer-Encoding: chunked",
        ),
        (
            "TE then CL",
            "Transfer-Encoding: chunked\r\nContent-Length: 40",
        ),
    ] {
        let before = s.origin.seen().len();
        let r = s
            .raw(&bytes(&[
                format!("POST /clte HTTP/1.1\r\nHost: {{host}}\r\n{framing}\r\n\r\n").as_bytes(),
                b"5\r\nhello\r\n0\r\n\r\n",
                smuggled.as_bytes(),
            ]))
            .await;
        assert_eq!(r.status, 200, "{order}: {r:?}");
        assert_eq!(
            r.responses, 1,
            "{order}: a second request was answered: {r:?}"
        );
        assert_eq!(r.body(), "hello", "{order}");
        let seen = r.origin_headers();
        let lengths: Vec<_> = seen.iter().filter(|(n, _)| n == "content-length").collect();
        assert_eq!(lengths, [&("content-length".into(), "5".into())], "{order}");
        assert!(
            seen.iter().all(|(n, _)| n != "transfer-encoding"),
            "{order}"
        );
        let after = s.origin.seen();
        assert_eq!(
            after[before..],
            ["/clte".to_owned()],
            "{order}: origin saw {after:?}"
        );
    }
    s.still_serves().await;
}

/// The status line and headers of a reply, for failure messages.
fn head_of(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or(text, |(h, _)| h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_connections_are_cut_by_the_header_timeout() {
    let s = Stack::start().await;
    let port = s.server.port;
    let host = s.host.clone();
    // How long the server took to close on us, and what it sent first.
    async fn wait_closed(mut stream: TcpStream, trickle: Option<&[u8]>) -> (Duration, Vec<u8>) {
        let started = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut rest = trickle.unwrap_or_default().iter();
        let closed = tokio::time::timeout(READY_TIMEOUT, async {
            loop {
                tokio::select! {
                    n = stream.read(&mut buf) => match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    },
                    // One byte of the head every half second: always more to come.
                    _ = tick.tick(), if trickle.is_some() => {
                        if let Some(b) = rest.next()
                            && stream.write_all(&[*b]).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "still open after {READY_TIMEOUT:?}");
        (started.elapsed(), got)
    }

    let silent = async {
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let partial = format!("GET / HTTP/1.1\r\nHost: {host}\r\n");
        c.write_all(partial.as_bytes()).await.unwrap();
        wait_closed(c, None).await
    };
    let trickle_head = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nX-Slow: {}",
        "z".repeat(100)
    );
    let trickling = async {
        let c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        wait_closed(c, Some(trickle_head.as_bytes())).await
    };
    let idle_after_request = async {
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request = format!("GET /one HTTP/1.1\r\nHost: {host}\r\n\r\n");
        c.write_all(request.as_bytes()).await.unwrap();
        wait_closed(c, None).await
    };
    let (silent, trickling, idle) = tokio::join!(silent, trickling, idle_after_request);

    let timeout = Duration::from_secs(10); // tunnel_server::HEADER_READ_TIMEOUT
    for (name, (took, got)) in [
        ("silent after part of a head", &silent),
        ("a byte of head every 500 ms", &trickling),
        ("idle keep-alive after one request", &idle),
    ] {
        assert!(
            *took >= timeout - Duration::from_millis(500) && *took < timeout * 2,
            "{name}: closed after {took:?}"
        );
        if name.starts_with("idle") {
            let text = String::from_utf8_lossy(got);
            assert!(text.starts_with("HTTP/1.1 200"), "{name}: {text}");
        } else {
            assert!(got.is_empty(), "{name}: no answer to a head never finished");
        }
    }
    s.still_serves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_edge_refuses_bad_frames_and_unknown_versions() {
    let s = Stack::start().await;
    let (tunnel_id, ws_url) = e2e::raw_session(&s.server, &s.key, "wsedge").await;
    let connect_as = |version: u16, binary: bool| {
        serde_json::to_string(&ClientFrame::Connect {
            version,
            tunnel_id: tunnel_id.clone(),
            binary,
            resume: false,
            upgrade: false,
            body_urls: false,
        })
        .unwrap()
    };
    let connect = |version: u16| connect_as(version, false);

    // (name, messages to send, error code, words)
    let cases: Vec<(&str, Vec<Ws>, ErrorCode, &str)> = vec![
        (
            "unknown protocol version",
            vec![Ws::text(connect(99))],
            ErrorCode::UnsupportedVersion,
            "this server speaks protocol version 1, the client 99",
        ),
        (
            "not JSON",
            vec![Ws::text("hello")],
            ErrorCode::ProtocolViolation,
            "undecodable frame",
        ),
        (
            "truncated frame",
            vec![Ws::text(r#"{"action":"connect","version":1,"tunnel"#)],
            ErrorCode::ProtocolViolation,
            "undecodable frame",
        ),
        (
            "unknown action",
            vec![Ws::text(r#"{"action":"teleport"}"#)],
            ErrorCode::ProtocolViolation,
            "teleport",
        ),
        (
            "binary message without asking in CONNECT",
            vec![Ws::binary(vec![1, 2, 3])],
            ErrorCode::ProtocolViolation,
            "binary messages need `binary: true` in CONNECT",
        ),
        (
            "binary message after asking, shorter than its header",
            vec![Ws::text(connect_as(1, true)), Ws::binary(vec![1, 2, 3])],
            ErrorCode::ProtocolViolation,
            "malformed binary frame: shorter than the 14-byte header",
        ),
        (
            "binary message after asking, of an unknown kind",
            vec![Ws::text(connect_as(1, true)), Ws::binary(vec![0x7f; 64])],
            ErrorCode::ProtocolViolation,
            "malformed binary frame: unknown frame tag",
        ),
        (
            "CONNECT twice",
            vec![Ws::text(connect(1)), Ws::text(connect(1))],
            ErrorCode::ProtocolViolation,
            "CONNECT sent twice",
        ),
    ];
    for (name, messages, code, words) in cases {
        let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
        for m in messages {
            ws.send(m).await.unwrap();
        }
        let error = tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(Ok(m)) = ws.next().await {
                if let Ws::Text(t) = m
                    && let Ok(ServerFrame::Error(e)) = serde_json::from_str::<ServerFrame>(&t)
                {
                    return Some(e);
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("{name}: no answer"));
        let Some(ErrorFrame {
            code: got, message, ..
        }) = error
        else {
            panic!("{name}: closed without an ERROR");
        };
        assert_eq!(got, code, "{name}: {message}");
        assert!(
            message.contains(words),
            "{name}: {message:?} lacks {words:?}"
        );
    }
    s.still_serves().await;
    drop(s.user);
    drop(s.tunnel);
}

/// A tunnel client whose answer breaks the protocol mid-body (here a chunk over the
/// `max_chunk` CONNECTED advertised) is cut off: the public client's body ends
/// abruptly rather than hang or carry the bad chunk, and the client hears CANCEL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_answer_mid_body_ends_the_public_body_and_cancels() {
    let s = Stack::start().await;
    let (tunnel_id, ws_url) = e2e::raw_session(&s.server, &s.key, "brokenanswer").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let connect = ClientFrame::Connect {
        version: 1,
        tunnel_id,
        binary: false,
        resume: false,
        upgrade: false,
        body_urls: false,
    };
    ws.send(Ws::text(serde_json::to_string(&connect).unwrap()))
        .await
        .unwrap();
    // Reads server frames until `pick` takes one.
    async fn next<S, T>(ws: &mut S, pick: impl Fn(ServerFrame) -> Option<T>) -> T
    where
        S: futures_util::Stream<Item = Result<Ws, tokio_tungstenite::tungstenite::Error>> + Unpin,
    {
        tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(Ok(m)) = ws.next().await {
                if let Ws::Text(t) = m
                    && let Some(x) = serde_json::from_str(&t).ok().and_then(&pick)
                {
                    return x;
                }
            }
            panic!("the server closed the session");
        })
        .await
        .expect("no such frame from the server")
    }
    let max_chunk = next(&mut ws, |f| match f {
        ServerFrame::Connected { max_chunk, .. } => Some(max_chunk),
        _ => None,
    })
    .await;

    let host = s.server.host_of("brokenanswer");
    let port = s.server.port;
    let public = tokio::spawn(async move {
        let request = format!("GET /big HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        exchange(port, request.as_bytes()).await
    });
    let id = next(&mut ws, |f| match f {
        ServerFrame::Request { id, .. } => Some(id),
        _ => None,
    })
    .await;
    let answer = [
        ClientFrame::Response {
            id,
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"first".to_vec(),
            fin: false,
            reply_to: None,
            secret: None,
            stored: false,
        },
        ClientFrame::Body(client_core::protocol::BodyChunk {
            id,
            seq: 0,
            data: vec![b'x'; max_chunk + 1],
            fin: true,
            reply_to: None,
            secret: None,
        }),
    ];
    for frame in answer {
        ws.send(Ws::text(serde_json::to_string(&frame).unwrap()))
            .await
            .unwrap();
    }
    let cancelled = next(&mut ws, |f| match f {
        ServerFrame::Cancel { id: c } => Some(c),
        _ => None,
    })
    .await;
    assert_eq!(cancelled, id);
    // hyper closes the connection when a body fails, dropping what it had buffered:
    // the head and first bytes may or may not have gone out by then.
    let reply = public.await.unwrap();
    assert!(matches!(reply.status, 0 | 200), "{reply:?}");
    assert!(
        !reply.text.contains("xxxx"),
        "the oversized chunk reached the public client: {}",
        reply.text.len()
    );
    assert!(
        !reply.text.ends_with("0\r\n\r\n"),
        "the body ended as if complete: {reply:?}"
    );
    s.still_serves().await;
}
