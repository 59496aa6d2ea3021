//! The local stack's half of request inspection: a writer task that stores captured
//! exchanges in batches, the live feed they are published on, and the capture handle
//! the ingress fills in as an exchange goes by.
//!
//! Ingress never waits for the store: a finished exchange goes into a bounded queue,
//! and when the queue is full it is dropped and counted rather than slowing traffic.
//! The queue is bounded in bytes too: past [`QUEUE_BYTES`] of captured bodies waiting,
//! an exchange is kept without its bodies (sizes kept, marked truncated).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use client_core::clock::now_ms;
use client_core::inspect::{Exchange, ExchangeSummary, Outcome};
use tokio::sync::{broadcast, mpsc, oneshot};
use tunnel_backend::handlers::inspect::{Recording, body_bytes, strip_bodies};
use tunnel_backend::store::Store;

/// Finished exchanges waiting for the writer.
pub const QUEUE_CAPACITY: usize = 1024;

/// Captured body bytes waiting for the writer, at most. A count alone did not bound
/// memory: the soak test's 2 MB bodies (1 MiB captured each way) filled the queue to
/// 400 MiB while a batch window was open.
pub const QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// Most exchanges the writer stores in one transaction.
pub const WRITE_BATCH: usize = 256;

/// How long the writer waits to fill a batch once one exchange is in: fewer, larger
/// puts, for a log and live feed up to a tenth of a second behind. When each put was
/// a redb commit, 100 ms cut the server's CPU per request by a third (the experiment
/// in docs/benchmarks.md); the embedded store now puts into memory and writes the
/// file behind on its own, so this only groups the puts and the feed's wake-ups.
pub const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);

/// Captured body bytes that end a batch window early: once a batch holds this many,
/// it is stored at once instead of waiting out [`BATCH_WINDOW`]. Small exchanges
/// still batch for the window; large captures (1 MiB each for 10 MiB bodies) no
/// longer wait in the queue a tenth of a second's worth at a time (the server's peak
/// under load -7%, docs/benchmarks.md, "Server tail and memory").
pub const BATCH_BYTES: usize = 1024 * 1024;

/// Live-feed events buffered per subscriber; one that falls further behind skips ahead
/// (and is told how many it missed).
pub const FEED_CAPACITY: usize = 256;

/// What the writer task is handed.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every item is an exchange, queued by value as before; boxing would add an allocation per request for the rare flush's sake"
)]
enum Queued {
    Exchange(Exchange),
    /// Store everything queued before this, then say so (a clean shutdown).
    Flush(oneshot::Sender<()>),
}

/// Storage and publication of captured exchanges.
#[derive(Debug)]
pub struct Inspector {
    queue: mpsc::Sender<Queued>,
    feed: broadcast::Sender<Arc<ExchangeSummary>>,
    dropped: AtomicU64,
    /// Captured body bytes in the queue; shared with the writer, which subtracts.
    queued_bytes: Arc<AtomicUsize>,
    stripped: AtomicU64,
}

/// Captured body bytes of an exchange.
impl Inspector {
    /// Starts the writer task over `store`, keeping `keep` exchanges per tunnel.
    pub fn start(store: Arc<dyn Store>, keep: usize) -> Arc<Self> {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let inspector = Arc::new(Self {
            queue,
            feed: feed.clone(),
            dropped: AtomicU64::new(0),
            queued_bytes: queued_bytes.clone(),
            stripped: AtomicU64::new(0),
        });
        tokio::spawn(write_loop(store, keep, rx, feed, queued_bytes));
        inspector
    }

    /// Queues a finished exchange for storage; drops it when the queue is full.
    pub fn record(&self, mut exchange: Exchange) {
        let mut size = body_bytes(&exchange);
        let queued = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if queued + size > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            strip_bodies(&mut exchange);
            size = 0;
            self.stripped.fetch_add(1, Ordering::Relaxed);
        }
        if self.queue.try_send(Queued::Exchange(exchange)).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands every exchange queued so far to the store, and returns once it has: a
    /// clean shutdown calls it before closing the store, so it loses none.
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.queue.send(Queued::Flush(done)).await.is_ok() {
            let _ = stored.await;
        }
    }

    /// Exchanges stored without their bodies because [`QUEUE_BYTES`] were waiting.
    pub fn stripped(&self) -> u64 {
        self.stripped.load(Ordering::Relaxed)
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
        store.put_exchanges(vec![exchange.clone()], keep).await?;
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
    mut rx: mpsc::Receiver<Queued>,
    feed: broadcast::Sender<Arc<ExchangeSummary>>,
    queued_bytes: Arc<AtomicUsize>,
) {
    let is_flush = |q: &Queued| matches!(q, Queued::Flush(_));
    let bytes_of = |items: &[Queued]| -> usize {
        items
            .iter()
            .map(|q| match q {
                Queued::Exchange(x) => body_bytes(x),
                Queued::Flush(_) => 0,
            })
            .sum()
    };
    let mut items = Vec::with_capacity(WRITE_BATCH);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut items, WRITE_BATCH).await > 0 {
        // Fill the batch for a while, unless someone waits on a flush or it already
        // holds BATCH_BYTES.
        let mut bytes = bytes_of(&items);
        if !items.iter().any(is_flush) && bytes < BATCH_BYTES {
            let _ = tokio::time::timeout(BATCH_WINDOW, async {
                while items.len() < WRITE_BATCH {
                    let seen = items.len();
                    let room = WRITE_BATCH - seen;
                    if rx.recv_many(&mut items, room).await == 0
                        || items[seen..].iter().any(is_flush)
                    {
                        break;
                    }
                    bytes += bytes_of(&items[seen..]);
                    if bytes >= BATCH_BYTES {
                        break;
                    }
                }
            })
            .await;
        }
        for item in items.drain(..) {
            match item {
                Queued::Exchange(x) => batch.push(x),
                Queued::Flush(done) => {
                    store_batch(&*store, keep, &mut batch, &feed, &queued_bytes).await;
                    let _ = done.send(());
                }
            }
        }
        store_batch(&*store, keep, &mut batch, &feed, &queued_bytes).await;
    }
}

