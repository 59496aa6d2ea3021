//! tunnel-proxy's request body after the head: posted to the client as BODY chunks by
//! a task of its own while the proxy waits for the answer.
//!
//! A Function URL hands the function the whole request body in its event (the
//! invocation payload; Lambda starts the function only once the body is in), so the
//! origin cannot see a slow upload as it arrives on AWS. What the proxy can do is not
//! make the answer wait for the posting: an origin that answers before it has read
//! the body (401, 413) is heard at once, and the chunks not yet posted are dropped.

use std::sync::Arc;

use client_core::protocol::{BodyChunk, ServerFrame, StreamId, encode};
use futures_util::FutureExt as _;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use tunnel_backend::connections::{ConnectionError, Connections};

/// The chunks of one request body on their way to the client.
#[derive(Debug)]
pub struct Upload {
    task: Option<JoinHandle<Result<(), ConnectionError>>>,
    connections: Arc<dyn Connections>,
    client_conn: String,
    id: StreamId,
}

impl Upload {
    /// Starts posting `chunks` of stream `id` to `client_conn`, in order, after the
    /// REQUEST frame that has already gone.
    pub fn start(
        connections: Arc<dyn Connections>,
        client_conn: &str,
        id: StreamId,
        chunks: Vec<BodyChunk>,
    ) -> Self {
        let task = (!chunks.is_empty()).then(|| {
            let (connections, client_conn) = (connections.clone(), client_conn.to_owned());
            let post = async move {
                for chunk in chunks {
                    let Ok(message) = encode(&ServerFrame::Body(chunk)) else {
                        // A chunk is at most max_chunk bytes: always fits a message.
                        tracing::error!("cannot encode a request body chunk");
                        return Ok(());
                    };
                    if let Err(e) = connections.send(&client_conn, message).await {
                        // The answer's wait notices a client that went away (its
                        // liveness probe); this only stops posting to it.
                        tracing::info!(error = %e, "request body not delivered");
                        return Err(e);
                    }
                }
                Ok(())
            };
            tokio::spawn(post.in_current_span())
        });
        Self {
            task,
            connections,
            client_conn: client_conn.to_owned(),
            id,
        }
    }

    /// The exchange is over (its answer is complete): a body not yet all posted is
    /// dropped, and the client is told with CANCEL, so it stops waiting for the rest.
    pub async fn end(mut self) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        if let Some(Ok(Ok(()))) = (&mut task).now_or_never() {
            return;
        }
        task.abort();
        if let Ok(m) = encode(&ServerFrame::Cancel { id: self.id }) {
            let _ = self.connections.send(&self.client_conn, m).await;
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // An exchange that failed: nothing more goes to the client.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::protocol::{ChunkWriter, Message, decode};
    use tokio::sync::{Mutex, Semaphore};

    /// Records what is posted; each post past the first `open` waits for a permit, as
    /// a slow `@connections` endpoint would keep it waiting.
    #[derive(Debug)]
    struct SlowConnections {
        sent: Mutex<Vec<ServerFrame>>,
        permits: Semaphore,
    }

    #[async_trait::async_trait]
    impl Connections for SlowConnections {
        async fn send(&self, _id: &str, message: Message) -> Result<(), ConnectionError> {
            let frame: ServerFrame = decode(&message).unwrap();
            if matches!(frame, ServerFrame::Body(_)) {
                self.permits.acquire().await.unwrap().forget();
            }
            self.sent.lock().await.push(frame);
            Ok(())
        }

        async fn close(&self, _id: &str) -> Result<(), ConnectionError> {
            Ok(())
        }
    }

    fn posted(c: &SlowConnections) -> Vec<ServerFrame> {
        c.sent.try_lock().unwrap().clone()
    }

    #[tokio::test]
    async fn an_answer_before_the_last_chunk_drops_the_rest_with_cancel() {
        let connections = Arc::new(SlowConnections {
            sent: Mutex::new(Vec::new()),
            permits: Semaphore::new(1),
        });
        let chunks = ChunkWriter::new().write(7, &[1u8; 3000], true, 1024);
        assert_eq!(chunks.len(), 3);
        let upload = Upload::start(connections.clone(), "client", 7, chunks);
        // The first chunk goes; the second waits on the endpoint.
        while posted(&connections).is_empty() {
            tokio::task::yield_now().await;
        }
        upload.end().await;
        let sent = posted(&connections);
        assert!(
            matches!(&sent[..], [ServerFrame::Body(c), ServerFrame::Cancel { id: 7 }] if c.seq == 0),
            "{sent:?}"
        );
        // Nothing more is posted once it was cut, even when the endpoint frees up.
        connections.permits.add_permits(5);
        tokio::task::yield_now().await;
        assert_eq!(posted(&connections).len(), 2);
    }

    #[tokio::test]
    async fn a_body_posted_in_full_needs_no_cancel() {
        let connections = Arc::new(SlowConnections {
            sent: Mutex::new(Vec::new()),
            permits: Semaphore::new(10),
        });
        let chunks = ChunkWriter::new().write(7, &[1u8; 3000], true, 1024);
        let upload = Upload::start(connections.clone(), "client", 7, chunks);
        while posted(&connections).len() < 3 {
            tokio::task::yield_now().await;
        }
        // The task may still be returning; `end` waits for nothing and cancels only
        // an unfinished upload.
        while upload.task.as_ref().is_some_and(|t| !t.is_finished()) {
            tokio::task::yield_now().await;
        }
        upload.end().await;
        let sent = posted(&connections);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(sent.iter().all(|f| matches!(f, ServerFrame::Body(_))));
        assert!(
            Upload::start(connections, "client", 8, Vec::new())
                .task
                .is_none()
        );
    }
}
