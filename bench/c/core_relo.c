// Reference for the core-relocate benchmark: how long libbpf 1.1 takes to relocate an object's
// programs (CO-RE against vmlinux, plus its other relocations and subprogram linking) inside
// bpf_object__load(). libbpf has no public call for that step alone, so bpf(2) is watched by
// interposing libc's syscall() (libbpf.so calls it): the time between the end of the last bpf()
// call before the first BPF_PROG_LOAD (map creation) and that BPF_PROG_LOAD is bpf_object__relocate.
// Vmlinux BTF is parsed before that window, as our side parses it outside its timing. Program
// loads are answered with a /dev/null descriptor so the kernel never verifies them (needs CAP_BPF
// for the maps and BTF that libbpf does create). Prints one JSON line: median and min ms of the
// relocation window, and of the whole open + load + close, and the memory libbpf holds at the end
// of the window (malloc'd and resident, beyond what the process held before the open).
// The window is timed in process CPU time (the open + load + close on the wall clock).
// Build: gcc -O2 bench/c/core_relo.c -lbpf -o core_relo
// Usage: core_relo [iterations] [warmup] OBJECT
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * The process's CPU time: the relocation window is timed in it, as our side times its own, so
 * that a busy machine's other jobs do not count (on an idle one it equals the wall clock).
 */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Per load: end of the latest bpf() call, and the relocation window once the first prog load comes. */
static double last_bpf_end;
static double window_ms = -1;
/*
 * Memory libbpf holds at the first program load (vmlinux BTF parsed, every program relocated),
 * beyond what the process held before bpf_object__open: malloc'd bytes and resident set, KiB.
 */
static struct mallinfo2 mem_before;
static long rss_before;
static long held_heap_kb = -1, held_rss_kb = -1;

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
static int fake_fds[4096];
static int fake_count;

typedef long (*syscall_fn)(long, ...);

long syscall(long number, ...)
{
	static syscall_fn real;
	va_list ap;
	long a[6], ret;

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	if (number != __NR_bpf)
		return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (a[0] == BPF_PROG_LOAD) {
		union bpf_attr *attr = (union bpf_attr *)a[1];

		/* Feature probes load tiny programs with no BTF func info; the object's carry it. */
		if (attr->func_info_cnt > 0) {
			if (window_ms < 0) {
				struct mallinfo2 m = mallinfo2();

				window_ms = cpu_ms() - last_bpf_end;
				held_heap_kb = (long)((m.uordblks + m.hblkhd) - (mem_before.uordblks + mem_before.hblkhd)) / 1024;
				held_rss_kb = rss_kb() - rss_before;
			}
			ret = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (ret >= 0 && fake_count < 4096)
				fake_fds[fake_count++] = (int)ret;
			return ret;
		}
	}
	if (a[0] == BPF_PROG_BIND_MAP) {
		union bpf_attr *attr = (union bpf_attr *)a[1];

		for (int i = 0; i < fake_count; i++)
			if (fake_fds[i] == (int)attr->prog_bind_map.prog_fd)
				return 0;
	}
	ret = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	last_bpf_end = cpu_ms();
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static int once(const char *path, double *relo, double *whole)
{
	double start = now_ms();
	struct bpf_object *obj;
	int err;

	window_ms = -1;
	fake_count = 0;
	mem_before = mallinfo2();
	rss_before = rss_kb();
	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		return -errno;
	err = bpf_object__load(obj);
	bpf_object__close(obj);
	if (err)
		return err;
	*whole = now_ms() - start;
	*relo = window_ms;
	return window_ms < 0 ? -ENOENT : 0;
}

int main(int argc, char **argv)
{
	int iterations = argc > 1 ? atoi(argv[1]) : 30;
	int warmup = argc > 2 ? atoi(argv[2]) : 3;
	const char *path = argc > 3 ? argv[3] : "testdata/core_many-el.o";
	double *relo, *whole, r, w;
	struct rusage ru;
	int i, err;

	if (iterations < 1 || warmup < 0) {
		fprintf(stderr, "usage: %s [iterations>=1] [warmup>=0] [object]\n", argv[0]);
		return 2;
	}
	libbpf_set_print(silent);
	relo = calloc(iterations, sizeof(*relo));
	whole = calloc(iterations, sizeof(*whole));
	if (!relo || !whole)
		return 1;
	for (i = 0; i < warmup; i++) {
		err = once(path, &r, &w);
		if (err) {
			fprintf(stderr, "core_relo: %s: %s\n", path, strerror(-err));
			return 1;
		}
	}
	for (i = 0; i < iterations; i++) {
		err = once(path, &relo[i], &whole[i]);
		if (err) {
			fprintf(stderr, "core_relo: %s: %s\n", path, strerror(-err));
			return 1;
		}
	}
	qsort(relo, iterations, sizeof(*relo), cmp_double);
	qsort(whole, iterations, sizeof(*whole), cmp_double);
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"median_ms\":%.4f,\"min_ms\":%.4f,\"iterations\":%d,\"max_rss_kb\":%ld,"
	       "\"open_load_close_ms\":%.4f,\"held_heap_kb\":%ld,\"held_rss_kb\":%ld}\n",
	       iterations % 2 ? relo[iterations / 2] : (relo[iterations / 2 - 1] + relo[iterations / 2]) / 2,
	       relo[0], iterations, ru.ru_maxrss,
	       iterations % 2 ? whole[iterations / 2] : (whole[iterations / 2 - 1] + whole[iterations / 2]) / 2,
	       held_heap_kb, held_rss_kb);
	return 0;
}
