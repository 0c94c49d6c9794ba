// types.c — BTF variety for the BTF reader, formatters and the kernel's BTF checks: bitfields,
// unions, enums (negative value), enum64 (values above 32 bits), float/double in a map value,
// decl tags on a struct member, a function and a parameter, a type tag on a pointer, typedefs,
// const/volatile/restrict, multi-dimensional arrays, function pointers, nested anonymous
// structs/unions and a flexible array member. Every type is reachable from a map, a global or a
// function, so clang emits it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user_ptr __attribute__((btf_type_tag("user")))

typedef unsigned int u32_t;
typedef u32_t counter_t; /* typedef of a typedef */

enum color { RED = 0, GREEN = 1, BLUE = 2, NEGATIVE = -3 };
enum big { SMALL = 1, HUGE = 0x1234567890ULL, TOP = 0xffffffffffffffffULL };

struct bits {
	unsigned int a : 3;
	unsigned int b : 5;
	int c : 7;   /* signed */
	unsigned long long wide : 40;
	unsigned char flag : 1;
	unsigned short tail;
} __attribute__((packed));

union number {
	__u64 u;
	__s64 s;
	double d;
	__u8 bytes[8];
};

typedef int (*callback_fn)(void *ctx, int arg);

struct measures {
	float ratio;
	double mean;
	counter_t n;
	enum color color __tag("member_tag");
	enum big big;
	union number num;
	struct bits bits;
	__u16 grid[2][3][4];
	struct {
		__u32 x;
		union {
			__u32 y;
			float fy;
		};
	} point;
	enum { ANON_A = 10, ANON_B = 20 } anon_kind;
	union {
		__u8 raw[4];
		struct {
			__u16 lo;
			__u16 hi;
		};
	};
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct measures);
} measures_map SEC(".maps");

/* Types that cannot sit in a map value (pointers, flexible arrays): reached through a
 * function's parameters instead. */
struct message {
	__u32 len;
	const volatile __u8 *restrict cursor;
	callback_fn on_done;
	int (*ops[2])(struct message *m);
	char __user_ptr *user_buf;
	__u8 data[]; /* flexible array member */
};

static __attribute__((noinline)) __tag("func_tag") int
describe(struct message *m __tag("param_tag"), const struct measures *restrict ms)
{
	if (!m || !ms)
		return 0;
	return m->len + ms->n;
}

SEC("xdp")
int use_types(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	struct measures *m = bpf_map_lookup_elem(&measures_map, &key);

	if (!m || data + sizeof(struct message) > data_end)
		return XDP_PASS;
	m->bits.a = 5;
	m->bits.c = -2;
	m->bits.wide = 0x123456789ULL;
	m->big = HUGE;
	m->color = NEGATIVE;
	m->grid[1][2][3] = ANON_B;
	m->anon_kind = ANON_A;
	m->point.y = 7;
	m->hi = 3;
	m->num.u = TOP;
	return describe(data, m) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
