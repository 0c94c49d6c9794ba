// flow.c — the program from the talk: an XDP program counting packets and bytes per IPv4
// (saddr, daddr) pair in a pinned BTF hash map. Exercises: BTF-defined map with pinning, packet
// bounds checks, a bpf-to-bpf call to a noinline static function, map lookup/update helpers and
// atomic adds (BPF_ATOMIC), GPL license.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow_key {
	__u32 saddr;
	__u32 daddr;
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_map SEC(".maps");

static __attribute__((noinline)) int handle_ipv4(struct iphdr *ip, __u64 len)
{
	struct flow_key key = { .saddr = ip->saddr, .daddr = ip->daddr };
	struct flow_stats *stats;

	stats = bpf_map_lookup_elem(&flow_map, &key);
	if (!stats) {
		struct flow_stats init = { .packets = 1, .bytes = len };
		bpf_map_update_elem(&flow_map, &key, &init, BPF_NOEXIST);
		return 0;
	}
	__sync_fetch_and_add(&stats->packets, 1);
	__sync_fetch_and_add(&stats->bytes, len);
	return 0;
}

SEC("xdp")
int count_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	handle_ipv4(ip, data_end - data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
