// progtypes_trampoline.c — programs the kernel attaches through a BPF trampoline, each naming a
// target function that exists in kernel BTF (attach_btf_id): fentry, fexit, fmod_ret (on an
// error-injectable test function), lsm and sleepable lsm.s (BPF LSM hook), fentry.s. Kept apart
// from progtypes.c because some kernels refuse these (see README.md).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PROG(sec, name)           \
	SEC(sec) int name(void *ctx) \
	{                            \
		return 0;            \
	}

PROG("fentry/do_unlinkat", prog_fentry)
PROG("fexit/do_unlinkat", prog_fexit)
PROG("fmod_ret/bpf_modify_return_test", prog_fmod_ret)
PROG("lsm/file_open", prog_lsm)
PROG("lsm.s/file_open", prog_lsm_sleepable)
PROG("flow_dissector", prog_flow_dissector)
PROG("fentry.s/do_unlinkat", prog_fentry_sleepable)

char LICENSE[] SEC("license") = "GPL";
