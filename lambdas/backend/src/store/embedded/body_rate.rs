//! How fast captured bodies may go into the request log's file.
//!
//! A body written to redb costs far more than one kept in memory: it is copied into
//! pages, checksummed and written, and a mebibyte at a time that is fresh memory to
//! fault in. On 10 MiB POSTs at full speed (1 MiB of each captured), the log writer
//! was a third of tunnel-server's CPU, and capture in all half of it
//! (docs/benchmarks.md). So the file takes bodies at a bounded rate: a token bucket
//! the log writer refills with the time it is given. An exchange whose bodies do not
//! fit is written without them (sizes kept, marked truncated); the log in memory
//! still shows them whole while it holds them (`LOG_MEMORY_BYTES`).

/// A token bucket of body bytes; time is a parameter (milliseconds, monotonic).
#[derive(Debug)]
pub(super) struct BodyRate {
    per_sec: u64,
    /// What may be written now, in thousandths of a byte (so that refills a
    /// millisecond apart lose no fraction); at most one second's worth.
    allowance: u128,
    /// When it was last refilled.
    at_ms: Option<u64>,
}

impl BodyRate {
    /// A bucket of `per_sec` bytes a second, full.
    pub(super) fn new(per_sec: u64) -> Self {
        Self {
            per_sec,
            allowance: Self::milli(per_sec),
            at_ms: None,
        }
    }

    fn milli(bytes: u64) -> u128 {
        u128::from(bytes) * 1000
    }

    /// Adds what the time since the last refill earned, up to one second's worth.
    pub(super) fn refill(&mut self, now_ms: u64) {
        if let Some(at) = self.at_ms {
            let earned = u128::from(self.per_sec) * u128::from(now_ms.saturating_sub(at));
            self.allowance = (self.allowance + earned).min(Self::milli(self.per_sec));
        }
        // A clock read that went back (it should not: the caller's is monotonic)
        // earns nothing, and is not taken as the new mark.
        self.at_ms = Some(self.at_ms.map_or(now_ms, |at| at.max(now_ms)));
    }

    /// Takes `bytes` when they fit in what is left; answers whether they did. An
    /// exchange without bodies always fits.
    pub(super) fn take(&mut self, bytes: u64) -> bool {
        if Self::milli(bytes) <= self.allowance {
            self.allowance -= Self::milli(bytes);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u64 = 1000;

    #[test]
    fn a_full_bucket_takes_exactly_one_seconds_worth() {
        let mut b = BodyRate::new(RATE);
        b.refill(5_000);
        assert!(b.take(RATE), "the whole second's worth at the edge");
        assert!(!b.take(1), "one byte past it");
        assert!(b.take(0), "no bodies always fit");
    }

    #[test]
    fn one_byte_past_the_allowance_is_refused_and_costs_nothing() {
        let mut b = BodyRate::new(RATE);
        b.refill(0);
        assert!(!b.take(RATE + 1));
        assert!(b.take(RATE), "the refusal took nothing");
    }

    #[test]
    fn time_refills_it_up_to_one_second() {
        let mut b = BodyRate::new(RATE);
        b.refill(0);
        assert!(b.take(RATE));
        b.refill(250);
        assert!(
            b.take(250) && !b.take(1),
            "a quarter second earns a quarter"
        );
        b.refill(60_000);
        assert!(
            b.take(RATE) && !b.take(1),
            "a long pause earns one second, not sixty"
        );
    }

    #[test]
    fn a_clock_that_steps_back_earns_nothing() {
        let mut b = BodyRate::new(RATE);
        b.refill(10_000);
        assert!(b.take(RATE));
        b.refill(9_000);
        assert!(!b.take(1));
        b.refill(10_100);
        assert!(
            b.take(100) && !b.take(1),
            "earned from the latest mark, not the older one"
        );
    }

    #[test]
    fn refills_a_millisecond_apart_lose_no_fraction() {
        let mut b = BodyRate::new(10);
        b.refill(0);
        assert!(b.take(10));
        for ms in 1..=100 {
            b.refill(ms);
        }
        assert!(
            b.take(1) && !b.take(1),
            "a tenth of a second of 10 B/s is one byte"
        );
    }
}
