#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), starting from its committed
# seeds in corpus/<target>/. New inputs go to scratch/<target>/ (not committed), a
# crash to artifacts/<target>/; any crash or hang fails the run, after every target
# has had its turn.
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); without
# them it says so and exits 0, so a CI without nightly passes over it.
#
#   fuzz/run.sh [SECONDS]          FUZZ_TARGETS="frame_decode sse_parser" limits the set
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"

skip() {
  echo "fuzz: skipped: $*" >&2
  exit 0
}
command -v cargo >/dev/null 2>&1 || skip "no cargo"
cargo +nightly --version >/dev/null 2>&1 || skip "no nightly toolchain (rustup toolchain install nightly)"
cargo fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not installed (cargo install cargo-fuzz)"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
cargo +nightly fuzz build
failed=()
for t in $targets; do
  echo "== fuzz $t for ${secs}s" >&2
  mkdir -p "scratch/$t"
  # -timeout: one input running longer than 10 s is a hang, reported like a crash.
  if ! cargo +nightly fuzz run "$t" "scratch/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: failures in ${failed[*]}: reproduce with" >&2
  echo "  cargo +nightly fuzz run <target> artifacts/<target>/<file>" >&2
  exit 1
fi
echo "fuzz: every target ran ${secs}s without a crash or hang" >&2
