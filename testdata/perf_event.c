// perf_event.c — a perf_event program for test/link-perf-event.test.ts: counts the samples it is
// run for, per CPU, so the test can compare them with each perf event's own counter.
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

#define MAX_CPUS 256

__u64 samples[MAX_CPUS];

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();

	if (cpu < MAX_CPUS)
		__sync_fetch_and_add(&samples[cpu], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
