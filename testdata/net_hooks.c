// net_hooks.c — networking hooks for test/link-net.test.ts, each counting what it sees and letting
// it through: sk_lookup (connections to `redirect_port` handed to the socket in `lookup_socks`),
// flow_dissector (IPv4 packets dissected, then left to the kernel's dissector), sk_msg and sk_skb
// stream parser/verdict on the sockets of `socks`, sockops (connections established, and the
// active side put into `socks`), a netfilter hook (every IPv4 packet at it), and netkit programs
// on both sides of a netkit pair (UDP datagrams to `netkit_port` each side sends, counted, and
// dropped while `netkit_drop` is set).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define NF_ACCEPT 1
#define IPPROTO_UDP 17
#define NETKIT_PASS 0
#define NETKIT_DROP 2

struct ethhdr {
	unsigned char h_dest[6];
	unsigned char h_source[6];
	__be16 h_proto;
} __attribute__((packed));

struct iphdr {
	__u8 ihl_version;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lookup_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

const volatile __u16 redirect_port = 0;

__u64 redirected;
__u64 dissected_ip;
__u64 msgs;
__u64 msg_bytes;
__u64 parsed;
__u64 verdicts;
__u64 verdict_bytes;
__u64 established;
__u16 netkit_port;
__u32 netkit_drop;
__u64 netkit_primary;
__u64 netkit_peer;

SEC("sk_lookup")
int redirect(struct bpf_sk_lookup *ctx)
{
	__u32 zero = 0;
	struct bpf_sock *sk;
	long err;

	if (ctx->local_port != redirect_port)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&lookup_socks, &zero);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (!err)
		__sync_fetch_and_add(&redirected, 1);
	return SK_PASS;
}

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	struct bpf_flow_keys *keys = skb->flow_keys;

	/* The kernel fills n_proto before running the program. */
	if (keys->n_proto == bpf_htons(ETH_P_IP))
		__sync_fetch_and_add(&dissected_ip, 1);
	return BPF_FLOW_DISSECTOR_CONTINUE;
}

SEC("sk_msg")
int msg_verdict(struct sk_msg_md *msg)
{
	__sync_fetch_and_add(&msgs, 1);
	__sync_fetch_and_add(&msg_bytes, msg->size);
	return SK_PASS;
}

SEC("sk_skb/stream_parser")
int stream_parser(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&parsed, 1);
	return skb->len;
}

SEC("sk_skb/stream_verdict")
int stream_verdict(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&verdicts, 1);
	__sync_fetch_and_add(&verdict_bytes, skb->len);
	return SK_PASS;
}

SEC("sockops")
int count_sockops(struct bpf_sock_ops *ops)
{
	__u32 key = 0;

	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		__sync_fetch_and_add(&established, 1);
		bpf_sock_map_update(ops, &socks, &key, BPF_ANY);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		__sync_fetch_and_add(&established, 1);
		break;
	}
	return 1;
}

__u64 nf_packets;

SEC("netfilter")
int nf_count(void *ctx)
{
	__sync_fetch_and_add(&nf_packets, 1);
	return NF_ACCEPT;
}

/* A UDP datagram to netkit_port (IPv4 without options, behind the Ethernet header netkit keeps). */
static __always_inline int netkit_datagram(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = (void *)ip + sizeof(*ip);

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	return ip->ihl_version == 0x45 && ip->protocol == IPPROTO_UDP && netkit_port != 0 &&
	       udp->dest == bpf_htons(netkit_port);
}

SEC("netkit/primary")
int netkit_primary_count(struct __sk_buff *skb)
{
	if (!netkit_datagram(skb))
		return NETKIT_PASS;
	__sync_fetch_and_add(&netkit_primary, 1);
	return netkit_drop ? NETKIT_DROP : NETKIT_PASS;
}

SEC("netkit/peer")
int netkit_peer_count(struct __sk_buff *skb)
{
	if (!netkit_datagram(skb))
		return NETKIT_PASS;
	__sync_fetch_and_add(&netkit_peer, 1);
	return netkit_drop ? NETKIT_DROP : NETKIT_PASS;
}

char LICENSE[] SEC("license") = "GPL";
