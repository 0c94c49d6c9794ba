// rehash.c — a tc classifier that has the kernel recompute each packet's hash
// (bpf_get_hash_recalc), which runs the namespace's flow dissector once per packet: the trigger
// test/link-net.test.ts puts on a veth (through iproute2's tc, which loads it with libbpf).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int rehash(struct __sk_buff *skb)
{
	bpf_get_hash_recalc(skb);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
