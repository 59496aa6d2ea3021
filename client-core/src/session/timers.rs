//! The session's time: keepalive PINGs and the idle timeout, renewal ahead of the
//! connection's age cap (RELEASE, a grace, then the end), and the latency probe.

use std::time::Duration;

use crate::protocol::ClientFrame;
use crate::protocol::limits::RELEASE_GRACE;

use super::{ClientSession, CloseReason};

impl ClientSession {
    /// The round trip to the server, from the last PING answered (a keepalive, or a
    /// probe every [`SessionConfig::latency_probe`]); `None` before the first.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// Handles the passing of time: keep-alive and idle detection.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.is_closed() {
            return;
        }
        let silent = now.saturating_sub(self.last_heard);
        if silent >= self.config.idle_timeout {
            return self.close(CloseReason::IdleTimeout(silent));
        }
        // Renewal: RELEASE so no new request comes here, take what was already on its
        // way for a grace period, then end once the last stream is done.
        if self.renew_at.is_some_and(|at| now >= at) {
            self.renew_at = None;
            self.releasing = true;
            self.queue(&ClientFrame::Release {});
        }
        if self.released_at.is_some_and(|at| now >= at + RELEASE_GRACE) {
            self.released_at = None;
            self.renew_pending = true;
            if self.streams.is_empty() {
                return self.close(CloseReason::Renew);
            }
        }
        if silent >= self.config.keepalive_interval && self.ping_sent.is_none() {
            let nonce = self.ping(now);
            self.ping_sent = Some(nonce);
        } else if self.probe.is_none()
            && let Some(due) = self.next_probe
            && now >= due
        {
            self.ping(now);
        }
    }

    /// Sends a PING; the first one without an answer yet also measures the latency.
    pub(super) fn ping(&mut self, now: Duration) -> u64 {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        if self.probe.is_none() {
            self.probe = Some((nonce, now));
            if let Some(every) = self.config.latency_probe {
                self.next_probe = Some(now + every);
            }
        }
        self.queue(&ClientFrame::Ping { nonce });
        nonce
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_closed() {
            return None;
        }
        let idle = self.last_heard + self.config.idle_timeout;
        let next = if self.ping_sent.is_some() {
            idle
        } else {
            idle.min(self.last_heard + self.config.keepalive_interval)
        };
        let next = self.renew_at.map_or(next, |at| next.min(at));
        let next = match self.next_probe {
            Some(due) if self.probe.is_none() => next.min(due),
            _ => next,
        };
        Some(
            self.released_at
                .map_or(next, |at| next.min(at + RELEASE_GRACE)),
        )
    }
}
