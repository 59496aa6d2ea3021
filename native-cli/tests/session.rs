//! `run_session` against a fake tunnel server and real local origins, all on
//! 127.0.0.1 port 0, in process. Nothing here sleeps: every wait is on an event.

// Helpers outside #[test] fns panic by design too: a failed setup is a failed test.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use client_core::protocol::limits::{JSON_CHUNK_BYTES, PROTOCOL_VERSION};
use client_core::protocol::{
    self, ChunkReader, ChunkWriter, ClientFrame, ErrorCode, ErrorFrame, Headers, Message,
    ServerFrame,
};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use native_cli::origin::Origin;
use native_cli::screen::model::RowState;
use native_cli::screen::{Header, Screen};
use native_cli::tunnel::{RequestOutput, SessionEnd, run_session};
use tokio::io::AsyncReadExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const TUNNEL: &str = "t-test";
const PUBLIC_URL: &str = "http://myapp.localhost:8080";

type ServerWs = WebSocketStream<TcpStream>;

/// The server end of one session, speaking frames.
struct FakeServer {
    tx: SplitSink<ServerWs, WsMessage>,
    rx: SplitStream<ServerWs>,
}

impl FakeServer {
    async fn send(&mut self, frame: &ServerFrame) {
        self.tx.send(ws_message(frame)).await.unwrap();
    }

    async fn recv(&mut self) -> Option<ClientFrame> {
        recv(&mut self.rx).await
    }
}

/// The next frame, or `None` once the client closed.
async fn recv(rx: &mut SplitStream<ServerWs>) -> Option<ClientFrame> {
    loop {
        match rx.next().await? {
            Ok(WsMessage::Text(text)) => return Some(protocol::decode_text(&text).unwrap()),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Reads until the client closes, answering its close handshake, then hangs up as a
/// server does. Returns how many frames came before the close.
async fn until_closed(mut server: FakeServer) -> usize {
    let mut frames = 0;
    while server.recv().await.is_some() {
        frames += 1;
    }
    frames
}

fn ws_message(frame: &ServerFrame) -> WsMessage {
    match protocol::encode(frame).unwrap() {
        Message::Text(text) => WsMessage::text(text),
        Message::Binary(_) => unreachable!("the JSON encoding is text"),
    }
}

/// A session of `run_session` serving `origin`, past the CONNECT/CONNECTED handshake.
/// The session ends when `shutdown` fires (or the server ends it).
async fn live_session(
    origin: Origin,
    shutdown: oneshot::Receiver<()>,
) -> (FakeServer, JoinHandle<SessionEnd>) {
    live_session_to(origin, RequestOutput::Quiet, shutdown).await
}

/// [`live_session`], showing its requests on `output`.
async fn live_session_to(
    origin: Origin,
    output: RequestOutput,
    shutdown: oneshot::Receiver<()>,
) -> (FakeServer, JoinHandle<SessionEnd>) {
    let (client, mut server) = ws_pair().await;
    let (connected_tx, connected_rx) = oneshot::channel();
    let session = tokio::spawn(async move {
        let mut connected_tx = Some(connected_tx);
        let on_connected = move |c: &client_core::session::Connected| {
            if let Some(tx) = connected_tx.take() {
                let _ = tx.send(c.public_url.clone());
            }
        };
        run_session(
            client,
            TUNNEL,
            false,
            &origin,
            &output,
            on_connected,
            async {
                let _ = shutdown.await;
            },
        )
        .await
    });
    match server.recv().await {
        Some(ClientFrame::Connect {
            version, tunnel_id, ..
        }) => {
            assert_eq!((version, tunnel_id.as_str()), (PROTOCOL_VERSION, TUNNEL));
        }
        other => panic!("expected CONNECT, got {other:?}"),
    }
    server
        .send(&ServerFrame::Connected {
            version: PROTOCOL_VERSION,
            tunnel_id: TUNNEL.into(),
            domain: "myapp".into(),
            public_url: PUBLIC_URL.into(),
            max_chunk: JSON_CHUNK_BYTES,
            window: 0,
            renew_after: 0,
            binary: false,
        })
        .await;
    assert_eq!(connected_rx.await.unwrap(), PUBLIC_URL);
    (server, session)
}

async fn ws_pair() -> (
    WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    FakeServer,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/connect", listener.local_addr().unwrap());
    let accept = async {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio_tungstenite::accept_async(tcp).await.unwrap()
    };
    let (client, server) = tokio::join!(tokio_tungstenite::connect_async(url), accept);
    let (tx, rx) = server.split();
    (client.unwrap().0, FakeServer { tx, rx })
}

fn request(id: u64, method: &str, path: &str, headers: Headers, fin: bool) -> ServerFrame {
    ServerFrame::Request {
        id,
        method: method.into(),
        path: path.into(),
        headers,
        body: Vec::new(),
        fin,
        reply_to: Some("conn-1".into()),
        secret: Some("s3cret".into()),
        body_url: None,
        answer_url: None,
    }
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn values<'a>(headers: &'a Headers, name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// An origin that answers 201 with the request's body streamed back and its head
/// described in `x-echo-*` headers.
async fn echo_origin() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(echo)),
            );
        }
    });
    port
}

