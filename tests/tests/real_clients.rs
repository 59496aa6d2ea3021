//! Real clients through the tunnel, on the local stack and on the emulated AWS
//! deployment: curl uploads (100-continue, an origin refusing a slow upload early, a
//! slow upload reaching the origin piece by piece), Python's `websockets`, a Vite dev
//! server's hot reload in headless Chromium, and `EventSource` reading server-sent
//! events one at a time. Harness and origins: `e2e::real_clients`.
//!
//! Where the AWS deployment cannot do what the local stack does, its run checks what
//! docs/architecture.md says it does instead: a Function URL hands the function the
//! whole request body (so the origin sees an upload only once it is over), and it
//! cannot carry a WebSocket (501).

#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use e2e::browser::Browser;
use e2e::real_clients::{
    ClientOrigin, ViteServer, checksum, curl, finish, python, requests_counted,
    websocket_echo_origin, ws_client_script,
};
use e2e::scenarios::{Kind, Stack};
use e2e::{RunningTunnel, random_bytes};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

/// A registered user's `tunnel start <port> --domain <domain>`.
async fn tunnel_to(stack: &Stack, port: u16, domain: &str) -> RunningTunnel {
    let user = stack.user(domain);
    user.register().await;
    user.start(&[&port.to_string(), "--domain", domain]).await
}

/// The rate curl uploads at in the slow-upload cases (bytes per second, curl's `20k`).
const SLOW_RATE: &str = "20k";

/// `Expect: 100-continue` uploads: curl asks (by itself past 1 MiB, or told to), the
/// tunnel's edge says 100 Continue, and the body reaches the origin byte for byte.
async fn expect_100_continue(stack: &Stack, origin: &ClientOrigin, domain: &str) {
    let port = stack.server.port;
    let dir = tempfile::tempdir().unwrap();
    for (size, ask) in [(1_500_000, false), (40_000, true)] {
        let body = random_bytes(size);
        let file = dir.path().join(format!("upload-{size}"));
        std::fs::write(&file, &body).unwrap();
        let file = file.to_str().unwrap();
        let url = format!("http://{domain}.localhost:{port}/upload");
        let mut args = vec![
            "--verbose",
            "--upload-file",
            file,
            "--write-out",
            " %{http_code}",
        ];
        if ask {
            args.extend(["--header", "Expect: 100-continue"]);
        }
        let ran = finish(curl(port, domain, &args).arg(&url).spawn().unwrap(), "curl").await;
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        assert!(
            ran.stderr.contains("> Expect: 100-continue"),
            "curl asked for 100-continue ({size} bytes): {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("< HTTP/1.1 100 Continue"),
            "the edge answered 100 Continue: {}",
            ran.stderr
        );
        assert_eq!(
            ran.stdout,
            format!("{size} {} 200", checksum(&body)),
            "the origin got the body whole"
        );
        // Streamed or not, the origin learns the caller's length up front.
        let head = format!("upload: head, length {size}");
        assert!(
            origin.journal.position(|l| l == head).is_some(),
            "{:?}",
            origin.journal.lines()
        );
        let end = format!("upload: end {size}");
        assert!(origin.journal.position(|l| l == end).is_some());
    }
}

/// An origin refusing a slow upload (curl at 20 KB/s) from its head: on the local stack
/// curl has the 401 after sending a small part of the body, and the origin read none
/// of it. On AWS the Function URL takes the whole body before the function runs, so
/// curl sends all of it first (a small body there: the point is the order).
async fn early_refusal(stack: &Stack, origin: &ClientOrigin, domain: &str) {
    let port = stack.server.port;
    let size = match stack.kind {
        // 51 s at 20 KB/s if the answer waited for the upload.
        Kind::Local => 1024 * 1024,
        Kind::Aws => 48 * 1024,
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refused");
    std::fs::write(&file, random_bytes(size)).unwrap();
    let data = format!("@{}", file.display());
    let url = format!("http://{domain}.localhost:{port}/refuse");
    let args = [
        "--limit-rate",
        SLOW_RATE,
        // Chunked and without 100-continue: the body starts at once, as a browser's
        // or a script's streamed upload does.
        "--header",
        "Expect:",
        "--header",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &data,
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code} %{size_upload}",
        &url,
    ];
    let ran = finish(curl(port, domain, &args).spawn().unwrap(), "curl").await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let (status, uploaded) = ran.stdout.split_once(' ').unwrap();
    let uploaded: usize = uploaded.parse().unwrap();
    assert_eq!(status, "401", "{ran:?}");
    assert_eq!(
        origin.journal.lines(),
        ["refuse: head"],
        "the origin answered from the head, reading no body"
    );
    match stack.kind {
        Kind::Local => assert!(
            uploaded * 4 < size,
            "the 401 came after {uploaded} of {size} bytes: the answer waited for the upload"
        ),
        // curl counts the chunked framing too.
        Kind::Aws => assert!(
            uploaded >= size,
            "a Function URL invokes the function with the whole body: {uploaded} of {size} sent"
        ),
    }
}

