// core_many.c — an object with many CO-RE relocations, for the core-relocate benchmark and the
// CO-RE oracle tests: 200 bpf_core_read()s of integer and pointer fields of five kernel structs
// (declared locally with preserve_access_index, so every offset is relocated), a subprogram with
// 14 more that two programs call (its relocations count in each), and direct field loads in a
// tp_btf program (relocated load offsets). Field lists were taken from Linux 6.18's BTF.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define __core __attribute__((preserve_access_index))
/* One relocated read into a shared stack slot; the empty asm on both the pointer and the sum keeps
 * clang from computing every field address (or partial sum) up front and spilling them all: the
 * kernel limits a program and the subprograms it calls to 512 bytes of stack together. */
#define RD(p, f)                                            \
	do {                                                \
		tmp = 0;                                    \
		asm volatile("" : "+r"(p), "+r"(s));         \
		bpf_core_read(&tmp, sizeof((p)->f), &(p)->f); \
		s += tmp;                                   \
	} while (0)

struct task_struct {
	__u32 __state;
	__u32 saved_state;
	void *stack;
	__u32 flags;
	__u32 ptrace;
	__u32 on_cpu;
	__u32 wakee_flips;
	__u64 wakee_flip_decay_ts;
	void *last_wakee;
	__u32 recent_used_cpu;
	__u32 wake_cpu;
	__u32 on_rq;
	__u32 prio;
	__u32 static_prio;
	__u32 normal_prio;
	__u32 rt_priority;
	void *dl_server;
	void *sched_class;
	void *sched_task_group;
	__u8 throttled;
	__u32 btrace_seq;
	__u32 policy;
	__u64 max_allowed_capacity;
	__u32 nr_cpus_allowed;
	void *cpus_ptr;
	void *user_cpus_ptr;
	void *migration_pending;
	__u16 migration_disabled;
	__u16 migration_flags;
	__u32 rcu_read_lock_nesting;
	void *rcu_blocked_node;
	__u64 rcu_tasks_nvcsw;
	__u8 rcu_tasks_holdout;
	__u8 rcu_tasks_idx;
	__u32 rcu_tasks_idle_cpu;
	__u32 rcu_tasks_exit_cpu;
	__u32 trc_reader_nesting;
	__u32 trc_ipi_to_cpu;
	__u32 trc_blkd_cpu;
	void *mm;
	void *active_mm;
	void *faults_disabled_mapping;
	__u32 exit_state;
	__u32 exit_code;
	__u32 exit_signal;
	__u32 pdeath_signal;
	__u64 jobctl;
	__u32 personality;
	__u64 atomic_flags;
	__u32 pid;
	__u32 tgid;
	__u64 stack_canary;
	void *real_parent;
	void *parent;
	void *group_leader;
	void *thread_pid;
	void *vfork_done;
	void *set_child_tid;
	void *clear_child_tid;
	void *worker_private;
} __core;

struct sock {
	__u32 sk_peek_off;
	void *sk_rx_dst;
	__u32 sk_rx_dst_ifindex;
	__u32 sk_rx_dst_cookie;
	__u32 sk_ll_usec;
	__u32 sk_napi_id;
	__u16 sk_busy_poll_budget;
	__u8 sk_prefer_busy_poll;
	__u8 sk_userlocks;
	__u32 sk_rcvbuf;
	void *sk_filter;
	void *sk_data_ready;
	__u64 sk_rcvtimeo;
	__u32 sk_rcvlowat;
	__u32 sk_err;
	void *sk_socket;
	void *sk_memcg;
	__u32 sk_reserved_mem;
	__u32 sk_forward_alloc;
	__u32 sk_tsflags;
	__u32 sk_write_pending;
	__u32 sk_err_soft;
	__u32 sk_wmem_queued;
	__u64 sk_tsq_flags;
	__u32 sk_dst_pending_confirm;
	__u32 sk_pacing_status;
	__u64 sk_pacing_rate;
	__u64 sk_max_pacing_rate;
	__u64 sk_sndtimeo;
	__u32 sk_priority;
	__u32 sk_mark;
	__u16 sk_protocol;
	__u16 sk_type;
	void *sk_dst_cache;
	__u64 sk_route_caps;
	__u16 sk_gso_type;
	__u16 sk_gso_max_segs;
	__u32 sk_gso_max_size;
	__u32 sk_allocation;
	__u32 sk_txhash;
	__u32 sk_sndbuf;
	__u8 sk_pacing_shift;
	__u8 sk_use_task_frag;
	__u8 sk_shutdown;
	__u64 sk_lingertime;
	void *sk_prot_creator;
	__u32 sk_ack_backlog;
	__u32 sk_max_ack_backlog;
	__u64 sk_ino;
	__u32 sk_bind_phc;
} __core;

