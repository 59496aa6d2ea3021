//! The emulated API Gateway WebSocket API: `$connect` behind a REQUEST authorizer,
//! route selection on `$request.body.action`, `$default`, `$disconnect`, the
//! `@connections` management endpoint, and the documented limits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::runtime::{Functions, Invocation};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tunnel_aws::functions::WS_ROUTES;

use super::events;

/// Largest message API Gateway accepts (bigger closes with 1009).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// Largest frame API Gateway accepts (bigger closes with 1009).
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// API Gateway's integration timeout.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// Default idle cap: no message either way for this long closes the connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Default connection lifetime cap.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);
/// Messages queued for one connection before `@connections` posts wait.
const OUTBOUND_QUEUE: usize = 64;

enum Out {
    Text(String),
    Close(CloseCode, &'static str),
}

struct Conn {
    tx: mpsc::Sender<Out>,
}

/// Counters shown by `/_emulator/stats`.
#[derive(Debug, Default, Serialize)]
pub struct WsStats {
    /// Connections accepted.
    pub connections: u64,
    /// `$connect` attempts refused by the authorizer.
    pub refused: u64,
    /// Messages received from clients.
    pub messages_in: u64,
    /// Messages posted to connections through `@connections`.
    pub messages_out: u64,
    /// Connections closed by the idle cap.
    pub idle_closes: u64,
    /// Connections closed by the lifetime cap.
    pub max_age_closes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    refused: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    idle_closes: AtomicU64,
    max_age_closes: AtomicU64,
}

/// The WebSocket API's live connections and settings.
pub struct WsApi {
    functions: Arc<Functions>,
    conns: Mutex<HashMap<String, Conn>>,
    idle_timeout: Duration,
    max_age: Duration,
    counters: Counters,
}

impl std::fmt::Debug for WsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsApi")
            .field("idle_timeout", &self.idle_timeout)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// Outcome of a `@connections` call.
#[derive(Debug, PartialEq, Eq)]
pub enum PostOutcome {
    /// Delivered (queued on the socket).
    Posted,
    /// No such connection: 410 GoneException.
    Gone,
    /// Over the message limit: 413 PayloadTooLargeException.
    TooLarge,
}

fn route_for(body: &str) -> &'static str {
    let action = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
    let key = action.unwrap_or_default();
    WS_ROUTES
        .iter()
        .find(|(route, _)| !route.starts_with('$') && *route == key)
        .map_or("$default", |(route, _)| route)
}

fn function_for(route: &str) -> Option<&'static str> {
    WS_ROUTES.iter().find(|(r, _)| *r == route).map(|(_, f)| *f)
}

