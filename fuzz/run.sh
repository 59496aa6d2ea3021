#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), starting from its committed
# seeds in corpus/<target>/. New inputs go to scratch/<target>/ (not committed), a
# crash to artifacts/<target>/; any crash or hang fails the run, after every target
# has had its turn.
#
# libFuzzer runs one target on one core, so FUZZ_JOBS targets (default: the number
# of cores) run side by side: every target still gets its SECONDS, and the step's
# wall time is divided by the cores (CI's 2 cores: 8 x 30 s in about 2 minutes).
# Each target's output goes to scratch/<target>.log; its final stats are printed, the
# whole log when it fails.
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); without
# them it says so and exits 0, so a CI without nightly passes over it.
#
#   fuzz/run.sh [SECONDS]          FUZZ_TARGETS="frame_decode sse_parser" limits the set
#                                  FUZZ_JOBS=1 runs them one after another
#                                  FUZZ_SANITIZER=address builds with ASan
#
# No sanitizer by default: the workspace denies `unsafe_code` (one reviewed exception,
# not on any fuzzed path), so AddressSanitizer has nothing of ours to watch, and the
# targets look for panics, wrong answers and hangs, which libFuzzer sees without it.
# Measured on 2 cores (load 5-6): the build 290 s with ASan, 151 s without.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"
jobs="${FUZZ_JOBS:-$(nproc)}"
sanitizer="${FUZZ_SANITIZER:-none}"

skip() {
  echo "fuzz: skipped: $*" >&2
  exit 0
}
command -v cargo >/dev/null 2>&1 || skip "no cargo"
cargo +nightly --version >/dev/null 2>&1 || skip "no nightly toolchain (rustup toolchain install nightly)"
cargo fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not installed (cargo install cargo-fuzz)"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
cargo +nightly fuzz build -s "$sanitizer"
# Everything is built: the runs below only check freshness, not compile.

# One target: its output in its log, its exit status as the function's.
fuzz_one() {
  local t="$1"
  mkdir -p "scratch/$t"
  # -timeout: one input running longer than 10 s is a hang, reported like a crash.
  cargo +nightly fuzz run -s "$sanitizer" "$t" "scratch/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"scratch/$t.log" 2>&1
}

failed=()
declare -A running=() # pid -> target
# Waits for one running target and reports it.
reap() {
  local pid rc=0
  wait -n -p pid "${!running[@]}" || rc=$?
  local t="${running[$pid]}"
  unset "running[$pid]"
  if [ "$rc" -eq 0 ]; then
    echo "== fuzz $t: ok, ${secs}s: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "scratch/$t.log" | grep -o '[0-9]*$' || echo '?') runs" >&2
  else
    echo "== fuzz $t: FAILED (exit $rc); its log:" >&2
    cat "scratch/$t.log" >&2
    failed+=("$t")
  fi
}
for t in $targets; do
  while ((${#running[@]} >= jobs)); do reap; done
  echo "== fuzz $t for ${secs}s" >&2
  fuzz_one "$t" &
  running[$!]="$t"
done
while ((${#running[@]})); do reap; done

if ((${#failed[@]})); then
  echo "fuzz: failures in ${failed[*]}: reproduce with" >&2
  echo "  cargo +nightly fuzz run -s $sanitizer <target> artifacts/<target>/<file>" >&2
  exit 1
fi
echo "fuzz: every target ran ${secs}s without a crash or hang" >&2
