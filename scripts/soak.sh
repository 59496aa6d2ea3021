#!/usr/bin/env bash
# The long load and soak run (issue 8): 100 tunnels, each a `tunnel start` process
# with an echo origin of its own, 20,000 requests with random methods and bodies of
# 0 B to 2 MB, every answer checked against its request, every request delivered
# exactly once to its own tunnel's origin, and the server's memory after the run
# compared with its memory after a warm-up. Prints the report kept in
# docs/reliability.md. The test suite runs the same test in a short form.
#
#   scripts/soak.sh                   release build, the full size (a few minutes)
#   SOAK_TUNNELS=20 SOAK_REQUESTS=2000 scripts/soak.sh
# Also: SOAK_MAX_BODY (bytes, default 2097152), SOAK_CONCURRENCY (32), SOAK_SEED.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh base

export SOAK_TUNNELS="${SOAK_TUNNELS:-100}"
export SOAK_REQUESTS="${SOAK_REQUESTS:-20000}"
export SOAK_MAX_BODY="${SOAK_MAX_BODY:-2097152}"
export SOAK_CONCURRENCY="${SOAK_CONCURRENCY:-32}"
# 100 `tunnel start` processes and their sockets.
ulimit -n 65536 2>/dev/null || true

# Release binaries: the soak measures what users run. The test finds the binaries
# beside its own executable, so both come from the same profile.
cargo build --release --quiet -p tunnel-server -p native-cli
cargo test --release --quiet -p e2e --test soak -- --nocapture
