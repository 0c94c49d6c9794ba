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
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
# The VM kernel's modules come from the package extracted in the cache; busybox loads them
# (the kernel runs /sbin/modprobe for request_module).
mods="$EBPF_KERNEL_CACHE/$EBPF_KERNEL_SERIES/root/lib/modules"
[ -d "$mods/$(uname -r)" ] && mkdir -p /lib/modules && mount --bind "$mods" /lib/modules
mkdir -p /sbin && ln -sf /bin/busybox /sbin/modprobe && echo /sbin/modprobe > /proc/sys/kernel/modprobe
ip link set lo up
hostname ebpf-vm-"$EBPF_KERNEL_SERIES"
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
vm_exit() {
  echo "EBPF-VM-EXIT=$1"
  sync
  /bin/busybox poweroff -f
}
echo "ebpf-vm: $(uname -r), memlock $(ulimit -l)"
