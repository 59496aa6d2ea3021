//! The Lambda Runtime API emulator: real bootstrap binaries as child processes.
//!
//! [`Functions`] holds one pool per function. Invoking a function takes an idle
//! instance (a running bootstrap waiting in `GET /next`), or starts one when none is
//! idle and the function is below its `max_concurrency`, or fails at once with a
//! throttle (Lambda's `TooManyRequestsException`) when it is at it, or when the
//! invocations running across all functions are at [`Limits::account_concurrency`]
//! (the account's concurrency, which Lambda counts the same way). One instance serves
//! one invocation at a time, as on Lambda.
//!
//! Each instance gets its own Runtime API server on `127.0.0.1:0`, like the per-sandbox
//! endpoint of AWS: everything that arrives on it is from that process, so a timeout
//! can kill exactly the process that overran, and a crash fails exactly the invocation
//! it was serving.
//!
//! An invocation's life, seen from [`Functions::invoke`]:
//!
//! 1. the payload is checked against [`Limits::max_request_bytes`];
//! 2. an instance is taken (warm) or started (cold start), or the call is throttled;
//! 3. the job waits in the instance's queue until its runtime calls `/next` (at most
//!    [`Limits::init_timeout`]); the function's timeout runs from that moment;
//! 4. the runtime answers on `/response` (buffered or streamed) or `/error`, or the
//!    process exits, or the timeout kills it.
//!
//! A streamed response is handed to the caller as soon as its prelude has arrived; the
//! rest flows through a bounded channel, and the instance becomes idle again only when
//! the runtime has finished sending (or is killed at the deadline).

mod api;
mod instance;
mod logs;
mod stream;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at};

use crate::limits::{self, Limits};
use instance::{Instance, KillReason};

pub use stream::StreamError;

/// The account id in every ARN the emulator makes: AWS's documentation example
/// account, which moto uses too.
pub const ACCOUNT_ID: &str = "123456789012";

/// The region a function runs in when its spec's environment sets no `AWS_REGION`.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Events a job's invoker may receive: pickup, an outcome, and for streams the end.
const EVENT_QUEUE: usize = 8;

/// One Lambda function: which binary to run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`, the ARN, the log prefix).
    pub name: String,
    /// The bootstrap executable.
    pub binary: PathBuf,
    /// Environment variables set on the function (they override the emulator's own
    /// `AWS_*` defaults, like `AWS_REGION`). Nothing else of the emulator's environment
    /// is passed on: a Lambda sandbox starts from a clean one.
    pub env: Vec<(String, String)>,
    /// The function timeout, from 1 s to 15 min.
    pub timeout: Duration,
    /// Memory setting (only reported to the function; not enforced).
    pub memory_mb: u32,
    /// Reserved concurrency: the most instances that may run at once. (Within the
    /// account's [`Limits::account_concurrency`], which all functions share.)
    pub max_concurrency: usize,
}

impl FunctionSpec {
    /// A spec with Lambda's defaults: 3 s timeout, 128 MB, and a concurrency of 10.
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            env: Vec::new(),
            timeout: Duration::from_secs(3),
            memory_mb: limits::MIN_MEMORY_MB,
            max_concurrency: 10,
        }
    }

    /// The region the function runs in: its `AWS_REGION`, or [`DEFAULT_REGION`].
    pub fn region(&self) -> &str {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == "AWS_REGION")
            .map_or(DEFAULT_REGION, |(_, v)| v.as_str())
    }

    /// The function's unqualified ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{ACCOUNT_ID}:function:{}",
            self.region(),
            self.name
        )
    }

    fn validate(&self) -> Result<(), EmulatorError> {
        let invalid = |reason: String| EmulatorError::InvalidSpec {
            name: self.name.clone(),
            reason,
        };
        // Lambda's function-name pattern, so a name that works here works there.
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid(
                "a function name is 1-64 characters of letters, digits, '-' and '_'".into(),
            ));
        }
        if !self.binary.is_file() {
            return Err(invalid(format!("{} is not a file", self.binary.display())));
        }
        if !(limits::MIN_FUNCTION_TIMEOUT..=limits::MAX_FUNCTION_TIMEOUT).contains(&self.timeout) {
            return Err(invalid(format!(
                "timeout {:?} is outside Lambda's 1 s to 900 s",
                self.timeout
            )));
        }
        if !(limits::MIN_MEMORY_MB..=limits::MAX_MEMORY_MB).contains(&self.memory_mb) {
            return Err(invalid(format!(
                "memory {} MB is outside Lambda's 128 to 10240 MB",
                self.memory_mb
            )));
        }
        if self.max_concurrency == 0 {
            return Err(invalid("max_concurrency must be at least 1".into()));
        }
        Ok(())
    }
}

