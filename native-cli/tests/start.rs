//! `tunnel start` end to end against a fake control plane (REST and WebSocket) on
//! 127.0.0.1 port 0: create, connect, reconnect with a fresh token, stop and delete.

// Helpers outside #[test] fns panic by design too: a failed setup is a failed test.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use client_core::protocol::limits::{JSON_CHUNK_BYTES, PROTOCOL_VERSION};
use client_core::protocol::{self, ClientFrame, ErrorCode, ErrorFrame, Message, ServerFrame};
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use native_cli::api::Api;
use native_cli::start::{StartError, StartOptions, start};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::server::{
    Request as WsRequest, Response as WsResponse,
};

const TUNNEL: &str = "t1";

/// A control plane that records each REST call as "METHOD PATH BODY" and hands each
/// WebSocket connection, with the query it came with, to the test.
struct Backend {
    api_url: String,
    calls: mpsc::Receiver<String>,
    sockets: mpsc::Receiver<(String, WebSocketStream<TcpStream>)>,
}

#[derive(Clone)]
struct Rest {
    calls: mpsc::Sender<String>,
    ws_url: String,
    tokens: Arc<AtomicU32>,
    create_status: u16,
}

async fn backend(create_status: u16) -> Backend {
    let ws_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/v1/connect", ws_listener.local_addr().unwrap());
    let (sockets_tx, sockets) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = ws_listener.accept().await {
            let mut query = String::new();
            // The error type is tungstenite's (its Callback trait), not ours to shrink.
            #[allow(clippy::result_large_err)]
            let callback = |request: &WsRequest, response: WsResponse| {
                query = request.uri().query().unwrap_or_default().to_owned();
                Ok(response)
            };
            let ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
                .await
                .unwrap();
            if sockets_tx.send((query, ws)).await.is_err() {
                return;
            }
        }
    });

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    let (calls_tx, calls) = mpsc::channel(16);
    let rest = Rest {
        calls: calls_tx,
        ws_url,
        tokens: Arc::new(AtomicU32::new(0)),
        create_status,
    };
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let rest = rest.clone();
            let service = hyper::service::service_fn(move |r| rest.clone().handle(r));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service),
            );
        }
    });
    Backend {
        api_url,
        calls,
        sockets,
    }
}

