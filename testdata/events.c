// events.c — event streams for the ring buffer and perf buffer readers: XDP programs (run
// deterministically with BPF_PROG_TEST_RUN, `repeat` times) that send a struct event through a
// ring buffer (bpf_ringbuf_reserve/submit, reserve/discard, bpf_ringbuf_output, records of 1..64
// bytes) and through a perf event array (bpf_perf_event_output). The packet carries the pid,
// flags and comm; the sequence number comes from a shared counter, drops are counted.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 pid;
	__u64 seq;
	char comm[16];
};

/* Makes clang emit struct event into BTF, so user space can decode records by its name. */
struct event *unused_event __attribute__((unused));

/* What the test puts in the packet. */
struct command {
	__u32 pid;
	__u32 flags;
	char comm[16];
};

#define DISCARD_ODD 1 /* ring_reserve: discard records with an odd seq */

enum { STAT_SEQ, STAT_RING_DROPS, STAT_PERF_DROPS, STAT_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * The counter's value before this run, then one added. Not one fetching atomic: those (BPF_FETCH)
 * are Linux 5.12, and 5.10 refuses a program holding one anywhere ("BPF_STX uses reserved
 * fields"). The tests run one producer of a counter at a time (test runs, one bpftool), so the
 * read and the add see no other writer; the add itself stays atomic.
 */
static __always_inline void count(__u32 which, __u64 *out)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v) {
		*out = *v;
		__sync_fetch_and_add(v, 1);
	}
}

static __always_inline struct command *command(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct command *cmd = data;

	if ((void *)(cmd + 1) > data_end)
		return 0;
	return cmd;
}

static __always_inline void fill(struct event *e, const struct command *cmd, __u64 seq)
{
	e->pid = cmd->pid;
	e->seq = seq;
	__builtin_memcpy(e->comm, cmd->comm, sizeof(e->comm));
}

SEC("xdp")
int ring_reserve(struct xdp_md *ctx)
{
	struct command *cmd = command(ctx);
	struct event *e;
	__u64 seq = 0, ignored;

	if (!cmd)
		return XDP_ABORTED;
	count(STAT_SEQ, &seq);
	e = bpf_ringbuf_reserve(&ring, sizeof(*e), 0);
	if (!e) {
		count(STAT_RING_DROPS, &ignored);
		return XDP_DROP;
	}
	fill(e, cmd, seq);
	if ((cmd->flags & DISCARD_ODD) && (seq & 1))
		bpf_ringbuf_discard(e, 0);
	else
		bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

SEC("xdp")
int ring_output(struct xdp_md *ctx)
{
	struct command *cmd = command(ctx);
	struct event e = {};
	__u64 seq = 0, ignored;

	if (!cmd)
		return XDP_ABORTED;
	count(STAT_SEQ, &seq);
	fill(&e, cmd, seq);
	if (bpf_ringbuf_output(&ring, &e, sizeof(e), 0)) {
		count(STAT_RING_DROPS, &ignored);
		return XDP_DROP;
	}
	return XDP_PASS;
}

/* Records of 1..64 bytes (length = seq % 64 + 1), byte i = (seq + i) & 0xff. */
SEC("xdp")
int ring_varlen(struct xdp_md *ctx)
{
	struct command *cmd = command(ctx);
	__u8 buf[64];
	__u64 seq = 0, ignored;
	__u32 len;
	int i;

	if (!cmd)
		return XDP_ABORTED;
	count(STAT_SEQ, &seq);
#pragma unroll
	for (i = 0; i < 64; i++)
		buf[i] = seq + i;
	len = (seq & 63) + 1;
	if (bpf_ringbuf_output(&ring, buf, len, 0)) {
		count(STAT_RING_DROPS, &ignored);
		return XDP_DROP;
	}
	return XDP_PASS;
}

SEC("xdp")
int perf_output(struct xdp_md *ctx)
{
	struct command *cmd = command(ctx);
	struct event e = {};
	__u64 seq = 0, ignored;

	if (!cmd)
		return XDP_ABORTED;
	count(STAT_SEQ, &seq);
	fill(&e, cmd, seq);
	if (bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &e, sizeof(e))) {
		count(STAT_PERF_DROPS, &ignored);
		return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
