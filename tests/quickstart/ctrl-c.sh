#!/usr/bin/env bash
# The README's first command as a person runs it: scripts/quickstart.sh in the
# foreground, its URL fetched, then one Ctrl-C. Passes when the public URL served the
# demo origin, the terminal showed no server log lines, and no process the script
# started is left afterwards.
#
# A terminal's Ctrl-C sends SIGINT to its foreground process group; the script runs
# here as the leader of a group of its own (setsid) and gets exactly that signal.
# It never touches the caller's ~/.tunnel: HOME is a fresh folder.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
pgid=""
fail() {
  echo "quickstart ctrl-c: FAILED: $*" >&2
  echo "--- stdout" >&2; cat "$work/out" >&2 || true
  echo "--- stderr" >&2; cat "$work/err" >&2 || true
  exit 1
}
cleanup() {
  [ -z "$pgid" ] || kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/home"
# The toolchain stays where it is; only the tunnel's own files move to the fresh HOME.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
HOME="$work/home" TUNNEL_LISTEN=127.0.0.1:0 setsid "$root/scripts/quickstart.sh" >"$work/out" 2>"$work/err" </dev/null &
pid=$!
pgid="$(ps -o pgid= -p "$pid" | tr -d ' ')"
[ "$pgid" = "$pid" ] || fail "quickstart is not its own process group ($pgid, pid $pid)"

# Readiness: the public URL on stdout (bounded: 10 min covers a cold build).
url=""
for _ in $(seq 6000); do
  url="$(grep -m1 '^http://' "$work/out" || true)"
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || fail "quickstart exited before printing a URL"
  sleep 0.1
done
[ -n "$url" ] || fail "no public URL within 10 minutes"
curl -fsS "$url/" | grep -q "Hello through the tunnel" || fail "$url did not serve the demo origin"

# The terminal shows the tunnel alone: the server's JSON log went to its file.
# (The tunnel's own per-request lines are its screen; the server's crates are tunnel_*.)
if grep -q '"target":"tunnel_' "$work/out" "$work/err"; then fail "server log lines reached the terminal"; fi
grep -q "server log: " "$work/err" || fail "quickstart did not say where the server log is"

kill -INT -- "-$pgid"
for _ in $(seq 300); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "quickstart still running 30 s after Ctrl-C"
wait "$pid" || true
# Whatever it started shares its process group; all must be gone.
for _ in $(seq 100); do
  left="$(pgrep -g "$pgid" || true)"
  [ -z "$left" ] && break
  sleep 0.1
done
[ -z "$left" ] || fail "left running after Ctrl-C: $(ps -o pid=,args= -p "$(echo "$left" | paste -sd,)")"
pgid=""
echo "quickstart ctrl-c: passed ($url served; nothing left after one Ctrl-C)" >&2
