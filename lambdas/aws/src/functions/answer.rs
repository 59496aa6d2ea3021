//! tunnel-proxy's wait for the client's answer and its streaming out.
//!
//! The answer's parts come off the return channel (this function's own WebSocket,
//! where the relay posts them) in any order, since every client message is a relay
//! invocation of its own. What they mean (in order, held for reordering, complete,
//! broken, late, timed out, cancelled, more CREDIT due) is the shared machine's call
//! (`tunnel_backend::handlers::exchange::Exchange`, the one the local stack drives);
//! this file reads the channel, checks each part's secret, watches the client's
//! connection record through silences, and turns the machine's events into the
//! Function URL's streamed response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use client_core::inspect::Outcome as InspectOutcome;
use client_core::protocol::{ClientFrame, StreamId, decode_text, encode};
use futures_util::StreamExt as _;
use http::StatusCode;
use lambda_runtime::streaming::Response;
use tokio::sync::{OwnedMutexGuard, mpsc};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::Instrument as _;
use tunnel_backend::Backend;
use tunnel_backend::connections::Connections;
use tunnel_backend::handlers::admission::Refusal;
use tunnel_backend::handlers::exchange::{Answer, Event, Exchange, ExchangeConfig, REORDER_WINDOW};
use tunnel_backend::handlers::proxy::end_to_end;
use tunnel_backend::store::Store;

use super::captured::{Captured, end, ended, refuse};
use super::channel::Channel;
use super::outcome::{Outcome, whole_with};
use super::stored_body::{Plan, next_piece};
use super::upload::Upload;
use super::url_head;

/// How long the client may take to start answering: under API Gateway's 29 s so a
/// CloudFront origin timeout (30 s default) never fires first.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(25);

/// While an answer is awaited, how often silence is checked against the client's
/// connection record. A client killed mid-request sends nothing more; only API
/// Gateway's `$disconnect` tells, by deleting the record, and without this check its
/// requester waited the whole [`RESPONSE_TIMEOUT`] for a 504. One strongly consistent
/// read per period of silence: answers quicker than this cost nothing.
pub const LIVENESS_PROBE: Duration = Duration::from_millis(750);

/// How tunnel-proxy runs its exchanges: parts reordered (concurrent relay
/// invocations), CREDIT per the deployment's window, and a body that goes silent
/// for as long as the client may take to start answering is given up on. No
/// upgrades: a Function URL cannot carry them.
fn config(backend: &Backend) -> ExchangeConfig {
    ExchangeConfig {
        max_chunk: backend.config.max_chunk,
        window: backend.config.window,
        reorder: REORDER_WINDOW,
        response_timeout: RESPONSE_TIMEOUT,
        body_timeout: Some(RESPONSE_TIMEOUT),
        upgrade_idle: Duration::ZERO,
    }
}

/// The return channel closed: nothing more of the answer can arrive.
struct ChannelLost;

/// One exchange: its machine and what it talks through.
struct Wait {
    machine: Exchange,
    guard: OwnedMutexGuard<Option<Channel>>,
    store: Arc<dyn Store>,
    connections: Arc<dyn Connections>,
    client_conn: String,
    secret: String,
    upload: Upload,
    started: Instant,
}

impl Wait {
    /// Sends what the machine has for the client (CREDIT, CANCEL). A failed post is
    /// not acted on: the liveness probe notices a client that went away.
    async fn flush(&mut self) {
        if self.machine.upload_cut() {
            // Before CANCEL goes: no BODY of the upload may follow it.
            self.upload.abort();
        }
        while let Some(frame) = self.machine.poll_transmit() {
            if let Ok(m) = encode(&frame) {
                let _ = self.connections.send(&self.client_conn, m).await;
            }
        }
    }

    /// The next thing for the public client, feeding the machine until it has one.
    async fn next_event(&mut self) -> Result<Event, ChannelLost> {
        loop {
            self.flush().await;
            if let Some(event) = self.machine.poll_event() {
                return Ok(event);
            }
            self.input().await?;
        }
    }

