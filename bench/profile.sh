#!/usr/bin/env bash
# Where the time goes on our path: the small-GET (or 10 MiB GET) load of bench/run.sh
# against tunnel-server + `tunnel start` + nginx, with `perf record` on the server and
# the client, then each one's hottest symbols (self time, and with children).
#
#   bench/profile.sh [small|bulk|post] [SECONDS] release binaries from bench/run.sh's build
#                                                (post: 10 MiB POSTs, as bench/run.sh's)
#   PROFILE_NO_PERF=1 bench/profile.sh small 5   only the CPU per request (utime+stime)
#   PROFILE_KEEP=1 bench/profile.sh ...          keep the work directory (perf data, logs)
#   PROFILE_SERVER_ARGS="--capture-bytes 0" ...  more tunnel-server flags
#   PROFILE_CALL_GRAPH=dwarf bench/profile.sh    call graphs through Rust code (the release
#                                                build has no frame pointers; default fp)
# Needs perf (linux-perf) besides what scripts/setup.sh bench installs. Loopback only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-small}"
SECS="${2:-5}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
WORK="$(mktemp -d)"
PIDS=()
# The work directory holds a 10 MiB file, the server's data and perf's samples (~100 MB
# a run): removed on exit unless asked to keep it, or a failed run's to read.
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${PROFILE_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
[ -z "${PROFILE_DEBUG:-}" ] || set -x
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; exit 1; }

NGINX_PORT="$(free_port)"
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
cp "$WORK/www/1k.bin" "$WORK/www/upload" # POST to a static file: 405, made 200 below
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www/10m.bin"
chmod 755 "$WORK" "$WORK/www" && chmod 644 "$WORK/www"/*   # nginx workers run as nobody
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nodelay on; keepalive_requests 1000000;
  client_max_body_size 20m; client_body_buffer_size 16m;
  client_body_temp_path $WORK/nginx/b; proxy_temp_path $WORK/nginx/p; fastcgi_temp_path $WORK/nginx/f;
  uwsgi_temp_path $WORK/nginx/u; scgi_temp_path $WORK/nginx/s;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www;
    # As in bench/run.sh: nginx reads the whole body before it answers with 1 KiB.
    location = /upload { mirror /_drain; mirror_request_body on; error_page 405 =200 /1k.bin; }
    location = /_drain { internal; return 204; } } }
CONF
"$(command -v nginx || echo /usr/sbin/nginx)" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
PIDS+=($!)
wait_port "$NGINX_PORT"

PORT="$(free_port)"
"$BIN/tunnel-server" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  --api-rate off --public-rate off --register-rate off ${PROFILE_SERVER_ARGS:-} >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER=$!
PIDS+=("$SERVER")
wait_port "$PORT"
export TUNNEL_CONFIG="$WORK/cli.toml"
"$BIN/tunnel" --api-url "http://127.0.0.1:$PORT" register >/dev/null
"$BIN/tunnel" --api-url "http://127.0.0.1:$PORT" start "$NGINX_PORT" --domain prof >"$WORK/cli.out" 2>&1 &
CLI=$!
PIDS+=("$CLI")
for _ in $(seq 200); do grep -q '^http' "$WORK/cli.out" && break; sleep 0.05; done

case "$MODE" in
  small) path=/1k.bin; conns=16; post=0 ;;
  bulk) path=/10m.bin; conns=2; post=0 ;;
  post) path=/upload; conns=2; post=$((10 * 1024 * 1024)) ;;
  *) echo "mode: small, bulk or post" >&2; exit 2 ;;
esac
export WRK_POST_BYTES="$post" # read by bench/wrk/report.lua: 0 sends GETs
data=()
[ "$post" = 0 ] || { head -c "$post" /dev/zero >"$WORK/post.bin"; data=(--data-binary @"$WORK/post.bin"); }
code="$(curl -s -o /dev/null -w '%{http_code}' "${data[@]}" -H "Host: prof.localhost" "http://127.0.0.1:$PORT$path")"
[ "$code" = 200 ] || { echo "GET $path through the tunnel: $code; see $WORK" >&2; cat "$WORK/cli.out" >&2; trap - EXIT; PROFILE_KEEP=1 cleanup; exit 1; }
LUA=(-s "$ROOT/bench/wrk/report.lua")
wrk -t1 -c"$conns" -d1s "${LUA[@]}" -H "Host: prof.localhost" "http://127.0.0.1:$PORT$path" >/dev/null # warm-up
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
HZ="$(getconf CLK_TCK)"
if [ -z "${PROFILE_NO_PERF:-}" ]; then
  perf record -F 999 --call-graph "${PROFILE_CALL_GRAPH:-fp}" -o "$WORK/server.data" -p "$SERVER" -- sleep "$SECS" >/dev/null 2>&1 &
  P1=$!
  perf record -F 999 --call-graph "${PROFILE_CALL_GRAPH:-fp}" -o "$WORK/client.data" -p "$CLI" -- sleep "$SECS" >/dev/null 2>&1 &
  P2=$!
fi
s0="$(cpu_ticks "$SERVER")"
c0="$(cpu_ticks "$CLI")"
wrk -t1 -c"$conns" -d"${SECS}s" "${LUA[@]}" -H "Host: prof.localhost" "http://127.0.0.1:$PORT$path" | tee "$WORK/wrk.out"
s1="$(cpu_ticks "$SERVER")"
c1="$(cpu_ticks "$CLI")"
n="$(awk '/requests in/ {print $1}' "$WORK/wrk.out")"
awk -v s="$((s1 - s0))" -v c="$((c1 - c0))" -v n="$n" -v hz="$HZ" -v post="$post" 'BEGIN {
  printf "CPU per request: server %.1f us, client %.1f us (%d requests)\n", s / hz / n * 1e6, c / hz / n * 1e6, n
  if (post > 0) printf "CPU per MB sent: server %.2f ms, client %.2f ms\n", s / hz / (n * post / 1e6) * 1e3, c / hz / (n * post / 1e6) * 1e3 }'
# The server's memory after the load: its request log is full (500 exchanges).
awk '/^Vm(RSS|HWM)/ {printf "server %s %.1f MiB\n", $1, $2 / 1024}' "/proc/$SERVER/status"
[ -z "${PROFILE_NO_PERF:-}" ] || exit 0
wait "$P1" "$P2" || true
# awk reads all of perf's output (head would close the pipe early under pipefail).
for who in server client; do
  echo "== $who: self time"
  perf report -i "$WORK/$who.data" --no-children --sort symbol --stdio 2>/dev/null |
    awk '/^ +[0-9]/ && n++ < 25'
  echo "== $who: with children"
  perf report -i "$WORK/$who.data" --children --sort symbol --stdio 2>/dev/null |
    awk '/^ +[0-9]/ && n++ < 45'
done
