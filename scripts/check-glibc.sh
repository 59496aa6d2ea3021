#!/usr/bin/env bash
# Highest GLIBC symbol version each ELF binary requires, against the glibc of
# Lambda's provided.al2023 runtime: a bootstrap linked against a newer glibc
# fails to load there ("version `GLIBC_2.3x' not found").
# Usage: scripts/check-glibc.sh DIR_OR_FILE...
#   A directory is searched recursively for ELF files; other files there are
#   skipped. A file named explicitly must be ELF.
# Exit: 0 all within MAX_GLIBC; 1 some binary needs more; 2 usage error, a
#   named file that is not ELF, or no ELF file found at all.
# Needs objdump (binutils: scripts/setup.sh lambda installs it).
# Can be sourced for glibc_max/glibc_symbol/glibc_exceeds (package-lambdas.sh).
set -euo pipefail

# provided.al2023 ships glibc 2.34. Overridable for another runtime.
MAX_GLIBC="${MAX_GLIBC:-2.34}"

# True when the file starts with the ELF magic.
is_elf() {
  [ -f "$1" ] && [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]
}

# Highest GLIBC_x.y[.z] among the dynamic symbols' versions; "none" for a
# static binary or one that needs no versioned glibc symbol.
glibc_max() {
  local v
  v="$(objdump -T "$1" 2>/dev/null | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/^GLIBC_//' | sort -uV | tail -1 || true)"
  echo "${v:-none}"
}

# One dynamic symbol that needs exactly GLIBC_$2 (the reason for the maximum).
glibc_symbol() {
  objdump -T "$1" 2>/dev/null | grep -E "GLIBC_${2//./\\.}([^.0-9]|$)" | awk '{print $NF}' | head -1 || true
}

# True when version $1 is above MAX_GLIBC ("none" never is).
glibc_exceeds() {
  [ "$1" != none ] && [ "$1" != "$MAX_GLIBC" ] &&
    [ "$(printf '%s\n%s\n' "$1" "$MAX_GLIBC" | sort -V | tail -1)" = "$1" ]
}

check_glibc_main() {
  if [ "$#" -eq 0 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    return 2
  fi
  command -v objdump >/dev/null 2>&1 || {
    echo "check-glibc: objdump not found (run scripts/setup.sh lambda)" >&2
    return 2
  }

  local files=() arg f bad=0 over=0
  for arg in "$@"; do
    if [ -d "$arg" ]; then
      while IFS= read -r -d '' f; do
        is_elf "$f" && files+=("$f")
      done < <(find "$arg" -type f -print0 | sort -z)
    elif is_elf "$arg"; then
      files+=("$arg")
    else
      echo "check-glibc: $arg: not an ELF file" >&2
      bad=1
    fi
  done
  if [ "${#files[@]}" -eq 0 ]; then
    echo "check-glibc: no ELF file found in: $*" >&2
    return 2
  fi

  local max status sym
  printf '%-6s %-8s %-28s %s\n' STATUS GLIBC 'NEEDED BY' FILE
  for f in "${files[@]}"; do
    max="$(glibc_max "$f")"
    sym=""
    status=ok
    if glibc_exceeds "$max"; then
      status=FAIL
      over=$((over + 1))
    fi
    [ "$max" = none ] || sym="$(glibc_symbol "$f" "$max")"
    printf '%-6s %-8s %-28s %s\n' "$status" "$max" "${sym:--}" "$f"
  done
  if [ "$over" -gt 0 ]; then
    echo "check-glibc: $over of ${#files[@]} binaries need a glibc newer than $MAX_GLIBC" >&2
    return 1
  fi
  [ "$bad" -eq 0 ] || return 2
  echo "check-glibc: all ${#files[@]} binaries need at most GLIBC_$MAX_GLIBC" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  check_glibc_main "$@"
fi
