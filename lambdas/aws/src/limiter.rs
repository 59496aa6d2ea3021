//! [`DynamoLimiter`]: token buckets every Lambda sandbox shares, in the `rate_limits`
//! table, for the limit that must hold across sandboxes: failed authentications per
//! source address ([`tunnel_backend::auth_limit`]).
//!
//! A take reads the bucket (strongly consistent), applies the same arithmetic as the
//! local stack ([`Bucket::take`]) and writes it back on condition that nobody wrote
//! in between, retrying a few times when somebody did. A refused take writes nothing.
//! Each sandbox also keeps the last state it saw of each bucket: other sandboxes only
//! ever take tokens, so a bucket this one saw empty is empty, and
//! [`Limiter::known_refusal`] refuses from memory, with no store access; and
//! [`Limiter::refusal`] reads the shared bucket when memory does not know.

use async_trait::async_trait;
use tunnel_backend::limits::{Bucket, Limited, Limiter, MemoryLimiter, Rate};

use crate::DynamoStore;

/// Writes lost to other sandboxes before a take gives up (refusing: a bucket this
/// contended is under the very burst it is there to stop).
pub const MAX_WRITE_RACES: usize = 4;

/// The wait given with a take that lost every race.
const CONTENDED_WAIT_MS: u64 = 1000;

/// Shared buckets in DynamoDB, with this sandbox's memory of them.
#[derive(Debug)]
pub struct DynamoLimiter {
    store: DynamoStore,
    seen: MemoryLimiter,
}

impl DynamoLimiter {
    /// Buckets in `store`'s `rate_limits` table.
    pub fn new(store: DynamoStore) -> Self {
        Self {
            store,
            seen: MemoryLimiter::default(),
        }
    }
}

/// When a bucket of `rate` last taken from at `at_ms` is full again: the item's
/// expiry, seconds (one second late rather than early).
fn full_again_secs(rate: Rate, at_ms: u64) -> u64 {
    let refill_ms = (f64::from(rate.burst) / rate.per_second * 1000.0).ceil() as u64;
    at_ms.saturating_add(refill_ms).div_ceil(1000) + 1
}

#[async_trait]
impl Limiter for DynamoLimiter {
    async fn take(&self, key: &str, rate: Rate, now_ms: u64) -> Result<(), Limited> {
        for _ in 0..MAX_WRITE_RACES {
            let stored = match self.store.get_bucket(key).await {
                Ok(stored) => stored,
                Err(e) => {
                    // A limit that cannot be read must not lock everybody out.
                    tracing::error!(error = %e, "rate-limit bucket unreadable; admitting");
                    return Ok(());
                }
            };
            let (mut bucket, version) = match stored {
                Some((bucket, version)) => (bucket, Some(version)),
                None => (Bucket::full(rate, now_ms), None),
            };
            if let Err(limited) = bucket.take(rate, now_ms) {
                self.seen.remember(key, bucket, rate, now_ms);
                return Err(limited);
            }
            let expires = full_again_secs(rate, now_ms);
            match self.store.put_bucket(key, &bucket, version, expires).await {
                Ok(true) => {
                    self.seen.remember(key, bucket, rate, now_ms);
                    return Ok(());
                }
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "rate-limit bucket unwritable; admitting");
                    return Ok(());
                }
            }
        }
        Err(Limited {
            retry_after_ms: CONTENDED_WAIT_MS,
        })
    }

    fn known_refusal(&self, key: &str, rate: Rate, now_ms: u64) -> Option<Limited> {
        self.seen.known_refusal(key, rate, now_ms)
    }

    /// One strongly consistent read when this sandbox has not seen the bucket empty:
    /// the guesses may have gone to other sandboxes.
    async fn refusal(&self, key: &str, rate: Rate, now_ms: u64) -> Option<Limited> {
        if let Some(limited) = self.known_refusal(key, rate, now_ms) {
            return Some(limited);
        }
        match self.store.get_bucket(key).await {
            Ok(Some((bucket, _))) => {
                let refused = bucket.peek(rate, now_ms).err();
                if refused.is_some() {
                    self.seen.remember(key, bucket, rate, now_ms);
                }
                refused
            }
            Ok(None) => None,
            Err(e) => {
                // As for a take: a limit that cannot be read must not lock anybody out.
                tracing::error!(error = %e, "rate-limit bucket unreadable; admitting");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_expires_once_its_bucket_is_full_again() {
        // 50 tokens at 0.5/s: 100 s to refill from empty.
        let rate = Rate::new(0.5, 50);
        assert_eq!(full_again_secs(rate, 1_000_000), 1_000 + 100 + 1);
        assert_eq!(full_again_secs(rate, 1_000_001), 1_000 + 101 + 1);
    }
}
