// tcp_cc.c — a Reno-like TCP congestion control written in BPF, registered from a
// `.struct_ops.link` map (a struct_ops link from Linux 6.4; a plain struct_ops map registered by a
// map update before). Slow start below ssthresh, one segment per window above it, half the window
// on loss. Each callback counts its calls in `.bss`, for test/kernel/struct-ops.test.ts. The kernel
// types are declared here with only the members used (CO-RE relocates them), and the local
// tcp_congestion_ops lists only the members it sets: the loader lays them out by name in the
// kernel's struct.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_cwnd_cnt;
	__u32 snd_cwnd_clamp;
	__u32 snd_ssthresh;
} __attribute__((preserve_access_index));

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	void (*init)(struct sock *sk);
	char name[16];
};

__u64 init_calls;
__u64 cong_avoid_calls;
__u64 ssthresh_calls;
__u64 undo_calls;
__u64 acked_total;

static struct tcp_sock *tcp_sk(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

SEC("struct_ops/ebpf_reno_init")
void BPF_PROG(ebpf_reno_init, struct sock *sk)
{
	__sync_fetch_and_add(&init_calls, 1);
}

SEC("struct_ops/ebpf_reno_cong_avoid")
void BPF_PROG(ebpf_reno_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);
	__u32 cwnd = tp->snd_cwnd;

	__sync_fetch_and_add(&cong_avoid_calls, 1);
	__sync_fetch_and_add(&acked_total, acked);
	if (cwnd < tp->snd_ssthresh) {
		/* Slow start: one segment per segment acknowledged. */
		cwnd += acked;
	} else if (++tp->snd_cwnd_cnt >= cwnd) {
		/* Congestion avoidance: one segment per window. */
		tp->snd_cwnd_cnt = 0;
		cwnd++;
	}
	if (cwnd > tp->snd_cwnd_clamp)
		cwnd = tp->snd_cwnd_clamp;
	tp->snd_cwnd = cwnd;
}

SEC("struct_ops/ebpf_reno_ssthresh")
__u32 BPF_PROG(ebpf_reno_ssthresh, struct sock *sk)
{
	__u32 half = tcp_sk(sk)->snd_cwnd >> 1;

	__sync_fetch_and_add(&ssthresh_calls, 1);
	return half > 2 ? half : 2;
}

SEC("struct_ops/ebpf_reno_undo_cwnd")
__u32 BPF_PROG(ebpf_reno_undo_cwnd, struct sock *sk)
{
	__sync_fetch_and_add(&undo_calls, 1);
	return tcp_sk(sk)->snd_cwnd;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops ebpf_reno = {
	.init = (void *)ebpf_reno_init,
	.cong_avoid = (void *)ebpf_reno_cong_avoid,
	.ssthresh = (void *)ebpf_reno_ssthresh,
	.undo_cwnd = (void *)ebpf_reno_undo_cwnd,
	.name = "ebpf_reno",
};

char LICENSE[] SEC("license") = "GPL";
