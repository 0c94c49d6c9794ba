// link_a.c — first of three files linked into one object (`ebpf link` and `bpftool gen object`
// of link_a, link_b, link_c; none loads alone): the XDP entry program; the `counts` map, defined
// here and again __weak (identically) in link_b and declared extern in link_c; `bump`, a __weak
// default that link_c's strong definition replaces; a call to `classify`, defined in link_b;
// `link_total`, a global link_b reaches as an extern; a .kconfig extern that link_c declares too;
// and a CO-RE type relocation.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

__u64 link_total = 0;
__u32 link_seen_version = 0;
__u32 link_skb_size = 0;

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int classify(struct xdp_md *ctx);

/* The kernel's sk_buff, of which only the size is asked. */
struct sk_buff___a {
	int len;
} __attribute__((preserve_access_index));

__attribute__((noinline)) __weak int bump(__u32 slot)
{
	return 1000 + slot;
}

SEC("xdp")
int link_xdp(struct xdp_md *ctx)
{
	__u32 slot = classify(ctx);
	__u64 *v = bpf_map_lookup_elem(&counts, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
	link_total += bump(slot);
	link_seen_version = LINUX_KERNEL_VERSION;
	link_skb_size = bpf_core_type_size(struct sk_buff___a);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
