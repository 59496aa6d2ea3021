#!/usr/bin/env bash
# The server's memory with N tunnels whose request logs are full: N `tunnel start`
# clients to one nginx, about a second of 1 KiB GETs through each (over 500, the
# default log_keep), then the server's VmRSS and VmHWM. Loopback only.
#
#   bench/log-rss.sh BIN_DIR [N]     BIN_DIR holds tunnel-server and tunnel (e.g. target/release)
# Needs nginx and wrk (scripts/setup.sh bench).
set -euo pipefail
BIN="$1"; N="${2:-20}"
WORK="$(mktemp -d)"; PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; exit 1; }
NP="$(free_port)"; mkdir -p "$WORK/www" "$WORK/nginx"; head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
chmod 755 "$WORK" "$WORK/www"; chmod 644 "$WORK/www"/*
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $WORK/nginx/b; proxy_temp_path $WORK/nginx/p; fastcgi_temp_path $WORK/nginx/f;
  uwsgi_temp_path $WORK/nginx/u; scgi_temp_path $WORK/nginx/s; server { listen 127.0.0.1:$NP; root $WORK/www; } }
CONF
/usr/sbin/nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" & PIDS+=($!); wait_port "$NP"
PORT="$(free_port)"
"$BIN/tunnel-server" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --api-rate off --public-rate off --register-rate off >/dev/null 2>"$WORK/server.err" &
SERVER=$!; PIDS+=("$SERVER"); wait_port "$PORT"
export TUNNEL_CONFIG="$WORK/cli.toml"
"$BIN/tunnel" --api-url "http://127.0.0.1:$PORT" register >/dev/null
for i in $(seq "$N"); do
  "$BIN/tunnel" --api-url "http://127.0.0.1:$PORT" start "$NP" --domain "t$i" >"$WORK/cli$i.out" 2>&1 & PIDS+=($!)
done
for i in $(seq "$N"); do for _ in $(seq 400); do grep -q '^http' "$WORK/cli$i.out" && break; sleep 0.05; done; done
rss() { awk '/^Vm(RSS|HWM)/ {printf "%s %.1f MiB  ", $1, $2 / 1024}' "/proc/$SERVER/status"; echo; }
echo -n "connected, no traffic: "; rss
for i in $(seq "$N"); do wrk -t1 -c4 -d1s -H "Host: t$i.localhost" "http://127.0.0.1:$PORT/1k.bin" >/dev/null; done
# Past the store's write-behind window (1 s), so the file write is in the figure too.
sleep 2
echo -n "after ~1 s of GETs on each of $N tunnels: "; rss
c="$(curl -s -H "Authorization: Bearer $(grep -o 'tk_[A-Za-z0-9_]*' "$WORK/cli.toml" | head -1)" "http://127.0.0.1:$PORT/v1/tunnels" | python3 -c 'import json,sys; print([t.get("request_count") for t in json.load(sys.stdin)["tunnels"]][:5])' 2>/dev/null || true)"
echo "request_count of the first tunnels: $c"