/// The same refusal, with the upload fed to curl by the test: curl has the 401 and
/// exits while its input is still open, having sent only the first piece, so the
/// answer cannot have waited for more of the body. Local stack only: on AWS the
/// function runs once the body is over, which this upload never is.
async fn refusal_before_the_body_goes_on(stack: &Stack, origin: &ClientOrigin, domain: &str) {
    let port = stack.server.port;
    let url = format!("http://{domain}.localhost:{port}/refuse");
    let args = [
        "--limit-rate",
        SLOW_RATE,
        "--header",
        "Expect:",
        "--upload-file",
        "-",
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code} %{size_upload}",
        &url,
    ];
    let before = origin.journal.lines().len();
    let mut child = curl(port, domain, &args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let first = random_bytes(1000);
    stdin.write_all(&first).await.unwrap();
    stdin.flush().await.unwrap();
    // Held open until curl is done: the rest of the upload never comes.
    let ran = finish(child, "curl").await;
    drop(stdin);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let (status, uploaded) = ran.stdout.split_once(' ').unwrap();
    assert_eq!(status, "401", "{ran:?}");
    let uploaded: usize = uploaded.parse().unwrap();
    assert!(
        uploaded < first.len() + 100,
        "curl sent {uploaded} bytes: the first piece and its chunk framing"
    );
    assert_eq!(origin.journal.lines()[before..], ["refuse: head"]);
}

/// A slow upload from stdin (chunked, 20 KB/s): on the local stack the origin has the
/// first piece before curl is even given the last one. On AWS the origin sees the
/// request only after the client has sent all of it.
async fn slow_upload_arrives_as_sent(stack: &Stack, origin: &ClientOrigin, domain: &str) {
    let port = stack.server.port;
    let url = format!("http://{domain}.localhost:{port}/upload");
    let args = [
        "--limit-rate",
        SLOW_RATE,
        "--header",
        "Expect:",
        "--upload-file",
        "-",
        "--write-out",
        " %{http_code}",
        &url,
    ];
    let mut child = curl(port, domain, &args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (first, last) = (random_bytes(5000), random_bytes(5000));
    stdin.write_all(&first).await.unwrap();
    stdin.flush().await.unwrap();
    let journal = &origin.journal;
    let has_first = |l: &str| {
        l.strip_prefix("upload: data ")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n >= first.len())
    };
    if stack.kind == Kind::Local {
        journal
            .wait_for("the first piece at the origin", has_first)
            .await;
    }
    journal.push("client: last piece");
    stdin.write_all(&last).await.unwrap();
    drop(stdin);
    let ran = finish(child, "curl").await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let whole = [first.clone(), last].concat();
    assert_eq!(
        ran.stdout,
        format!("{} {} 200", whole.len(), checksum(&whole))
    );
    let head = journal.index_of("upload: head");
    let sent_last = journal.index_of("client: last piece");
    let end = journal.index_of("upload: end");
    match stack.kind {
        Kind::Local => {
            // As the caller sent it: chunked, its length unknown until the end.
            assert_eq!(journal.lines()[head], "upload: head, chunked");
            let got_first = journal.position(has_first).unwrap();
            assert!(
                head < got_first && got_first < sent_last && sent_last < end,
                "{:?}",
                journal.lines()
            );
        }
        Kind::Aws => assert!(
            sent_last < head,
            "a Function URL's function runs once the body is in: {:?}",
            journal.lines()
        ),
    }
}

