#!/usr/bin/env bash
# Every test: installs what is missing, then formatting, lints, the workspace's
# tests (unit, store contract on both stores, end-to-end on the local stack and on
# the AWS emulator, the web console in headless Chromium, TLS, ACME against Pebble),
# REST API fuzzing with
# schemathesis, 30 s of cargo-fuzz per target, the wasm build and wasm unit tests in Chromium of client-core, the Lambda packages and their
# GLIBC check, and the quickstart check. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# One clean build: incremental artifacts only cost disk (gigabytes) here.
export CARGO_INCREMENTAL=0

# The whole run is one block, read before any of it runs, and ends in `exit`: editing
# this file while it runs (a developer's next change) cannot change what the run does.
{
# Each step's duration, and the whole run's, go to stderr as the next step starts
# (CI must stay under 35 minutes on 2 cores: this says where the time goes).
run_start=$SECONDS step_start=$SECONDS step_name=""
step() {
  [ -z "$step_name" ] || printf '== %s: %d s\n' "$step_name" $((SECONDS - step_start)) >&2
  step_name="$*" step_start=$SECONDS
  printf '\n== %s\n' "$*" >&2
}
finish() {
  local rc=$?
  printf '== %s: %d s\n== total: %d s (exit %d)\n' "$step_name" $((SECONDS - step_start)) $((SECONDS - run_start)) "$rc" >&2
  [ -z "${fresh_venvs:-}" ] || rm -rf "$fresh_venvs"
}
trap finish EXIT

# CI builds its Python virtualenvs anew in a temporary folder on every run, so every
# install path runs there (a venv this machine kept cannot hide a broken one); pip's
# own cache keeps that to about a minute. Elsewhere the venvs in ~/.cache are reused.
if [ "${CI:-}" = true ] && [ -z "${TUNNEL_VENV:-}" ]; then
  fresh_venvs="$(mktemp -d /tmp/tunnel-ci-venvs.XXXXXX)"
  export TUNNEL_VENV="$fresh_venvs/venv" TUNNEL_API_VENV="$fresh_venvs/venv-schemathesis" \
    TUNNEL_HCL_VENV="$fresh_venvs/venv-hcl" TUNNEL_WEBHOOKS_VENV="$fresh_venvs/venv-webhooks"
fi

step "set-up (scripts/setup.sh)"
scripts/setup.sh base wasm python api browser node webhooks fuzz acme release

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "web console build (wasm, served to the browser tests)"
export TUNNEL_CONSOLE_DIR="$PWD/target/console-dist"
scripts/console-build.sh "$TUNNEL_CONSOLE_DIR"

step "cargo test --workspace"
# The end-to-end tests run the real binaries (tunnel, tunnel-server, the Lambda
# bootstraps); `cargo test` builds a package's binaries only for that package's own
# tests, so build them all first.
cargo build --workspace --bins --quiet
cargo test --workspace

step "bench tools check (bench/idle-tunnels, a workspace of its own)"
# Only bench/run.sh runs it (and builds it); checking it here keeps it in step with
# client-core and native-cli. A check, not a build: 28 s against 66 s on 2 cores.
cargo check --quiet --manifest-path bench/idle-tunnels/Cargo.toml --target-dir target

step "REST API fuzzing from the OpenAPI document (schemathesis: no 5xx, answers match)"
tests/api/schemathesis.sh

step "fuzzing: every cargo-fuzz target for 30 s from its committed corpus (needs nightly)"
fuzz/run.sh 30

step "client-core for wasm32-unknown-unknown"
scripts/wasm-build.sh client-core --quiet

step "wasm unit tests in headless Chromium (client-core and the console's services)"
scripts/console-build.sh --test

step "Lambda packages for provided.al2023 (highest GLIBC symbol <= 2.34)"
# The lambda-check profile (Cargo.toml): the same bins, zips and GLIBC check as a
# deployable build, without optimising crates no one runs (98 s against the dev
# profile's 309 s on 2 cores). Written apart from target/lambda, so a deployable
# package there is not replaced.
LAMBDA_OUT_DIR="$PWD/target/lambda-check" scripts/package-lambdas.sh --profile lambda-check
# The check must be able to fail: a program that needs glibc 2.36 is refused.
probe="$(mktemp -d)"
printf '#include <stdlib.h>\nint main(void) { return (int)(arc4random() & 1); }\n' >"$probe/needs236.c"
if cc -o "$probe/needs236" "$probe/needs236.c" 2>/dev/null; then
  if scripts/check-glibc.sh "$probe/needs236" >/dev/null; then
    echo "check-glibc.sh accepted a binary that needs glibc 2.36" >&2
    exit 1
  fi
fi
rm -rf "$probe"

step "infra: Terraform against the code, the provider schema and AWS's contracts; checkov"
# check_infra.py: infra/*.tf against the code's functions, env vars, tables, routes
# and IAM needs. check_schema.py: against the AWS provider's own schema
# (tests/infra/provider-schema.json) and what no schema shows (the dashboard body,
# by terraform console where a binary exists, the Function URL permissions, the
# alarm topic's key, the certificate's region); it needs python-hcl2 8, which
# cannot share checkov's venv (checkov's fork owns the module name hcl2).
# --self-test on both proves deliberate mistakes fail. The CloudFront Function's
# file runs in Node. checkov from the venv, offline (--skip-download: no platform
# calls). terraform fmt only where a binary exists.
venv_py="${TUNNEL_VENV:-$HOME/.cache/tunnel-venv}/bin/python"
hcl_py="${TUNNEL_HCL_VENV:-$HOME/.cache/tunnel-venv-hcl}/bin/python"
"$venv_py" tests/infra/check_infra.py --self-test
"$hcl_py" tests/infra/check_schema.py --self-test
node --test tests/infra/cloudfront_function.test.mjs
"$(dirname "$venv_py")/checkov" -d infra --quiet --compact --skip-download
if command -v terraform >/dev/null 2>&1; then
  terraform fmt -check -recursive infra
fi

step "release packaging: scripts/release.sh --profile dev, the .debs installed, run end to end, purged"
# The dist profile's LTO build takes minutes more on 2 cores (docs/benchmarks.md), so
# CI packs the debug binaries built above (stripped, the console built in: only
# tunnel-server is rebuilt) and checks everything but the optimisation.
RELEASE_REUSE_CONSOLE=1 scripts/release.sh --profile dev --out target/release-check
tests/release/deb-check.sh target/release-check

step "quickstart --check and one Ctrl-C (the README's first command)"
# The debug binaries built above: a release build here would only add minutes.
export TUNNEL_BIN_DIR="$PWD/target/debug"
scripts/quickstart.sh --check
tests/quickstart/ctrl-c.sh
exit
}
