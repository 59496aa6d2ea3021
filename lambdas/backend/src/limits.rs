//! Rate limits: token buckets per client on the control plane and per tunnel on
//! public traffic.
//!
//! [`Bucket`] is the arithmetic, with time passed in. The [`Limiter`] port keeps the
//! buckets: in memory for the local stack ([`MemoryLimiter`]); a deployment whose
//! handlers run in many processes supplies one over shared storage.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Most tokens a bucket holds: the largest burst.
    pub burst: u32,
}

impl Rate {
    /// `per_second` sustained with bursts of `burst`.
    pub const fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

/// Default control-plane rate per client: generous for scripts, a stop for loops.
pub const DEFAULT_CONTROL_RATE: Rate = Rate::new(20.0, 60);

/// Default public-traffic rate per tunnel.
pub const DEFAULT_PUBLIC_RATE: Rate = Rate::new(2000.0, 4000);

/// Registrations per source address (the one route without a key).
pub const DEFAULT_REGISTER_RATE: Rate = Rate::new(0.2, 10);

/// Failed authentications a source address may make at once (wrong or unknown API
/// keys, forged or malformed session tokens), on the REST API and the WebSocket
/// connect together: room for a person's typos and a script's retries, not for a
/// guessing loop. See [`crate::auth_limit`].
pub const AUTH_FAILURE_BURST: u32 = 50;

/// Failed authentications per minute a source address gets back after its burst.
pub const AUTH_FAILURES_PER_MINUTE: u32 = 30;

/// [`AUTH_FAILURE_BURST`] and [`AUTH_FAILURES_PER_MINUTE`] as a [`Rate`].
pub const AUTH_FAILURE_RATE: Rate =
    Rate::new(AUTH_FAILURES_PER_MINUTE as f64 / 60.0, AUTH_FAILURE_BURST);

/// Buckets kept by [`MemoryLimiter`]; past this, full (idle) buckets are forgotten,
/// which loses nothing as a new bucket starts full.
pub const MAX_BUCKETS: usize = 100_000;

/// A rate as `PER_SECOND:BURST` (e.g. `20:60`), or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rate: write PER_SECOND:BURST (e.g. 20:60) or off")]
pub struct BadRate(pub String);

impl Rate {
    /// Parses `PER_SECOND:BURST` or `off` (`None`).
    pub fn parse(text: &str) -> Result<Option<Rate>, BadRate> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || BadRate(text.to_owned());
        let (rate, burst) = text.split_once(':').ok_or_else(bad)?;
        let per_second: f64 = rate.trim().parse().map_err(|_| bad())?;
        let burst: u32 = burst.trim().parse().map_err(|_| bad())?;
        if !(per_second.is_finite() && per_second > 0.0) || burst == 0 {
            return Err(bad());
        }
        Ok(Some(Rate::new(per_second, burst)))
    }
}

/// A refusal: how long until one token is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit reached; retry in {retry_after_ms} ms")]
pub struct Limited {
    /// Milliseconds until a request would be admitted.
    pub retry_after_ms: u64,
}

impl Limited {
    /// Whole seconds for a `Retry-After` header (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_ms.div_ceil(1000).max(1)
    }
}

/// One token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    at_ms: u64,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn full(rate: Rate, now_ms: u64) -> Self {
        Self {
            tokens: f64::from(rate.burst),
            at_ms: now_ms,
        }
    }

    /// A bucket as stored: `tokens` left at `at_ms`.
    pub fn from_parts(tokens: f64, at_ms: u64) -> Self {
        Self { tokens, at_ms }
    }

    /// The tokens left at the time of the last take, and that time (for storing).
    pub fn parts(&self) -> (f64, u64) {
        (self.tokens, self.at_ms)
    }

    /// Whether a take at `now_ms` would be admitted, leaving the bucket as it is.
    pub fn peek(&self, rate: Rate, now_ms: u64) -> Result<(), Limited> {
        let mut copy = *self;
        copy.take(rate, now_ms)
    }

    /// Takes one token at `now_ms`, refilling first; refuses with the wait when empty.
    pub fn take(&mut self, rate: Rate, now_ms: u64) -> Result<(), Limited> {
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.at_ms = self.at_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - self.tokens;
        let wait = if rate.per_second > 0.0 {
            (missing / rate.per_second * 1000.0).ceil() as u64
        } else {
            u64::MAX
        };
        Err(Limited {
            retry_after_ms: wait.max(1),
        })
    }

    /// True when the bucket would be full at `now_ms` (it can be forgotten).
    pub fn is_full(&self, rate: Rate, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.tokens + elapsed * rate.per_second >= f64::from(rate.burst)
    }
}

