// ct_kfunc.c — a kfunc that lives in a module: nf_conntrack's bpf_xdp_ct_lookup (Linux 5.18), for
// test/kernel/modules.test.ts. In the kernel matrix's VMs (Debian's 6.1 and 6.12, nf_conntrack a
// module with BTF, loaded by the guest) the call is relocated against /sys/kernel/btf/nf_conntrack:
// imm the function's id in that BTF, off its index in fd_array. Where conntrack is built in (this
// host) it is an id in vmlinux's BTF. The lookup runs under BPF_PROG_TEST_RUN: a tuple no
// connection has comes back NULL with opts.error -ENOENT, an l4proto that is neither TCP nor UDP
// with -EPROTO — each answered by the module's own code.
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Only ever behind a pointer; a complete type so that its BTF kind is STRUCT, as the kernel's.
struct nf_conn {
	int unused;
};

struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple,
					 __u32 tuple__sz, struct bpf_ct_opts *opts,
					 __u32 opts__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

__u8 l4proto = IPPROTO_TCP;

__u64 lookups;
__u64 found;
__s32 last_error = 1;

SEC("xdp")
int ct_lookup(struct xdp_md *ctx)
{
	struct bpf_sock_tuple tup = {};
	// BPF_F_CURRENT_NETNS: the namespace of the device (of the test run).
	struct bpf_ct_opts opts = { .netns_id = -1, .l4proto = l4proto };
	struct nf_conn *ct;

	tup.ipv4.saddr = bpf_htonl(0x0a0b0c0d);
	tup.ipv4.daddr = bpf_htonl(0x0a0b0c0e);
	tup.ipv4.sport = bpf_htons(40000);
	tup.ipv4.dport = bpf_htons(9);
	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, sizeof(opts));
	__sync_fetch_and_add(&lookups, 1);
	if (ct) {
		__sync_fetch_and_add(&found, 1);
		bpf_ct_release(ct);
	}
	last_error = opts.error;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
