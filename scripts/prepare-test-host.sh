#!/usr/bin/env bash
# Prepares a machine for the tests (shared by `npm test` and .ci/run): mounts bpffs and tracefs
# when missing and installs the oracle packages with apt when missing. Where it cannot (not root,
# no apt), it prints one line saying what to do and exits 0: the tests that need it skip with
# their reasons (and fail under CI=true).
set -uo pipefail
need=(clang-19 llvm-19 bpftool libbpf-dev xdp-tools iproute2 gcc-bpf make gcc pkg-config libelf-dev zlib1g-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu qemu-user-static util-linux
  systemtap-sdt-dev qemu-system-x86 busybox-static)
# (the cross compiler and qemu-user: scripts/prebuild.sh builds and loads the linux-arm64 addon;
# util-linux: unshare, for the consumer test's private network namespace; systemtap-sdt-dev:
# <sys/sdt.h>, for the USDT test's target program; qemu-system-x86 and busybox-static: the kernel
# matrix, scripts/test-kernels.ts, `npm run test:kernels`)
root=0
[ "$(id -u)" = 0 ] && root=1
todo=()

mount_fs() { # TYPE DIR
  mountpoint -q "$2" 2>/dev/null && return 0
  if [ "$root" = 1 ] && [ -d "$2" ] && timeout 10 mount -t "$1" "$1" "$2" 2>/dev/null; then return 0; fi
  todo+=("mount -t $1 $1 $2")
}
mount_fs bpf /sys/fs/bpf
mount_fs tracefs /sys/kernel/tracing

missing=()
if command -v dpkg >/dev/null; then
  for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$root" = 1 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    timeout 900 apt-get update -q >/dev/null &&
      timeout 1800 apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null ||
      todo+=("apt-get install ${missing[*]}")
  else
    todo+=("apt-get install ${missing[*]}")
  fi
elif ! command -v dpkg >/dev/null && ! command -v bpftool >/dev/null; then
  todo+=("install clang 19, llvm 19, bpftool, libbpf, xdp-tools, iproute2 and gcc-bpf")
fi

if [ ${#todo[@]} -gt 0 ]; then
  msg=$(printf '%s; ' "${todo[@]}")
  echo "prepare-test-host: tests that need them will skip; as root run: ${msg%; }" >&2
fi
exit 0
