// The process the USDT tests probe, through <sys/sdt.h>: for i in 0..N-1 (N from argv[1]) it fires
//   ebpf_test:regs     (i, (signed char)-i, (short)(100 * i - 1000), ((unsigned long)i << 40) | 7)
//   ebpf_test:stack    (i, -3 * i, (short)i)   from a function built -O0, so the args are in memory
//   ebpf_test:consts   (-9, 5, 1000000)         constants
//   ebpf_test:guarded  (i)                      only while its semaphore says someone listens
//                                               (usdt_guarded.c, linked in)
//   ebpf_test:indexed  (table[i & 7])           an element gcc addresses as base + index * scale
//   ebpf_lib:lib_probe (i, i * i)               in the shared library (usdt_lib.c), when linked with it
// and prints how many times the guarded probe's semaphore was set. With a second argument it
// first waits for a line on stdin, so a test can attach to this very process before the probes.
#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>

int guarded_probe(int i);

#ifdef WITH_LIB
void lib_probe(long i);
#endif

long table[8] = { 11, 22, 33, 44, 55, 66, 77, 88 };

__attribute__((noinline, optimize("O0"))) static void on_stack(int x)
{
	long y = -3L * x;
	short z = (short)x;

	DTRACE_PROBE3(ebpf_test, stack, x, y, z);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	int guarded = 0;

	if (argc > 2) {
		char line[16];

		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	for (int i = 0; i < n; i++) {
		signed char c = (signed char)-i;
		short s = (short)(100 * i - 1000);
		unsigned long u = ((unsigned long)i << 40) | 7;

		DTRACE_PROBE4(ebpf_test, regs, i, c, s, u);
		on_stack(i);
		DTRACE_PROBE3(ebpf_test, consts, -9, 5, 1000000);
		guarded += guarded_probe(i);
		DTRACE_PROBE1(ebpf_test, indexed, table[i & 7]);
#ifdef WITH_LIB
		lib_probe(i);
#endif
	}
	printf("%d\n", guarded);
	return 0;
}
