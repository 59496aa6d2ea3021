//! The main job end to end on the local stack: the real `tunnel-server` and `tunnel`
//! binaries, an origin, and public HTTP requests, all on loopback. The shared
//! scenarios are in `e2e::scenarios`; the restart and reconnect cases are the local
//! stack's own.

#![allow(clippy::unwrap_used)]

use e2e::scenarios::{self, Kind, Served, Stack};
use e2e::{Origin, Server, User, public_client};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_round_trip_byte_exact() {
    scenarios::round_trip(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_domains_and_taken_or_invalid_ones() {
    scenarios::domains(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_stop_status_and_auth() {
    scenarios::list_stop_status_and_auth(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tunnel_and_refused_origin_pages() {
    scenarios::error_pages(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_pass_both_ways_as_sent() {
    e2e::fidelity::cookies_both_ways(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_remembers_clients_and_tunnels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data).await;
    let mut user = User::new(dir.path(), &server);
    user.register().await;
    let origin = Origin::start().await;
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", "durable"])
        .await;
    let list_before: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    drop(tunnel);
    server.kill().await;

    let server = Server::start(&data).await;
    user.api_url = server.url.clone();
    let list: Value = serde_json::from_str(&user.ok(&["list", "--json"]).await).unwrap();
    assert_eq!(
        list["tunnels"][0]["tunnel_id"],
        list_before["tunnels"][0]["tunnel_id"]
    );
    assert_eq!(list["tunnels"][0]["domain"], "durable");
    assert_eq!(
        list["tunnels"][0]["status"], "offline",
        "no client survives a restart"
    );

    // The same user resumes the same domain after the restart.
    let tunnel = user
        .start(&[&origin.port.to_string(), "--domain", "durable"])
        .await;
    let http = public_client(&server, &["durable"]);
    let r = http
        .get(format!("{}/again", tunnel.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tunnel.interrupt().await;
}

/// The request log is written behind, in memory first: a clean shutdown (SIGTERM)
/// right after the last answer writes it all, and the restarted server shows every
/// exchange, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_survives_a_clean_restart() {
    const SENT: usize = 40;
    let mut stack = Stack::start(Kind::Local).await;
    let served = stack.serve("kept", &["--quiet"]).await;
    let rest = e2e::inspection::Rest::new(&stack, Some(&served.user.api_key()));
    let tunnel_id = rest.tunnel_id("kept").await;
    let url = format!("http://kept.localhost:{}", stack.server.port);
    for i in 0..SENT {
        let r = served
            .http
            .post(format!("{url}/n/{i}"))
            .body(format!("body {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // At once: well inside the write-behind window, so the log is in memory only.
    stack.server.sigterm().await;
    let exit = tokio::time::timeout(e2e::READY_TIMEOUT, stack.server.child.wait())
        .await
        .expect("the server exits after SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    let listen = format!("127.0.0.1:{}", stack.server.port);
    stack.server = Server::start_on(&listen, &stack.dir.path().join("data"), &[]).await;
    let page = rest.page(&tunnel_id, "limit=200").await;
    // Sorted: two requests of the same millisecond are listed in either order.
    let mut paths: Vec<_> = page.requests.iter().map(|s| s.path.clone()).collect();
    paths.sort();
    let mut want: Vec<_> = (0..SENT).map(|i| format!("/n/{i}")).collect();
    want.sort();
    assert_eq!(
        paths, want,
        "every exchange answered before the shutdown is kept"
    );
    let last_path = format!("/n/{}", SENT - 1);
    let last = page.requests.iter().find(|s| s.path == last_path).unwrap();
    let last = rest.exchange(&last.request_id).await;
    assert_eq!(
        last.request.body.bytes,
        format!("body {}", SENT - 1).as_bytes()
    );
    assert_eq!(last.response.map(|r| r.status), Some(200));
    drop(served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_waits_for_the_server_and_reconnects_keeping_its_domain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data).await;
    let listen = format!("127.0.0.1:{}", server.port);
    let user = User::new(dir.path(), &server);
    user.register().await;
    server.kill().await;

    // Server down at start: a wrong URL or a server not started is not waited for.
    // After its start-up tries the CLI gives up, saying how to start one.
    let origin = Origin::start().await;
    let out = user
        .run(&["start", &origin.port.to_string(), "--domain", "phoenix"])
        .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "{} (from --api-url) after {} tries",
            server.url,
            native_cli::api::STARTUP_TRIES
        )) && out.stderr.contains("tunnel-server"),
        "{}",
        out.stderr
    );

    // Once it has been online, the tunnel waits for its server for ever.
    let server = Server::start_on(&listen, &data, &[]).await;
    let mut cli = user
        .command(&["start", &origin.port.to_string(), "--domain", "phoenix"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(cli.stderr.take().unwrap()));
    let mut stdout =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(cli.stdout.take().unwrap()));
    let url = e2e::wait_line(&mut stdout, "public URL", |l| l.starts_with("http://")).await;
    assert_eq!(url, format!("http://phoenix.localhost:{}", server.port));
    let http = public_client(&server, &["phoenix"]);
    assert_eq!(
        http.get(format!("{url}/1")).send().await.unwrap().status(),
        200
    );

    // Server killed under a live tunnel: the CLI reconnects to the restarted server
    // and serves the same domain again.
    let mut server = server;
    server.kill().await;
    let server = Server::start_on(&listen, &data, &[]).await;
    e2e::wait_line(&mut stderr, "a reconnected line", |l| {
        l.starts_with("reconnected")
    })
    .await;
    let r = http.get(format!("{url}/2")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-echo-target"], "/2");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_prints_one_line_per_request() {
    let stack = Stack::start(Kind::Local).await;
    let Served {
        mut tunnel,
        http,
        origin: _origin,
        user,
    } = stack.serve("logged", &["--log"]).await;
    let r = http
        .get(format!("{}/seen?q=1", tunnel.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let line = e2e::wait_line(&mut tunnel.stdout, "a log line", |l| l.contains("/seen")).await;
    assert!(
        line.contains("GET") && line.contains("200") && line.contains("ms"),
        "{line}"
    );
    // The line ends with the request id the inspector keeps (and the origin got).
    let rest = e2e::inspection::Rest::new(&stack, Some(&user.api_key()));
    let tunnel_id = rest.tunnel_id("logged").await;
    let logged = rest.wait_for(&tunnel_id, 1).await.requests[0]
        .request_id
        .clone();
    assert!(line.ends_with(&format!("  {logged}")), "{line} vs {logged}");
    tunnel.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_origin_gets_504_at_the_origin_timeout() {
    scenarios::hung_origin(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_the_store_uptime_and_version() {
    let stack = Stack::start(Kind::Local).await;
    let r = reqwest::get(format!("{}/healthz", stack.server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "ok");
    assert!(body["uptime_secs"].is_u64());
    assert!(!body["version"].as_str().unwrap().is_empty());
}

/// Parses Prometheus text: `name{labels} value` per sample line, comments skipped.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {l}"));
            let name_ok = key.split('{').next().is_some_and(|n| {
                !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            assert!(name_ok, "bad metric name: {l}");
            assert!(!key.contains('{') || key.ends_with('}'), "bad labels: {l}");
            (
                key.to_owned(),
                value.parse().unwrap_or_else(|_| panic!("bad value: {l}")),
            )
        })
        .collect()
}

/// Public requests resolve their tunnel from the server's routing table: under
/// proxy traffic the store begins no read transaction (`/metrics` counts them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_requests_read_no_store() {
    let stack = Stack::start(Kind::Local).await;
    let Served {
        tunnel,
        http,
        user,
        origin: _origin,
    } = stack.serve("unread", &[]).await;
    let reads = || async {
        let text = reqwest::get(format!("{}/metrics", stack.server.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        samples(&text)
            .into_iter()
            .find(|(n, _)| n == "tunnel_store_read_transactions_total")
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no store read counter in /metrics:\n{text}"))
    };
    let before = reads().await;
    for _ in 0..20 {
        let r = http
            .get(format!("{}/bytes/100", tunnel.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().len(), 100);
    }
    let stranger = e2e::public_client(&stack.server, &["nobody"]);
    let r = stranger
        .get(format!("http://nobody.localhost:{}/", stack.server.port))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "an unknown name is answered from memory too"
    );
    assert_eq!(reads().await, before, "20 GETs and a 404 read the store");
    // The counter does count: the REST API's listing reads the store.
    user.ok(&["list"]).await;
    assert!(reads().await > before, "listing tunnels reads the store");
    tunnel.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_bytes_and_latency() {
    let stack = Stack::start(Kind::Local).await;
    let Served {
        tunnel,
        http,
        origin: _origin,
        ..
    } = stack.serve("metered", &[]).await;
    for _ in 0..3 {
        let r = http
            .get(format!("{}/bytes/1000", tunnel.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().len(), 1000);
    }
    let r = http
        .post(format!("{}/up", tunnel.url))
        .body(vec![7u8; 500])
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), 500);
    let stranger = e2e::public_client(&stack.server, &["nobody"]);
    let r = stranger
        .get(format!("http://nobody.localhost:{}/", stack.server.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let text = reqwest::get(format!("{}/metrics", stack.server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let all = samples(&text);
    let get = |k: &str| all.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    assert_eq!(
        get("tunnel_requests_total{tunnel=\"metered\",class=\"2xx\"}"),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        get("tunnel_requests_total{tunnel=\"(none)\",class=\"4xx\"}"),
        Some(1.0)
    );
    assert_eq!(get("tunnel_proxy_latency_seconds_count"), Some(5.0));
    assert_eq!(
        get("tunnel_proxy_latency_seconds_bucket{le=\"+Inf\"}"),
        Some(5.0)
    );
    assert_eq!(get("tunnel_bytes_out_total"), Some(3500.0));
    assert_eq!(get("tunnel_bytes_in_total"), Some(500.0));
    assert_eq!(get("tunnel_active_connections"), Some(1.0));
    assert_eq!(get("tunnel_connections_total"), Some(1.0));
    tunnel.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_captured_replayed_and_isolated() {
    e2e::inspection::capture_replay_and_isolation(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_pushes_new_requests() {
    e2e::inspection::live_feed(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_stays_bounded_after_2000_requests() {
    let keep = tunnel_backend::config::DEFAULT_LOG_KEEP;
    e2e::inspection::log_stays_bounded(&Stack::start(Kind::Local).await, 2000, keep).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    scenarios::rate_limits(Kind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_the_wrong_callers_and_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    e2e::authz::matrix(Kind::Local, &dir.path().join("server.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_killed_mid_request_gives_502_within_2_s() {
    scenarios::cli_killed_mid_request(&Stack::start(Kind::Local).await).await;
}

/// SIGTERM while a public request waits on its origin: the server stops accepting at
/// once, lets the request finish through the tunnel, then exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_drains_in_flight_requests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stack = Stack::start(Kind::Local).await;
    let user = stack.user("u");
    user.register().await;
    // An origin that holds the one request it gets until told to answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (arrived_tx, arrived) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let origin = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request head arrives whole");
            head.extend_from_slice(&buf[..n]);
        }
        arrived_tx.send(()).unwrap();
        released.await.unwrap();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\ndrained")
            .await
            .unwrap();
    });
    let tunnel = user.start(&[&port.to_string(), "--domain", "drain"]).await;
    let http = public_client(&stack.server, &["drain"]);
    let url = format!("{}/slow", tunnel.url);
    let pending = tokio::spawn(async move {
        let r = http.get(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    tokio::time::timeout(e2e::READY_TIMEOUT, arrived)
        .await
        .expect("the request reaches the origin")
        .unwrap();

    stack.server.sigterm().await;
    // The listener closes as the drain starts: new connections are refused.
    let addr = format!("127.0.0.1:{}", stack.server.port);
    tokio::time::timeout(e2e::READY_TIMEOUT, async {
        while tokio::net::TcpStream::connect(&addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server stops accepting after SIGTERM");
    assert!(
        !pending.is_finished(),
        "the request in flight is still waiting"
    );

    release.send(()).unwrap();
    let (status, body) = pending.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "drained"));
    let exit = tokio::time::timeout(e2e::READY_TIMEOUT, stack.server.child.wait())
        .await
        .expect("the server exits once drained")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    origin.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_policies_refuse_admit_and_are_logged() {
    e2e::policy::access_policies(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_inbox_holds_then_delivers_once_in_order() {
    e2e::inbox::offline_inbox(&Stack::start(Kind::Local).await).await;
}

/// A WebSocket origin on loopback: echoes text and binary messages, closes with
/// 4001 "bye" when told `close-me`, and reports the close code a client sends it.
async fn websocket_origin() -> (u16, tokio::sync::mpsc::Receiver<(u16, String)>) {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (closes_tx, closes) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let closes = closes_tx.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    match m {
                        Message::Text(t) if t.as_str() == "close-me" => {
                            let frame = CloseFrame {
                                code: 4001.into(),
                                reason: "bye".into(),
                            };
                            let _ = ws.close(Some(frame)).await;
                        }
                        Message::Text(_) | Message::Binary(_) => {
                            // A failed send shows up as the end of the stream above.
                            let _ = ws.send(m).await;
                        }
                        Message::Close(Some(f)) => {
                            let _ = closes.send((f.code.into(), f.reason.to_string())).await;
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (port, closes)
}

/// A public WebSocket client for `domain` through the server, by `Host` on loopback.
async fn public_websocket(
    server: &Server,
    domain: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let (ws, response) = public_websocket_attempt(server, domain).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_pass_through_with_messages_and_close_codes() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    let stack = Stack::start(Kind::Local).await;
    let user = stack.user("ws");
    user.register().await;
    let (port, mut closes) = websocket_origin().await;
    let tunnel = user
        .start(&[&port.to_string(), "--domain", "sockets"])
        .await;

    // Text and binary round-trip, binary with every byte value and larger than a chunk.
    let mut ws = public_websocket(&stack.server, "sockets").await;
    ws.send(Message::text("héllo")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("héllo"));
    let big = e2e::random_bytes(200 * 1024);
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));

    // The origin closes with its own code and reason; the public client sees both.
    ws.send(Message::text("close-me")).await.unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Close(Some(f)) => {
            assert_eq!((u16::from(f.code), f.reason.as_str()), (4001, "bye"))
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    drop(ws);

    // The public client closes with its code; the origin sees it.
    let mut ws = public_websocket(&stack.server, "sockets").await;
    ws.send(Message::text("ping")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("ping"));
    let frame = CloseFrame {
        code: 4002.into(),
        reason: "done".into(),
    };
    ws.close(Some(frame)).await.unwrap();
    assert_eq!(closes.recv().await.unwrap(), (4002, "done".to_owned()));
    // The close handshake completes end to end: the origin's echo of the close arrives.
    assert!(matches!(
        ws.next().await,
        Some(Ok(Message::Close(Some(_)))) | None
    ));
    tunnel.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_per_tunnel_stop_at_the_limit_with_503() {
    use client_core::protocol::limits::MAX_UPGRADED_STREAMS;
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};
    let stack = Stack::start(Kind::Local).await;
    let user = stack.user("ws");
    user.register().await;
    let (port, _closes) = websocket_origin().await;
    let tunnel = user.start(&[&port.to_string(), "--domain", "many"]).await;
    let attempt = || public_websocket_attempt(&stack.server, "many");
    let mut open = Vec::new();
    for _ in 0..MAX_UPGRADED_STREAMS {
        let (mut ws, _) = attempt().await.unwrap();
        // Each one is live end to end, not merely accepted.
        ws.send(Message::text("x")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("x"));
        open.push(ws);
    }
    match attempt().await {
        Err(WsError::Http(r)) => {
            assert_eq!(r.status(), 503);
            let body =
                String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned();
            assert!(
                body.contains(&format!("{MAX_UPGRADED_STREAMS} WebSocket")),
                "{body}"
            );
        }
        other => panic!("expected 503 past the limit, got {other:?}"),
    }
    // One closes (the close handshake completes end to end), and its place is free.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    let mut admitted = false;
    // The place frees once the server's pipe has seen both sides end, just after the
    // public client sees the end: a few attempts cover that gap.
    for _ in 0..100 {
        match attempt().await {
            Ok(_) => {
                admitted = true;
                break;
            }
            Err(WsError::Http(r)) if r.status() == 503 => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(admitted, "no place came free after a WebSocket closed");
    tunnel.interrupt().await;
}

/// A client that predates upgrades (no `upgrade` in CONNECT) gets a WebSocket request
/// as a plain one, as before: complete, with `Upgrade` and `Connection` dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_upgrades_gets_websocket_requests_as_plain_ones() {
    use client_core::protocol::{ClientFrame, ServerFrame};
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};
    let stack = Stack::start(Kind::Local).await;
    let user = stack.user("old");
    user.register().await;
    let (tunnel_id, ws_url) = e2e::raw_session(&stack.server, &user.api_key(), "oldcli").await;
    let (mut client, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let connect = ClientFrame::Connect {
        version: client_core::protocol::limits::PROTOCOL_VERSION,
        tunnel_id,
        binary: false,
        resume: false,
        upgrade: false,
        body_urls: false,
    };
    client
        .send(Message::text(serde_json::to_string(&connect).unwrap()))
        .await
        .unwrap();
    let next = |m: Option<Result<Message, WsError>>| -> ServerFrame {
        serde_json::from_str(m.unwrap().unwrap().to_text().unwrap()).unwrap()
    };
    assert!(matches!(
        next(client.next().await),
        ServerFrame::Connected { .. }
    ));

    let server = &stack.server;
    let public = async { public_websocket_attempt(server, "oldcli").await };
    let answer = async {
        let ServerFrame::Request {
            id, headers, fin, ..
        } = next(client.next().await)
        else {
            panic!("expected REQUEST");
        };
        assert!(fin, "a plain request is complete");
        assert!(
            headers
                .iter()
                .all(|(n, _)| n != "upgrade" && n != "connection"),
            "{headers:?}"
        );
        let response = ClientFrame::Response {
            id,
            status: 200,
            headers: vec![],
            body: b"plain".to_vec(),
            fin: true,
            reply_to: None,
            secret: None,
            stored: false,
        };
        client
            .send(Message::text(serde_json::to_string(&response).unwrap()))
            .await
            .unwrap();
    };
    let (public, ()) = tokio::join!(public, answer);
    match public {
        Err(WsError::Http(r)) => assert_eq!(r.status(), 200),
        other => panic!("expected the plain 200, got {other:?}"),
    }
}

async fn public_websocket_attempt(
    server: &Server,
    domain: &str,
) -> Result<
    (
        tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let url = format!("ws://{}/chat", server.host_of(domain));
    tokio_tungstenite::client_async(url, tcp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_websocket_is_closed_at_the_idle_timeout_and_frees_its_place() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let idle = std::time::Duration::from_secs(1);
    let stack = Stack::start_with(Kind::Local, &["--upgrade-idle-timeout", "1"]).await;
    let user = stack.user("idle");
    user.register().await;
    let (port, _closes) = websocket_origin().await;
    let tunnel = user.start(&[&port.to_string(), "--domain", "quiet"]).await;
    let mut ws = public_websocket(&stack.server, "quiet").await;
    ws.send(Message::text("x")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("x"));
    let silent_since = std::time::Instant::now();
    // Nothing more is sent: the server ends the connection, not before the timeout.
    while let Some(Ok(_)) = ws.next().await {}
    let waited = silent_since.elapsed();
    assert!(
        waited >= idle && waited < idle * 5,
        "closed after {waited:?} of silence"
    );
    // The stream is gone on both sides: a new one goes through.
    let mut ws = public_websocket(&stack.server, "quiet").await;
    ws.send(Message::text("again")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("again"));
    tunnel.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_forwarding_headers_and_request_ids_never_reach_the_origin() {
    e2e::forwarded::spoofed_headers_never_reach_the_origin(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_form_starts_a_tunnel_that_answers() {
    e2e::targets::every_target_form_answers(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_target_is_a_usage_error_showing_the_forms() {
    e2e::targets::a_missing_or_wrong_target_shows_the_forms(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_origins_with_a_self_signed_certificate() {
    e2e::targets::https_origins(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_header_rewrite_preserve_and_fixed() {
    e2e::targets::host_header_modes(&Stack::start(Kind::Local).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_keys_gets_429_while_the_right_key_from_elsewhere_works() {
    e2e::auth_limit::a_burst_of_wrong_keys_gets_429(&Stack::start(Kind::Local).await, None).await;
}

/// Webhooks signed by GitHub's, Stripe's, Slack's, Shopify's and Standard Webhooks'
/// own libraries pass; altered, stale, wrongly signed and unsigned ones are refused,
/// saying why (the signers come from `scripts/setup.sh webhooks`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_signed_by_the_providers_libraries() {
    e2e::webhooks::provider_libraries(&Stack::start(Kind::Local).await).await;
}

/// Ctrl-C keeps a tunnel with a chosen name, its policy and its log; a restart
/// without flags resumes it protected; flags replace only what they name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_and_log_survive_ctrl_c() {
    e2e::keep::policy_and_log_survive_ctrl_c(&Stack::start(Kind::Local).await).await;
}

/// A random-name tunnel is deleted on Ctrl-C unless a policy is on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_names_keep_only_a_policy() {
    e2e::keep::random_names_keep_only_a_policy(&Stack::start(Kind::Local).await).await;
}

/// An expired tunnel's name is free for another client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_names_are_free() {
    e2e::keep::expired_names_are_free(Kind::Local).await;
}
