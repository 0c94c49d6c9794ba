// arena_two_maps.c — two BPF_MAP_TYPE_ARENA maps in one object, which libbpf refuses ("only single
// ARENA map is supported"); the object step must refuse it too.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BPF_MAP_TYPE_ARENA 33

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
} arena_one SEC(".maps"), arena_two SEC(".maps");

SEC("syscall")
int touch(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
