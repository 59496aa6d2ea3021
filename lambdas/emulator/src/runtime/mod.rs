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
mod error;
mod instance;
mod logs;
mod pool;
mod spec;
mod stream;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::limits::Limits;
use pool::{Account, Pool};

pub use error::{EmulatorError, InvokeError, ThrottleReason};
pub use pool::FunctionStats;
pub(crate) use pool::{Event, FunctionCtx, Job};
pub use spec::{ACCOUNT_ID, DEFAULT_REGION, FunctionSpec};
pub use stream::StreamError;

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

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical
/// section here is a few assignments), so poisoning is ignored rather than spread.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let account = Account::new(limits.account_concurrency);
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
