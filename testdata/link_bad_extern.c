// link_bad_extern.c — a wrong partner for link_a.c (see there): declares link_a's `link_total`
// (a __u64) as an extern __u32 and `classify` with a different parameter list, so linking must
// fail naming the symbol and both files.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern __u32 link_total;

SEC("xdp")
int link_bad_xdp(struct xdp_md *ctx)
{
	return link_total ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
