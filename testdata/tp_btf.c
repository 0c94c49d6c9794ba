// tp_btf.c — a BTF-typed tracepoint and a raw tracepoint for the attach tests: tp_btf/sched_process_exec
// counts execs by children of the test process (the pid in .rodata), reading task_struct fields
// directly through BTF (CO-RE relocated; only the two fields used are declared), and keeps the last
// child's pid; raw_tp/sys_enter counts the test process's getppid(2) calls.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct task_struct {
	struct task_struct *real_parent;
	int tgid;
} __attribute__((preserve_access_index));

const volatile __u32 target_pid;

__u64 execs;
__u32 exec_pid;
__u64 getppids;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(count_exec, struct task_struct *p, int old_pid, void *bprm)
{
	if (p->real_parent->tgid == target_pid) {
		__sync_fetch_and_add(&execs, 1);
		exec_pid = p->tgid;
	}
	return 0;
}

SEC("raw_tp/sys_enter")
int count_getppid(struct bpf_raw_tracepoint_args *ctx)
{
	/* args[1] is the syscall number; 110 is getppid on x86_64. */
	if ((bpf_get_current_pid_tgid() >> 32) == target_pid && ctx->args[1] == 110)
		__sync_fetch_and_add(&getppids, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