async fn echo(request: Request<Incoming>) -> Result<Response<Incoming>, Infallible> {
    let mut response = Response::builder()
        .status(201)
        .header("x-echo-method", request.method().as_str())
        .header("x-echo-path", request.uri().to_string());
    for (name, value) in request.headers() {
        response = response.header(format!("x-echo-{name}"), value);
    }
    Ok(response.body(request.into_body()).unwrap())
}

/// An origin that accepts connections and never answers; each accepted socket is
/// handed to the test.
async fn silent_origin() -> (u16, mpsc::Receiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if tx.send(tcp).await.is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// A port on which nothing listens.
fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn pattern(len: usize) -> Vec<u8> {
    // Every byte value, in an order that shifts chunk by chunk, so a lost, doubled or
    // misplaced chunk cannot go unnoticed.
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[tokio::test]
async fn large_body_round_trips_through_the_origin() {
    let port = echo_origin().await;
    let (stop_tx, stop_rx) = oneshot::channel();
    let (server, session) = live_session(Origin::new("127.0.0.1", port), stop_rx).await;
    let FakeServer { mut tx, mut rx } = server;

    let body = pattern(300 * 1024);
    let request_headers = headers(&[
        ("host", "myapp.localhost:8080"),
        ("x-multi", "one"),
        ("x-multi", "two"),
        ("content-type", "application/octet-stream"),
        ("content-length", &body.len().to_string()),
    ]);
    // Sent from its own task: the answer streams back while the body still goes out.
    let sent_body = body.clone();
    let sender = tokio::spawn(async move {
        let head = request(1, "POST", "/upload?x=1&y=%20", request_headers, false);
        tx.send(ws_message(&head)).await.unwrap();
        let chunks = ChunkWriter::new().write(1, &sent_body, true, JSON_CHUNK_BYTES);
        assert!(chunks.len() > 10, "the body must really be chunked");
        for chunk in chunks {
            tx.send(ws_message(&ServerFrame::Body(chunk)))
                .await
                .unwrap();
        }
        tx
    });

    let (status, response_headers, mut echoed, mut fin) = match recv(&mut rx).await {
        Some(ClientFrame::Response {
            id: 1,
            status,
            headers,
            body,
            fin,
            reply_to,
            secret,
            stored: false,
        }) => {
            assert_eq!(reply_to.as_deref(), Some("conn-1"));
            assert_eq!(secret.as_deref(), Some("s3cret"));
            (status, headers, body, fin)
        }
        other => panic!("expected RESPONSE, got {other:?}"),
    };
    let mut reader = ChunkReader::new();
    while !fin {
        match recv(&mut rx).await {
            Some(ClientFrame::Body(chunk)) => {
                assert_eq!(chunk.id, 1);
                assert_eq!(chunk.secret.as_deref(), Some("s3cret"));
                assert!(chunk.data.len() <= JSON_CHUNK_BYTES);
                reader.accept(&chunk, u64::MAX).unwrap();
                echoed.extend_from_slice(&chunk.data);
                fin = chunk.fin;
            }
            other => panic!("expected BODY, got {other:?}"),
        }
    }

    assert_eq!(status, 201);
    assert_eq!(echoed.len(), body.len());
    assert!(echoed == body, "the body must come back byte for byte");
    let echo = |name: &str| values(&response_headers, &format!("x-echo-{name}"));
    assert_eq!(echo("method"), ["POST"]);
    assert_eq!(echo("path"), ["/upload?x=1&y=%20"]);
    assert_eq!(
        echo("host"),
        [format!("127.0.0.1:{port}").as_str()],
        "Host names the origin"
    );
    assert_eq!(
        echo("x-multi"),
        ["one", "two"],
        "repeated headers keep order"
    );
    assert_eq!(echo("content-type"), ["application/octet-stream"]);
    assert_eq!(echo("content-length"), [body.len().to_string().as_str()]);
    assert!(
        values(&response_headers, "transfer-encoding").is_empty(),
        "hop-by-hop headers stay behind"
    );

    let server = FakeServer {
        tx: sender.await.unwrap(),
        rx,
    };
    stop_tx.send(()).unwrap();
    let (end, frames_after) = tokio::join!(session, until_closed(server));
    assert_eq!(end.unwrap(), SessionEnd::Shutdown);
    assert_eq!(frames_after, 0, "the client closed the socket");
}

#[tokio::test]
async fn small_answer_is_a_single_frame() {
    let port = echo_origin().await;
    let (_stop, stop_rx) = oneshot::channel();
    let (mut server, _session) = live_session(Origin::new("127.0.0.1", port), stop_rx).await;
    let mut head = request(7, "PUT", "/", headers(&[("content-length", "5")]), true);
    if let ServerFrame::Request { body, .. } = &mut head {
        *body = b"hello".to_vec();
    }
    server.send(&head).await;
    match server.recv().await {
        Some(ClientFrame::Response {
            id: 7,
            status: 201,
            body,
            fin: true,
            ..
        }) => assert_eq!(body, b"hello"),
        other => panic!("expected one RESPONSE with fin, got {other:?}"),
    }
}

#[tokio::test]
async fn refused_origin_yields_origin_refused() {
    let port = refused_port();
    let (_stop, stop_rx) = oneshot::channel();
    let (mut server, _session) = live_session(Origin::new("127.0.0.1", port), stop_rx).await;
    server
        .send(&request(3, "GET", "/", headers(&[("host", "x")]), true))
        .await;
    match server.recv().await {
        Some(ClientFrame::Error(ErrorFrame {
            id: Some(3),
            code: ErrorCode::OriginRefused,
            message,
            secret,
            ..
        })) => {
            assert_eq!(
                message,
                format!(
                    "nothing is listening on 127.0.0.1:{port} (connection refused); \
                     start your service or pick another port"
                )
            );
            assert_eq!(secret.as_deref(), Some("s3cret"));
        }
        other => panic!("expected ERROR origin_refused, got {other:?}"),
    }
}

#[tokio::test]
async fn slow_origin_yields_origin_timeout() {
    let (port, _held) = silent_origin().await;
    let origin = Origin::new("127.0.0.1", port).with_timeout(std::time::Duration::from_millis(200));
    let (_stop, stop_rx) = oneshot::channel();
    let (mut server, _session) = live_session(origin, stop_rx).await;
    server
        .send(&request(4, "GET", "/slow", Vec::new(), true))
        .await;
    match server.recv().await {
        Some(ClientFrame::Error(ErrorFrame {
            id: Some(4),
            code: ErrorCode::OriginTimeout,
            ..
        })) => {}
        other => panic!("expected ERROR origin_timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn cancel_drops_the_origin_request() {
    let (port, mut held) = silent_origin().await;
    let (_stop, stop_rx) = oneshot::channel();
    let (mut server, _session) = live_session(Origin::new("127.0.0.1", port), stop_rx).await;
    server
        .send(&request(5, "GET", "/wait", Vec::new(), true))
        .await;
    let mut origin_side = held.recv().await.unwrap();
    let mut buf = [0u8; 1024];
    let n = origin_side.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"GET /wait HTTP/1.1\r\n"));

    server.send(&ServerFrame::Cancel { id: 5 }).await;
    // The aborted request takes its connection with it: the origin reads EOF.
    loop {
        match origin_side.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    // And the session goes on: a PING is still answered.
    server.send(&ServerFrame::Ping { nonce: 9 }).await;
    assert_eq!(
        server.recv().await,
        Some(ClientFrame::Pong { nonce: 9 }),
        "no frame about the cancelled request"
    );
}

#[tokio::test]
async fn refusal_of_the_tunnel_is_fatal() {
    let (client, mut server) = ws_pair().await;
    let origin = Origin::new("127.0.0.1", refused_port());
    let session = tokio::spawn(async move {
        run_session(
            client,
            TUNNEL,
            false,
            &origin,
            &RequestOutput::Quiet,
            |_: &client_core::session::Connected| panic!("never connected"),
            std::future::pending(),
        )
        .await
    });
    assert!(matches!(
        server.recv().await,
        Some(ClientFrame::Connect { .. })
    ));
    server
        .send(&ServerFrame::Error(ErrorFrame {
            id: None,
            code: ErrorCode::UnknownTunnel,
            message: "tunnel t-test was deleted".into(),
            reply_to: None,
            secret: None,
        }))
        .await;
    let (end, _) = tokio::join!(session, until_closed(server));
    assert_eq!(
        end.unwrap(),
        SessionEnd::Fatal {
            code: ErrorCode::UnknownTunnel,
            message: "tunnel t-test was deleted".into()
        }
    );
}

#[tokio::test]
async fn server_going_away_is_a_lost_connection() {
    let (_stop, stop_rx) = oneshot::channel();
    let (server, session) = live_session(Origin::new("127.0.0.1", refused_port()), stop_rx).await;
    drop(server);
    assert!(matches!(session.await.unwrap(), SessionEnd::Lost(_)));
}

#[tokio::test]
async fn the_screen_shows_a_request_while_the_origin_thinks_and_the_latency() {
    let (port, mut held) = silent_origin().await;
    let screen = Screen::new(Header::default());
    let (_stop, stop_rx) = oneshot::channel();
    let (mut server, _session) = live_session_to(
        Origin::new("127.0.0.1", port),
        RequestOutput::Screen(screen.clone()),
        stop_rx,
    )
    .await;
    // A screen's session probes the latency as soon as it is live.
    let nonce = match server.recv().await {
        Some(ClientFrame::Ping { nonce }) => nonce,
        other => panic!("expected a latency PING, got {other:?}"),
    };
    server.send(&ServerFrame::Pong { nonce }).await;
    server
        .send(&request(7, "GET", "/slow?page=2", Vec::new(), true))
        .await;
    let mut origin_side = held.recv().await.unwrap();
    let mut buf = [0u8; 1024];
    let n = origin_side.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"GET /slow?page=2 HTTP/1.1\r\n"));
    // The origin has the request and has not answered: the row is there, in flight.
    let (rows, latency) = screen.update(|m, _| {
        let rows: Vec<_> = m
            .rows()
            .map(|r| (r.method.clone(), r.path.clone(), r.state.clone()))
            .collect();
        (rows, m.latency())
    });
    assert_eq!(
        rows,
        [("GET".into(), "/slow?page=2".into(), RowState::InFlight)]
    );
    assert!(latency.is_some(), "the PONG measured the round trip");

    origin_side
        .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    match server.recv().await {
        Some(ClientFrame::Response {
            id: 7,
            status: 503,
            fin: true,
            ..
        }) => {}
        other => panic!("expected the RESPONSE, got {other:?}"),
    }
    let (state, stats) = screen.update(|m, now| {
        let state = m.rows().next().unwrap().state.clone();
        (state, m.poll_stats(now))
    });
    assert!(
        matches!(
            state,
            RowState::Done {
                status: Some(503),
                error: None,
                ..
            }
        ),
        "{state:?}"
    );
    assert_eq!((stats.open, stats.total), (0, 1));
}
