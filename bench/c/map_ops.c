// Reference for the map-* benchmarks: the same operations as bench/map-ops.ts through libbpf on a
// BPF_MAP_TYPE_HASH of 2^20 entries (8-byte struct key, 16-byte value), timed in samples.
// Prints one JSON line: median and min CPU milliseconds per sample, operations per sample, the
// median rate in operations per second (CPU time and wall clock), fill time and max RSS.
// Build: gcc -O2 bench/c/map_ops.c -lbpf -o map_ops
// Usage: map_ops lookup|update|lookup_batch|update_batch|iterate [iterations] [warmup] [batch]
#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Keep these in step with bench/map-ops.ts: same keys, values, order and sample sizes. */
#define ENTRIES (1u << 20)
#define CHUNK (1u << 16) /* single-call operations per sample */
/* Caps on iterations and warm-up so the five benchmarks stay near a minute on both sides. */
#define MAX_SINGLE_SAMPLES 7
#define MAX_SINGLE_WARMUP 1
#define MAX_WHOLE_SAMPLES 3
#define MAX_WHOLE_WARMUP 0
#define ITERATE_PARTS 4 /* iterate: one whole-map walk, timed in quarters */
#define ITERATE_PART (ENTRIES / ITERATE_PARTS)

struct flow_key {
	uint32_t saddr;
	uint32_t daddr;
};

struct flow_stats {
	uint64_t packets;
	uint64_t bytes;
};

static struct flow_key *keys;     /* key i, in insertion order */
static struct flow_stats *values; /* value i */
static uint32_t *order;           /* a permutation of 0..ENTRIES-1 */
static struct flow_key *shuffled; /* keys in that order, as an array a caller would hold */
static unsigned int batch_size = 4096;
static uint64_t sink;
static uint32_t order_check; /* printed on both sides: the same shuffle */

/*
 * Samples are timed in CPU time of the whole process (user + system), which on a machine shared
 * with other work is what an idle machine's wall clock would show; wall time is printed beside.
 */
static double clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* xorshift32, seeded as in map-ops.ts, for the same shuffle on both sides. */
static uint32_t rng_state = 0x9e3779b9u;

static uint32_t rng(void)
{
	uint32_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

static void make_data(void)
{
	uint32_t i;

	keys = calloc(ENTRIES, sizeof(*keys));
	values = calloc(ENTRIES, sizeof(*values));
	order = calloc(ENTRIES, sizeof(*order));
	shuffled = calloc(ENTRIES, sizeof(*shuffled));
	if (!keys || !values || !order || !shuffled) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (i = 0; i < ENTRIES; i++) {
		keys[i].saddr = i;
		keys[i].daddr = i * 2654435761u;
		values[i].packets = i;
		values[i].bytes = (uint64_t)i * 64;
		order[i] = i;
	}
	for (i = ENTRIES - 1; i > 0; i--) {
		uint32_t j = rng() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < ENTRIES; i++) {
		shuffled[i] = keys[order[i]];
		order_check = order_check * 31 + order[i];
	}
}

static void die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(1);
}

static int create_and_fill(double *fill_ms)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 count = ENTRIES;
	double start;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "bench_flows", sizeof(struct flow_key),
			    sizeof(struct flow_stats), ENTRIES, NULL);
	if (fd < 0)
		die("bpf_map_create");
	start = clock_ms(CLOCK_MONOTONIC);
	if (bpf_map_update_batch(fd, keys, values, &count, &opts) || count != ENTRIES)
		die("bpf_map_update_batch (fill)");
	*fill_ms = clock_ms(CLOCK_MONOTONIC) - start;
	return fd;
}

static unsigned int cursor;

/* One sample of each operation; returns the operations done. */
static unsigned int op_lookup(int fd)
{
	struct flow_stats v;
	unsigned int i;

	for (i = 0; i < CHUNK; i++) {
		if (bpf_map_lookup_elem(fd, &shuffled[cursor], &v))
			die("bpf_map_lookup_elem");
		sink += v.packets;
		cursor = (cursor + 1) % ENTRIES;
	}
	return CHUNK;
}

static unsigned int op_update(int fd)
{
	unsigned int i;

	for (i = 0; i < CHUNK; i++) {
		/* The value of another entry, so every update writes different bytes. */
		if (bpf_map_update_elem(fd, &shuffled[cursor], &values[(cursor + 1) % ENTRIES], BPF_ANY))
			die("bpf_map_update_elem");
		cursor = (cursor + 1) % ENTRIES;
	}
	return CHUNK;
}

static struct flow_key *out_keys;
static struct flow_stats *out_values;

static unsigned int op_lookup_batch(int fd)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct flow_key token;
	unsigned int total = 0;
	int first = 1, err;

	for (;;) {
		__u32 count = batch_size;

		err = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, out_keys, out_values, &count,
					   &opts);
		if (err && errno != ENOENT)
			die("bpf_map_lookup_batch");
		sink += count ? out_values[count - 1].packets : 0;
		total += count;
		first = 0;
		if (err)
			break;
	}
	if (total != ENTRIES) {
		fprintf(stderr, "lookup batch read %u entries, not %u\n", total, ENTRIES);
		exit(1);
	}
	return total;
}

