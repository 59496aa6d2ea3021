//! One function's pool of instances: taking a warm one or starting one (or
//! throttling), running an invocation against its timeouts, giving the instance back,
//! and counting what happened ([`FunctionStats`]). The account's concurrency, shared
//! by every pool, is an [`Account`] whose [`Slot`]s each invocation holds to its end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at};

use super::instance::{self, Instance, KillReason};
use super::{FunctionSpec, Invocation, InvokeError, StreamError, ThrottleReason, lock};
use crate::limits::Limits;

/// Events a job's invoker may receive: pickup, an outcome, and for streams the end.
const EVENT_QUEUE: usize = 8;

/// Invocations running now across every function, against the account's limit.
#[derive(Debug)]
pub(super) struct Account {
    busy: AtomicUsize,
    limit: usize,
}

/// One invocation's share of the account's concurrency, given back when dropped
/// (when the invocation ends: its answer, its error, or its stream's last byte).
#[derive(Debug)]
struct Slot(Arc<Account>);

impl Account {
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            busy: AtomicUsize::new(0),
            limit,
        })
    }

    fn take(self: &Arc<Self>) -> Option<Slot> {
        self.busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counters of one function. Durations run from the runtime's pickup of the event to
/// its answer (the end of the stream for streamed responses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FunctionStats {
    /// Invocations given to an instance (throttled and oversized requests are not).
    pub invocations: u64,
    /// Invocations that failed: function errors, timeouts, crashes, oversized
    /// responses, streams that ended in an error.
    pub errors: u64,
    /// Invocations refused at the concurrency limit.
    pub throttles: u64,
    /// Of the errors, timeouts.
    pub timeouts: u64,
    /// Instances started.
    pub cold_starts: u64,
    /// Instances running now.
    pub instances: u64,
    /// Of those, instances serving an invocation now (a streamed one until its body
    /// has been sent).
    pub busy: u64,
    /// Sum of invocation durations, in milliseconds.
    pub total_duration_ms: u64,
    /// Longest invocation, in milliseconds.
    pub max_duration_ms: u64,
}

/// What the per-instance Runtime API tells the invoker.
#[derive(Debug)]
pub(crate) enum Event {
    /// The runtime took the event from `/next`; the deadline counts from here.
    Picked(Instant),
    /// A buffered response.
    Buffered(Bytes),
    /// A streamed response has begun.
    Streamed {
        prelude: Option<Bytes>,
        body: mpsc::Receiver<Result<Bytes, StreamError>>,
    },
    /// The runtime finished sending a streamed response; `ok` is false when the body
    /// ended in an error.
    StreamDone { ok: bool },
    /// The invocation failed while the instance lives on.
    Failed(InvokeError),
    /// The instance is gone.
    Exited(InvokeError),
}

/// One invocation waiting for, or held by, an instance.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    pub(crate) events: mpsc::Sender<Event>,
}

/// What an instance and its Runtime API need to know about their function.
#[derive(Debug)]
pub(crate) struct FunctionCtx {
    pub(crate) spec: FunctionSpec,
    pub(crate) arn: String,
    pub(crate) limits: Limits,
}

#[derive(Debug, Default)]
struct PoolState {
    /// Instances between invocations, most recently used last.
    idle: Vec<Arc<Instance>>,
    /// Every running instance, idle or busy.
    live: BTreeMap<u64, Arc<Instance>>,
    /// Instances being started (they count toward the concurrency limit).
    starting: usize,
    next_id: u64,
    closed: bool,
}

/// One function's instances and counters.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) ctx: Arc<FunctionCtx>,
    account: Arc<Account>,
    state: Mutex<PoolState>,
    stats: Mutex<FunctionStats>,
}

impl Pool {
    pub(super) fn new(spec: FunctionSpec, limits: Limits, account: Arc<Account>) -> Self {
        let arn = spec.arn();
        Self {
            ctx: Arc::new(FunctionCtx { spec, arn, limits }),
            account,
            state: Mutex::default(),
            stats: Mutex::default(),
        }
    }

