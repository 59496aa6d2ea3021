//! The `echo_function` example (a real `lambda_runtime` bootstrap) and helpers to check
//! what it sends.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tunnel_emulator::{FunctionSpec, FunctionStats, Functions};

/// Byte `i` of a streamed body is `i % PERIOD` (see the example).
pub const PERIOD: usize = 251;

/// The example binary. `cargo test` builds examples next to the test executables
/// (`target/<profile>/examples/`); a run limited with `--test` does not, hence the hint.
pub fn echo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let bin = profile_dir.join("examples").join("echo_function");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test -p tunnel-emulator` (which builds \
         examples) or `cargo build -p tunnel-emulator --example echo_function` first",
        bin.display()
    );
    bin
}

/// A spec for the example with test-friendly settings.
pub fn spec(name: &str) -> FunctionSpec {
    FunctionSpec {
        name: name.into(),
        binary: echo_binary(),
        env: vec![("ECHO_MARK".into(), "marked".into())],
        timeout: Duration::from_secs(5),
        memory_mb: 256,
        max_concurrency: 2,
    }
}

/// True when `chunk` is the pattern from body offset `offset` on.
pub fn is_pattern(offset: u64, chunk: &[u8]) -> bool {
    // A pattern buffer one period longer than any slice compared against it, so the
    // comparison is a memcmp per piece rather than a loop per byte.
    const PIECE: usize = PERIOD * 256;
    thread_local! {
        static PATTERN: Vec<u8> = (0..PIECE + PERIOD).map(|i| (i % PERIOD) as u8).collect();
    }
    PATTERN.with(|pattern| {
        let mut offset = offset;
        chunk.chunks(PIECE).all(|piece| {
            let start = (offset % PERIOD as u64) as usize;
            offset += piece.len() as u64;
            piece == &pattern[start..start + piece.len()]
        })
    })
}

/// Waits, without a fixed sleep, until the function's counters satisfy `ready`
/// (counters of streamed invocations settle just after the body ends; killed
/// instances leave the pool once reaped).
pub async fn wait_for_stats(
    functions: &Functions,
    name: &str,
    ready: impl Fn(&FunctionStats) -> bool,
) -> FunctionStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = functions.stats().remove(name).expect("function exists");
        if ready(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "stats never got there: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