impl WsApi {
    /// A WebSocket API over `functions` with the given caps.
    pub fn new(functions: Arc<Functions>, idle_timeout: Duration, max_age: Duration) -> Self {
        Self {
            functions,
            conns: Mutex::new(HashMap::new()),
            idle_timeout,
            max_age,
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the `$connect` authorizer; the context to hand to routes when allowed.
    pub async fn authorize(
        &self,
        connection_id: &str,
        headers: &http::HeaderMap,
        query: Option<&str>,
        source_ip: &str,
    ) -> Option<Value> {
        let event = events::authorizer_event(connection_id, headers, query, source_ip);
        let function = function_for("$connect")?;
        let answer = invoke_json(&self.functions, function, &event).await?;
        let allowed = answer
            .pointer("/policyDocument/Statement")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                !s.is_empty()
                    && s.iter()
                        .all(|st| st.get("Effect").and_then(Value::as_str) == Some("Allow"))
            });
        if !allowed {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut context = answer
            .get("context")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(p) = answer.get("principalId") {
            context.insert("principalId".into(), p.clone());
        }
        Some(Value::Object(context))
    }

    /// Serves one accepted connection until it closes.
    pub async fn run(
        self: Arc<Self>,
        upgraded: Upgraded,
        connection_id: String,
        authorizer: Value,
    ) {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::channel(OUTBOUND_QUEUE);
        self.lock()
            .insert(connection_id.clone(), Conn { tx: tx.clone() });
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        let connected_at = client_core::clock::now_ms();

        let (activity_tx, mut activity) = mpsc::channel::<()>(1);
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Out::Text(t) => {
                        let _ = activity_tx.try_send(());
                        if sink.send(WsMessage::Text(t.into())).await.is_err() {
                            break;
                        }
                    }
                    Out::Close(code, reason) => {
                        let frame = CloseFrame {
                            code,
                            reason: reason.into(),
                        };
                        let _ = sink.send(WsMessage::Close(Some(frame))).await;
                        break;
                    }
                }
            }
        });

        let max_age = tokio::time::sleep(self.max_age);
        tokio::pin!(max_age);
        loop {
            let idle = tokio::time::sleep(self.idle_timeout);
            tokio::select! {
                () = &mut max_age => {
                    self.counters.max_age_closes.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.send(Out::Close(CloseCode::Away, "Going away")).await;
                    break;
                }
                () = idle => {
                    self.counters.idle_closes.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.send(Out::Close(CloseCode::Away, "Going away")).await;
                    break;
                }
                // Messages the API sends also count as activity, as on AWS.
                Some(()) = activity.recv() => continue,
                next = stream.next() => match next {
                    Some(Ok(WsMessage::Text(text))) => {
                        self.counters.messages_in.fetch_add(1, Ordering::Relaxed);
                        self.clone().dispatch(&connection_id, connected_at, &authorizer, text.as_str().to_owned());
                    }
                    Some(Ok(WsMessage::Binary(_))) => {
                        let _ = tx.send(Out::Close(CloseCode::Unsupported, "Binary frames are not supported")).await;
                        break;
                    }
                    Some(Ok(WsMessage::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        let code = if matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_)) {
                            CloseCode::Size
                        } else {
                            CloseCode::Protocol
                        };
                        let _ = tx.send(Out::Close(code, "Message too big")).await;
                        break;
                    }
                }
            }
        }
        self.lock().remove(&connection_id);
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
        let event = events::websocket_event(
            "$disconnect",
            "DISCONNECT",
            &connection_id,
            connected_at,
            &authorizer,
            None,
        );
        if let Some(f) = function_for("$disconnect") {
            invoke_json(&self.functions, f, &event).await;
        }
    }

    /// Invokes the route's function for one message, concurrently with the others
    /// (API Gateway does not serialise a connection's messages).
    fn dispatch(
        self: Arc<Self>,
        connection_id: &str,
        connected_at: u64,
        authorizer: &Value,
        body: String,
    ) {
        let route = route_for(&body);
        let Some(function) = function_for(route) else {
            return;
        };
        let event = events::websocket_event(
            route,
            "MESSAGE",
            connection_id,
            connected_at,
            authorizer,
            Some(&body),
        );
        let connection_id = connection_id.to_owned();
        tokio::spawn(async move {
            if invoke_json(&self.functions, function, &event)
                .await
                .is_none()
            {
                // What API Gateway tells a client whose integration failed.
                let msg = serde_json::json!({
                    "message": "Internal server error",
                    "connectionId": connection_id,
                    "requestId": tunnel_backend::auth::random_id(8),
                });
                self.post(&connection_id, msg.to_string().into_bytes())
                    .await;
            }
        });
    }

    /// `POST @connections/{id}`.
    pub async fn post(&self, connection_id: &str, data: Vec<u8>) -> PostOutcome {
        if data.len() > MAX_MESSAGE_BYTES {
            return PostOutcome::TooLarge;
        }
        let tx = match self.lock().get(connection_id) {
            Some(c) => c.tx.clone(),
            None => return PostOutcome::Gone,
        };
        let text = String::from_utf8_lossy(&data).into_owned();
        if tx.send(Out::Text(text)).await.is_err() {
            return PostOutcome::Gone;
        }
        self.counters.messages_out.fetch_add(1, Ordering::Relaxed);
        PostOutcome::Posted
    }

    /// `DELETE @connections/{id}`.
    pub async fn delete(&self, connection_id: &str) -> PostOutcome {
        let tx = match self.lock().get(connection_id) {
            Some(c) => c.tx.clone(),
            None => return PostOutcome::Gone,
        };
        let _ = tx.send(Out::Close(CloseCode::Normal, "")).await;
        PostOutcome::Posted
    }

    /// The counters.
    pub fn stats(&self) -> WsStats {
        let c = &self.counters;
        WsStats {
            connections: c.connections.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            messages_in: c.messages_in.load(Ordering::Relaxed),
            messages_out: c.messages_out.load(Ordering::Relaxed),
            idle_closes: c.idle_closes.load(Ordering::Relaxed),
            max_age_closes: c.max_age_closes.load(Ordering::Relaxed),
        }
    }
}

/// Invokes `function` with `event` under the integration timeout and parses its
/// buffered JSON answer; `None` on any failure (logged).
pub async fn invoke_json(functions: &Functions, function: &str, event: &Value) -> Option<Value> {
    let payload = serde_json::to_vec(event).ok()?;
    let result =
        tokio::time::timeout(INTEGRATION_TIMEOUT, functions.invoke(function, payload)).await;
    match result {
        Ok(Ok(Invocation::Buffered(bytes))) => serde_json::from_slice(&bytes).ok(),
        Ok(Ok(Invocation::Streamed { .. })) => {
            tracing::warn!(function, "streamed answer from a WebSocket integration");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(function, error = %e, "integration failed");
            None
        }
        Err(_) => {
            tracing::warn!(function, "integration timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_on_action_with_default_fallback() {
        assert_eq!(
            route_for(r#"{"action":"connect","tunnel_id":"t"}"#),
            "connect"
        );
        assert_eq!(route_for(r#"{"action":"response"}"#), "response");
        assert_eq!(route_for(r#"{"action":"$connect"}"#), "$default");
        assert_eq!(route_for(r#"{"action":"nope"}"#), "$default");
        assert_eq!(route_for("not json"), "$default");
        assert_eq!(function_for("$default"), Some("tunnel-relay"));
    }
}