    pub(super) fn stats(&self) -> FunctionStats {
        let mut stats = lock(&self.stats).clone();
        let state = lock(&self.state);
        stats.instances = state.live.len() as u64;
        stats.busy = state.live.len().saturating_sub(state.idle.len()) as u64;
        stats
    }

    fn count(&self, f: impl FnOnce(&mut FunctionStats)) {
        f(&mut lock(&self.stats));
    }

    /// Records the end of an invocation that reached its runtime.
    fn record(&self, picked: Option<Instant>, ok: bool) {
        let ms = picked.map_or(0, |t| {
            u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
        });
        self.count(|s| {
            if !ok {
                s.errors += 1;
            }
            s.total_duration_ms = s.total_duration_ms.saturating_add(ms);
            s.max_duration_ms = s.max_duration_ms.max(ms);
        });
    }

    fn record_timeout(&self, picked: Instant) {
        self.record(Some(picked), false);
        self.count(|s| s.timeouts += 1);
    }

    fn throttled(&self, limit: usize, reason: ThrottleReason) -> InvokeError {
        self.count(|s| s.throttles += 1);
        InvokeError::Throttled {
            function: self.ctx.spec.name.clone(),
            limit,
            reason,
        }
    }

    /// An idle instance, or a new one (a cold start), with the invocation's share of
    /// the account's concurrency; or a throttle.
    fn acquire(self: &Arc<Self>) -> Result<(Arc<Instance>, Slot), InvokeError> {
        let slot = self
            .account
            .take()
            .ok_or_else(|| self.throttled(self.account.limit, ThrottleReason::Account))?;
        let id = {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(InvokeError::ShutDown);
            }
            while let Some(instance) = st.idle.pop() {
                if instance.usable() {
                    return Ok((instance, slot));
                }
            }
            if st.live.len() + st.starting >= self.ctx.spec.max_concurrency {
                drop(st);
                return Err(self.throttled(self.ctx.spec.max_concurrency, ThrottleReason::Function));
            }
            // Reserve the slot before starting the process outside the lock, so two
            // concurrent invokes cannot both take the last one.
            st.starting += 1;
            st.next_id += 1;
            st.next_id
        };
        let started = instance::spawn(self, id);
        let mut st = lock(&self.state);
        st.starting -= 1;
        let instance = started?;
        if st.closed {
            drop(st);
            instance.kill(KillReason::Shutdown);
            return Err(InvokeError::ShutDown);
        }
        st.live.insert(id, Arc::clone(&instance));
        drop(st);
        self.count(|s| s.cold_starts += 1);
        Ok((instance, slot))
    }

    /// Puts an instance back after an invocation, unless it is dying.
    fn release(&self, instance: Arc<Instance>) {
        let mut st = lock(&self.state);
        if !st.closed && instance.usable() && st.live.contains_key(&instance.id) {
            st.idle.push(instance);
        }
    }

    /// Forgets an instance whose process has ended (called by its monitor).
    pub(crate) fn remove(&self, instance: &Instance) {
        let mut st = lock(&self.state);
        instance.mark_exited();
        st.live.remove(&instance.id);
        st.idle.retain(|i| i.id != instance.id);
    }

    pub(super) async fn invoke(
        self: &Arc<Self>,
        payload: Bytes,
    ) -> Result<Invocation, InvokeError> {
        let limit = self.ctx.limits.max_request_bytes;
        if payload.len() > limit {
            return Err(InvokeError::RequestTooLarge {
                size: payload.len(),
                limit,
            });
        }
        let (instance, slot) = self.acquire()?;
        // The rest runs in a task of its own, so that a caller who stops waiting (a
        // timeout around this call, a client gone) neither leaks the instance nor
        // skips the counters: the function runs to its end, as on Lambda, and the
        // instance goes back to the pool.
        let pool = Arc::clone(self);
        let run = tokio::spawn(async move { pool.run(instance, payload, slot).await });
        run.await.unwrap_or_else(|e| {
            Err(InvokeError::Crashed {
                status: format!("the emulator's invocation task failed: {e}"),
            })
        })
    }

    /// Runs one invocation; `slot` is held until it ends (for a stream, until its
    /// body has been sent).
    async fn run(
        self: &Arc<Self>,
        instance: Arc<Instance>,
        payload: Bytes,
        slot: Slot,
    ) -> Result<Invocation, InvokeError> {
        self.count(|s| s.invocations += 1);
        let (events_tx, mut events) = mpsc::channel(EVENT_QUEUE);
        let job = Job {
            request_id: new_request_id(),
            payload,
            events: events_tx,
        };
        if instance.submit(job).is_err() {
            // The instance died between being idle and now; its monitor cleans up.
            self.record(None, false);
            return Err(InvokeError::Crashed {
                status: "the instance ended before taking the event".into(),
            });
        }

        let init_timeout = self.ctx.limits.init_timeout;
        let picked = match timeout(init_timeout, events.recv()).await {
            Ok(Some(Event::Picked(at))) => at,
            Ok(Some(Event::Exited(err) | Event::Failed(err))) => {
                self.record(None, false);
                return Err(err);
            }
            Ok(Some(other)) => {
                instance.kill(KillReason::Protocol);
                self.record(None, false);
                return Err(InvokeError::InvalidResponse(format!(
                    "an answer ({other:?}) before the event was taken"
                )));
            }
            Ok(None) => {
                self.record(None, false);
                return Err(lost());
            }
            Err(_) => {
                instance.kill(KillReason::InitTimeout);
                self.record(None, false);
                return Err(InvokeError::InitTimeout(init_timeout));
            }
        };

        let deadline = tokio::time::Instant::from_std(picked + self.ctx.spec.timeout);
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Buffered(body))) => {
                self.record(Some(picked), true);
                self.release(instance);
                Ok(Invocation::Buffered(body))
            }
            Ok(Some(Event::Failed(err))) => {
                self.record(Some(picked), false);
                self.release(instance);
                Err(err)
            }
            Ok(Some(Event::Streamed { prelude, body })) => {
                // The caller reads the body at its own pace; this task keeps the
                // deadline and gives the instance back when the runtime is done.
                let pool = Arc::clone(self);
                tokio::spawn(async move {
                    pool.watch_stream(instance, events, picked, deadline).await;
                    drop(slot);
                });
                Ok(Invocation::Streamed { prelude, body })
            }
            Ok(Some(Event::Exited(err))) => {
                self.record(Some(picked), false);
                Err(err)
            }
            Ok(Some(other)) => {
                instance.kill(KillReason::Protocol);
                self.record(Some(picked), false);
                Err(InvokeError::InvalidResponse(format!(
                    "unexpected {other:?}"
                )))
            }
            Ok(None) => {
                self.record(Some(picked), false);
                Err(lost())
            }
            Err(_) => {
                instance.kill(KillReason::Timeout);
                self.record_timeout(picked);
                Err(InvokeError::Timeout(self.ctx.spec.timeout))
            }
        }
    }

    async fn watch_stream(
        &self,
        instance: Arc<Instance>,
        mut events: mpsc::Receiver<Event>,
        picked: Instant,
        deadline: tokio::time::Instant,
    ) {
        loop {
            match timeout_at(deadline, events.recv()).await {
                Ok(Some(Event::StreamDone { ok })) => {
                    self.record(Some(picked), ok);
                    self.release(instance);
                    return;
                }
                Ok(Some(Event::Exited(_)) | None) => {
                    self.record(Some(picked), false);
                    return;
                }
                Ok(Some(_)) => {}
                Err(_) => {
                    // The stream task sees the connection drop and reports the
                    // timeout to the reader (it checks the kill reason).
                    instance.kill(KillReason::Timeout);
                    self.record_timeout(picked);
                    return;
                }
            }
        }
    }

    /// Refuses new work and kills every instance.
    pub(super) fn close(&self) -> Vec<Arc<Instance>> {
        let live: Vec<_> = {
            let mut st = lock(&self.state);
            st.closed = true;
            st.idle.clear();
            st.live.values().cloned().collect()
        };
        for instance in &live {
            instance.kill(KillReason::Shutdown);
        }
        live
    }
}

fn lost() -> InvokeError {
    InvokeError::Crashed {
        status: "the instance went away".into(),
    }
}

/// A random UUID (version 4), the form of Lambda's request ids.
fn new_request_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_v4_uuids() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, new_request_id());
    }
}
