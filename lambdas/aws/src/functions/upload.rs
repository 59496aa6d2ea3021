//! tunnel-proxy's request body after the head: posted to the client as BODY chunks by
//! a task of its own while the proxy waits for the answer.
//!
//! A Function URL hands the function the whole request body in its event (the
//! invocation payload; Lambda starts the function only once the body is in), so the
//! origin cannot see a slow upload as it arrives on AWS. What the proxy can do is not
//! make the answer wait for the posting: an origin that answers before it has read
//! the body (401, 413) is heard at once, and the chunks not yet posted are dropped
//! (the exchange's machine says when, and sends the CANCEL).

use std::sync::Arc;

use client_core::protocol::{BodyChunk, ServerFrame, encode};
use futures_util::FutureExt as _;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use tunnel_backend::connections::{ConnectionError, Connections};
use tunnel_backend::handlers::exchange::UploadEnd;

/// The chunks of one request body on their way to the client.
#[derive(Debug)]
pub struct Upload {
    task: Option<JoinHandle<Result<(), ConnectionError>>>,
}

impl Upload {
    /// Starts posting `chunks` of stream `id` to `client_conn`, in order, after the
    /// REQUEST frame that has already gone.
    pub fn start(
        connections: Arc<dyn Connections>,
        client_conn: &str,
        chunks: Vec<BodyChunk>,
    ) -> Self {
        let task = (!chunks.is_empty()).then(|| {
            let client_conn = client_conn.to_owned();
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
        Self { task }
    }

    /// True while chunks are still being posted.
    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// How the posting ended, if it has. Either way it is over for the exchange's
    /// machine: a post that failed is not the exchange's end, since the answer's
    /// wait notices a client that went away (its liveness probe).
    pub fn try_ended(&mut self) -> Option<UploadEnd> {
        let ended = self.task.as_mut()?.now_or_never()?;
        self.task = None;
        if let Ok(Err(e)) = ended {
            tracing::debug!(error = %e, "request body posting stopped");
        }
        Some(UploadEnd::Finished)
    }

    /// Stops posting: the exchange ended first (its machine sends CANCEL, so the
    /// client stops waiting for the rest).
    pub fn abort(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // An exchange that failed: nothing more goes to the client.
        self.abort();
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
    async fn an_aborted_upload_posts_nothing_more() {
        let connections = Arc::new(SlowConnections {
            sent: Mutex::new(Vec::new()),
            permits: Semaphore::new(1),
        });
        let chunks = ChunkWriter::new().write(7, &[1u8; 3000], true, 1024);
        assert_eq!(chunks.len(), 3);
        let mut upload = Upload::start(connections.clone(), "client", chunks);
        // The first chunk goes; the second waits on the endpoint.
        while posted(&connections).is_empty() {
            tokio::task::yield_now().await;
        }
        assert!(upload.try_ended().is_none(), "still posting");
        upload.abort();
        assert!(!upload.is_running());
        // Nothing more is posted once it was cut, even when the endpoint frees up.
        connections.permits.add_permits(5);
        tokio::task::yield_now().await;
        let sent = posted(&connections);
        assert!(
            matches!(&sent[..], [ServerFrame::Body(c)] if c.seq == 0),
            "{sent:?}"
        );
    }

    #[tokio::test]
    async fn a_body_posted_in_full_ends_the_upload() {
        let connections = Arc::new(SlowConnections {
            sent: Mutex::new(Vec::new()),
            permits: Semaphore::new(10),
        });
        let chunks = ChunkWriter::new().write(7, &[1u8; 3000], true, 1024);
        let mut upload = Upload::start(connections.clone(), "client", chunks);
        let end = loop {
            if let Some(end) = upload.try_ended() {
                break end;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(end, UploadEnd::Finished);
        let sent = posted(&connections);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert!(sent.iter().all(|f| matches!(f, ServerFrame::Body(_))));
        assert!(!Upload::start(connections, "client", Vec::new()).is_running());
    }
}
