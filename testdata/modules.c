// modules.c — a kernel module's function and types, for test/kernel/modules.test.ts in the kernel
// matrix's VMs, whose guest loads the veth module (Debian's 6.1 and 6.12 ship module BTF; 5.10
// does not): fentry on veth_open, a function only the veth module's BTF has (attach_btf_id in
// that BTF, attach_btf_obj_fd its object), a kprobe on the same function (module symbols are in
// kallsyms on every kernel), and CO-RE relocations against struct veth_priv, a type only the
// module's BTF has. Each counts the opens of the one device whose ifindex the test sets.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

struct veth_priv {
	struct net_device *peer;
	unsigned int requested_headroom;
} __attribute__((preserve_access_index));

__s32 target_ifindex;

__u64 fentry_calls;
__u64 kprobe_calls;
__u32 priv_exists;
__u32 priv_size;
__u32 headroom_offset;

SEC("fentry/veth_open")
int BPF_PROG(fentry_veth_open, struct net_device *dev)
{
	if (dev->ifindex != target_ifindex)
		return 0;
	__sync_fetch_and_add(&fentry_calls, 1);
	priv_exists = bpf_core_type_exists(struct veth_priv);
	priv_size = bpf_core_type_size(struct veth_priv);
	headroom_offset = bpf_core_field_offset(struct veth_priv, requested_headroom);
	return 0;
}

SEC("kprobe/veth_open")
int BPF_KPROBE(kprobe_veth_open, struct net_device *dev)
{
	if (BPF_CORE_READ(dev, ifindex) == target_ifindex)
		__sync_fetch_and_add(&kprobe_calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