/// Keeps buckets by key.
#[async_trait]
pub trait Limiter: Send + Sync + std::fmt::Debug {
    /// Takes a token from `key`'s bucket at `now_ms`.
    async fn take(&self, key: &str, rate: Rate, now_ms: u64) -> Result<(), Limited>;

    /// The refusal a take from `key` would get at `now_ms`, as far as this process
    /// knows without asking a store: `None` when it does not know of one. What it
    /// knows may only be too generous (other processes only ever take tokens), so a
    /// refusal here is one the shared bucket would give too.
    fn known_refusal(&self, _key: &str, _rate: Rate, _now_ms: u64) -> Option<Limited> {
        None
    }

    /// The refusal a take from `key` would get at `now_ms`, asking the shared store
    /// when this process does not know, without taking a token. For a caller that
    /// must wait while its address is over budget even though its own call would
    /// not count (a right key from a guessing address): another process may have
    /// seen the guesses. The default is what this process knows.
    async fn refusal(&self, key: &str, rate: Rate, now_ms: u64) -> Option<Limited> {
        self.known_refusal(key, rate, now_ms)
    }
}

/// Buckets in this process's memory, at most `max_buckets` of them.
#[derive(Debug)]
pub struct MemoryLimiter {
    buckets: Mutex<HashMap<String, (Bucket, Rate)>>,
    max_buckets: usize,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new(MAX_BUCKETS)
    }
}

impl MemoryLimiter {
    /// A limiter keeping at most `max_buckets` buckets.
    pub fn new(max_buckets: usize) -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
            max_buckets,
        }
    }
}

impl MemoryLimiter {
    /// Runs `f` on `key`'s bucket (a full one if it has none), within the bound on
    /// buckets: `Err(())` when every bucket is in use and none can be forgotten;
    /// `Ok(None)` when the lock is poisoned (a panic while holding it).
    fn with_bucket<T>(
        &self,
        key: &str,
        rate: Rate,
        now_ms: u64,
        f: impl FnOnce(&mut Bucket) -> T,
    ) -> Result<Option<T>, ()> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(None);
        };
        if buckets.len() >= self.max_buckets && !buckets.contains_key(key) {
            buckets.retain(|_, (b, r)| !b.is_full(*r, now_ms));
            if buckets.len() >= self.max_buckets {
                return Err(());
            }
        }
        let (bucket, stored) = buckets
            .entry(key.to_owned())
            .or_insert_with(|| (Bucket::full(rate, now_ms), rate));
        *stored = rate;
        Ok(Some(f(bucket)))
    }

    /// Replaces what this limiter holds for `key` by `bucket` (a limiter over a
    /// shared store keeps the last state it saw here).
    pub fn remember(&self, key: &str, bucket: Bucket, rate: Rate, now_ms: u64) {
        let _ = self.with_bucket(key, rate, now_ms, |b| *b = bucket);
    }
}

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn take(&self, key: &str, rate: Rate, now_ms: u64) -> Result<(), Limited> {
        match self.with_bucket(key, rate, now_ms, |b| b.take(rate, now_ms)) {
            Ok(Some(taken)) => taken,
            // A panic while holding the lock: admit rather than refuse everyone.
            Ok(None) => Ok(()),
            // Every bucket is in use: refuse the newcomer rather than grow.
            Err(()) => Err(Limited {
                retry_after_ms: 1000,
            }),
        }
    }

    fn known_refusal(&self, key: &str, rate: Rate, now_ms: u64) -> Option<Limited> {
        let buckets = self.buckets.lock().ok()?;
        buckets.get(key)?.0.peek(rate, now_ms).err()
    }
}

