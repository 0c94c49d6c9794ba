// event_load.c — event streams under load, for bench/events.ts and the stress test: one
// BPF_PROG_TEST_RUN of a raw tracepoint program (which may be run on a chosen CPU) writes
// `count` records of 16, 128 or 1024 bytes to a ring buffer (bpf_ringbuf_reserve/submit) or a
// perf event array (bpf_perf_event_output), each numbered in its producer's own sequence, so a
// reader can tell a lost or doubled record. Records the helpers refused are counted per producer.
//
// The run's context (the raw tracepoint's u64 arguments, ctx_in) is struct load_args.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct load_args {
	__u64 count;	 /* records to write */
	__u64 size;	 /* 16, 128 or 1024; 0 cycles through the three by sequence number */
	__u64 producer;	 /* 0..MAX_PRODUCERS-1 */
	__u64 first_seq; /* sequence number of the first record */
};

/*
 * The first 16 bytes of each record; records of 32 bytes or more end in a u64 check word,
 * seq ^ CHECK_XOR, so a record read before it was complete, or overwritten, shows.
 */
struct record {
	__u32 producer;
	__u32 size;
	__u64 seq;
};

struct record *unused_record __attribute__((unused));

#define CHECK_XOR 0x5a5aa5a5c3c33c3cULL
#define MAX_PRODUCERS 64
#define MAX_RECORD 1024

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

/* Records a helper refused (ring full, no perf event on this CPU), by producer. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PRODUCERS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Where a perf record is assembled before bpf_perf_event_output copies it. */
struct scratch {
	__u8 bytes[MAX_RECORD];
};

/*
 * One scratch record per nesting level: a run on a CPU (BPF_F_TEST_RUN_ON_CPU from a thread on
 * that CPU) can be interrupted by another run sent to the same CPU by IPI, which would otherwise
 * overwrite the record the outer run is about to output (a doubled record, another lost).
 */
#define MAX_NESTING 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_NESTING);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} nesting SEC(".maps");

struct loop_ctx {
	void *ctx;
	__u64 size;
	__u64 first_seq;
	__u32 producer;
	__u32 dropped;
	__u32 slot; /* this run's scratch record: its nesting level on this CPU */
};

static __always_inline __u32 size_of(struct loop_ctx *l, __u64 seq)
{
	if (l->size == 16 || l->size == 128 || l->size == 1024)
		return l->size;
	switch (seq % 3) {
	case 0:
		return 16;
	case 1:
		return 128;
	default:
		return 1024;
	}
}

static __always_inline void stamp(void *p, __u32 size, __u32 producer, __u64 seq)
{
	struct record *r = p;

	r->producer = producer;
	r->size = size;
	r->seq = seq;
	if (size >= 32)
		*(__u64 *)((__u8 *)p + size - 8) = seq ^ CHECK_XOR;
}

#define RESERVE(SIZE)                                                                              \
	do {                                                                                       \
		void *p = bpf_ringbuf_reserve(&ring, SIZE, 0);                                     \
		if (!p)                                                                            \
			return l->dropped++, 0;                                                    \
		stamp(p, SIZE, l->producer, seq);                                                  \
		bpf_ringbuf_submit(p, 0);                                                          \
	} while (0)

static long ring_one(__u64 i, struct loop_ctx *l)
{
	__u64 seq = l->first_seq + i;

	switch (size_of(l, seq)) {
	case 16:
		RESERVE(16);
		break;
	case 128:
		RESERVE(128);
		break;
	default:
		RESERVE(1024);
		break;
	}
	return 0;
}

static long perf_one(__u64 i, struct loop_ctx *l)
{
	__u64 seq = l->first_seq + i;
	__u32 size = size_of(l, seq);
	struct scratch *s = bpf_map_lookup_elem(&scratch, &l->slot);
	long err;

	if (!s)
		return 1;
	if (size == 16) {
		stamp(s->bytes, 16, l->producer, seq);
		err = bpf_perf_event_output(l->ctx, &perf, BPF_F_CURRENT_CPU, s->bytes, 16);
	} else if (size == 128) {
		stamp(s->bytes, 128, l->producer, seq);
		err = bpf_perf_event_output(l->ctx, &perf, BPF_F_CURRENT_CPU, s->bytes, 128);
	} else {
		stamp(s->bytes, 1024, l->producer, seq);
		err = bpf_perf_event_output(l->ctx, &perf, BPF_F_CURRENT_CPU, s->bytes, 1024);
	}
	if (err)
		l->dropped++;
	return 0;
}

static __always_inline int finish(struct loop_ctx *l)
{
	__u32 key = l->producer;
	__u64 *d;

	if (l->dropped) {
		d = bpf_map_lookup_elem(&drops, &key);
		if (d)
			__sync_fetch_and_add(d, l->dropped);
	}
	return 0;
}

static __always_inline int setup(struct loop_ctx *l, void *ctx, struct load_args *a)
{
	l->ctx = ctx;
	l->size = a->size;
	l->first_seq = a->first_seq;
	l->producer = a->producer;
	l->dropped = 0;
	return a->producer < MAX_PRODUCERS && a->count <= (1 << 23);
}

SEC("raw_tp")
int ring_load(struct load_args *a)
{
	struct loop_ctx l;

	if (!setup(&l, a, a))
		return 1;
	bpf_loop(a->count, ring_one, &l, 0);
	return finish(&l);
}

SEC("raw_tp")
int perf_load(struct load_args *a)
{
	struct loop_ctx l;
	__u32 zero = 0, *depth;

	if (!setup(&l, a, a))
		return 1;
	depth = bpf_map_lookup_elem(&nesting, &zero);
	if (!depth)
		return 1;
	/* A nested run finishes before the run it interrupted continues: plain counting holds. */
	l.slot = *depth;
	if (l.slot >= MAX_NESTING) {
		l.dropped = a->count;
		return finish(&l);
	}
	*depth = l.slot + 1;
	bpf_loop(a->count, perf_one, &l, 0);
	*depth = l.slot;
	return finish(&l);
}

char LICENSE[] SEC("license") = "GPL";
