//! The AWS figures the emulator enforces, named once.
//!
//! The constants are Lambda's documented quotas; [`Limits`] carries them at run time so
//! that a caller may tighten one (the account's concurrency, whose real edge needs a
//! thousand processes, is tested at a small figure) or turn on the streaming
//! bandwidth cap.

use std::time::Duration;

/// Lambda: the largest synchronous invocation payload, "6 MB" in the quotas table,
/// which Lambda counts as 6 MiB. A bigger payload is refused before any instance runs
/// (`RequestTooLargeException`, HTTP 413).
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// Lambda: the largest buffered (non-streamed) response, 6 MiB. The runtime's POST of
/// a bigger one is answered 413 and the invocation fails with
/// `Function.ResponseSizeTooLarge`.
pub const MAX_BUFFERED_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Lambda: the largest streamed response (Function URL in `RESPONSE_STREAM` mode),
/// "200 MB", counted like the 6 MB figure in binary megabytes. It bounds the body;
/// the prelude of a Function URL stream (itself bounded by [`MAX_PRELUDE_BYTES`]) is
/// not counted.
pub const MAX_STREAMED_RESPONSE_BYTES: u64 = 200 * 1024 * 1024;

/// Lambda: a streamed response is sent at full speed for its first 6 MB, then at about
/// 2 MB/s. Only applied when [`Limits::stream_rate`] is set.
pub const STREAM_UNTHROTTLED_BYTES: u64 = 6 * 1024 * 1024;

/// Lambda: the bandwidth after [`STREAM_UNTHROTTLED_BYTES`], "up to 2 MBps".
pub const STREAM_THROTTLED_BYTES_PER_SEC: u64 = 2 * 1024 * 1024;

/// API Gateway's streaming contract: the JSON prelude and its 8-NUL delimiter must be
/// within the first 16 KB of the stream. Function URLs document no figure of their own,
/// so the emulator holds both to this one.
pub const MAX_PRELUDE_BYTES: usize = 16 * 1024;

/// The 8 NUL bytes that end the prelude of an `http-integration-response` stream.
pub const PRELUDE_DELIMITER: [u8; 8] = [0; 8];

/// Lambda: the Init phase (process start until its first `/next`) is limited to 10 s.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Lambda: the shortest function timeout that can be configured.
pub const MIN_FUNCTION_TIMEOUT: Duration = Duration::from_secs(1);

/// Lambda: the longest function timeout, 15 minutes.
pub const MAX_FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);

/// Lambda: concurrent executions per account and Region, "1,000" by default in the
/// quotas table (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>),
/// shared by every function that has no reserved concurrency. Past it an invocation is
/// refused with `TooManyRequestsException` (reason `ConcurrentInvocationLimitExceeded`),
/// which a Function URL answers 429
/// (<https://docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html#urls-throttling>).
pub const ACCOUNT_CONCURRENCY: usize = 1_000;

/// Lambda: the smallest memory setting, in MB.
pub const MIN_MEMORY_MB: u32 = 128;

/// Lambda: the largest memory setting, in MB.
pub const MAX_MEMORY_MB: u32 = 10_240;

/// The limits a [`Functions`](crate::Functions) enforces. [`Default`] is AWS's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest invocation payload.
    pub max_request_bytes: usize,
    /// Largest buffered response.
    pub max_buffered_response_bytes: usize,
    /// Largest streamed response, prelude included.
    pub max_streamed_response_bytes: u64,
    /// Largest prelude (JSON plus delimiter) of a Function URL stream.
    pub max_prelude_bytes: usize,
    /// How long a new instance may take to ask for its first event.
    pub init_timeout: Duration,
    /// Invocations running at once across every function (the account's concurrency).
    pub account_concurrency: usize,
    /// Bandwidth of a streamed response after its first [`STREAM_UNTHROTTLED_BYTES`],
    /// in bytes per second; `None` streams at full speed throughout. Off by default so
    /// that tests of large bodies stay fast; set it to
    /// [`STREAM_THROTTLED_BYTES_PER_SEC`] to see what AWS users would.
    pub stream_rate: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: MAX_REQUEST_BYTES,
            max_buffered_response_bytes: MAX_BUFFERED_RESPONSE_BYTES,
            max_streamed_response_bytes: MAX_STREAMED_RESPONSE_BYTES,
            max_prelude_bytes: MAX_PRELUDE_BYTES,
            init_timeout: INIT_TIMEOUT,
            account_concurrency: ACCOUNT_CONCURRENCY,
            stream_rate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_figures() {
        assert_eq!(MAX_REQUEST_BYTES, 6_291_456);
        assert_eq!(MAX_BUFFERED_RESPONSE_BYTES, 6_291_456);
        assert_eq!(MAX_STREAMED_RESPONSE_BYTES, 209_715_200);
        assert_eq!(Limits::default().account_concurrency, 1_000);
        assert_eq!(Limits::default().stream_rate, None);
    }
}