impl Rest {
    async fn handle(self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        assert_eq!(
            request.headers()["authorization"],
            "Bearer key-1",
            "every call carries the key"
        );
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let call = format!("{method} {path} {}", String::from_utf8_lossy(&body));
        self.calls.send(call.trim_end().to_owned()).await.unwrap();
        let (status, body) = match (method.as_str(), path.as_str()) {
            ("POST", "/v1/tunnels") if self.create_status == 409 => (
                409,
                r#"{"error":{"code":"domain_taken","message":"myapp is taken; pick another domain"}}"#
                    .to_owned(),
            ),
            ("POST", "/v1/tunnels") => (
                self.create_status,
                format!(
                    r#"{{"tunnel_id":"{TUNNEL}","domain":"myapp","public_url":"http://myapp.localhost:8080","status":"offline","created_at":1}}"#
                ),
            ),
            ("POST", "/v1/tokens") => {
                let n = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
                (
                    201,
                    format!(
                        r#"{{"token":"tok-{n}","expires_at":9999999999,"ws_url":"{}"}}"#,
                        self.ws_url
                    ),
                )
            }
            ("GET", p) if p == format!("/v1/tunnels/{TUNNEL}") => (
                200,
                format!(
                    r#"{{"tunnel_id":"{TUNNEL}","domain":"myapp","public_url":"http://myapp.localhost:8080","status":"offline","created_at":1,"expires_at":9999999999}}"#
                ),
            ),
            ("DELETE", _) => (204, String::new()),
            _ => (404, r#"{"error":{"code":"not_found","message":"no"}}"#.to_owned()),
        };
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    }
}

async fn send(ws: &mut WebSocketStream<TcpStream>, frame: &ServerFrame) {
    let Message::Text(text) = protocol::encode(frame).unwrap() else {
        unreachable!("the JSON encoding is text")
    };
    ws.send(WsMessage::text(text)).await.unwrap();
}

async fn recv(ws: &mut WebSocketStream<TcpStream>) -> Option<ClientFrame> {
    loop {
        match ws.next().await? {
            Ok(WsMessage::Text(text)) => return Some(protocol::decode_text(&text).unwrap()),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Answers CONNECT for the tunnel with CONNECTED.
async fn accept_connect(ws: &mut WebSocketStream<TcpStream>) {
    assert!(matches!(
        recv(ws).await,
        Some(ClientFrame::Connect { version: PROTOCOL_VERSION, tunnel_id, binary: true, .. }) if tunnel_id == TUNNEL
    ));
    send(
        ws,
        &ServerFrame::Connected {
            version: PROTOCOL_VERSION,
            tunnel_id: TUNNEL.into(),
            domain: "myapp".into(),
            public_url: "http://myapp.localhost:8080".into(),
            max_chunk: JSON_CHUNK_BYTES,
            window: 0,
            renew_after: 0,
            binary: false,
        },
    )
    .await;
}

fn options() -> StartOptions {
    StartOptions {
        target: client_core::target::OriginTarget::parse("127.0.0.1:1").unwrap(),
        origin_tls: Default::default(),
        host_header: Default::default(),
        domain: Some("myapp".into()),
        log_requests: false,
        screen: false,
        origin_timeout: native_cli::origin::ORIGIN_TIMEOUT,
        redact_secrets: true,
        policy: Default::default(),
    }
}

#[tokio::test]
async fn reconnects_with_a_fresh_token_and_keeps_a_named_tunnel_on_stop() {
    let mut backend = backend(201).await;
    let api = Api::new(&backend.api_url, Some("key-1".into())).unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = tokio::spawn(async move { start(&api, &options(), stop_rx).await });

    assert_eq!(
        backend.calls.recv().await.unwrap(),
        r#"POST /v1/tunnels {"domain":"myapp","redact_secrets":true,"policy":{}}"#
    );
    assert_eq!(backend.calls.recv().await.unwrap(), "POST /v1/tokens");
    let (query, mut first) = backend.sockets.recv().await.unwrap();
    assert_eq!(query, "token=tok-1");
    accept_connect(&mut first).await;
    // The connection drops: the client must come back on its own, same tunnel.
    drop(first);

    assert_eq!(backend.calls.recv().await.unwrap(), "POST /v1/tokens");
    let (query, mut second) = backend.sockets.recv().await.unwrap();
    assert_eq!(query, "token=tok-2", "a fresh token for every connection");
    accept_connect(&mut second).await;
    server_ping_is_answered(&mut second).await;

    stop_tx.send(true).unwrap();
    assert_eq!(
        recv(&mut second).await,
        None,
        "the client closes the socket"
    );
    drop(second);
    // A tunnel with a chosen name is kept inactive (its policy and log with it): the
    // client reads it back to say until when, and deletes nothing.
    assert_eq!(
        backend.calls.recv().await.unwrap(),
        format!("GET /v1/tunnels/{TUNNEL}")
    );
    running.await.unwrap().unwrap();
    assert!(
        backend.calls.try_recv().is_err(),
        "no call after the read-back (no DELETE)"
    );
}

async fn server_ping_is_answered(ws: &mut WebSocketStream<TcpStream>) {
    send(ws, &ServerFrame::Ping { nonce: 42 }).await;
    assert_eq!(recv(ws).await, Some(ClientFrame::Pong { nonce: 42 }));
}

#[tokio::test]
async fn resumed_tunnel_is_fine_and_a_deleted_one_ends_the_command() {
    // 200: the server resumed the client's own offline tunnel on that domain.
    let mut backend = backend(200).await;
    let api = Api::new(&backend.api_url, Some("key-1".into())).unwrap();
    let (_stop_tx, stop_rx) = watch::channel(false);
    let running = tokio::spawn(async move { start(&api, &options(), stop_rx).await });

    let (_, mut ws) = backend.sockets.recv().await.unwrap();
    recv(&mut ws).await;
    send(
        &mut ws,
        &ServerFrame::Error(ErrorFrame {
            id: None,
            code: ErrorCode::UnknownTunnel,
            message: "tunnel t1 no longer exists".into(),
            reply_to: None,
            secret: None,
        }),
    )
    .await;
    while recv(&mut ws).await.is_some() {}
    drop(ws);
    match running.await.unwrap() {
        Err(
            e @ StartError::Refused {
                code: ErrorCode::UnknownTunnel,
                ..
            },
        ) => {
            assert_eq!(e.to_string(), "tunnel t1 no longer exists");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut calls = Vec::new();
    while let Ok(call) = backend.calls.try_recv() {
        calls.push(call);
    }
    assert!(
        !calls.iter().any(|c| c.starts_with("DELETE")),
        "a refused tunnel is not deleted: {calls:?}"
    );
}

#[tokio::test]
async fn taken_domain_is_reported_in_the_servers_words() {
    let backend = backend(409).await;
    let api = Api::new(&backend.api_url, Some("key-1".into())).unwrap();
    let (_stop_tx, stop_rx) = watch::channel(false);
    let e = start(&api, &options(), stop_rx).await.unwrap_err();
    // The CLI's sentence, then the server's words, which say whose tunnel holds it.
    let text = e.to_string();
    assert!(
        text.starts_with("that domain belongs to another tunnel"),
        "{text}"
    );
    assert!(
        text.ends_with("(server: myapp is taken; pick another domain)"),
        "{text}"
    );
}
