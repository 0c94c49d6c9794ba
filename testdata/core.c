// core.c — CO-RE relocations against the running kernel's BTF, with small local
// preserve_access_index definitions instead of vmlinux.h (so the object stays small and every
// offset must really be relocated). Covers: field offsets through BPF_CORE_READ chains
// (task->pid, tgid, real_parent->tgid, comm; sk->__sk_common.skc_cookie), field existence and
// size, probed bitfield reads (struct sock's sk_no_check_tx, sk_buff's pkt_type which the kernel
// nests in an anonymous struct_group), enum value existence and value (enum and enum64, the
// latter through ld_imm64), type existence, size and match, local and kernel type ids
// (ld_imm64), and a flavour (task_struct___old) whose missing field is read only behind
// bpf_core_field_exists, so the poisoned instruction is dead code and the object loads.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __core __attribute__((preserve_access_index))

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
} __core;

/* Kernels before 5.14 had `long state`; this one has `unsigned int __state`. */
struct task_struct___old {
	long state;
} __core;

struct task_struct___new {
	unsigned int __state;
} __core;

struct sock_common {
	struct {
		__s64 counter;
	} skc_cookie;
} __core;

struct sock {
	struct sock_common __sk_common;
	__u8 sk_no_check_tx : 1;
	__u16 sk_protocol;
} __core;

struct sk_buff {
	__u8 pkt_type : 3;
	__u32 len;
} __core;

/* Something no kernel has: its checks must come out false, not fail the load. */
struct tdtest_missing {
	int nothing;
} __core;

enum perf_callchain_context {
	PERF_CONTEXT_HV = 0xffffffffffffffe0ULL,
	PERF_CONTEXT_KERNEL = 0xffffffffffffff80ULL,
	PERF_CONTEXT_USER = 0xfffffffffffffe00ULL,
};

enum tdtest_missing_enum { TDTEST_NOT_IN_KERNEL = 1 };

struct task_info {
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 state;
	__u32 comm_size;
	__u32 has_old_state;
	char comm[16];
};

struct sock_info {
	__u64 cookie;
	__u64 no_check_tx;
	__u64 protocol;
	__u32 has_cookie;
	__u32 cookie_size;
};

struct kernel_facts {
	__u64 ringbuf_type;
	__u64 perf_context_kernel;
	__u32 has_ringbuf_enum;
	__u32 has_missing_enum;
	__u32 has_task_struct;
	__u32 has_missing_type;
	__u32 task_struct_size;
	__u32 task_struct_matches;
	__u32 map_type_matches;
	__u64 local_type_id;
	__u64 kernel_type_id;
};

struct task_info task_info;
struct sock_info sock_info;
struct kernel_facts facts;

SEC("raw_tp/sys_enter")
int core_task(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();

	task_info.pid = BPF_CORE_READ(task, pid);
	task_info.tgid = BPF_CORE_READ(task, tgid);
	task_info.ppid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&task_info.comm, task, comm);
	task_info.comm_size = bpf_core_field_size(task->comm);

	if (bpf_core_field_exists(((struct task_struct___old *)task)->state)) {
		task_info.has_old_state = 1;
		task_info.state = BPF_CORE_READ((struct task_struct___old *)task, state);
	} else {
		task_info.state = BPF_CORE_READ((struct task_struct___new *)task, __state);
	}
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int core_sock(__u64 *ctx)
{
	struct sock *sk = (void *)ctx[0];

	sock_info.has_cookie = bpf_core_field_exists(sk->__sk_common.skc_cookie);
	sock_info.cookie_size = bpf_core_field_size(sk->__sk_common.skc_cookie);
	sock_info.cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	sock_info.no_check_tx = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_no_check_tx);
	sock_info.protocol = BPF_CORE_READ(sk, sk_protocol);
	return 0;
}

SEC("tp_btf/kfree_skb")
int core_skb(__u64 *ctx)
{
	struct sk_buff *skb = (void *)ctx[0];

	return BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type) + BPF_CORE_READ(skb, len) > 0;
}

SEC("raw_tp/sys_exit")
int core_facts(void *ctx)
{
	facts.has_ringbuf_enum = bpf_core_enum_value_exists(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	facts.ringbuf_type = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	facts.perf_context_kernel = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_KERNEL);
	facts.has_missing_enum = bpf_core_enum_value_exists(enum tdtest_missing_enum, TDTEST_NOT_IN_KERNEL);
	facts.has_task_struct = bpf_core_type_exists(struct task_struct);
	facts.has_missing_type = bpf_core_type_exists(struct tdtest_missing);
	facts.task_struct_size = bpf_core_type_size(struct task_struct);
	facts.task_struct_matches = bpf_core_type_matches(struct task_struct);
	facts.map_type_matches = bpf_core_type_matches(enum bpf_map_type);
	facts.local_type_id = bpf_core_type_id_local(struct task_struct);
	facts.kernel_type_id = bpf_core_type_id_kernel(struct task_struct);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
