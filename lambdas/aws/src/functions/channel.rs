//! tunnel-proxy's return channel: its own WebSocket connection to the WebSocket API,
//! on which the relay posts the client's answers. Opened once per warm sandbox (a
//! session token the function signs itself, then a `channel` hello that the relay
//! answers with the connection's id) and replaced before API Gateway's idle and age
//! caps would close it.

use std::time::{Duration, Instant};

use client_core::clock::now_secs as unix_now;
use client_core::protocol::limits::MAX_MESSAGE_BYTES;
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tunnel_backend::auth::{Claims, TokenSigner, random_id};

use super::relay::CHANNEL_ACTION;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The function's own WebSocket connection, on which answers arrive.
#[derive(Debug)]
pub(super) struct Channel {
    pub(super) ws: Socket,
    pub(super) connection_id: String,
    opened: Instant,
    pub(super) used: Instant,
}

/// Where the channel connects, and how long one is kept.
#[derive(Debug, Clone)]
pub(super) struct ChannelSettings {
    /// The WebSocket API's URL.
    pub(super) ws_url: String,
    /// Unused this long, it is replaced (the API's idle cap is 10 min).
    pub(super) max_idle: Duration,
    /// This old, it is replaced (the API's age cap is 2 h).
    pub(super) max_age: Duration,
}

/// Why the return channel could not be had.
#[derive(Debug, thiserror::Error)]
pub(super) enum ChannelError {
    #[error("cannot connect to the WebSocket API: {0}")]
    Connect(String),
    #[error("the WebSocket API did not say which connection this is")]
    NoHello,
}

/// The live return channel in `slot`, opening a new one when there is none or it is
/// closed, or too old or idle for the WebSocket API to keep.
pub(super) async fn live<'a>(
    slot: &'a mut Option<Channel>,
    settings: &ChannelSettings,
    signer: &TokenSigner,
) -> Result<&'a mut Channel, ChannelError> {
    let stale = slot.as_mut().is_none_or(|c| {
        let closed = matches!(
            c.ws.next().now_or_never(),
            Some(None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))))
        );
        closed || c.used.elapsed() > settings.max_idle || c.opened.elapsed() > settings.max_age
    });
    if stale {
        *slot = Some(open(settings, signer).await?);
    }
    slot.as_mut().ok_or(ChannelError::NoHello)
}

async fn open(settings: &ChannelSettings, signer: &TokenSigner) -> Result<Channel, ChannelError> {
    let now = unix_now();
    let token = signer.sign(&Claims {
        sub: format!("proxy-{}", random_id(8)),
        iat: now,
        exp: now + 300,
        until: None,
        kh: None,
    });
    let url = format!("{}?token={token}", settings.ws_url);
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE_BYTES));
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
            .await
            .map_err(|e| ChannelError::Connect(e.to_string()))?;
    let hello = serde_json::json!({ "action": CHANNEL_ACTION }).to_string();
    ws.send(WsMessage::Text(hello.into()))
        .await
        .map_err(|e| ChannelError::Connect(e.to_string()))?;
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            () = &mut deadline => return Err(ChannelError::NoHello),
        };
        let Some(Ok(WsMessage::Text(t))) = msg else {
            if msg.is_none() {
                return Err(ChannelError::NoHello);
            }
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
        if v["action"] == CHANNEL_ACTION
            && let Some(id) = v["connection_id"].as_str()
        {
            tracing::info!(connection_id = id, "return channel open");
            return Ok(Channel {
                ws,
                connection_id: id.to_owned(),
                opened: Instant::now(),
                used: Instant::now(),
            });
        }
    }
}
