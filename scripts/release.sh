#!/usr/bin/env bash
# Builds the x86_64 Linux release into dist/:
#   tunnel-VERSION-x86_64-linux.tar.gz   stripped `tunnel` and `tunnel-server` (the web
#                                        console built in), the console's files,
#                                        completions (bash, zsh, fish), the man page,
#                                        the systemd unit and its files, the docs
#   tunnel_VERSION_amd64.deb             the CLI, its completions and man page
#   tunnel-server_VERSION_amd64.deb      the server, its unit, user and settings file
#   SHA256SUMS                           of the three
# Usage: scripts/release.sh [--profile PROFILE] [--out DIR]
#   --profile  cargo profile of the binaries (default: dist, LTO and stripped; see
#              docs/benchmarks.md for what it costs). CI passes `dev`, reusing the
#              test step's build: the packaging is what it checks.
#   --out      where to write (default: dist)
# The .debs are staged trees packed by dpkg-deb (no cargo-deb: building it costs
# minutes of CI for what three small control files do).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile=dist
out="$root/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a cargo profile name}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) printf 'release.sh: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
  esac
done
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
log() { printf '[release] %s\n' "$*" >&2; }
cd "$root"
command -v dpkg-deb >/dev/null || { log "dpkg-deb is missing: apt-get install dpkg"; exit 1; }

version="$(awk -F'"' '/^\[workspace.package\]/ {p=1} p && /^version/ {print $2; exit}' Cargo.toml)"
[ -n "$version" ] || { log "no workspace version in Cargo.toml"; exit 1; }
arch=amd64 triple=x86_64-linux
[ "$(uname -m)" = x86_64 ] || { log "builds for x86_64 only, this is $(uname -m)"; exit 1; }

# 1. The console, which the server's `console` feature builds in (build.rs).
export TUNNEL_CONSOLE_DIR="$root/target/console-dist"
# RELEASE_REUSE_CONSOLE=1 (CI, after its console step) takes the build that is there.
if [ ! -f "$TUNNEL_CONSOLE_DIR/index.html" ] || [ -z "${RELEASE_REUSE_CONSOLE:-}" ]; then
  log "web console into $TUNNEL_CONSOLE_DIR"
  scripts/console-build.sh "$TUNNEL_CONSOLE_DIR"
fi

# 2. The binaries.
log "cargo build --profile $profile (tunnel, tunnel-server with the console)"
start=$SECONDS
if [ "$profile" = dev ]; then
  # The workspace's own feature set, so only tunnel-server is rebuilt next to what
  # `cargo build --workspace --bins` made (a -p build would re-resolve features).
  cargo build --quiet --workspace --bins --features tunnel-server/console
else
  cargo build --profile "$profile" --quiet -p native-cli --bin tunnel \
    -p tunnel-server --bin tunnel-server --features tunnel-server/console
fi
log "binaries built in $((SECONDS - start)) s"
bindir="$root/target/$profile"
[ "$profile" = dev ] && bindir="$root/target/debug"

# 3. The tree of the tarball.
name="tunnel-$version-$triple"
rm -rf "$out"
stage="$out/$name"
mkdir -p "$stage/bin" "$stage/completions" "$stage/man" "$stage/systemd"
for b in tunnel tunnel-server; do
  install -m 755 "$bindir/$b" "$stage/bin/$b"
  # The dist profile strips already; other profiles are stripped here, as shipped.
  strip --strip-all "$stage/bin/$b"
done
"$stage/bin/tunnel" completions bash >"$stage/completions/tunnel.bash"
"$stage/bin/tunnel" completions zsh >"$stage/completions/_tunnel"
"$stage/bin/tunnel" completions fish >"$stage/completions/tunnel.fish"
"$stage/bin/tunnel" man | gzip -9 -n >"$stage/man/tunnel.1.gz"
cp -r "$TUNNEL_CONSOLE_DIR" "$stage/console"
cp packaging/tunnel-server.service packaging/tunnel-server.default packaging/tunnel-server.sysusers "$stage/systemd/"
cp README.md docs/self-hosting.md "$stage/"
tar -C "$out" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"

# 4. The .debs, from staged trees.
deb() { # deb PACKAGE DESCRIPTION TREE
  local pkg="$1" desc="$2" tree="$3" size
  size="$(du -sk --exclude=DEBIAN "$tree" | cut -f1)"
  mkdir -p "$tree/DEBIAN"
  cat >"$tree/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: tunnel maintainers <tunnel@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34)
Section: net
Priority: optional
Description: $desc
CONTROL
  [ ! -f "$tree/etc/default/tunnel-server" ] || echo /etc/default/tunnel-server >"$tree/DEBIAN/conffiles"
  local s
  for s in postinst prerm postrm; do
    [ ! -f "packaging/deb/$pkg.$s" ] || install -m 755 "packaging/deb/$pkg.$s" "$tree/DEBIAN/$s"
  done
  dpkg-deb --root-owner-group -Zxz --build "$tree" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
}

cli="$out/deb-tunnel"
install -D -m 755 "$stage/bin/tunnel" "$cli/usr/bin/tunnel"
install -D -m 644 "$stage/completions/tunnel.bash" "$cli/usr/share/bash-completion/completions/tunnel"
install -D -m 644 "$stage/completions/_tunnel" "$cli/usr/share/zsh/vendor-completions/_tunnel"
install -D -m 644 "$stage/completions/tunnel.fish" "$cli/usr/share/fish/vendor_completions.d/tunnel.fish"
install -D -m 644 "$stage/man/tunnel.1.gz" "$cli/usr/share/man/man1/tunnel.1.gz"
install -D -m 644 README.md "$cli/usr/share/doc/tunnel/README.md"
deb tunnel "the tunnel CLI: a local port at a public URL
 Registers with a tunnel-server, opens tunnels and shows their traffic." "$cli"

srv="$out/deb-tunnel-server"
install -D -m 755 "$stage/bin/tunnel-server" "$srv/usr/bin/tunnel-server"
install -D -m 644 packaging/tunnel-server.service "$srv/lib/systemd/system/tunnel-server.service"
install -D -m 644 packaging/tunnel-server.sysusers "$srv/usr/lib/sysusers.d/tunnel-server.conf"
install -D -m 644 packaging/tunnel-server.default "$srv/etc/default/tunnel-server"
install -D -m 644 docs/self-hosting.md "$srv/usr/share/doc/tunnel-server/self-hosting.md"
deb tunnel-server "the tunnel service: REST API, tunnel endpoint and public ingress
 One process on one port over an embedded store, with the web console built in,
 HTTPS from Let's Encrypt (ACME) and a systemd unit." "$srv"
rm -rf "$cli" "$srv"

# 5. Checksums, and what was made.
(cd "$out" && sha256sum "$name.tar.gz" ./*.deb | sed 's# \./# #' >SHA256SUMS)
log "wrote $out:"
(cd "$out" && ls -l "$name.tar.gz" ./*.deb SHA256SUMS "$name/bin/tunnel" "$name/bin/tunnel-server" | awk '{printf "  %10d  %s\n", $5, $9}') >&2