struct net_device {
	void *netdev_ops;
	void *header_ops;
	void *_tx;
	__u64 gso_partial_features;
	__u32 real_num_tx_queues;
	__u32 gso_max_size;
	__u32 gso_ipv4_max_size;
	__u16 gso_max_segs;
	__u16 num_tc;
	__u32 mtu;
	__u16 needed_headroom;
	void *nf_hooks_egress;
	void *tcx_egress;
	__u64 state;
	__u32 flags;
	__u16 hard_header_len;
	__u64 features;
	void *ip6_ptr;
	void *xdp_prog;
	__u32 ifindex;
	__u32 real_num_rx_queues;
	void *_rx;
	__u32 gro_max_size;
	__u32 gro_ipv4_max_size;
	void *rx_handler;
	void *rx_handler_data;
	void *tcx_ingress;
	void *name_node;
	void *ifalias;
	__u64 mem_end;
	__u64 mem_start;
	__u64 base_addr;
	__u32 xdp_features;
	void *xdp_metadata_ops;
	void *xsk_tx_metadata_ops;
	__u16 gflags;
	__u16 needed_tailroom;
	__u64 hw_features;
	__u64 wanted_features;
	__u64 vlan_features;
	__u64 hw_enc_features;
	__u64 mpls_features;
	__u64 mangleid_features;
	__u32 min_mtu;
	__u32 max_mtu;
	__u16 type;
	__u8 min_header_len;
	__u8 name_assign_type;
	__u32 group;
	void *core_stats;
	void *ethtool_ops;
	void *l3mdev_ops;
	void *ndisc_ops;
	__u32 operstate;
	__u8 link_mode;
	__u8 if_port;
	__u8 dma;
	__u8 addr_assign_type;
	__u8 addr_len;
	__u8 upper_level;
} __core;

struct inode {
	__u16 i_mode;
	__u16 i_opflags;
	__u32 i_flags;
	void *i_acl;
	void *i_default_acl;
	void *i_op;
	void *i_sb;
	void *i_mapping;
	void *i_security;
	__u64 i_ino;
	__u32 i_rdev;
	__u64 i_size;
	__u64 i_atime_sec;
	__u64 i_mtime_sec;
	__u64 i_ctime_sec;
	__u32 i_atime_nsec;
	__u32 i_mtime_nsec;
	__u32 i_ctime_nsec;
	__u32 i_generation;
	__u16 i_bytes;
	__u8 i_blkbits;
	__u64 i_blocks;
	__u64 dirtied_when;
	__u64 dirtied_time_when;
	void *i_wb;
	__u32 i_wb_frn_winner;
	__u16 i_wb_frn_avg_time;
	__u16 i_wb_frn_history;
	void *i_flctx;
	__u32 i_fsnotify_mask;
} __core;

struct file {
	__u32 f_mode;
	void *f_op;
	void *f_mapping;
	void *private_data;
	void *f_inode;
	__u32 f_flags;
	__u32 f_iocb_flags;
	void *f_cred;
	void *f_owner;
	__u64 f_pos;
	void *f_security;
	__u32 f_wb_err;
	__u32 f_sb_err;
	void *f_ep;
} __core;

__u64 sum;

static __noinline __u64 read_file(struct file *f)
{
	__u64 s = 0, tmp;

	RD(f, f_mode);
	RD(f, f_op);
	RD(f, f_mapping);
	RD(f, private_data);
	RD(f, f_inode);
	RD(f, f_flags);
	RD(f, f_iocb_flags);
	RD(f, f_cred);
	RD(f, f_owner);
	RD(f, f_pos);
	RD(f, f_security);
	RD(f, f_wb_err);
	RD(f, f_sb_err);
	RD(f, f_ep);
	return s;
}

