// progtypes.c — one tiny program per section name that libbpf 1.1 knows, so the loader's
// section table maps each to its program type, expected attach type and attach target.
// tp_btf/iter name targets that exist in kernel BTF (sched_switch, task); every program returns
// 0, which each verifier return-range check accepts. Trampoline programs (fentry, fexit,
// fmod_ret, lsm) are in progtypes_trampoline.c, section names libbpf 1.1 does not know in
// progtypes_new.c, struct_ops in struct_ops.c.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PROG(sec, name)           \
	SEC(sec) int name(void *ctx) \
	{                            \
		return 0;            \
	}

PROG("socket", prog_socket)
PROG("kprobe/do_unlinkat", prog_kprobe)
PROG("kretprobe/do_unlinkat", prog_kretprobe)
PROG("kprobe.multi/do_unlinkat", prog_kprobe_multi)
PROG("ksyscall/getpid", prog_ksyscall)
PROG("uprobe", prog_uprobe)
PROG("uretprobe", prog_uretprobe)
PROG("uprobe.s", prog_uprobe_sleepable)
PROG("usdt", prog_usdt)
PROG("tracepoint/syscalls/sys_enter_openat", prog_tracepoint)
PROG("tp/sched/sched_switch", prog_tp)
PROG("raw_tracepoint/sys_enter", prog_raw_tracepoint)
PROG("raw_tp/sched_switch", prog_raw_tp)
PROG("tp_btf/sched_switch", prog_tp_btf)
PROG("iter/task", prog_iter_task)
PROG("xdp", prog_xdp)
PROG("xdp.frags", prog_xdp_frags)
PROG("xdp/devmap", prog_xdp_devmap)
PROG("xdp/cpumap", prog_xdp_cpumap)
PROG("tc", prog_tc)
PROG("classifier", prog_classifier)
PROG("action", prog_action)
PROG("cgroup_skb/ingress", prog_cgroup_skb_ingress)
PROG("cgroup_skb/egress", prog_cgroup_skb_egress)
PROG("cgroup/sock_create", prog_cgroup_sock_create)
PROG("cgroup/connect4", prog_cgroup_connect4)
PROG("cgroup/sendmsg4", prog_cgroup_sendmsg4)
PROG("cgroup/getsockopt", prog_cgroup_getsockopt)
PROG("cgroup/sysctl", prog_cgroup_sysctl)
PROG("cgroup/dev", prog_cgroup_dev)
PROG("sockops", prog_sockops)
PROG("sk_skb/stream_parser", prog_sk_skb_parser)
PROG("sk_skb/stream_verdict", prog_sk_skb_verdict)
PROG("sk_msg", prog_sk_msg)
PROG("sk_lookup", prog_sk_lookup)
PROG("lwt_in", prog_lwt_in)
PROG("lwt_xmit", prog_lwt_xmit)
PROG("perf_event", prog_perf_event)
PROG("syscall", prog_syscall)

char LICENSE[] SEC("license") = "GPL";
