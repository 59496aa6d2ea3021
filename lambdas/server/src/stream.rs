//! One exchange in flight on a client connection, driven by the shared machine
//! (`tunnel_backend::handlers::exchange::Exchange`): this file only moves what the
//! machine asks for between the hub's channel, the upload task, the clock and the
//! connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use client_core::protocol::{ServerFrame, StreamId, encode};
use tokio::sync::mpsc;
use tunnel_backend::handlers::exchange::{Event, Exchange, ExchangeConfig};

use crate::State;
use crate::hub::{Conn, ResponsePart, SendError};
use crate::ingress::RESPONSE_TIMEOUT;
use crate::upload::Upload;

/// How the local stack runs its exchanges: chunks in order (one socket carries
/// them), no credit unless configured, no bound on a body's pauses (the public
/// client leaving ends it).
pub fn config(state: &State) -> ExchangeConfig {
    ExchangeConfig {
        max_chunk: state.backend.config.max_chunk,
        window: state.backend.config.window,
        reorder: 0,
        response_timeout: RESPONSE_TIMEOUT,
        body_timeout: None,
        upgrade_idle: state.upgrade_idle,
    }
}

/// One exchange: its machine and its IO. Dropping it ends the exchange: the hub
/// forgets the stream, an upload still running stops, and the client hears CANCEL
/// if it may still be working on it.
#[derive(Debug)]
pub struct Stream {
    conn: Arc<Conn>,
    pub(crate) machine: Exchange,
    rx: mpsc::Receiver<ResponsePart>,
    upload: Upload,
    started: Instant,
}

impl Stream {
    /// Stream `id` of `conn`, whose REQUEST just went out; its answer arrives on
    /// `rx`, and `upload` sends the rest of the body (if any).
    pub fn new(
        state: &State,
        conn: Arc<Conn>,
        id: StreamId,
        rx: mpsc::Receiver<ResponsePart>,
        upload: Upload,
        upgrade: bool,
    ) -> Self {
        let started = Instant::now();
        let has_upload = upload.is_running();
        let machine = Exchange::new(id, config(state), has_upload, upgrade, Duration::ZERO);
        Self {
            conn,
            machine,
            rx,
            upload,
            started,
        }
    }

    /// The machine's clock: time since the REQUEST went out.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The next thing for the public side, feeding the machine until it has one.
    pub async fn next_event(&mut self) -> Event {
        loop {
            self.flush().await;
            if let Some(event) = self.machine.poll_event() {
                return event;
            }
            self.input().await;
        }
    }

    /// Waits for one input (a part of the answer, the upload's end, the deadline) and
    /// hands it to the machine. Cancel-safe: nothing is lost if it is dropped.
    pub async fn input(&mut self) {
        let due = self.machine.poll_timeout().map(|d| self.started + d);
        let sleep = async move {
            match due {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            part = self.rx.recv() => match part {
                Some(part) => {
                    // An upload that ended well is not cut by an answer that ends now.
                    if let Some(end) = self.upload.try_ended() {
                        self.machine.handle_upload_end(end);
                    }
                    let now = self.now();
                    self.machine.handle_answer(part, now);
                }
                None => self.machine.handle_tunnel_gone(),
            },
            end = self.upload.ended() => self.machine.handle_upload_end(end),
            () = sleep => {
                let now = self.now();
                self.machine.handle_timeout(now);
            }
        }
    }

    /// Sends what the machine has for the client. A connection gone mid-way ends
    /// the exchange.
    pub async fn flush(&mut self) {
        if self.machine.upload_cut() {
            // Before CANCEL goes: no BODY of the upload may follow it.
            self.upload.abort();
        }
        while let Some(frame) = self.machine.poll_transmit() {
            match self.conn.send_frame(&frame).await {
                Ok(()) => {}
                Err(SendError::Encode(e)) => {
                    tracing::error!(error = %e, "cannot encode frame");
                    self.machine.handle_tunnel_gone();
                }
                Err(SendError::Gone(_)) => self.machine.handle_tunnel_gone(),
            }
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.conn.close_stream(self.machine.id());
        if let Some(end) = self.upload.try_ended() {
            self.machine.handle_upload_end(end);
        }
        self.machine.handle_public_gone();
        if self.machine.upload_cut() {
            self.upload.abort();
        }
        while let Some(frame) = self.machine.poll_transmit() {
            if let (ServerFrame::Cancel { .. }, Ok(m)) = (&frame, encode(&frame)) {
                self.conn.try_send(m);
            }
        }
    }
}
