// cgroup.c — cgroup programs for the attach tests (test/link-cgroup.test.ts), each counting what
// the processes of the cgroup it is attached to do: inet sockets created, IPv4 connects to
// 127.0.0.1 (with the port last seen), and packets sent and received. All let the action through.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2

__u64 sockets;
__u64 connects;
__u32 last_port;
__u64 egress_packets;
__u64 ingress_packets;

SEC("cgroup/sock_create")
int count_sockets(struct bpf_sock *sk)
{
	if (sk->family == AF_INET)
		__sync_fetch_and_add(&sockets, 1);
	return 1;
}

SEC("cgroup/connect4")
int count_connects(struct bpf_sock_addr *ctx)
{
	if (ctx->user_ip4 == bpf_htonl(0x7f000001)) {
		__sync_fetch_and_add(&connects, 1);
		last_port = bpf_ntohs(ctx->user_port);
	}
	return 1;
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&egress_packets, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&ingress_packets, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
