// A typed `__ksym`: a per-CPU kernel variable reached through BPF_PSEUDO_BTF_ID with its vmlinux
// BTF id. The kernel then looks the variable's address up by name in kallsyms, which only holds
// data symbols with CONFIG_KALLSYMS_ALL; without it the load fails in the kernel, for libbpf too.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern const int bpf_prog_active __ksym;

__u64 active;

SEC("raw_tp/sys_enter")
int read_percpu(void *ctx)
{
	active = *(const int *)bpf_this_cpu_ptr(&bpf_prog_active);
	return 0;
}

char _license[] SEC("license") = "GPL";
