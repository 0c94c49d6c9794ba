// progtypes_new.c — section names newer than libbpf 1.1 (so bpftool 7.1 cannot guess their
// program type): tcx/ingress and tcx/egress (SCHED_CLS with BPF_TCX_*, libbpf 1.3), netfilter
// (libbpf 1.2), uprobe.multi (libbpf 1.3), kprobe.session (libbpf 1.5). The kernel here supports
// all of them; a loader with a current section table loads this object.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PROG(sec, name)           \
	SEC(sec) int name(void *ctx) \
	{                            \
		return 0;            \
	}

PROG("tcx/ingress", prog_tcx_ingress)
PROG("tcx/egress", prog_tcx_egress)
PROG("netfilter", prog_netfilter)
PROG("uprobe.multi", prog_uprobe_multi)
PROG("kprobe.session/do_unlinkat", prog_kprobe_session)

char LICENSE[] SEC("license") = "GPL";
