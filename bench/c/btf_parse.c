// Reference for the btf-parse benchmark: times libbpf's btf__parse() + btf__free() of a BTF file
// (default /sys/kernel/btf/vmlinux). Prints one JSON line: median and min milliseconds over the
// timed iterations (after warm-up), iteration count and the process's max RSS.
// Build: gcc -O2 bench/c/btf_parse.c -lbpf -o btf_parse
// Usage: btf_parse [iterations] [warmup] [path]
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Resident set of this process in KiB, from /proc/self/statm. */
static long rss_kb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int parse_once(const char *path, unsigned int *types)
{
	struct btf *btf = btf__parse(path, NULL);

	if (!btf)
		return -errno;
	/* Touch the result so the work cannot be skipped, and report what was parsed. */
	*types = btf__type_cnt(btf);
	btf__free(btf);
	return 0;
}

int main(int argc, char **argv)
{
	int iterations = argc > 1 ? atoi(argv[1]) : 30;
	int warmup = argc > 2 ? atoi(argv[2]) : 3;
	const char *path = argc > 3 ? argv[3] : "/sys/kernel/btf/vmlinux";
	unsigned int types = 0;
	struct rusage ru;
	double *samples;
	int i, err;

	if (iterations < 1 || warmup < 0) {
		fprintf(stderr, "usage: %s [iterations>=1] [warmup>=0] [path]\n", argv[0]);
		return 2;
	}
	samples = calloc(iterations, sizeof(*samples));
	if (!samples)
		return 1;
	for (i = 0; i < warmup; i++) {
		err = parse_once(path, &types);
		if (err) {
			fprintf(stderr, "btf__parse(%s): %s\n", path, strerror(-err));
			return 1;
		}
	}
	for (i = 0; i < iterations; i++) {
		double start = now_ms();

		err = parse_once(path, &types);
		samples[i] = now_ms() - start;
		if (err) {
			fprintf(stderr, "btf__parse(%s): %s\n", path, strerror(-err));
			return 1;
		}
	}
	qsort(samples, iterations, sizeof(*samples), cmp_double);
	/* What a parsed vmlinux holds while kept: heap (malloc) and resident set, before and after. */
	malloc_trim(0);
	struct mallinfo2 m0 = mallinfo2();
	long rss0 = rss_kb();
	struct btf *kept = btf__parse(path, NULL);
	struct mallinfo2 m1 = mallinfo2();
	long rss1 = rss_kb();
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"median_ms\":%.4f,\"min_ms\":%.4f,\"iterations\":%d,\"types\":%u,\"max_rss_kb\":%ld,"
	       "\"held_heap_kb\":%zu,\"held_rss_kb\":%ld}\n",
	       iterations % 2 ? samples[iterations / 2]
			      : (samples[iterations / 2 - 1] + samples[iterations / 2]) / 2,
	       samples[0], iterations, types, ru.ru_maxrss, (m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd) / 1024,
	       rss1 - rss0);
	btf__free(kept);
	free(samples);
	return 0;
}
