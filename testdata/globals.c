// globals.c — global variables the loader turns into array maps: initialised data (.data),
// read-only config (.rodata, const volatile, set before load), zeroed data (.bss), custom
// sections (.data.custom, .rodata.custom), string literals (.rodata.str1.1 via bpf_printk and
// __builtin_memcpy), a static (local-symbol) global, and variables of different sizes at
// different offsets, so relocations carry a section symbol plus an addend.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* .data */
__u64 counter = 1;
__u8 small_data = 7;
__u32 data_array[3] = { 1, 2, 3 };
static __u16 static_data = 0x1234;

/* .rodata: const volatile so the compiler keeps the loads and user space can set them. */
const volatile __u32 config_pid = 0;
const volatile __u8 config_flag = 1;
const volatile __u64 config_limit = 1000;

/* .bss */
__u64 bss_total;
__u32 bss_hits;
__u8 bss_bytes[5];

/* Custom sections: each becomes its own map. */
__u64 custom_data SEC(".data.custom") = 0xdeadbeef;
__u32 custom_data2 SEC(".data.custom") = 5;
const volatile __u32 custom_ro SEC(".rodata.custom") = 42;

struct config {
	__u16 a;
	__u32 b;
	__u8 name[6];
} cfg_struct = { .a = 1, .b = 2, .name = "cfg" };

char message[16];

SEC("xdp")
int use_globals(struct xdp_md *ctx)
{
	if (config_flag && bss_total > config_limit)
		return XDP_DROP;
	counter++;
	bss_total += ctx->data_end - ctx->data;
	bss_hits += small_data + static_data++;
	bss_bytes[4] = config_flag;
	data_array[2] = config_pid;
	custom_data += custom_ro;
	custom_data2++;
	cfg_struct.b += cfg_struct.a;
	return XDP_PASS;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int use_strings(void *ctx)
{
	bpf_printk("getpid from %d, count %llu", bpf_get_current_pid_tgid() >> 32, counter);
	__builtin_memcpy(message, "hello, globals!", 16);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
