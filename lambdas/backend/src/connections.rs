//! The `Connections` port: sending to a client's WebSocket by connection id.
//!
//! On AWS this is API Gateway's `@connections` endpoint; in the local stack it is a
//! table of channels to the socket tasks.

use async_trait::async_trait;
use client_core::protocol::Message;

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The connection is closed or unknown (API Gateway answers 410 Gone).
    #[error("connection {0} is gone")]
    Gone(String),
    /// The transport failed otherwise.
    #[error("sending to connection failed: {0}")]
    Transport(String),
}

/// Sends messages to, and closes, WebSocket connections.
#[async_trait]
pub trait Connections: Send + Sync + std::fmt::Debug {
    /// Sends one message. Waits while the connection's outbound queue is full, so a
    /// slow client slows its own senders rather than growing memory.
    async fn send(&self, connection_id: &str, message: Message) -> Result<(), ConnectionError>;

    /// Closes the connection; closing a gone one is not an error.
    async fn close(&self, connection_id: &str) -> Result<(), ConnectionError>;
}
