// arena_no_map.c — an __arena global without an arena map to hold it, which libbpf refuses ("the
// ARENA map should be explicitly declared"); the object step must refuse it too.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __arena __attribute__((address_space(1)))

int __arena lonely = 1;

SEC("syscall")
int touch(void *ctx)
{
	return lonely;
}

char LICENSE[] SEC("license") = "GPL";
