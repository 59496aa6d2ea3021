#!/usr/bin/env bash
# First run: install what is missing, build, start the local stack, register, and
# open a tunnel to PORT (or to a small demo origin), printing the public URL.
#
#   scripts/quickstart.sh [PORT]      stays in the foreground; Ctrl-C stops everything
#   scripts/quickstart.sh --console   also builds the web console (wasm; a few minutes
#                                     the first time) and serves it at the server's URL
#   scripts/quickstart.sh --check     same, but fetches the public URL once and exits
#                                     (what the test script runs to keep this honest)
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
CONSOLE=0
PORT=""
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --console) CONSOLE=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) PORT="$arg" ;;
  esac
done

scripts/setup.sh base
# TUNNEL_BIN_DIR names a folder that already holds both binaries (scripts/test.sh
# passes its debug build: a release build would add minutes to CI and test nothing
# more here); otherwise they are built in release.
if [ -n "${TUNNEL_BIN_DIR:-}" ]; then
  BIN="$TUNNEL_BIN_DIR"
  for b in tunnel tunnel-server; do
    [ -x "$BIN/$b" ] || { echo "[quickstart] TUNNEL_BIN_DIR=$BIN has no $b" >&2; exit 1; }
  done
else
  echo "[quickstart] building (release)..." >&2
  cargo build --release --quiet -p tunnel-server -p native-cli
  BIN="${CARGO_TARGET_DIR:-target}/release"
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# A --check run must not touch the user's own server data or config.
if [ "$CHECK" -eq 1 ]; then
  DATA_DIR="$WORK/data"
  export TUNNEL_CONFIG="$WORK/config"
  LISTEN="127.0.0.1:0"
else
  DATA_DIR="${TUNNEL_DATA_DIR:-$HOME/.tunnel/server}"
  LISTEN="${TUNNEL_LISTEN:-127.0.0.1:8080}"
fi
# The server's log goes to a file of its own, so the terminal shows the tunnel alone.
SERVER_LOG="$DATA_DIR.log"
mkdir -p "$DATA_DIR"

SERVER_ARGS=(--listen "$LISTEN" --data-dir "$DATA_DIR")
if [ "$CONSOLE" -eq 1 ]; then
  echo "[quickstart] building the web console..." >&2
  scripts/console-build.sh "${CARGO_TARGET_DIR:-target}/console-dist" >&2
  SERVER_ARGS+=(--console-dir "${CARGO_TARGET_DIR:-target}/console-dist")
fi
"$BIN/tunnel-server" "${SERVER_ARGS[@]}" >"$WORK/server.out" 2>"$SERVER_LOG" &
PIDS+=($!)
# The server prints its base URL once it accepts connections.
for _ in $(seq 300); do
  [ -s "$WORK/server.out" ] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || {
    echo "[quickstart] tunnel-server failed to start (is $LISTEN in use? set TUNNEL_LISTEN); its log, $SERVER_LOG:" >&2
    tail -n 20 "$SERVER_LOG" >&2
    exit 1
  }
  sleep 0.1
done
API_URL="$(head -n1 "$WORK/server.out")"
echo "[quickstart] local stack at $API_URL (server log: $SERVER_LOG)" >&2
if [ "$CONSOLE" -eq 1 ]; then
  echo "[quickstart] web console at $API_URL/ (log in with the API key in ${TUNNEL_CONFIG:-$HOME/.tunnel/config})" >&2
fi

# Register only when there is no key this server accepts yet.
if ! "$BIN/tunnel" --api-url "$API_URL" list >/dev/null 2>&1; then
  "$BIN/tunnel" --api-url "$API_URL" register >&2
fi

if [ -z "$PORT" ]; then
  # A demo origin so there is something to see.
  mkdir -p "$WORK/site"
  echo "<h1>Hello through the tunnel</h1>" >"$WORK/site/index.html"
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/site" >/dev/null 2>&1 &
  PIDS+=($!)
  # Wait until it accepts connections, or the first request would find nothing there.
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  echo "[quickstart] demo origin on localhost:$PORT" >&2
fi

if [ "$CHECK" -eq 0 ]; then
  # Not exec: this shell must outlive the tunnel to run its clean-up. Ctrl-C reaches
  # the tunnel (the terminal's foreground group), which stops itself; the server and
  # the demo origin, started in the background and so deaf to SIGINT, are ended by
  # the trap. scripts/test.sh proves nothing of this run is left afterwards.
  status=0
  "$BIN/tunnel" --api-url "$API_URL" start "$PORT" || status=$?
  exit "$status"
fi

"$BIN/tunnel" --api-url "$API_URL" start "$PORT" >"$WORK/tunnel.out" 2>"$WORK/tunnel.err" &
PIDS+=($!)
URL=""
for _ in $(seq 300); do
  URL="$(grep -m1 '^http://' "$WORK/tunnel.out" || true)"
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "[quickstart] no public URL; tunnel said:" >&2; cat "$WORK/tunnel.err" >&2; exit 1; }
echo "$URL"
# curl resolves *.localhost to loopback by itself.
curl -fsS "$URL/" | grep -q "Hello through the tunnel" && echo "[quickstart] check passed: $URL serves the demo origin" >&2
