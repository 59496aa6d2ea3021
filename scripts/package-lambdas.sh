#!/usr/bin/env bash
# Build the Lambda bootstraps (every [[bin]] of tunnel-aws) against glibc 2.34,
# the glibc of provided.al2023, with cargo-zigbuild, and package each as
#   target/lambda/<name>/bootstrap   and   target/lambda/<name>.zip
# (one entry `bootstrap`, mode 0755, fixed timestamp: the same binary gives
# the same zip). Then checks every bootstrap's GLIBC symbol versions
# (scripts/check-glibc.sh) and prints name, sizes and highest GLIBC version.
# Usage: scripts/package-lambdas.sh [--arch x86_64|arm64] [--profile P] [--keep-debuginfo]
#   --arch            default x86_64
#   --profile         cargo profile, default release (what is deployed); CI packs
#                     --profile lambda-check (Cargo.toml): the same zips and GLIBC
#                     check, minutes sooner
#   --keep-debuginfo  keep the release profile's line tables in the bootstrap
#                     (~74 MB, ~17 MB zip) instead of `objcopy --strip-debug`
#                     (~13 MB, ~5 MB zip; the symbol table stays, so
#                     backtraces keep function names)
# Env: LAMBDA_BUILD_DIR  cargo target dir (default target/lambda-build, apart
#                        from the normal target dir so neither invalidates
#                        the other; CARGO_TARGET_DIR is deliberately ignored)
#      LAMBDA_OUT_DIR    where bootstraps and zips go (default target/lambda)
#      TUNNEL_VENV       the venv holding ziglang (as in scripts/setup.sh)
# Exit: 0 packaged and all within GLIBC 2.34; 1 build/packaging failed or a
#   bootstrap needs a newer glibc; 2 usage; 3 the Rust target for --arch is
#   not installed (arm64 here: rustup cannot download targets).
set -euo pipefail

# provided.al2023's glibc: the version suffix of the zigbuild target.
LAMBDA_GLIBC=2.34
PACKAGE=tunnel-aws

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[package-lambdas] %s\n' "$*" >&2; }
die() { printf '[package-lambdas] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

arch=x86_64
profile=release
strip_debug=1
while [ "$#" -gt 0 ]; do
  case "$1" in
    --arch) [ "$#" -ge 2 ] || usage; arch="$2"; shift 2 ;;
    --arch=*) arch="${1#--arch=}"; shift ;;
    --profile) [ "$#" -ge 2 ] || usage; profile="$2"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    --keep-debuginfo) strip_debug=0; shift ;;
    -h | --help) usage ;;
    *) log "unknown argument '$1'"; usage ;;
  esac
done
case "$arch" in
  x86_64 | amd64) arch=x86_64; triple=x86_64-unknown-linux-gnu ;;
  arm64 | aarch64) arch=arm64; triple=aarch64-unknown-linux-gnu ;;
  *) log "unknown --arch '$arch' (expected x86_64 or arm64)"; exit 2 ;;
esac

cd "$root"
build_dir="${LAMBDA_BUILD_DIR:-$root/target/lambda-build}"
out_dir="${LAMBDA_OUT_DIR:-$root/target/lambda}"

# zig links and supplies the glibc stubs, but Rust's std for the target must
# come from the toolchain. rustup cannot download targets on these machines,
# so an arm64 build is impossible here unless the target is already present.
sysroot="$(rustc --print sysroot)"
if [ ! -d "$sysroot/lib/rustlib/$triple/lib" ]; then
  log "Rust std for $triple is not installed in $sysroot:"
  log "  run 'rustup target add $triple' on a machine where rustup can download,"
  log "  or build $arch on such a machine. Nothing was built for $arch."
  exit 3
fi

"$root/scripts/setup.sh" lambda >/dev/null
venv="${TUNNEL_VENV:-$HOME/.cache/tunnel-venv}"
# cargo-zigbuild tries `python3 -m ziglang` first, then `zig`: make sure the
# python3 it finds is the venv's (a pyenv shim or the system python3 would
# lack ziglang and silently fall through to whatever zig is on PATH).
export PATH="$venv/bin:$PATH"
export CARGO_ZIGBUILD_PYTHON_PATH="$venv/bin/python3"
log "zig $(python3 -m ziglang version), $(cargo-zigbuild --version), $(rustc --version)"

