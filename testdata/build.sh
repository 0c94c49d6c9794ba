#!/usr/bin/env bash
# Rebuilds testdata/<name>-el.o and testdata/<name>-eb.o from testdata/<name>.c with clang, only
# for sources whose content changed since the last build (recorded in build.sums), so a checkout
# whose sources are unchanged needs no clang at all. `--force` rebuilds everything.
#
# Content hashes rather than mtimes: git does not keep mtimes, so in a fresh clone an object may
# look older than its source although it was built from exactly that source.
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-clang-19}
force=0
[ "${1:-}" = "--force" ] && force=1

sums=build.sums
touch "$sums"
tmp=""
cleanup() { [ -n "$tmp" ] && rm -rf "$tmp"; return 0; }
trap cleanup EXIT

# Sources that say `// needs: vmlinux.h` get a header generated from the running kernel's BTF
# into a temporary directory; it is too large (and too machine-specific) to commit.
vmlinux_dir() {
  if [ -z "$tmp" ]; then
    tmp=$(mktemp -d)
  fi
  if [ ! -f "$tmp/vmlinux.h" ]; then
    bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$tmp/vmlinux.h"
  fi
  echo "$tmp"
}

built=0
for src in *.c; do
  name=${src%.c}
  sum=$(sha256sum "$src" | cut -d' ' -f1)
  if [ $force = 0 ] && grep -qx "$sum  $name" "$sums" && [ -f "$name-el.o" ] && [ -f "$name-eb.o" ]; then
    continue
  fi
  command -v "$CLANG" >/dev/null || { echo "build.sh: $src changed but $CLANG is not installed" >&2; exit 1; }
  extra=()
  if grep -q '^// needs: vmlinux.h' "$src"; then
    extra+=(-I "$(vmlinux_dir)")
  fi
  for endian in el eb; do
    echo "  CC  $name-$endian.o"
    "$CLANG" -target "bpf$endian" -O2 -g -Wall -Wno-unused-variable -Wno-unused-function \
      -D__TARGET_ARCH_x86 -I /usr/include -I "/usr/include/$(uname -m)-linux-gnu" "${extra[@]}" \
      -c "$src" -o "$name-$endian.o"
  done
  grep -vx ".*  $name" "$sums" >"$sums.new" || true
  echo "$sum  $name" >>"$sums.new"
  sort -k2 "$sums.new" >"$sums"
  rm -f "$sums.new"
  built=$((built + 1))
done
echo "build.sh: $built source(s) rebuilt"
