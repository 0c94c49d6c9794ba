// Oracle for CO-RE: the instructions libbpf 1.1 would hand to the kernel for each program of an
// object, after its CO-RE relocation against the running kernel or a BTF file (btf_custom_path).
//
// libbpf 1.1 only relocates inside bpf_object__load(), which also loads the programs, and a
// program relocated against a foreign BTF would not pass the verifier. So this harness
// interposes libc's syscall() (libbpf.so calls bpf(2) through it): BPF_PROG_LOAD of one of the
// object's own programs (recognised by name) returns a descriptor of /dev/null instead of going
// to the kernel, and BPF_PROG_BIND_MAP on such a descriptor succeeds. Everything else (feature
// probes, BTF and map creation) reaches the kernel as usual, so this needs CAP_BPF. After the
// load, bpf_program__insns() gives the relocated instructions.
//
// Build: gcc -O2 test/c/core_insns.c -lbpf -ldl -o core_insns
// Usage: core_insns OBJECT [BTF_PATH]
// Prints one JSON object: {"programs":[{"name":..,"section":..,"insns":["<16 hex digits>",..]}]}
// (each slot's 8 bytes as stored), or {"error":..} and exits 1.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_PROGS 512
#define MAX_FAKE 1024

static char prog_names[MAX_PROGS][BPF_OBJ_NAME_LEN];
static int prog_count;
static int fake_fds[MAX_FAKE];
static int fake_count;

static int is_fake(int fd)
{
	for (int i = 0; i < fake_count; i++)
		if (fake_fds[i] == fd)
			return 1;
	return 0;
}

static int is_ours(const char *name)
{
	for (int i = 0; i < prog_count; i++)
		if (strncmp(prog_names[i], name, BPF_OBJ_NAME_LEN) == 0)
			return 1;
	return 0;
}

typedef long (*syscall_fn)(long, ...);

long syscall(long number, ...)
{
	static syscall_fn real;
	va_list ap;
	long a[6];

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	if (number == __NR_bpf) {
		union bpf_attr *attr = (union bpf_attr *)a[1];

		if (a[0] == BPF_PROG_LOAD && prog_count > 0 && is_ours(attr->prog_name)) {
			int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

			if (fd >= 0 && fake_count < MAX_FAKE)
				fake_fds[fake_count++] = fd;
			return fd;
		}
		if (a[0] == BPF_PROG_BIND_MAP && is_fake(attr->prog_bind_map.prog_fd))
			return 0;
	}
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static int print_silent(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, args);
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_program *prog;
	struct bpf_object *obj;
	int err, first = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s OBJECT [BTF_PATH]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		opts.btf_custom_path = argv[2];
	libbpf_set_print(print_silent);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		printf("{\"error\":\"open: %s\"}\n", strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (prog_count < MAX_PROGS)
			strncpy(prog_names[prog_count++], bpf_program__name(prog), BPF_OBJ_NAME_LEN - 1);
	}
	err = bpf_object__load(obj);
	if (err) {
		printf("{\"error\":\"load: %s\"}\n", strerror(-err));
		bpf_object__close(obj);
		return 1;
	}
	printf("{\"programs\":[");
	bpf_object__for_each_program(prog, obj) {
		const struct bpf_insn *insns = bpf_program__insns(prog);
		size_t n = bpf_program__insn_cnt(prog);

		printf("%s{\"name\":\"%s\",\"section\":\"%s\",\"insns\":[", first ? "" : ",",
		       bpf_program__name(prog), bpf_program__section_name(prog));
		first = 0;
		for (size_t i = 0; i < n; i++) {
			const unsigned char *b = (const unsigned char *)&insns[i];

			printf("%s\"", i ? "," : "");
			for (int j = 0; j < 8; j++)
				printf("%02x", b[j]);
			printf("\"");
		}
		printf("]}");
	}
	printf("]}\n");
	bpf_object__close(obj);
	return 0;
}