# The bins, from cargo's own view of the package (src/bin/*.rs and any [[bin]]).
mapfile -t bins < <(cargo metadata --no-deps --format-version 1 |
  python3 -c '
import json, sys
pkg = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1])
print("\n".join(sorted(t["name"] for t in pkg["targets"] if "bin" in t["kind"])))
' "$PACKAGE")
[ "${#bins[@]}" -gt 0 ] || die "package $PACKAGE has no bin targets"

# cargo names the dev profile's folder `debug`.
profile_dir="$profile"
[ "$profile" != dev ] || profile_dir=debug
log "cargo zigbuild --profile $profile -p $PACKAGE --bins --target $triple.$LAMBDA_GLIBC (CARGO_TARGET_DIR=$build_dir)"
start=$SECONDS
CARGO_TARGET_DIR="$build_dir" cargo zigbuild --profile "$profile" -p "$PACKAGE" --bins \
  --target "$triple.$LAMBDA_GLIBC"
log "build took $((SECONDS - start)) s"

mkdir -p "$out_dir"
# A bin that was removed or renamed must not leave a zip behind to deploy.
for f in "$out_dir"/*/bootstrap; do
  [ -e "$f" ] || continue
  name="$(basename "$(dirname "$f")")"
  if ! printf '%s\n' "${bins[@]}" | grep -qxF "$name"; then
    log "removing stale $out_dir/$name{,.zip} (no such bin any more)"
    rm -rf "${out_dir:?}/$name" "${out_dir:?}/$name.zip"
  fi
done
bootstraps=()
for name in "${bins[@]}"; do
  bin="$build_dir/$triple/$profile_dir/$name"
  [ -x "$bin" ] || die "cargo zigbuild did not produce $bin"
  mkdir -p "$out_dir/$name"
  # Not the profile's strip=debuginfo: zig's linker takes rustc's
  # --strip-debug as strip-all and drops the symbol table too (and changing
  # the profile by env rebuilds every crate). objcopy keeps .symtab.
  if [ "$strip_debug" -eq 1 ]; then
    objcopy --strip-debug "$bin" "$out_dir/$name/bootstrap.tmp"
  else
    cp -f "$bin" "$out_dir/$name/bootstrap.tmp"
  fi
  chmod 0755 "$out_dir/$name/bootstrap.tmp"
  mv -f "$out_dir/$name/bootstrap.tmp" "$out_dir/$name/bootstrap"
  # Written to a temp name and renamed, so a zip is never left half-written.
  python3 - "$out_dir/$name/bootstrap" "$out_dir/$name.zip.tmp" <<'EOF'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.create_system = 3  # Unix, so unzip and Lambda honour the mode bits
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
EOF
  mv -f "$out_dir/$name.zip.tmp" "$out_dir/$name.zip"
  bootstraps+=("$out_dir/$name/bootstrap")
done

# shellcheck source=scripts/check-glibc.sh
source "$root/scripts/check-glibc.sh"
MAX_GLIBC="$LAMBDA_GLIBC"
check_rc=0
check_glibc_main "${bootstraps[@]}" >/dev/null 2>&1 || check_rc=$?

printf '\n%-22s %12s %12s  %-6s %s\n' NAME BOOTSTRAP ZIP GLIBC STATUS
for name in "${bins[@]}"; do
  f="$out_dir/$name/bootstrap"
  max="$(glibc_max "$f")"
  status=ok
  glibc_exceeds "$max" && status="FAIL (> $LAMBDA_GLIBC)"
  printf '%-22s %12s %12s  %-6s %s\n' "$name" "$(stat -c %s "$f")" \
    "$(stat -c %s "$out_dir/$name.zip")" "$max" "$status"
done
echo
if [ "$check_rc" -ne 0 ]; then
  die "some bootstrap needs a glibc newer than $LAMBDA_GLIBC: see scripts/check-glibc.sh $out_dir"
fi
log "${#bins[@]} zips for $arch in $out_dir, all within GLIBC_$LAMBDA_GLIBC"
