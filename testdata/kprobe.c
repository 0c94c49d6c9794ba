// kprobe.c — kprobe, kretprobe and kprobe.multi programs for the attach tests: each counts the
// calls of getppid(2) by the test process (the pid in .rodata), and keeps the bpf_cookie its link
// carries. The kernel function is named in the section, as libbpf's auto-attach reads it.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

// bpf_get_attach_cookie is Linux 5.15, as perf_event links are: before, the verifier drops the
// read as dead code (a kconfig value is a constant to it), and the object loads on 5.10 too.
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig __weak;

const volatile __u32 target_pid;

__u64 entries;
__u64 exits;
__u64 multi_entries;
__u64 cookie;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

SEC("kprobe/__x64_sys_getppid")
int BPF_KPROBE(getppid_entry)
{
	if (mine()) {
		__sync_fetch_and_add(&entries, 1);
		if (LINUX_HAS_BPF_COOKIE)
			cookie = bpf_get_attach_cookie(ctx);
	}
	return 0;
}

SEC("kretprobe/__x64_sys_getppid")
int BPF_KRETPROBE(getppid_exit, long ret)
{
	if (mine() && ret > 0)
		__sync_fetch_and_add(&exits, 1);
	return 0;
}

SEC("kprobe.multi/__x64_sys_getppid")
int BPF_KPROBE(getppid_multi)
{
	if (mine())
		__sync_fetch_and_add(&multi_entries, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