/// Why [`Functions::start`] refused its specs.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A spec is not something Lambda would accept, or its binary is missing.
    #[error("function {name:?}: {reason}")]
    InvalidSpec {
        /// The function.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two specs share a name.
    #[error("function {0:?} is defined twice")]
    Duplicate(String),
    /// The [`Limits`] cannot be met by any invocation.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
}

/// Why an invocation failed. [`InvokeError::error_type`] gives the name AWS uses.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// No function of that name.
    #[error("ResourceNotFoundException: no function named {0:?}")]
    UnknownFunction(String),
    /// The payload is over [`Limits::max_request_bytes`]; nothing ran.
    #[error("RequestTooLargeException: the payload is {size} bytes, over the {limit}-byte limit")]
    RequestTooLarge {
        /// Payload size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Every instance the function may have is busy, or the account's concurrency is
    /// used up (Lambda answers 429).
    #[error("TooManyRequestsException ({}): {function} is at its limit of {limit} concurrent invocations", reason.aws_name())]
    Throttled {
        /// The function.
        function: String,
        /// The limit it met (the function's, or the account's).
        limit: usize,
        /// Which limit.
        reason: ThrottleReason,
    },
    /// The function reported an error (`/error`, or a panic caught by its runtime).
    #[error("function error {error_type}: {error_message}")]
    Function {
        /// `errorType` of the error document, else the runtime's error-type header.
        error_type: String,
        /// `errorMessage` of the error document, if it had one.
        error_message: String,
        /// The error document as the runtime sent it.
        payload: Bytes,
    },
    /// The buffered response is over [`Limits::max_buffered_response_bytes`].
    #[error("Function.ResponseSizeTooLarge: the response is over the {limit}-byte limit")]
    ResponseTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The function ran past its timeout; its instance was killed.
    #[error("Sandbox.Timedout: the task timed out after {0:?}")]
    Timeout(Duration),
    /// A new instance did not ask for its first event within the Init limit.
    #[error("Runtime.InitTimeout: the runtime did not ask for an event within {0:?}")]
    InitTimeout(Duration),
    /// The runtime reported an initialisation error (`/init/error`).
    #[error("init error {error_type}: {error_message}")]
    Init {
        /// The error type.
        error_type: String,
        /// Its message, if the document had one.
        error_message: String,
        /// The error document.
        payload: Bytes,
    },
    /// The process exited (or crashed) before answering.
    #[error("Runtime.ExitError: the runtime exited before answering ({status})")]
    Crashed {
        /// How it ended, e.g. `exit status: 3` or `signal: 9 (SIGKILL)`.
        status: String,
    },
    /// The runtime broke the streaming contract (e.g. no prelude delimiter).
    #[error("Runtime.InvalidResponse: {0}")]
    InvalidResponse(String),
    /// The binary could not be started.
    #[error("cannot start {binary}: {reason}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS's reason.
        reason: String,
    },
    /// [`Functions::shutdown`] has begun.
    #[error("the emulator is shutting down")]
    ShutDown,
}

/// Which concurrency limit refused an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// The function's own (reserved) concurrency.
    Function,
    /// The account's concurrency, shared by all functions.
    Account,
}

impl ThrottleReason {
    /// The `Reason` Lambda gives in its `TooManyRequestsException`.
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::Function => "ReservedFunctionConcurrentInvocationLimitExceeded",
            Self::Account => "ConcurrentInvocationLimitExceeded",
        }
    }
}

/// Invocations running now across every function, against the account's limit.
#[derive(Debug)]
struct Account {
    busy: AtomicUsize,
    limit: usize,
}

/// One invocation's share of the account's concurrency, given back when dropped
/// (when the invocation ends: its answer, its error, or its stream's last byte).
#[derive(Debug)]
struct Slot(Arc<Account>);