static unsigned int op_update_batch(int fd)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	unsigned int done = 0;

	while (done < ENTRIES) {
		__u32 count = ENTRIES - done < batch_size ? ENTRIES - done : batch_size;
		unsigned int from = (done + batch_size) % ENTRIES;

		/* Keys in the random order, as with single updates; values shifted by one batch. */
		if (from + count > ENTRIES)
			from = 0;
		if (bpf_map_update_batch(fd, &shuffled[done], &values[from], &count, &opts))
			die("bpf_map_update_batch");
		done += count;
	}
	return done;
}

/* The walk goes on across samples: each sample is the next quarter of one whole-map walk. */
static struct flow_key walk_cur;
static int walk_started;
static unsigned int walk_seen;

static unsigned int op_iterate(int fd)
{
	struct flow_key next;
	struct flow_stats v;
	unsigned int n = 0;

	while (n < ITERATE_PART && bpf_map_get_next_key(fd, walk_started ? &walk_cur : NULL, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
			sink += v.packets;
			n++;
		}
		walk_cur = next;
		walk_started = 1;
	}
	if (n < ITERATE_PART && errno != ENOENT)
		die("bpf_map_get_next_key");
	walk_seen += n;
	return n;
}

/* After ITERATE_PARTS samples the walk must be at the end, having seen every entry. */
static void check_walk(int fd)
{
	struct flow_key next;

	if (walk_seen == ENTRIES && bpf_map_get_next_key(fd, &walk_cur, &next) && errno == ENOENT)
		return;
	fprintf(stderr, "iteration saw %u entries, not %u\n", walk_seen, ENTRIES);
	exit(1);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "";
	int iterations = argc > 2 ? atoi(argv[2]) : MAX_SINGLE_SAMPLES;
	int warmup = argc > 3 ? atoi(argv[3]) : 1;
	unsigned int (*op)(int);
	unsigned int ops = 0;
	double fill_ms, *samples, *walls, median, wall;
	struct rusage ru;
	int fd, i, whole, max_samples, max_warmup;

	if (argc > 4)
		batch_size = atoi(argv[4]);
	if (!strcmp(name, "lookup"))
		op = op_lookup;
	else if (!strcmp(name, "update"))
		op = op_update;
	else if (!strcmp(name, "lookup_batch"))
		op = op_lookup_batch;
	else if (!strcmp(name, "update_batch"))
		op = op_update_batch;
	else if (!strcmp(name, "iterate"))
		op = op_iterate;
	else
		op = NULL;
	if (!op || iterations < 1 || warmup < 0 || batch_size < 1) {
		fprintf(stderr,
			"usage: %s lookup|update|lookup_batch|update_batch|iterate [iterations>=1] [warmup>=0] [batch>=1]\n",
			argv[0]);
		return 2;
	}
	whole = op != op_lookup && op != op_update;
	max_samples = op == op_iterate ? ITERATE_PARTS : whole ? MAX_WHOLE_SAMPLES : MAX_SINGLE_SAMPLES;
	max_warmup = whole ? MAX_WHOLE_WARMUP : MAX_SINGLE_WARMUP;
	if (iterations > max_samples)
		iterations = max_samples;
	if (warmup > max_warmup)
		warmup = max_warmup;

	make_data();
	out_keys = calloc(batch_size, sizeof(*out_keys));
	out_values = calloc(batch_size, sizeof(*out_values));
	samples = calloc(iterations, sizeof(*samples));
	walls = calloc(iterations, sizeof(*walls));
	if (!out_keys || !out_values || !samples || !walls)
		return 1;
	fd = create_and_fill(&fill_ms);

	for (i = 0; i < warmup; i++)
		op(fd);
	for (i = 0; i < iterations; i++) {
		double start = now_ms(), start_wall = clock_ms(CLOCK_MONOTONIC);

		ops = op(fd);
		samples[i] = now_ms() - start;
		walls[i] = clock_ms(CLOCK_MONOTONIC) - start_wall;
	}
	if (op == op_iterate && iterations == ITERATE_PARTS)
		check_walk(fd);
	qsort(samples, iterations, sizeof(*samples), cmp_double);
	qsort(walls, iterations, sizeof(*walls), cmp_double);
	median = iterations % 2 ? samples[iterations / 2]
				: (samples[iterations / 2 - 1] + samples[iterations / 2]) / 2;
	wall = iterations % 2 ? walls[iterations / 2] : (walls[iterations / 2 - 1] + walls[iterations / 2]) / 2;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"median_ms\":%.4f,\"min_ms\":%.4f,\"iterations\":%d,\"ops\":%u,\"ops_per_sec\":%.0f,\"wall_ops_per_sec\":%.0f,"
	       "\"entries\":%u,\"batch\":%u,\"fill_ms\":%.1f,\"order_check\":%u,\"sink\":%llu,"
	       "\"max_rss_kb\":%ld}\n",
	       median, samples[0], iterations, ops, ops / (median / 1e3), ops / (wall / 1e3), ENTRIES, whole ? batch_size : 1,
	       fill_ms, order_check, (unsigned long long)(sink & 1), ru.ru_maxrss);
	free(samples);
	free(walls);
	return 0;
}
