//! One instance: a bootstrap process, its Runtime API server, its log forwarders and
//! the monitor task that notices it end.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use super::{Event, FunctionCtx, InvokeError, Job, Pool, api, lock, logs};

/// How long a dead instance's log forwarders may take to print its last lines. Only a
/// grandchild process holding the pipes open would make them wait that long.
const LOG_DRAIN: Duration = Duration::from_secs(2);

/// Why the emulator killed an instance; decides what its in-flight invocation reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KillReason {
    /// The invocation ran past the function timeout.
    Timeout,
    /// The process did not ask for its first event in time.
    InitTimeout,
    /// The runtime reported `/init/error`.
    InitError,
    /// The runtime broke the protocol.
    Protocol,
    /// The response stream broke off while the process still ran.
    Broken,
    /// The emulator is shutting down.
    Shutdown,
}

/// The invocation an instance's runtime holds (between `/next` and its answer).
#[derive(Debug)]
pub(crate) struct Current {
    pub(crate) request_id: String,
    pub(crate) events: mpsc::Sender<Event>,
}

/// A running bootstrap process and what its Runtime API shares with the pool.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) id: u64,
    /// `name#id`, the prefix of its log lines.
    pub(crate) label: String,
    pub(crate) ctx: Arc<FunctionCtx>,
    /// Capacity 1: an instance is only given a job when idle.
    jobs_tx: mpsc::Sender<Job>,
    /// Taken by the `/next` long-poll; a tokio mutex because it is held while waiting.
    pub(crate) jobs_rx: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    pub(crate) current: Mutex<Option<Current>>,
    exited: AtomicBool,
    kill_signal: Notify,
    kill_reason: Mutex<Option<KillReason>>,
    init_error: Mutex<Option<InvokeError>>,
    done: watch::Receiver<bool>,
}

impl Instance {
    /// True while the instance may be given another invocation.
    pub(crate) fn usable(&self) -> bool {
        !self.exited.load(Ordering::Acquire) && lock(&self.kill_reason).is_none()
    }

    pub(crate) fn mark_exited(&self) {
        self.exited.store(true, Ordering::Release);
    }

    /// Asks the monitor to kill the process. The first reason given is the one kept.
    pub(crate) fn kill(&self, reason: KillReason) {
        lock(&self.kill_reason).get_or_insert(reason);
        // `notify_one` keeps a permit, so a kill before the monitor waits is not lost.
        self.kill_signal.notify_one();
    }

    pub(crate) fn kill_reason(&self) -> Option<KillReason> {
        *lock(&self.kill_reason)
    }

    /// Queues a job; fails when the instance has gone.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        self.jobs_tx.try_send(job).map_err(|e| e.into_inner())
    }

    /// The event channel of the invocation `request_id`, if it is the one held.
    pub(crate) fn current_events(&self, request_id: &str) -> Option<mpsc::Sender<Event>> {
        lock(&self.current)
            .as_ref()
            .filter(|c| c.request_id == request_id)
            .map(|c| c.events.clone())
    }

    /// Ends the hold on `request_id` (its answer is complete).
    pub(crate) fn clear_current(&self, request_id: &str) {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| c.request_id == request_id) {
            *current = None;
        }
    }

    /// Records an `/init/error` report and has the instance killed: Lambda resets an
    /// environment whose init failed.
    pub(crate) fn fail_init(&self, error: InvokeError) {
        *lock(&self.init_error) = Some(error);
        self.kill(KillReason::InitError);
    }

    /// Waits until the process has been reaped and its invocations failed.
    pub(crate) async fn wait_exited(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    /// What an invocation still waiting on this instance fails with.
    fn exit_error(&self, status: &std::io::Result<ExitStatus>) -> InvokeError {
        let crashed = || InvokeError::Crashed {
            status: match status {
                Ok(s) => s.to_string(),
                Err(e) => format!("cannot wait for the process: {e}"),
            },
        };
        match self.kill_reason() {
            Some(KillReason::Timeout) => InvokeError::Timeout(self.ctx.spec.timeout),
            Some(KillReason::InitTimeout) => InvokeError::InitTimeout(self.ctx.limits.init_timeout),
            Some(KillReason::InitError) => lock(&self.init_error).take().unwrap_or_else(crashed),
            Some(KillReason::Shutdown) => InvokeError::ShutDown,
            Some(KillReason::Protocol | KillReason::Broken) | None => crashed(),
        }
    }
}

