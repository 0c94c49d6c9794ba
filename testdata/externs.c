// Externs as libbpf resolves them. `.kconfig`: CONFIG_* values from the running kernel's config in
// every kind libbpf knows (bool, tristate, char, integers of several sizes, a string), the virtual
// LINUX_* values, and weak options no kernel has (read as 0). `.ksyms`: a typeless symbol (its
// address from /proc/kallsyms), kfunc calls (BPF_PSEUDO_KFUNC_CALL), and a weak typed variable,
// typeless symbol and kfunc the kernel lacks, used only behind a check so the verifier removes
// them as dead code. A typed ksym that exists is in externs_typed.c.
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;
extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern char CONFIG_BPF_LSM __kconfig;
extern int CONFIG_HZ __kconfig;
extern unsigned long long CONFIG_NR_CPUS __kconfig;
extern unsigned short CONFIG_LOG_BUF_SHIFT __kconfig;
extern char CONFIG_LOCALVERSION[16] __kconfig;
extern int CONFIG_EBPF_TEST_NO_SUCH_OPTION __kconfig __weak;
extern enum libbpf_tristate CONFIG_EBPF_TEST_NO_SUCH_TRISTATE __kconfig __weak;

struct task_struct {
	int pid;
};

extern const int ebpf_test_no_such_var __ksym __weak;
extern const void bpf_prog_put __ksym;
extern const void ebpf_test_no_such_sym __ksym __weak;

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern void ebpf_test_no_such_kfunc(void) __ksym __weak;

__u64 seen[15];

SEC("raw_tp/sys_enter")
int read_kconfig(void *ctx)
{
	seen[0] = LINUX_KERNEL_VERSION;
	seen[1] = LINUX_HAS_BPF_COOKIE;
	seen[2] = LINUX_HAS_SYSCALL_WRAPPER;
	seen[3] = CONFIG_BPF_SYSCALL;
	seen[4] = CONFIG_BPF_JIT;
	seen[5] = CONFIG_BPF_LSM;
	seen[6] = CONFIG_HZ;
	seen[7] = CONFIG_NR_CPUS;
	seen[8] = CONFIG_LOG_BUF_SHIFT;
	seen[9] = CONFIG_LOCALVERSION[1];
	seen[10] = CONFIG_EBPF_TEST_NO_SUCH_OPTION;
	seen[11] = CONFIG_EBPF_TEST_NO_SUCH_TRISTATE;
	if (&ebpf_test_no_such_var)
		seen[12] = *(const int *)bpf_this_cpu_ptr(&ebpf_test_no_such_var);
	seen[13] = (__u64)&bpf_prog_put;
	seen[14] = (__u64)&ebpf_test_no_such_sym;
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(on_newtask, struct task_struct *task, __u64 clone_flags)
{
	struct task_struct *t = bpf_task_acquire(task);

	if (t)
		bpf_task_release(t);
	if (&ebpf_test_no_such_kfunc)
		ebpf_test_no_such_kfunc();
	return 0;
}

SEC("xdp")
int kern_ctx(struct xdp_md *ctx)
{
	void *kctx = bpf_cast_to_kern_ctx(ctx);

	return kctx ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
