//! The local stack's half of request inspection: a writer task that stores captured
//! exchanges in batches, the live feed they are published on, and the capture handle
//! the ingress fills in as an exchange goes by.
//!
//! Ingress never waits for the store: a finished exchange goes into a bounded queue,
//! and when the queue is full it is dropped and counted rather than slowing traffic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use client_core::inspect::{Exchange, ExchangeSummary, Outcome};
use tokio::sync::{broadcast, mpsc, oneshot};
use tunnel_backend::handlers::inspect::Recording;
use tunnel_backend::store::Store;

/// Finished exchanges waiting for the writer.
pub const QUEUE_CAPACITY: usize = 1024;

/// Most exchanges the writer stores in one transaction.
pub const WRITE_BATCH: usize = 256;

/// How long the writer waits to fill a batch once one exchange is in: fewer, larger
/// transactions, for a live feed a few milliseconds later.
pub const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

/// Live-feed events buffered per subscriber; one that falls further behind skips ahead
/// (and is told how many it missed).
pub const FEED_CAPACITY: usize = 256;

/// Storage and publication of captured exchanges.
#[derive(Debug)]
pub struct Inspector {
    queue: mpsc::Sender<Exchange>,
    feed: broadcast::Sender<Arc<ExchangeSummary>>,
    dropped: AtomicU64,
}

impl Inspector {
    /// Starts the writer task over `store`, keeping `keep` exchanges per tunnel.
    pub fn start(store: Arc<dyn Store>, keep: usize) -> Arc<Self> {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let inspector = Arc::new(Self {
            queue,
            feed: feed.clone(),
            dropped: AtomicU64::new(0),
        });
        tokio::spawn(write_loop(store, keep, rx, feed));
        inspector
    }

    /// Queues a finished exchange for storage; drops it when the queue is full.
    pub fn record(&self, exchange: Exchange) {
        if self.queue.try_send(exchange).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Exchanges dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stores an exchange now and publishes it (for replays, whose caller reads the
    /// log right after).
    pub async fn record_now(
        &self,
        store: &dyn Store,
        keep: usize,
        exchange: &Exchange,
    ) -> Result<(), tunnel_backend::store::StoreError> {
        store
            .put_exchanges(std::slice::from_ref(exchange), keep)
            .await?;
        let _ = self.feed.send(Arc::new(ExchangeSummary::from(exchange)));
        Ok(())
    }

    /// New exchanges of every tunnel, as they are stored.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ExchangeSummary>> {
        self.feed.subscribe()
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    keep: usize,
    mut rx: mpsc::Receiver<Exchange>,
    feed: broadcast::Sender<Arc<ExchangeSummary>>,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let _ = tokio::time::timeout(BATCH_WINDOW, async {
            while batch.len() < WRITE_BATCH {
                let room = WRITE_BATCH - batch.len();
                if rx.recv_many(&mut batch, room).await == 0 {
                    break;
                }
            }
        })
        .await;
        match store.put_exchanges(&batch, keep).await {
            Ok(()) => {
                for x in &batch {
                    let _ = feed.send(Arc::new(ExchangeSummary::from(x)));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, lost = batch.len(), "cannot store captured requests")
            }
        }
        batch.clear();
    }
}

/// Where a finished capture goes.
enum Sink {
    /// The writer queue.
    Queue(Arc<Inspector>),
    /// A replay waiting for its result.
    Replay(oneshot::Sender<Exchange>),
}

struct Inner {
    recording: Option<Recording>,
    outcome: Outcome,
    sink: Option<Sink>,
}

/// An exchange being captured, shared by the tasks that see its parts (the request
/// pump, the response stream). When the last holder drops it, it is finished with the
/// outcome last set, which starts as "the public client went away": any path that
/// ends an exchange normally says otherwise.
#[derive(Clone)]
pub struct Capture(Arc<Mutex<Inner>>);

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture(..)")
    }
}

impl Capture {
    /// A capture stored by `inspector` when done.
    pub fn new(recording: Recording, inspector: Arc<Inspector>) -> Self {
        Self::with_sink(recording, Sink::Queue(inspector))
    }

    /// A capture handed to `done` when finished (a replay).
    pub fn for_replay(recording: Recording, done: oneshot::Sender<Exchange>) -> Self {
        Self::with_sink(recording, Sink::Replay(done))
    }

    fn with_sink(recording: Recording, sink: Sink) -> Self {
        Self(Arc::new(Mutex::new(Inner {
            recording: Some(recording),
            outcome: Outcome::ClientDisconnected,
            sink: Some(sink),
        })))
    }

    fn with(&self, f: impl FnOnce(&mut Inner)) {
        // A poisoned lock means a panic mid-update: the record is lost, traffic is not.
        if let Ok(mut inner) = self.0.lock() {
            f(&mut inner);
        }
    }

    /// See [`Recording::hide_share_token`].
    pub fn hide_share_token(&self, admitted_path: Option<&str>) {
        self.with(|i| {
            if let Some(r) = &mut i.recording {
                r.hide_share_token(admitted_path);
            }
        });
    }

    /// See [`Recording::request_body`].
    pub fn request_body(&self, data: &[u8]) {
        self.with(|i| {
            if let Some(r) = &mut i.recording {
                r.request_body(data);
            }
        });
    }

    /// See [`Recording::forwarded`].
    pub fn forwarded(&self) {
        let now = now_ms();
        self.with(|i| {
            if let Some(r) = &mut i.recording {
                r.forwarded(now);
            }
        });
    }

    /// See [`Recording::response_head`].
    pub fn response_head(&self, status: u16, headers: &client_core::protocol::Headers) {
        let now = now_ms();
        self.with(|i| {
            if let Some(r) = &mut i.recording {
                r.response_head(status, headers, now);
            }
        });
    }

    /// See [`Recording::response_body`].
    pub fn response_body(&self, data: &[u8]) {
        self.with(|i| {
            if let Some(r) = &mut i.recording {
                r.response_body(data);
            }
        });
    }

    /// How the exchange ended, unless something later says otherwise.
    pub fn outcome(&self, outcome: Outcome) {
        self.with(|i| i.outcome = outcome);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let (Some(recording), Some(sink)) = (self.recording.take(), self.sink.take()) else {
            return;
        };
        let exchange = recording.finish(self.outcome, now_ms());
        match sink {
            Sink::Queue(inspector) => inspector.record(exchange),
            Sink::Replay(done) => {
                let _ = done.send(exchange);
            }
        }
    }
}

/// Unix milliseconds, the inspector's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