SEC("raw_tp/sys_enter")
int many_task(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	__u64 s = 0, tmp;

	RD(t, __state);
	RD(t, saved_state);
	RD(t, stack);
	RD(t, flags);
	RD(t, ptrace);
	RD(t, on_cpu);
	RD(t, wakee_flips);
	RD(t, wakee_flip_decay_ts);
	RD(t, last_wakee);
	RD(t, recent_used_cpu);
	RD(t, wake_cpu);
	RD(t, on_rq);
	RD(t, prio);
	RD(t, static_prio);
	RD(t, normal_prio);
	RD(t, rt_priority);
	RD(t, dl_server);
	RD(t, sched_class);
	RD(t, sched_task_group);
	RD(t, throttled);
	RD(t, btrace_seq);
	RD(t, policy);
	RD(t, max_allowed_capacity);
	RD(t, nr_cpus_allowed);
	RD(t, cpus_ptr);
	RD(t, user_cpus_ptr);
	RD(t, migration_pending);
	RD(t, migration_disabled);
	RD(t, migration_flags);
	RD(t, rcu_read_lock_nesting);
	RD(t, rcu_blocked_node);
	RD(t, rcu_tasks_nvcsw);
	RD(t, rcu_tasks_holdout);
	RD(t, rcu_tasks_idx);
	RD(t, rcu_tasks_idle_cpu);
	RD(t, rcu_tasks_exit_cpu);
	RD(t, trc_reader_nesting);
	RD(t, trc_ipi_to_cpu);
	RD(t, trc_blkd_cpu);
	RD(t, mm);
	RD(t, active_mm);
	RD(t, faults_disabled_mapping);
	RD(t, exit_state);
	RD(t, exit_code);
	RD(t, exit_signal);
	RD(t, pdeath_signal);
	RD(t, jobctl);
	RD(t, personality);
	RD(t, atomic_flags);
	RD(t, pid);
	RD(t, tgid);
	RD(t, stack_canary);
	RD(t, real_parent);
	RD(t, parent);
	RD(t, group_leader);
	RD(t, thread_pid);
	RD(t, vfork_done);
	RD(t, set_child_tid);
	RD(t, clear_child_tid);
	RD(t, worker_private);
	RD(t, stack);
	s += read_file((void *)s);
	sum += s;
	return 0;
}

SEC("raw_tp/sys_exit")
int many_sock(void *ctx)
{
	struct sock *sk = ctx;
	__u64 s = 0, tmp;

	RD(sk, sk_peek_off);
	RD(sk, sk_rx_dst);
	RD(sk, sk_rx_dst_ifindex);
	RD(sk, sk_rx_dst_cookie);
	RD(sk, sk_ll_usec);
	RD(sk, sk_napi_id);
	RD(sk, sk_busy_poll_budget);
	RD(sk, sk_prefer_busy_poll);
	RD(sk, sk_userlocks);
	RD(sk, sk_rcvbuf);
	RD(sk, sk_filter);
	RD(sk, sk_data_ready);
	RD(sk, sk_rcvtimeo);
	RD(sk, sk_rcvlowat);
	RD(sk, sk_err);
	RD(sk, sk_socket);
	RD(sk, sk_memcg);
	RD(sk, sk_reserved_mem);
	RD(sk, sk_forward_alloc);
	RD(sk, sk_tsflags);
	RD(sk, sk_write_pending);
	RD(sk, sk_err_soft);
	RD(sk, sk_wmem_queued);
	RD(sk, sk_tsq_flags);
	RD(sk, sk_dst_pending_confirm);
	RD(sk, sk_pacing_status);
	RD(sk, sk_pacing_rate);
	RD(sk, sk_max_pacing_rate);
	RD(sk, sk_sndtimeo);
	RD(sk, sk_priority);
	RD(sk, sk_mark);
	RD(sk, sk_protocol);
	RD(sk, sk_type);
	RD(sk, sk_dst_cache);
	RD(sk, sk_route_caps);
	RD(sk, sk_gso_type);
	RD(sk, sk_gso_max_segs);
	RD(sk, sk_gso_max_size);
	RD(sk, sk_allocation);
	RD(sk, sk_txhash);
	RD(sk, sk_sndbuf);
	RD(sk, sk_pacing_shift);
	RD(sk, sk_use_task_frag);
	RD(sk, sk_shutdown);
	RD(sk, sk_lingertime);
	RD(sk, sk_prot_creator);
	RD(sk, sk_ack_backlog);
	RD(sk, sk_max_ack_backlog);
	RD(sk, sk_ino);
	RD(sk, sk_bind_phc);
	s += read_file(ctx);
	sum += s;
	return 0;
}

