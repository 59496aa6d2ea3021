#!/usr/bin/env bash
# Regenerates docs/screenshots/terminal-*.png: the live screen of `tunnel start`, run
# in tmux against a local stack by the e2e test `live_screen`, drawn from tmux's
# colours (capture-pane -e, turned into HTML) by headless Chromium.
# Needs tmux and Chromium (scripts/setup.sh base browser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh base browser
cargo build --workspace --bins
TUNNEL_SCREENSHOTS="$PWD/docs/screenshots" \
  cargo test --workspace --test live_screen -- live_screen_shows_requests
ls -l docs/screenshots/terminal-*.png
