// link_b.c — second of the three linked files (see link_a.c): defines `classify`, called from
// link_a's program; defines `counts` again, __weak and identical to link_a's (the linker checks
// the two definitions agree and keeps link_a's); adds to link_a's `link_total` through an
// extern; and has a CO-RE field-existence relocation of its own.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps") __weak;

extern __u64 link_total;
__u32 link_classified = 0;

struct xdp_md___b {
	__u32 rx_queue_index;
	__u32 no_such_field;
} __attribute__((preserve_access_index));

__attribute__((noinline)) int classify(struct xdp_md *ctx)
{
	struct xdp_md___b *md = (void *)ctx;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 slot = end - data > 100 ? 1 : 0;

	if (bpf_core_field_exists(md->rx_queue_index))
		slot += 2;
	if (bpf_core_field_exists(md->no_such_field))
		slot = 0;
	link_classified++;
	link_total += 1;
	return slot;
}

char LICENSE[] SEC("license") = "GPL";
