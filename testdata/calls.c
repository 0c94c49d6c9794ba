// calls.c — bpf-to-bpf calls and callbacks: static noinline subprograms, global (non-static)
// subprograms that the verifier checks on their own (func_info linkage global), a .text
// subprogram called from programs in two different sections, calls inside one section (within
// .text: pc-relative, no relocation), nested calls (shared → middle → leaf, no recursion), and
// callbacks passed as BPF_PSEUDO_FUNC ld_imm64 to bpf_loop and bpf_for_each_map_elem.
// (A program calling another entry program is in calls_entry.c: libbpf rejects it.)
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

/* Nested static calls: leaf ← middle ← shared. */
static __attribute__((noinline)) __u64 leaf(__u64 x)
{
	return x * 3 + 1;
}

static __attribute__((noinline)) __u64 middle(__u64 x, __u64 y)
{
	return leaf(x) + leaf(y);
}

/* Called from both the xdp and the tc program below. */
static __attribute__((noinline)) int shared(__u32 len)
{
	return middle(len, 2) > 100 ? 1 : 0;
}

/* Global functions: verified separately, with argument types from BTF. */
__attribute__((noinline)) int global_add(int a, int b)
{
	return a + b;
}

__attribute__((noinline)) int global_lookup(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&values, &idx);

	if (!v)
		return 0;
	return *v + global_add(idx, 1);
}

struct bpf_map;

struct loop_ctx {
	__u64 sum;
	__u32 limit;
};

static int loop_step(__u32 index, void *data)
{
	struct loop_ctx *lc = data;

	lc->sum += index;
	return index >= lc->limit ? 1 : 0;
}

static __u64 for_each_step(struct bpf_map *map, __u32 *key, __u64 *val, struct loop_ctx *lc)
{
	lc->sum += *val;
	return 0;
}

SEC("xdp")
int xdp_calls(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	if (shared(len))
		return XDP_DROP;
	return global_lookup(len & 7) ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int tc_calls(struct __sk_buff *skb)
{
	return shared(skb->len) + global_add(skb->len, 2);
}

SEC("xdp")
int xdp_loop(struct xdp_md *ctx)
{
	struct loop_ctx lc = { .sum = 0, .limit = 10 };

	bpf_loop(100, loop_step, &lc, 0);
	bpf_for_each_map_elem(&values, for_each_step, &lc, 0);
	return lc.sum > 1000 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
