// Reference for the ring-* and perf-* benchmarks: testdata/event_load-el.o loaded by libbpf, its
// raw tracepoint program run with BPF_PROG_TEST_RUN to fill the ring buffer (16 MiB) or every
// CPU's perf ring (1024 pages each) to capacity with records of one size, then the records read
// back through ring_buffer__poll / perf_buffer__poll with a C callback that checks each record's
// sequence number, as bench/events.ts does. Only the reading is timed, in CPU time of the
// process (wall clock beside it). Prints one JSON line like the other harnesses.
// Build: gcc -O2 bench/c/events.c -lbpf -o events
// Usage: events ring|perf SIZE iterations warmup object
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Keep these in step with bench/events.ts. */
#define RING_BYTES (16u << 20)
#define PERF_PAGES 1024
#define RINGBUF_HDR 8
#define PERF_HDR 12 /* perf_event_header + u32 size of the raw data */
#define BPF_F_TEST_RUN_ON_CPU_FLAG 1
#define WARMUP_RECORDS 200000
#define MAX_WARMUP 16

struct load_args {
	uint64_t count, size, producer, first_seq;
};

static uint64_t seen, bad;
static uint32_t sum; /* mod 2^32, as bench/events.ts keeps it */
static uint32_t expect_producer;

static double clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* What both sides do with a record: read the producer and the sequence number's low word. */
static inline void check(const void *data, size_t size)
{
	const uint32_t *w = data;

	if (size < 16 || w[0] != expect_producer)
		bad++;
	sum += w[2];
	seen++;
}

static int ring_cb(void *ctx, void *data, size_t size)
{
	(void)ctx;
	check(data, size);
	return 0;
}

static void perf_cb(void *ctx, int cpu, void *data, __u32 size)
{
	(void)ctx;
	(void)cpu;
	check(data, size);
}

static void perf_lost(void *ctx, int cpu, __u64 n)
{
	(void)ctx;
	(void)cpu;
	(void)n;
	bad++;
}

static uint64_t fill(int prog_fd, uint64_t count, uint64_t size, int cpu, uint64_t first_seq)
{
	struct load_args a = { count, size, expect_producer, first_seq };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &a, .ctx_size_in = sizeof(a));
	int err;

	if (cpu >= 0) {
		o.flags = BPF_F_TEST_RUN_ON_CPU_FLAG;
		o.cpu = cpu;
	}
	err = bpf_prog_test_run_opts(prog_fd, &o);
	if (err)
		die("BPF_PROG_TEST_RUN", errno);
	return count;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: events ring|perf SIZE iterations warmup object\n");
		return 2;
	}
	int perf = strcmp(argv[1], "perf") == 0;
	uint64_t size = strtoull(argv[2], NULL, 10);
	int iterations = atoi(argv[3]), warmup = atoi(argv[4]);
	int ncpu = libbpf_num_possible_cpus();
	long page = sysconf(_SC_PAGESIZE);
	struct bpf_object *obj;
	struct ring_buffer *rb = NULL;
	struct perf_buffer *pb = NULL;
	int err, prog_fd, i, c;

	libbpf_set_print(NULL);
	obj = bpf_object__open_file(argv[5], NULL);
	if (!obj)
		die("open", errno);
	bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "ring"), RING_BYTES);
	bpf_program__set_autoload(bpf_object__find_program_by_name(obj, perf ? "ring_load" : "perf_load"), false);
	err = bpf_object__load(obj);
	if (err)
		die("load", err);
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, perf ? "perf_load" : "ring_load"));
	expect_producer = 1;

	/* Records that fill the ring to capacity (a perf ring keeps one byte free, so one less). */
	uint64_t per_fill;
	if (perf) {
		uint64_t rec = (PERF_HDR + size + 4 + 7) & ~7ull;
		per_fill = (PERF_PAGES * page - 8) / rec;
		pb = perf_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "perf")), PERF_PAGES, perf_cb,
				      perf_lost, NULL, NULL);
		if (!pb)
			die("perf_buffer__new", errno);
	} else {
		uint64_t rec = (RINGBUF_HDR + size + 7) & ~7ull;
		per_fill = RING_BYTES / rec;
		rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring")), ring_cb, NULL, NULL);
		if (!rb)
			die("ring_buffer__new", errno);
	}
	uint64_t per_sample = perf ? per_fill * ncpu : per_fill;
	int need = (WARMUP_RECORDS + per_sample - 1) / per_sample;
	if (warmup < need)
		warmup = need;
	if (warmup > MAX_WARMUP)
		warmup = MAX_WARMUP;

	double *cpu_ms = calloc(iterations, sizeof(double)), *wall_ms = calloc(iterations, sizeof(double));
	uint64_t seq = 0;
	for (i = -warmup; i < iterations; i++) {
		if (perf)
			for (c = 0; c < ncpu; c++)
				seq += fill(prog_fd, per_fill, size, c, seq);
		else
			seq += fill(prog_fd, per_fill, size, -1, seq);
		uint64_t want = seen + per_sample;
		double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
		while (seen < want) {
			err = perf ? perf_buffer__poll(pb, 5000) : ring_buffer__poll(rb, 5000);
			if (err < 0)
				die("poll", err);
			if (err == 0)
				die("poll: nothing within 5 s", ETIMEDOUT);
		}
		double c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w1 = clock_ms(CLOCK_MONOTONIC);
		if (i >= 0) {
			cpu_ms[i] = c1 - c0;
			wall_ms[i] = w1 - w0;
		}
	}
	uint64_t drops = 0, v;
	uint32_t key = expect_producer;
	if (bpf_map_lookup_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "drops")), &key, &v) == 0)
		drops = v;
	if (bad || drops || seen != per_sample * (iterations + warmup)) {
		fprintf(stderr, "events: %llu bad records, %llu dropped, %llu seen\n", (unsigned long long)bad,
			(unsigned long long)drops, (unsigned long long)seen);
		return 1;
	}
	qsort(cpu_ms, iterations, sizeof(double), cmp_double);
	qsort(wall_ms, iterations, sizeof(double), cmp_double);
	double med = iterations % 2 ? cpu_ms[iterations / 2] : (cpu_ms[iterations / 2 - 1] + cpu_ms[iterations / 2]) / 2;
	double wmed = iterations % 2 ? wall_ms[iterations / 2]
				     : (wall_ms[iterations / 2 - 1] + wall_ms[iterations / 2]) / 2;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"median_ms\":%.4f,\"min_ms\":%.4f,\"iterations\":%d,\"max_rss_kb\":%ld,\"ops_per_sec\":%.0f,"
	       "\"wall_ops_per_sec\":%.0f,\"records_per_sample\":%llu,\"checksum\":%llu}\n",
	       med, cpu_ms[0], iterations, ru.ru_maxrss, per_sample / (med / 1e3), per_sample / (wmed / 1e3),
	       (unsigned long long)per_sample, (unsigned long long)sum);
	ring_buffer__free(rb);
	perf_buffer__free(pb);
	bpf_object__close(obj);
	return 0;
}
