#!/usr/bin/env bash
# The tunnel benchmark (issue 7): in one run, on loopback, with one load generator
# (wrk) and one origin (nginx serving a 1 KiB and a 10 MiB file and taking 10 MiB
# POSTs), it measures three paths back to back:
#   direct  wrk -> nginx
#   ours    wrk -> tunnel-server -> WebSocket -> `tunnel start` -> nginx (inspector on)
#   bore    wrk -> bore server -> TCP -> `bore local` -> nginx
# and prints a Markdown table of each figure with its ratio to bore and to direct.
#
# Usage: bench/run.sh            (scripts/setup.sh bench installs wrk, nginx and bore)
# Settings, from the environment:
#   BENCH_DURATION=5      seconds per wrk run
#   BENCH_ROUNDS=1        rounds of the wrk tests (direct, ours, bore back to back in each);
#                         the table shows the median and the spread
#   BENCH_IDLE_TUNNELS=1000  tunnels for the server-memory-per-idle-tunnel figure
#   BENCH_TTR_TRIALS=5    trials of "tunnel start to a reachable URL"
#   BENCH_SERVER_ARGS=    extra arguments for tunnel-server
#   BENCH_NO_BUILD=1      use the binaries already built
#   BENCH_OUT=FILE        also write the table (and the raw figures to FILE.raw)
#   BENCH_KEEP=1          keep the work directory (logs, configs)
#   CARGO_TARGET_DIR      where the release binaries are (default: ./target)
# Every server listens on 127.0.0.1 only; every request goes to loopback. Each wrk run
# is bounded by BENCH_DURATION, and everything started here is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${BENCH_DURATION:-5}"
ROUNDS="${BENCH_ROUNDS:-1}"
IDLE_N="${BENCH_IDLE_TUNNELS:-1000}"
TTR_TRIALS="${BENCH_TTR_TRIALS:-5}"
read -r -a SERVER_ARGS <<<"${BENCH_SERVER_ARGS:-}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release"
BORE_CONTROL_PORT=7835 # fixed by bore 0.6
BORE_MIN_PORT="${BENCH_BORE_MIN_PORT:-30000}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in wrk nginx bore python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
    die "$tool not found: run scripts/setup.sh bench"
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building release binaries into $TARGET"
  (cd "$ROOT" && cargo build --release --quiet -p tunnel-server -p native-cli)
  cargo build --release --quiet --manifest-path "$ROOT/bench/idle-tunnels/Cargo.toml" --target-dir "$TARGET"
fi
for b in tunnel-server tunnel idle-tunnels; do
  [ -x "$BIN/$b" ] || die "$BIN/$b not built (unset BENCH_NO_BUILD, or set CARGO_TARGET_DIR)"
done
# Rate limits measure the limiter, not the path: where the server has them, they are
# set far above any load here (still checked on every request, never binding).
SERVER_HELP="$("$BIN/tunnel-server" --help)"
for flag in --api-rate --public-rate --register-rate; do
  if [[ "$SERVER_HELP" == *"$flag"* ]]; then SERVER_ARGS=("$flag" 1000000:1000000 "${SERVER_ARGS[@]}"); fi
done

WORK="$(mktemp -d /tmp/tunnel-bench.XXXXXX)"
chmod 755 "$WORK" # nginx's worker runs as another user
RESULTS="$WORK/results.txt"
: >"$RESULTS"
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local i
  for i in $(seq 200); do port_busy "$1" && return 0; sleep 0.05; done
  die "nothing listens on 127.0.0.1:$1 after 10 s"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, all threads
rss_of() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # KiB
record() { echo "$*" >>"$RESULTS"; }

