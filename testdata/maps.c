// maps.c — BTF-defined maps of many types, each used by a program: hash (BPF_F_NO_PREALLOC),
// array, percpu hash/array, LRU hash, ring buffer, perf event array, prog array with initial
// `values` (tail calls), array-of-maps (named inner map type, initial values) and hash-of-maps
// (inline anonymous inner map) via __array(values, ...), queue, stack, bloom filter (map_extra).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct value {
	__u64 count;
	__u32 flags;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct value);
} hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} array_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} percpu_hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct value);
} percpu_array_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} lru_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 32);
	__type(value, __u32);
} queue_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 32);
	__type(value, __u64);
} stack_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 100);
	__uint(map_extra, 3); /* number of hash functions */
	__type(value, __u32);
} bloom_map SEC(".maps");

/* Inner maps referenced by the map-in-map initial values below. */
struct inner_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner_array inner_a SEC(".maps");
struct inner_array inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_array);
} outer_array SEC(".maps") = {
	.values = { &inner_a, [2] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(max_entries, 1);
		__type(key, __u32);
		__type(value, __u32);
	});
} outer_hash SEC(".maps"); /* inner map given inline, filled at run time */

/* Tail-call targets and the program array that refers to them. */
SEC("xdp")
int tail_0(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int tail_1(struct xdp_md *ctx)
{
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int(struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = { [0] = &tail_0, [3] = &tail_1 },
};

SEC("xdp")
int use_tail_call(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jump_table, 0);
	return XDP_ABORTED;
}

SEC("xdp")
int use_hash_array(struct xdp_md *ctx)
{
	__u32 key = 1;
	struct value init = { .count = 1 }, *v;
	__u64 *slot;

	v = bpf_map_lookup_elem(&hash_map, &key);
	if (v)
		__sync_fetch_and_add(&v->count, 1);
	else
		bpf_map_update_elem(&hash_map, &key, &init, BPF_ANY);
	slot = bpf_map_lookup_elem(&array_map, &key);
	if (slot)
		*slot += 1;
	bpf_map_delete_elem(&lru_map, &key);
	return XDP_PASS;
}

SEC("xdp")
int use_percpu(struct xdp_md *ctx)
{
	__u64 hkey = 7, one = 1;
	__u32 akey = 0;
	struct value *v;

	bpf_map_update_elem(&percpu_hash_map, &hkey, &one, BPF_ANY);
	v = bpf_map_lookup_elem(&percpu_array_map, &akey);
	if (v)
		v->count++;
	return XDP_PASS;
}

SEC("xdp")
int use_ringbuf(struct xdp_md *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return XDP_PASS;
	*e = ctx->data_end - ctx->data;
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

SEC("xdp")
int use_perf(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &len, sizeof(len));
	return XDP_PASS;
}

SEC("xdp")
int use_queue_stack_bloom(struct xdp_md *ctx)
{
	__u32 q = 1, b = 2, out;
	__u64 s = 3;

	bpf_map_push_elem(&queue_map, &q, BPF_ANY);
	bpf_map_pop_elem(&queue_map, &out);
	bpf_map_push_elem(&stack_map, &s, BPF_ANY);
	bpf_map_peek_elem(&stack_map, &s);
	bpf_map_push_elem(&bloom_map, &b, BPF_ANY);
	if (bpf_map_peek_elem(&bloom_map, &b) == 0)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int use_map_in_map(struct xdp_md *ctx)
{
	__u32 key = 0, *val;
	void *inner;

	inner = bpf_map_lookup_elem(&outer_array, &key);
	if (inner) {
		val = bpf_map_lookup_elem(inner, &key);
		if (val)
			*val += 1;
	}
	key = 1;
	inner = bpf_map_lookup_elem(&outer_hash, &key);
	if (inner) {
		val = bpf_map_lookup_elem(inner, &key);
		if (val)
			return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
