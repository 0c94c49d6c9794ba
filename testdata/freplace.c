// freplace.c — an extension program (BPF_PROG_TYPE_EXT) for freplace_target.c's global function
// `xdp_verdict`: loading it needs the target program's fd (attach_prog_fd) and the id of FUNC
// xdp_verdict in that program's BTF (attach_btf_id). It reads a map, so maps are relocated too.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} verdict SEC(".maps");

SEC("freplace/xdp_verdict")
int new_verdict(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 *v = bpf_map_lookup_elem(&verdict, &key);

	return v ? *v : XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
