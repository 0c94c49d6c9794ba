// A shared library with a USDT probe, for the USDT tests: ebpf_lib:lib_probe (i, i * i).
#include <sys/sdt.h>

__attribute__((noinline)) void lib_probe(long i)
{
	DTRACE_PROBE2(ebpf_lib, lib_probe, i, i * i);
}
