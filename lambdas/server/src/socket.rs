//! The WebSocket endpoint clients connect to: one task per connection that feeds
//! frames to the backend handlers and response parts to the waiting public requests.

use std::sync::Arc;
use std::time::Duration;

use client_core::clock::now_secs as unix_now;
use client_core::protocol::limits::{IDLE_TIMEOUT, MAX_MESSAGE_BYTES};
use client_core::protocol::{
    ClientFrame, ErrorCode, ErrorFrame, Message, ServerFrame, decode_binary_body, decode_text,
    encode,
};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tunnel_backend::auth::random_id;
use tunnel_backend::handlers::Caller;
use tunnel_backend::handlers::connection::{
    Offers, tunnel_connect, tunnel_disconnect, tunnel_release,
};

use crate::State;
use crate::hub::{Conn, Outbound, ResponsePart};

/// Random bytes in a connection id.
pub const CONNECTION_ID_BYTES: usize = 16;

/// A connection silent for this long is dropped. Clients ping well within it.
pub const SERVER_IDLE_TIMEOUT: Duration = IDLE_TIMEOUT.saturating_add(Duration::from_secs(30));

/// How long a closing connection may take to flush what is queued.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Read buffer per client connection. tungstenite's default (128 KiB) is zero-filled
/// and so resident for every idle tunnel; messages larger than this still arrive, in
/// several reads (docs/benchmarks.md: 134 -> ~20 KiB per idle tunnel).
pub const READ_BUFFER_BYTES: usize = 8 * 1024;

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
        .read_buffer_size(READ_BUFFER_BYTES)
}

/// Runs one client connection until it closes.
pub async fn run(state: Arc<State>, upgraded: Upgraded, caller: Caller) {
    let id = random_id(CONNECTION_ID_BYTES);
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(ws_config()))
            .await;
    let (mut sink, mut stream) = ws.split();
    let (conn, mut outbound) = state.hub.register(id.clone());
    tracing::debug!(connection_id = %id, client_id = %caller.client_id, "client connected");

    let mut writer = tokio::spawn(async move {
        while let Some(out) = outbound.recv().await {
            let result = match out {
                Outbound::Message(Message::Text(t)) => sink.send(WsMessage::Text(t.into())).await,
                Outbound::Message(Message::Binary(b)) => {
                    sink.send(WsMessage::Binary(b.into())).await
                }
                Outbound::Close => {
                    let _ = sink.close().await;
                    break;
                }
            };
            if result.is_err() {
                break;
            }
        }
    });

    let mut bound = false;
    loop {
        let next = match tokio::time::timeout(SERVER_IDLE_TIMEOUT, stream.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => {
                tracing::debug!(connection_id = %id, error = %e, "socket error");
                break;
            }
            Ok(None) => break,
            Err(_) => {
                tracing::info!(connection_id = %id, "closing idle connection");
                break;
            }
        };
        let decoded = match next {
            WsMessage::Text(t) => decode_text::<ClientFrame>(t.as_str()),
            // Binary BODY frames only from a client that asked for them in CONNECT.
            WsMessage::Binary(b) if conn.binary() => decode_binary_body(&b).map(ClientFrame::Body),
            WsMessage::Binary(_) => {
                refuse(
                    &conn,
                    "binary messages need `binary: true` in CONNECT (protocol version 1 is JSON text)",
                )
                .await;
                break;
            }
            WsMessage::Close(_) => break,
            _ => continue,
        };
        let frame = match decoded {
            Ok(f) => f,
            Err(e) => {
                refuse(&conn, &format!("undecodable frame: {e}")).await;
                break;
            }
        };
        match frame {
            ClientFrame::Connect {
                version,
                tunnel_id,
                binary,
                resume,
                upgrade,
                // Never taken up here: the local stack carries every body as chunks.
                body_urls: _,
            } => {
                if bound {
                    refuse(&conn, "CONNECT sent twice on one connection").await;
                    break;
                }
                // Set before CONNECTED goes out: a REQUEST may follow it at once, and
                // the client reads binary from the moment it asked.
                conn.set_binary(binary);
                conn.set_upgrade(upgrade);
                bound = tunnel_connect(
                    &state.backend,
                    &id,
                    &caller,
                    version,
                    &tunnel_id,
                    // The local stack carries every body as chunks.
                    Offers {
                        binary,
                        body_urls: false,
                    },
                    unix_now(),
                )
                .await
                .is_ok();
                if bound {
                    state.metrics.tunnel_bound(resume);
                }
            }
            ClientFrame::Response {
                id: stream_id,
                status,
                headers,
                body,
                fin,
                stored,
                ..
            } => {
                // The local stack offers no answer URL: the machine refuses a
                // stored answer as a broken one.
                let part = ResponsePart::response(status, headers, body, fin, stored);
                deliver(&conn, stream_id, part).await;
            }
            ClientFrame::Body(chunk) => deliver(&conn, chunk.id, ResponsePart::Body(chunk)).await,
            ClientFrame::Error(e) => match e.id {
                Some(stream_id) => deliver(&conn, stream_id, ResponsePart::Error(e)).await,
                None => {
                    tracing::warn!(connection_id = %id, code = ?e.code, message = %e.message, "client ended the session");
                    break;
                }
            },
            ClientFrame::Ping { nonce } => {
                if let Ok(m) = encode(&ServerFrame::Pong { nonce }) {
                    let _ = conn.send(m).await;
                }
            }
            ClientFrame::Pong { .. } => {}
            ClientFrame::Release {} => {
                if let Err(e) = tunnel_release(&state.backend, &id, unix_now()).await {
                    tracing::error!(connection_id = %id, error = %e, "could not release");
                }
            }
        }
    }

    state.hub.remove(&id);
    if bound {
        state.metrics.tunnel_unbound();
    }
    if let Err(e) = tunnel_disconnect(&state.backend, &id, unix_now()).await {
        tracing::error!(connection_id = %id, error = %e, "could not release the connection's tunnel");
    }
    // Let queued frames (an ERROR explaining the close) reach the client, briefly.
    conn.close_socket();
    drop(conn);
    if tokio::time::timeout(CLOSE_GRACE, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    tracing::debug!(connection_id = %id, "client disconnected");
}

/// Hands a part to the public request waiting on `stream_id`. A part for a stream
/// nobody waits on (answered, cancelled, timed out) is dropped: late, not wrong.
async fn deliver(conn: &Conn, stream_id: u64, part: ResponsePart) {
    if let Some(tx) = conn.stream(stream_id) {
        // Waiting here, rather than dropping, keeps a slow public reader from losing
        // data; it slows this connection's other streams until the reader catches up.
        let _ = tx.send(part).await;
    }
}

async fn refuse(conn: &Conn, message: &str) {
    tracing::warn!(connection_id = %conn.id, message, "protocol violation");
    let frame = ServerFrame::Error(ErrorFrame {
        id: None,
        code: ErrorCode::ProtocolViolation,
        message: message.to_owned(),
        reply_to: None,
        secret: None,
    });
    if let Ok(m) = encode(&frame) {
        let _ = conn.send(m).await;
    }
}
