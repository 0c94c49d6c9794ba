// calls_entry.c — one entry program calling another entry program of the same section as a
// function (a call relocation against a global symbol in "xdp", not in .text). libbpf 1.1
// refuses it ("bad call relo"); a loader may either reject it with a clear error or copy the
// callee in as a subprogram.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
__attribute__((noinline)) int xdp_callee(struct xdp_md *ctx)
{
	return ctx->ingress_ifindex & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int xdp_caller(struct xdp_md *ctx)
{
	return xdp_callee(ctx) == XDP_PASS ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
