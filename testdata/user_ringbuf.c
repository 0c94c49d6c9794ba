// user_ringbuf.c — a BPF_MAP_TYPE_USER_RINGBUF (Linux 6.1) that JavaScript writes and an XDP
// program drains with bpf_user_ringbuf_drain: each record is a struct user_msg; the program
// counts them, sums their values and checks their sequence numbers arrive in order.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4 * 4096);
} user_rb SEC(".maps");

struct user_msg {
	__u32 seq;
	__u32 value;
};

__u64 drained = 0;
__u64 value_sum = 0;
__u32 next_seq = 0;
__u32 out_of_order = 0;
__s64 last_ret = 0;

static long handle_msg(struct bpf_dynptr *dynptr, void *ctx)
{
	struct user_msg m;

	if (bpf_dynptr_read(&m, sizeof(m), dynptr, 0, 0))
		return 1;
	if (m.seq != next_seq)
		out_of_order++;
	next_seq = m.seq + 1;
	drained++;
	value_sum += m.value;
	return 0;
}

SEC("xdp")
int drain_user_rb(struct xdp_md *ctx)
{
	last_ret = bpf_user_ringbuf_drain(&user_rb, handle_msg, NULL, 0);
	return XDP_PASS;
}

/* Keeps struct user_msg in BTF for typed writers. */
struct user_msg *user_msg_type __attribute__((unused));

char LICENSE[] SEC("license") = "GPL";
