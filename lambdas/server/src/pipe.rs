//! An upgraded stream: the public client's raw bytes go to the client as request
//! BODY chunks, and the origin's, arriving as response BODY chunks, go back. Bytes,
//! not WebSocket messages, so frames, pings and close codes pass untouched. When
//! either side is done and when it is idle for too long is the shared machine's call.

use std::sync::Arc;

use client_core::inspect::Outcome;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tunnel_backend::handlers::exchange::Event;

use crate::State;
use crate::hub::UpgradeSlot;
use crate::inspector::Capture;
use crate::stream::Stream;

/// One upgraded stream, run by a task of its own once the 101 went out.
pub(crate) struct Pipe {
    pub(crate) state: Arc<State>,
    pub(crate) stream: Stream,
    pub(crate) first: Vec<u8>,
    pub(crate) capture: Option<Capture>,
    /// Held for as long as the pipe runs.
    pub(crate) _slot: UpgradeSlot,
}

impl Pipe {
    pub(crate) async fn run(mut self, on_upgrade: OnUpgrade) {
        // Any early return drops the stream, which sends CANCEL so the client closes
        // its origin connection too.
        let outcome = match self.pipe(on_upgrade).await {
            Ok(()) => Outcome::Completed,
            Err(e) => {
                tracing::debug!(reason = e, "upgraded stream ended early");
                Outcome::ClientDisconnected
            }
        };
        if let Some(c) = &self.capture {
            c.outcome(outcome);
        }
    }

    async fn pipe(&mut self, on_upgrade: OnUpgrade) -> Result<(), String> {
        let upgraded = on_upgrade
            .await
            .map_err(|_| "the public client left before the upgrade")?;
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(upgraded));
        if !self.first.is_empty() {
            wr.write_all(&self.first)
                .await
                .map_err(|_| "public client write failed")?;
        }
        let mut buf = vec![0u8; self.state.backend.config.max_chunk];
        loop {
            self.stream.flush().await;
            while let Some(event) = self.stream.machine.poll_event() {
                match event {
                    Event::Body { data, fin } => {
                        self.state.metrics.bytes_out(data.len());
                        wr.write_all(&data)
                            .await
                            .map_err(|_| "public client write failed")?;
                        if fin {
                            let _ = wr.shutdown().await;
                        }
                    }
                    Event::Failed(e) => return Err(e.to_string()),
                    Event::Head { .. } | Event::Stored { .. } | Event::Upgraded { .. } => {
                        return Err("a second response head".into());
                    }
                }
            }
            if self.stream.machine.is_over() {
                // What the machine queued last (the public side's close) goes out.
                self.stream.flush().await;
                return Ok(());
            }
            let public_open = !self.stream.machine.public_closed();
            tokio::select! {
                read = rd.read(&mut buf), if public_open => {
                    let n = read.map_err(|_| "public client read failed")?;
                    self.state.metrics.bytes_in(n);
                    let now = self.stream.now();
                    self.stream.machine.handle_public_body(&buf[..n], n == 0, now);
                }
                () = self.stream.input() => {}
            }
        }
    }
}
