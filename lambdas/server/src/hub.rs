//! The live WebSocket connections of this process: the in-process `Connections`
//! adapter, and the rendezvous that hands a client's RESPONSE frames to the public
//! request waiting for them.
//!
//! In the local stack the rendezvous is a map from stream id to a bounded channel, per
//! connection: the frame arrives on the socket task and goes straight to the waiting
//! request, with no store involved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use client_core::protocol::{
    CodecError, Message, ServerFrame, StreamId, encode, encode_binary_body,
};
use tokio::sync::mpsc;
use tunnel_backend::connections::{ConnectionError, Connections};

/// Messages queued per connection before senders wait.
pub const OUTBOUND_QUEUE: usize = 64;

/// Response frames queued per stream before the socket reader waits for the public
/// client to catch up.
pub const STREAM_QUEUE: usize = 16;

/// Why a frame was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// It cannot be encoded (too large for one message).
    #[error(transparent)]
    Encode(#[from] CodecError),
    /// The connection is gone.
    #[error(transparent)]
    Gone(ConnectionError),
}

/// What the socket's writer task is asked to do.
#[derive(Debug)]
pub enum Outbound {
    /// Send a message.
    Message(Message),
    /// Close the socket.
    Close,
}

/// A client's part of one exchange, delivered to the public request awaiting it: the
/// shared machine's input, so it is handed over as it came.
pub use tunnel_backend::handlers::exchange::Answer as ResponsePart;

/// One connection's handle.
#[derive(Debug)]
pub struct Conn {
    /// Its id.
    pub id: String,
    outbound: mpsc::Sender<Outbound>,
    streams: Mutex<HashMap<StreamId, mpsc::Sender<ResponsePart>>>,
    next_stream: AtomicU64,
    binary: AtomicBool,
    upgrade: AtomicBool,
    upgraded: AtomicUsize,
}

/// One upgraded stream counted against [`MAX_UPGRADED_STREAMS`]; dropping it frees
/// the place.
///
/// [`MAX_UPGRADED_STREAMS`]: client_core::protocol::limits::MAX_UPGRADED_STREAMS
#[derive(Debug)]
pub struct UpgradeSlot(Arc<Conn>);

impl Drop for UpgradeSlot {
    fn drop(&mut self) {
        self.0.upgraded.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Conn {
    /// The client said in CONNECT it carries HTTP upgrades to its origin.
    pub fn set_upgrade(&self, upgrade: bool) {
        self.upgrade.store(upgrade, Ordering::Relaxed);
    }

    /// Whether upgrade requests go to this client as upgrades.
    pub fn upgrade(&self) -> bool {
        self.upgrade.load(Ordering::Relaxed)
    }

    /// A place for one more upgraded stream, if fewer than `max` are open.
    pub fn try_upgrade_slot(self: &Arc<Self>, max: usize) -> Option<UpgradeSlot> {
        self.upgraded
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| UpgradeSlot(self.clone()))
    }

    /// Queues a message for the socket, waiting while the queue is full.
    pub async fn send(&self, message: Message) -> Result<(), ConnectionError> {
        self.outbound
            .send(Outbound::Message(message))
            .await
            .map_err(|_| ConnectionError::Gone(self.id.clone()))
    }

    /// Queues a message without waiting; for `Drop` paths. Drops it when full.
    pub fn try_send(&self, message: Message) {
        let _ = self.outbound.try_send(Outbound::Message(message));
    }

    /// The client asked in CONNECT for binary BODY frames: request bodies go to it as
    /// binary messages, and its binary messages are read.
    pub fn set_binary(&self, binary: bool) {
        self.binary.store(binary, Ordering::Relaxed);
    }

    /// Whether BODY frames on this connection travel as binary messages.
    pub fn binary(&self) -> bool {
        self.binary.load(Ordering::Relaxed)
    }

    /// Queues a frame in this connection's encoding: binary for BODY frames when the
    /// client asked for them, JSON otherwise.
    pub async fn send_frame(&self, frame: &ServerFrame) -> Result<(), SendError> {
        let message = match frame {
            ServerFrame::Body(chunk) if self.binary() => {
                encode_binary_body(chunk).unwrap_or_else(|| encode(frame))?
            }
            _ => encode(frame)?,
        };
        self.send(message).await.map_err(SendError::Gone)
    }

    /// Asks the writer to close the socket once what is queued is sent.
    pub fn close_socket(&self) {
        let _ = self.outbound.try_send(Outbound::Close);
    }

    /// Opens a stream and returns its id and where its response parts arrive.
    pub fn open_stream(&self) -> (StreamId, mpsc::Receiver<ResponsePart>) {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        self.lock_streams().insert(id, tx);
        (id, rx)
    }

    /// Forgets a stream; later frames for it are dropped.
    pub fn close_stream(&self, id: StreamId) {
        self.lock_streams().remove(&id);
    }

    /// The waiting side of stream `id`, if it is open.
    pub fn stream(&self, id: StreamId) -> Option<mpsc::Sender<ResponsePart>> {
        self.lock_streams().get(&id).cloned()
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.lock_streams().len()
    }

    fn lock_streams(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<StreamId, mpsc::Sender<ResponsePart>>> {
        // A panic while holding this lock leaves a plain map, still consistent.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every live connection of this process.
#[derive(Debug, Default)]
pub struct Hub {
    conns: Mutex<HashMap<String, Arc<Conn>>>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a new connection; its socket task reads `Outbound` from the receiver.
    pub fn register(&self, id: String) -> (Arc<Conn>, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let conn = Arc::new(Conn {
            id: id.clone(),
            outbound: tx,
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(1),
            binary: AtomicBool::new(false),
            upgrade: AtomicBool::new(false),
            upgraded: AtomicUsize::new(0),
        });
        self.lock().insert(id, conn.clone());
        (conn, rx)
    }

    /// Removes a connection; its waiting streams see their channels close.
    pub fn remove(&self, id: &str) {
        if let Some(conn) = self.lock().remove(id) {
            conn.lock_streams().clear();
        }
    }

    /// A live connection.
    pub fn get(&self, id: &str) -> Option<Arc<Conn>> {
        self.lock().get(id).cloned()
    }

    /// Connections live now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True with no live connections.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The hub as the backend's `Connections` port.
#[async_trait]
impl Connections for Hub {
    async fn send(&self, connection_id: &str, message: Message) -> Result<(), ConnectionError> {
        let conn = self
            .get(connection_id)
            .ok_or_else(|| ConnectionError::Gone(connection_id.to_owned()))?;
        conn.send(message).await
    }

    async fn close(&self, connection_id: &str) -> Result<(), ConnectionError> {
        if let Some(conn) = self.get(connection_id) {
            let _ = conn.outbound.send(Outbound::Close).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_slots_stop_at_the_limit_and_come_back_when_dropped() {
        let hub = Hub::new();
        let (conn, _rx) = hub.register("c1".into());
        let max = client_core::protocol::limits::MAX_UPGRADED_STREAMS;
        let slots: Vec<_> = (0..max)
            .map(|_| conn.try_upgrade_slot(max).unwrap())
            .collect();
        assert!(conn.try_upgrade_slot(max).is_none());
        drop(slots);
        assert!(conn.try_upgrade_slot(max).is_some());
    }
}
