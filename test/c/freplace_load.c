// Oracle for freplace: what libbpf 1.1 does with an extension program given a target program.
// Loads TARGET_OBJ (every program), then opens EXT_OBJ, points each of its freplace programs at
// the target program TARGET_PROG with bpf_program__set_attach_target(prog, target_fd, func), and
// loads it. On success both objects' programs are pinned under PIN_DIR (target as "target",
// extensions by name) so the caller can dump their xlated instructions.
//
// Build: gcc -O2 test/c/freplace_load.c -lbpf -o freplace_load
// Usage: freplace_load TARGET_OBJ TARGET_PROG FUNC EXT_OBJ PIN_DIR
// Prints one JSON object: {"loaded":true} or {"loaded":false,"errno":N,"error":"..."}; libbpf's
// own log goes to stderr.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void fail(const char *what, int err)
{
	if (err < 0)
		err = -err;
	printf("{\"loaded\":false,\"errno\":%d,\"error\":\"%s: %s\"}\n", err, what, strerror(err));
}

int main(int argc, char **argv)
{
	struct bpf_object *target, *ext;
	struct bpf_program *prog;
	char path[4096];
	int target_fd, err;

	if (argc != 6) {
		fprintf(stderr, "usage: %s TARGET_OBJ TARGET_PROG FUNC EXT_OBJ PIN_DIR\n", argv[0]);
		return 2;
	}
	target = bpf_object__open_file(argv[1], NULL);
	if (!target) {
		fail("open target", errno);
		return 1;
	}
	err = bpf_object__load(target);
	if (err) {
		fail("load target", err);
		return 1;
	}
	prog = bpf_object__find_program_by_name(target, argv[2]);
	if (!prog) {
		fail("find target program", ENOENT);
		return 1;
	}
	target_fd = bpf_program__fd(prog);

	ext = bpf_object__open_file(argv[4], NULL);
	if (!ext) {
		fail("open extension", errno);
		return 1;
	}
	bpf_object__for_each_program(prog, ext) {
		err = bpf_program__set_attach_target(prog, target_fd, argv[3]);
		if (err) {
			fail("set attach target", err);
			return 1;
		}
	}
	err = bpf_object__load(ext);
	if (err) {
		fail("load extension", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/target", argv[5]);
	err = bpf_program__pin(bpf_object__find_program_by_name(target, argv[2]), path);
	bpf_object__for_each_program(prog, ext) {
		if (err)
			break;
		snprintf(path, sizeof(path), "%s/%s", argv[5], bpf_program__name(prog));
		err = bpf_program__pin(prog, path);
	}
	if (err) {
		fail("pin", err);
		return 1;
	}
	printf("{\"loaded\":true}\n");
	return 0;
}
