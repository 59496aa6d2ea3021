//! The request log's table in the file, and the writer that keeps it behind the log in
//! memory ([`MemLog`]).
//!
//! One row per exchange, keyed `tunnel_id/request_id` (so a tunnel's log is one key
//! range, oldest first), in [`log_codec`](super::log_codec)'s encoding. The table is
//! written only by [`flush`]: once per [`LOG_WRITE_BEHIND_MS`] by the writer thread,
//! sooner when the memory budget is reached, and on [`EmbeddedStore::flush_log`] and
//! drop. Each write is one transaction holding the store's writer lock, so it cannot
//! land between a purge of a tunnel's log and the clearing of that log in memory (it
//! would write back what was just removed).
//!
//! [`EmbeddedStore::flush_log`]: super::EmbeddedStore::flush_log

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use client_core::inspect::Exchange;
use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::memlog::{Batch, MemLog, Trim};
use super::{LOG_WRITE_BEHIND_MS, backend, log_codec, log_key, log_range};
use crate::store::StoreError;

/// The request log. Named anew for the compact encoding: a file of an older version
/// has its log in other tables (see `log_migrate`).
pub(super) const LOG: TableDefinition<&str, &[u8]> = TableDefinition::new("request_log_v2");

/// Reads every row's summary into `log`; answers how many rows could not be read
/// (they are left in the file, and trimmed with their tunnel's log in time).
pub(super) fn load(db: &Database, log: &mut MemLog) -> Result<usize, StoreError> {
    let tx = db.begin_read().map_err(backend)?;
    let table = tx.open_table(LOG).map_err(backend)?;
    let mut unreadable = 0;
    for row in table.iter().map_err(backend)? {
        let (_, value) = row.map_err(backend)?;
        match log_codec::decode_summary(value.value()) {
            Ok(summary) => log.load(summary),
            Err(_) => unreadable += 1,
        }
    }
    Ok(unreadable)
}

/// One exchange from the file.
pub(super) fn read(
    tx: &ReadTransaction,
    tunnel_id: &str,
    request_id: &str,
) -> Result<Option<Exchange>, StoreError> {
    let table = tx.open_table(LOG).map_err(backend)?;
    let row = table
        .get(log_key(tunnel_id, request_id).as_str())
        .map_err(backend)?;
    row.map(|v| log_codec::decode(v.value())).transpose()
}

/// How many rows a tunnel's log has in the file.
pub(super) fn count(tx: &ReadTransaction, tunnel_id: &str) -> Result<u64, StoreError> {
    let (start, end) = log_range(tunnel_id);
    let table = tx.open_table(LOG).map_err(backend)?;
    let mut n = 0;
    for row in table.range(start.as_str()..end.as_str()).map_err(backend)? {
        row.map_err(backend)?;
        n += 1;
    }
    Ok(n)
}

/// Removes a tunnel's rows.
pub(super) fn clear(tx: &WriteTransaction, tunnel_id: &str) -> Result<(), StoreError> {
    let (start, end) = log_range(tunnel_id);
    tx.open_table(LOG)
        .map_err(backend)?
        .retain_in(start.as_str()..end.as_str(), |_, _| false)
        .map_err(backend)
}

/// Writes `batch` in `tx`: each tunnel's trim as one range removal, then its new rows.
fn write(tx: &WriteTransaction, batch: &Batch) -> Result<(), StoreError> {
    let mut table = tx.open_table(LOG).map_err(backend)?;
    for t in &batch.tunnels {
        let (start, end) = log_range(&t.tunnel_id);
        let end = match &t.trim {
            None => None,
            Some(Trim::All) => Some(end),
            Some(Trim::Below(id)) => Some(log_key(&t.tunnel_id, id)),
        };
        if let Some(end) = end {
            table
                .retain_in(start.as_str()..end.as_str(), |_, _| false)
                .map_err(backend)?;
        }
        for (_, x) in &t.puts {
            table
                .insert(
                    log_key(&x.tunnel_id, &x.request_id).as_str(),
                    log_codec::encode(x)?.as_slice(),
                )
                .map_err(backend)?;
        }
    }
    Ok(())
}

/// The log in memory and what its writer thread is told.
#[derive(Debug)]
pub(super) struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// The log's clock for its body rate (monotonic).
    since: Instant,
}

#[derive(Debug)]
struct State {
    log: MemLog,
    /// The memory budget is reached: write now rather than at the window's end.
    early: bool,
    /// The store is closing: write what is owed and end.
    stop: bool,
}

impl Shared {
    pub(super) fn new(log: MemLog) -> Self {
        Self {
            state: Mutex::new(State {
                log,
                early: false,
                stop: false,
            }),
            wake: Condvar::new(),
            since: Instant::now(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic mid-update leaves a log that may lack an exchange, not a broken one.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the log in memory.
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut MemLog) -> T) -> T {
        f(&mut self.state().log)
    }

    /// Puts exchanges in the log, waking the writer if they took it past its budget.
    pub(super) fn put(&self, exchanges: &[Exchange], keep: usize) {
        let mut state = self.state();
        if state.log.put(exchanges, keep) && !state.early {
            state.early = true;
            self.wake.notify_one();
        }
    }
}

/// Writes what the file lacks, in one transaction; answers how many exchanges it
/// wrote. `writer` is the store's writer lock.
pub(super) fn flush(
    db: &Database,
    writer: &Mutex<()>,
    shared: &Shared,
) -> Result<usize, StoreError> {
    let _writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
    let now_ms = u64::try_from(shared.since.elapsed().as_millis()).unwrap_or(u64::MAX);
    let batch = shared.with(|log| log.take_batch(now_ms));
    if batch.is_empty() {
        return Ok(0);
    }
    let written = (|| {
        let tx = db.begin_write().map_err(backend)?;
        write(&tx, &batch)?;
        tx.commit().map_err(backend)
    })();
    match written {
        Ok(()) => {
            shared.with(|log| log.written(&batch));
            Ok(batch.puts())
        }
        Err(e) => {
            shared.with(|log| log.failed(&batch));
            Err(e)
        }
    }
}

/// The thread that writes the log behind; stopped and joined on drop, after a last
/// write.
#[derive(Debug)]
pub(super) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(
        db: Arc<Database>,
        writer: Arc<Mutex<()>>,
        shared: Arc<Shared>,
    ) -> Result<Self, StoreError> {
        let own = shared.clone();
        let thread = std::thread::Builder::new()
            .name("request-log".into())
            .spawn(move || run(&db, &writer, &own))
            .map_err(|e| StoreError::Backend(format!("cannot start the log writer: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }
}

fn run(db: &Database, writer: &Mutex<()>, shared: &Shared) {
    let window = Duration::from_millis(LOG_WRITE_BEHIND_MS);
    loop {
        let stop = {
            let state = shared.state();
            let (mut state, _) = shared
                .wake
                .wait_timeout_while(state, window, |s| !s.stop && !s.early)
                .unwrap_or_else(PoisonError::into_inner);
            state.early = false;
            state.stop
        };
        if let Err(e) = flush(db, writer, shared) {
            // Kept in memory and tried again next window; the log still answers.
            tracing::warn!(error = %e, "cannot write the request log to the store");
        }
        if stop {
            return;
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.state().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
