#!/usr/bin/env bash
# Regenerates the screenshots in docs/screenshots/ (linked from the README) from the
# tests that drive the real programs. Each step is independent: one per surface, each
# writing its own files, so steps can be added (the terminal screen) or run alone
# (`scripts/screenshots.sh console`).
#
# Needs what those tests need: Chromium and chromedriver (`scripts/setup.sh browser`)
# and the wasm toolchain for the console build (`scripts/setup.sh wasm`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0
out="$PWD/docs/screenshots"
mkdir -p "$out"

# The web console in headless Chromium: the offline tunnel, the login error and the
# access-policy editor's field error (console-*.png), taken by tests/tests/console.rs
# where it reaches each state (Browser::doc_screenshot).
console() {
  cargo build --workspace --bins --quiet
  TUNNEL_SCREENSHOTS="$out" cargo test --workspace --test console --quiet
}

steps=("${@:-console}")
for s in "${steps[@]}"; do
  case "$s" in
    console) console ;;
    *) echo "unknown step: $s (steps: console)" >&2; exit 2 ;;
  esac
done
ls -1 "$out"