impl Account {
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

impl InvokeError {
    /// The error name AWS reports for this failure: the Invoke API's exception name
    /// for failures before the function runs, the function error type otherwise.
    pub fn error_type(&self) -> &str {
        match self {
            Self::UnknownFunction(_) => "ResourceNotFoundException",
            Self::RequestTooLarge { .. } => "RequestTooLargeException",
            Self::Throttled { .. } => "TooManyRequestsException",
            Self::Function { error_type, .. } | Self::Init { error_type, .. } => error_type,
            Self::ResponseTooLarge { .. } => "Function.ResponseSizeTooLarge",
            Self::Timeout(_) => "Sandbox.Timedout",
            Self::InitTimeout(_) => "Runtime.InitTimeout",
            Self::Crashed { .. } => "Runtime.ExitError",
            Self::InvalidResponse(_) => "Runtime.InvalidResponse",
            Self::Spawn { .. } | Self::ShutDown => "ServiceException",
        }
    }

    /// The status the Lambda Invoke API answers with. Function-side failures are 200
    /// with `X-Amz-Function-Error` on AWS; callers that map to HTTP (a Function URL
    /// gives 502 for them) decide that themselves from [`Self::is_function_error`].
    pub fn invoke_status(&self) -> u16 {
        match self {
            Self::UnknownFunction(_) => 404,
            Self::RequestTooLarge { .. } => 413,
            Self::Throttled { .. } => 429,
            Self::Spawn { .. } | Self::ShutDown => 500,
            _ => 200,
        }
    }

    /// True when the function ran and failed (as opposed to never running).
    pub fn is_function_error(&self) -> bool {
        self.invoke_status() == 200
    }
}

/// What an invocation returned.
#[derive(Debug)]
pub enum Invocation {
    /// A buffered response: the runtime's whole POST body.
    Buffered(Bytes),
    /// A streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`).
    Streamed {
        /// For `application/vnd.awslambda.http-integration-response` streams, the
        /// JSON prelude (`statusCode`, `headers`, `cookies`) before the 8 NULs; see
        /// [`crate::function_url::Head::prelude`]. `None` for other content types.
        prelude: Option<Bytes>,
        /// The body. It ends after the last chunk, or with one `Err` (a function error
        /// trailer, the size cap, the timeout, or the process dying). Dropping the
        /// receiver lets the function finish unheard, as a client hanging up does.
        body: mpsc::Receiver<Result<Bytes, StreamError>>,
    },
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

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical
/// section here is a few assignments), so poisoning is ignored rather than spread.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Pool {
    fn new(spec: FunctionSpec, limits: Limits, account: Arc<Account>) -> Self {
        let arn = spec.arn();
        Self {
            ctx: Arc::new(FunctionCtx { spec, arn, limits }),
            account,
            state: Mutex::default(),
            stats: Mutex::default(),
        }
    }

