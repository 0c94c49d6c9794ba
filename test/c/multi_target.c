// The process the multi-uprobe tests probe: for i in 0..N-1 (N from argv[1]) it calls fn_one(i),
// fn_two(i) and fn_three(i), which return i + 1, i + 2 and i + 3, and other(i) once per i too
// (a function the fn_* glob must not match); prints the sum of all results.
#include <stdio.h>
#include <stdlib.h>

#define FN(name, k)                                          \
	__attribute__((noinline)) long name(long x)          \
	{                                                    \
		__asm__ volatile("" : "+r"(x));              \
		return x + k;                                \
	}

FN(fn_one, 1)
FN(fn_two, 2)
FN(fn_three, 3)
FN(other, 100)

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	long sum = 0;

	for (int i = 0; i < n; i++)
		sum += fn_one(i) + fn_two(i) + fn_three(i) + other(i);
	printf("%ld\n", sum);
	return 0;
}
