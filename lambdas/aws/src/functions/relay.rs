//! tunnel-relay: the stateless route for everything a connection sends after CONNECT.
//!
//! A client's RESPONSE, BODY and ERROR frames carry the `reply_to` connection (the
//! proxy function's own WebSocket) from the REQUEST they answer; the relay posts them
//! there unchanged, with no store access, and the proxy checks their secret. PING is
//! answered here, and a proxy's `channel` hello learns its own connection id.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use client_core::protocol::limits::MAX_MESSAGE_BYTES;
use client_core::protocol::{Message, ServerFrame, encode};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use tunnel_backend::Backend;
use tunnel_backend::connections::ConnectionError;

/// Action of the hello a proxy sends on its return channel, and of the answer.
pub const CHANNEL_ACTION: &str = "channel";

/// The few fields the relay reads; the rest passes through untouched.
#[derive(Debug, Deserialize)]
struct Envelope {
    action: String,
    #[serde(default)]
    reply_to: Option<String>,
    #[serde(default)]
    nonce: Option<u64>,
}

/// What the relay did with one message, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relayed {
    /// Posted to the proxy's connection.
    Forwarded,
    /// The proxy's connection is gone (it timed out or was recycled).
    ReplyGone,
    /// Answered the sender itself (PONG, channel id).
    Answered,
    /// Nothing to do.
    Ignored,
}

/// Handles one message from connection `from`.
pub async fn relay(b: &Backend, from: &str, body: &str) -> Relayed {
    if body.len() > MAX_MESSAGE_BYTES {
        return Relayed::Ignored;
    }
    let Ok(env) = serde_json::from_str::<Envelope>(body) else {
        tracing::warn!(connection_id = from, "undecodable message");
        return Relayed::Ignored;
    };
    match (env.action.as_str(), env.reply_to) {
        ("response" | "body" | "error", Some(to)) => {
            match b
                .connections
                .send(&to, Message::Text(body.to_owned()))
                .await
            {
                Ok(()) => Relayed::Forwarded,
                Err(ConnectionError::Gone(_)) => {
                    tracing::warn!(connection_id = from, reply_to = %to, "proxy channel gone; answer dropped");
                    Relayed::ReplyGone
                }
                Err(e) => {
                    tracing::error!(connection_id = from, error = %e, "relay failed");
                    Relayed::ReplyGone
                }
            }
        }
        ("ping", _) => {
            let pong = ServerFrame::Pong {
                nonce: env.nonce.unwrap_or_default(),
            };
            if let Ok(m) = encode(&pong) {
                let _ = b.connections.send(from, m).await;
            }
            Relayed::Answered
        }
        (CHANNEL_ACTION, _) => {
            let hello = serde_json::json!({ "action": CHANNEL_ACTION, "connection_id": from });
            let _ = b
                .connections
                .send(from, Message::Text(hello.to_string()))
                .await;
            Relayed::Answered
        }
        _ => Relayed::Ignored,
    }
}

/// Main loop of tunnel-relay.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    super::init_tracing();
    let backend = super::backend_from_env()?;
    let backend = &backend;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            let from = event
                .payload
                .request_context
                .connection_id
                .clone()
                .unwrap_or_default();
            relay(
                backend,
                &from,
                event.payload.body.as_deref().unwrap_or_default(),
            )
            .await;
            let mut ok = ApiGatewayProxyResponse::default();
            ok.status_code = 200;
            Ok::<_, lambda_runtime::Error>(ok)
        },
    ))
    .await
}
