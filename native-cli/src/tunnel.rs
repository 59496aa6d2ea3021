//! The driver of one tunnel session: socket and clock on one side, the sans-IO
//! [`ClientSession`] in the middle, origin tasks on the other.
//!
//! Everything the session decides happens here in one task; each public request is
//! forwarded by its own task, which reports back through a bounded channel. Request
//! bodies flow the other way through a bounded channel per request. When one of those
//! is full the driver stops reading the WebSocket until the origin catches up: the
//! protocol has no per-stream flow control, so pausing the connection is the only way
//! to slow the server down without buffering without bound.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use client_core::protocol::{ErrorCode, Message, StreamId};
use client_core::session::{
    ClientSession, CommandError, Connected, Event, RequestHead, SessionConfig,
};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinError, JoinSet};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use crate::origin::{BodySender, ForwardBody, Origin, OriginReply, Reply};

mod body;
mod end;
mod request_log;

use body::{Stalled, reserve};
use end::end_for;
pub use end::{SessionEnd, is_fatal};
use request_log::{RequestLog, error_outcome};

/// Request body pieces buffered per request between the driver and the origin.
pub const REQUEST_BODY_BUFFER: usize = 8;

/// Response bytes the session may hold back for want of CREDIT before the driver
/// stops taking origin replies; the origin tasks then wait, and so do the origins.
pub const MAX_HELD_BYTES: usize = 1024 * 1024;

/// Origin replies buffered between all origin tasks and the driver.
const REPLY_BUFFER: usize = 64;

/// How long a polite close waits for the server's close reply.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the driver reports each public request besides the log events.
#[derive(Debug, Clone)]
pub enum RequestOutput {
    /// Nowhere else.
    Quiet,
    /// One line on stdout as each ends (`--log`).
    Lines,
    /// The live screen: as each starts, is answered and ends, and the latency.
    Screen(crate::screen::Screen),
}

impl RequestOutput {
    fn screen(&self) -> Option<&crate::screen::Screen> {
        match self {
            Self::Screen(screen) => Some(screen),
            Self::Quiet | Self::Lines => None,
        }
    }
}

/// Serves the tunnel `tunnel_id` over `ws` until the connection ends or `shutdown`
/// completes, forwarding each public request to `origin`.
///
/// `on_connected` runs when the server confirms the tunnel is live. `output` says
/// where each proxied request is shown. `resume` says an earlier connection served
/// this tunnel (the server counts reconnects).
#[allow(clippy::too_many_arguments)]
pub async fn run_session<S, F>(
    mut ws: WebSocketStream<S>,
    tunnel_id: &str,
    resume: bool,
    origin: &Origin,
    output: &RequestOutput,
    mut on_connected: F,
    shutdown: impl Future<Output = ()>,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(&Connected),
{
    let (replies_tx, mut replies) = mpsc::channel(REPLY_BUFFER);
    let clock = Instant::now();
    let mut driver = Driver {
        session: ClientSession::new(
            SessionConfig {
                resume,
                // Only a screen shows the latency, so only it pays for probes.
                latency_probe: output.screen().map(|_| crate::screen::LATENCY_PROBE),
                // Large bodies by URL where the server offers them (crate::stored).
                body_urls: true,
                ..SessionConfig::new(tunnel_id)
            },
            Duration::ZERO,
        ),
        clock,
        origin,
        output,
        latency: None,
        streams: HashMap::new(),
        tasks: JoinSet::new(),
        replies: replies_tx,
        stalled: None,
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let ended = driver.drain_events(&mut on_connected);
        if let Err(e) = driver.flush(&mut ws).await {
            return SessionEnd::Lost(e.to_string());
        }
        if let Some(end) = ended {
            close(&mut ws).await;
            return end;
        }
        let wake = driver.session.poll_timeout().map(|t| clock + t);
        let stall = driver
            .stalled
            .as_ref()
            .map(|s| (s.tx.clone(), s.since + origin.timeout()));
        let stall_deadline = stall.as_ref().map(|(_, deadline)| *deadline);
        tokio::select! {
            () = &mut shutdown => {
                close(&mut ws).await;
                return SessionEnd::Shutdown;
            }
            message = ws.next(), if driver.stalled.is_none() => match message {
                Some(Ok(message)) => {
                    if let Some(end) = driver.on_message(message) {
                        return end;
                    }
                }
                Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                None => return SessionEnd::Lost("the server closed the connection".into()),
            },
            Some(reply) = replies.recv(), if driver.session.held_total() < MAX_HELD_BYTES => {
                driver.on_reply(reply);
            }
            () = sleep_until_some(wake) => {
                let now = driver.now();
                driver.session.handle_timeout(now);
            }
            permit = reserve(stall.map(|(tx, _)| tx)), if stall_deadline.is_some() => {
                driver.unstall(permit);
            }
            () = sleep_until_some(stall_deadline), if stall_deadline.is_some() => {
                driver.give_up_stalled();
            }
            Some(joined) = driver.tasks.join_next_with_id(), if !driver.tasks.is_empty() => {
                driver.on_task_end(joined);
            }
        }
    }
}

/// The state of [`run_session`], so that each reaction is a small method.
struct Driver<'a> {
    session: ClientSession,
    clock: Instant,
    origin: &'a Origin,
    output: &'a RequestOutput,
    /// The latency last shown.
    latency: Option<Duration>,
    streams: HashMap<StreamId, Forward>,
    tasks: JoinSet<()>,
    replies: mpsc::Sender<OriginReply>,
    stalled: Option<Stalled>,
}

