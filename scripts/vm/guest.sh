# Sourced first by every kernel-matrix job (scripts/test-kernels.ts), as PID 1 on the overlay
# root: the mounts a BPF test needs, the kernel's own modules, loopback up. The job then runs its
# command and ends with vm_exit.
set -u
mkdir -p /sys/fs/bpf /sys/kernel/tracing /sys/kernel/debug /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /run
# /tmp stays on the overlay (writes land in its tmpfs).
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
# The VM kernel's modules come from the package extracted in the cache; busybox loads them
# (the kernel runs /sbin/modprobe for request_module).
# Its /boot too: /boot/config-$(uname -r) is where libbpf and the loader read Kconfig values.
pkg="$EBPF_KERNEL_CACHE/$EBPF_KERNEL_SERIES/root"
[ -d "$pkg/lib/modules/$(uname -r)" ] && mkdir -p /lib/modules && mount --bind "$pkg/lib/modules" /lib/modules
[ -f "$pkg/boot/config-$(uname -r)" ] && mount --bind "$pkg/boot" /boot
mkdir -p /sbin && ln -sf /bin/busybox /sbin/modprobe && echo /sbin/modprobe > /proc/sys/kernel/modprobe
# Modules with BTF (6.1+) that tests attach to and relocate against (test/kernel/modules.test.ts,
# the load oracle's modules-el.o and ct_kfunc-el.o), loaded before any test so that all see the
# same kernel.
/sbin/modprobe veth || echo "ebpf-vm: modprobe veth failed"
# nf_conntrack: its kfuncs (bpf_xdp_ct_lookup, 5.18) are module kfuncs, called through its BTF.
/sbin/modprobe nf_conntrack || echo "ebpf-vm: modprobe nf_conntrack failed"
ip link set lo up
hostname ebpf-vm-"$EBPF_KERNEL_SERIES"
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
vm_exit() {
  echo "EBPF-VM-EXIT=$1"
  sync
  /bin/busybox poweroff -f
}
# The default a Debian user has (64 KiB), so that kernels before 5.11, which charge BPF memory to
# RLIMIT_MEMLOCK, exercise the loader's raising of it.
ulimit -l 64
echo "ebpf-vm: $(uname -r), memlock $(ulimit -l) KiB"
echo "EBPF-VM-READY $(cut -d' ' -f1 /proc/uptime)"
