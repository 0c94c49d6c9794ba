// exec_events.c — every exec on the machine as a ring buffer record: a tracepoint program on
// sched/sched_process_exec sends { pid, ppid, uid, comm, filename } through a BPF ring buffer
// (bpf_ringbuf_reserve/submit). The parent's tgid is read with CO-RE (task->real_parent->tgid),
// so the object needs no vmlinux.h; `only_ppid`, a .rodata constant set before load, keeps the
// execs of one parent's children only (0: all). Used by examples/exec-events.js.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Just the fields read, relocated by CO-RE against the running kernel's struct task_struct. */
struct task_struct {
	struct task_struct *real_parent;
	int tgid;
} __attribute__((preserve_access_index));

/* The tracepoint's record, as /sys/kernel/tracing/events/sched/sched_process_exec/format has it. */
struct sched_process_exec_args {
	unsigned short common_type;
	unsigned char common_flags;
	unsigned char common_preempt_count;
	int common_pid;
	__u32 filename_loc; /* __data_loc char[]: offset in the low 16 bits, length in the high */
	int pid;
	int old_pid;
};

struct event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	char comm[16];
	char filename[64];
};

/* Makes clang emit struct event into BTF, so user space decodes records by its name. */
struct event *unused_event __attribute__((unused));

const volatile __u32 only_ppid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Records the ring buffer had no room for. */
__u64 dropped;

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct sched_process_exec_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	struct event *e;

	if (only_ppid && ppid != only_ppid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = ppid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + (ctx->filename_loc & 0xffff));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