    /// Waits for one part of the answer, or the machine's deadline, and hands it over.
    async fn input(&mut self) -> Result<(), ChannelLost> {
        if let Some(end) = self.upload.try_ended() {
            self.machine.handle_upload_end(end);
        }
        let Some(channel) = self.guard.as_mut() else {
            return Err(ChannelLost);
        };
        let due = self
            .machine
            .poll_timeout()
            .unwrap_or_else(|| self.started.elapsed() + RESPONSE_TIMEOUT);
        let deadline = tokio::time::Instant::from_std(self.started + due);
        let id = self.machine.id();
        let store = self.store.as_ref();
        match next_part_watched(
            store,
            &self.client_conn,
            channel,
            id,
            &self.secret,
            deadline,
        )
        .await
        {
            Ok(answer) => {
                let now = self.started.elapsed();
                self.machine.handle_answer(answer, now);
            }
            // The timer fires at the deadline or just after it, never before.
            Err(Stop::Timeout) => self.machine.handle_timeout(self.started.elapsed().max(due)),
            Err(Stop::ClientGone) => self.machine.handle_tunnel_gone(),
            Err(Stop::Closed) => {
                *self.guard = None;
                return Err(ChannelLost);
            }
        }
        Ok(())
    }
}

/// Waits for the client's answer to stream `id` on the return channel held by
/// `guard`, then streams the body from a task that keeps the channel until the end.
/// The request body's `upload` is ended with the answer.
#[allow(clippy::too_many_arguments)]
pub(super) async fn await_answer(
    backend: &Backend,
    guard: OwnedMutexGuard<Option<Channel>>,
    id: StreamId,
    secret: String,
    domain: &str,
    client_conn: &str,
    mut capture: Option<Captured>,
    upload: Upload,
    plan: Option<Plan>,
) -> Outcome {
    let mut machine = Exchange::new(
        id,
        config(backend),
        upload.is_running(),
        false,
        Duration::ZERO,
    );
    if plan.is_some() {
        machine.offer_answer_url();
    }
    let mut wait = Wait {
        machine,
        guard,
        store: backend.store.clone(),
        connections: backend.connections.clone(),
        client_conn: client_conn.to_owned(),
        secret,
        upload,
        started: Instant::now(),
    };
    let (status, headers, body, fin) = match wait.next_event().await {
        Ok(Event::Head {
            status,
            headers,
            body,
            fin,
        }) => (status, headers, body, fin),
        Ok(Event::Failed(e)) => return refuse(capture, e.refusal(domain)).await,
        Ok(Event::Stored { status, headers }) => {
            // The machine lets a stored answer through only where a plan gave its URL.
            let Some(plan) = plan else {
                let why = "a stored body where none was offered".to_owned();
                return refuse(capture, Refusal::BrokenAnswer { why }).await;
            };
            return stored_answer(wait, plan, status, headers, capture).await;
        }
        // The machine switches only where an upgrade was asked for (never here) and
        // releases no body before its head.
        Ok(Event::Upgraded { .. } | Event::Body { .. }) => {
            let why = "an answer out of order".to_owned();
            return refuse(capture, Refusal::BrokenAnswer { why }).await;
        }
        // The return channel is gone: the answer cannot come back.
        Err(ChannelLost) => {
            let refusal = Refusal::ClientUnreachable {
                domain: domain.to_owned(),
            };
            return refuse(capture, refusal).await;
        }
    };
    if let Some(c) = &mut capture {
        c.recording
            .response_head(status, &headers, client_core::clock::now_ms());
        c.recording.response_body(&body);
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let head = url_head::prelude(status, end_to_end(headers));
    if fin {
        return ended(capture, InspectOutcome::Completed, whole_with(head, body)).await;
    }
    // Bounded: the runtime's body sender drains it as the Function URL streams out.
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let _ = tx.send(Ok(Bytes::from(body))).await;
    // The capture is stored before the last chunk's sender is dropped, so the
    // invocation (which ends with the stream) cannot be frozen mid-write.
    tokio::spawn(
        stream_body(wait, tx, capture)
            // On the request's span: its log lines carry the request id.
            .in_current_span(),
    );
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response {
        metadata_prelude: head,
        stream: Box::pin(stream),
    }
}

/// An answer whose body the client put in S3: streamed from the bucket to the
/// viewer, the capture kept as for chunks. An object that cannot be read (the client
/// said stored but put nothing) is a broken answer, 502, before any byte went out.
async fn stored_answer(
    mut wait: Wait,
    plan: Plan,
    status: u16,
    headers: client_core::protocol::Headers,
    mut capture: Option<Captured>,
) -> Outcome {
    let mut object = match plan.open_response().await {
        Ok(object) => object,
        Err(e) => {
            tracing::warn!(error = %e, "stored answer unreadable");
            let why = format!("its stored body cannot be read ({e})");
            return refuse(capture, Refusal::BrokenAnswer { why }).await;
        }
    };
    // What the machine has for the client (the end of an upload still running), and
    // the return channel is free for the next request: nothing more comes on it.
    wait.flush().await;
    drop(wait);
    if let Some(c) = &mut capture {
        c.recording
            .response_head(status, &headers, client_core::clock::now_ms());
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let head = url_head::prelude(status, end_to_end(headers));
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let pump = async move {
        loop {
            match next_piece(&mut object).await {
                Ok(Some(data)) => {
                    if let Some(c) = &mut capture {
                        c.recording.response_body(&data);
                    }
                    if tx.send(Ok(data)).await.is_err() {
                        end(capture, InspectOutcome::ClientDisconnected).await;
                        return;
                    }
                }
                Ok(None) => {
                    end(capture, InspectOutcome::Completed).await;
                    return;
                }
                Err(e) => {
                    end(capture, InspectOutcome::OriginFailed).await;
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
    };
    tokio::spawn(pump.in_current_span());
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response {
        metadata_prelude: head,
        stream: Box::pin(stream),
    }
}

/// The rest of the body, as the machine releases it in order.
async fn stream_body(
    mut wait: Wait,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    mut capture: Option<Captured>,
) {
    loop {
        let outcome = match wait.next_event().await {
            Ok(Event::Body { data, fin }) => {
                if let Some(c) = &mut capture {
                    c.recording.response_body(&data);
                }
                if tx.send(Ok(Bytes::from(data))).await.is_err() {
                    // The public client went away: the client stops working on it.
                    wait.machine.handle_public_gone();
                    wait.flush().await;
                    end(capture, InspectOutcome::ClientDisconnected).await;
                    return;
                }
                if !fin {
                    continue;
                }
                end(capture, InspectOutcome::Completed).await;
                return;
            }
            Ok(Event::Failed(e)) => e.outcome(),
            Ok(Event::Head { .. } | Event::Stored { .. } | Event::Upgraded { .. })
            | Err(ChannelLost) => InspectOutcome::OriginFailed,
        };
        end(capture, outcome).await;
        let _ = tx
            .send(Err(std::io::Error::other(
                "the tunnel broke off the response",
            )))
            .await;
        return;
    }
}

enum Stop {
    Timeout,
    Closed,
    /// The client's connection record is gone: it disconnected.
    ClientGone,
}

/// [`next_part`], checking after each [`LIVENESS_PROBE`] of silence that the client's
/// connection still exists. A store error is not taken as a disconnect: the deadline
/// still bounds the wait.
async fn next_part_watched(
    store: &dyn Store,
    client_conn: &str,
    channel: &mut Channel,
    id: StreamId,
    secret: &str,
    deadline: tokio::time::Instant,
) -> Result<Answer, Stop> {
    loop {
        let slice = deadline.min(tokio::time::Instant::now() + LIVENESS_PROBE);
        match next_part(channel, id, secret, slice).await {
            Err(Stop::Timeout) if slice < deadline => {
                if let Ok(None) = store.get_connection(client_conn).await {
                    tracing::info!(stream = id, client_conn, "tunnel client gone mid-request");
                    return Err(Stop::ClientGone);
                }
            }
            other => return other,
        }
    }
}

/// Reads messages until one part of stream `id` with the right secret arrives.
/// Frames of other streams (late answers to earlier requests) are skipped.
async fn next_part(
    channel: &mut Channel,
    id: StreamId,
    secret: &str,
    deadline: tokio::time::Instant,
) -> Result<Answer, Stop> {
    loop {
        let msg = match tokio::time::timeout_at(deadline, channel.ws.next()).await {
            Err(_) => return Err(Stop::Timeout),
            Ok(None | Some(Err(_)) | Some(Ok(WsMessage::Close(_)))) => return Err(Stop::Closed),
            Ok(Some(Ok(m))) => m,
        };
        let WsMessage::Text(text) = msg else { continue };
        let Ok(frame) = decode_text::<ClientFrame>(text.as_str()) else {
            continue;
        };
        let (frame_id, frame_secret) = match &frame {
            ClientFrame::Response { id, secret, .. } => (*id, secret.as_deref()),
            ClientFrame::Body(c) => (c.id, c.secret.as_deref()),
            ClientFrame::Error(e) => (e.id.unwrap_or_default(), e.secret.as_deref()),
            _ => continue,
        };
        if frame_id != id {
            continue;
        }
        if frame_secret != Some(secret) {
            tracing::warn!(stream = id, "answer with a wrong secret ignored");
            continue;
        }
        return Ok(match frame {
            ClientFrame::Response {
                status,
                headers,
                body,
                fin,
                stored,
                ..
            } => Answer::response(status, headers, body, fin, stored),
            ClientFrame::Body(c) => Answer::Body(c),
            ClientFrame::Error(e) => Answer::Error(e),
            _ => continue,
        });
    }
}
