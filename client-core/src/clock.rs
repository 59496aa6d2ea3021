//! The wall clock, read once here for every native driver: the CLI, both backends and
//! the emulator. The sans-IO parts of this crate never call it; drivers pass what it
//! says in as a value. Not built for the browser, where `SystemTime::now` panics: the
//! web console reads `Date.now()` instead.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Seconds since the Unix epoch (0 for a clock set before it).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_and_seconds_read_the_same_clock() {
        let (ms, secs) = (now_ms(), now_secs());
        // After 2020-01-01 and the two readings within a second of each other.
        assert!(secs > 1_577_836_800, "{secs}");
        assert!(
            ms / 1000 >= secs.saturating_sub(1) && ms / 1000 <= secs + 1,
            "{ms} {secs}"
        );
    }
}
