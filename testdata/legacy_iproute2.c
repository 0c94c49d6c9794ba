// legacy_iproute2.c — an object as iproute2 (`tc filter ... bpf obj`) expects: maps in SEC("maps")
// with iproute2's larger `struct bpf_elf_map` (extra id, pinning, inner_id, inner_idx fields; 28
// bytes, not libbpf's 20), a map-in-map described through inner_id/inner_idx, and programs in
// "classifier" and "action" sections. libbpf's legacy-map parser accepts larger definitions only
// when the extra bytes are zero, so this one does not load with bpftool (see README.md).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define PIN_NONE 0
#define PIN_OBJECT_NS 1
#define PIN_GLOBAL_NS 2

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

struct bpf_elf_map SEC("maps") tc_counters = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 4,
	.pinning = PIN_GLOBAL_NS,
};

/* Template for the inner maps: referenced by id from the outer map below. */
struct bpf_elf_map SEC("maps") tc_inner = {
	.type = BPF_MAP_TYPE_HASH,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 16,
	.id = 42,
	.inner_idx = 0,
};

struct bpf_elf_map SEC("maps") tc_outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 1,
	.inner_id = 42,
};

SEC("classifier")
int tc_classify(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&tc_counters, &key);

	if (count)
		__sync_fetch_and_add(count, 1);
	return TC_ACT_OK;
}

SEC("action")
int tc_action(struct __sk_buff *skb)
{
	__u32 key = 0, *val;
	void *inner = bpf_map_lookup_elem(&tc_outer, &key);

	if (!inner)
		return TC_ACT_OK;
	val = bpf_map_lookup_elem(inner, &key);
	return val ? TC_ACT_SHOT : TC_ACT_OK;
}

char __license[] SEC("license") = "GPL";