/// Stores and publishes `batch`, and empties it.
async fn store_batch(
    store: &dyn Store,
    keep: usize,
    batch: &mut Vec<Exchange>,
    feed: &broadcast::Sender<Arc<ExchangeSummary>>,
    queued_bytes: &AtomicUsize,
) {
    if batch.is_empty() {
        return;
    }
    // The summaries and the byte count first: the batch itself goes to the log.
    let summaries: Vec<_> = batch.iter().map(ExchangeSummary::from).collect();
    let written: usize = batch.iter().map(body_bytes).sum();
    match store.put_exchanges(std::mem::take(batch), keep).await {
        Ok(()) => {
            for s in summaries {
                let _ = feed.send(Arc::new(s));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, lost = summaries.len(), "cannot store captured requests")
        }
    }
    queued_bytes.fetch_sub(written, Ordering::Relaxed);
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
    /// Where a failed outcome is counted (public requests; replays are not).
    metrics: Option<Arc<crate::metrics::Metrics>>,
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

    /// A capture that also counts its outcome, when failed, in `metrics`.
    pub fn counted(
        recording: Recording,
        inspector: Arc<Inspector>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let c = Self::new(recording, inspector);
        c.with(|i| i.metrics = Some(metrics));
        c
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
            metrics: None,
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
        if let (Some(m), Some(kind)) = (
            &self.metrics,
            tunnel_backend::telemetry::error_kind(self.outcome),
        ) {
            m.error(kind);
        }
        let exchange = recording.finish(self.outcome, now_ms());
        match sink {
            Sink::Queue(inspector) => inspector.record(exchange),
            Sink::Replay(done) => {
                let _ = done.send(exchange);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use client_core::inspect::{CapturedBody, Message, Timings};
    use tunnel_backend::store::EmbeddedStore;

    use super::*;

    fn exchange(id: usize, request_bytes: usize) -> Exchange {
        Exchange {
            request_id: format!("req-{id}"),
            tunnel_id: "tun-1".into(),
            replay_of: None,
            inbox_of: None,
            method: "POST".into(),
            path: "/".into(),
            remote_addr: "127.0.0.1:1".into(),
            request: Message {
                headers: vec![],
                body: CapturedBody::full(vec![7; request_bytes]),
            },
            response: None,
            outcome: Outcome::Completed,
            timings: Timings {
                received_ms: 1,
                forwarded_ms: None,
                first_byte_ms: None,
                done_ms: None,
            },
        }
    }

    // current_thread: the writer task cannot run until the test awaits, so the queue
    // holds exactly what was recorded.
    #[tokio::test(flavor = "current_thread")]
    async fn the_queue_keeps_bodies_up_to_its_byte_budget_and_sizes_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let inspector = Inspector::start(store.clone(), 500);
        let mut feed = inspector.subscribe();
        // Exactly at the budget: kept whole.
        let half = QUEUE_BYTES / 2;
        inspector.record(exchange(1, half));
        inspector.record(exchange(2, QUEUE_BYTES - half));
        assert_eq!(inspector.stripped(), 0);
        // One byte over: the record stays, its body goes.
        inspector.record(exchange(3, 1));
        assert_eq!(inspector.stripped(), 1);
        assert_eq!(inspector.dropped(), 0);
        for _ in 0..3 {
            feed.recv().await.unwrap();
        }
        // All three are logged (what the store keeps of their bodies is its own
        // budget's call, `LOG_UNWRITTEN_BYTES`; the stripping is `strip_bodies`).
        assert_eq!(store.count_exchanges("tun-1").await.unwrap(), 3);
        // Stored, the budget is free again.
        inspector.record(exchange(4, QUEUE_BYTES));
        assert_eq!(inspector.stripped(), 1);
    }

    /// Whether an exchange is stored (published) within `within`.
    async fn stored(
        feed: &mut broadcast::Receiver<Arc<ExchangeSummary>>,
        within: std::time::Duration,
    ) -> bool {
        tokio::time::timeout(within, feed.recv()).await.is_ok()
    }

    // current_thread: the writer sees what was recorded only once the test awaits.
    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_of_batch_bytes_is_stored_without_waiting_out_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let inspector = Inspector::start(store.clone(), 500);
        let mut feed = inspector.subscribe();
        // One byte short: held for the window.
        inspector.record(exchange(1, BATCH_BYTES - 1));
        assert!(!stored(&mut feed, BATCH_WINDOW / 10).await);
        // The byte that makes BATCH_BYTES ends the window: both are stored long
        // before it would have ended.
        inspector.record(exchange(2, 1));
        assert!(stored(&mut feed, BATCH_WINDOW / 3).await);
        assert!(stored(&mut feed, BATCH_WINDOW / 3).await);
        // A batch that starts at BATCH_BYTES does not wait at all; one byte short, it
        // waits out the window.
        inspector.record(exchange(3, BATCH_BYTES));
        assert!(stored(&mut feed, BATCH_WINDOW / 3).await);
        inspector.record(exchange(4, BATCH_BYTES - 1));
        assert!(!stored(&mut feed, BATCH_WINDOW / 2).await);
        assert!(stored(&mut feed, BATCH_WINDOW).await);
    }
}
