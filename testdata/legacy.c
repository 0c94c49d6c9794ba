// legacy.c — maps declared the pre-BTF way: `struct bpf_map_def` objects in SEC("maps"), sizes
// given as numbers, no BTF for the map itself. Several maps share the section, so each is found
// by its symbol's offset; one has map_flags. The struct is defined here, as old programs did.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 64,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
};

struct bpf_map_def SEC("maps") legacy_percpu = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 16,
	.max_entries = 2,
};

SEC("socket")
int legacy_socket(struct __sk_buff *skb)
{
	__u32 key = skb->protocol & 7;
	__u64 one = 1, *count;
	__u32 *seen;

	count = bpf_map_lookup_elem(&legacy_hash, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&legacy_hash, &key, &one, BPF_NOEXIST);
	seen = bpf_map_lookup_elem(&legacy_array, &key);
	if (seen)
		*seen = skb->len;
	key = 0;
	bpf_map_lookup_elem(&legacy_percpu, &key);
	return 0;
}

char _license[] SEC("license") = "GPL";