/// A limiter that admits everything (rate limiting switched off).
#[derive(Debug, Default)]
pub struct Unlimited;

#[async_trait]
impl Limiter for Unlimited {
    async fn take(&self, _: &str, _: Rate, _: u64) -> Result<(), Limited> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_the_rate() {
        let rate = Rate::new(2.0, 3);
        let mut b = Bucket::full(rate, 0);
        for _ in 0..3 {
            assert_eq!(b.take(rate, 0), Ok(()));
        }
        let refused = b.take(rate, 0).unwrap_err();
        assert_eq!(
            refused.retry_after_ms, 500,
            "one token at 2/s is 500 ms away"
        );
        assert_eq!(refused.retry_after_secs(), 1);
        assert!(b.take(rate, 499).is_err(), "one ms short of the token");
        assert_eq!(b.take(rate, 500), Ok(()), "exactly when the token is back");
        assert!(b.take(rate, 500).is_err());
        // A long idle refills to the burst, no more.
        for _ in 0..3 {
            assert_eq!(b.take(rate, 60_000), Ok(()));
        }
        assert!(b.take(rate, 60_000).is_err());
    }

    #[test]
    fn a_peek_takes_nothing_and_parts_round_trip() {
        let rate = Rate::new(1.0, 1);
        let mut b = Bucket::full(rate, 0);
        assert_eq!(b.peek(rate, 0), Ok(()));
        assert_eq!(b.peek(rate, 0), Ok(()), "a peek leaves the token");
        b.take(rate, 0).unwrap();
        assert_eq!(b.peek(rate, 0).unwrap_err().retry_after_ms, 1000);
        let (tokens, at) = b.parts();
        assert_eq!(Bucket::from_parts(tokens, at), b);
    }

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("20:60"), Ok(Some(Rate::new(20.0, 60))));
        assert_eq!(Rate::parse("0.5:1"), Ok(Some(Rate::new(0.5, 1))));
        assert_eq!(Rate::parse("off"), Ok(None));
        for bad in ["20", "0:5", "5:0", "-1:3", "x:y", "inf:3"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_memory_limiter_keeps_one_bucket_per_key() {
        let l = MemoryLimiter::default();
        let rate = Rate::new(1.0, 1);
        assert!(l.take("a", rate, 0).await.is_ok());
        assert!(l.take("a", rate, 0).await.is_err());
        assert!(
            l.take("b", rate, 0).await.is_ok(),
            "keys do not share a bucket"
        );
        assert!(l.take("a", rate, 1000).await.is_ok());
    }

    #[tokio::test]
    async fn the_memory_limiter_knows_its_refusals_without_taking() {
        let l = MemoryLimiter::default();
        let rate = Rate::new(1.0, 2);
        assert_eq!(l.known_refusal("a", rate, 0), None, "no bucket yet");
        l.take("a", rate, 0).await.unwrap();
        assert_eq!(l.known_refusal("a", rate, 0), None, "one token left");
        l.take("a", rate, 0).await.unwrap();
        assert_eq!(l.known_refusal("a", rate, 0).unwrap().retry_after_ms, 1000);
        assert_eq!(l.known_refusal("a", rate, 1000), None, "refilled");
        l.remember("b", Bucket::from_parts(0.0, 0), rate, 0);
        assert!(l.known_refusal("b", rate, 0).is_some());
    }

    #[tokio::test]
    async fn the_bucket_count_is_bounded() {
        let l = MemoryLimiter::new(2);
        let rate = Rate::new(1.0, 1);
        assert!(l.take("a", rate, 0).await.is_ok());
        assert!(l.take("b", rate, 0).await.is_ok());
        assert!(
            l.take("c", rate, 0).await.is_err(),
            "at the bound with every bucket in use, a newcomer waits"
        );
        // Once a bucket has refilled it can be forgotten, making room.
        assert!(l.take("c", rate, 1000).await.is_ok());
    }
}
