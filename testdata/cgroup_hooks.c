// cgroup_hooks.c — the cgroup hooks that are not about packets, each counting what a process in
// the cgroup does, for test/link-cgroup.test.ts: sockops (TCP connections established, active and
// passive side), cgroup/sysctl (reads of kernel/domainname counted, writes to it refused),
// cgroup/getsockopt and cgroup/setsockopt (calls counted; a setsockopt(IP_TOS) rewritten to 0x10
// before the kernel sees it), and cgroup/dev (opens of /dev/null counted, /dev/zero refused).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SOL_IP 0
#define IP_TOS 1

__u64 active_established;
__u64 passive_established;
__u64 sysctl_reads;
__u64 sysctl_writes_refused;
__u64 getsockopt_calls;
__u64 setsockopt_calls;
__u64 tos_rewritten;
__u64 dev_null_opens;
__u64 dev_zero_refused;

SEC("sockops")
int count_established(struct bpf_sock_ops *ops)
{
	if (ops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		__sync_fetch_and_add(&active_established, 1);
	else if (ops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		__sync_fetch_and_add(&passive_established, 1);
	return 1;
}

static const char domainname[] = "kernel/domainname";

SEC("cgroup/sysctl")
int guard_domainname(struct bpf_sysctl *ctx)
{
	char name[sizeof(domainname) + 1] = {};
	int i;

	if (bpf_sysctl_get_name(ctx, name, sizeof(name), 0) != sizeof(domainname) - 1)
		return 1;
#pragma unroll
	for (i = 0; i < sizeof(domainname) - 1; i++)
		if (name[i] != domainname[i])
			return 1;
	if (ctx->write) {
		__sync_fetch_and_add(&sysctl_writes_refused, 1);
		return 0;
	}
	__sync_fetch_and_add(&sysctl_reads, 1);
	return 1;
}

SEC("cgroup/getsockopt")
int count_getsockopt(struct bpf_sockopt *ctx)
{
	__sync_fetch_and_add(&getsockopt_calls, 1);
	return 1;
}

SEC("cgroup/setsockopt")
int rewrite_tos(struct bpf_sockopt *ctx)
{
	__u8 *optval = ctx->optval;
	__u8 *end = ctx->optval_end;

	__sync_fetch_and_add(&setsockopt_calls, 1);
	if (ctx->level == SOL_IP && ctx->optname == IP_TOS && optval + 4 <= end) {
		*(int *)optval = 0x10;
		__sync_fetch_and_add(&tos_rewritten, 1);
	}
	return 1;
}

SEC("cgroup/dev")
int guard_devices(struct bpf_cgroup_dev_ctx *ctx)
{
	if ((ctx->access_type & 0xffff) != BPF_DEVCG_DEV_CHAR || ctx->major != 1)
		return 1;
	if (ctx->minor == 3) {
		__sync_fetch_and_add(&dev_null_opens, 1);
		return 1;
	}
	if (ctx->minor == 5) {
		__sync_fetch_and_add(&dev_zero_refused, 1);
		return 0;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
