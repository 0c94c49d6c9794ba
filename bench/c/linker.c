// Reference for the link-objects and btf-dedup benchmarks: times libbpf's bpf_linker (new,
// add_file for each input, finalize: what `bpftool gen object` does, output file included) or
// btf__parse + btf__dedup of a raw BTF file. Prints one JSON line: median and min milliseconds
// over the timed iterations (after warm-up), iteration count and the process's max RSS.
// Build: gcc -O2 bench/c/linker.c -lbpf -o linker
// Usage: linker link ITERATIONS WARMUP OUT IN...  |  linker dedup ITERATIONS WARMUP BTF
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
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

static int link_once(const char *out, int n, char **in)
{
	struct bpf_linker *l = bpf_linker__new(out, NULL);
	int i, err = 0;

	if (!l)
		return -errno;
	for (i = 0; i < n && !err; i++)
		err = bpf_linker__add_file(l, in[i], NULL);
	if (!err)
		err = bpf_linker__finalize(l);
	bpf_linker__free(l);
	return err;
}

static int dedup_once(const char *path)
{
	struct btf *btf = btf__parse(path, NULL);
	int err;

	if (!btf)
		return -errno;
	err = btf__dedup(btf, NULL);
	btf__free(btf);
	return err;
}

static int once(char **argv, int argc)
{
	if (strcmp(argv[1], "link") == 0)
		return link_once(argv[4], argc - 5, argv + 5);
	return dedup_once(argv[4]);
}

int main(int argc, char **argv)
{
	struct rusage ru;
	double *samples;
	int iterations, warmup, i, err;

	if (argc < 5 || (strcmp(argv[1], "link") != 0 && strcmp(argv[1], "dedup") != 0) ||
	    (strcmp(argv[1], "link") == 0 && argc < 6)) {
		fprintf(stderr, "usage: %s link ITERATIONS WARMUP OUT IN... | dedup ITERATIONS WARMUP BTF\n", argv[0]);
		return 2;
	}
	iterations = atoi(argv[2]);
	warmup = atoi(argv[3]);
	if (iterations < 1 || warmup < 0)
		return 2;
	samples = calloc(iterations, sizeof(*samples));
	if (!samples)
		return 1;
	for (i = 0; i < warmup + iterations; i++) {
		double start = now_ms();

		err = once(argv, argc);
		if (err) {
			fprintf(stderr, "%s: %s\n", argv[1], strerror(err < 0 ? -err : err));
			return 1;
		}
		if (i >= warmup)
			samples[i - warmup] = now_ms() - start;
	}
	if (strcmp(argv[1], "link") == 0)
		unlink(argv[4]);
	qsort(samples, iterations, sizeof(*samples), cmp_double);
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"median_ms\":%.4f,\"min_ms\":%.4f,\"iterations\":%d,\"max_rss_kb\":%ld}\n",
	       iterations % 2 ? samples[iterations / 2]
			      : (samples[iterations / 2 - 1] + samples[iterations / 2]) / 2,
	       samples[0], iterations, ru.ru_maxrss);
	free(samples);
	return 0;
}
