#!/usr/bin/env bash
# Installs the release's .debs on this machine (dpkg -i, as root), checks what they
# put where, verifies the systemd unit (systemd-analyze verify), runs the installed
# server the way the unit does (user tunnel, /var/lib/tunnel, the arguments of
# /etc/default/tunnel-server) with the installed CLI end to end: register, a tunnel,
# curl through it, the built-in console; then purges both packages and checks that
# nothing of them is left.
# Usage: tests/release/deb-check.sh [DIST]   (default dist, made by scripts/release.sh)
set -euo pipefail
dist="${1:-dist}"
log() { printf '[deb-check] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "dpkg -i needs root"
command -v systemd-analyze >/dev/null || die "systemd-analyze is missing: scripts/setup.sh release"
debs=("$dist"/tunnel_*_amd64.deb "$dist"/tunnel-server_*_amd64.deb)
for d in "${debs[@]}"; do [ -f "$d" ] || die "no $d: run scripts/release.sh first"; done
for p in tunnel tunnel-server; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    die "$p is installed already; this check installs and purges it (dpkg -P $p first)"
  fi
done
getent passwd tunnel >/dev/null && die "a user tunnel exists already; this check makes and removes it"
[ ! -e /var/lib/tunnel ] || die "/var/lib/tunnel exists already"

work="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  dpkg -P tunnel tunnel-server >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Waits up to 30 s for a line matching $2 in file $1; prints it.
wait_line() {
  local i line
  for i in $(seq 300); do
    line="$(grep -m1 -E "$2" "$1" 2>/dev/null || true)"
    [ -n "$line" ] && { echo "$line"; return 0; }
    sleep 0.1
  done
  return 1
}

log "dpkg -i ${debs[*]}"
dpkg -i "${debs[@]}" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; die "dpkg -i"; }
for f in /usr/bin/tunnel /usr/bin/tunnel-server /lib/systemd/system/tunnel-server.service \
  /usr/lib/sysusers.d/tunnel-server.conf /etc/default/tunnel-server \
  /usr/share/man/man1/tunnel.1.gz /usr/share/bash-completion/completions/tunnel \
  /usr/share/zsh/vendor-completions/_tunnel /usr/share/fish/vendor_completions.d/tunnel.fish; do
  [ -e "$f" ] || die "the packages installed no $f"
done
getent passwd tunnel >/dev/null || die "postinst made no user tunnel"
man -l /usr/share/man/man1/tunnel.1.gz 2>/dev/null | grep -q register || zcat /usr/share/man/man1/tunnel.1.gz | grep -q register ||
  die "the man page does not document register"
file_out="$(file -b /usr/bin/tunnel-server)"
case "$file_out" in *"not stripped"*) die "tunnel-server is not stripped: $file_out" ;; esac

log "systemd-analyze verify tunnel-server.service"
# verify also checks that ExecStart's binary exists and the unit's settings parse.
systemd-analyze verify /lib/systemd/system/tunnel-server.service 2>"$work/verify.log" ||
  { cat "$work/verify.log" >&2; die "systemd-analyze verify"; }
if grep -v -E 'Failed to (connect|create).*bus|No such file or directory.*bus' "$work/verify.log" | grep -q .; then
  cat "$work/verify.log" >&2
  die "systemd-analyze verify complained"
fi

# What the unit does, without systemd: StateDirectory= makes /var/lib/tunnel for the
# user, then ExecStart runs as that user with the settings file's arguments. Only the
# address differs: a free port instead of 8080, which may be taken here.
install -d -o tunnel -g tunnel -m 0700 /var/lib/tunnel
# shellcheck disable=SC1091
. /etc/default/tunnel-server
args="$(printf '%s' "$TUNNEL_SERVER_ARGS" | sed -E 's/--listen [^ ]+/--listen 127.0.0.1:0/')"
log "as the unit: tunnel-server --data-dir /var/lib/tunnel $args (user tunnel)"
# shellcheck disable=SC2086
setpriv --reuid tunnel --regid tunnel --init-groups --no-new-privs \
  /usr/bin/tunnel-server --data-dir /var/lib/tunnel $args >"$work/server.out" 2>"$work/server.err" &
pids+=($!)
api="$(wait_line "$work/server.out" '^http://')" || { cat "$work/server.err" >&2; die "the installed server did not start"; }
[ "$(stat -c %U /var/lib/tunnel/token.key)" = tunnel ] || die "the server's key is not the service user's"

log "the built-in console at $api/"
curl -fsS "$api/" | grep -q 'app.js' || die "GET / is not the console's index.html"
ctype="$(curl -fsS -o /dev/null -w '%{content_type}' "$api/app_bg.wasm")"
[ "$ctype" = application/wasm ] || die "app_bg.wasm served as $ctype"

log "the installed CLI: register, start, curl through the tunnel"
export TUNNEL_CONFIG="$work/config"
tunnel --api-url "$api" register >"$work/register.out" 2>&1 || { cat "$work/register.out" >&2; die "tunnel register"; }
mkdir -p "$work/site"
echo "<h1>installed from the .deb</h1>" >"$work/site/index.html"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/site" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
tunnel --api-url "$api" start "$port" --domain debcheck >"$work/tunnel.out" 2>"$work/tunnel.err" &
pids+=($!)
url="$(wait_line "$work/tunnel.out" '^http://')" || { cat "$work/tunnel.err" >&2; die "no public URL"; }
curl -fsS "$url/" | grep -q "installed from the .deb" || die "$url did not serve the origin"
log "$url serves the origin through the installed packages"

for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

log "dpkg -P tunnel tunnel-server"
dpkg -P tunnel tunnel-server >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; die "dpkg -P"; }
for f in /usr/bin/tunnel /usr/bin/tunnel-server /lib/systemd/system/tunnel-server.service \
  /etc/default/tunnel-server /var/lib/tunnel; do
  [ ! -e "$f" ] || die "$f is left after purge"
done
getent passwd tunnel >/dev/null && die "the user tunnel is left after purge"
log "passed: installed, verified, ran end to end, purged clean"
