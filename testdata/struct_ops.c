// struct_ops.c — a BPF_MAP_TYPE_STRUCT_OPS map (a TCP congestion control, tcp_congestion_ops)
// whose function-pointer members point at SEC("struct_ops/...") programs and whose data member
// (name) is copied into the kernel's value. The local struct lists only the members it sets;
// the loader matches them by name against the kernel's tcp_congestion_ops.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
};

SEC("struct_ops/tdtest_ssthresh")
__u32 BPF_PROG(tdtest_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/tdtest_undo_cwnd")
__u32 BPF_PROG(tdtest_undo_cwnd, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/tdtest_cong_avoid")
void BPF_PROG(tdtest_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC(".struct_ops")
struct tcp_congestion_ops tdtest_cc = {
	.ssthresh = (void *)tdtest_ssthresh,
	.undo_cwnd = (void *)tdtest_undo_cwnd,
	.cong_avoid = (void *)tdtest_cong_avoid,
	.name = "tdtest_cc",
};

char LICENSE[] SEC("license") = "GPL";
