// A USDT probe with a semaphore (sdt.h's _SDT_HAS_SEMAPHORES, in its own file as the choice holds
// for every probe of a translation unit): ebpf_test:guarded fires only while the counter in
// .probes is non-zero, which the kernel keeps while a uprobe with ref_ctr_offset is on it.
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

__extension__ unsigned short ebpf_test_guarded_semaphore __attribute__((unused))
__attribute__((section(".probes")));

/* Returns 1 when the probe fired (someone was listening), else 0. */
__attribute__((noinline)) int guarded_probe(int i)
{
	if (!ebpf_test_guarded_semaphore)
		return 0;
	DTRACE_PROBE1(ebpf_test, guarded, i);
	return 1;
}
