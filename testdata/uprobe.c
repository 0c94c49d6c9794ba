// uprobe.c — uprobe and uretprobe programs for the attach tests (test/link-probes.test.ts): they
// count the calls of a function in a binary the test compiles, sum its argument and its return
// values, and keep the bpf_cookie each link carries; `count_getppid` names its own target in the
// section (libbpf's `uprobe/binary:function`), Node's own uv_os_getppid behind `process.ppid`.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

// bpf_get_attach_cookie is Linux 5.15, as perf_event links are: before, the verifier drops the
// read as dead code (a kconfig value is a constant to it), and the object loads on 5.10 too.
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig __weak;

__u64 calls;
__u64 arg_sum;
__u64 enter_cookie;
__u64 returns;
__u64 ret_sum;
__s64 last_ret;
__u64 exit_cookie;
__u64 getppid_calls;

SEC("uprobe")
int BPF_KPROBE(on_enter, int x)
{
	__sync_fetch_and_add(&calls, 1);
	__sync_fetch_and_add(&arg_sum, x);
	if (LINUX_HAS_BPF_COOKIE)
		enter_cookie = bpf_get_attach_cookie(ctx);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_return, int ret)
{
	__sync_fetch_and_add(&returns, 1);
	__sync_fetch_and_add(&ret_sum, ret);
	last_ret = ret;
	if (LINUX_HAS_BPF_COOKIE)
		exit_cookie = bpf_get_attach_cookie(ctx);
	return 0;
}

SEC("uretprobe//proc/self/exe:uv_os_getppid")
int BPF_KRETPROBE(count_getppid, int ret)
{
	/* uv_os_getppid returns the parent's pid: count only calls that got it. */
	if (ret > 0)
		__sync_fetch_and_add(&getppid_calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
