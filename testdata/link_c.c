// link_c.c — third of the three linked files (see link_a.c): the strong `bump` that replaces
// link_a's __weak default; `counts` as an extern map declaration (complete, as libbpf's linker
// requires); the .kconfig extern link_a also declares; a .rodata constant; and a CO-RE
// enum-value relocation.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

extern struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
const volatile __u32 bump_scale = 10;

enum xdp_action___c {
	XDP_PASS___c = 2,
};

__attribute__((noinline)) int bump(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &slot);
	int extra = LINUX_KERNEL_VERSION > 0 ? 1 : 0;

	if (bpf_core_enum_value_exists(enum xdp_action___c, XDP_PASS___c))
		extra += 2;
	return slot * bump_scale + extra + (v ? 0 : 100);
}

char LICENSE[] SEC("license") = "GPL";
