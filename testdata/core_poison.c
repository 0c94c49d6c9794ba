// core_poison.c — a CO-RE read (a direct BTF pointer load in tp_btf) of a field the kernel's
// task_struct does not have, with no bpf_core_field_exists guard: the relocation is poisoned, the
// verifier reaches the poisoned instruction, so the load fails (in libbpf too) and the error must
// name the field in C and the source line.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int nonexistent_field;
} __attribute__((preserve_access_index));

__u32 seen;

SEC("tp_btf/sched_switch")
int read_missing(__u64 *ctx)
{
	/* sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, ...) */
	struct task_struct *t = (void *)ctx[1];

	seen = t->pid;
	return t->nonexistent_field;
}

char LICENSE[] SEC("license") = "GPL";
