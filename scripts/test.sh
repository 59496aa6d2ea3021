#!/usr/bin/env bash
# Every test: installs what is missing, then formatting, lints, the workspace's
# tests (unit, contract, end-to-end), the wasm build of client-core, and the
# quickstart check. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh base wasm python
step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test --workspace"
cargo test --workspace

step "client-core for wasm32-unknown-unknown"
scripts/wasm-build.sh client-core --quiet

step "quickstart --check (the README's first command)"
scripts/quickstart.sh --check
