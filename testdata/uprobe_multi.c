// uprobe_multi.c — uprobe.multi, uretprobe.multi and uprobe.session programs for
// test/link-uprobe-multi.test.ts, attached to functions of a program the test compiles (globs over
// its symbols): entries counted per function by bpf_cookie, returns summed, and a session program
// that asks for the return probe only on calls with an even argument (kfuncs
// bpf_session_is_return, bpf_session_cookie). `multi_named` names its binary and glob in the
// section (libbpf's uprobe.multi/PATH:PATTERN; the test points the path at its binary).
// `ksession` is a kprobe session (Linux 6.10) on getppid(2) by the process in `target_pid`, for
// test/kernel/hooks.test.ts: the return probe asked for on every second entry of that process.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define SLOTS 8

extern bool bpf_session_is_return(void) __ksym __weak;
extern __u64 *bpf_session_cookie(void) __ksym __weak;

__u64 entries[SLOTS];
__u64 arg_sum;
__u64 returns;
__s64 ret_sum;
__u64 named_calls;
__u64 session_entries;
__u64 session_returns;
/* Each return sees the cookie its entry stored: the argument plus 1000. */
__u64 session_cookie_sum;

const volatile __u32 target_pid;
__u64 ksession_entries;
__u64 ksession_returns;
/* Each return sees the cookie its entry stored: the entry's number plus 1000. */
__u64 ksession_cookie_sum;

SEC("uprobe.multi")
int BPF_KPROBE(multi_enter, long x)
{
	__u64 slot = bpf_get_attach_cookie(ctx);

	if (slot < SLOTS)
		__sync_fetch_and_add(&entries[slot], 1);
	__sync_fetch_and_add(&arg_sum, x);
	return 0;
}

SEC("uretprobe.multi")
int BPF_KRETPROBE(multi_return, long ret)
{
	__sync_fetch_and_add(&returns, 1);
	__sync_fetch_and_add(&ret_sum, ret);
	return 0;
}

SEC("uprobe.multi/multi_target:fn_*")
int BPF_KPROBE(multi_named)
{
	__sync_fetch_and_add(&named_calls, 1);
	return 0;
}

SEC("uprobe.session")
int BPF_KPROBE(session, long x)
{
	__u64 *cookie = bpf_session_cookie();

	if (bpf_session_is_return()) {
		__sync_fetch_and_add(&session_returns, 1);
		if (cookie)
			__sync_fetch_and_add(&session_cookie_sum, *cookie);
		return 0;
	}
	__sync_fetch_and_add(&session_entries, 1);
	if (cookie)
		*cookie = x + 1000;
	/* 0 runs the return probe for this call, 1 skips it. */
	return x & 1;
}

SEC("kprobe.session/__x64_sys_getppid")
int ksession(struct pt_regs *ctx)
{
	__u64 *cookie = bpf_session_cookie();
	__u64 n;

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 1;
	if (bpf_session_is_return()) {
		__sync_fetch_and_add(&ksession_returns, 1);
		if (cookie)
			__sync_fetch_and_add(&ksession_cookie_sum, *cookie);
		return 0;
	}
	n = __sync_add_and_fetch(&ksession_entries, 1);
	if (cookie)
		*cookie = n + 1000;
	/* The return probe for the second, fourth, ... entry. */
	return n & 1;
}

char LICENSE[] SEC("license") = "GPL";
