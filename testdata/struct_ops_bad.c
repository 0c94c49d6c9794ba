// struct_ops_bad.c — struct_ops maps whose local struct disagrees with the kernel's
// tcp_congestion_ops, one way each (`___flavor` suffixes give one object several local layouts):
// a name of 8 bytes (the kernel's is 16), an int where the kernel has a function pointer, and a
// member the kernel lacks, set (the same member left zero is skipped, as libbpf does).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

struct tcp_congestion_ops___short_name {
	__u32 (*ssthresh)(struct sock *sk);
	char name[8];
};

struct tcp_congestion_ops___int_for_pointer {
	__u32 ssthresh;
	char name[16];
};

struct tcp_congestion_ops___extra {
	__u32 (*ssthresh)(struct sock *sk);
	__u32 no_such_member;
	char name[16];
};

SEC("struct_ops/bad_ssthresh")
__u32 BPF_PROG(bad_ssthresh, struct sock *sk)
{
	return 2;
}

SEC(".struct_ops")
struct tcp_congestion_ops___short_name short_name = {
	.ssthresh = (void *)bad_ssthresh,
	.name = "short",
};

SEC(".struct_ops")
struct tcp_congestion_ops___int_for_pointer int_for_pointer = {
	.ssthresh = 7,
	.name = "intptr",
};

SEC(".struct_ops")
struct tcp_congestion_ops___extra extra_set = {
	.ssthresh = (void *)bad_ssthresh,
	.no_such_member = 1,
	.name = "extra",
};

SEC(".struct_ops")
struct tcp_congestion_ops___extra extra_zero = {
	.ssthresh = (void *)bad_ssthresh,
	.name = "extra0",
};

char LICENSE[] SEC("license") = "GPL";
