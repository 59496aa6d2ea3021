#!/usr/bin/env bash
# Build one crate for wasm32-unknown-unknown.
# Usage: scripts/wasm-build.sh [CRATE] [cargo build args...]   (CRATE defaults
# to client-core; e.g. scripts/wasm-build.sh client-core --release)
# WASM_CARGO_COMMAND=test runs `cargo test` the same way instead of `cargo build`.
# The .wasm lands in $CARGO_TARGET_DIR/wasm32-unknown-unknown/<profile>/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
crate=client-core
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then crate="$1"; shift; fi

"$root/scripts/setup.sh" wasm
cd "$root"

# A user's machine with the rustup target needs nothing special.
if command -v rustup >/dev/null 2>&1 &&
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  exec cargo "${WASM_CARGO_COMMAND:-build}" -p "$crate" --target wasm32-unknown-unknown "$@"
fi

# Fallback (rustup cannot fetch targets here): Debian's rustc/cargo 1.96 build
# std from rust-web-src. RUSTC_BOOTSTRAP unlocks -Zbuild-std on stable. A
# separate target dir, as artifacts of a different rustc can't be reused.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/wasm-fallback}"
# The target's default linker is rust-lld, which only Debian's rust-web-llvm
# (pulling in all of llvm) provides; lld-N's wasm-ld-N does the same job.
if ! command -v rust-lld >/dev/null 2>&1 && [ -z "${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER:-}" ]; then
  wasm_ld="$(find /usr/bin -maxdepth 1 -name 'wasm-ld-*' | sort -t- -k3 -n | tail -1)"
  [ -n "$wasm_ld" ] || { echo "wasm-build: no wasm-ld-N in /usr/bin (run scripts/setup.sh wasm)" >&2; exit 1; }
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$wasm_ld"
fi
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 exec /usr/bin/cargo "${WASM_CARGO_COMMAND:-build}" -p "$crate" \
  --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "$@"
