// exec_perf.c — every exec on the machine as a perf buffer sample, for test/cli-run-events.test.ts
// (`ebpf run` streaming a BPF_MAP_TYPE_PERF_EVENT_ARRAY): a tracepoint program on
// sched/sched_process_exec sends a struct exec_sample { pid, ppid, seq, comm, filename } with
// bpf_perf_event_output on the current CPU, built in a per-CPU scratch map (whose value type puts
// struct exec_sample in the object's BTF). `seq` numbers the samples sent (from 1); the parent's
// tgid is read with CO-RE (task->real_parent->tgid).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

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

struct exec_sample {
	__u32 pid;
	__u32 ppid;
	__u64 seq;
	char comm[16];
	char filename[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_sample);
} scratch SEC(".maps");

__u64 sent;

SEC("tracepoint/sched/sched_process_exec")
int on_exec_perf(struct sched_process_exec_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 zero = 0;
	struct exec_sample *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s)
		return 0;
	s->pid = bpf_get_current_pid_tgid() >> 32;
	s->ppid = BPF_CORE_READ(task, real_parent, tgid);
	s->seq = __sync_add_and_fetch(&sent, 1);
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	bpf_probe_read_kernel_str(s->filename, sizeof(s->filename), (void *)ctx + (ctx->filename_loc & 0xffff));
	bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, s, sizeof(*s));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
