// arena.c — a BPF_MAP_TYPE_ARENA (Linux 6.9) with __arena globals (clang's address_space(1), in
// section .addr_space.1) and a sleepable syscall program that writes them and allocates a page with
// bpf_arena_alloc_pages; test/arena.test.ts runs it with BPF_PROG_TEST_RUN and reads the results
// from the arena's memory in JavaScript.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Debian 12's uapi headers predate arenas. */
#define BPF_MAP_TYPE_ARENA 33
#define __arena __attribute__((address_space(1)))

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 16); /* pages */
} arena SEC(".maps");

void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt, int node_id,
				    __u64 flags) __ksym __weak;

struct point {
	__u32 x;
	__u32 y;
};

int __arena counter = 7;
struct point __arena origin = { .x = 3, .y = 4 };
__u64 __arena values[4];
__u64 __arena *__arena page;

SEC("syscall")
int arena_write(void *ctx)
{
	__u64 __arena *p;

	counter += 1;
	origin.x += origin.y;
	values[0] = 0x1122334455667788ULL;
	values[3] = counter;
	p = bpf_arena_alloc_pages(&arena, NULL, 1, -1 /* NUMA_NO_NODE */, 0);
	if (!p)
		return 1;
	p[0] = 0xabcdef;
	p[1] = (__u64)p; /* the page's user address, as the program sees it */
	page = p;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
