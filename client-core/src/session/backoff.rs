//! The delays between a driver's reconnect attempts.

use std::time::Duration;

use crate::protocol::limits::{RECONNECT_INITIAL, RECONNECT_MAX};

/// Delays between reconnect attempts: exponential, capped, with jitter so that many
/// clients dropped at once do not return at once.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(RECONNECT_INITIAL, RECONNECT_MAX)
    }
}

impl Backoff {
    /// Delays start near `initial` and never exceed `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt. `random` is any uniformly random value; the
    /// delay lies in the upper half of the current step ("equal jitter"), so it grows
    /// reliably while spreading clients apart.
    pub fn next_delay(&mut self, random: u64) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        let step = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        let span = (step - half).as_nanos().max(1) as u64;
        half + Duration::from_nanos(random % span)
    }

    /// Forget past failures: the next delay is short again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failed attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}