    fn stats(&self) -> FunctionStats {
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

    async fn invoke(self: &Arc<Self>, payload: Bytes) -> Result<Invocation, InvokeError> {
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
    fn close(&self) -> Vec<Arc<Instance>> {
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

/// Every emulated function, each with its pool of instances.
#[derive(Debug)]
pub struct Functions {
    pools: BTreeMap<String, Arc<Pool>>,
}

impl Functions {
    /// Checks the specs and sets up the pools, with AWS's [`Limits`]. No process starts
    /// here: the first invocation of each function is its cold start, as on Lambda.
    pub async fn start(specs: Vec<FunctionSpec>) -> Result<Self, EmulatorError> {
        Self::start_with_limits(specs, Limits::default()).await
    }

    /// [`Self::start`] with other limits.
    pub async fn start_with_limits(
        specs: Vec<FunctionSpec>,
        limits: Limits,
    ) -> Result<Self, EmulatorError> {
        if limits.account_concurrency == 0 {
            return Err(EmulatorError::InvalidLimits(
                "account_concurrency must be at least 1".into(),
            ));
        }
        let account = Arc::new(Account {
            busy: AtomicUsize::new(0),
            limit: limits.account_concurrency,
        });
        let mut pools = BTreeMap::new();
        for spec in specs {
            spec.validate()?;
            let name = spec.name.clone();
            if pools.contains_key(&name) {
                return Err(EmulatorError::Duplicate(name));
            }
            pools.insert(
                name,
                Arc::new(Pool::new(spec, limits.clone(), Arc::clone(&account))),
            );
        }
        Ok(Self { pools })
    }

    /// Invokes `name` synchronously (RequestResponse) with `payload` as the event.
    pub async fn invoke(&self, name: &str, payload: Vec<u8>) -> Result<Invocation, InvokeError> {
        let pool = self
            .pools
            .get(name)
            .ok_or_else(|| InvokeError::UnknownFunction(name.to_owned()))?;
        pool.invoke(Bytes::from(payload)).await
    }

    /// The functions' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pools.keys().map(String::as_str)
    }

    /// The counters of every function, by name.
    pub fn stats(&self) -> BTreeMap<String, FunctionStats> {
        self.pools
            .iter()
            .map(|(name, pool)| (name.clone(), pool.stats()))
            .collect()
    }

    /// Kills every instance and waits until each process has been reaped.
    /// In-flight invocations fail.
    pub async fn shutdown(self) {
        let instances: Vec<_> = self.pools.values().flat_map(|p| p.close()).collect();
        for instance in instances {
            instance.wait_exited().await;
        }
    }
}

impl Drop for Functions {
    /// Without [`Functions::shutdown`], the processes are still killed (their monitors
    /// reap them if the runtime lives on; `kill_on_drop` covers the rest).
    fn drop(&mut self) {
        for pool in self.pools.values() {
            pool.close();
        }
    }
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

    #[test]
    fn region_and_arn_come_from_the_spec() {
        let mut spec = FunctionSpec::new("f", "/bin/true");
        assert_eq!(
            spec.arn(),
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        );
        spec.env.push(("AWS_REGION".into(), "eu-west-3".into()));
        assert_eq!(spec.region(), "eu-west-3");
    }

    #[test]
    fn specs_outside_lambdas_ranges_are_refused() {
        let bin = std::env::current_exe().unwrap();
        let ok = FunctionSpec::new("f", &bin);
        ok.validate().unwrap();
        let cases: Vec<(FunctionSpec, &str)> = vec![
            (
                FunctionSpec {
                    name: "a b".into(),
                    ..ok.clone()
                },
                "name",
            ),
            (
                FunctionSpec {
                    name: "x".repeat(65),
                    ..ok.clone()
                },
                "name",
            ),
            (
                FunctionSpec {
                    binary: "/nonexistent".into(),
                    ..ok.clone()
                },
                "not a file",
            ),
            (
                FunctionSpec {
                    timeout: Duration::from_millis(999),
                    ..ok.clone()
                },
                "timeout",
            ),
            (
                FunctionSpec {
                    timeout: Duration::from_secs(901),
                    ..ok.clone()
                },
                "timeout",
            ),
            (
                FunctionSpec {
                    memory_mb: 127,
                    ..ok.clone()
                },
                "memory",
            ),
            (
                FunctionSpec {
                    memory_mb: 10_241,
                    ..ok.clone()
                },
                "memory",
            ),
            (
                FunctionSpec {
                    max_concurrency: 0,
                    ..ok.clone()
                },
                "max_concurrency",
            ),
        ];
        for (spec, what) in cases {
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        }
        FunctionSpec {
            timeout: Duration::from_secs(900),
            memory_mb: 10_240,
            ..ok
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn error_types_follow_aws_names() {
        let throttled = InvokeError::Throttled {
            function: "f".into(),
            limit: 1,
            reason: ThrottleReason::Account,
        };
        assert_eq!(throttled.error_type(), "TooManyRequestsException");
        assert!(
            throttled
                .to_string()
                .contains("ConcurrentInvocationLimitExceeded"),
            "{throttled}"
        );
        assert_eq!(throttled.invoke_status(), 429);
        assert!(!throttled.is_function_error());
        let timeout = InvokeError::Timeout(Duration::from_secs(1));
        assert_eq!(timeout.error_type(), "Sandbox.Timedout");
        assert!(timeout.is_function_error());
        let big = InvokeError::RequestTooLarge { size: 2, limit: 1 };
        assert_eq!(big.invoke_status(), 413);
    }
}
