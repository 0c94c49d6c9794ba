// build_events.bpf.c — the typed workflow's program (test/build.test.ts builds it with `ebpf build`
// against the vmlinux.h the project writes): on each getppid(2) of the process whose tgid .rodata
// names, a struct event through a ring buffer, a count in an array map and a total in .bss.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum event_kind { KIND_GETPPID = 1, KIND_OTHER = 2 };

struct event {
	__u32 pid;
	enum event_kind kind;
	__u64 n;
	char comm[16];
};

/* A ring buffer's records have no BTF of their own: this keeps struct event in BTF for --type. */
struct event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

const volatile __u32 target_tgid = 0;
__u64 seen = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 zero = 0;
	struct event *e;
	__u64 *count;

	if (tgid != target_tgid)
		return 0;
	count = bpf_map_lookup_elem(&counts, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = tgid;
	e->kind = KIND_GETPPID;
	e->n = ++seen;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
