// syscall.c — a SEC("syscall") program (BPF_PROG_TYPE_SYSCALL, Linux 5.14, sleepable), run by
// BPF_PROG_TEST_RUN on a context the caller gives and gets back: it adds two numbers, and creates
// an array map through bpf_sys_bpf(BPF_MAP_CREATE) with the size the context asks for, returning
// the new descriptor (which belongs to the process that ran it) in the context. Its return value
// is the map creation's result. Run by test/program.test.ts.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct args {
	__u64 a;
	__u64 b;
	__u64 sum;
	__u32 max_entries;
	__s32 map_fd;
};

__u32 runs;

SEC("syscall")
int make_map(struct args *ctx)
{
	union bpf_attr attr;
	int fd;

	__builtin_memset(&attr, 0, sizeof(attr));
	runs++;
	ctx->sum = ctx->a + ctx->b;
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = ctx->max_entries;
	fd = bpf_sys_bpf(BPF_MAP_CREATE, &attr, sizeof(attr));
	ctx->map_fd = fd;
	return fd < 0 ? fd : 0;
}

char LICENSE[] SEC("license") = "GPL";
