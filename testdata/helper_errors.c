// helper_errors.c — programs the verifier refuses for the helper they call, each the way a
// user meets it: a helper id this kernel does not have (as a program built for a newer kernel
// calls one), a helper this program type may not call, and a GPL-only helper in an object whose
// license is not GPL-compatible; and one calling a helper that came in Linux 6.1, which loads there
// and later. The loader must say which helper, by name, and why.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* An id past every helper Linux has: the kernel says "invalid func unknown#250". */
static long (*const future_helper)(void) = (void *)250;

SEC("socket")
int calls_future_helper(struct __sk_buff *skb)
{
	return future_helper() ? 0 : 1;
}

/* bpf_xdp_adjust_head (44) exists, but not for socket filters: "unknown func bpf_xdp_adjust_head#44". */
SEC("socket")
int calls_xdp_helper(struct __sk_buff *skb)
{
	return bpf_xdp_adjust_head((void *)skb, 0) ? 0 : 1;
}

/* bpf_probe_read_kernel (113) is GPL-only and this object's license is BSD. */
SEC("tracepoint/syscalls/sys_enter_getpid")
int calls_gpl_helper(void *ctx)
{
	long v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), ctx);
	return v != 0;
}

/* bpf_ktime_get_tai_ns (208) came in Linux 6.1: older kernels say "invalid func unknown#208". */
SEC("socket")
int calls_tai_clock(struct __sk_buff *skb)
{
	return bpf_ktime_get_tai_ns() & 1;
}

char LICENSE[] SEC("license") = "BSD";
