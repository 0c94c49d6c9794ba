// link_bad_map.c — a wrong partner for link_a.c (see there): `counts` again, __weak, but with 8
// entries instead of 4, so linking it with link_a must fail naming the map, both files and
// max_entries. Does not load alone (nothing to load: no program).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps") __weak;

char LICENSE[] SEC("license") = "GPL";
