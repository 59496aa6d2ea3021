#!/usr/bin/env bash
# Regenerates the screenshots in docs/screenshots/ (linked from the README) from the
# tests that drive the real programs. Each step is independent: one per surface, each
# writing its own files, run together or alone (`scripts/screenshots.sh console`).
#
# - terminal: the live screen of `tunnel start`, run in tmux against a local stack by
#   the e2e test `live_screen`, drawn from tmux's colours (capture-pane -e, turned
#   into HTML) by headless Chromium (terminal-*.png).
# - console: the web console in headless Chromium: the offline tunnel, the login error
#   and the access-policy editor's field error (console-*.png), taken by
#   tests/tests/console.rs where it reaches each state (Browser::doc_screenshot).
#
# Needs what those tests need: tmux, Chromium and chromedriver, and the wasm toolchain
# for the console build (scripts/setup.sh base browser wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/docs/screenshots"
mkdir -p "$out"

terminal() {
  cargo build --workspace --bins --quiet
  TUNNEL_SCREENSHOTS="$out" cargo test --workspace --test live_screen --quiet -- live_screen_shows_requests
}

console() {
  cargo build --workspace --bins --quiet
  TUNNEL_SCREENSHOTS="$out" cargo test --workspace --test console --quiet
}

steps=("${@:-terminal console}")
for s in ${steps[@]}; do
  case "$s" in
    terminal) terminal ;;
    console) console ;;
    *) echo "unknown step: $s (steps: terminal console)" >&2; exit 2 ;;
  esac
done
ls -1 "$out"
