// usdt.c — USDT programs built against libbpf's own <bpf/usdt.bpf.h>, unchanged, for
// test/link-usdt.test.ts: `on_probe` (SEC("usdt"), attached by API to several probes of a program
// the test compiles) keeps per probe, by bpf_usdt_cookie(), the hit count, the argument count, every
// argument of the last hit and the sum of the first; `on_guarded` names its probe in the section
// (libbpf's usdt/PATH:PROVIDER:NAME; the test points the path at its binary) and reads its one
// argument through BPF_USDT.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#define SLOTS 8
#define MAX_ARGS 12

__u64 hits[SLOTS];
__s32 arg_cnt[SLOTS];
__s64 args[SLOTS][MAX_ARGS];
__s64 arg0_sum[SLOTS];
/* Bit i set: bpf_usdt_arg failed for argument i < arg_cnt. */
__u32 arg_errors[SLOTS];
__u64 guarded_hits;
__s64 guarded_sum;

SEC("usdt")
int on_probe(struct pt_regs *ctx)
{
	long slot = bpf_usdt_cookie(ctx);
	int n;

	if (slot < 0 || slot >= SLOTS)
		return 0;
	__sync_fetch_and_add(&hits[slot], 1);
	n = bpf_usdt_arg_cnt(ctx);
	arg_cnt[slot] = n;
	for (int i = 0; i < MAX_ARGS; i++) {
		long v = 0;

		if (bpf_usdt_arg(ctx, i, &v) != 0 && i < n)
			arg_errors[slot] |= 1u << i;
		args[slot][i] = v;
		if (i == 0)
			__sync_fetch_and_add(&arg0_sum[slot], v);
	}
	return 0;
}

SEC("usdt/usdt_target:ebpf_test:guarded")
int BPF_USDT(on_guarded, int i)
{
	__sync_fetch_and_add(&guarded_hits, 1);
	__sync_fetch_and_add(&guarded_sum, i);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
