// libbpf's static linker (bpf_linker, as `bpftool gen object`) from the shared libbpf: links the
// input objects into OUT.
#include <bpf/libbpf.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT IN...\n", argv[0]);
		return 2;
	}
	struct bpf_linker *l = bpf_linker__new(argv[1], NULL);
	if (!l) {
		fprintf(stderr, "bpf_linker__new %s failed\n", argv[1]);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (bpf_linker__add_file(l, argv[i], NULL)) {
			fprintf(stderr, "failed to link '%s'\n", argv[i]);
			bpf_linker__free(l);
			return 1;
		}
	}
	int err = bpf_linker__finalize(l);
	bpf_linker__free(l);
	if (err) {
		fprintf(stderr, "bpf_linker__finalize failed: %d\n", err);
		return 1;
	}
	return 0;
}
