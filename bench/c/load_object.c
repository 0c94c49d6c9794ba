// Reference for the load-object benchmark: times libbpf's bpf_object__open_file() +
// bpf_object__load() + bpf_object__close() of each object given, one iteration loading them all.
// Maps pinned by name go under a private pin root and are unpinned before close, so every
// iteration creates them afresh. Prints one JSON line like the other harnesses.
// Build: gcc -O2 bench/c/load_object.c -lbpf -o load_object
// Usage: load_object iterations warmup pin_root object...
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	(void)fmt;
	(void)args;
	return 0;
}

static int load_once(const char *path, const char *pin_root, int *programs)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	struct bpf_object *obj;
	struct bpf_program *prog;
	int err;

	obj = bpf_object__open_file(path, &opts);
	if (!obj)
		return -errno;
	err = bpf_object__load(obj);
	if (!err) {
		bpf_object__for_each_program(prog, obj)
			(*programs)++;
		bpf_object__unpin_maps(obj, NULL);
	}
	bpf_object__close(obj);
	return err;
}

static int load_all(char **paths, int n, const char *pin_root, int *programs)
{
	int i, err;

	*programs = 0;
	for (i = 0; i < n; i++) {
		err = load_once(paths[i], pin_root, programs);
		if (err) {
			fprintf(stderr, "load %s: %s\n", paths[i], strerror(-err));
			return err;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int iterations = argc > 1 ? atoi(argv[1]) : 30;
	int warmup = argc > 2 ? atoi(argv[2]) : 3;
	const char *pin_root = argc > 3 ? argv[3] : NULL;
	int programs = 0, i;
	struct rusage ru;
	double *samples;

	if (argc < 5 || iterations < 1 || warmup < 0) {
		fprintf(stderr, "usage: %s iterations warmup pin_root object...\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	mkdir(pin_root, 0700);
	samples = calloc(iterations, sizeof(*samples));
	if (!samples)
		return 1;
	for (i = 0; i < warmup; i++)
		if (load_all(argv + 4, argc - 4, pin_root, &programs))
			return 1;
	for (i = 0; i < iterations; i++) {
		double start = now_ms();

		if (load_all(argv + 4, argc - 4, pin_root, &programs))
			return 1;
		samples[i] = now_ms() - start;
	}
	rmdir(pin_root);
	qsort(samples, iterations, sizeof(*samples), cmp_double);
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"median_ms\":%.4f,\"min_ms\":%.4f,\"iterations\":%d,\"programs\":%d,\"max_rss_kb\":%ld}\n",
	       iterations % 2 ? samples[iterations / 2]
			      : (samples[iterations / 2 - 1] + samples[iterations / 2]) / 2,
	       samples[0], iterations, programs, ru.ru_maxrss);
	free(samples);
	return 0;
}