SEC("raw_tp/sched_switch")
int many_dev(void *ctx)
{
	struct net_device *dev = ctx;
	__u64 s = 0, tmp;

	RD(dev, netdev_ops);
	RD(dev, header_ops);
	RD(dev, _tx);
	RD(dev, gso_partial_features);
	RD(dev, real_num_tx_queues);
	RD(dev, gso_max_size);
	RD(dev, gso_ipv4_max_size);
	RD(dev, gso_max_segs);
	RD(dev, num_tc);
	RD(dev, mtu);
	RD(dev, needed_headroom);
	RD(dev, nf_hooks_egress);
	RD(dev, tcx_egress);
	RD(dev, state);
	RD(dev, flags);
	RD(dev, hard_header_len);
	RD(dev, features);
	RD(dev, ip6_ptr);
	RD(dev, xdp_prog);
	RD(dev, ifindex);
	RD(dev, real_num_rx_queues);
	RD(dev, _rx);
	RD(dev, gro_max_size);
	RD(dev, gro_ipv4_max_size);
	RD(dev, rx_handler);
	RD(dev, rx_handler_data);
	RD(dev, tcx_ingress);
	RD(dev, name_node);
	RD(dev, ifalias);
	RD(dev, mem_end);
	RD(dev, mem_start);
	RD(dev, base_addr);
	RD(dev, xdp_features);
	RD(dev, xdp_metadata_ops);
	RD(dev, xsk_tx_metadata_ops);
	RD(dev, gflags);
	RD(dev, needed_tailroom);
	RD(dev, hw_features);
	RD(dev, wanted_features);
	RD(dev, vlan_features);
	RD(dev, hw_enc_features);
	RD(dev, mpls_features);
	RD(dev, mangleid_features);
	RD(dev, min_mtu);
	RD(dev, max_mtu);
	RD(dev, type);
	RD(dev, min_header_len);
	RD(dev, name_assign_type);
	RD(dev, group);
	RD(dev, core_stats);
	RD(dev, ethtool_ops);
	RD(dev, l3mdev_ops);
	RD(dev, ndisc_ops);
	RD(dev, operstate);
	RD(dev, link_mode);
	RD(dev, if_port);
	RD(dev, dma);
	RD(dev, addr_assign_type);
	RD(dev, addr_len);
	RD(dev, upper_level);
	s += read_file(ctx);
	sum += s;
	return 0;
}

SEC("raw_tp/sched_wakeup")
int many_inode(void *ctx)
{
	struct inode *ino = ctx;
	__u64 s = 0, tmp;

	RD(ino, i_mode);
	RD(ino, i_opflags);
	RD(ino, i_flags);
	RD(ino, i_acl);
	RD(ino, i_default_acl);
	RD(ino, i_op);
	RD(ino, i_sb);
	RD(ino, i_mapping);
	RD(ino, i_security);
	RD(ino, i_ino);
	RD(ino, i_rdev);
	RD(ino, i_size);
	RD(ino, i_atime_sec);
	RD(ino, i_mtime_sec);
	RD(ino, i_ctime_sec);
	RD(ino, i_atime_nsec);
	RD(ino, i_mtime_nsec);
	RD(ino, i_ctime_nsec);
	RD(ino, i_generation);
	RD(ino, i_bytes);
	RD(ino, i_blkbits);
	RD(ino, i_blocks);
	RD(ino, dirtied_when);
	RD(ino, dirtied_time_when);
	RD(ino, i_wb);
	RD(ino, i_wb_frn_winner);
	RD(ino, i_wb_frn_avg_time);
	RD(ino, i_wb_frn_history);
	RD(ino, i_flctx);
	RD(ino, i_fsnotify_mask);
	s += read_file(ctx);
	sum += s;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(many_direct, __u64 preempt, struct task_struct *prev, struct task_struct *next)
{
	sum += prev->prio + prev->static_prio + prev->normal_prio + next->flags + next->policy +
	       prev->nr_cpus_allowed + prev->wakee_flip_decay_ts;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