/// A request being forwarded.
struct Forward {
    task: AbortHandle,
    /// Where more request body goes; `None` once it is complete. Dropped unfinished
    /// (the answer ended first) it cuts the body the origin reads.
    body: Option<BodySender>,
    log: RequestLog,
    /// Its row on the live screen.
    row: Option<crate::screen::RowId>,
}

impl Driver<'_> {
    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    fn drain_events(&mut self, on_connected: &mut impl FnMut(&Connected)) -> Option<SessionEnd> {
        while self.stalled.is_none() {
            match self.session.poll_event()? {
                Event::Connected(connected) => on_connected(&connected),
                Event::Request {
                    id,
                    head,
                    body,
                    fin,
                    body_url,
                    answer_url,
                } => self.start_forward(id, head, (body, fin, body_url), answer_url),
                Event::RequestBody { id, data, fin } => self.pass_body(id, Bytes::from(data), fin),
                Event::Cancelled { id } => self.finish(id, "cancelled".into(), true),
                Event::Closed(reason) => return Some(end_for(reason)),
            }
        }
        None
    }

    async fn flush<S>(&mut self, ws: &mut WebSocketStream<S>) -> Result<(), tungstenite::Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut fed = false;
        while let Some(message) = self.session.poll_transmit() {
            let message = match message {
                Message::Text(text) => WsMessage::text(text),
                Message::Binary(bytes) => WsMessage::binary(bytes),
            };
            ws.feed(message).await?;
            fed = true;
        }
        if fed {
            ws.flush().await?;
        }
        Ok(())
    }

    fn on_message(&mut self, message: WsMessage) -> Option<SessionEnd> {
        let now = self.now();
        match message {
            WsMessage::Text(text) => self
                .session
                .handle_message(now, &Message::Text(text.as_str().to_owned())),
            WsMessage::Binary(bytes) => self
                .session
                .handle_message(now, &Message::Binary(bytes.to_vec())),
            WsMessage::Close(frame) => {
                let reason = match frame {
                    Some(f) if !f.reason.is_empty() => {
                        format!("the server closed the connection: {}", f.reason)
                    }
                    _ => "the server closed the connection".to_owned(),
                };
                return Some(SessionEnd::Lost(reason));
            }
            // tungstenite answers pings itself; neither kind carries a frame.
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
        }
        self.show_latency();
        None
    }

    /// Passes a new latency figure to the screen.
    fn show_latency(&mut self) {
        let latency = self.session.latency();
        if latency != self.latency
            && let (Some(screen), Some(latency)) = (self.output.screen(), latency)
        {
            screen.update(|m, _| m.handle_latency(latency));
        }
        self.latency = latency;
    }

    fn start_forward(
        &mut self,
        id: StreamId,
        head: RequestHead,
        (body, fin, body_url): (Vec<u8>, bool, Option<String>),
        answer_url: Option<String>,
    ) {
        // A body by URL is fetched beside the forwarding, through the same bounded
        // channel BODY chunks take.
        let mut fetch = None;
        let (body, body_tx) = if let Some(url) = body_url {
            let (body, tx) = ForwardBody::streamed(Bytes::new(), REQUEST_BODY_BUFFER);
            fetch = Some(self.origin.body_urls().clone().fetch_owned(url, tx));
            (body, None)
        } else if fin {
            (ForwardBody::whole(Bytes::from(body)), None)
        } else {
            let (body, tx) = ForwardBody::streamed(Bytes::from(body), REQUEST_BODY_BUFFER);
            (body, Some(tx))
        };
        let log = RequestLog::new(&head);
        let row = self.output.screen().map(|screen| {
            screen.update(|m, now| m.handle_request_started(now, &head.method, &head.path))
        });
        let forward = self
            .origin
            .clone()
            .forward(id, head, body, answer_url, self.replies.clone());
        // One task for both, so a cancel stops the fetch too.
        let task = self.tasks.spawn(async move {
            match fetch {
                Some(fetch) => {
                    tokio::join!(fetch, forward);
                }
                None => forward.await,
            }
        });
        self.streams.insert(
            id,
            Forward {
                task,
                body: body_tx,
                log,
                row,
            },
        );
    }

    fn on_reply(&mut self, OriginReply { id, reply }: OriginReply) {
        let sent = match reply {
            Reply::Head {
                status,
                headers,
                body,
                fin,
            } => {
                self.note_status(id, status);
                self.session
                    .respond(id, status, headers, &body, fin)
                    .map(|()| fin)
            }
            Reply::Body { data, fin } => self.session.send_body(id, &data, fin).map(|()| fin),
            Reply::Stored { status, headers } => {
                self.note_status(id, status);
                self.session
                    .respond_stored(id, status, headers)
                    .map(|()| true)
            }
            Reply::Fail { code, message } => {
                let _ = self.session.fail(id, code, message);
                self.finish(id, error_outcome(code), false);
                return;
            }
        };
        match sent {
            Ok(false) => {}
            Ok(true) => {
                let status = self
                    .streams
                    .get(&id)
                    .and_then(|f| f.log.status)
                    .map_or_else(String::new, |s| s.to_string());
                self.finish(id, status, false);
            }
            // Cancelled meanwhile, or the session closed: nobody wants the answer.
            Err(CommandError::UnknownStream(_)) => self.finish(id, "cancelled".into(), true),
            Err(e) => {
                let message = format!("the origin's response cannot be passed on: {e}");
                let _ = self.session.fail(id, ErrorCode::OriginFailed, message);
                self.finish(id, error_outcome(ErrorCode::OriginFailed), true);
            }
        }
    }

    /// Notes the answer's status for the log and the screen.
    fn note_status(&mut self, id: StreamId, status: u16) {
        if let Some(forward) = self.streams.get_mut(&id) {
            forward.log.status = Some(status);
            if let (Some(screen), Some(row)) = (self.output.screen(), forward.row) {
                screen.update(|m, _| m.handle_response_head(row, status));
            }
        }
    }

    fn on_task_end(&mut self, joined: Result<(tokio::task::Id, ()), JoinError>) {
        // A task that returned has reported its end; one that panicked has not.
        let Err(e) = joined else { return };
        if !e.is_panic() {
            return;
        }
        let task = e.id();
        let Some(id) = self
            .streams
            .iter()
            .find(|(_, f)| f.task.id() == task)
            .map(|(id, _)| *id)
        else {
            return;
        };
        let _ = self.session.fail(
            id,
            ErrorCode::OriginFailed,
            "the tunnel client failed while forwarding this request",
        );
        self.finish(id, error_outcome(ErrorCode::OriginFailed), false);
    }

    /// Forgets the request `id`; `abort` stops its task if it still runs.
    fn finish(&mut self, id: StreamId, outcome: String, abort: bool) {
        let Some(forward) = self.streams.remove(&id) else {
            return;
        };
        if abort {
            forward.task.abort();
        }
        if self.stalled.as_ref().is_some_and(|s| s.id == id) {
            self.stalled = None;
        }
        forward.log.trace(&outcome);
        match self.output {
            RequestOutput::Quiet => {}
            RequestOutput::Lines => forward.log.print(&outcome),
            RequestOutput::Screen(screen) => {
                if let Some(row) = forward.row {
                    // The outcome is the status, or what ended the request instead.
                    let error = outcome.parse::<u16>().is_err().then_some(outcome.as_str());
                    let status = forward.log.status;
                    screen.update(|m, now| m.handle_request_finished(now, row, status, error));
                }
            }
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Closes politely, but never waits long for a server that has stopped answering.
async fn close<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = timeout(CLOSE_TIMEOUT, async {
        if ws.close(None).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