/// Starts instance `id` of `pool`'s function: binds its Runtime API, starts the process
/// and the tasks around it.
pub(crate) fn spawn(pool: &Arc<Pool>, id: u64) -> Result<Arc<Instance>, InvokeError> {
    let ctx = Arc::clone(&pool.ctx);
    let spec = &ctx.spec;
    let spawn_error = |e: std::io::Error| InvokeError::Spawn {
        binary: spec.binary.clone(),
        reason: e.to_string(),
    };
    // A std listener so that binding stays synchronous; tokio takes it over below.
    let std_listener =
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(spawn_error)?;
    std_listener.set_nonblocking(true).map_err(spawn_error)?;
    let addr = std_listener.local_addr().map_err(spawn_error)?;
    let listener = TcpListener::from_std(std_listener).map_err(spawn_error)?;

    let mut cmd = Command::new(&spec.binary);
    cmd.env_clear()
        .envs(lambda_env(&ctx, addr))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A safety net: the monitor normally kills and reaps the process itself.
        .kill_on_drop(true);
    if let Some(dir) = spec.binary.parent().filter(|d| !d.as_os_str().is_empty()) {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(spawn_error)?;

    let (jobs_tx, jobs_rx) = mpsc::channel(1);
    let (done_tx, done) = watch::channel(false);
    let instance = Arc::new(Instance {
        id,
        label: format!("{}#{id}", spec.name),
        ctx: Arc::clone(&ctx),
        jobs_tx,
        jobs_rx: tokio::sync::Mutex::new(jobs_rx),
        current: Mutex::new(None),
        exited: AtomicBool::new(false),
        kill_signal: Notify::new(),
        kill_reason: Mutex::new(None),
        init_error: Mutex::new(None),
        done,
    });

    let server = tokio::spawn(api::serve(listener, Arc::clone(&instance)));
    let mut forwarders = Vec::with_capacity(2);
    if let Some(out) = child.stdout.take() {
        forwarders.push(tokio::spawn(logs::forward_to_stderr(
            out,
            instance.label.clone(),
        )));
    }
    if let Some(err) = child.stderr.take() {
        forwarders.push(tokio::spawn(logs::forward_to_stderr(
            err,
            instance.label.clone(),
        )));
    }
    tokio::spawn(monitor(
        Arc::clone(pool),
        Arc::clone(&instance),
        child,
        server,
        forwarders,
        done_tx,
    ));
    Ok(instance)
}

/// Waits for the process to end (or kills it when asked), then tells whoever waits on
/// it and removes it from the pool.
async fn monitor(
    pool: Arc<Pool>,
    instance: Arc<Instance>,
    mut child: Child,
    server: JoinHandle<()>,
    forwarders: Vec<JoinHandle<()>>,
    done: watch::Sender<bool>,
) {
    let ended = tokio::select! {
        status = child.wait() => Some(status),
        () = instance.kill_signal.notified() => None,
    };
    let status = match ended {
        Some(status) => status,
        None => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    // No new job may be routed here from now on.
    pool.remove(&instance);
    // Stopping the server drops its connections, and with them a `/next` that may hold
    // the job queue, so the queue can be drained below.
    server.abort();
    let _ = server.await;

    let error = instance.exit_error(&status);
    let current = lock(&instance.current).take();
    if let Some(current) = current {
        let _ = current.events.try_send(Event::Exited(error.clone()));
    }
    {
        let mut jobs = instance.jobs_rx.lock().await;
        jobs.close();
        while let Ok(job) = jobs.try_recv() {
            let _ = job.events.try_send(Event::Exited(error.clone()));
        }
    }
    for forwarder in forwarders {
        let _ = tokio::time::timeout(LOG_DRAIN, forwarder).await;
    }
    let _ = done.send(true);
}

/// The environment of a Lambda sandbox for this function, then the spec's own.
fn lambda_env(ctx: &FunctionCtx, api: SocketAddr) -> Vec<(String, String)> {
    let spec = &ctx.spec;
    let region = spec.region().to_owned();
    let task_root = spec
        .binary
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            log_stream_name(SystemTime::now()),
        ),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        ("LAMBDA_TASK_ROOT", task_root.clone()),
        ("LAMBDA_RUNTIME_DIR", task_root),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("TZ", ":UTC".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // Later entries win, so the spec overrides the defaults above.
    env.extend(spec.env.iter().cloned());
    env
}

/// `2024/05/01/[$LATEST]<32 hex>`, the form of Lambda's log stream names.
fn log_stream_name(now: SystemTime) -> String {
    let days = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    let suffix: String = rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{y:04}/{m:02}/{d:02}/[$LATEST]{suffix}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm),
/// to avoid a date crate for one log-stream name.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        let name = log_stream_name(UNIX_EPOCH + Duration::from_secs(19_723 * 86_400 + 5));
        assert!(name.starts_with("2024/01/01/[$LATEST]"), "{name}");
        assert_eq!(name.len(), "2024/01/01/[$LATEST]".len() + 32);
    }
}
