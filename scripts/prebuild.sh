#!/usr/bin/env bash
# Builds the prebuilt addons the npm tarball ships (prebuilds/linux-x64, prebuilds/linux-arm64,
# node-gyp-build's layout) and checks each one: the right ELF machine, and no undefined symbol
# but N-API's (napi_*), libuv's (uv_*) and libc's. Run by `npm pack` (prepack); arm64 is built
# with Debian's gcc-aarch64-linux-gnu and, when qemu-user and an arm64 node are around, loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf prebuilds
if command -v aarch64-linux-gnu-gcc >/dev/null; then
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar \
    npx prebuildify --napi --strip --strip-bin aarch64-linux-gnu-strip --arch arm64
else
  echo "prebuild: no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu): linux-arm64 not built" >&2
fi
# Host last: prebuildify leaves build/ holding the last target it built.
npx prebuildify --napi --strip

check() { # FILE MACHINE
  local machine undefined
  machine=$(readelf -h "$1" | sed -n 's/^ *Machine: *//p')
  [ "$machine" = "$2" ] || { echo "prebuild: $1 is for '$machine', not '$2'" >&2; exit 1; }
  # Weak references (__gmon_start__, _ITM_*) may stay unresolved; everything else is node's or glibc's.
  undefined=$(readelf --dyn-syms -W "$1" | awk '$7 == "UND" && $5 != "WEAK" && $8 != "" {print $8}' |
    grep -Ev '^(napi_|uv_)|@GLIBC_' || true)
  [ -z "$undefined" ] || { echo "prebuild: $1 needs symbols from outside node (N-API, libuv) and glibc: $undefined" >&2; exit 1; }
  echo "prebuild: $1: $machine, undefined symbols only from node (N-API, libuv) and glibc"
}
check prebuilds/linux-x64/ebpf.node 'Advanced Micro Devices X86-64'
[ ! -e prebuilds/linux-arm64/ebpf.node ] || check prebuilds/linux-arm64/ebpf.node AArch64