# --- the origin --------------------------------------------------------------------
NGINX_PORT="$(free_port)"
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www/10m.bin"
cp "$WORK/www/1k.bin" "$WORK/www/upload"
chmod 755 "$WORK/www" && chmod 644 "$WORK/www"/*
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  default_type application/octet-stream;
  client_max_body_size 20m;
  client_body_buffer_size 16m;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
    # POST /upload: the mirror makes nginx read the whole body before answering (a
    # plain static location would answer first and discard the body), then the
    # static module's 405 becomes 200 with a 1 KiB file.
    location = /upload {
      mirror /_drain;
      mirror_request_body on;
      error_page 405 =200 /1k.bin;
    }
    location = /_drain { internal; return 204; }
  }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/stderr.log" &
PIDS+=($!)
NGINX_PID=$!
wait_port "$NGINX_PORT"
[ "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$WORK/www/10m.bin" "http://127.0.0.1:$NGINX_PORT/upload")" = 200 ] ||
  die "nginx does not take a 10 MiB POST; see $WORK/nginx/error.log"

# --- our stack ---------------------------------------------------------------------
start_server() { # name -> sets SERVER_PORT, SERVER_PID
  local name="$1"
  SERVER_PORT="$(free_port)"
  mkdir -p "$WORK/$name"
  "$BIN/tunnel-server" --listen "127.0.0.1:$SERVER_PORT" --data-dir "$WORK/$name/data" \
    "${SERVER_ARGS[@]}" >"$WORK/$name/stdout.log" 2>"$WORK/$name/stderr.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 200); do grep -q '^http://' "$WORK/$name/stdout.log" && break; sleep 0.05; done
  grep -q '^http://' "$WORK/$name/stdout.log" || die "tunnel-server did not start; see $WORK/$name/stderr.log"
  TUNNEL_CONFIG="$WORK/$name/cli.toml" "$BIN/tunnel" --api-url "http://127.0.0.1:$SERVER_PORT" register \
    >"$WORK/$name/register.log" 2>&1 || die "tunnel register failed: $(cat "$WORK/$name/register.log")"
}
api_key_of() { sed -n 's/^api_key *= *"\(.*\)"/\1/p' "$WORK/$1/cli.toml"; }

start_server server
OURS_PORT="$SERVER_PORT"
OURS_SERVER_PID="$SERVER_PID"
export TUNNEL_CONFIG="$WORK/server/cli.toml"

# --- bore --------------------------------------------------------------------------
if port_busy "$BORE_CONTROL_PORT"; then
  die "127.0.0.1:$BORE_CONTROL_PORT (bore's control port) is taken; stop what listens there"
fi
BORE_MAX_PORT=$((BORE_MIN_PORT + 4 * IDLE_N + 64))
# Many idle tunnels need a range past 65535 from the default start: move the start
# down rather than hand bore a port it refuses (10,000 tunnels: 40,064 ports).
if [ "$BORE_MAX_PORT" -gt 65535 ]; then
  BORE_MIN_PORT=$((65535 - 4 * IDLE_N - 64))
  BORE_MAX_PORT=65535
  [ "$BORE_MIN_PORT" -ge 1024 ] || die "BENCH_IDLE_TUNNELS=$IDLE_N needs more ports than bore can have (at most $(((65535 - 1024 - 64) / 4)) tunnels)"
fi
bore server --bind-addr 127.0.0.1 --min-port "$BORE_MIN_PORT" --max-port "$BORE_MAX_PORT" \
  >"$WORK/bore-server.log" 2>&1 &
BORE_SERVER_PID=$!
PIDS+=("$BORE_SERVER_PID")
wait_port "$BORE_CONTROL_PORT"
BORE_PORT=$((BORE_MAX_PORT - 1))   # the load tests' tunnel
BORE_TTR_BASE=$((BORE_MAX_PORT - 40)) # one port per trial of time-to-reachable

log "work dir $WORK; nginx :$NGINX_PORT, tunnel-server :$OURS_PORT, bore :$BORE_CONTROL_PORT"
record "meta date $(date -u +%Y-%m-%dT%H:%MZ)"
record "meta machine $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GiB"
record "meta versions $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet 2>/dev/null || echo '+dirty'); $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'); $("$NGINX" -v 2>&1 | sed 's/.*: //'); $(bore --version)"
record "meta settings wrk -t1 -d${DURATION}s, $ROUNDS round(s), $IDLE_N idle tunnels, $TTR_TRIALS start trials"
record "meta load_average_at_start $(cut -d' ' -f1-3 /proc/loadavg)"

# --- server memory per idle tunnel -------------------------------------------------
# On servers that have carried no traffic, so freed memory does not hide growth.
log "idle tunnels: $IDLE_N on a fresh tunnel-server"
start_server idle
IDLE_PID="$SERVER_PID"
line="$(TUNNEL_API_KEY="$(api_key_of idle)" "$BIN/idle-tunnels" --count "$IDLE_N" --server-pid "$IDLE_PID" \
  tunnel --api-url "http://127.0.0.1:$SERVER_PORT")" || die "idle-tunnels failed against tunnel-server"
record "idle ours $line"
log "  $line"
kill -TERM "$IDLE_PID" 2>/dev/null || true
log "idle tunnels: $IDLE_N on bore server"
line="$("$BIN/idle-tunnels" --count "$IDLE_N" --server-pid "$BORE_SERVER_PID" bore \
  --addr "127.0.0.1:$BORE_CONTROL_PORT")" || die "idle-tunnels failed against bore"
record "idle bore $line"
log "  $line"
sleep 1 # bore closes the listeners of the dropped tunnels

# --- time from start to a reachable URL --------------------------------------------
log "time to a reachable URL: $TTR_TRIALS trials each"
for t in $(seq "$TTR_TRIALS"); do
  ms="$(python3 "$ROOT/bench/ttr.py" --port "$OURS_PORT" --host "ttr.localhost:$OURS_PORT" --path /1k.bin \
    --log "$WORK/ttr-ours.log" -- "$BIN/tunnel" start "127.0.0.1:$NGINX_PORT" --domain ttr --quiet)" ||
    die "tunnel start never became reachable; see $WORK/ttr-ours.log"
  record "ttr ours $t $ms"
  port=$((BORE_TTR_BASE + t))
  ms="$(python3 "$ROOT/bench/ttr.py" --port "$port" --host "127.0.0.1:$port" --path /1k.bin \
    --log "$WORK/ttr-bore.log" -- bore local "$NGINX_PORT" --local-host 127.0.0.1 --to 127.0.0.1 --port "$port")" ||
    die "bore local never became reachable; see $WORK/ttr-bore.log"
  record "ttr bore $t $ms"
done
# A public request routed to the tunnel between the server's attach and its CONNECTED
# reaching the client makes the client drop the session and retry after a backoff.
lost="$(grep -c 'REQUEST before CONNECTED' "$WORK/ttr-ours.log" || true)"
record "meta start_trials_that_reconnected $lost of $TTR_TRIALS (client saw 'REQUEST before CONNECTED' and retried)"

# --- the tunnels under load --------------------------------------------------------
"$BIN/tunnel" start "127.0.0.1:$NGINX_PORT" --domain bench --quiet \
  >"$WORK/tunnel-start.log" 2>&1 &
OURS_CLIENT_PID=$!
PIDS+=("$OURS_CLIENT_PID")
bore local "$NGINX_PORT" --local-host 127.0.0.1 --to 127.0.0.1 --port "$BORE_PORT" \
  >"$WORK/bore-local.log" 2>&1 &
BORE_CLIENT_PID=$!
PIDS+=("$BORE_CLIENT_PID")
OURS_HOST="bench.localhost:$OURS_PORT"
for i in $(seq 200); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $OURS_HOST" "http://127.0.0.1:$OURS_PORT/1k.bin")" = 200 ] &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BORE_PORT/1k.bin")" = 200 ] && break
  sleep 0.05
done
sleep 1
record "rss ours client idle $(rss_of "$OURS_CLIENT_PID" VmRSS)"
record "rss bore client idle $(rss_of "$BORE_CLIENT_PID" VmRSS)"

url_of() {
  case "$1" in
    direct) echo "http://127.0.0.1:$NGINX_PORT" ;;
    ours) echo "http://127.0.0.1:$OURS_PORT" ;;
    bore) echo "http://127.0.0.1:$BORE_PORT" ;;
  esac
}
# run_wrk TEST PATH ROUND CONNECTIONS URL_PATH [POST_BYTES] [DURATION]
run_wrk() {
  local test="$1" path="$2" round="$3" conns="$4" url_path="$5" post="${6:-0}" secs="${7:-$DURATION}"
  local host=()
  [ "$path" = ours ] && host=(-H "Host: $OURS_HOST")
  local procs=()
  case "$path" in
    direct) procs=("$NGINX_WORKER_PID") ;;
    ours) procs=("$OURS_SERVER_PID" "$OURS_CLIENT_PID") ;;
    bore) procs=("$BORE_SERVER_PID" "$BORE_CLIENT_PID") ;;
  esac
  local before=() pid
  for pid in "${procs[@]}"; do before+=("$(cpu_ticks "$pid")"); done
  local out
  out="$(WRK_POST_BYTES="$post" wrk -t1 -c"$conns" -d"${secs}s" --timeout 30s "${host[@]}" \
    -s "$ROOT/bench/wrk/report.lua" "$(url_of "$path")$url_path" 2>&1)" || die "wrk failed: $out"
  local line
  line="$(grep '^WRK_RESULT' <<<"$out")" || die "wrk printed no result: $out"
  local cpu=() i
  for i in "${!procs[@]}"; do cpu+=($(($(cpu_ticks "${procs[$i]}") - before[i]))); done
  [ "$round" = warmup ] || record "wrk $test $path $round $line"
  [ "$round" = warmup ] || record "cpu $test $path $round $CLK_TCK ${cpu[*]}"
  log "  $test $path $round: ${line#WRK_RESULT }"
}

CLK_TCK="$(getconf CLK_TCK)"
NGINX_WORKER_PID="$(pgrep -P "$NGINX_PID" | head -1)"
log "warm-up (1 s each)"
for p in direct ours bore; do run_wrk small16 "$p" warmup 16 /1k.bin 0 1; done

POST_BYTES=$((10 * 1024 * 1024))
for round in $(seq "$ROUNDS"); do
  log "round $round of $ROUNDS"
  for p in direct ours bore; do run_wrk small16 "$p" "$round" 16 /1k.bin; done
  for p in direct ours bore; do run_wrk lat1 "$p" "$round" 1 /1k.bin; done
  for p in direct ours bore; do run_wrk get10m "$p" "$round" 2 /10m.bin; done
  for p in direct ours bore; do run_wrk post10m "$p" "$round" 2 /upload "$POST_BYTES"; done
done

record "rss ours client peak $(rss_of "$OURS_CLIENT_PID" VmHWM)"
record "rss bore client peak $(rss_of "$BORE_CLIENT_PID" VmHWM)"
record "rss ours client after $(rss_of "$OURS_CLIENT_PID" VmRSS)"
record "rss bore client after $(rss_of "$BORE_CLIENT_PID" VmRSS)"
record "rss ours server peak $(rss_of "$OURS_SERVER_PID" VmHWM)"
record "rss bore server peak $(rss_of "$BORE_SERVER_PID" VmHWM)"
record "rss direct server peak $(rss_of "$NGINX_WORKER_PID" VmHWM)"
record "meta load_average_at_end $(cut -d' ' -f1-3 /proc/loadavg)"

TABLE="$(python3 "$ROOT/bench/report.py" "$RESULTS")"
echo "$TABLE"
if [ -n "${BENCH_OUT:-}" ]; then
  echo "$TABLE" >"$BENCH_OUT"
  cp "$RESULTS" "$BENCH_OUT.raw"
  log "table written to $BENCH_OUT, raw figures to $BENCH_OUT.raw"
fi
