// libbpf's btf__dedup as an oracle: reads raw BTF or an ELF object's .BTF, deduplicates it
// and writes the raw result to the output file.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
		return 2;
	}
	struct btf *btf = btf__parse(argv[1], NULL);
	if (!btf) {
		fprintf(stderr, "btf__parse %s failed\n", argv[1]);
		return 1;
	}
	int err = btf__dedup(btf, NULL);
	if (err) {
		fprintf(stderr, "btf__dedup failed: %d\n", err);
		return 1;
	}
	__u32 size;
	const void *raw = btf__raw_data(btf, &size);
	FILE *f = fopen(argv[2], "wb");
	if (!f || fwrite(raw, 1, size, f) != size || fclose(f)) {
		perror(argv[2]);
		return 1;
	}
	btf__free(btf);
	return 0;
}
