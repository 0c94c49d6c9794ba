// freplace_target.c — an XDP program whose verdict comes from a global (non-static, so
// separately verified) function `xdp_verdict`: the target that freplace.c's program replaces.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline)) int xdp_verdict(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if (data + 14 > end)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int freplace_target(struct xdp_md *ctx)
{
	return xdp_verdict(ctx);
}

char LICENSE[] SEC("license") = "GPL";