/// The three curl cases on one tunnel (the refusal first, so the origin's journal
/// holds its line alone), then a plain upload on it: an upload cut short leaves the
/// tunnel serving.
async fn curl_uploads(kind: Kind) {
    let stack = Stack::start(kind).await;
    let domain = "uploads";
    let origin = ClientOrigin::start().await;
    let tunnel = tunnel_to(&stack, origin.port, domain).await;
    early_refusal(&stack, &origin, domain).await;
    if kind == Kind::Local {
        refusal_before_the_body_goes_on(&stack, &origin, domain).await;
    }
    slow_upload_arrives_as_sent(&stack, &origin, domain).await;
    expect_100_continue(&stack, &origin, domain).await;
    assert_eq!(tunnel.interrupt().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_uploads_local() {
    curl_uploads(Kind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_uploads_aws() {
    curl_uploads(Kind::Aws).await;
}

/// Python's `websockets` against an echo origin through the tunnel.
async fn python_websockets(kind: Kind) -> Value {
    let stack = Stack::start(kind).await;
    let origin = websocket_echo_origin().await;
    let _tunnel = tunnel_to(&stack, origin, "sockets").await;
    let port = stack.server.port;
    let url = format!("ws://sockets.localhost:{port}/echo");
    let child = tokio::process::Command::new(python())
        .arg(ws_client_script())
        .arg(&url)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let ran = finish(child, "the websockets client").await;
    assert_eq!(ran.code, Some(0), "{ran:?}");
    serde_json::from_str(ran.stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_local() {
    let got = python_websockets(Kind::Local).await;
    assert_eq!(
        got,
        json!({
            "status": 101,
            "text": "hello through the tunnel",
            "binary_ok": true,
            "binary_len": 40_000,
            "pong": true,
            "close_code": 4002,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_aws_is_refused_with_501() {
    let got = python_websockets(Kind::Aws).await;
    assert_eq!(got["status"], 501, "{got}");
    assert!(
        got["body"].as_str().unwrap().contains("self-hosted"),
        "the refusal says where WebSockets work: {got}"
    );
}

/// A real Vite dev server through the tunnel in headless Chromium: the page loads, the
/// hot-reload WebSocket connects through the tunnel, and an edit to a module shows
/// without a reload. Local stack only: the AWS deployment answers the hot-reload
/// WebSocket 501 (`python_websockets_aws_is_refused_with_501`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vite_hot_reload_through_the_tunnel() {
    let stack = Stack::start(Kind::Local).await;
    let vite = ViteServer::start().await;
    let _tunnel = tunnel_to(&stack, vite.port, "vite").await;
    let b = Browser::start(1024, 768).await;
    let page = format!("http://vite.localhost:{}/", stack.server.port);
    b.goto(&page).await;
    b.wait_text("#message", "first version").await;

    // Vite's client falls back to the dev server's own port when the hot-reload socket
    // fails; counting the 101 at the tunnel proves this one went through it.
    let url = stack.server.url.clone();
    b.wait_until("the hot-reload WebSocket through the tunnel", || {
        let url = url.clone();
        async move { (requests_counted(&url, "vite", "1xx").await >= 1).then_some(()) }
    })
    .await;

    b.js("window.marker = 'kept'; return true").await;
    vite.write(
        "src/message.js",
        "export const message = 'second version';\n",
    )
    .await;
    b.wait_text("#message", "second version").await;
    assert_eq!(
        b.js("return window.marker").await,
        "kept",
        "the edit came without a page reload"
    );
    assert_eq!(
        requests_counted(&stack.server.url, "vite", "1xx").await,
        1,
        "one hot-reload connection all along"
    );
    b.close().await;
}

/// `EventSource` in Chromium reads a streamed answer event by event: the origin sends
/// each event only once the page shows the one before, so a tunnel that held the
/// stream back would stall here.
async fn eventsource(kind: Kind) {
    let stack = Stack::start(kind).await;
    let origin = ClientOrigin::start().await;
    let _tunnel = tunnel_to(&stack, origin.port, "events").await;
    let b = Browser::start(1024, 768).await;
    b.goto(&format!(
        "http://events.localhost:{}/sse/page",
        stack.server.port
    ))
    .await;
    origin
        .journal
        .wait_for("the event stream", |l| l == "sse: open")
        .await;
    for n in 1..=3 {
        origin.sse_send(&format!("event {n}")).await;
        let want: Vec<String> = (1..=n).map(|i| format!("event {i}")).collect();
        b.wait_until(&format!("event {n} in the page"), || async {
            (b.js("return window.got").await == json!(want)).then_some(())
        })
        .await;
    }
    assert_eq!(b.js("return window.errors").await, 0, "no reconnect");
    assert_eq!(
        origin.journal.lines(),
        ["sse: open"],
        "one stream all along"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventsource_reads_events_one_by_one_local() {
    eventsource(Kind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventsource_reads_events_one_by_one_aws() {
    eventsource(Kind::Aws).await;
}
