#!/usr/bin/env bash
# Idempotent, non-interactive installer for what the build and tests need.
# Usage: scripts/setup.sh [base] [wasm] [python] [api] [browser] [node] [webhooks] [lambda] [bench] [fuzz] [acme] [release]   (no args = base)
# Safe to re-run: every step checks first and skips what is present, so a
# second run costs a few seconds. Runs as root in CI (CI=true, no terminal).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
VENV="${TUNNEL_VENV:-$HOME/.cache/tunnel-venv}"
HCL_VENV="${TUNNEL_HCL_VENV:-$HOME/.cache/tunnel-venv-hcl}"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
# A tool an install step should have provided: its absence ends the set-up with the
# reason, instead of letting a later test fail obscurely (or skip silently).
require() {
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || die "$2"
}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Only root can apt-get; a developer's non-root machine gets sudo if present.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# The image's apt lists can be months old: candidates are then missing
# (lld-22) or outdated (rustc-web 1.85), and old .debs may be gone from the
# mirror. So refresh once per run, but only when something must be installed.
APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
}

# True when every named package is already installed.
dpkg_installed() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
  done
}

# True when apt knows an installable candidate for the package.
apt_has() {
  local c
  c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

apt_install() {
  dpkg_installed "$@" && return 0
  apt_update_once
  log "apt-get install $*"
  $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

setup_base() {
  require cargo "cargo not found: install a Rust toolchain with rustup (https://rustup.rs) and put ~/.cargo/bin on PATH"
  cargo fmt --version >/dev/null 2>&1 || die "rustfmt not found: rustup component add rustfmt"
  cargo clippy --version >/dev/null 2>&1 || die "clippy not found: rustup component add clippy"
  # curl is a real client in the end-to-end tests; python3 makes the venvs.
  command -v curl >/dev/null 2>&1 || apt_install curl
  command -v python3 >/dev/null 2>&1 || apt_install python3
  # tmux is the pseudo-terminal the CLI's terminal tests type into.
  command -v tmux >/dev/null 2>&1 || apt_install tmux
  require curl "curl is missing after apt-get install curl"
  require tmux "tmux is missing after apt-get install tmux"
}

setup_wasm() {
  # A rustup target (a user's machine) is preferred and needs nothing else.
  if command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "wasm: rustup target wasm32-unknown-unknown present"
  else
    # rustup cannot download targets here. Debian's rustc-web ships a recent
    # rustc/cargo in /usr/bin plus std sources, so std is built for wasm with
    # -Zbuild-std (see scripts/wasm-build.sh). The Recommends rust-web-llvm
    # is skipped: it pulls all of llvm-22 in just for a rust-lld symlink, and
    # wasm-build.sh links with lld-N's wasm-ld-N instead.
    local pkgs=(rustc-web cargo-web rust-web-src)
    local lld=lld-22
    # Any lld-N counts as present, so a re-run after the fallback below is quick.
    if ! { dpkg_installed "${pkgs[@]}" && compgen -G '/usr/bin/wasm-ld-*' >/dev/null; }; then
      apt_update_once
      local p
      for p in "${pkgs[@]}"; do apt_has "$p" || die "apt has no package $p"; done
      if ! apt_has "$lld"; then
        # LLVM majors move with Debian updates: take the newest lld-N offered.
        lld="$(apt-cache search --names-only '^lld-[0-9]+$' | awk '{print $1}' | sort -t- -k2 -n | tail -1)"
        [ -n "$lld" ] || die "apt has no lld-N package"
        log "wasm: lld-22 not offered, using $lld"
      fi
      apt_install "${pkgs[@]}" "$lld"
    fi
    { [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ]; } || die "rustc-web/cargo-web did not provide /usr/bin/cargo and /usr/bin/rustc"
    log "wasm: fallback toolchain $(/usr/bin/rustc --version)"
  fi

  # wasm-bindgen-cli must equal the wasm-bindgen crate's version exactly, so
  # the caller pins it. No --locked: the crates.io index here can lag the lock.
  if [ -n "${WASM_BINDGEN_VERSION:-}" ]; then
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$WASM_BINDGEN_VERSION" ]; then
      log "wasm: wasm-bindgen $WASM_BINDGEN_VERSION present"
    else
      log "wasm: cargo install wasm-bindgen-cli =$WASM_BINDGEN_VERSION"
      cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --force
    fi
  fi
}

# The one venv that the python and lambda components share.
ensure_venv() {
  # Debian's python3 splits venv/ensurepip out; pyenv builds have them.
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  if [ ! -x "$VENV/bin/pip" ]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV"
  fi
}

setup_python() {
  ensure_venv
  # What the tests need from PyPI, with bounds, is one committed file; pip skips
  # what is already satisfied without asking the index, so a re-run costs ~2 s.
  log "python: pip install -r scripts/python-requirements.txt into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/scripts/python-requirements.txt"
  require "$VENV/bin/moto_server" "moto[server] did not install into $VENV"
  require "$VENV/bin/checkov" "checkov did not install into $VENV"
  log "python: venv ready"
  echo "TUNNEL_VENV=$VENV"

  # python-hcl2 (tests/infra/check_schema.py) in a venv of its own: checkov's fork
  # bc-python-hcl2 owns the same `hcl2` module and cannot tell `x {}` from `x = {}`.
  [ -x "$HCL_VENV/bin/pip" ] || { log "creating venv $HCL_VENV"; python3 -m venv "$HCL_VENV"; }
  "$HCL_VENV/bin/pip" install -q --disable-pip-version-check 'python-hcl2>=8.1,<9'
  "$HCL_VENV/bin/python" -c 'import hcl2; hcl2.SerializationOptions' 2>/dev/null ||
    die "python-hcl2 did not install into $HCL_VENV"
  echo "TUNNEL_HCL_VENV=$HCL_VENV"
}

# schemathesis (REST API fuzzing) in a venv of its own: its dependencies (packaging,
# pytest) conflict with checkov's pins in the shared one.
API_VENV="${TUNNEL_API_VENV:-$HOME/.cache/tunnel-venv-schemathesis}"
setup_api() {
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  [ -x "$API_VENV/bin/pip" ] || { log "creating venv $API_VENV"; python3 -m venv "$API_VENV"; }
  if [ -x "$API_VENV/bin/st" ]; then
    log "api: $("$API_VENV/bin/st" --version)"
  else
    log "api: pip install schemathesis"
    "$API_VENV/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4.32,<5'
  fi
  require "$API_VENV/bin/st" "schemathesis did not install into $API_VENV"
}

setup_browser() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    log "browser: chromium and chromedriver present"
  else
    apt_install chromium chromium-driver
  fi
  require /usr/bin/chromium "chromium is missing after apt-get install chromium"
  require /usr/bin/chromedriver "chromedriver is missing after apt-get install chromium-driver"
}

setup_lambda() {
  # Lambda bootstraps are linked against glibc 2.34 (provided.al2023) with
  # cargo-zigbuild; zig comes from PyPI's ziglang wheel in the same venv, and
  # cargo-zigbuild runs it as `python3 -m ziglang` (scripts/package-lambdas.sh
  # puts the venv's bin first on PATH). objdump/readelf (binutils) read the
  # GLIBC symbol versions (scripts/check-glibc.sh); zip packs the bootstraps.
  local pkgs=()
  command -v objdump >/dev/null 2>&1 || pkgs+=(binutils)
  command -v zip >/dev/null 2>&1 || pkgs+=(zip)
  if [ "${#pkgs[@]}" -gt 0 ]; then apt_install "${pkgs[@]}"; fi

  ensure_venv
  if "$VENV/bin/python" -c 'import ziglang' >/dev/null 2>&1; then
    log "lambda: ziglang present"
  else
    log "lambda: pip install ziglang"
    "$VENV/bin/pip" install -q --disable-pip-version-check ziglang
  fi

  # `cargo zigbuild --version` is rejected (exit 2) by cargo-zigbuild 0.24, so
  # ask the binary that cargo runs for the subcommand.
  if cargo-zigbuild --version >/dev/null 2>&1; then
    log "lambda: $(cargo-zigbuild --version)"
  else
    log "lambda: cargo install cargo-zigbuild"
    # --locked first; the crates.io index here can lag the lock, so retry without.
    cargo install cargo-zigbuild --locked ||
      { log "lambda: --locked failed, retrying without"; cargo install cargo-zigbuild; }
  fi
  log "lambda: zig $("$VENV/bin/python" -m ziglang version)"
  echo "TUNNEL_VENV=$VENV"
}

# bench/run.sh: wrk (load generator), nginx (the origin; run by the benchmark with its
# own config on a loopback port, never as a system service) and bore (the baseline).
setup_bench() {
  local pkgs=()
  command -v wrk >/dev/null 2>&1 || pkgs+=(wrk)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || pkgs+=(nginx)
  if [ "${#pkgs[@]}" -gt 0 ]; then
    # A package's postinst may try to start the nginx service on port 80; without an
    # init system that fails harmlessly, and a policy-rc.d keeps it from trying.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    apt_install "${pkgs[@]}" || { [ "$made_policy" -eq 0 ] || rm -f "$policy"; die "apt-get install ${pkgs[*]} failed"; }
    [ "$made_policy" -eq 0 ] || rm -f "$policy"
  fi
  log "bench: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $( (/usr/sbin/nginx -v || nginx -v) 2>&1 | head -1)"
  if command -v bore >/dev/null 2>&1; then
    log "bench: $(bore --version)"
  else
    log "bench: cargo install bore-cli"
    cargo install bore-cli --locked ||
      { log "bench: --locked failed, retrying without"; cargo install bore-cli; }
  fi
}

# Webhook signers from the providers' own PyPI libraries (tests/webhooks/sign.py), in
# a venv of their own (TUNNEL_WEBHOOKS_VENV); the npm ones come with the node component.
WEBHOOKS_VENV="${TUNNEL_WEBHOOKS_VENV:-$HOME/.cache/tunnel-venv-webhooks}"
setup_webhooks() {
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then apt_install python3-venv; fi
  [ -x "$WEBHOOKS_VENV/bin/pip" ] || { log "creating venv $WEBHOOKS_VENV"; python3 -m venv "$WEBHOOKS_VENV"; }
  "$WEBHOOKS_VENV/bin/pip" install -q --disable-pip-version-check 'slack_sdk>=3.33,<4' 'standardwebhooks>=1.1,<2'
  "$WEBHOOKS_VENV/bin/python" -c 'import slack_sdk, standardwebhooks' 2>/dev/null ||
    die "slack_sdk and standardwebhooks did not install into $WEBHOOKS_VENV"
  echo "TUNNEL_WEBHOOKS_VENV=$WEBHOOKS_VENV"
}

# npm projects the tests run (a real Vite dev server, providers' signing libraries):
# every tests/*/package-lock.json, installed with `npm ci` exactly as locked. A
# project is skipped while its node_modules was made from the same lock.
setup_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  require node "node is missing after apt-get install nodejs"
  require npm "npm is missing after apt-get install npm"
  # The test projects' packages (Vite 8 in tests/vite-app, @shopify/shopify-api 13 in
  # tests/webhooks) need Node 20.19 or newer.
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
    die "node $(node --version) is too old: the test projects need Node 20.19 or newer"
  local lock dir stamp
  for lock in "$ROOT"/tests/*/package-lock.json; do
    [ -e "$lock" ] || continue
    dir="$(dirname "$lock")"
    stamp="$dir/node_modules/.lock-sha256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(sha256sum <"$lock")" ]; then
      log "node: ${dir#"$ROOT"/} up to date"
      continue
    fi
    log "node: npm ci in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $dir"
    sha256sum <"$lock" >"$stamp"
  done
  log "node: $(node --version), npm $(npm --version)"
}

# fuzz/run.sh: cargo-fuzz, only where a nightly toolchain exists (libFuzzer needs
# nightly's sanitizer flags). Without nightly this says so and does nothing; the fuzz
# step then skips itself too. No toolchain is downloaded here.
setup_fuzz() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    # CI must fuzz: a CI machine without nightly is a broken set-up, not a skip.
    [ "${CI:-}" != true ] || die "fuzz: no nightly toolchain on a CI machine (rustup toolchain install nightly)"
    log "fuzz: no nightly toolchain, the fuzz step will be skipped (rustup toolchain install nightly)"
    return 0
  fi
  if cargo fuzz --version >/dev/null 2>&1; then
    log "fuzz: $(cargo fuzz --version)"
  else
    log "fuzz: cargo install cargo-fuzz"
    cargo install cargo-fuzz --locked ||
      { log "fuzz: --locked failed, retrying without"; cargo install cargo-fuzz; }
  fi
}

# tests/tests/acme.rs: Pebble, Let's Encrypt's test CA, and pebble-challtestsrv (its
# DNS answers), both in Debian's pebble package; run offline on loopback.
setup_acme() {
  command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1 ||
    apt_install pebble
  require pebble "pebble is missing after apt-get install pebble"
  require pebble-challtestsrv "pebble-challtestsrv is missing after apt-get install pebble"
}

# scripts/release.sh and tests/release/deb-check.sh: dpkg-deb packs the .debs, strip
# (binutils) the binaries, systemd-analyze verifies the unit, file tells stripped
# binaries apart.
setup_release() {
  command -v dpkg-deb >/dev/null 2>&1 || apt_install dpkg
  command -v strip >/dev/null 2>&1 || apt_install binutils
  command -v file >/dev/null 2>&1 || apt_install file
  command -v systemd-analyze >/dev/null 2>&1 || apt_install systemd
  require systemd-analyze "systemd-analyze is missing after apt-get install systemd"
  require strip "strip is missing after apt-get install binutils"
}

# The whole run is one block, read before any of it runs, and ends in `exit`: editing
# this file while it runs (a developer's next change) cannot change what the run does.
{
[ "$#" -gt 0 ] || set -- base
for component in "$@"; do
  case "$component" in
    base | wasm | python | api | browser | node | webhooks | lambda | bench | fuzz | acme | release) ;;
    *) die "unknown component '$component' (expected: base wasm python api browser node webhooks lambda bench fuzz acme release)" ;;
  esac
done
for component in "$@"; do "setup_$component"; done
exit
}
