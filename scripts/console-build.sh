#!/usr/bin/env bash
# Build the web console into a folder of static files that any web server can serve
# (tunnel-server --console-dir DIR, or S3 behind CloudFront).
# Usage: scripts/console-build.sh [DIR]   (default: target/console-dist)
#        scripts/console-build.sh --test  (the wasm unit tests, web-console/tests/wasm.rs,
#                                          in headless Chromium; needs setup.sh browser)
# Writes DIR/index.html, app.js, app_bg.wasm, app.css, their .gz copies, and a
# config.json pointing at the console's own origin (tunnel-server serves its own
# /config.json instead; a static host gets this one). Safe to re-run: cargo rebuilds
# only what changed and the folder is rewritten whole.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
test_mode=0
if [ "${1:-}" = "--test" ]; then test_mode=1; shift; fi
dist="${1:-$root/target/console-dist}"
case "$dist" in /*) ;; *) dist="$PWD/$dist" ;; esac
profile=console
log() { printf '[console-build] %s\n' "$*" >&2; }

# wasm-bindgen's output only loads with the CLI of the exact crate version.
version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$root/Cargo.lock")"
[ -n "$version" ] || { log "no wasm-bindgen in Cargo.lock"; exit 1; }
WASM_BINDGEN_VERSION="$version" "$root/scripts/setup.sh" wasm

# Apart from native builds by default: the fallback toolchain is another rustc.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/wasm-fallback}"

if [ "$test_mode" -eq 1 ]; then
  "$root/scripts/setup.sh" browser
  # wasm-bindgen-test-runner serves the tests to Chromium through chromedriver;
  # webdriver.json adds the flags this machine needs.
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
  export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
  export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$root/web-console/webdriver.json"
  export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
  log "wasm unit tests in headless Chromium"
  WASM_CARGO_COMMAND=test exec "$root/scripts/wasm-build.sh" web-console --test wasm
fi
log "cargo build (profile $profile) into $CARGO_TARGET_DIR"
"$root/scripts/wasm-build.sh" web-console --profile "$profile" --quiet
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/web-console.wasm"
[ -f "$wasm" ] || { log "build produced no $wasm"; exit 1; }

# Build beside the destination, then swap, so a server never sees half a folder.
stage="$(mktemp -d "${dist%/}.tmp.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$stage" --out-name app "$wasm"
if command -v wasm-opt >/dev/null 2>&1; then
  # Optional: binaryen, where installed, takes off another ~15%.
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals -o "$stage/app_bg.wasm.opt" "$stage/app_bg.wasm"
  mv "$stage/app_bg.wasm.opt" "$stage/app_bg.wasm"
fi
cp "$root/web-console/static/index.html" "$root/web-console/static/app.css" "$stage/"
printf '{"api_base_url":""}\n' >"$stage/config.json"
for f in app.js app_bg.wasm app.css index.html; do
  gzip -9 -n -c "$stage/$f" >"$stage/$f.gz"
done
chmod -R a+rX "$stage"

rm -rf "$dist.old"
[ ! -e "$dist" ] || mv "$dist" "$dist.old"
mv "$stage" "$dist"
rm -rf "$dist.old"
trap - EXIT

size() { stat -c %s "$1"; }
log "wrote $dist"
log "wasm $(size "$dist/app_bg.wasm") B ($(size "$dist/app_bg.wasm.gz") B gzipped), js $(size "$dist/app.js") B ($(size "$dist/app.js.gz") B gzipped)"
echo "$dist"
