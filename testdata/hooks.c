// hooks.c — the hooks a kernel may lack, for test/kernel/hooks.test.ts, each counting exactly what
// the test process (the pid in .rodata) does: kprobe and kretprobe on getppid(2), the same through
// a kprobe_multi link; and through BPF trampolines, on opening one file (its inode number set in
// .bss after load), fentry, fexit, fmod_ret on security_file_open (in every kernel's BTF, where
// the syscall wrappers are not) and the BPF LSM's file_open hook, fmod_ret or lsm refusing the
// open with EPERM when `deny` says so (1: fmod_ret, 2: lsm). The kernel structures are declared
// with only the fields read, relocated by CO-RE.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

const volatile __u32 target_pid;

__u64 target_ino;
__u32 deny;

__u64 kprobe_calls;
__u64 kretprobe_calls;
__s64 kretprobe_ret;
__u64 multi_calls;
__u64 fentry_calls;
__u64 fexit_calls;
__s64 fexit_ret;
__u64 fmod_ret_calls;
__u64 lsm_calls;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_pid;
}

SEC("kprobe/__x64_sys_getppid")
int BPF_KPROBE(kprobe_getppid)
{
	if (mine())
		__sync_fetch_and_add(&kprobe_calls, 1);
	return 0;
}

SEC("kretprobe/__x64_sys_getppid")
int BPF_KRETPROBE(kretprobe_getppid, long ret)
{
	if (mine()) {
		__sync_fetch_and_add(&kretprobe_calls, 1);
		kretprobe_ret = ret;
	}
	return 0;
}

SEC("kprobe.multi/__x64_sys_getppid")
int BPF_KPROBE(multi_getppid)
{
	if (mine())
		__sync_fetch_and_add(&multi_calls, 1);
	return 0;
}

static __always_inline int target_file(struct file *file)
{
	return mine() && target_ino != 0 && file->f_inode->i_ino == target_ino;
}

SEC("fentry/security_file_open")
int BPF_PROG(fentry_open, struct file *file)
{
	if (target_file(file))
		__sync_fetch_and_add(&fentry_calls, 1);
	return 0;
}

SEC("fexit/security_file_open")
int BPF_PROG(fexit_open, struct file *file, int ret)
{
	if (target_file(file)) {
		__sync_fetch_and_add(&fexit_calls, 1);
		fexit_ret = ret;
	}
	return 0;
}

SEC("fmod_ret/security_file_open")
int BPF_PROG(fmod_ret_open, struct file *file, int ret)
{
	if (!target_file(file))
		return 0;
	__sync_fetch_and_add(&fmod_ret_calls, 1);
	return (deny & 1) ? -EPERM : 0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_open, struct file *file, int ret)
{
	if (ret != 0 || !target_file(file))
		return ret;
	__sync_fetch_and_add(&lsm_calls, 1);
	return (deny & 2) ? -EPERM : 0;
}

char LICENSE[] SEC("license") = "GPL";
